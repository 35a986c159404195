//go:build !agentonly

package main

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

func TestTableAlignment(t *testing.T) {
	var buf bytes.Buffer
	tb := newTextTable(&buf, "ID", "NAME", "COUNT")
	tb.row("a", "first host", "1")
	tb.row("longer-id", "", "12345")
	tb.row("tab\there", "new\nline\x1b[31m", "3")
	if err := tb.flush(); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"ID         NAME           COUNT\n" +
		"a          first host     1\n" +
		"longer-id  -              12345\n" +
		"tab here   new line [31m  3\n"
	if buf.String() != want {
		t.Errorf("table:\n%q\nwant:\n%q", buf.String(), want)
	}
	// Every column starts at the same offset on every line.
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	col := strings.Index(lines[0], "COUNT")
	for _, l := range lines[1:] {
		if l[col-2:col] != "  " || l[col] == ' ' {
			t.Errorf("line %q not aligned at %d", l, col)
		}
	}

	buf.Reset()
	tb = newIndentedTable(&buf, "  ", "A", "B")
	tb.row("xyz", "1")
	tb.flush()
	if buf.String() != "  A    B\n  xyz  1\n" {
		t.Errorf("indented table %q", buf.String())
	}
}

func TestRelativeTime(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "never"},
		{now, "just now"},
		{now.Add(-3 * time.Second), "just now"},
		{now.Add(-42 * time.Second), "42s ago"},
		{now.Add(-3*time.Minute - 20*time.Second), "3m ago"},
		{now.Add(-59 * time.Minute), "59m ago"},
		{now.Add(-5 * time.Hour), "5h ago"},
		{now.Add(-47 * time.Hour), "47h ago"},
		{now.Add(-72 * time.Hour), "3d ago"},
		{now.Add(-90 * 24 * time.Hour), "3mo ago"},
		{now.Add(-3 * 365 * 24 * time.Hour), "3y ago"},
		{now.Add(72 * time.Hour), "in 3d"},
		{now.Add(90 * time.Minute), "in 1h"},
	}
	for _, tc := range cases {
		if got := relativeTime(tc.t, now); got != tc.want {
			t.Errorf("relativeTime(now%+v) = %q, want %q", tc.t.Sub(now), got, tc.want)
		}
	}
}

func TestTruncateAndFormat(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"a longer title", 8, "a longe…"},
		{"héllo wörld", 5, "héll…"},
		{"abc", 1, "…"},
		{"abc", 0, ""},
	} {
		if got := truncateText(tc.s, tc.n); got != tc.want {
			t.Errorf("truncateText(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 27 << 20: "27.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := byteSize(n); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
	}
	for f, want := range map[float64]string{1: "100%", 0.996: "99%", 2.0 / 3: "66%", 0: "0%", 0.29: "29%"} {
		if got := percentDown(f); got != want {
			t.Errorf("percentDown(%v) = %q, want %q", f, got, want)
		}
	}
	if got := shortSHA(strings.Repeat("ab", 32)); got != "abababababab" {
		t.Errorf("shortSHA = %q", got)
	}
	if got := quoteArgs([]string{"--quiet", "a b", ""}); got != `--quiet "a b" ""` {
		t.Errorf("quoteArgs = %q", got)
	}
}

func testReport() adminapi.ComplianceReport {
	return adminapi.ComplianceReport{
		GeneratedAt: time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC),
		Rows: []patchgate.ComplianceRow{
			{UpdateID: "PG-1", Title: `Fix "quotes", commas`, Severity: patchgate.SeverityCritical, Group: "all", Approval: patchgate.ActionInstall,
				Hosts: 5, Installed: 2, Needed: 1, InProgress: 0, Failed: 0, NotApplicable: 1, RebootPending: 0, Unknown: 1, ManualActionRequired: 1},
			{UpdateID: "PG-2", Title: "=HYPERLINK(\"http://x\")", Severity: patchgate.SeverityLow, Group: "web",
				Hosts: 2, NotApplicable: 2},
		},
	}
}

func TestComplianceCSV(t *testing.T) {
	var buf bytes.Buffer
	if err := writeComplianceCSV(&buf, testReport()); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("not valid CSV: %v\n%s", err, buf.String())
	}
	if len(recs) != 3 {
		t.Fatalf("%d records, want header + 2", len(recs))
	}
	if strings.Join(recs[0], ",") != "update,title,severity,group,approval,hosts,installed,needed,in_progress,failed,not_applicable,reboot_pending,unknown,manual_action_required,compliant_percent" {
		t.Errorf("header %v", recs[0])
	}
	want1 := []string{"PG-1", `Fix "quotes", commas`, "critical", "all", "install", "5", "2", "1", "0", "0", "1", "0", "1", "1", "66.7"}
	if strings.Join(recs[1], "|") != strings.Join(want1, "|") {
		t.Errorf("row 1 = %q\nwant    %q", recs[1], want1)
	}
	// A title that a spreadsheet would run as a formula is defused; a row
	// with no applicable host is fully compliant, as in the domain.
	if recs[2][1] != `'=HYPERLINK("http://x")` || recs[2][4] != "" || recs[2][14] != "100.0" {
		t.Errorf("row 2 = %q", recs[2])
	}
}

func TestComplianceTable(t *testing.T) {
	var buf bytes.Buffer
	if err := writeComplianceTable(&buf, testReport().Rows); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"UPDATE  GROUP  APPROVAL  HOSTS  INSTALLED  NEEDED  IN-PROGRESS  FAILED  N/A  REBOOT  UNKNOWN  MANUAL  COMPLIANT%\n" +
		"PG-1    all    install   5      2          1       0            0       1    0       1        1       66%\n" +
		"PG-2    web    none      2      0          0       0            0       2    0       0        0       100%\n"
	if buf.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestHostListAndManualHost(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	hosts := []adminapi.HostSummary{
		{Host: patchgate.Host{ID: "h1", Inventory: patchgate.Inventory{Hostname: "web-01", OS: "linux", Arch: "amd64", Mode: patchgate.ModeAutomatic},
			Groups: []string{"all", "web"}, LastCheckin: now.Add(-3 * time.Minute)}, Pending: 0},
		{Host: patchgate.Host{ID: "h2", Inventory: patchgate.Inventory{Hostname: "appliance", OS: "linux", Mode: patchgate.ModeManual},
			Groups: []string{"all"}, LastCheckin: now.Add(-5 * time.Hour)}, Pending: 2, Blocked: 1, Silent: true},
	}
	var buf bytes.Buffer
	if err := writeHostList(&buf, hosts, now); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"ID  HOSTNAME   OS           MODE       GROUPS   LAST CHECK-IN    PENDING\n" +
		"h1  web-01     linux/amd64  automatic  all,web  3m ago           0\n" +
		"h2  appliance  linux        manual     all      5h ago (silent)  2 (+1 blocked) manual action required\n"
	if buf.String() != want {
		t.Errorf("host list:\n%s\nwant:\n%s", buf.String(), want)
	}

	deadline := now.Add(48 * time.Hour)
	sha := strings.Repeat("c", 64)
	d := adminapi.HostDetail{
		Host: hosts[1].Host,
		Plan: patchgate.Plan{HostID: "h2", Manual: true,
			Items: []patchgate.PlanItem{{UpdateID: "PG-7", Revision: 1, Title: "Appliance fix", Severity: patchgate.SeverityHigh,
				Action: patchgate.ActionInstall, Deadline: &deadline, Reboot: patchgate.RebootRequired,
				Payloads: []patchgate.Payload{{Name: "fix.sh", Size: 2048, SHA256: sha, Installer: patchgate.InstallerExec, Args: []string{"--now"}}}}},
			Blocked: []patchgate.BlockedItem{{UpdateID: "PG-8", Reason: "requires PG-6, which is not approved"}},
		},
		Deployments: []patchgate.Deployment{{HostID: "h2", UpdateID: "PG-5", State: patchgate.StateFailed, ExitCode: 3, Detail: "disk full", UpdatedAt: now.Add(-time.Hour)}},
		Silent:      true,
	}
	buf.Reset()
	if err := writeHostDetail(&buf, d, "https://patch.example:8443/", now); err != nil {
		t.Fatal(err)
	}
	got := buf.String()
	for _, s := range []string{
		"Mode:           manual",
		"This host is silent",
		"PG-7    1    install  high",
		"Blocked (1):\n  UPDATE  REASON\n  PG-8    requires PG-6, which is not approved\n",
		"Manual action required: this host is patched by hand",
		"  1. install PG-7 (revision 1, high) Appliance fix\n",
		"a reboot is required afterwards",
		"fix.sh  2.0 KiB  exec  sha256 " + sha,
		"arguments: --now",
		"https://patch.example:8443/content/sha256/" + sha + "\n",
		"PG-5    failed  3     1h ago  disk full",
	} {
		if !strings.Contains(got, s) {
			t.Errorf("host detail lacks %q:\n%s", s, got)
		}
	}
}

func TestUpdateDetail(t *testing.T) {
	u := patchgate.Update{ID: "PG-1", Revision: 3, Title: "Fix", Kind: patchgate.KindServiceRelease, Severity: patchgate.SeverityMedium,
		Products: []patchgate.ProductConstraint{{Name: "cisco.ucce", Versions: ">=7.2"}}, CVEs: []string{"CVE-2026-1234"},
		Supersedes: []string{"PG-0"}, Reboot: patchgate.RebootNever,
		Payloads: []patchgate.Payload{{Name: "sr.deb", Size: 10, SHA256: strings.Repeat("d", 64), Installer: patchgate.InstallerDpkg}}}
	var buf bytes.Buffer
	if err := writeUpdateDetail(&buf, u, patchgate.ReleaseState{}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Revision:    3", "Products:    cisco.ucce >=7.2", "CVEs:        CVE-2026-1234", "Supersedes:  PG-0", "Requires:    none",
		"  NAME    SIZE  SHA256        INSTALLER  ARGS\n  sr.deb  10 B  dddddddddddd  dpkg       -\n"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("update detail lacks %q:\n%s", s, buf.String())
		}
	}
}

func TestParseDeadlineFlag(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]string{"": "", "72h": "72h0m0s", "3d": "72h0m0s", "90m": "1h30m0s", "2026-04-01T18:00:00+02:00": "2026-04-01T18:00:00+02:00"} {
		got, err := parseDeadlineFlag(in, now)
		if err != nil || got != want {
			t.Errorf("parseDeadlineFlag(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"soon", "-3h", "0", "2020-01-01T00:00:00Z", "2026-04-01"} {
		if _, err := parseDeadlineFlag(in, now); err == nil {
			t.Errorf("parseDeadlineFlag(%q) accepted", in)
		}
	}
}
