package trust

import (
	"fmt"
	"github.com/patchgate/patchgate"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// EventExpiring is raised once per (repository, role, version) when a
// role's metadata — and so the keys it lists — expires within its warning
// threshold.
const EventExpiring = patchgate.EventTrustExpiring

// ExpiryWarn is how long before expiry each role raises trust.expiring.
// The online roles are re-signed at half their life, so for them an alert
// means re-signing is failing.
type ExpiryWarn map[string]time.Duration

// DefaultExpiryWarn: root 30 days ahead; the online roles once they are
// past three quarters of their life without being re-signed.
func DefaultExpiryWarn() ExpiryWarn {
	return ExpiryWarn{
		metadata.ROOT:      30 * 24 * time.Hour,
		metadata.TARGETS:   TargetsExpiry / 4,
		metadata.SNAPSHOT:  SnapshotExpiry / 4,
		metadata.TIMESTAMP: TimestampExpiry / 4,
	}
}

// Expiring is one role whose metadata expires soon (or has expired).
type Expiring struct {
	Repo    string    `json:"repo"`
	Role    string    `json:"role"`
	Version int64     `json:"version"`
	Expires time.Time `json:"expires"`
}

// Key identifies the alert: one per (repository, role, version).
func (e Expiring) Key() string { return fmt.Sprintf("%s/%s/%d", e.Repo, e.Role, e.Version) }

// ExpiringRoles lists the roles of st that expire within their warning
// threshold at now.
func ExpiringRoles(st Status, now time.Time, warn ExpiryWarn) []Expiring {
	var out []Expiring
	for _, rs := range st.Roles {
		w, ok := warn[rs.Role]
		if !ok {
			continue
		}
		if !rs.Expires.After(now.Add(w)) {
			out = append(out, Expiring{Repo: st.Repo, Role: rs.Role, Version: rs.Version, Expires: rs.Expires})
		}
	}
	return out
}
