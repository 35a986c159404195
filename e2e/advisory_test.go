package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

// runSplit runs the CLI and returns stdout alone, and whether it failed.
func (s *server) runSplit(t *testing.T, args ...string) (stdout string, failed bool, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "PATCHGATE_SERVER="+s.url, "PATCHGATE_TOKEN="+s.token, "PATCHGATE_CA_FINGERPRINT="+s.fingerprint)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), err != nil, errb.String()
}

// TestAdvisories imports the testdata CSAF documents into a real server
// over HTTP, with real agents reporting their products, and checks the
// per-file outcomes, the advisory events, and that the exposure report
// names exactly the hosts that run an affected version, with where each
// one's fix stands.
func TestAdvisories(t *testing.T) {
	s := startServer(t)
	work := t.TempDir()
	testdata, err := filepath.Abs("../testdata/csaf")
	if err != nil {
		t.Fatal(err)
	}

	s.run(t, false, "group", "create", "prod")
	var tok adminapi.CreateTokenResponse
	s.runJSON(t, &tok, "token", "create", "--enroll", "--group", "prod", "--uses", "3")
	emptyDpkg := filepath.Join(work, "dpkg")
	os.MkdirAll(emptyDpkg, 0o755)
	writeFile(t, filepath.Join(emptyDpkg, "status"), "", 0o644)
	agent := func(name string, products ...string) {
		idFile := filepath.Join(work, name+".machine-id")
		if _, err := os.Stat(idFile); err != nil {
			writeFile(t, idFile, "machine-"+name+"\n", 0o600)
		}
		args := []string{"agent", "--enroll-token", tok.Secret, "--state", filepath.Join(work, name),
			"--mode", "automatic", "--hostname", name, "--machine-id-file", idFile,
			"--dpkg-admindir", emptyDpkg, "--once", "--log-level", "warn"}
		for _, p := range products {
			args = append(args, "--product", p)
		}
		s.run(t, false, args...)
	}
	agent("ucce-a", "cisco.ucce=12.6(1)")                                         // affected
	agent("ucce-b", "cisco.ucce=12.6(2)")                                         // fixed version
	agent("rhel-1", "openssl=1:3.0.7-25.el9_4", "examplecorp.plc_controller=4.0") // RHSA and ICSA

	// The Cisco engineering special exists before the advisory: its
	// remediation names it, so importing links it. It is posted and
	// approved for prod; ucce-a installs it.
	marker := filepath.Join(work, "marker")
	writeFile(t, filepath.Join(work, "es.sh"), "#!/bin/sh\ntouch "+marker+"\n", 0o755)
	writeFile(t, filepath.Join(work, "es.yaml"), `
id: HF-UCCE-1261-ES5
title: UCCE 12.6(1) engineering special 5
kind: security
severity: critical
products: [{name: cisco.ucce, versions: "=12.6(1)"}]
cves: [CVE-2026-20101]
reboot: never
payloads: [{name: es.sh, installer: exec}]
`, 0o644)
	s.run(t, false, "update", "add", filepath.Join(work, "es.yaml"), "--payload", filepath.Join(work, "es.sh"),
		"--post", "--force", "--reason", "vendor-tested engineering special")
	s.run(t, false, "approve", "HF-UCCE-1261-ES5", "--group", "prod")
	agent("ucce-a", "cisco.ucce=12.6(1)")
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("ucce-a did not install the engineering special: %v", err)
	}
	agent("ucce-a", "cisco.ucce=12.6(1)") // reports it installed

	// An openssl update names the Red Hat advisory in its manifest; it is
	// only received, not posted.
	writeFile(t, filepath.Join(work, "ossl.yaml"), `
id: openssl-3.0.7-27
title: openssl 3.0.7-27
kind: security
severity: high
products: [{name: openssl, versions: "<1:3.0.7-27.el9_4"}]
advisories: ["RHSA-2026:8123"]
reboot: never
payloads: [{name: es.sh, installer: exec}]
`, 0o644)
	s.run(t, false, "update", "add", filepath.Join(work, "ossl.yaml"), "--payload", filepath.Join(work, "es.sh"))

	// One file first, then the whole directory with the product map.
	out := s.run(t, false, "advisory", "import", filepath.Join(testdata, "cisco-sa-ucce-rce.json"), "--map", filepath.Join(testdata, "map.yaml"))
	if !strings.Contains(out, "imported") || !strings.Contains(out, "1 files: 1 imported, 0 updated, 0 unchanged, 0 rejected") {
		t.Fatalf("advisory import (one file):\n%s", out)
	}
	stdout, failed, stderr := s.runSplit(t, "advisory", "import", testdata, "--map", filepath.Join(testdata, "map.yaml"), "--json")
	if !failed || !strings.Contains(stderr, "7 of 11 files rejected") {
		t.Fatalf("importing a directory with invalid files must fail after importing the rest: failed=%v\n%s", failed, stderr)
	}
	var rep struct {
		Results []struct {
			File         string                    `json:"file"`
			Outcome      patchgate.AdvisoryOutcome `json:"outcome"`
			ID           string                    `json:"id"`
			Revision     int                       `json:"revision"`
			ExposedHosts int                       `json:"exposed_hosts"`
			Reason       string                    `json:"reason"`
		} `json:"results"`
		Summary map[patchgate.AdvisoryOutcome]int `json:"summary"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("advisory import --json: %v\n%s", err, stdout)
	}
	want := map[string]struct {
		outcome patchgate.AdvisoryOutcome
		exposed int
		reason  string
	}{
		"cisco-sa-ucce-rce-rev2.json": {patchgate.AdvisoryUpdated, 1, ""},
		"cisco-sa-ucce-rce.json":      {patchgate.AdvisoryRejected, 0, "/document/tracking/current_release_date"},
		"icsa-26-310-01.json":         {patchgate.AdvisoryImported, 1, ""},
		"rhsa-2026_8123.json":         {patchgate.AdvisoryImported, 1, ""}, // carries acknowledgments
		"ssa-412309.json":             {patchgate.AdvisoryImported, 0, ""}, // carries acknowledgments
		"invalid-bad-cve.json":        {patchgate.AdvisoryRejected, 0, "/vulnerabilities/0/cve"},
		"invalid-csaf-version.json":   {patchgate.AdvisoryRejected, 0, "/document/csaf_version"},
		"invalid-cvss-vector.json":    {patchgate.AdvisoryRejected, 0, "/vulnerabilities/0/scores/0/cvss_v3/vectorString"},
		"invalid-no-tracking-id.json": {patchgate.AdvisoryRejected, 0, "missing property 'id'"},
		"trailing-garbage.json":       {patchgate.AdvisoryRejected, 0, "unexpected data after the JSON object"},
		"truncated.json":              {patchgate.AdvisoryRejected, 0, "unexpected end of input"},
	}
	if len(rep.Results) != 11 || rep.Summary[patchgate.AdvisoryRejected] != 7 {
		t.Fatalf("%d results, want one per *.json file (11), 7 rejected\n%s", len(rep.Results), stdout)
	}
	for _, r := range rep.Results {
		w, ok := want[filepath.Base(r.File)]
		if !ok {
			continue
		}
		if r.Outcome != w.outcome || r.ExposedHosts != w.exposed || !strings.Contains(r.Reason, w.reason) {
			t.Errorf("%s: %s exposed %d reason %q; want %s exposed %d reason containing %q", filepath.Base(r.File), r.Outcome, r.ExposedHosts, r.Reason, w.outcome, w.exposed, w.reason)
		}
	}

	// Importing again changes nothing.
	out = s.run(t, false, "advisory", "import", filepath.Join(testdata, "cisco-sa-ucce-rce-rev2.json"), "--map", filepath.Join(testdata, "map.yaml"))
	if !strings.Contains(out, "unchanged") {
		t.Errorf("re-import: %s", out)
	}

	// The events the notification engine alerts on.
	var evs []patchgate.Event
	s.runJSON(t, &evs, "events", "--type", patchgate.EventAdvisoryImported)
	var cisco *patchgate.AdvisoryEventDetail
	for _, ev := range evs {
		var d patchgate.AdvisoryEventDetail
		if err := json.Unmarshal([]byte(ev.Detail), &d); err != nil {
			t.Fatalf("event detail is not JSON: %q", ev.Detail)
		}
		if d.ID == "cisco-sa-ucce-rce-7qJ4Wg8" {
			cisco = &d
		}
	}
	if len(evs) != 4 || cisco == nil || cisco.ExposedHosts != 1 || cisco.Severity != patchgate.SeverityCritical || !slices.Equal(cisco.CVEs, []string{"CVE-2026-20101"}) {
		t.Errorf("advisory.imported events: %+v (cisco %+v)", evs, cisco)
	}
	s.runJSON(t, &evs, "events", "--type", patchgate.EventAdvisoryUpdated)
	if len(evs) != 1 {
		t.Errorf("advisory.updated events: %+v", evs)
	}

	// The exposure report over every advisory.
	var exp adminapi.ExposureReport
	s.runJSON(t, &exp, "report", "exposure")
	type key struct{ advisory, host, product string }
	got := map[key]patchgate.ExposureRow{}
	for _, r := range exp.Rows {
		got[key{r.Advisory, r.Hostname, r.Product}] = r
	}
	if len(exp.Rows) != 3 {
		t.Errorf("exposure rows: %+v", exp.Rows)
	}
	if r, ok := got[key{"cisco-sa-ucce-rce-7qJ4Wg8", "ucce-a", "cisco.ucce"}]; !ok || r.Fix != "HF-UCCE-1261-ES5" || !r.Posted || !r.Approved || !r.Installed || r.Version != "12.6(1)" {
		t.Errorf("ucce-a: %+v (present %v)", r, ok)
	}
	if r, ok := got[key{"RHSA-2026:8123", "rhel-1", "openssl"}]; !ok || r.Fix != "openssl-3.0.7-27" || r.Posted || r.Approved || r.Installed {
		t.Errorf("rhel-1 openssl: %+v (present %v)", r, ok)
	}
	if r, ok := got[key{"ICSA-26-310-01", "rhel-1", "examplecorp.plc_controller"}]; !ok || r.Fix != "" || !slices.Equal(r.CVEs, []string{"CVE-2026-31337"}) {
		t.Errorf("rhel-1 plc: %+v (present %v)", r, ok)
	}
	for k := range got {
		if k.host == "ucce-b" {
			t.Errorf("ucce-b runs the fixed version but is listed: %+v", got[k])
		}
	}

	// Narrowed by CVE and by advisory; and the table.
	s.runJSON(t, &exp, "report", "exposure", "--cve", "CVE-2026-5535")
	if len(exp.Rows) != 1 || exp.Rows[0].Hostname != "rhel-1" || exp.Rows[0].Advisory != "RHSA-2026:8123" {
		t.Errorf("--cve CVE-2026-5535: %+v", exp.Rows)
	}
	s.runJSON(t, &exp, "report", "exposure", "--advisory", "SSA-412309")
	if len(exp.Rows) != 0 {
		t.Errorf("--advisory SSA-412309: %+v", exp.Rows)
	}
	table := s.run(t, false, "report", "exposure", "--advisory", "cisco-sa-ucce-rce-7qJ4Wg8")
	for _, w := range []string{"ADVISORY", "INSTALLED", "ucce-a", "12.6(1)", "12.6(2)", "HF-UCCE-1261-ES5", "yes"} {
		if !strings.Contains(table, w) {
			t.Errorf("exposure table lacks %q:\n%s", w, table)
		}
	}
	if out := s.run(t, true, "report", "exposure", "--cve", "CVE-1"); !strings.Contains(out, "--cve") {
		t.Errorf("a malformed --cve: %s", out)
	}

	// list and show.
	var as []patchgate.Advisory
	s.runJSON(t, &as, "advisory", "list")
	if len(as) != 4 || as[0].ID != "cisco-sa-ucce-rce-7qJ4Wg8" || as[0].Revision != 2 {
		t.Errorf("advisory list: %d advisories, first %+v", len(as), as[0])
	}
	show := s.run(t, false, "advisory", "show", "cisco-sa-ucce-rce-7qJ4Wg8")
	for _, w := range []string{"Fixed by:", "HF-UCCE-1261-ES5", "CVE-2026-20101", "9.8", "Exposed hosts: 1", "Revision:", "affected"} {
		if !strings.Contains(show, w) {
			t.Errorf("advisory show lacks %q:\n%s", w, show)
		}
	}
	if out := s.run(t, true, "advisory", "show", "no-such-advisory"); !strings.Contains(out, "not found") {
		t.Errorf("show of a missing advisory: %s", out)
	}
}
