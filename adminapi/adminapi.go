// Package adminapi is the admin API under /api/v1/: routes, the roles they
// need, and request and response bodies. The server and the CLI both use
// it, so they cannot drift apart.
//
// It imports only the domain package.
package adminapi

import (
	"time"

	"github.com/patchgate/patchgate"
)

// Route is one admin API endpoint and the least role that may call it.
type Route struct {
	Method  string
	Pattern string // net/http ServeMux pattern, without the method
	Role    patchgate.Role
}

// Routes lists every /api/v1 route. The server registers exactly these; a
// test calls each with each role.
var Routes = []Route{
	{"GET", "/api/v1/whoami", patchgate.RoleViewer},
	{"GET", "/api/v1/openapi.json", patchgate.RoleViewer},
	{"GET", "/api/v1/updates", patchgate.RoleViewer},
	{"GET", "/api/v1/updates/{id}", patchgate.RoleViewer},
	{"POST", "/api/v1/updates", patchgate.RolePublisher},
	{"PUT", "/api/v1/content/{sha}", patchgate.RolePublisher},
	{"GET", "/api/v1/tokens", patchgate.RoleAdmin},
	{"POST", "/api/v1/tokens", patchgate.RoleAdmin},
	{"DELETE", "/api/v1/tokens/{id}", patchgate.RoleAdmin},
	{"GET", "/api/v1/groups", patchgate.RoleViewer},
	{"POST", "/api/v1/groups", patchgate.RoleAdmin},
	{"DELETE", "/api/v1/groups/{name}", patchgate.RoleAdmin},
	{"POST", "/api/v1/groups/{name}/hosts", patchgate.RoleAdmin},
	{"DELETE", "/api/v1/groups/{name}/hosts/{host}", patchgate.RoleAdmin},
	{"GET", "/api/v1/approvals", patchgate.RoleViewer},
	{"POST", "/api/v1/approvals", patchgate.RoleApprover},
	{"DELETE", "/api/v1/approvals/{group}/{update}", patchgate.RoleApprover},
	{"GET", "/api/v1/hosts", patchgate.RoleViewer},
	{"GET", "/api/v1/hosts/{id}", patchgate.RoleViewer},
	{"GET", "/api/v1/reports/compliance", patchgate.RoleViewer},
	{"GET", "/api/v1/events", patchgate.RoleViewer},
	{"GET", "/api/v1/subscriptions", patchgate.RoleAdmin},
	{"POST", "/api/v1/subscriptions", patchgate.RoleAdmin},
	{"DELETE", "/api/v1/subscriptions/{id}", patchgate.RoleAdmin},
	{"GET", "/api/v1/notify/deliveries", patchgate.RoleAdmin},
	{"POST", "/api/v1/notify/retry", patchgate.RoleAdmin},
	{"POST", "/api/v1/notify/test", patchgate.RoleAdmin},
	{"POST", "/api/v1/notify/digests/send", patchgate.RoleAdmin},
	{"GET", "/api/v1/windows", patchgate.RoleViewer},
	{"PUT", "/api/v1/windows/{group}", patchgate.RoleAdmin},
	{"DELETE", "/api/v1/windows/{group}", patchgate.RoleAdmin},
	{"GET", "/api/v1/windows/{group}/next", patchgate.RoleViewer},
	{"POST", "/api/v1/hosts/{id}/installed", patchgate.RoleApprover},
	{"GET", "/api/v1/rollouts", patchgate.RoleViewer},
	{"GET", "/api/v1/rollouts/{group}", patchgate.RoleViewer},
	{"PUT", "/api/v1/rollouts/{group}", patchgate.RoleAdmin},
	{"DELETE", "/api/v1/rollouts/{group}", patchgate.RoleAdmin},
	{"POST", "/api/v1/rollouts/{group}/resume", patchgate.RoleAdmin},
	{"GET", "/api/v1/updates/{id}/history", patchgate.RoleViewer},
	{"POST", "/api/v1/updates/{id}/post", patchgate.RolePublisher},
	{"POST", "/api/v1/updates/{id}/withdraw", patchgate.RolePublisher},
	{"GET", "/api/v1/release/test-groups", patchgate.RoleViewer},
	{"PUT", "/api/v1/release/test-groups/{group}", patchgate.RoleAdmin},
	{"DELETE", "/api/v1/release/test-groups/{group}", patchgate.RoleAdmin},
	{"GET", "/api/v1/release/sla", patchgate.RoleViewer},
	{"PUT", "/api/v1/release/sla/{severity}", patchgate.RoleAdmin},
	{"GET", "/api/v1/reports/sla", patchgate.RoleViewer},
	{"POST", "/api/v1/release/consolidate", patchgate.RolePublisher},
	{"GET", "/api/v1/release/test-policy", patchgate.RoleViewer},
	{"PUT", "/api/v1/release/test-groups/{group}/min-success", patchgate.RoleAdmin},
	{"POST", "/api/v1/release/cleanup", patchgate.RoleAdmin},
	{"POST", "/api/v1/advisories", patchgate.RolePublisher},
	{"GET", "/api/v1/advisories", patchgate.RoleViewer},
	{"GET", "/api/v1/advisories/{id}", patchgate.RoleViewer},
	{"GET", "/api/v1/reports/exposure", patchgate.RoleViewer},
	{"GET", "/api/v1/owners", patchgate.RoleAdmin},
	{"PUT", "/api/v1/hosts/{id}/owner", patchgate.RoleAdmin},
	{"PUT", "/api/v1/groups/{name}/owner", patchgate.RoleAdmin},
	{"GET", "/api/v1/reports/status", patchgate.RoleViewer},
	{"POST", "/api/v1/reports/status/send", patchgate.RoleAdmin},
	{"GET", "/api/v1/rules", patchgate.RoleViewer},
	{"POST", "/api/v1/rules", patchgate.RoleApprover},
	{"DELETE", "/api/v1/rules/{name}", patchgate.RoleApprover},
	{"POST", "/api/v1/rules/{name}/disable", patchgate.RoleApprover},
	{"POST", "/api/v1/rules/{name}/enable", patchgate.RoleApprover},
	{"GET", "/api/v1/rules/dry-run", patchgate.RoleViewer},
	{"POST", "/api/v1/rules/run", patchgate.RoleApprover},
	{"PUT", "/api/v1/groups/{name}/parent", patchgate.RoleAdmin},
	{"PUT", "/api/v1/groups/{name}/reboot-policy", patchgate.RoleAdmin},
	{"GET", "/api/v1/feed/changes", patchgate.RoleDownstream},
	{"GET", "/api/v1/upstreams", patchgate.RoleViewer},
	{"POST", "/api/v1/upstreams", patchgate.RoleAdmin},
	{"DELETE", "/api/v1/upstreams/{name}", patchgate.RoleAdmin},
	{"POST", "/api/v1/sync", patchgate.RoleAdmin},
	{"GET", "/api/v1/sync/status", patchgate.RoleViewer},
	{"GET", "/api/v1/sync/runs/{id}", patchgate.RoleViewer},
	{"POST", "/api/v1/feed/compliance", patchgate.RoleDownstream},
	{"GET", "/api/v1/reports/compliance/sites", patchgate.RoleViewer},
	{"POST", "/api/v1/cleanup", patchgate.RoleAdmin},
	{"GET", "/api/v1/feed/policy", patchgate.RoleDownstream},
	{"GET", "/api/v1/trust", patchgate.RoleViewer},
	{"POST", "/api/v1/trust/root", patchgate.RoleAdmin},
	{"POST", "/api/v1/trust/online-keys", patchgate.RoleAdmin},
}

// MaxBodyBytes limits admin request bodies other than content uploads.
const MaxBodyBytes = 2 << 20

// AddUpdateRequest is POST /api/v1/updates: a manifest whose payloads all
// carry sha256 and size, their content uploaded first with PUT
// /api/v1/content/{sha}.
type AddUpdateRequest struct {
	Manifest patchgate.Manifest `json:"manifest"`
	// Post posts the update once stored, as POST
	// /api/v1/updates/{id}/post would: a new update is untested, so Post
	// needs Force and Reason (a site server's own quick fix).
	Post   bool   `json:"post,omitempty"`
	Force  bool   `json:"force,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// AddUpdateResponse says whether a new update or revision was stored, and
// where it stands in the release lifecycle.
type AddUpdateResponse struct {
	Update  patchgate.Update       `json:"update"`
	Created bool                   `json:"created"`
	Release patchgate.ReleaseState `json:"release"`
}

// PutContentResponse describes stored content.
type PutContentResponse struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// CreateTokenRequest is POST /api/v1/tokens.
type CreateTokenRequest struct {
	Kind  patchgate.TokenKind `json:"kind"`            // api or enroll
	Name  string              `json:"name,omitempty"`  // for people
	Role  patchgate.Role      `json:"role,omitempty"`  // api tokens
	Group string              `json:"group,omitempty"` // enroll tokens
	Mode  patchgate.Mode      `json:"mode,omitempty"`  // enroll tokens
	// ExpiresIn is a duration from now (e.g. "24h"); empty = never.
	ExpiresIn string `json:"expires_in,omitempty"`
	Uses      *int   `json:"uses,omitempty"` // enroll tokens; nil = unlimited
}

// CreateTokenResponse carries the secret token, shown once.
type CreateTokenResponse struct {
	Token  patchgate.Token `json:"token"`
	Secret string          `json:"secret"`
}

// CreateGroupRequest is POST /api/v1/groups.
type CreateGroupRequest struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Parent nests the group ("" = directly below all).
	Parent string `json:"parent,omitempty"`
	// RebootPolicy is never, if-required or always; "" inherits.
	RebootPolicy string `json:"reboot_policy,omitempty"`
}

// GroupHostsRequest is POST /api/v1/groups/{name}/hosts.
type GroupHostsRequest struct {
	Hosts []string `json:"hosts"`
}

// ApproveRequest is POST /api/v1/approvals.
type ApproveRequest struct {
	Updates []string         `json:"updates"`
	Group   string           `json:"group"`
	Action  patchgate.Action `json:"action"`
	// Deadline is RFC 3339 or a duration from now ("72h"); empty = none.
	Deadline string `json:"deadline,omitempty"`
	// Emergency installs outside maintenance windows (install only).
	Emergency bool `json:"emergency,omitempty"`
}

// ApproveResponse lists the approvals stored.
type ApproveResponse struct {
	Approvals []patchgate.Approval `json:"approvals"`
}

// HostDetail is GET /api/v1/hosts/{id}.
type HostDetail struct {
	Host        patchgate.Host         `json:"host"`
	Plan        patchgate.Plan         `json:"plan"`
	Deployments []patchgate.Deployment `json:"deployments"`
	Silent      bool                   `json:"silent"`
}

// HostSummary is one row of GET /api/v1/hosts.
type HostSummary struct {
	patchgate.Host
	Pending int  `json:"pending"` // plan items
	Blocked int  `json:"blocked"`
	Silent  bool `json:"silent"`
}

// ComplianceReport is GET /api/v1/reports/compliance.
type ComplianceReport struct {
	GeneratedAt time.Time                 `json:"generated_at"`
	Rows        []patchgate.ComplianceRow `json:"rows"`
}

// WhoAmI is GET /api/v1/whoami.
type WhoAmI struct {
	TokenID string         `json:"token_id"`
	Name    string         `json:"name"`
	Role    patchgate.Role `json:"role"`
}
