package server_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

// TestAddRefusesCycles: an update whose requires or supersedes closes a
// cycle is refused at add, naming the cycle; nothing is stored.
func TestAddRefusesCycles(t *testing.T) {
	e := newEnv(t)
	e.add("A", "app", []byte("a"), func(m *patchgate.Manifest) { m.Requires = []string{"B"} })
	e.add("B", "app", []byte("b"), nil)
	e.add("C", "app", []byte("c"), func(m *patchgate.Manifest) { m.Supersedes = []string{"A"} })

	m := func(id string, mut func(*patchgate.Manifest)) adminapi.AddUpdateRequest {
		man := patchgate.Manifest{ID: id, Title: "fix " + id, Kind: patchgate.KindHotfix, Severity: patchgate.SeverityLow,
			Products: []patchgate.ProductConstraint{{Name: "app"}},
			Payloads: []patchgate.ManifestPayload{{Name: "fix.sh", Size: 1, SHA256: sha("b"), Installer: patchgate.InstallerExec}}}
		mut(&man)
		return adminapi.AddUpdateRequest{Manifest: man}
	}
	// A new revision of B requiring A: B → A → B.
	e.wantError("POST", "/api/v1/updates", m("B", func(m *patchgate.Manifest) { m.Requires = []string{"A"} }), 400, "requires: cycle B → A → B")
	// A new revision of A superseding C: A → C → A.
	e.wantError("POST", "/api/v1/updates", m("A", func(m *patchgate.Manifest) { m.Supersedes = []string{"C"}; m.Requires = []string{"B"} }), 400, "supersedes: cycle A → C → A")
	var u patchgate.Update
	if code := e.call("GET", "/api/v1/updates/B", e.admin, nil, &u); code != 200 || u.Revision != 1 || len(u.Requires) != 0 {
		t.Fatalf("B after the refused revision: %d %+v", code, u)
	}
	// Not a cycle: D requires A and supersedes C.
	if code := e.call("POST", "/api/v1/updates", e.admin, m("D", func(m *patchgate.Manifest) { m.Requires = []string{"A"}; m.Supersedes = []string{"C"} }), nil); code != 201 {
		t.Fatalf("D: %d", code)
	}
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestConsolidateRefusesCycles: a hotfix that names the next SR in its
// supersedes (before it exists) would make the SR close a cycle; the
// consolidation, dry or not, is refused and builds nothing.
func TestConsolidateRefusesCycles(t *testing.T) {
	e := newEnv(t)
	e.publish("HF-1", "app", "", []byte("one"), func(m *patchgate.Manifest) { m.Supersedes = []string{"app-SR1"} })
	for _, dry := range []bool{true, false} {
		e.wantError("POST", "/api/v1/release/consolidate", adminapi.ConsolidateRequest{Product: "app", DryRun: dry}, 400, "supersedes: cycle app-SR1 → HF-1 → app-SR1")
	}
	e.wantError("GET", "/api/v1/updates/app-SR1", nil, 404, "app-SR1")
}
