// Package e2e drives the patchgate binary the way a user does: it builds
// it, starts `patchgate serve` on a random loopback port, and runs the CLI
// and agents as separate processes.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "patchgate-e2e-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "patchgate")
	build := exec.Command("go", "build", "-o", binary, "../cmd/patchgate")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building patchgate:", err)
		os.Exit(1)
	}
	// Agents verify every payload against the server's signed metadata
	// (issue #8): never let the environment relax that in these tests.
	os.Unsetenv("PATCHGATE_AGENT_ALLOW_UNSIGNED")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type server struct {
	url, fingerprint, token string
	data                    string
	cmd                     *exec.Cmd
}

// startServer runs `patchgate serve` (with extra flags) and reads its
// address, CA fingerprint and admin token from what it prints.
func startServer(t *testing.T, extra ...string) *server {
	t.Helper()
	s := &server{data: filepath.Join(t.TempDir(), "data")}
	s.cmd = exec.Command(binary, append([]string{"serve", "--data", s.data, "--listen", "127.0.0.1:0", "--log-level", "warn"}, extra...)...)
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	s.cmd.Stderr = &stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// SIGTERM shuts the server down gracefully: exit status 0.
		s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- s.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server did not shut down cleanly on SIGTERM: %v\n%s", err, stderr.String())
			}
		case <-time.After(20 * time.Second):
			s.cmd.Process.Kill()
			t.Errorf("server did not stop within 20s of SIGTERM")
		}
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(30 * time.Second)
	for s.url == "" || s.fingerprint == "" || s.token == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("server exited early:\n%s", stderr.String())
			}
			f := strings.Fields(line)
			switch {
			case strings.Contains(line, "serving on"):
				s.url = f[len(f)-1]
			case strings.HasPrefix(strings.TrimSpace(line), "CA fingerprint:"):
				s.fingerprint = f[len(f)-1]
			case strings.HasPrefix(strings.TrimSpace(line), "admin token:"):
				s.token = f[len(f)-1]
			}
		case <-deadline:
			t.Fatalf("server did not print its address, fingerprint and token in 30s:\n%s", stderr.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	return s
}

// run runs the CLI against s and returns stdout; it fails the test on a
// non-zero exit unless wantFail.
func (s *server) run(t *testing.T, wantFail bool, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "PATCHGATE_SERVER="+s.url, "PATCHGATE_TOKEN="+s.token, "PATCHGATE_CA_FINGERPRINT="+s.fingerprint)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if (err != nil) != wantFail {
		t.Fatalf("patchgate %s: err=%v (want failure: %v)\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, wantFail, stdout.String(), stderr.String())
	}
	return stdout.String() + stderr.String()
}

func (s *server) runJSON(t *testing.T, out any, args ...string) {
	t.Helper()
	raw := s.run(t, false, append(args, "--json")...)
	if err := json.Unmarshal([]byte(raw), out); err != nil {
		t.Fatalf("patchgate %s --json: %v\n%s", strings.Join(args, " "), err, raw)
	}
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func TestCoreLoop(t *testing.T) {
	s := startServer(t)
	work := t.TempDir()

	// Groups and enrolment tokens.
	s.run(t, false, "group", "create", "prod", "--description", "production")
	var tok adminapi.CreateTokenResponse
	s.runJSON(t, &tok, "token", "create", "--enroll", "--group", "prod", "--uses", "2", "--expires", "1h")
	if !strings.HasPrefix(tok.Secret, "pge.") {
		t.Fatalf("enrolment token: %+v", tok)
	}

	// Two agents, as separate processes: one automatic, one manual.
	emptyDpkg := filepath.Join(work, "dpkg")
	os.MkdirAll(emptyDpkg, 0o755)
	writeFile(t, filepath.Join(emptyDpkg, "status"), "", 0o644)
	agentArgs := func(name, mode string) []string {
		idFile := filepath.Join(work, name+".machine-id")
		if _, err := os.Stat(idFile); err != nil {
			writeFile(t, idFile, "machine-"+name+"\n", 0o600)
		}
		return []string{"agent", "--enroll-token", tok.Secret, "--state", filepath.Join(work, name),
			"--mode", mode, "--product", "cisco.ucce=7.2(1)", "--hostname", name, "--machine-id-file", idFile,
			"--dpkg-admindir", emptyDpkg, "--once", "--log-level", "warn"}
	}
	s.run(t, false, agentArgs("auto1", "automatic")...)
	s.run(t, false, agentArgs("manual1", "manual")...)
	// Re-running does not enrol twice (the token had two uses only).
	s.run(t, false, agentArgs("auto1", "automatic")...)
	var hosts []adminapi.HostSummary
	s.runJSON(t, &hosts, "host", "list")
	if len(hosts) != 2 {
		t.Fatalf("want 2 hosts, got %d: %+v", len(hosts), hosts)
	}
	byName := map[string]adminapi.HostSummary{}
	for _, h := range hosts {
		byName[h.Hostname] = h
	}

	// Publish an update whose exec payload leaves a marker with its
	// fixed arguments.
	marker := filepath.Join(work, "marker")
	writeFile(t, filepath.Join(work, "fix.sh"), "#!/bin/sh\necho \"$@\" > "+marker+"\n", 0o755)
	writeFile(t, filepath.Join(work, "hf1.yaml"), `
id: ucce-7.2.1-hf1
title: UCCE router fix
kind: hotfix
severity: critical
products:
  - name: cisco.ucce
    versions: ">=7.2(1), <7.3"
cves: [CVE-2026-1111]
reboot: never
payloads:
  - name: fix.sh
    installer: exec
    args: ["--component", "router; rm -rf /"]
`, 0o644)
	out := s.run(t, false, "update", "add", filepath.Join(work, "hf1.yaml"), "--payload", filepath.Join(work, "fix.sh"))
	if !strings.Contains(out, "ucce-7.2.1-hf1") {
		t.Fatalf("update add said: %s", out)
	}
	// A malformed manifest names the field and stores nothing.
	writeFile(t, filepath.Join(work, "bad.yaml"), "id: bad\ntitle: x\nkind: hotfix\nseverity: urgent\n", 0o644)
	if out := s.run(t, true, "update", "add", filepath.Join(work, "bad.yaml"), "--payload", filepath.Join(work, "fix.sh")); !strings.Contains(out, "severity") {
		t.Fatalf("bad manifest error does not name the field: %s", out)
	}

	// The release lifecycle: a new update is received, not approvable for
	// production until tested and posted.
	if !strings.Contains(out, "received") {
		t.Fatalf("update add does not say the update is received: %s", out)
	}
	if out := s.run(t, true, "approve", "ucce-7.2.1-hf1", "--group", "prod", "--deadline", "72h"); !strings.Contains(out, "received") || !strings.Contains(out, "conflict") {
		t.Fatalf("approving a received update for prod: %s", out)
	}
	if out := s.run(t, true, "update", "post", "ucce-7.2.1-hf1"); !strings.Contains(out, "not tested") {
		t.Fatalf("posting an untested update without --force: %s", out)
	}
	// Testing: a lab host in a test group installs it; its report makes
	// the update tested.
	s.run(t, false, "group", "create", "lab")
	s.run(t, false, "release", "test-group", "add", "lab")
	var labTok adminapi.CreateTokenResponse
	s.runJSON(t, &labTok, "token", "create", "--enroll", "--group", "lab", "--uses", "1")
	labArgs := agentArgs("lab1", "automatic")
	labArgs[2] = labTok.Secret
	s.run(t, false, labArgs...)
	s.run(t, false, "approve", "ucce-7.2.1-hf1", "--group", "lab")
	if out := s.run(t, false, "update", "status", "ucce-7.2.1-hf1"); !strings.Contains(out, "testing") {
		t.Fatalf("approved for the test group but not testing:\n%s", out)
	}
	s.run(t, false, labArgs...)
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the lab host did not install the update: %v", err)
	}
	os.Remove(marker)
	status := s.run(t, false, "update", "status", "ucce-7.2.1-hf1")
	if !strings.Contains(status, "Status:    tested") || !strings.Contains(status, "system:testing") {
		t.Fatalf("the lab host's install did not make the update tested:\n%s", status)
	}
	if out := s.run(t, false, "update", "post", "ucce-7.2.1-hf1"); !strings.Contains(out, "posted ucce-7.2.1-hf1") {
		t.Fatalf("update post said: %s", out)
	}
	var posted []adminapi.UpdateInfo
	s.runJSON(t, &posted, "update", "list", "--status", "posted")
	if len(posted) != 1 || posted[0].ID != "ucce-7.2.1-hf1" || posted[0].Release.Forced {
		t.Fatalf("update list --status posted: %+v", posted)
	}

	s.run(t, false, "approve", "ucce-7.2.1-hf1", "--group", "prod", "--deadline", "72h")
	s.run(t, false, agentArgs("auto1", "automatic")...)
	s.run(t, false, agentArgs("manual1", "manual")...)

	got, err := os.ReadFile(marker)
	if err != nil {
		t.Fatalf("the automatic host did not install the update: %v", err)
	}
	if string(got) != "--component router; rm -rf /\n" {
		t.Fatalf("installer arguments were not passed verbatim: %q", got)
	}
	show := s.run(t, false, "host", "show", byName["manual1"].ID)
	if !strings.Contains(strings.ToLower(show), "manual action required") || !strings.Contains(show, "ucce-7.2.1-hf1") {
		t.Fatalf("manual host does not show manual action required:\n%s", show)
	}
	var rep adminapi.ComplianceReport
	s.runJSON(t, &rep, "report", "compliance", "--group", "prod", "--update", "ucce-7.2.1-hf1")
	want := patchgate.ComplianceRow{UpdateID: "ucce-7.2.1-hf1", Group: "prod", Approval: "install", Hosts: 2, Installed: 1, Needed: 1, ManualActionRequired: 1}
	if len(rep.Rows) != 1 {
		t.Fatalf("compliance rows: %+v", rep.Rows)
	}
	row := rep.Rows[0]
	row.Title, row.Severity = "", ""
	if row != want {
		t.Fatalf("compliance:\n got %+v\nwant %+v", row, want)
	}
	var evs []patchgate.Event
	s.runJSON(t, &evs, "events", "--host", byName["auto1"].ID, "--type", "deployment")
	states := map[patchgate.DeploymentState]bool{}
	for _, e := range evs {
		states[e.State] = true
	}
	if !states[patchgate.StateDownloading] || !states[patchgate.StateInstalling] || !states[patchgate.StateInstalled] {
		t.Fatalf("the agent did not report each step: %+v", evs)
	}

	// A tampered payload is refused and reported as failed.
	marker2 := filepath.Join(work, "marker2")
	writeFile(t, filepath.Join(work, "fix2.sh"), "#!/bin/sh\ntouch "+marker2+"\n", 0o755)
	writeFile(t, filepath.Join(work, "hf2.json"), `{"id":"ucce-7.2.1-hf2","title":"second fix","kind":"hotfix","severity":"high",
	"products":[{"name":"cisco.ucce"}],"reboot":"never","payloads":[{"name":"fix2.sh","installer":"exec"}]}`, 0o644)
	// A site server's own quick fix: posted at once, untested, audited.
	if out := s.run(t, true, "update", "add", filepath.Join(work, "hf2.json"), "--payload", filepath.Join(work, "fix2.sh"), "--post"); !strings.Contains(out, "--force") {
		t.Fatalf("update add --post without --force: %s", out)
	}
	s.run(t, false, "update", "add", filepath.Join(work, "hf2.json"), "--payload", filepath.Join(work, "fix2.sh"),
		"--post", "--force", "--reason", "e2e: local quick fix")
	if out := s.run(t, false, "update", "status", "ucce-7.2.1-hf2"); !strings.Contains(out, "forced") || !strings.Contains(out, "e2e: local quick fix") {
		t.Fatalf("forced post not in the history:\n%s", out)
	}
	var u patchgate.Update
	s.runJSON(t, &u, "update", "show", "ucce-7.2.1-hf2")
	sha := u.Payloads[0].SHA256
	stored := filepath.Join(s.data, "content", "sha256", sha[:2], sha)
	if _, err := os.Stat(stored); err != nil {
		t.Fatalf("content not where expected: %v", err)
	}
	// Same size, different bytes: only the sha256 check can catch it.
	orig, err := os.ReadFile(stored)
	if err != nil {
		t.Fatal(err)
	}
	evil := bytes.Replace(orig, []byte("touch"), []byte("rm -f"), 1)
	os.Chmod(stored, 0o644)
	writeFile(t, stored, string(evil), 0o644)
	s.run(t, false, "approve", "ucce-7.2.1-hf2", "--group", "prod")
	if out := s.run(t, true, agentArgs("auto1", "automatic")...); !strings.Contains(out, "failed") {
		t.Fatalf("agent run with a tampered payload should fail: %s", out)
	}
	if _, err := os.Stat(marker2); err == nil {
		t.Fatal("the tampered payload ran")
	}
	s.runJSON(t, &rep, "report", "compliance", "--group", "prod", "--update", "ucce-7.2.1-hf2")
	if len(rep.Rows) != 1 || rep.Rows[0].Failed != 1 || rep.Rows[0].Installed != 0 {
		t.Fatalf("tampered install not reported failed: %+v", rep.Rows)
	}
	s.runJSON(t, &evs, "events", "--host", byName["auto1"].ID, "--update", "ucce-7.2.1-hf2")
	found := false
	for _, e := range evs {
		if e.State == patchgate.StateFailed && strings.Contains(strings.ToLower(e.Detail), "sha256") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no failed event naming the hash mismatch: %+v", evs)
	}
	// Withdrawn, it leaves the plans.
	planned := func() bool {
		var detail adminapi.HostDetail
		s.runJSON(t, &detail, "host", "show", byName["auto1"].ID)
		for _, it := range detail.Plan.Items {
			if it.UpdateID == "ucce-7.2.1-hf2" {
				return true
			}
		}
		return false
	}
	if !planned() {
		t.Fatal("the posted update is not planned before its withdrawal")
	}
	if out := s.run(t, true, "update", "withdraw", "ucce-7.2.1-hf2"); !strings.Contains(out, "--reason") {
		t.Fatalf("withdraw without a reason: %s", out)
	}
	s.run(t, false, "update", "withdraw", "ucce-7.2.1-hf2", "--reason", "tampered mirror")
	if planned() {
		t.Fatal("a withdrawn update is still planned")
	}
	var withdrawn []adminapi.UpdateInfo
	s.runJSON(t, &withdrawn, "update", "list", "--status", "withdrawn")
	if len(withdrawn) != 1 || withdrawn[0].ID != "ucce-7.2.1-hf2" {
		t.Fatalf("update list --status withdrawn: %+v", withdrawn)
	}
	// The SLA report: the critical hf1 was posted well within 24 hours.
	if out := s.run(t, false, "report", "sla"); !strings.Contains(out, "ucce-7.2.1-hf1") || !strings.Contains(out, "posted in") {
		t.Fatalf("report sla:\n%s", out)
	}
	// The Service Release would take in hf1 (posted), not hf2 (withdrawn).
	out = s.run(t, false, "release", "consolidate", "--product", "cisco.ucce", "--dry-run")
	if !strings.Contains(out, "would build cisco.ucce-SR1") || !strings.Contains(out, "ucce-7.2.1-hf1 (hotfix, critical)") || strings.Contains(out, "hf2") {
		t.Fatalf("consolidate --dry-run:\n%s", out)
	}

	// A cloned state dir is detected, not merged.
	clone := filepath.Join(work, "clone")
	cp := exec.Command("cp", "-a", filepath.Join(work, "auto1"), clone)
	if err := cp.Run(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(work, "clone.machine-id"), "another-machine\n", 0o600)
	if out := s.run(t, true, agentArgs("clone", "automatic")...); !strings.Contains(out, "clone") {
		t.Fatalf("cloned state dir not detected: %s", out)
	}
}
