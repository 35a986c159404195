package adminapi

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/patchgate/patchgate"
)

// UpdateInfo is an update with its release state: the rows of GET
// /api/v1/updates and the answer of GET /api/v1/updates/{id}. The update's
// fields stay at the top level, so older clients read it as an Update.
type UpdateInfo struct {
	patchgate.Update
	Release patchgate.ReleaseState `json:"release"`
}

// UpdateHistory is GET /api/v1/updates/{id}/history: the release state
// and the events of the update's lifecycle, oldest first.
type UpdateHistory struct {
	Release patchgate.ReleaseState `json:"release"`
	Events  []patchgate.Event      `json:"events"`
}

// PostUpdateRequest is POST /api/v1/updates/{id}/post. Force posts an
// update that has not passed its tests; it needs a Reason, which goes to
// the audit log.
type PostUpdateRequest struct {
	Force  bool   `json:"force,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// WithdrawUpdateRequest is POST /api/v1/updates/{id}/withdraw.
type WithdrawUpdateRequest struct {
	Reason string `json:"reason"`
}

// MaxReasonBytes bounds the reason of a post or withdrawal.
const MaxReasonBytes = 1024

// SLAPolicyInfo is GET /api/v1/release/sla and the answer of PUT: the
// longest time from received to posted per severity (absent: no SLA), and
// how long before the deadline an update counts as approaching it.
type SLAPolicyInfo struct {
	Max  map[patchgate.Severity]string `json:"max"`
	Warn string                        `json:"warn"`
}

// SetSLARequest is PUT /api/v1/release/sla/{severity}: Max is a duration
// ("24h", "72h"); "0" or "none" removes the severity's SLA.
type SetSLARequest struct {
	Max string `json:"max"`
}

// SLAReport is GET /api/v1/reports/sla.
type SLAReport struct {
	GeneratedAt time.Time          `json:"generated_at"`
	Rows        []patchgate.SLARow `json:"rows"`
}

// ConsolidateRequest is POST /api/v1/release/consolidate: build the next
// Service Release of a product line (or, with DryRun, say what it would
// be).
type ConsolidateRequest struct {
	Product string `json:"product"`
	DryRun  bool   `json:"dry_run,omitempty"`
}

// ConsolidateResponse is what was built (Created), would be built
// (DryRun), or why nothing is (Reason).
type ConsolidateResponse struct {
	patchgate.Consolidation
	DryRun  bool                    `json:"dry_run,omitempty"`
	Created bool                    `json:"created"`
	Release *patchgate.ReleaseState `json:"release,omitempty"`
}

// TestPolicy is GET /api/v1/release/test-policy: each test group and how
// many of its hosts that need an update must install it before the update
// is tested (0: every one of them, at least one overall).
type TestPolicy struct {
	Groups []patchgate.TestGroup `json:"groups"`
}

// SetMinSuccessRequest is PUT
// /api/v1/release/test-groups/{group}/min-success.
type SetMinSuccessRequest struct {
	MinSuccess int `json:"min_success"`
}

func init() {
	for k, d := range map[string]doc{
		"GET /api/v1/updates/{id}/history":                    {summary: "An update's release state and lifecycle events (who, when, why)", response: UpdateHistory{}},
		"POST /api/v1/updates/{id}/post":                      {summary: "Post a tested update (force and reason post an untested one, audited)", request: PostUpdateRequest{}, response: patchgate.ReleaseState{}},
		"POST /api/v1/updates/{id}/withdraw":                  {summary: "Withdraw an update: it leaves plans and approvals stop applying", request: WithdrawUpdateRequest{}, response: patchgate.ReleaseState{}},
		"GET /api/v1/release/test-groups":                     {summary: "The groups whose hosts test received updates", response: []string{}},
		"PUT /api/v1/release/test-groups/{group}":             {summary: "Designate a group as a test group"},
		"DELETE /api/v1/release/test-groups/{group}":          {summary: "A group stops being a test group"},
		"GET /api/v1/release/sla":                             {summary: "The SLA policy: longest time from received to posted per severity", response: SLAPolicyInfo{}},
		"PUT /api/v1/release/sla/{severity}":                  {summary: "Set (or remove, with 0) the SLA of a severity", request: SetSLARequest{}, response: SLAPolicyInfo{}},
		"POST /api/v1/release/consolidate":                    {summary: "Build the next Service Release of a product from the hotfixes posted since the previous one (dry_run: only say what)", request: ConsolidateRequest{}, response: ConsolidateResponse{}},
		"GET /api/v1/release/test-policy":                     {summary: "Each test group's success count: how many of its hosts that need an update must install it (0: all)", response: TestPolicy{}},
		"PUT /api/v1/release/test-groups/{group}/min-success": {summary: "Set a test group's success count (0: every host that needs the update)", request: SetMinSuccessRequest{}, response: patchgate.TestGroup{}},
		"GET /api/v1/reports/sla":                             {summary: "Time to post, remaining time or breach of each unposted or recently posted update", response: SLAReport{}},
	} {
		docs[k] = d
	}
}

// CleanupRequest is POST /api/v1/release/cleanup: decline, for group all,
// the superseded updates that no host needs after Age since they were
// superseded ("30d", "720h"; default the server's --cleanup-age). DryRun
// only reports.
type CleanupRequest struct {
	Age    string `json:"age,omitempty"`
	DryRun bool   `json:"dry_run,omitempty"`
}

// CleanupReport says what a cleanup declined (or, dry, would decline) and
// what it kept, and why.
type CleanupReport struct {
	GeneratedAt time.Time               `json:"generated_at"`
	Age         string                  `json:"age"`
	DryRun      bool                    `json:"dry_run,omitempty"`
	Declined    int                     `json:"declined"`
	Items       []patchgate.CleanupItem `json:"items"`
}

// ParseAge reads a duration in Go syntax ("720h") or whole days ("30d").
func ParseAge(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok && n != "" {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 100*365 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

func init() {
	docs["POST /api/v1/release/cleanup"] = doc{summary: "Decline, for all, superseded updates no host needs after an age (default 30d); dry_run only reports what would be declined and what is kept, and why",
		request: CleanupRequest{}, response: CleanupReport{}}
}
