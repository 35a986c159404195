package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchgate/patchgate/adminapi"
)

// TestAgentTrustRootPin: `patchgate agent --trust-root` refuses to enrol
// unless the server delivers that root (here: a fingerprint no server
// has), and a malformed pin is refused before anything is sent.
func TestAgentTrustRootPin(t *testing.T) {
	s := startServer(t)
	work := t.TempDir()
	var tok adminapi.CreateTokenResponse
	s.runJSON(t, &tok, "token", "create", "--enroll", "--group", "all", "--uses", "1")
	idFile := filepath.Join(work, "machine-id")
	writeFile(t, idFile, "machine-pin\n", 0o600)
	state := filepath.Join(work, "state")
	args := []string{"agent", "--enroll-token", tok.Secret, "--state", state, "--hostname", "pin1",
		"--machine-id-file", idFile, "--once", "--log-level", "warn"}

	out := s.run(t, true, append(args, "--trust-root", "local=not-a-fingerprint")...)
	if !strings.Contains(out, "--trust-root") {
		t.Fatalf("malformed --trust-root: %s", out)
	}
	out = s.run(t, true, append(args, "--trust-root", "local="+strings.Repeat("ab", 32))...)
	if !strings.Contains(out, "--trust-root") || !strings.Contains(out, "local") {
		t.Fatalf("wrong pin: %s", out)
	}
	if _, err := os.Stat(filepath.Join(state, "identity.json")); err == nil {
		t.Fatal("the agent kept an identity although its pinned root was not delivered")
	}
}
