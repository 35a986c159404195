package adminapi

import (
	"time"

	"github.com/patchgate/patchgate"
)

// FeedPage is GET /api/v1/feed/changes?cursor=C&limit=N: the changes of
// the released catalog after cursor C (0 = from the start), in feed order,
// and the cursor to ask from next. More says whether another page is
// waiting; Remaining estimates how many entries it holds. ServerID names
// the upstream, so that a downstream refuses to sync from itself.
type FeedPage struct {
	ServerID string `json:"server_id"`
	// Ancestors is the upstream's id, then the ids of the servers above
	// it: a downstream that finds itself there refuses to sync.
	Ancestors []string              `json:"ancestors"`
	Entries   []patchgate.FeedEntry `json:"entries"`
	Next      int64                 `json:"next"`
	More      bool                  `json:"more"`
	Remaining int                   `json:"remaining"`
	// Repos are the TUF repositories the upstream serves at
	// /tuf/<repo>/ (its own, named by its server id, and its verbatim
	// mirrors), which the downstream mirrors with each sync (issue 8).
	Repos []string `json:"repos,omitempty"`
}

// FeedDefaultLimit is a feed page's size when the request gives none.
const FeedDefaultLimit = 200

// AddUpstreamRequest is POST /api/v1/upstreams.
type AddUpstreamRequest struct {
	Name          string                  `json:"name"`
	URL           string                  `json:"url"`
	Token         string                  `json:"token"`
	CAFingerprint string                  `json:"ca_fingerprint,omitempty"`
	Products      []string                `json:"products,omitempty"`
	Kinds         []patchgate.Kind        `json:"kinds,omitempty"`
	Content       patchgate.ContentPolicy `json:"content,omitempty"`
	// Mode replica takes groups, approvals and windows from this
	// upstream (read-only here); autonomous (default) keeps them local.
	Mode patchgate.UpstreamMode `json:"mode,omitempty"`
	// RootFingerprints pins the 1.root.json of TUF repositories mirrored
	// from this upstream (repository -> sha256 hex); others are trusted
	// on the first sync that mirrors them.
	RootFingerprints map[string]string `json:"root_fingerprints,omitempty"`
}

// UpstreamInfo is an upstream as the API shows it (never its token) with
// its last sync.
type UpstreamInfo struct {
	patchgate.Upstream
	LastRun *patchgate.SyncRun `json:"last_run,omitempty"`
}

// SyncRequest is POST /api/v1/sync: sync one upstream, or every one.
type SyncRequest struct {
	Upstream string `json:"upstream,omitempty"`
}

// SyncStarted lists the runs POST /api/v1/sync started (they run in the
// background; GET /api/v1/sync/runs/{id} follows one).
type SyncStarted struct {
	Runs []patchgate.SyncRun `json:"runs"`
}

// SyncStatus is GET /api/v1/sync/status: the upstreams, the newest runs
// (newest first, running ones with their progress) and the conflicts.
type SyncStatus struct {
	ServerID    string                         `json:"server_id"`
	GeneratedAt time.Time                      `json:"generated_at"`
	Upstreams   []UpstreamInfo                 `json:"upstreams"`
	Runs        []patchgate.SyncRun            `json:"runs"`
	Conflicts   []patchgate.SyncConflictRecord `json:"conflicts"`
}

// SiteComplianceReport is POST /api/v1/feed/compliance: a downstream's
// compliance summary and those of the sites below it.
type SiteComplianceReport struct {
	Sites []patchgate.SiteCompliance `json:"sites"`
}

// SitesComplianceReport is GET /api/v1/reports/compliance/sites: this
// server first, then every site rolled up to it.
type SitesComplianceReport struct {
	GeneratedAt time.Time                  `json:"generated_at"`
	Sites       []patchgate.SiteCompliance `json:"sites"`
}

// ReplicaPolicyPage is GET /api/v1/feed/policy: what replicas take from
// this server.
type ReplicaPolicyPage struct {
	ServerID string `json:"server_id"`
	patchgate.ReplicaPolicy
}

func init() {
	for k, d := range map[string]doc{
		"GET /api/v1/feed/changes":             {summary: "Change feed of the released catalog for downstream servers: posted (latest revision), revised, superseded and withdrawn updates after a cursor; header X-Patchgate-Chain carries the requesting chain of server ids (a loop is refused)", query: []string{"cursor", "limit"}, response: FeedPage{}},
		"GET /api/v1/upstreams":                {summary: "The upstreams this server syncs from (never their tokens)", response: []UpstreamInfo{}},
		"POST /api/v1/upstreams":               {summary: "Add an upstream: URL, downstream-role token (stored, never shown again), CA fingerprint, filters, content policy", request: AddUpstreamRequest{}, response: UpstreamInfo{}},
		"DELETE /api/v1/upstreams/{name}":      {summary: "Remove an upstream; its synced updates stay"},
		"POST /api/v1/sync":                    {summary: "Start syncing one upstream or all; runs in the background", request: SyncRequest{}, response: SyncStarted{}},
		"GET /api/v1/sync/status":              {summary: "Upstreams, sync history (newest first, with progress and last error) and conflicts", query: []string{"upstream", "limit"}, response: SyncStatus{}},
		"GET /api/v1/sync/runs/{id}":           {summary: "One sync run with its progress", response: patchgate.SyncRun{}},
		"GET /api/v1/feed/policy":              {summary: "Groups, approvals (of released updates) and windows, for downstream servers in replica mode", response: ReplicaPolicyPage{}},
		"POST /api/v1/feed/compliance":         {summary: "A downstream rolls up its compliance summary and those of the sites below it (each in the X-Patchgate-Chain header)", request: SiteComplianceReport{}},
		"GET /api/v1/reports/compliance/sites": {summary: "Compliance of every site: this server, then the summaries downstreams rolled up", query: []string{"group", "update"}, response: SitesComplianceReport{}},
	} {
		docs[k] = d
	}
}
