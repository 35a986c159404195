package patchgate

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestExposure(t *testing.T) {
	adv := Advisory{
		ID: "cisco-sa-1", Title: "RCE", Severity: SeverityCritical,
		CVEs:     []AdvisoryCVE{{ID: "CVE-2026-0001"}, {ID: "CVE-2026-0002"}},
		Affected: []AdvisoryProduct{{Product: "cisco.ucce", Versions: ">=12.0, <12.7", CVEs: []string{"CVE-2026-0001"}}, {Product: "cisco.ucce", Versions: "=12.5(1)", CVEs: []string{"CVE-2026-0002"}}},
		// 12.6(2) lies in the affected range but is fixed.
		Fixed:   []AdvisoryProduct{{Product: "cisco.ucce", Versions: "=12.6(2)"}},
		Updates: []string{"HF-1"}, // named by a remediation
	}
	other := Advisory{ID: "RHSA-1", CVEs: []AdvisoryCVE{{ID: "CVE-2026-0003"}},
		Affected: []AdvisoryProduct{{Product: "openssl", Versions: "<1:3.0.7-27", CVEs: []string{"CVE-2026-0003"}}}}
	hf := func(id, versions string, advisories ...string) Update {
		return Update{ID: id, Products: []ProductConstraint{{Name: "cisco.ucce", Versions: versions}}, Advisories: advisories}
	}
	host := func(id string, groups []string, mode Mode, installed []string, products ...InstalledProduct) Host {
		return Host{ID: id, Groups: groups, Inventory: Inventory{Hostname: id + ".example", Mode: mode, Products: products, Installed: installed}}
	}
	ucce := func(v string) InstalledProduct { return InstalledProduct{Name: "cisco.ucce", Version: v} }
	posted := map[string]ReleaseState{"HF-1": {UpdateID: "HF-1", Status: StatusPosted}, "SR-1": {UpdateID: "SR-1", Status: StatusPosted},
		"HF-2": {UpdateID: "HF-2", Status: StatusReceived}}
	approveProd := []Approval{{UpdateID: "HF-1", Group: "prod", Action: ActionInstall}}

	type row struct {
		host, fix                   string
		posted, approved, installed bool
		cves                        []string
	}
	for _, tc := range []struct {
		name      string
		in        ExposureInput
		want      []row
		wantHosts int
	}{
		{
			name: "affected hosts only; fixed and other products are not",
			in: ExposureInput{Advisories: []Advisory{adv}, Hosts: []Host{
				host("a", []string{"all"}, ModeAutomatic, nil, ucce("12.6(1)")),
				host("b", []string{"all"}, ModeAutomatic, nil, ucce("12.6(2)")), // fixed
				host("c", []string{"all"}, ModeAutomatic, nil, ucce("12.7")),    // not affected
				host("d", []string{"all"}, ModeAutomatic, nil, InstalledProduct{Name: "openssl", Version: "1:3.0.7-1"}),
			}},
			want:      []row{{host: "a", cves: []string{"CVE-2026-0001"}}},
			wantHosts: 1,
		},
		{
			name: "two affected entries merge their CVEs",
			in:   ExposureInput{Advisories: []Advisory{adv}, Hosts: []Host{host("a", nil, ModeAutomatic, nil, ucce("12.5(1)"))}},
			want: []row{{host: "a", cves: []string{"CVE-2026-0001", "CVE-2026-0002"}}}, wantHosts: 1,
		},
		{
			name: "fix posted, approved for the host's group, installed",
			in: ExposureInput{Advisories: []Advisory{adv}, Updates: []Update{hf("HF-1", "<12.7")}, Release: posted, Approvals: approveProd,
				Hosts: []Host{
					host("a", []string{"all", "prod"}, ModeAutomatic, []string{"HF-1"}, ucce("12.6(1)")),
					host("b", []string{"all", "prod"}, ModeAutomatic, nil, ucce("12.6(1)")),
					host("c", []string{"all", "lab"}, ModeAutomatic, nil, ucce("12.6(1)")),
				}},
			want: []row{
				{host: "a", fix: "HF-1", posted: true, approved: true, installed: true, cves: []string{"CVE-2026-0001"}},
				{host: "b", fix: "HF-1", posted: true, approved: true, cves: []string{"CVE-2026-0001"}},
				{host: "c", fix: "HF-1", posted: true, cves: []string{"CVE-2026-0001"}},
			},
			wantHosts: 3,
		},
		{
			name: "a fix that does not apply to the host's version is not its fix",
			in: ExposureInput{Advisories: []Advisory{adv}, Updates: []Update{hf("HF-1", "=12.5(1)")}, Release: posted,
				Hosts: []Host{host("a", nil, ModeAutomatic, nil, ucce("12.6(1)"))}},
			want: []row{{host: "a", cves: []string{"CVE-2026-0001"}}}, wantHosts: 1,
		},
		{
			name: "a manifest naming the advisory links its update; the one furthest along is shown",
			in: ExposureInput{Advisories: []Advisory{adv}, Updates: []Update{hf("HF-1", "<12.7"), hf("HF-2", "<12.7", "cisco-sa-1")}, Release: posted,
				Hosts: []Host{host("a", nil, ModeAutomatic, []string{"HF-2"}, ucce("12.6(1)"))}},
			want: []row{{host: "a", fix: "HF-2", installed: true, cves: []string{"CVE-2026-0001"}}}, wantHosts: 1,
		},
		{
			name: "an installed update superseding the fix counts as installed",
			in: ExposureInput{Advisories: []Advisory{adv}, Release: posted,
				Updates: []Update{hf("HF-1", "<12.7"), {ID: "SR-1", Products: []ProductConstraint{{Name: "cisco.ucce"}}, Supersedes: []string{"HF-1"}}},
				Hosts:   []Host{host("a", nil, ModeAutomatic, []string{"SR-1"}, ucce("12.6(1)"))}},
			want: []row{{host: "a", fix: "HF-1", posted: true, installed: true, cves: []string{"CVE-2026-0001"}}}, wantHosts: 1,
		},
		{
			name: "a manual host's recorded install counts; an automatic host's record does not",
			in: ExposureInput{Advisories: []Advisory{adv}, Updates: []Update{hf("HF-1", "<12.7")}, Release: posted,
				Hosts:       []Host{host("m", nil, ModeManual, nil, ucce("12.6(1)")), host("x", nil, ModeAutomatic, nil, ucce("12.6(1)"))},
				Deployments: []Deployment{{HostID: "m", UpdateID: "HF-1", State: StateInstalled}, {HostID: "x", UpdateID: "HF-1", State: StateInstalled}}},
			want: []row{
				{host: "m", fix: "HF-1", posted: true, installed: true, cves: []string{"CVE-2026-0001"}},
				{host: "x", fix: "HF-1", posted: true, cves: []string{"CVE-2026-0001"}},
			},
			wantHosts: 2,
		},
		{
			name: "--cve narrows advisories and CVEs",
			in: ExposureInput{Advisories: []Advisory{adv, other}, CVE: "CVE-2026-0002",
				Hosts: []Host{host("a", nil, ModeAutomatic, nil, ucce("12.5(1)"), InstalledProduct{Name: "openssl", Version: "1:3.0.7-1"}), host("b", nil, ModeAutomatic, nil, ucce("12.6(1)"))}},
			want: []row{{host: "a", cves: []string{"CVE-2026-0002"}}}, wantHosts: 1,
		},
		{
			name: "--advisory narrows",
			in: ExposureInput{Advisories: []Advisory{adv, other}, AdvisoryID: "RHSA-1",
				Hosts: []Host{host("a", nil, ModeAutomatic, nil, ucce("12.5(1)"), InstalledProduct{Name: "openssl", Version: "1:3.0.7-1"})}},
			want: []row{{host: "a", cves: []string{"CVE-2026-0003"}}}, wantHosts: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows := Exposure(tc.in)
			var got []row
			for _, r := range rows {
				got = append(got, row{host: r.HostID, fix: r.Fix, posted: r.Posted, approved: r.Approved, installed: r.Installed, cves: r.CVEs})
			}
			if !slices.EqualFunc(got, tc.want, func(a, b row) bool {
				return a.host == b.host && a.fix == b.fix && a.posted == b.posted && a.approved == b.approved && a.installed == b.installed && slices.Equal(a.cves, b.cves)
			}) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if n := ExposedHosts(rows); n != tc.wantHosts {
				t.Errorf("ExposedHosts = %d, want %d", n, tc.wantHosts)
			}
		})
	}
}

func TestExposureFixedIn(t *testing.T) {
	adv := Advisory{ID: "a", Affected: []AdvisoryProduct{{Product: "p", Versions: "<2.0"}}, Fixed: []AdvisoryProduct{{Product: "p", Versions: "=1.0"}, {Product: "p", Versions: "=2.0"}, {Product: "q", Versions: "=1"}}}
	rows := Exposure(ExposureInput{Advisories: []Advisory{adv}, Hosts: []Host{{ID: "h", Inventory: Inventory{Products: []InstalledProduct{{Name: "p", Version: "1.5"}}}}}})
	if len(rows) != 1 || !slices.Equal(rows[0].FixedIn, []string{"2.0"}) || rows[0].Version != "1.5" {
		t.Errorf("rows %+v", rows)
	}
}

func TestDecideAdvisoryImport(t *testing.T) {
	t0 := time.Date(2026, 11, 4, 16, 0, 0, 0, time.UTC)
	prev := &Advisory{ID: "x", Revision: 3, CurrentReleaseDate: t0}
	for _, tc := range []struct {
		name string
		prev *Advisory
		date time.Time
		want AdvisoryOutcome
		code Code
	}{
		{"new", nil, t0, AdvisoryImported, ""},
		{"same date, other zone", prev, t0.In(time.FixedZone("X", 3600)), AdvisoryUnchanged, ""},
		{"later", prev, t0.Add(time.Second), AdvisoryUpdated, ""},
		{"earlier", prev, t0.Add(-time.Hour), AdvisoryRejected, CodeConflict},
	} {
		got, err := DecideAdvisoryImport(tc.prev, Advisory{ID: "x", CurrentReleaseDate: tc.date})
		if got != tc.want || (tc.code == "") != (err == nil) || (err != nil && ErrorCode(err) != tc.code) {
			t.Errorf("%s: %s, %v; want %s %s", tc.name, got, err, tc.want, tc.code)
		}
		var pe *Error
		if err != nil && (!errors.As(err, &pe) || pe.Field != "/document/tracking/current_release_date") {
			t.Errorf("%s: error does not name the field: %v", tc.name, err)
		}
	}
}

func TestSeverityMapping(t *testing.T) {
	for in, want := range map[string]Severity{"Critical": SeverityCritical, "Important": SeverityHigh, "HIGH": SeverityHigh,
		"Moderate": SeverityMedium, "medium": SeverityMedium, "Low": SeverityLow, "none": "", "": ""} {
		if got := SeverityFromText(in); got != want {
			t.Errorf("SeverityFromText(%q) = %q, want %q", in, got, want)
		}
	}
	for score, want := range map[float64]Severity{10: SeverityCritical, 9: SeverityCritical, 8.9: SeverityHigh, 7: SeverityHigh, 6.9: SeverityMedium, 4: SeverityMedium, 3.9: SeverityLow, 0.1: SeverityLow, 0: ""} {
		if got := SeverityFromCVSS(score); got != want {
			t.Errorf("SeverityFromCVSS(%v) = %q, want %q", score, got, want)
		}
	}
}

func TestManifestAdvisories(t *testing.T) {
	base := "id: HF-1\ntitle: t\nkind: hotfix\nseverity: high\nproducts: [{name: p}]\npayloads: [{name: f.sh, installer: exec}]\n"
	m, err := ParseManifest([]byte(base + "advisories: [cisco-sa-1, 'RHSA-2026:8123']\n"))
	if err != nil {
		t.Fatal(err)
	}
	m.Payloads[0].SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	u, err := m.Update()
	if err != nil || !slices.Equal(u.Advisories, []string{"cisco-sa-1", "RHSA-2026:8123"}) {
		t.Errorf("Update: %v %v", u.Advisories, err)
	}
	for _, bad := range []string{"advisories: ['bad id']\n", "advisories: [a, a]\n", "advisories: ['x/y']\n"} {
		_, err := ParseManifest([]byte(base + bad))
		var pe *Error
		if !errors.As(err, &pe) || pe.Field == "" || pe.Field[:10] != "advisories" {
			t.Errorf("%q: %v, want an error naming advisories[i]", bad, err)
		}
	}
}

// BenchmarkExposure: the report over 10,000 hosts, 20 advisories of 10
// affected versions each, and 20 fixing updates.
func BenchmarkExposure(b *testing.B) {
	var in ExposureInput
	for i := range 20 {
		a := Advisory{ID: fmt.Sprintf("ADV-%d", i), CVEs: []AdvisoryCVE{{ID: fmt.Sprintf("CVE-2026-%04d", i)}}, Updates: []string{fmt.Sprintf("HF-%d", i)}}
		for v := range 10 {
			a.Affected = append(a.Affected, AdvisoryProduct{Product: fmt.Sprintf("prod%d", i%5), Versions: fmt.Sprintf("=1.%d", v), CVEs: []string{a.CVEs[0].ID}})
		}
		a.Fixed = []AdvisoryProduct{{Product: fmt.Sprintf("prod%d", i%5), Versions: "=2.0"}}
		in.Advisories = append(in.Advisories, a)
		in.Updates = append(in.Updates, Update{ID: fmt.Sprintf("HF-%d", i), Products: []ProductConstraint{{Name: fmt.Sprintf("prod%d", i%5), Versions: "<2.0"}}})
	}
	for h := range 10000 {
		in.Hosts = append(in.Hosts, Host{ID: fmt.Sprintf("h%05d", h), Groups: []string{"all"}, Inventory: Inventory{
			Products: []InstalledProduct{{Name: fmt.Sprintf("prod%d", h%5), Version: fmt.Sprintf("1.%d", h%20)}, {Name: "other", Version: "1"}}}})
	}
	b.ResetTimer()
	for b.Loop() {
		if rows := Exposure(in); len(rows) == 0 {
			b.Fatal("no rows")
		}
	}
}
