package adminapi

import "github.com/patchgate/patchgate"

// PurgeRequest is POST /api/v1/cleanup: remove updates withdrawn, or
// superseded and declined, for longer than OlderThan (a duration,
// default 720h), with the content only they referenced. DryRun only says
// what would go.
type PurgeRequest struct {
	DryRun    bool   `json:"dry_run,omitempty"`
	OlderThan string `json:"older_than,omitempty"`
}

// PurgeResponse is what was (or, with DryRun, would be) removed.
type PurgeResponse struct {
	patchgate.PurgePlan
	DryRun bool `json:"dry_run"`
}

func init() {
	docs["POST /api/v1/cleanup"] = doc{summary: "Remove updates withdrawn, or superseded and declined, for longer than older_than, with the content no other update references (dry_run: only say what)", request: PurgeRequest{}, response: PurgeResponse{}}
}
