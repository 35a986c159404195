package patchgate

import "context"

// AdvisoryStore holds security advisories, each at its latest revision.
type AdvisoryStore interface {
	// PutAdvisory stores a as DecideAdvisoryImport decides against the
	// stored advisory with its id, in one transaction: imported stores
	// revision 1, updated the next revision (replacing the previous one),
	// both with ev (its Type set to advisory.imported or advisory.updated);
	// unchanged stores and appends nothing and returns the stored
	// advisory; an older document is a conflict naming
	// /document/tracking/current_release_date. ImportedAt defaults to the
	// event's time.
	PutAdvisory(ctx context.Context, a Advisory, ev Event) (Advisory, AdvisoryOutcome, error)
	// GetAdvisory returns advisory id, or not_found.
	GetAdvisory(ctx context.Context, id string) (Advisory, error)
	// ListAdvisories returns the matching advisories, newest
	// current_release_date first, then by id.
	ListAdvisories(ctx context.Context, f AdvisoryFilter) ([]Advisory, error)
}
