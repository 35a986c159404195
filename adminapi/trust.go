package adminapi

import (
	"encoding/json"

	"github.com/patchgate/patchgate/trust"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// EventTrustRoot is recorded when a new root version is accepted.
const EventTrustRoot = "trust.root"

// TrustStatus is GET /api/v1/trust: every TUF repository this server
// signs, its roles' versions, expiries and keys.
type TrustStatus struct {
	Repos []TrustRepoStatus `json:"repos"`
	// PlanKey is the public key (standard base64 Ed25519) that signs each
	// answer to an agent's check-in, bound to the agent's nonce; agents
	// pin it at enrolment.
	PlanKey string `json:"plan_key,omitempty"`
}

// TrustRepoStatus is one repository: its status, the public key ids of
// the online roles (a root must list them) and the roles expiring within
// their warning threshold.
type TrustRepoStatus struct {
	trust.Status
	OnlineKeys map[string]string `json:"online_keys"`
	Expiring   []trust.Expiring  `json:"expiring"`
}

// SetRootRequest is POST /api/v1/trust/root: the next root version (a
// rotation signed offline by the current root's threshold and by the new
// root keys' threshold), verified against the current root before it is
// accepted. Root is the signed metadata, exactly as served later.
type SetRootRequest struct {
	Root json.RawMessage `json:"root"`
}

// PendingOnlineKeys is POST /api/v1/trust/online-keys: the public keys of
// the server's pending online keys (created on the first call, the same
// afterwards) by role. A root rotation that lists them replaces the online
// keys when the server accepts it.
type PendingOnlineKeys struct {
	Keys map[string]*metadata.Key `json:"keys"`
}

func init() {
	docs["POST /api/v1/trust/online-keys"] = doc{summary: "Create (once) the pending online keys for targets, snapshot and timestamp and return their public keys, for a root rotation that replaces them", response: PendingOnlineKeys{}}
	docs["GET /api/v1/trust"] = doc{summary: "The TUF repositories this server signs: roles' versions, expiries, key ids, root fingerprint, and roles about to expire", response: TrustStatus{}}
	docs["POST /api/v1/trust/root"] = doc{summary: "Install the next root version (a root rotation signed offline by the old threshold and the new keys); refused unless it verifies against the current root", request: SetRootRequest{}, response: TrustStatus{}}
}
