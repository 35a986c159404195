package patchgate

import (
	"strings"
	"testing"
	"time"
)

func TestCheckPost(t *testing.T) {
	cases := []struct {
		st      UpdateStatus
		req     PostRequest
		code    Code // "" = allowed
		mention string
	}{
		{StatusTested, PostRequest{}, "", ""},
		{StatusTested, PostRequest{Reason: "ok"}, "", ""},
		{StatusReceived, PostRequest{}, CodeConflict, "received"},
		{StatusTesting, PostRequest{}, CodeConflict, "testing"},
		{StatusFailed, PostRequest{}, CodeConflict, "failed"},
		{StatusFailed, PostRequest{Force: true}, CodeInvalid, "reason"},
		{StatusFailed, PostRequest{Force: true, Reason: "lab broken"}, "", ""},
		{StatusReceived, PostRequest{Force: true, Reason: "site fix"}, "", ""},
		{StatusPosted, PostRequest{Force: true, Reason: "x"}, CodeConflict, "already posted"},
		{StatusSuperseded, PostRequest{}, CodeConflict, "superseded"},
		{StatusWithdrawn, PostRequest{Force: true, Reason: "x"}, CodeConflict, "withdrawn"},
	}
	for _, c := range cases {
		err := CheckPost("HF-1", c.st, c.req)
		switch {
		case c.code == "" && err != nil:
			t.Errorf("%s %+v: %v, want allowed", c.st, c.req, err)
		case c.code != "" && (err == nil || ErrorCode(err) != c.code || !strings.Contains(err.Error(), c.mention)):
			t.Errorf("%s %+v: %v, want %s naming %q", c.st, c.req, err, c.code, c.mention)
		}
	}
}

func TestCheckApproval(t *testing.T) {
	tgs := []string{"lab"}
	cases := []struct {
		st     UpdateStatus
		action Action
		group  string
		ok     bool
	}{
		{StatusPosted, ActionInstall, "prod", true},
		{StatusPosted, ActionDecline, "all", true},
		{StatusSuperseded, ActionUninstall, "prod", true},
		{StatusReceived, ActionInstall, "lab", true},
		{StatusTesting, ActionInstall, "lab", true},
		{StatusTested, ActionInstall, "lab", true},
		{StatusReceived, ActionInstall, "prod", false},
		{StatusTested, ActionInstall, "prod", false},
		{StatusReceived, ActionDecline, "lab", false},
		{StatusFailed, ActionInstall, "lab", false},
		{StatusWithdrawn, ActionInstall, "lab", false},
		{StatusWithdrawn, ActionInstall, "prod", false},
	}
	for _, c := range cases {
		err := CheckApproval("HF-1", c.st, c.action, c.group, tgs)
		if (err == nil) != c.ok {
			t.Errorf("%s %s for %s: %v, want ok=%v", c.st, c.action, c.group, err, c.ok)
		}
		if err != nil && (ErrorCode(err) != CodeConflict || !strings.Contains(err.Error(), string(c.st))) {
			t.Errorf("%s %s for %s: %v, want a conflict naming the status", c.st, c.action, c.group, err)
		}
	}
}

func TestNeedsRetest(t *testing.T) {
	base := Update{ID: "u", Title: "t", Severity: SeverityHigh, Products: []ProductConstraint{{Name: "app"}}, Reboot: RebootNever,
		Payloads: []Payload{{Name: "a.sh", SHA256: "aa", Size: 1, Installer: InstallerExec, Args: []string{"-x"}}}}
	mod := func(f func(u *Update)) Update {
		u := base
		u.Payloads = append([]Payload(nil), base.Payloads...)
		u.Payloads[0].Args = append([]string(nil), base.Payloads[0].Args...)
		f(&u)
		return u
	}
	cases := []struct {
		name string
		st   UpdateStatus
		next Update
		want bool
	}{
		{"title only", StatusPosted, mod(func(u *Update) { u.Title = "better" }), false},
		{"severity only", StatusTested, mod(func(u *Update) { u.Severity = SeverityCritical }), false},
		{"cves only", StatusPosted, mod(func(u *Update) { u.CVEs = []string{"CVE-2026-1"} }), false},
		{"payload hash", StatusPosted, mod(func(u *Update) { u.Payloads[0].SHA256 = "bb" }), true},
		{"install arguments", StatusPosted, mod(func(u *Update) { u.Payloads[0].Args = []string{"-y"} }), true},
		{"another payload", StatusTesting, mod(func(u *Update) { u.Payloads = append(u.Payloads, Payload{Name: "b"}) }), true},
		{"products", StatusPosted, mod(func(u *Update) { u.Products = []ProductConstraint{{Name: "app", Versions: "<2"}} }), true},
		{"requires", StatusPosted, mod(func(u *Update) { u.Requires = []string{"SR-1"} }), true},
		{"reboot", StatusPosted, mod(func(u *Update) { u.Reboot = RebootRequired }), true},
		{"withdrawn, words only", StatusWithdrawn, mod(func(u *Update) { u.Title = "again" }), true},
	}
	for _, c := range cases {
		if got := NeedsRetest(c.st, base, c.next); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestTestVerdict(t *testing.T) {
	u := Update{ID: "HF-1", Products: []ProductConstraint{{Name: "app", Versions: ">=1.0, <2.0"}}}
	app := []InstalledProduct{{Name: "app", Version: "1.5"}}
	other := []InstalledProduct{{Name: "db", Version: "1.5"}}
	hosts := []TestHost{{ID: "a", Products: app}, {ID: "b", Products: app}, {ID: "c", Products: other}}
	dep := func(h string, s DeploymentState) Deployment { return Deployment{HostID: h, UpdateID: "HF-1", State: s} }
	cases := []struct {
		name  string
		hosts []TestHost
		deps  []Deployment
		want  UpdateStatus
	}{
		{"no reports", hosts, nil, StatusTesting},
		{"one of two", hosts, []Deployment{dep("a", StateInstalled), dep("b", StateInstalling)}, StatusTesting},
		{"both", hosts, []Deployment{dep("a", StateInstalled), dep("b", StateInstalled)}, StatusTested},
		{"one failed", hosts, []Deployment{dep("a", StateInstalled), dep("b", StateFailed)}, StatusFailed},
		{"reported by inventory", []TestHost{{ID: "a", Products: app, Installed: []string{"HF-1"}}}, nil, StatusTested},
		{"no test host needs it", []TestHost{{ID: "c", Products: other}}, []Deployment{dep("c", StateInstalled)}, StatusTesting},
		{"another update's failure", hosts, []Deployment{dep("a", StateInstalled), dep("b", StateInstalled), {HostID: "a", UpdateID: "X", State: StateFailed}}, StatusTested},
		{"reboot pending is not done", hosts, []Deployment{dep("a", StateInstalled), dep("b", StateRebootPending)}, StatusTesting},
	}
	for _, c := range cases {
		got, why := TestVerdict(u, c.hosts, c.deps, nil)
		if got != c.want || why == "" {
			t.Errorf("%s: %s (%s), want %s", c.name, got, why, c.want)
		}
	}
}

// TestTestVerdictMinSuccess: each test group's success count.
func TestTestVerdictMinSuccess(t *testing.T) {
	u := Update{ID: "HF-1", Products: []ProductConstraint{{Name: "app"}}}
	app := []InstalledProduct{{Name: "app", Version: "1.5"}}
	db := []InstalledProduct{{Name: "db", Version: "1"}}
	h := func(id string, products []InstalledProduct, groups ...string) TestHost {
		return TestHost{ID: id, Groups: groups, Products: products}
	}
	// lab: l1..l4 need it, l5 does not; canary: c1, c2.
	hosts := []TestHost{h("l1", app, "lab"), h("l2", app, "lab"), h("l3", app, "lab"), h("l4", app, "lab"), h("l5", db, "lab"),
		h("c1", app, "canary"), h("c2", app, "canary")}
	inst := func(ids ...string) []Deployment {
		var ds []Deployment
		for _, id := range ids {
			ds = append(ds, Deployment{HostID: id, UpdateID: "HF-1", State: StateInstalled})
		}
		return ds
	}
	failedOn := func(id string, ds []Deployment) []Deployment {
		return append(ds, Deployment{HostID: id, UpdateID: "HF-1", State: StateFailed})
	}
	cases := []struct {
		name   string
		groups []TestGroup
		hosts  []TestHost
		deps   []Deployment
		want   UpdateStatus
		why    string
	}{
		{"default: every host that needs it", []TestGroup{{Name: "lab"}, {Name: "canary"}}, hosts,
			inst("l1", "l2", "l3", "c1", "c2"), StatusTesting, "test group lab: 3 of 4 host(s) that need it installed, 4 needed"},
		{"default, all installed (l5 does not need it)", []TestGroup{{Name: "lab"}, {Name: "canary"}}, hosts,
			inst("l1", "l2", "l3", "l4", "c1", "c2"), StatusTested, "installed on 6 of 6"},
		{"lab needs 2", []TestGroup{{Name: "lab", MinSuccess: 2}, {Name: "canary"}}, hosts,
			inst("l1", "l3", "c1", "c2"), StatusTested, ""},
		{"lab needs 2, canary not done", []TestGroup{{Name: "lab", MinSuccess: 2}, {Name: "canary"}}, hosts,
			inst("l1", "l3", "c1"), StatusTesting, "test group canary: 1 of 2"},
		{"lab needs 2, one done", []TestGroup{{Name: "lab", MinSuccess: 2}, {Name: "canary", MinSuccess: 1}}, hosts,
			inst("l1", "c1"), StatusTesting, "test group lab: 1 of 4 host(s) that need it installed, 2 needed"},
		{"count above the hosts that need it: all of them", []TestGroup{{Name: "canary", MinSuccess: 5}}, hosts[5:],
			inst("c1", "c2"), StatusTested, ""},
		{"a failure still fails, whatever the count", []TestGroup{{Name: "lab", MinSuccess: 1}}, hosts[:5],
			failedOn("l4", inst("l1")), StatusFailed, "[l4]"},
		{"a group where nobody needs it does not hold back", []TestGroup{{Name: "lab", MinSuccess: 1}, {Name: "empty"}}, hosts[:5],
			inst("l2"), StatusTested, ""},
		{"nobody installed: testing, even at count 0 everywhere", []TestGroup{{Name: "lab"}}, []TestHost{h("l5", db, "lab")},
			nil, StatusTesting, "0 of 0"},
		{"a host in two groups counts in both", []TestGroup{{Name: "lab", MinSuccess: 1}, {Name: "canary", MinSuccess: 1}},
			[]TestHost{h("x", app, "lab", "canary"), h("l1", app, "lab")}, inst("x"), StatusTested, ""},
	}
	for _, c := range cases {
		got, why := TestVerdict(u, c.hosts, c.deps, c.groups)
		if got != c.want || !strings.Contains(why, c.why) {
			t.Errorf("%s: %s (%s), want %s (%s)", c.name, got, why, c.want, c.why)
		}
	}
}

func TestReleasedView(t *testing.T) {
	us := []Update{{ID: "posted"}, {ID: "testing"}, {ID: "failed"}, {ID: "withdrawn"}, {ID: "superseded"}, {ID: "received"}}
	status := map[string]UpdateStatus{"posted": StatusPosted, "testing": StatusTesting, "failed": StatusFailed,
		"withdrawn": StatusWithdrawn, "superseded": StatusSuperseded, "received": StatusReceived}
	as := []Approval{
		{UpdateID: "posted", Group: "prod", Action: ActionInstall},
		{UpdateID: "testing", Group: "lab", Action: ActionInstall},
		{UpdateID: "testing", Group: "prod", Action: ActionInstall}, // approved before a revision sent it back
		{UpdateID: "failed", Group: "lab", Action: ActionInstall},
		{UpdateID: "withdrawn", Group: "prod", Action: ActionInstall},
		{UpdateID: "superseded", Group: "prod", Action: ActionUninstall},
		{UpdateID: "unknown", Group: "prod", Action: ActionInstall},
	}
	gotU, gotA := ReleasedView(us, as, status, []string{"lab"})
	var ids []string
	for _, u := range gotU {
		ids = append(ids, u.ID)
	}
	if strings.Join(ids, ",") != "posted,testing,superseded,received" {
		t.Errorf("updates: %v", ids)
	}
	var keys []string
	for _, a := range gotA {
		keys = append(keys, a.UpdateID+"@"+a.Group)
	}
	if strings.Join(keys, ",") != "posted@prod,testing@lab,superseded@prod" {
		t.Errorf("approvals: %v", keys)
	}
}

func TestEvaluateSLA(t *testing.T) {
	policy := SLAPolicy{Max: map[Severity]time.Duration{SeverityCritical: 24 * time.Hour, SeverityHigh: 72 * time.Hour}}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	// Received on the last evening of January, Paris time (UTC+1).
	recv := time.Date(2026, 1, 31, 21, 0, 0, 0, paris)
	cases := []struct {
		name      string
		sev       Severity
		st        UpdateStatus
		received  time.Time
		posted    time.Time
		now       time.Time
		want      SLAState
		deadline  time.Time
		remaining time.Duration
		overdue   time.Duration
		toPost    time.Duration
		absent    bool
	}{
		{name: "fresh critical", sev: SeverityCritical, st: StatusReceived, received: recv, now: recv.Add(time.Hour),
			want: SLAOK, deadline: time.Date(2026, 2, 1, 20, 0, 0, 0, time.UTC), remaining: 23 * time.Hour},
		{name: "approaching across the month boundary", sev: SeverityCritical, st: StatusTesting, received: recv, now: time.Date(2026, 2, 1, 17, 30, 0, 0, time.UTC),
			want: SLAApproaching, deadline: time.Date(2026, 2, 1, 20, 0, 0, 0, time.UTC), remaining: 150 * time.Minute},
		{name: "exactly at the warning", sev: SeverityCritical, st: StatusTested, received: recv, now: recv.Add(20 * time.Hour),
			want: SLAApproaching, deadline: recv.Add(24 * time.Hour), remaining: 4 * time.Hour},
		{name: "at the deadline is still in time", sev: SeverityCritical, st: StatusTested, received: recv, now: recv.Add(24 * time.Hour),
			want: SLAApproaching, deadline: recv.Add(24 * time.Hour)},
		{name: "breached", sev: SeverityCritical, st: StatusFailed, received: recv, now: time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC),
			want: SLABreached, deadline: recv.Add(24 * time.Hour), overdue: 4 * time.Hour},
		{name: "posted in time", sev: SeverityCritical, st: StatusPosted, received: recv, posted: recv.Add(10 * time.Hour), now: recv.Add(48 * time.Hour),
			want: SLAOK, deadline: recv.Add(24 * time.Hour), toPost: 10 * time.Hour},
		{name: "posted late", sev: SeverityCritical, st: StatusPosted, received: recv, posted: recv.Add(30 * time.Hour), now: recv.Add(48 * time.Hour),
			want: SLABreached, deadline: recv.Add(24 * time.Hour), toPost: 30 * time.Hour, overdue: 6 * time.Hour},
		{name: "high over February's end", sev: SeverityHigh, st: StatusReceived, received: time.Date(2026, 2, 27, 12, 0, 0, 0, time.UTC), now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
			want: SLAOK, deadline: time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC), remaining: 24 * time.Hour},
		{name: "leap year February", sev: SeverityHigh, st: StatusReceived, received: time.Date(2028, 2, 28, 12, 0, 0, 0, time.UTC), now: time.Date(2028, 3, 1, 12, 0, 0, 0, time.UTC),
			want: SLAOK, deadline: time.Date(2028, 3, 2, 12, 0, 0, 0, time.UTC), remaining: 24 * time.Hour},
		{name: "no SLA for low", sev: SeverityLow, st: StatusReceived, received: recv, now: recv.Add(1000 * time.Hour), want: SLANone},
		{name: "posted long ago", sev: SeverityCritical, st: StatusPosted, received: recv, posted: recv.Add(time.Hour), now: recv.Add(40 * 24 * time.Hour), absent: true},
		{name: "withdrawn", sev: SeverityCritical, st: StatusWithdrawn, received: recv, now: recv.Add(48 * time.Hour), absent: true},
	}
	for _, c := range cases {
		u := Update{ID: "U", Title: "t", Severity: c.sev}
		st := ReleaseState{UpdateID: "U", Status: c.st, ReceivedAt: c.received, PostedAt: c.posted}
		rows := EvaluateSLA([]Update{u}, []ReleaseState{st}, policy, SLAWarnDefault, c.now)
		if c.absent {
			if len(rows) != 0 {
				t.Errorf("%s: %+v, want no row", c.name, rows)
			}
			continue
		}
		if len(rows) != 1 {
			t.Errorf("%s: %d rows", c.name, len(rows))
			continue
		}
		r := rows[0]
		if r.State != c.want || !r.Deadline.Equal(c.deadline) || r.Remaining != c.remaining || r.Overdue != c.overdue || r.TimeToPost != c.toPost {
			t.Errorf("%s:\n got %+v\nwant state %s deadline %s remaining %s overdue %s to post %s", c.name, r, c.want, c.deadline, c.remaining, c.overdue, c.toPost)
		}
	}
}

func TestEvaluateSLAOrder(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	us := []Update{{ID: "a", Severity: SeverityLow}, {ID: "b", Severity: SeverityCritical}, {ID: "c", Severity: SeverityCritical}}
	sts := []ReleaseState{
		{UpdateID: "a", Status: StatusReceived, ReceivedAt: now.Add(-time.Hour)},
		{UpdateID: "b", Status: StatusReceived, ReceivedAt: now.Add(-time.Hour)},
		{UpdateID: "c", Status: StatusReceived, ReceivedAt: now.Add(-2 * time.Hour)},
	}
	rows := EvaluateSLA(us, sts, DefaultSLAPolicy(), SLAWarnDefault, now)
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.UpdateID)
	}
	if strings.Join(ids, ",") != "c,b,a" {
		t.Errorf("order %v, want the nearest deadline first, no SLA last", ids)
	}
}

func TestSLAEventIDRestartsWithTheClock(t *testing.T) {
	st := ReleaseState{UpdateID: "U", ReceivedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	a := SLAEventID(EventSLABreached, st)
	if a != SLAEventID(EventSLABreached, st) {
		t.Error("not stable")
	}
	if a == SLAEventID(EventSLAApproaching, st) {
		t.Error("breach and warning share an ID")
	}
	st.ReceivedAt = st.ReceivedAt.Add(time.Hour)
	if a == SLAEventID(EventSLABreached, st) {
		t.Error("a new revision's clock would not alert again")
	}
}
