package patchgate

import (
	"strings"
	"testing"
	"time"
)

func TestConsolidateServiceRelease(t *testing.T) {
	now := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	posted := func(d int) ReleaseState {
		return ReleaseState{Status: StatusPosted, PostedAt: time.Date(2026, 11, d, 12, 0, 0, 0, time.UTC)}
	}
	fix := func(id string, kind Kind, sev Severity, product, sha string, cves ...string) Update {
		return Update{ID: id, Title: "fix " + id, Kind: kind, Severity: sev, Reboot: RebootNever, CVEs: cves,
			Products: []ProductConstraint{{Name: product, Versions: ">=7.2(1), <7.3"}},
			Payloads: []Payload{{Name: "fix.sh", SHA256: sha, Size: 1, Installer: InstallerExec}}}
	}
	updates := []Update{
		fix("hf3", KindHotfix, SeverityMedium, "ucce", "cc", "CVE-2026-0003"),
		fix("hf1", KindHotfix, SeverityCritical, "ucce", "aa", "CVE-2026-0001"),
		fix("sec2", KindSecurity, SeverityHigh, "ucce", "bb", "CVE-2026-0001", "CVE-2026-0002"),
		fix("feat", KindFeature, SeverityLow, "ucce", "dd"),
		fix("untested", KindHotfix, SeverityLow, "ucce", "ee"),
		fix("gone", KindHotfix, SeverityLow, "ucce", "ff"),
		fix("other", KindHotfix, SeverityLow, "cvp", "99"),
	}
	updates[1].Reboot = RebootMay
	states := map[string]ReleaseState{
		"hf1": posted(3), "sec2": posted(10), "hf3": posted(20), "feat": posted(4), "other": posted(5),
		"untested": {Status: StatusTesting}, "gone": {Status: StatusWithdrawn},
	}
	c, err := ConsolidateServiceRelease("ucce", updates, states, now)
	if err != nil {
		t.Fatal(err)
	}
	sr := c.Update
	if sr == nil || sr.ID != "ucce-SR1" || c.Previous != "" || len(sr.Requires) != 0 {
		t.Fatalf("first SR: %+v", c)
	}
	if got := strings.Join(c.Constituents, ","); got != "hf1,sec2,hf3" || strings.Join(sr.Supersedes, ",") != got {
		t.Errorf("constituents %s, supersedes %v: want the posted fixes in posting order", got, sr.Supersedes)
	}
	if sr.Kind != KindServiceRelease || sr.Severity != SeverityCritical || sr.Reboot != RebootMay {
		t.Errorf("kind %s severity %s reboot %s", sr.Kind, sr.Severity, sr.Reboot)
	}
	var names, shas, from []string
	for _, p := range sr.Payloads {
		names, shas, from = append(names, p.Name), append(shas, p.SHA256), append(from, p.Constituent)
	}
	if strings.Join(from, ",") != "hf1,sec2,hf3" {
		t.Errorf("payload constituents %v, want hf1,sec2,hf3", from)
	}
	if strings.Join(names, ",") != "01-fix.sh,02-fix.sh,03-fix.sh" || strings.Join(shas, ",") != "aa,bb,cc" {
		t.Errorf("payloads %v %v: want the constituents' content, in order", names, shas)
	}
	if strings.Join(sr.CVEs, ",") != "CVE-2026-0001,CVE-2026-0002,CVE-2026-0003" {
		t.Errorf("CVEs %v", sr.CVEs)
	}
	if len(sr.Products) != 1 || sr.Products[0].Name != "ucce" {
		t.Errorf("products %v", sr.Products)
	}
	for _, want := range []string{"hf1 (hotfix, critical): fix hf1 [CVE-2026-0001]", "sec2 (security, high)", "hf3 (hotfix, medium)"} {
		if !strings.Contains(sr.Description, want) {
			t.Errorf("release notes lack %q:\n%s", want, sr.Description)
		}
	}

	// Once SR1 exists (in any status), running again builds nothing.
	updates = append(updates, *sr)
	states["ucce-SR1"] = ReleaseState{Status: StatusReceived}
	c, err = ConsolidateServiceRelease("ucce", updates, states, now)
	if err != nil || c.Update != nil || !strings.Contains(c.Reason, "since ucce-SR1") || c.Previous != "ucce-SR1" {
		t.Fatalf("second run: %+v %v", c, err)
	}
	// A later hotfix goes into SR2, which requires SR1.
	updates = append(updates, fix("hf4", KindHotfix, SeverityLow, "ucce", "44"))
	states["hf4"] = posted(28)
	c, err = ConsolidateServiceRelease("ucce", updates, states, now.AddDate(0, 1, 0))
	if err != nil || c.Update == nil || c.Update.ID != "ucce-SR2" || strings.Join(c.Update.Requires, ",") != "ucce-SR1" || strings.Join(c.Constituents, ",") != "hf4" {
		t.Fatalf("SR2: %+v %v", c, err)
	}

	// Nothing posted at all.
	c, err = ConsolidateServiceRelease("cms", updates, states, now)
	if err != nil || c.Update != nil || !strings.Contains(c.Reason, "no hotfix for cms") {
		t.Errorf("empty product line: %+v %v", c, err)
	}
	if _, err := ConsolidateServiceRelease("Bad Name", updates, states, now); ErrorCode(err) != CodeInvalid {
		t.Errorf("bad product: %v", err)
	}
}

func TestServiceReleaseNumber(t *testing.T) {
	for id, want := range map[string]int{"ucce-SR1": 1, "ucce-SR12": 12, "ucce-SR0": 0, "ucce-SR01": 0, "ucce-SRx": 0, "ucce.x-SR1": 0, "ucce-SR-1": 0} {
		n, ok := serviceReleaseNumber("ucce", id)
		if (want > 0) != ok || n != want && ok {
			t.Errorf("%s: %d %v, want %d", id, n, ok, want)
		}
	}
}

func TestPayloadsToRun(t *testing.T) {
	p := func(name, from string) Payload {
		return Payload{Name: name, SHA256: strings.Repeat("a", 64), Size: 1, Installer: InstallerExec, Constituent: from}
	}
	sr := PlanItem{UpdateID: "app-SR2", Action: ActionInstall,
		Payloads: []Payload{p("01-a.sh", "hf1"), p("02-b.sh", "hf2"), p("02-b2.sh", "hf2"), p("03-c.sh", "hf3")}}
	names := func(ps []Payload) string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return strings.Join(out, ",")
	}
	cases := []struct {
		name      string
		item      PlanItem
		have      []string
		run, skip string
	}{
		{"nothing installed: every constituent, in order", sr, nil, "01-a.sh,02-b.sh,02-b2.sh,03-c.sh", ""},
		{"one constituent installed: the other two", sr, []string{"hf2", "other"}, "01-a.sh,03-c.sh", "hf2"},
		{"all constituents: nothing runs", sr, []string{"hf3", "hf1", "hf2"}, "", "hf1,hf2,hf3"},
		{"the previous SR does not count as a constituent", sr, []string{"app-SR1"}, "01-a.sh,02-b.sh,02-b2.sh,03-c.sh", ""},
		{"a plain update always runs", PlanItem{UpdateID: "hf9", Action: ActionInstall, Payloads: []Payload{p("x.sh", "")}}, []string{"hf9"}, "x.sh", ""},
		{"uninstall runs every payload", PlanItem{UpdateID: "app-SR2", Action: ActionUninstall, Payloads: sr.Payloads}, []string{"hf1", "hf2", "hf3"}, "01-a.sh,02-b.sh,02-b2.sh,03-c.sh", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run, skipped := PayloadsToRun(tc.item, tc.have)
			if got := names(run); got != tc.run {
				t.Errorf("run %q, want %q", got, tc.run)
			}
			if got := strings.Join(skipped, ","); got != tc.skip {
				t.Errorf("skipped %q, want %q", got, tc.skip)
			}
		})
	}
}
