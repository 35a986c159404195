package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/patchgate/patchgate/adminapi"
)

// TestLongPollHotfix: an agent polling hourly keeps a long-poll check-in
// open over HTTPS; an approval reaches it at once and it installs, long
// before its next check-in. The server then shuts down cleanly, at once,
// with the agent's next long poll held.
func TestLongPollHotfix(t *testing.T) {
	// Cleanups run last-registered first: the agent is stopped after the
	// server, so the server's shutdown finds a long poll held.
	var agent *exec.Cmd
	var logs bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(func() {
		cancel()
		if agent != nil {
			agent.Wait()
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", logs.String())
		}
	})
	s := startServer(t)
	work := t.TempDir()
	s.run(t, false, "group", "create", "prod")
	var tok adminapi.CreateTokenResponse
	s.runJSON(t, &tok, "token", "create", "--enroll", "--group", "prod", "--uses", "1")
	marker := filepath.Join(work, "marker")
	writeFile(t, filepath.Join(work, "fix.sh"), "#!/bin/sh\necho installed > "+marker+"\n", 0o755)
	writeFile(t, filepath.Join(work, "hf.yaml"), `
id: ucce-7.2.1-hf7
title: urgent router fix
kind: hotfix
severity: critical
products: [{name: cisco.ucce, versions: ">=7.2(1), <7.3"}]
reboot: never
payloads: [{name: fix.sh, installer: exec}]
`, 0o644)
	s.run(t, false, "update", "add", filepath.Join(work, "hf.yaml"), "--payload", filepath.Join(work, "fix.sh"), "--post", "--force", "--reason", "e2e")
	writeFile(t, filepath.Join(work, "machine-id"), "machine-lp1\n", 0o600)
	emptyDpkg := filepath.Join(work, "dpkg")
	os.MkdirAll(emptyDpkg, 0o755)
	writeFile(t, filepath.Join(emptyDpkg, "status"), "", 0o644)

	agent = exec.CommandContext(ctx, binary, "agent", "--enroll-token", tok.Secret, "--state", filepath.Join(work, "state"),
		"--product", "cisco.ucce=7.2(1)", "--hostname", "lp1", "--machine-id-file", filepath.Join(work, "machine-id"),
		"--dpkg-admindir", emptyDpkg, "--interval", "1h", "--long-poll", "2m", "--log-level", "debug")
	agent.Env = append(os.Environ(), "PATCHGATE_SERVER="+s.url, "PATCHGATE_CA_FINGERPRINT="+s.fingerprint)
	agent.Stdout, agent.Stderr = &logs, &logs
	if err := agent.Start(); err != nil {
		agent = nil
		t.Fatal(err)
	}
	// The agent is enrolled and holding a long poll once the host is
	// listed and a second check-in started; give it a moment.
	for i := 0; ; i++ {
		var hosts []adminapi.HostSummary
		s.runJSON(t, &hosts, "host", "list")
		if len(hosts) == 1 {
			break
		}
		if i == 100 {
			t.Fatal("the agent did not enrol")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	approved := time.Now()
	s.run(t, false, "approve", "ucce-7.2.1-hf7", "--group", "prod")
	for i := 0; ; i++ {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if i == 300 {
			t.Fatal("the approved hotfix was not installed within 30 s (the agent's interval is 1 h)")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("installed %.1fs after approve", time.Since(approved).Seconds())
	// The next long poll is held when the server's cleanup stops it: a
	// held request that kept Shutdown waiting past its 15 s limit would
	// fail the clean exit it checks.
	time.Sleep(500 * time.Millisecond)
}
