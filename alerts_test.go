package patchgate

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func failed(host, update string, at time.Time) Event {
	return Event{Type: EventDeployment, State: StateFailed, HostID: host, UpdateID: update, Time: at}
}

func TestFailureAlerts(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		evs       []Event
		threshold int
		want      []FailureAlert
	}{
		{"below threshold", []Event{failed("h1", "U1", t0), failed("h2", "U1", t0.Add(time.Minute))}, 3, nil},
		{"at threshold", []Event{failed("h1", "U1", t0), failed("h2", "U1", t0.Add(time.Minute)), failed("h3", "U1", t0.Add(59*time.Minute))}, 3,
			[]FailureAlert{{UpdateID: "U1", PeriodStart: t0, Period: time.Hour, Hosts: []string{"h1", "h2", "h3"}, Failures: 3}}},
		{"one host failing again counts once", []Event{failed("h1", "U1", t0), failed("h1", "U1", t0.Add(time.Minute)), failed("h1", "U1", t0.Add(2*time.Minute))}, 2, nil},
		{"periods apart", []Event{failed("h1", "U1", t0.Add(50*time.Minute)), failed("h2", "U1", t0.Add(70*time.Minute))}, 2, nil},
		{"per update", []Event{failed("h1", "U1", t0), failed("h2", "U2", t0), failed("h3", "U2", t0)}, 2,
			[]FailureAlert{{UpdateID: "U2", PeriodStart: t0, Period: time.Hour, Hosts: []string{"h2", "h3"}, Failures: 2}}},
		{"other states and events ignored", []Event{
			{Type: EventDeployment, State: StateInstalled, HostID: "h1", UpdateID: "U1", Time: t0},
			{Type: EventUpdateAdded, HostID: "h2", UpdateID: "U1", Time: t0},
			failed("h3", "U1", t0)}, 2, nil},
		{"threshold 0 disables", []Event{failed("h1", "U1", t0)}, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FailureAlerts(tt.evs, tt.threshold, time.Hour)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	a := FailureAlerts([]Event{failed("h1", "U1", t0), failed("h2", "U1", t0.Add(time.Minute))}, 2, time.Hour)[0]
	b := FailureAlerts([]Event{failed("h1", "U1", t0.Add(30*time.Minute)), failed("h2", "U1", t0.Add(40*time.Minute)), failed("h9", "U1", t0)}, 2, time.Hour)[0]
	if a.EventID() != b.EventID() {
		t.Errorf("same update and period, different event IDs %q %q", a.EventID(), b.EventID())
	}
}

func TestOverdue(t *testing.T) {
	now := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	past, future, old := now.Add(-time.Hour), now.Add(time.Hour), now.Add(-30*24*time.Hour)
	rows := []ComplianceRow{
		{UpdateID: "U1", Title: "fix one", Severity: SeverityCritical, Group: "web", Hosts: 5, Installed: 2, Needed: 1, Failed: 1, RebootPending: 1},
		{UpdateID: "U2", Group: "web", Hosts: 5, Installed: 5},
		{UpdateID: "U3", Group: "web", Hosts: 5, Installed: 4, Unknown: 1},
	}
	tests := []struct {
		name      string
		approvals []Approval
		horizon   time.Duration
		want      []string
	}{
		{"passed with hosts missing", []Approval{{UpdateID: "U1", Group: "web", Action: ActionInstall, Deadline: &past}}, 0, []string{"U1/web/3"}},
		{"not yet", []Approval{{UpdateID: "U1", Group: "web", Action: ActionInstall, Deadline: &future}}, 0, nil},
		{"all compliant", []Approval{{UpdateID: "U2", Group: "web", Action: ActionInstall, Deadline: &past}}, 0, nil},
		{"silent hosts are not counted as non-compliant", []Approval{{UpdateID: "U3", Group: "web", Action: ActionInstall, Deadline: &past}}, 0, nil},
		{"no deadline", []Approval{{UpdateID: "U1", Group: "web", Action: ActionInstall}}, 0, nil},
		{"decline", []Approval{{UpdateID: "U1", Group: "web", Action: ActionDecline, Deadline: &past}}, 0, nil},
		{"group without hosts", []Approval{{UpdateID: "U1", Group: "db", Action: ActionInstall, Deadline: &past}}, 0, nil},
		{"beyond the horizon", []Approval{{UpdateID: "U1", Group: "web", Action: ActionInstall, Deadline: &old}}, DeadlineAlertHorizon, nil},
		{"old without horizon (report)", []Approval{{UpdateID: "U1", Group: "web", Action: ActionInstall, Deadline: &old}}, 0, []string{"U1/web/3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, o := range Overdue(tt.approvals, rows, now, tt.horizon) {
				got = append(got, o.UpdateID+"/"+o.Group+"/"+itoa(o.NonCompliant))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	o := Overdue([]Approval{{UpdateID: "U1", Group: "web", Action: ActionInstall, Deadline: &past}}, rows, now, 0)[0]
	if o.Title != "fix one" || o.Hosts != 5 || o.EventID() != "alert.deadline-U1-web-"+itoa(int(past.Unix())) {
		t.Errorf("overdue %+v, event ID %q", o, o.EventID())
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestAdvisoryAlerts(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want bool
	}{
		{"exposes hosts", Event{Type: AlertAdvisoryImported, Detail: `{"id":"RHSA-1","title":"t","severity":"critical","cves":["CVE-1"],"exposed_hosts":3}`}, true},
		{"updated, exposes", Event{Type: AlertAdvisoryUpdated, Detail: `{"id":"RHSA-1","exposed_hosts":1}`}, true},
		{"no host exposed", Event{Type: AlertAdvisoryImported, Detail: `{"id":"RHSA-1","exposed_hosts":0}`}, false},
		{"unreadable", Event{Type: AlertAdvisoryImported, Detail: `not json`}, false},
		{"no id", Event{Type: AlertAdvisoryImported, Detail: `{"exposed_hosts":4}`}, false},
		{"bad severity", Event{Type: AlertAdvisoryImported, Detail: `{"id":"A","severity":"huge","exposed_hosts":4}`}, false},
		{"other event", Event{Type: EventUpdateAdded, Detail: `{"id":"RHSA-1","exposed_hosts":3}`}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, got := AdvisoryAlerts(tt.ev); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func FuzzParseAdvisoryDetail(f *testing.F) {
	f.Add(`{"id":"RHSA-1","title":"t","severity":"critical","cves":["CVE-1"],"exposed_hosts":3}`)
	f.Add(`{"id":"","exposed_hosts":-1}`)
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAdvisoryDetail(s)
		if err != nil {
			return
		}
		if a.ID == "" || a.ExposedHosts < 0 || (a.Severity != "" && !a.Severity.Valid()) {
			t.Fatalf("accepted %+v", a)
		}
	})
}

func TestHostOwners(t *testing.T) {
	owners := []Owner{
		{Scope: OwnerGroup, Name: "web", Address: "web@example.org"},
		{Scope: OwnerGroup, Name: "db", Address: "dba@example.org"},
		{Scope: OwnerGroup, Name: "eu", Address: "web@example.org"},
		{Scope: OwnerHost, Name: "h1", Address: "alice@example.org"},
	}
	tests := []struct {
		name   string
		host   string
		groups []string
		want   []string
	}{
		{"host owner wins", "h1", []string{"all", "web", "db"}, []string{"alice@example.org"}},
		{"all group owners, deduplicated, sorted", "h2", []string{"all", "web", "db", "eu"}, []string{"dba@example.org", "web@example.org"}},
		{"nobody", "h3", []string{"all", "lab"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HostOwners(tt.host, tt.groups, owners); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOwnerValidate(t *testing.T) {
	for _, tt := range []struct {
		o     Owner
		field string
	}{
		{Owner{Scope: OwnerHost, Name: "h1", Address: "a@example.org"}, ""},
		{Owner{Scope: OwnerGroup, Name: "web"}, ""}, // removes
		{Owner{Scope: "site", Name: "web", Address: "a@example.org"}, "scope"},
		{Owner{Scope: OwnerHost, Address: "a@example.org"}, "name"},
		{Owner{Scope: OwnerHost, Name: "h1", Address: "Alice <a@example.org>"}, "address"},
		{Owner{Scope: OwnerHost, Name: "h1", Address: "not an address"}, "address"},
	} {
		err := tt.o.Validate()
		if tt.field == "" && err != nil || tt.field != "" && (err == nil || !containsStr(err.Error(), tt.field)) {
			t.Errorf("%+v: %v, want field %q", tt.o, err, tt.field)
		}
	}
}

func containsStr(s, sub string) bool { return strings.Contains(s, sub) }

func TestManualNoticeDue(t *testing.T) {
	tests := []struct {
		name      string
		prev, cur []string
		want      bool
	}{
		{"first plan", nil, []string{"U1@1:install"}, true},
		{"empty plan, never mailed", nil, nil, false},
		{"same plan", []string{"U1@1:install"}, []string{"U1@1:install"}, false},
		{"gained an item", []string{"U1@1:install"}, []string{"U1@1:install", "U2@1:install"}, true},
		{"only shrank", []string{"U1@1:install", "U2@1:install"}, []string{"U2@1:install"}, false},
		{"new revision is a new item", []string{"U1@1:install"}, []string{"U1@2:install"}, true},
		{"uninstall of an installed update", []string{"U1@1:install"}, []string{"U1@1:uninstall"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ManualNoticeDue(tt.prev, tt.cur); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	dl := time.Date(2026, 5, 10, 0, 0, 0, 0, time.UTC)
	plan := Plan{HostID: "h1", Items: []PlanItem{
		{UpdateID: "U2", Revision: 1, Title: "two", Severity: SeverityHigh, Action: ActionInstall, Deadline: &dl,
			Payloads: []Payload{{Name: "a.msi", SHA256: "aa"}, {Name: "b.msi", SHA256: "bb"}}},
		{UpdateID: "U1", Revision: 3, Title: "one", Severity: SeverityLow, Action: ActionUninstall, Payloads: []Payload{{SHA256: "cc"}}},
	}}
	items := ManualItems(plan, func(sha string) string { return "/content/sha256/" + sha })
	if len(items) != 2 || !slices.Equal(items[0].URLs, []string{"/content/sha256/aa", "/content/sha256/bb"}) || items[1].URLs != nil || items[0].Deadline != &dl {
		t.Errorf("items %+v", items)
	}
	keys := ManualItemKeys(items)
	if !slices.Equal(keys, []string{"U1@3:uninstall", "U2@1:install"}) {
		t.Errorf("keys %v", keys)
	}
	if ManualNoticeID("h1", keys) != ManualNoticeID("h1", slices.Clone(keys)) || ManualNoticeID("h1", keys) == ManualNoticeID("h1", keys[:1]) {
		t.Error("notice IDs are not stable per plan")
	}
}

func TestParseReportSchedule(t *testing.T) {
	tests := []struct {
		in   string
		want ReportSchedule
		ok   bool
	}{
		{"daily@08:00", ReportSchedule{Mode: ModeDaily, Hour: 8}, true},
		{"weekly@07:30", ReportSchedule{Mode: ModeWeekly, Weekday: time.Monday, Hour: 7, Minute: 30}, true},
		{"weekly@fri@17:05", ReportSchedule{Mode: ModeWeekly, Weekday: time.Friday, Hour: 17, Minute: 5}, true},
		{"weekly@SUN@00:00", ReportSchedule{Mode: ModeWeekly, Weekday: time.Sunday}, true},
		{"daily@8:00", ReportSchedule{}, false},
		{"daily@24:00", ReportSchedule{}, false},
		{"daily@08:60", ReportSchedule{}, false},
		{"monthly@08:00", ReportSchedule{}, false},
		{"weekly@xyz@08:00", ReportSchedule{}, false},
		{"daily", ReportSchedule{}, false},
		{"", ReportSchedule{}, false},
		{"daily@+1:00", ReportSchedule{}, false},
	}
	for _, tt := range tests {
		got, err := ParseReportSchedule("--status-report", tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("%q: %+v, %v", tt.in, got, err)
		}
		if err != nil && !containsStr(err.Error(), "--status-report") {
			t.Errorf("%q: error %v does not name the flag", tt.in, err)
		}
		if tt.ok {
			if again, err := ParseReportSchedule("f", got.String()); err != nil || again != got {
				t.Errorf("%q: String %q does not read back: %+v %v", tt.in, got.String(), again, err)
			}
		}
	}
}

func FuzzParseReportSchedule(f *testing.F) {
	for _, s := range []string{"daily@08:00", "weekly@fri@17:05", "weekly@07:30", "daily@99:99"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReportSchedule("f", s)
		if err != nil {
			return
		}
		if r.Hour < 0 || r.Hour > 23 || r.Minute < 0 || r.Minute > 59 || (r.Mode != ModeDaily && r.Mode != ModeWeekly) {
			t.Fatalf("accepted %q as %+v", s, r)
		}
		next := r.Next(time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC), time.UTC)
		if !next.After(time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)) {
			t.Fatalf("%q: next %v not after now", s, next)
		}
	})
}

func TestReportScheduleNextDST(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	daily := ReportSchedule{Mode: ModeDaily, Hour: 8}
	weekly := ReportSchedule{Mode: ModeWeekly, Weekday: time.Monday, Hour: 8}
	gap := ReportSchedule{Mode: ModeDaily, Hour: 2, Minute: 30} // 02:30 does not exist on 29 March 2026 in Paris
	tests := []struct {
		name string
		r    ReportSchedule
		now  time.Time
		want time.Time
	}{
		// Sunday 29 March 2026: clocks go from 02:00 CET to 03:00 CEST.
		{"before the spring change, UTC+1", daily, time.Date(2026, 3, 28, 9, 0, 0, 0, time.UTC), time.Date(2026, 3, 29, 6, 0, 0, 0, time.UTC)},
		{"after it, UTC+2", daily, time.Date(2026, 3, 29, 7, 0, 0, 0, time.UTC), time.Date(2026, 3, 30, 6, 0, 0, 0, time.UTC)},
		{"autumn change, back to UTC+1", daily, time.Date(2026, 10, 25, 0, 0, 0, 0, time.UTC), time.Date(2026, 10, 25, 7, 0, 0, 0, time.UTC)},
		{"weekly across the change", weekly, time.Date(2026, 3, 24, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 30, 6, 0, 0, 0, time.UTC)},
		{"weekly on the day, before the time", weekly, time.Date(2026, 3, 30, 5, 59, 0, 0, time.UTC), time.Date(2026, 3, 30, 6, 0, 0, 0, time.UTC)},
		{"weekly on the day, at the time: next week", weekly, time.Date(2026, 3, 30, 6, 0, 0, 0, time.UTC), time.Date(2026, 4, 6, 6, 0, 0, 0, time.UTC)},
		{"a time in the DST gap moves forward", gap, time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.Next(tt.now, paris); !got.Equal(tt.want) {
				t.Errorf("got %v (%v), want %v", got.UTC(), got, tt.want)
			}
		})
	}
}

// complianceFixture: three live hosts and a silent one; U1 approved for
// all, U2 for web, U3 not approved, U4 for all but for another product.
func complianceFixture(now time.Time) ComplianceInput {
	upd := func(id, product string) Update {
		return Update{ID: id, Title: "fix " + id, Kind: KindHotfix, Severity: SeverityHigh, Revision: 1,
			Products: []ProductConstraint{{Name: product}}}
	}
	cat := NewCatalog([]Update{upd("U1", "app"), upd("U2", "app"), upd("U3", "app"), upd("U4", "other")})
	host := func(id string, groups []string, installed ...string) Host {
		return Host{ID: id, Groups: groups, LastCheckin: now.Add(-time.Minute), Inventory: Inventory{Hostname: id, Mode: ModeAutomatic,
			Interval: time.Hour, Products: []InstalledProduct{{Name: "app", Version: "1"}}, Installed: installed}}
	}
	silent := host("h4", []string{"all"})
	silent.LastCheckin = now.Add(-48 * time.Hour)
	past := now.Add(-time.Hour)
	return ComplianceInput{
		Catalog: cat,
		Approvals: []Approval{{UpdateID: "U1", Group: "all", Action: ActionInstall}, {UpdateID: "U2", Group: "web", Action: ActionInstall, Deadline: &past},
			{UpdateID: "U4", Group: "all", Action: ActionInstall}},
		Hosts: []Host{host("h1", []string{"all", "web"}, "U1"), host("h2", []string{"all", "db", "web"}),
			host("h3", []string{"all", "db"}, "U1", "U2"), silent},
		Deployments: []Deployment{{HostID: "h2", UpdateID: "U1", State: StateFailed}},
		Now:         now,
	}
}

func TestGroupComplianceAndChart(t *testing.T) {
	now := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	in := complianceFixture(now)
	got := GroupCompliance(in, "2026-05-04")
	// h1: U1 installed, U2 needed (web) 1/2; h2: U1 failed, U2 needed 0/2;
	// h3: U1 installed, U2 not approved for it 1/1; h4 silent.
	want := []ComplianceSnapshot{
		{Day: "2026-05-04", Group: "all", Hosts: 4, Applicable: 5, Installed: 2, Compliant: 2.0 / 5, TakenAt: now},
		{Day: "2026-05-04", Group: "db", Hosts: 2, Applicable: 3, Installed: 1, Compliant: 1.0 / 3, TakenAt: now},
		{Day: "2026-05-04", Group: "web", Hosts: 2, Applicable: 4, Installed: 1, Compliant: 1.0 / 4, TakenAt: now},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	in.Approvals = nil
	if got := GroupCompliance(in, "2026-05-04"); len(got) != 3 || got[0].Compliant != 1 || got[0].Applicable != 0 {
		t.Errorf("nothing approved: %+v", got)
	}

	snaps := []ComplianceSnapshot{
		{Day: "2026-05-01", Group: "all", Compliant: 0.5},
		{Day: "2026-05-03", Group: "all", Compliant: 0.75},
		{Day: "2026-05-03", Group: "web", Compliant: 0.1},
		{Day: "2026-04-01", Group: "all", Compliant: 0.2}, // before the window
	}
	series := ChartSeries(snaps, "all", "2026-05-04", 4)
	wantSeries := []ChartPoint{{Day: "2026-05-01", Compliant: 0.5}, {Day: "2026-05-02", Missing: true},
		{Day: "2026-05-03", Compliant: 0.75}, {Day: "2026-05-04", Missing: true}}
	if !reflect.DeepEqual(series, wantSeries) {
		t.Errorf("series %+v", series)
	}
	if ChartSeries(snaps, "all", "not a day", 4) != nil || ChartSeries(snaps, "all", "2026-05-04", 0) != nil {
		t.Error("bad input gives a series")
	}
	// Across the end of March (31 days) and a DST change: days, not hours.
	if s := ChartSeries(nil, "all", "2026-04-01", 3); s[0].Day != "2026-03-30" || s[2].Day != "2026-04-01" {
		t.Errorf("series %+v", s)
	}
}

func TestBuildStatusReport(t *testing.T) {
	now := time.Date(2026, 5, 4, 22, 30, 0, 0, time.UTC)
	tokyo := time.FixedZone("JST", 9*3600)
	in := complianceFixture(now)
	rows := Compliance(in)
	hist := []ComplianceSnapshot{{Day: "2026-05-04", Group: "all", Compliant: 1}, {Day: "2026-05-05", Group: "all", Compliant: 0.9}}
	r := BuildStatusReport(in, rows, hist, tokyo)
	if r.Day != "2026-05-05" || r.TimeZone != "JST" { // already the 5th in Tokyo
		t.Errorf("day %q zone %q", r.Day, r.TimeZone)
	}
	if len(r.Groups) != 3 || r.Groups[0].Group != "all" || r.Groups[0].Compliant != 0.4 {
		t.Errorf("groups %+v", r.Groups)
	}
	// U2's deadline for web passed with h1 and h2 needing it.
	if len(r.Overdue) != 1 || r.Overdue[0].UpdateID != "U2" || r.Overdue[0].NonCompliant != 2 {
		t.Errorf("overdue %+v", r.Overdue)
	}
	if len(r.Failed) != 1 || r.Failed[0].UpdateID != "U1" || r.Failed[0].Hosts != 1 {
		t.Errorf("failed %+v", r.Failed)
	}
	last := r.History[len(r.History)-1]
	if len(r.History) != ReportHistoryDays || last.Day != "2026-05-05" || last.Compliant != 0.4 || r.History[len(r.History)-2].Compliant != 1 {
		t.Errorf("history ends %+v %+v", r.History[len(r.History)-2], last)
	}
}

func TestSubscriptionAlertsReportsTimeZone(t *testing.T) {
	s := Subscription{Channel: ChannelEmail, Address: "ops@example.org", Mode: ModeDaily, TimeZone: "Europe/Paris"}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.Wants(EventSLABreached) || s.Wants(EventStatusReport) || !s.Wants(NotifyUpdateAdded) {
		t.Error("a plain subscription wants alerts or reports")
	}
	s.Alerts, s.Reports = true, true
	for _, e := range append(slices.Clone(AlertEvents), EventStatusReport, NotifyDeploymentFailed) {
		if !s.Wants(e) {
			t.Errorf("alerts+reports subscription does not want %s", e)
		}
	}
	s.Events = []string{EventRolloutHalted}
	if err := s.Validate(); err != nil || !s.Wants(EventRolloutHalted) || s.Wants(EventSLABreached) {
		t.Errorf("events filter: %v", err)
	}
	s.TimeZone = "Mars/Olympus"
	if err := s.Validate(); err == nil || !containsStr(err.Error(), "time_zone") {
		t.Errorf("bad zone: %v", err)
	}
}

// BenchmarkGroupCompliance measures the hourly compliance snapshot of a
// fleet: 10,000 hosts in 20 groups, 200 updates, half of them approved.
func BenchmarkGroupCompliance(b *testing.B) {
	now := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	var ups []Update
	var approvals []Approval
	for i := range 200 {
		id := "U" + strconv.Itoa(i)
		ups = append(ups, Update{ID: id, Title: id, Kind: KindSecurity, Severity: SeverityHigh, Revision: 1, Products: []ProductConstraint{{Name: "app"}}})
		if i%2 == 0 {
			approvals = append(approvals, Approval{UpdateID: id, Group: "g" + strconv.Itoa(i%20), Action: ActionInstall})
		}
	}
	hosts := make([]Host, 10000)
	for i := range hosts {
		hosts[i] = Host{ID: "h" + strconv.Itoa(i), Groups: []string{"all", "g" + strconv.Itoa(i%20)}, LastCheckin: now,
			Inventory: Inventory{Mode: ModeAutomatic, Interval: time.Hour, Products: []InstalledProduct{{Name: "app", Version: "1"}}, Installed: []string{"U0", "U2", "U4"}}}
	}
	in := ComplianceInput{Catalog: NewCatalog(ups), Approvals: approvals, Hosts: hosts, Now: now}
	b.ResetTimer()
	for b.Loop() {
		if len(GroupCompliance(in, "2026-05-04")) != 21 {
			b.Fatal("groups")
		}
	}
}
