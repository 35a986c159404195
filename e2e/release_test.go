package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

// TestServiceReleaseMonth publishes three hotfixes over a month (their
// release dates), consolidates them into cisco.ucce-SR1, and checks the
// SR's contents; then two real agents take the SR: one with only the
// first hotfix runs the other two and records the SR, one with all three
// runs nothing and is recorded on the SR. Cleanup then declines the
// superseded hotfixes no host needs, and the next SR requires the first.
func TestServiceReleaseMonth(t *testing.T) {
	s := startServer(t)
	work := t.TempDir()
	s.run(t, false, "group", "create", "prod")
	var tok adminapi.CreateTokenResponse
	s.runJSON(t, &tok, "token", "create", "--enroll", "--group", "prod", "--uses", "2", "--expires", "1h")
	emptyDpkg := filepath.Join(work, "dpkg")
	os.MkdirAll(emptyDpkg, 0o755)
	writeFile(t, filepath.Join(emptyDpkg, "status"), "", 0o644)
	agent := func(name string) {
		t.Helper()
		idFile := filepath.Join(work, name+".machine-id")
		if _, err := os.Stat(idFile); err != nil {
			writeFile(t, idFile, "machine-"+name+"\n", 0o600)
		}
		s.run(t, false, "agent", "--enroll-token", tok.Secret, "--state", filepath.Join(work, name),
			"--mode", "automatic", "--product", "cisco.ucce=7.2(1)", "--hostname", name, "--machine-id-file", idFile,
			"--dpkg-admindir", emptyDpkg, "--once", "--log-level", "warn")
	}
	// What each host's payloads ran, in order: the exec installer runs in
	// <state>/work, so "../ran.log" is per host.
	ran := func(name string) string {
		data, _ := os.ReadFile(filepath.Join(work, name, "ran.log"))
		return strings.Join(strings.Fields(string(data)), ",")
	}

	// Three hotfixes over November, each posted (forced: no test group
	// here) and approved for prod. Host "behind" takes only the first;
	// host "current" takes all three.
	fixes := []struct{ id, sev, date, cve string }{
		{"ucce-hf1", "critical", "2026-11-02", "CVE-2026-1001"},
		{"ucce-hf2", "high", "2026-11-11", "CVE-2026-1002"},
		{"ucce-hf3", "medium", "2026-11-23", ""},
	}
	for i, f := range fixes {
		writeFile(t, filepath.Join(work, f.id+".sh"), "#!/bin/sh\necho "+f.id+" >> ../ran.log\n", 0o755)
		cves := ""
		if f.cve != "" {
			cves = "cves: [" + f.cve + "]\n"
		}
		writeFile(t, filepath.Join(work, f.id+".yaml"), fmt.Sprintf(`id: %s
title: UCCE fix %d
kind: hotfix
severity: %s
release_date: %s
products:
  - name: cisco.ucce
    versions: ">=7.2(1), <7.3"
%sreboot: never
payloads:
  - name: %s.sh
    installer: exec
`, f.id, i+1, f.sev, f.date, cves, f.id), 0o644)
		s.run(t, false, "update", "add", filepath.Join(work, f.id+".yaml"), "--payload", filepath.Join(work, f.id+".sh"),
			"--post", "--force", "--reason", "e2e: "+f.date+" hotfix")
		s.run(t, false, "approve", f.id, "--group", "prod")
		if i == 0 {
			agent("behind")
		}
		agent("current")
	}
	if got := ran("behind"); got != "ucce-hf1" {
		t.Fatalf("behind ran %q, want ucce-hf1", got)
	}
	if got := ran("current"); got != "ucce-hf1,ucce-hf2,ucce-hf3" {
		t.Fatalf("current ran %q, want the three hotfixes", got)
	}

	// A requires cycle is refused at add, naming it.
	writeFile(t, filepath.Join(work, "x.yaml"), `id: ucce-x
title: needs hf1
kind: hotfix
severity: low
products: [{name: cisco.ucce}]
requires: [ucce-hf1]
payloads: [{name: ucce-hf1.sh, installer: exec}]
`, 0o644)
	s.run(t, false, "update", "add", filepath.Join(work, "x.yaml"), "--payload", filepath.Join(work, "ucce-hf1.sh"))
	cyc := strings.Replace(mustRead(t, filepath.Join(work, "ucce-hf1.yaml")), "reboot: never\n", "reboot: never\nrequires: [ucce-x]\n", 1)
	writeFile(t, filepath.Join(work, "hf1-cycle.yaml"), cyc, 0o644)
	if out := s.run(t, true, "update", "add", filepath.Join(work, "hf1-cycle.yaml"), "--payload", filepath.Join(work, "ucce-hf1.sh")); !strings.Contains(out, "requires: cycle ucce-hf1 → ucce-x → ucce-hf1") {
		t.Fatalf("a requires cycle at add: %s", out)
	}
	s.run(t, false, "update", "withdraw", "ucce-x", "--reason", "e2e: only here to close a cycle")

	// Consolidation at the turn of the month.
	var c adminapi.ConsolidateResponse
	s.runJSON(t, &c, "release", "consolidate", "--product", "cisco.ucce")
	sr := c.Update
	if !c.Created || sr == nil || sr.ID != "cisco.ucce-SR1" || sr.Kind != patchgate.KindServiceRelease || c.Release == nil || c.Release.Status != patchgate.StatusReceived {
		t.Fatalf("consolidate: %+v", c)
	}
	ids := []string{"ucce-hf1", "ucce-hf2", "ucce-hf3"}
	if !slices.Equal(c.Constituents, ids) || !slices.Equal(sr.Supersedes, ids) || len(sr.Requires) != 0 {
		t.Fatalf("SR1: constituents %v, supersedes %v, requires %v", c.Constituents, sr.Supersedes, sr.Requires)
	}
	if sr.Severity != patchgate.SeverityCritical || !slices.Equal(sr.CVEs, []string{"CVE-2026-1001", "CVE-2026-1002"}) {
		t.Errorf("SR1 severity %s, CVEs %v", sr.Severity, sr.CVEs)
	}
	for i, p := range sr.Payloads {
		if p.Constituent != ids[i] || p.Name != fmt.Sprintf("%02d-%s.sh", i+1, ids[i]) {
			t.Errorf("payload %d: %+v", i, p)
		}
	}
	for _, want := range []string{"ucce-hf1 (hotfix, critical): UCCE fix 1 [CVE-2026-1001]", "ucce-hf2 (hotfix, high): UCCE fix 2 [CVE-2026-1002]", "ucce-hf3 (hotfix, medium): UCCE fix 3"} {
		if !strings.Contains(sr.Description, want) {
			t.Errorf("release notes lack %q:\n%s", want, sr.Description)
		}
	}
	if out := s.run(t, false, "release", "consolidate", "--product", "cisco.ucce"); !strings.Contains(out, "nothing to consolidate") {
		t.Fatalf("a second consolidation: %s", out)
	}
	s.run(t, false, "update", "post", sr.ID, "--force", "--reason", "e2e: no test group")
	for _, id := range ids {
		if out := s.run(t, false, "update", "status", id); !strings.Contains(out, "superseded") {
			t.Errorf("%s after SR1 was posted:\n%s", id, out)
		}
	}
	s.run(t, false, "approve", sr.ID, "--group", "prod")

	// The agents take the SR.
	agent("behind")
	agent("current")
	if got := ran("behind"); got != "ucce-hf1,ucce-hf2,ucce-hf3" {
		t.Errorf("behind ran %q, want hf1 before, then hf2 and hf3 for the SR", got)
	}
	if got := ran("current"); got != "ucce-hf1,ucce-hf2,ucce-hf3" {
		t.Errorf("current ran %q: it had every constituent and must run nothing more", got)
	}
	var hosts []adminapi.HostSummary
	s.runJSON(t, &hosts, "host", "list")
	for _, h := range hosts {
		if !slices.Contains(h.Installed, sr.ID) || h.Pending != 0 {
			t.Errorf("host %s: installed %v, %d pending; want on %s", h.Hostname, h.Installed, h.Pending, sr.ID)
		}
		var evs []patchgate.Event
		s.runJSON(t, &evs, "events", "--host", h.ID, "--update", sr.ID)
		var steps []string
		detail := ""
		for _, e := range evs {
			steps = append(steps, string(e.State))
			detail = e.Detail
		}
		want, skipped := []string{"downloading", "installing", "installed"}, "skipped: ucce-hf1"
		if h.Hostname == "current" {
			want, skipped = []string{"installed"}, "skipped: ucce-hf1, ucce-hf2, ucce-hf3"
		}
		if !slices.Equal(steps, want) || !strings.Contains(detail, skipped) {
			t.Errorf("host %s: SR events %v (%q), want %v naming %q", h.Hostname, steps, detail, want, skipped)
		}
	}

	// Cleanup: no host needs the superseded hotfixes (both are on SR1).
	var rep adminapi.CleanupReport
	s.runJSON(t, &rep, "release", "cleanup", "--dry-run")
	if rep.Declined != 0 || len(rep.Items) != 3 || !strings.Contains(rep.Items[0].Reason, "less than 30d") {
		t.Fatalf("cleanup at the default age: %+v", rep)
	}
	s.runJSON(t, &rep, "release", "cleanup", "--age", "0d")
	if rep.Declined != 3 {
		t.Fatalf("cleanup --age 0d: %+v", rep)
	}
	if out := s.run(t, false, "release", "cleanup", "--age", "0d"); !strings.Contains(out, "no superseded update left") {
		t.Fatalf("a second cleanup: %s", out)
	}

	// December: a hotfix on the SR1 floor, then SR2 requires SR1.
	hf4 := strings.Replace(strings.Replace(mustRead(t, filepath.Join(work, "ucce-hf3.yaml")), "ucce-hf3", "ucce-hf4", -1), "reboot: never\n", "reboot: never\nrequires: [cisco.ucce-SR1]\n", 1)
	writeFile(t, filepath.Join(work, "ucce-hf4.yaml"), hf4, 0o644)
	writeFile(t, filepath.Join(work, "ucce-hf4.sh"), "#!/bin/sh\necho ucce-hf4 >> ../ran.log\n", 0o755)
	s.run(t, false, "update", "add", filepath.Join(work, "ucce-hf4.yaml"), "--payload", filepath.Join(work, "ucce-hf4.sh"), "--post", "--force", "--reason", "e2e")
	var c2 adminapi.ConsolidateResponse
	s.runJSON(t, &c2, "release", "consolidate", "--product", "cisco.ucce")
	if sr2 := c2.Update; sr2 == nil || sr2.ID != "cisco.ucce-SR2" || !slices.Equal(sr2.Requires, []string{"cisco.ucce-SR1"}) ||
		!slices.Equal(sr2.Supersedes, []string{"ucce-hf4"}) || len(sr2.CVEs) != 0 || !strings.Contains(sr2.Description, "since cisco.ucce-SR1") {
		t.Fatalf("SR2: %+v", sr2)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
