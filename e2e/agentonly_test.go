package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchgate/patchgate/adminapi"
)

// TestAgentOnlyBuild: `go build -tags agentonly` makes a smaller binary
// with the agent command alone (BENCHMARKS.md §6), and it installs a
// signed update from a real server like the one binary does.
func TestAgentOnlyBuild(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "patchgate-agent")
	build := exec.Command("go", "build", "-tags", "agentonly", "-o", bin, "../cmd/patchgate")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags agentonly: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "serve", "--help").CombinedOutput(); err == nil || !strings.Contains(string(out), "unknown command") {
		t.Fatalf("the agent-only build has serve: %v\n%s", err, out)
	}
	s := startServer(t)
	work := t.TempDir()
	s.run(t, false, "group", "create", "prod")
	var tok adminapi.CreateTokenResponse
	s.runJSON(t, &tok, "token", "create", "--enroll", "--group", "prod", "--uses", "1")
	dpkg := filepath.Join(work, "dpkg")
	os.MkdirAll(dpkg, 0o755)
	writeFile(t, filepath.Join(dpkg, "status"), "", 0o644)
	idFile := filepath.Join(work, "machine-id")
	writeFile(t, idFile, "machine-agentonly\n", 0o600)
	marker := filepath.Join(work, "installed")
	writeFile(t, filepath.Join(work, "fix.sh"), "#!/bin/sh\ntouch "+marker+"\n", 0o755)
	writeFile(t, filepath.Join(work, "hf.json"), `{"id":"app-hf1","title":"app fix","kind":"hotfix","severity":"critical",
	"products":[{"name":"app"}],"reboot":"never","payloads":[{"name":"fix.sh","installer":"exec"}]}`, 0o644)
	s.run(t, false, "update", "add", filepath.Join(work, "hf.json"), "--payload", filepath.Join(work, "fix.sh"), "--post", "--force", "--reason", "e2e")
	s.run(t, false, "approve", "app-hf1", "--group", "prod")
	cmd := exec.Command(bin, "agent", "--enroll-token", tok.Secret, "--state", filepath.Join(work, "state"), "--product", "app=1.0",
		"--hostname", "lean1", "--machine-id-file", idFile, "--dpkg-admindir", dpkg, "--once", "--log-level", "warn")
	cmd.Env = append(os.Environ(), "PATCHGATE_SERVER="+s.url, "PATCHGATE_CA_FINGERPRINT="+s.fingerprint)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "1 installed") {
		t.Fatalf("agent-only agent: %v\n%s", err, out)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("the agent-only build did not install the signed update")
	}
}
