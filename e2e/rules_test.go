package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

// startAgent runs `patchgate agent` as a long-lived process polling every
// second, stopped (SIGTERM, then SIGKILL) when the test ends. Its log goes
// to name.log in work, shown if the test fails.
func (s *server) startAgent(t *testing.T, work, name, enrollToken string) {
	t.Helper()
	idFile := filepath.Join(work, name+".machine-id")
	writeFile(t, idFile, "machine-"+name+"\n", 0o600)
	emptyDpkg := filepath.Join(work, "dpkg")
	os.MkdirAll(emptyDpkg, 0o755)
	writeFile(t, filepath.Join(emptyDpkg, "status"), "", 0o644)
	logPath := filepath.Join(work, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "agent", "--enroll-token", enrollToken, "--state", filepath.Join(work, name),
		"--product", "app=1.0", "--hostname", name, "--machine-id-file", idFile, "--dpkg-admindir", emptyDpkg,
		"--interval", "1s", "--jitter", "0", "--log-level", "warn")
	cmd.Env = append(os.Environ(), "PATCHGATE_SERVER="+s.url, "PATCHGATE_CA_FINGERPRINT="+s.fingerprint)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("agent %s did not stop within 10s of SIGTERM", name)
		}
		logFile.Close()
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			t.Logf("agent %s log:\n%s", name, data)
		}
	})
}

// eventually polls cond every 250ms until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// installLog reads the lines the payloads append: "REV HOST UNIXTIME".
type installRun struct {
	rev, host string
	at        time.Time
}

func readInstallLog(t *testing.T, path string) []installRun {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var runs []installRun
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("install log line %q", line)
		}
		sec, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			t.Fatalf("install log line %q", line)
		}
		runs = append(runs, installRun{rev: f[0], host: f[1], at: time.Unix(sec, 0)})
	}
	return runs
}

func runsOf(runs []installRun, host string) []string {
	var revs []string
	for _, r := range runs {
		if r.host == host {
			revs = append(revs, r.rev)
		}
	}
	return revs
}

// TestDeploymentControl is issue 6's scenario with the real binary and
// real agent processes: a maintenance window of prod opening within two
// minutes; a rule approving hotfixes for test at once and a ring-promotion
// rule approving them for prod after one success in test and a soak of 3s;
// the update fails on prod's canary host once the window opens, which
// halts prod's rollout (canary 1, max failures 1); a fixed revision is
// posted and the rollout resumed, and every prod host installs it.
func TestDeploymentControl(t *testing.T) {
	s := startServer(t, "--rules-interval", "1s")
	work := t.TempDir()
	for _, g := range []string{"test", "prod"} {
		s.run(t, false, "group", "create", g)
	}
	var testTok, prodTok adminapi.CreateTokenResponse
	s.runJSON(t, &testTok, "token", "create", "--enroll", "--group", "test", "--uses", "1")
	s.runJSON(t, &prodTok, "token", "create", "--enroll", "--group", "prod", "--uses", "3")

	// prod's window opens at the first minute boundary at least 30s away
	// (cron has minute precision) and stays open 30 minutes; test has none.
	opens := time.Now().UTC().Add(30 * time.Second).Truncate(time.Minute).Add(time.Minute)
	s.run(t, false, "window", "set", "prod", "--schedule", fmt.Sprintf("%d %d * * *", opens.Minute(), opens.Hour()),
		"--duration", "30m", "--tz", "UTC")
	s.run(t, false, "rollout", "set", "prod", "--max-failures", "1", "--canary", "1")

	// Invalid rules are refused naming the flag; the ring rule is added.
	if out := s.run(t, true, "rule", "add", "--name", "x", "--group", "prod", "--soak", "3s"); !strings.Contains(out, "--after-group") {
		t.Fatalf("rule add with --soak and no --after-group said: %s", out)
	}
	if out := s.run(t, true, "rule", "add", "--name", "x", "--group", "nope"); !strings.Contains(out, "does not exist") {
		t.Fatalf("rule add for a missing group said: %s", out)
	}
	s.run(t, false, "rule", "add", "--name", "prod-ring", "--kind", "hotfix", "--group", "prod",
		"--after-group", "test", "--min-success", "1", "--soak", "3s", "--deadline", "14d")

	for _, name := range []string{"test-t1", "prod-p1", "prod-p2", "prod-p3"} {
		tok := prodTok.Secret
		if strings.HasPrefix(name, "test-") {
			tok = testTok.Secret
		}
		s.startAgent(t, work, name, tok)
	}
	eventually(t, 30*time.Second, "four enrolled hosts", func() bool {
		var hosts []adminapi.HostSummary
		s.runJSON(t, &hosts, "host", "list")
		return len(hosts) == 4
	})

	// Revision 1 of the hotfix fails on prod hosts (their state directory,
	// the installer's parent directory, is named prod-*); revision 2 is
	// the fix. Each run appends "REV HOST UNIXTIME" to the install log.
	installLog := filepath.Join(work, "installs.log")
	payload := func(rev string, failProd bool) string {
		script := "#!/bin/sh\nhost=$(basename \"$(dirname \"$PWD\")\")\necho \"" + rev + " $host $(date +%s)\" >> " + installLog + "\n"
		if failProd {
			script += "case \"$host\" in prod-*) echo 'broken on prod' >&2; exit 3;; esac\n"
		}
		path := filepath.Join(work, rev+".sh")
		writeFile(t, path, script, 0o755)
		return path
	}
	manifest := filepath.Join(work, "hf.json")
	writeFile(t, manifest, `{"id":"app-hf1","title":"app fix","kind":"hotfix","severity":"critical",
	"products":[{"name":"app"}],"reboot":"never","payloads":[{"name":"fix.sh","installer":"exec"}]}`, 0o644)
	rev1 := payload("rev1", true)
	// The manifest names the payload fix.sh: copy the script under that name.
	fix := filepath.Join(work, "fix.sh")
	copyFile := func(from string) {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, fix, string(data), 0o755)
	}
	copyFile(rev1)
	s.run(t, false, "update", "add", manifest, "--payload", fix, "--post", "--force", "--reason", "e2e: rev 1")

	// Posting ran the rules: the ring waits for a success in test, which
	// cannot come before the update is approved for test.
	var dry adminapi.RulesDryRun
	s.runJSON(t, &dry, "rule", "dry-run")
	if len(dry.Decisions) != 1 || dry.Decisions[0].Verdict != patchgate.RuleWaiting || dry.Decisions[0].Reason != "waiting: 0/1 successes in test" {
		t.Fatalf("dry-run: %+v", dry.Decisions)
	}
	if out := s.run(t, false, "rule", "dry-run"); !strings.Contains(out, "waiting: 0/1 successes in test") {
		t.Fatalf("rule dry-run:\n%s", out)
	}
	// A rule for test approves at once.
	if out := s.run(t, false, "rule", "add", "--name", "test-now", "--kind", "hotfix", "--group", "test"); !strings.Contains(out, "app-hf1") {
		t.Fatalf("rule add test-now did not approve at once: %s", out)
	}

	// t1 installs; 3s after its success the periodic run approves prod.
	eventually(t, 30*time.Second, "the prod approval by rule prod-ring", func() bool {
		var as []patchgate.Approval
		s.runJSON(t, &as, "approval", "list")
		return slices.ContainsFunc(as, func(a patchgate.Approval) bool {
			return a.UpdateID == "app-hf1" && a.Group == "prod" && a.CreatedBy == "rule:prod-ring" && a.Deadline != nil
		})
	})
	runs := readInstallLog(t, installLog)
	if len(runs) != 1 || runs[0].host != "test-t1" {
		t.Fatalf("install log before prod's window: %+v", runs)
	}
	var ruleEvs []patchgate.Event
	s.runJSON(t, &ruleEvs, "events", "--type", patchgate.EventApproved)
	var byRules []string
	for _, ev := range ruleEvs {
		if strings.HasPrefix(ev.Actor, "rule:") {
			byRules = append(byRules, ev.Actor)
		}
	}
	if !slices.Equal(byRules, []string{"rule:test-now", "rule:prod-ring"}) {
		t.Fatalf("approvals by rules in the log: %v (events %+v)", byRules, ruleEvs)
	}
	if time.Now().After(opens.Add(-2 * time.Second)) {
		t.Fatalf("prod was approved too late to check its window: %s, opens %s", time.Now(), opens)
	}
	// Approved, but prod's window is closed: the plan says it waits.
	if out := s.run(t, false, "host", "show", "prod-p1"); !strings.Contains(out, "window") {
		t.Fatalf("host show prod-p1 does not say the install waits for the window:\n%s", out)
	}
	time.Sleep(time.Until(opens))

	// The window opens: one canary starts, fails, and prod halts.
	eventually(t, 30*time.Second, "prod's rollout to halt", func() bool {
		var st adminapi.RolloutStatus
		s.runJSON(t, &st, "rollout", "status", "prod")
		return st.Halt.Halted
	})
	time.Sleep(2 * time.Second) // two more polls of every agent: none may start
	runs = readInstallLog(t, installLog)
	var canary string
	for _, r := range runs {
		if strings.HasPrefix(r.host, "prod-") {
			if canary != "" {
				t.Fatalf("a second prod host ran the update during the canary/halt: %+v", runs)
			}
			canary = r.host
			if r.at.Before(opens) {
				t.Fatalf("prod host %s installed at %s, before its window opened at %s", r.host, r.at, opens)
			}
		}
	}
	if canary == "" {
		t.Fatalf("no prod host ran the update: %+v", runs)
	}
	if out := s.run(t, false, "rollout", "status", "prod"); !strings.Contains(out, "HALTED") {
		t.Fatalf("rollout status:\n%s", out)
	}
	var halts []patchgate.Event
	s.runJSON(t, &halts, "events", "--type", patchgate.EventRolloutHalted)
	if len(halts) != 1 || halts[0].UpdateID != "app-hf1" {
		t.Fatalf("rollout.halted events: %+v", halts)
	}

	// The fix: revision 2 (a new payload goes back to received, so it is
	// posted again, keeping its approvals), then the rollout resumes.
	copyFile(payload("rev2", false))
	s.run(t, false, "update", "add", manifest, "--payload", fix, "--post", "--force", "--reason", "e2e: fixed payload")
	var u adminapi.UpdateInfo
	s.runJSON(t, &u, "update", "show", "app-hf1")
	if u.Update.Revision != 2 || u.Release.Status != patchgate.StatusPosted {
		t.Fatalf("after the fix: revision %d, %s", u.Update.Revision, u.Release.Status)
	}
	s.run(t, false, "rollout", "resume", "prod")
	eventually(t, 45*time.Second, "every prod host to install revision 2", func() bool {
		var rep adminapi.ComplianceReport
		s.runJSON(t, &rep, "report", "compliance", "--group", "prod", "--update", "app-hf1")
		return len(rep.Rows) == 1 && rep.Rows[0].Installed == 3
	})

	// What each agent ran: test's host revision 1 only; the canary
	// revision 1 (failed) then 2; the other prod hosts revision 2 only.
	runs = readInstallLog(t, installLog)
	for _, host := range []string{"test-t1", "prod-p1", "prod-p2", "prod-p3"} {
		want := []string{"rev2"}
		switch host {
		case "test-t1":
			want = []string{"rev1"}
		case canary:
			want = []string{"rev1", "rev2"}
		}
		if got := runsOf(runs, host); !slices.Equal(got, want) {
			t.Errorf("%s ran %v, want %v (log %+v)", host, got, want, runs)
		}
	}
	var evs []patchgate.Event
	s.runJSON(t, &evs, "events", "--update", "app-hf1", "--limit", "1000")
	count := func(typ string, state patchgate.DeploymentState, host string) int {
		n := 0
		for _, ev := range evs {
			if ev.Type == typ && (state == "" || ev.State == state) && (host == "" || ev.HostID == host) {
				n++
			}
		}
		return n
	}
	var hosts []adminapi.HostSummary
	s.runJSON(t, &hosts, "host", "list")
	hostID := map[string]string{}
	for _, h := range hosts {
		hostID[h.Hostname] = h.ID
	}
	if n := count(patchgate.EventDeployment, patchgate.StateFailed, hostID[canary]); n != 1 {
		t.Errorf("%d failed deployment events of the canary %s, want 1", n, canary)
	}
	if n := count(patchgate.EventDeployment, patchgate.StateFailed, ""); n != 1 {
		t.Errorf("%d failed deployment events in all, want 1", n)
	}
	if n := count(patchgate.EventDeployment, patchgate.StateInstalled, ""); n != 4 {
		t.Errorf("%d installed deployment events, want 4 (t1 and the three prod hosts)", n)
	}
	if n := count(patchgate.EventRolloutResumed, "", ""); n != 0 {
		// rollout.resumed names the group, not the update.
		t.Errorf("rollout.resumed carries an update: %d", n)
	}
	var resumed []patchgate.Event
	s.runJSON(t, &resumed, "events", "--type", patchgate.EventRolloutResumed)
	if len(resumed) != 1 {
		t.Errorf("rollout.resumed events: %+v", resumed)
	}
	if out := s.run(t, false, "rule", "list"); !strings.Contains(out, "prod-ring") || !strings.Contains(out, "1 in test + soak 3s") {
		t.Errorf("rule list:\n%s", out)
	}
	// Nothing is left for the rules to decide.
	s.runJSON(t, &dry, "rule", "dry-run")
	if len(dry.Decisions) != 0 {
		t.Errorf("dry-run at the end: %+v", dry.Decisions)
	}
}
