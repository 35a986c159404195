package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/content"
	"github.com/patchgate/patchgate/sqlite"
)

// proc is a `patchgate serve` process on a data directory of the test's
// choosing, which the test may kill and start again.
type proc struct {
	*server
	done   chan error
	stderr *bytes.Buffer
}

func startServe(t *testing.T, data string, extra ...string) *proc {
	t.Helper()
	p := &proc{server: &server{data: data}, done: make(chan error, 1), stderr: &bytes.Buffer{}}
	args := append([]string{"serve", "--data", data, "--listen", "127.0.0.1:0", "--log-level", "warn", "--sync-per-day", "0"}, extra...)
	p.cmd = exec.Command(binary, args...)
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { p.stop(t) })
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(30 * time.Second)
	for ready := false; !ready; {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("server exited early:\n%s", p.stderr.String())
			}
			f := strings.Fields(line)
			switch {
			case strings.Contains(line, "serving on"):
				p.url = f[len(f)-1]
			case strings.HasPrefix(strings.TrimSpace(line), "CA fingerprint:"):
				p.fingerprint = f[len(f)-1]
			case strings.HasPrefix(strings.TrimSpace(line), "admin token:"):
				p.token = f[len(f)-1]
			case strings.Contains(line, "try: export"):
				ready = true
			}
		case <-deadline:
			t.Fatalf("server did not start in 30s:\n%s", p.stderr.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	return p
}

// stop ends the process gracefully, if it still runs.
func (p *proc) stop(t *testing.T) {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Errorf("server did not stop within 20s of SIGTERM")
	}
}

// kill ends it with SIGKILL: no shutdown code runs.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("server did not die on SIGKILL")
	}
}

// seedCatalog stores n posted updates sharing one payload in a new data
// directory, before its server starts (a large catalog, fast).
func seedCatalog(t *testing.T, data string, n int) {
	t.Helper()
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(filepath.Join(data, "patchgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cs, err := content.Open(filepath.Join(data, "content"))
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("#!/bin/sh\nexit 0\n")
	sum := sha256.Sum256(payload)
	sha := hex.EncodeToString(sum[:])
	if _, _, err := cs.Put(bytes.NewReader(payload), sha, 0); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	now := time.Now()
	for i := range n {
		id := fmt.Sprintf("bulk-%05d", i)
		u := patchgate.Update{ID: id, Title: "bulk fix " + id, Kind: patchgate.KindHotfix, Severity: patchgate.SeverityMedium,
			Products: []patchgate.ProductConstraint{{Name: "cisco.ucce"}}, Reboot: patchgate.RebootNever,
			Payloads: []patchgate.Payload{{Name: "fix.sh", Size: int64(len(payload)), SHA256: sha, Installer: patchgate.InstallerExec}}}
		if _, _, err := db.PutUpdate(ctx, u, patchgate.Event{ID: "seed-add-" + id, Time: now, Type: patchgate.EventUpdateAdded}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.TransitionUpdate(ctx, id, []patchgate.UpdateStatus{patchgate.StatusReceived}, patchgate.StatusPosted, true, now,
			patchgate.Event{ID: "seed-post-" + id, Time: now, Type: patchgate.EventUpdatePosted}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSyncSurvivesKill: a downstream killed with SIGKILL in the middle of
// syncing a large catalog in small pages, then restarted and synced
// again, holds every update exactly once: nothing lost, nothing
// duplicated.
func TestSyncSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("large catalog")
	}
	const n = 2000
	dir := t.TempDir()
	seedCatalog(t, filepath.Join(dir, "up"), n)
	up := startServe(t, filepath.Join(dir, "up"))
	var tok adminapi.CreateTokenResponse
	up.runJSON(t, &tok, "token", "create", "--role", "downstream", "--name", "branch")

	downData := filepath.Join(dir, "down")
	down := startServe(t, downData, "--sync-page-size", "2")
	down.run(t, false, "upstream", "add", "central", "--url", up.url, "--token", tok.Secret, "--ca-fingerprint", up.fingerprint)

	// Start a sync; kill the server once part of it is stored.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	syncCmd := exec.CommandContext(ctx, binary, "sync", "now")
	syncCmd.Env = append(os.Environ(), "PATCHGATE_SERVER="+down.url, "PATCHGATE_TOKEN="+down.token, "PATCHGATE_CA_FINGERPRINT="+down.fingerprint)
	if err := syncCmd.Start(); err != nil {
		t.Fatal(err)
	}
	var done int
	for i := 0; ; i++ {
		var st adminapi.SyncStatus
		down.runJSON(t, &st, "sync", "status")
		if len(st.Runs) > 0 {
			if r := st.Runs[0]; r.Status != patchgate.SyncRunning {
				t.Fatalf("the sync ended before the kill (make the catalog larger): %+v", r)
			} else if r.Done >= 300 {
				done = r.Done
				break
			}
		}
		if i > 600 {
			t.Fatal("no sync progress in 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	down.kill(t)
	syncCmd.Wait() // its server died: it fails, as it should

	db, err := sqlite.Open(filepath.Join(downData, "patchgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	before, err := db.ListUpdates(ctx, patchgate.UpdateFilter{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if len(before) < done || len(before) >= n {
		t.Fatalf("after the kill %d updates stored, want at least the %d reported and fewer than %d", len(before), done, n)
	}
	t.Logf("killed after %d of %d updates were stored", len(before), n)

	token := down.token
	down = startServe(t, downData, "--sync-page-size", "2")
	down.token = token // printed on first start only
	var res adminapi.SyncStarted
	down.runJSON(t, &res, "sync", "now")
	if len(res.Runs) != 1 || res.Runs[0].Status != patchgate.SyncSucceeded || res.Runs[0].Counts.New != n-len(before) || res.Runs[0].Counts.Conflicts != 0 {
		t.Fatalf("sync after the restart: %+v, want %d new", res.Runs, n-len(before))
	}
	var st adminapi.SyncStatus
	down.runJSON(t, &st, "sync", "status")
	if len(st.Runs) != 2 || st.Runs[1].Status != patchgate.SyncFailed || !strings.Contains(st.Runs[1].Error, "interrupted") {
		t.Errorf("the killed run is not recorded as interrupted: %+v", st.Runs)
	}
	down.stop(t)

	db, err = sqlite.Open(filepath.Join(downData, "patchgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	after, err := db.ListUpdates(ctx, patchgate.UpdateFilter{Status: patchgate.StatusPosted})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := db.ListEvents(ctx, patchgate.EventFilter{Type: patchgate.EventUpdateSynced, Limit: 2 * n})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range evs {
		seen[e.UpdateID]++
	}
	if len(after) != n || len(evs) != n || len(seen) != n {
		t.Fatalf("after the restart: %d posted updates, %d update.synced events for %d ids; want %d of each", len(after), len(evs), len(seen), n)
	}
	for _, u := range after {
		if u.Revision != 1 || seen[u.ID] != 1 {
			t.Fatalf("%s: revision %d, %d synced events", u.ID, u.Revision, seen[u.ID])
		}
	}
}

// TestThreeLevelChain: vendor publisher → central site → branch, each a
// separate server on loopback. An agent at the branch installs a hotfix
// the vendor posted, approved at the branch; its content travels down the
// chain on demand. A loop back to the branch is refused.
func TestThreeLevelChain(t *testing.T) {
	dir := t.TempDir()
	work := t.TempDir()
	vendor := startServe(t, filepath.Join(dir, "vendor"), "--server-name", "vendor")
	central := startServe(t, filepath.Join(dir, "central"), "--server-name", "central")
	branch := startServe(t, filepath.Join(dir, "branch"), "--server-name", "branch")

	marker := filepath.Join(work, "installed")
	writeFile(t, filepath.Join(work, "fix.sh"), "#!/bin/sh\necho \"$@\" > "+marker+"\n", 0o755)
	writeFile(t, filepath.Join(work, "hf7.yaml"), `
id: ucce-7.2.1-hf7
title: UCCE CTI crash under load
kind: hotfix
severity: critical
products: [{name: cisco.ucce, versions: ">=7.2(1), <7.3"}]
reboot: never
payloads: [{name: fix.sh, installer: exec, args: ["--from-vendor"]}]
`, 0o644)
	vendor.run(t, false, "update", "add", filepath.Join(work, "hf7.yaml"), "--payload", filepath.Join(work, "fix.sh"),
		"--post", "--force", "--reason", "vendor release")

	var tok adminapi.CreateTokenResponse
	vendor.runJSON(t, &tok, "token", "create", "--role", "downstream", "--name", "central")
	central.run(t, false, "upstream", "add", "vendor", "--url", vendor.url, "--token", tok.Secret, "--ca-fingerprint", vendor.fingerprint, "--product", "cisco.ucce")
	central.runJSON(t, &tok, "token", "create", "--role", "downstream", "--name", "branch")
	branch.run(t, false, "upstream", "add", "central", "--url", central.url, "--token", tok.Secret, "--ca-fingerprint", central.fingerprint)

	// A rule at the central site approves critical fixes for its sites
	// as soon as a sync brings them.
	central.run(t, false, "group", "create", "sites")
	central.run(t, false, "rule", "add", "--name", "crit-sites", "--severity", "critical", "--group", "sites")
	if out := central.run(t, false, "sync", "now"); !strings.Contains(out, "succeeded") {
		t.Fatalf("central sync: %s", out)
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		var as []patchgate.Approval
		central.runJSON(t, &as, "approval", "list")
		if slices.ContainsFunc(as, func(a patchgate.Approval) bool {
			return a.UpdateID == "ucce-7.2.1-hf7" && a.Group == "sites" && a.CreatedBy == "rule:crit-sites"
		}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rule did not approve the synced hotfix: %+v", as)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var res adminapi.SyncStarted
	branch.runJSON(t, &res, "sync", "now")
	if len(res.Runs) != 1 || res.Runs[0].Counts.New != 1 {
		t.Fatalf("branch sync: %+v", res.Runs)
	}
	var info adminapi.UpdateInfo
	branch.runJSON(t, &info, "update", "show", "ucce-7.2.1-hf7")
	if info.Release.Status != patchgate.StatusPosted {
		t.Fatalf("at the branch the hotfix is %s, want posted", info.Release.Status)
	}

	// An agent at the branch, approved at the branch (autonomous mode).
	var enrol adminapi.CreateTokenResponse
	branch.run(t, false, "group", "create", "tills")
	branch.runJSON(t, &enrol, "token", "create", "--enroll", "--group", "tills", "--uses", "1")
	dpkg := filepath.Join(work, "dpkg")
	os.MkdirAll(dpkg, 0o755)
	writeFile(t, filepath.Join(dpkg, "status"), "", 0o644)
	writeFile(t, filepath.Join(work, "machine-id"), "machine-till1\n", 0o600)
	agent := []string{"agent", "--enroll-token", enrol.Secret, "--state", filepath.Join(work, "agent"), "--product", "cisco.ucce=7.2(1)",
		"--hostname", "till1", "--machine-id-file", filepath.Join(work, "machine-id"), "--dpkg-admindir", dpkg, "--once", "--log-level", "warn"}
	branch.run(t, false, agent...)
	branch.run(t, false, "approve", "ucce-7.2.1-hf7", "--group", "tills")
	branch.run(t, false, agent...)
	got, err := os.ReadFile(marker)
	if err != nil {
		t.Fatalf("the branch agent did not install the vendor's hotfix: %v", err)
	}
	if strings.TrimSpace(string(got)) != "--from-vendor" {
		t.Errorf("installer arguments %q", got)
	}
	// The branch agent verified the vendor's own signatures, through two
	// verbatim mirrors (central's and the branch's): it trusts the
	// vendor's repository by the vendor's server id, and the branch
	// serves the vendor's metadata byte for byte.
	var vst adminapi.SyncStatus
	vendor.runJSON(t, &vst, "sync", "status")
	if _, err := os.Stat(filepath.Join(work, "agent", "tuf", vst.ServerID, "targets.json")); err != nil {
		t.Errorf("the branch agent has no verified metadata of the vendor's repository %s: %v", vst.ServerID, err)
	}
	if a, b := tufFile(t, vendor.server, "local", "timestamp.json"), tufFile(t, branch.server, vst.ServerID, "timestamp.json"); !bytes.Equal(a, b) {
		t.Errorf("the branch's mirror of the vendor's timestamp.json differs from the vendor's:\n%s\n%s", a, b)
	}
	var report adminapi.ComplianceReport
	branch.runJSON(t, &report, "report", "compliance", "--update", "ucce-7.2.1-hf7")
	installed := 0
	for _, r := range report.Rows {
		if r.Group == "tills" {
			installed = r.Installed
		}
	}
	if installed != 1 {
		t.Errorf("branch compliance: %+v", report.Rows)
	}

	// Compliance rolls up: branch → central → vendor.
	branch.run(t, false, "sync", "now")
	central.run(t, false, "sync", "now")
	var sites adminapi.SitesComplianceReport
	vendor.runJSON(t, &sites, "report", "compliance", "--all-sites")
	var names []string
	for _, sc := range sites.Sites {
		names = append(names, sc.Name)
		if sc.Name == "branch" && !slices.ContainsFunc(sc.Rows, func(r patchgate.ComplianceRow) bool {
			return r.Group == "tills" && r.UpdateID == "ucce-7.2.1-hf7" && r.Installed == 1 && r.Hosts == 1
		}) {
			t.Errorf("the branch's rolled-up compliance: %+v", sc.Rows)
		}
	}
	if strings.Join(names, ",") != "vendor,branch,central" {
		t.Errorf("sites at the vendor: %v", names)
	}
	if out := vendor.run(t, false, "report", "compliance", "--all-sites"); !strings.Contains(out, "site branch") || !strings.Contains(out, "site central") {
		t.Errorf("report compliance --all-sites:\n%s", out)
	}

	// The vendor syncing from the branch would close a loop: refused.
	branch.runJSON(t, &tok, "token", "create", "--role", "downstream", "--name", "vendor")
	vendor.run(t, false, "upstream", "add", "branch", "--url", branch.url, "--token", tok.Secret, "--ca-fingerprint", branch.fingerprint)
	if out := vendor.run(t, true, "sync", "now"); !strings.Contains(out, "loop") {
		t.Fatalf("a loop through the chain was not refused: %s", out)
	}
}

// TestCleanup: `patchgate cleanup` removes a withdrawn update and the
// content only it used; --dry-run removes nothing; content a remaining
// update uses stays.
func TestCleanup(t *testing.T) {
	s := startServe(t, filepath.Join(t.TempDir(), "data"))
	work := t.TempDir()
	for _, id := range []string{"hf1", "hf2"} {
		writeFile(t, filepath.Join(work, id+".sh"), "#!/bin/sh\necho "+id+"\n", 0o755)
		writeFile(t, filepath.Join(work, id+".yaml"), "id: "+id+"\ntitle: fix "+id+"\nkind: hotfix\nseverity: low\nproducts: [{name: app}]\nreboot: never\npayloads: [{name: "+id+".sh, installer: exec}]\n", 0o644)
		s.run(t, false, "update", "add", filepath.Join(work, id+".yaml"), "--payload", filepath.Join(work, id+".sh"), "--post", "--force", "--reason", "test")
	}
	s.run(t, false, "update", "withdraw", "hf1", "--reason", "bricks the router")
	object := func(id string) string {
		data, _ := os.ReadFile(filepath.Join(work, id+".sh"))
		sum := sha256.Sum256(data)
		h := hex.EncodeToString(sum[:])
		return filepath.Join(s.data, "content", "sha256", h[:2], h)
	}
	if out := s.run(t, false, "cleanup"); !strings.Contains(out, "nothing to remove") {
		t.Fatalf("cleanup of a fresh withdrawal with the default age: %s", out)
	}
	var res adminapi.PurgeResponse
	s.runJSON(t, &res, "cleanup", "--older-than", "0s", "--dry-run")
	if !res.DryRun || len(res.Updates) != 1 || res.Updates[0].UpdateID != "hf1" || len(res.Content) != 1 {
		t.Fatalf("dry run: %+v", res)
	}
	if _, err := os.Stat(object("hf1")); err != nil {
		t.Fatalf("dry run removed content: %v", err)
	}
	if out := s.run(t, false, "cleanup", "--older-than", "0s"); !strings.Contains(out, "removed 1 update(s) and 1 content object(s)") {
		t.Fatalf("cleanup said: %s", out)
	}
	if _, err := os.Stat(object("hf1")); !os.IsNotExist(err) {
		t.Errorf("content of the removed update left: %v", err)
	}
	if _, err := os.Stat(object("hf2")); err != nil {
		t.Errorf("content of a posted update removed: %v", err)
	}
	if out := s.run(t, true, "update", "show", "hf1"); !strings.Contains(out, "not found") {
		t.Errorf("removed update still shown: %s", out)
	}
}

// TestReplicaChain: vendor → central site → branch replica. The central
// site approves the vendor's hotfix for its group; the branch, a replica,
// takes the group and the approval; an agent at the branch installs the
// hotfix. Approving at the branch is refused.
func TestReplicaChain(t *testing.T) {
	dir, work := t.TempDir(), t.TempDir()
	vendor := startServe(t, filepath.Join(dir, "vendor"))
	central := startServe(t, filepath.Join(dir, "central"))
	branch := startServe(t, filepath.Join(dir, "branch"))
	marker := filepath.Join(work, "installed")
	writeFile(t, filepath.Join(work, "fix.sh"), "#!/bin/sh\necho replica > "+marker+"\n", 0o755)
	writeFile(t, filepath.Join(work, "hf8.yaml"), "id: ucce-7.2.1-hf8\ntitle: fix\nkind: hotfix\nseverity: critical\nproducts: [{name: cisco.ucce}]\nreboot: never\npayloads: [{name: fix.sh, installer: exec}]\n", 0o644)
	vendor.run(t, false, "update", "add", filepath.Join(work, "hf8.yaml"), "--payload", filepath.Join(work, "fix.sh"), "--post", "--force", "--reason", "vendor release")

	var tok adminapi.CreateTokenResponse
	vendor.runJSON(t, &tok, "token", "create", "--role", "downstream", "--name", "central")
	central.run(t, false, "upstream", "add", "vendor", "--url", vendor.url, "--token", tok.Secret, "--ca-fingerprint", vendor.fingerprint)
	central.runJSON(t, &tok, "token", "create", "--role", "downstream", "--name", "branch")
	branch.run(t, false, "upstream", "add", "central", "--url", central.url, "--token", tok.Secret, "--ca-fingerprint", central.fingerprint, "--mode", "replica")
	central.run(t, false, "sync", "now")
	central.run(t, false, "group", "create", "tills")
	central.run(t, false, "approve", "ucce-7.2.1-hf8", "--group", "tills")

	var res adminapi.SyncStarted
	branch.runJSON(t, &res, "sync", "now")
	if len(res.Runs) != 1 || res.Runs[0].Counts.New != 1 || res.Runs[0].Policy == nil || res.Runs[0].Policy.Approvals != 1 {
		t.Fatalf("branch sync: %+v", res.Runs)
	}
	if out := branch.run(t, true, "approve", "ucce-7.2.1-hf8", "--group", "all"); !strings.Contains(out, "replica") {
		t.Fatalf("approving at a replica: %s", out)
	}
	var enrol adminapi.CreateTokenResponse
	branch.runJSON(t, &enrol, "token", "create", "--enroll", "--group", "tills", "--uses", "1")
	dpkg := filepath.Join(work, "dpkg")
	os.MkdirAll(dpkg, 0o755)
	writeFile(t, filepath.Join(dpkg, "status"), "", 0o644)
	writeFile(t, filepath.Join(work, "machine-id"), "machine-till2\n", 0o600)
	branch.run(t, false, "agent", "--enroll-token", enrol.Secret, "--state", filepath.Join(work, "agent"), "--product", "cisco.ucce=7.2(1)",
		"--hostname", "till2", "--machine-id-file", filepath.Join(work, "machine-id"), "--dpkg-admindir", dpkg, "--once", "--log-level", "warn")
	if got, err := os.ReadFile(marker); err != nil || strings.TrimSpace(string(got)) != "replica" {
		t.Fatalf("the replica's agent did not install the hotfix approved at the central site: %q %v", got, err)
	}
}
