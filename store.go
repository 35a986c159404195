package patchgate

import (
	"context"
	"time"
)

// The stores are split by concern so that an adapter, a test double or a
// caller names only what it uses. The SQLite and PostgreSQL adapters
// implement all of them; storetest is the conformance suite they pass.

// UpdateFilter narrows ListUpdates; zero fields match everything.
type UpdateFilter struct {
	Kind     Kind
	Severity Severity
	Product  string
	// Status narrows to updates in that release status (ReleaseStore).
	Status UpdateStatus
}

// CatalogStore holds updates and their revisions.
type CatalogStore interface {
	// PutUpdate stores u. If the id is new it becomes revision 1; if the
	// latest revision has the same metadata nothing changes and created is
	// false; otherwise a new revision is stored. The returned Update carries
	// the revision. An event (update.added or update.revised) is appended in
	// the same transaction.
	PutUpdate(ctx context.Context, u Update, ev Event) (stored Update, created bool, err error)
	// GetUpdate returns the latest revision of id, or not_found.
	GetUpdate(ctx context.Context, id string) (Update, error)
	// ListUpdates returns the latest revision of every matching update,
	// ordered by id.
	ListUpdates(ctx context.Context, f UpdateFilter) ([]Update, error)
}

// EnrollRecord is one enrolment, as Enroll takes it.
type EnrollRecord struct {
	TokenID        string
	Now            time.Time
	Host           Host
	CredentialHash []byte
	Event          Event
}

// EnrollResult is the outcome of one enrolment of EnrollMany.
type EnrollResult struct {
	Host Host
	Err  error
}

// InventoryRecord is one host's inventory as reported at a check-in.
type InventoryRecord struct {
	HostID    string
	Inventory Inventory
	Digest    string
	At        time.Time
}

// FleetStore holds hosts and groups.
type FleetStore interface {
	// Enroll atomically consumes one use of the enrolment token tokenID
	// (unexpired, unrevoked, uses left; else unauthorized), creates the host
	// with its credential hash, adds it to GroupAll and to the token's group
	// (created if missing), and appends ev.
	Enroll(ctx context.Context, tokenID string, now time.Time, h Host, credentialHash []byte, ev Event) (Host, error)
	// EnrollMany performs several enrolments in one transaction (group
	// commit of mass enrolment): each succeeds or fails on its own, with
	// Enroll's checks; the error is for the transaction as a whole.
	EnrollMany(ctx context.Context, recs []EnrollRecord) ([]EnrollResult, error)
	// HostCredential returns the stored credential hash of a host.
	HostCredential(ctx context.Context, hostID string) ([]byte, error)
	GetHost(ctx context.Context, id string) (Host, error)
	ListHosts(ctx context.Context) ([]Host, error)
	// SaveInventory stores a host's reported inventory and check-in time.
	SaveInventory(ctx context.Context, hostID string, inv Inventory, digest string, at time.Time) error
	// SaveInventories stores several inventories in one transaction (group
	// commit of check-ins); hosts that no longer exist are skipped.
	SaveInventories(ctx context.Context, recs []InventoryRecord) error
	// TouchCheckins records last check-in times in one batch.
	TouchCheckins(ctx context.Context, at map[string]time.Time) error

	CreateGroup(ctx context.Context, g Group, ev Event) error
	ListGroups(ctx context.Context) ([]Group, error)
	DeleteGroup(ctx context.Context, name string, ev Event) error
	AddToGroup(ctx context.Context, group string, hostIDs []string, ev Event) error
	RemoveFromGroup(ctx context.Context, group string, hostIDs []string, ev Event) error
	// Memberships returns every host's groups, for the plan cache.
	Memberships(ctx context.Context) (map[string][]string, error)
}

// TokenStore holds API and enrolment tokens (hashed).
type TokenStore interface {
	CreateToken(ctx context.Context, t Token, ev Event) error
	GetToken(ctx context.Context, id string) (Token, error)
	ListTokens(ctx context.Context) ([]Token, error)
	RevokeToken(ctx context.Context, id string, ev Event) error
	// CountTokens returns how many API tokens exist (first-start bootstrap).
	CountTokens(ctx context.Context, kind TokenKind) (int, error)
}

// ApprovalStore holds approvals per (update, group).
type ApprovalStore interface {
	// SetApprovals stores each approval, replacing any earlier one for the
	// same (update, group), in one transaction with ev.
	SetApprovals(ctx context.Context, as []Approval, ev Event) error
	// DeleteApprovals removes the approvals of updates for group.
	DeleteApprovals(ctx context.Context, updateIDs []string, group string, ev Event) error
	ListApprovals(ctx context.Context) ([]Approval, error)
}

// EventFilter narrows ListEvents.
type EventFilter struct {
	HostID   string
	UpdateID string
	Type     string
	AfterSeq int64
	Limit    int // 0 = 100
	// Newest selects the newest Limit matching events instead of the
	// oldest; they are still returned oldest first.
	Newest bool
}

// DeploymentStore holds agent reports and the deployment states they imply,
// and the activity log.
type DeploymentStore interface {
	// RecordDeploymentEvents appends agent events idempotently (an event
	// whose (host, ID) is already stored is skipped: IDs are unique per
	// host) and, for each new event with a
	// State, moves the (host, update) deployment to that state unless a
	// later-timed report already did (replays never undo newer states), all in one
	// transaction. It returns how many events were new.
	RecordDeploymentEvents(ctx context.Context, evs []Event) (int, error)
	// RecordDeploymentEventGroups does the same for several reports in one
	// transaction (group commit) and returns each group's count of new
	// events. If any event is refused, nothing is stored.
	RecordDeploymentEventGroups(ctx context.Context, groups [][]Event) ([]int, error)
	ListDeployments(ctx context.Context, hostID string) ([]Deployment, error) // hostID "" = all
	ListEvents(ctx context.Context, f EventFilter) ([]Event, error)
	// AppendEvent appends an admin or system event on its own.
	AppendEvent(ctx context.Context, ev Event) error
	// PruneEvents deletes the events of the activity log appended before
	// the first one dated at or after cutoff (the log is kept in append
	// order, so the cut is a range of sequence numbers), at most limit of
	// them, and returns how many it deleted.
	PruneEvents(ctx context.Context, cutoff time.Time, limit int) (int, error)
}

// Store is everything a server needs, implemented by sqlite and postgres.
type Store interface {
	CatalogStore
	FleetStore
	TokenStore
	ApprovalStore
	DeploymentStore
	NotifyStore
	WindowStore
	RolloutStore
	ReleaseStore
	AdvisoryStore
	OwnerStore
	RuleStore
	GroupTreeStore
	UpstreamStore
	SiteStore
	PurgeStore
	ReplicaStore
	InstallHistoryStore
	TrustStore
	Close() error
}

// InstallHistoryStore reads past installs from the activity log, for the
// install-duration estimates (EstimateInstallDurations).
type InstallHistoryStore interface {
	// RecentInstalls returns up to limit of the most recent completed
	// installs, newest first: each "installed" or "reboot-pending" agent
	// event that directly follows the host's "installing" event for the
	// update, with the time of the host's last "downloading" event for it
	// before that. Installs without such a start (a reboot completing, an
	// operator's record) are skipped.
	RecentInstalls(ctx context.Context, limit int) ([]InstallSample, error)
}

// TrustStore is what the TUF repository of a server's own updates needs
// beyond the catalog (issue 8).
type TrustStore interface {
	// UpdateOrigins maps each synced update to the upstream it came from;
	// updates this server publishes itself are absent.
	UpdateOrigins(ctx context.Context) (map[string]string, error)
	// UpdateRepos maps each synced update to the TUF repository that
	// signs it, as its upstream's feed said; updates this server
	// publishes itself, and synced ones no repository signs, are absent.
	UpdateRepos(ctx context.Context) (map[string]string, error)
}
