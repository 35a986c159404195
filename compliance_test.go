package patchgate

import (
	"math"
	"reflect"
	"testing"
	"time"
)

func TestSilent(t *testing.T) {
	now := t0
	tests := []struct {
		name string
		h    Host
		want bool
	}{
		{"just checked in", Host{Inventory: Inventory{Interval: 10 * time.Minute}, LastCheckin: now}, false},
		{"one interval late", Host{Inventory: Inventory{Interval: 10 * time.Minute}, LastCheckin: now.Add(-15 * time.Minute)}, false},
		{"exactly two intervals", Host{Inventory: Inventory{Interval: 10 * time.Minute}, LastCheckin: now.Add(-20 * time.Minute)}, false},
		{"more than two intervals", Host{Inventory: Inventory{Interval: 10 * time.Minute}, LastCheckin: now.Add(-20*time.Minute - time.Second)}, true},
		{"default interval, 1h59m", Host{LastCheckin: now.Add(-119 * time.Minute)}, false},
		{"default interval, 2h", Host{LastCheckin: now.Add(-2 * time.Hour)}, false},
		{"default interval, 2h1s", Host{LastCheckin: now.Add(-2*time.Hour - time.Second)}, true},
		{"negative interval means default", Host{Inventory: Inventory{Interval: -time.Minute}, LastCheckin: now.Add(-90 * time.Minute)}, false},
		{"never checked in, enrolled recently", Host{EnrolledAt: now.Add(-time.Hour)}, false},
		{"never checked in, enrolled long ago", Host{EnrolledAt: now.Add(-3 * time.Hour)}, true},
		{"check-in wins over enrolment", Host{EnrolledAt: now.Add(-30 * 24 * time.Hour), LastCheckin: now.Add(-time.Minute)}, false},
		{"no times at all", Host{}, true},
		{"check-in in the future (clock skew)", Host{LastCheckin: now.Add(time.Hour)}, false},
	}
	for _, tc := range tests {
		if got := Silent(tc.h, now); got != tc.want {
			t.Errorf("%s: Silent = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestHostState(t *testing.T) {
	now := t0
	cat := NewCatalog([]Update{
		upd("A", pc("app", ">=1.0, <2.0")),
		supersedes(upd("B"), "A"),
		supersedes(upd("C"), "B"),
		upd("D", pc("db", "")),
	})
	live := func(mod func(*Host)) Host {
		h := Host{ID: "h1", Inventory: Inventory{Hostname: "h1", Mode: ModeAutomatic, Products: []InstalledProduct{ip("app", "1.5")}, Interval: 10 * time.Minute},
			Groups: []string{GroupAll}, LastCheckin: now.Add(-time.Minute)}
		if mod != nil {
			mod(&h)
		}
		return h
	}
	dep := func(id string, s DeploymentState) *Deployment {
		return &Deployment{HostID: "h1", UpdateID: id, State: s, UpdatedAt: now}
	}
	tests := []struct {
		name string
		h    Host
		id   string
		dep  *Deployment
		want DeploymentState
	}{
		{"needed", live(nil), "A", nil, StateNeeded},
		{"installed", live(func(h *Host) { h.Installed = []string{"A"} }), "A", nil, StateInstalled},
		{"reboot pending", live(func(h *Host) { h.RebootPending = []string{"A"} }), "A", nil, StateRebootPending},
		{"reboot pending beats installed", live(func(h *Host) { h.Installed = []string{"A"}; h.RebootPending = []string{"A"} }), "A", nil, StateRebootPending},
		{"installed though no longer applicable", live(func(h *Host) { h.Installed = []string{"D"} }), "D", nil, StateInstalled},
		{"product missing", live(nil), "D", nil, StateNotApplicable},
		{"version outside the constraint", live(func(h *Host) { h.Products = []InstalledProduct{ip("app", "2.0")} }), "A", nil, StateNotApplicable},
		{"update unknown to the catalog", live(nil), "nope", nil, StateNotApplicable},
		{"superseded by an installed update", live(func(h *Host) { h.Installed = []string{"B"} }), "A", nil, StateNotApplicable},
		{"superseded by a reboot-pending update", live(func(h *Host) { h.RebootPending = []string{"B"} }), "A", nil, StateNotApplicable},
		{"superseded through a chain by an installed update", live(func(h *Host) { h.Installed = []string{"C"} }), "A", nil, StateNotApplicable},
		{"superseder not installed", live(nil), "A", nil, StateNeeded},
		{"superseded wins over a failure report", live(func(h *Host) { h.Installed = []string{"B"} }), "A", dep("A", StateFailed), StateNotApplicable},
		{"failed", live(nil), "A", dep("A", StateFailed), StateFailed},
		{"downloading", live(nil), "A", dep("A", StateDownloading), StateDownloading},
		{"installing", live(nil), "A", dep("A", StateInstalling), StateInstalling},
		{"installed report without inventory: still needed", live(nil), "A", dep("A", StateInstalled), StateNeeded},
		{"not-applicable report: still needed", live(nil), "A", dep("A", StateNotApplicable), StateNeeded},
		{"inventory installed beats a failure report", live(func(h *Host) { h.Installed = []string{"A"} }), "A", dep("A", StateFailed), StateInstalled},
		{"report for an update that does not apply", live(nil), "D", dep("D", StateFailed), StateNotApplicable},
		{"silent", live(func(h *Host) { h.LastCheckin = now.Add(-21 * time.Minute) }), "A", nil, StateUnknown},
		{"silent beats installed", live(func(h *Host) { h.LastCheckin = now.Add(-time.Hour); h.Installed = []string{"A"} }), "A", nil, StateUnknown},
		{"silent beats not applicable", live(func(h *Host) { h.LastCheckin = now.Add(-time.Hour) }), "D", nil, StateUnknown},
		{"default interval: 90 minutes is not silent", live(func(h *Host) { h.Interval = 0; h.LastCheckin = now.Add(-90 * time.Minute) }), "A", nil, StateNeeded},
		{"default interval: 121 minutes is silent", live(func(h *Host) { h.Interval = 0; h.LastCheckin = now.Add(-121 * time.Minute) }), "A", nil, StateUnknown},
	}
	for _, tc := range tests {
		if got := HostState(cat, tc.h, tc.id, tc.dep, now); got != tc.want {
			t.Errorf("%s: HostState = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestHostStateAgreesWithPlan: an update the plan will never offer because
// something superseding it is installed must not be reported as needed.
func TestHostStateAgreesWithPlan(t *testing.T) {
	cat := NewCatalog([]Update{upd("A"), supersedes(upd("B"), "A"), supersedes(upd("C"), "B")})
	h := Host{ID: "h1", Inventory: Inventory{Hostname: "h1", Products: []InstalledProduct{ip("app", "1")}, Installed: []string{"C"}},
		Groups: []string{GroupAll}, LastCheckin: t0}
	p := ComputePlan(cat, NewApprovalIndex([]Approval{install("A", GroupAll)}), PlanHost{ID: h.ID, Groups: h.Groups, Products: h.Products, Installed: h.Installed})
	if len(p.Items) != 0 {
		t.Fatalf("plan offers %v", steps(p))
	}
	if st := HostState(cat, h, "A", nil, t0); st == StateNeeded {
		t.Errorf("HostState(A) = %q though the plan will never offer A", st)
	}
}

// complianceFleet is two groups of three hosts (plus all):
//
//	prod: h1 (auto), h2 (auto), h3 (manual)
//	test: h4 (auto), h5 (silent), h6 (manual, default interval)
func complianceFleet() ComplianceInput {
	now := t0
	cat := NewCatalog([]Update{
		upd("U1"),                                  // app, any version
		upd("U2", pc("app", ">=2.0")),              // newer app only
		upd("U3", pc("db", "")),                    // db
		supersedes(upd("U4", pc("app", "")), "U1"), // app, supersedes U1
	})
	cat.updates["U2"].Severity = SeverityCritical
	host := func(id string, mode Mode, groups []string, products []InstalledProduct, installed, reboot []string, interval time.Duration, last time.Duration) Host {
		return Host{ID: id, Inventory: Inventory{Hostname: id, Mode: mode, Products: products, Installed: installed, RebootPending: reboot, Interval: interval},
			Groups: groups, EnrolledAt: now.Add(-30 * 24 * time.Hour), LastCheckin: now.Add(-last)}
	}
	prod, test := []string{GroupAll, "prod"}, []string{GroupAll, "test"}
	m := 10 * time.Minute
	return ComplianceInput{
		Catalog: cat,
		Now:     now,
		Hosts: []Host{
			host("h1", ModeAutomatic, prod, []InstalledProduct{ip("app", "1.5")}, []string{"U1"}, nil, m, 5*time.Minute),
			host("h2", ModeAutomatic, prod, []InstalledProduct{ip("app", "2.1")}, nil, nil, m, time.Minute),
			host("h3", ModeManual, prod, []InstalledProduct{ip("app", "2.0"), ip("db", "1")}, nil, []string{"U2"}, m, 0),
			host("h4", ModeAutomatic, test, []InstalledProduct{ip("app", "1.0")}, []string{"U4"}, nil, m, 0),
			host("h5", ModeAutomatic, test, []InstalledProduct{ip("app", "2.5"), ip("db", "1")}, nil, nil, 0, 3*time.Hour),
			host("h6", ModeManual, test, []InstalledProduct{ip("db", "1")}, nil, nil, 0, 90*time.Minute),
		},
		Deployments: []Deployment{
			{HostID: "h1", UpdateID: "U1", State: StateFailed},    // stale: inventory says installed
			{HostID: "h1", UpdateID: "U4", State: StateInstalled}, // not in inventory yet: needed
			{HostID: "h2", UpdateID: "U1", State: StateFailed},
			{HostID: "h2", UpdateID: "U2", State: StateDownloading},
			{HostID: "h6", UpdateID: "U3", State: StateInstalling},
			{HostID: "h5", UpdateID: "U3", State: StateFailed}, // silent host: unknown
		},
		Approvals: []Approval{
			install("U1", GroupAll),
			install("U4", "prod"),
			decline("U3", "test"),
		},
	}
}

func TestCompliance(t *testing.T) {
	rows := Compliance(complianceFleet())
	r := func(id, title string, sev Severity, group string, a Action, hosts, inst, need, inprog, failed, na, rp, unk, manual int) ComplianceRow {
		return ComplianceRow{UpdateID: id, Title: title, Severity: sev, Group: group, Approval: a, Hosts: hosts,
			Installed: inst, Needed: need, InProgress: inprog, Failed: failed, NotApplicable: na, RebootPending: rp, Unknown: unk, ManualActionRequired: manual}
	}
	hi, cr := SeverityHigh, SeverityCritical
	want := []ComplianceRow{
		//  id    title      sev grp     approval        n  I  N  P  F NA RP  U  M
		r("U1", "fix U1", hi, GroupAll, ActionInstall, 6, 1, 1, 0, 1, 2, 0, 1, 1),
		r("U1", "fix U1", hi, "prod", ActionInstall, 3, 1, 1, 0, 1, 0, 0, 0, 1), // approved for all
		r("U1", "fix U1", hi, "test", ActionInstall, 3, 0, 0, 0, 0, 2, 0, 1, 0),
		r("U2", "fix U2", cr, GroupAll, "", 6, 0, 0, 1, 0, 3, 1, 1, 0),
		r("U2", "fix U2", cr, "prod", "", 3, 0, 0, 1, 0, 1, 1, 0, 0),
		r("U2", "fix U2", cr, "test", "", 3, 0, 0, 0, 0, 2, 0, 1, 0),
		r("U3", "fix U3", hi, GroupAll, "", 6, 0, 1, 1, 0, 3, 0, 1, 1),
		r("U3", "fix U3", hi, "prod", "", 3, 0, 1, 0, 0, 2, 0, 0, 1),
		r("U3", "fix U3", hi, "test", ActionDecline, 3, 0, 0, 1, 0, 1, 0, 1, 0),
		r("U4", "fix U4", hi, GroupAll, "", 6, 1, 3, 0, 0, 1, 0, 1, 1),
		r("U4", "fix U4", hi, "prod", ActionInstall, 3, 0, 3, 0, 0, 0, 0, 0, 1),
		r("U4", "fix U4", hi, "test", "", 3, 1, 0, 0, 0, 1, 0, 1, 0),
	}
	if len(rows) != len(want) {
		t.Fatalf("got %d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i := range want {
		if !reflect.DeepEqual(rows[i], want[i]) {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, rows[i], want[i])
		}
		g := rows[i]
		if sum := g.Installed + g.Needed + g.InProgress + g.Failed + g.NotApplicable + g.RebootPending + g.Unknown; sum != g.Hosts {
			t.Errorf("row %d (%s/%s): states add up to %d, hosts = %d", i, g.UpdateID, g.Group, sum, g.Hosts)
		}
	}
}

func TestComplianceFilters(t *testing.T) {
	in := complianceFleet()
	all := Compliance(in)
	find := func(id, g string) ComplianceRow {
		for _, r := range all {
			if r.UpdateID == id && r.Group == g {
				return r
			}
		}
		t.Fatalf("no row %s/%s", id, g)
		return ComplianceRow{}
	}
	tests := []struct {
		group, update string
		want          [][2]string // update, group
	}{
		{"prod", "", [][2]string{{"U1", "prod"}, {"U2", "prod"}, {"U3", "prod"}, {"U4", "prod"}}},
		{"", "U2", [][2]string{{"U2", GroupAll}, {"U2", "prod"}, {"U2", "test"}}},
		{"test", "U3", [][2]string{{"U3", "test"}}},
		{"nosuchgroup", "", nil},
		{"", "nosuchupdate", nil},
	}
	for _, tc := range tests {
		in.Group, in.UpdateID = tc.group, tc.update
		rows := Compliance(in)
		if len(rows) != len(tc.want) {
			t.Errorf("group %q update %q: %d rows, want %d", tc.group, tc.update, len(rows), len(tc.want))
			continue
		}
		for i, w := range tc.want {
			if !reflect.DeepEqual(rows[i], find(w[0], w[1])) {
				t.Errorf("group %q update %q row %d = %+v, want the unfiltered row %s/%s", tc.group, tc.update, i, rows[i], w[0], w[1])
			}
		}
	}
}

func TestComplianceEmpty(t *testing.T) {
	if rows := Compliance(ComplianceInput{Catalog: NewCatalog(nil), Now: t0}); len(rows) != 0 {
		t.Errorf("empty input: %+v", rows)
	}
	in := complianceFleet()
	in.Hosts = nil
	if rows := Compliance(in); len(rows) != 0 {
		t.Errorf("no hosts: %+v", rows)
	}
}

func TestComplianceApprovalColumn(t *testing.T) {
	in := complianceFleet()
	in.UpdateID = "U1"
	tests := []struct {
		approvals []Approval
		want      map[string]Action // group -> row approval
	}{
		{nil, map[string]Action{GroupAll: "", "prod": "", "test": ""}},
		{[]Approval{install("U1", "prod")}, map[string]Action{GroupAll: "", "prod": ActionInstall, "test": ""}},
		// A decline for all applies to every group's hosts.
		{[]Approval{install("U1", "prod"), decline("U1", GroupAll)}, map[string]Action{GroupAll: ActionDecline, "prod": ActionDecline, "test": ActionDecline}},
		// test's own approval overrides the one it inherits from all.
		{[]Approval{install("U1", GroupAll), uninstall("U1", "test")}, map[string]Action{GroupAll: ActionInstall, "prod": ActionInstall, "test": ActionUninstall}},
		{[]Approval{uninstall("U1", "test"), decline("U1", "prod")}, map[string]Action{GroupAll: "", "prod": ActionDecline, "test": ActionUninstall}},
	}
	for i, tc := range tests {
		in.Approvals = tc.approvals
		rows := Compliance(in)
		if len(rows) != 3 {
			t.Fatalf("case %d: %d rows", i, len(rows))
		}
		for _, r := range rows {
			if r.Approval != tc.want[r.Group] {
				t.Errorf("case %d: group %s approval = %q, want %q", i, r.Group, r.Approval, tc.want[r.Group])
			}
		}
	}
}

func TestCompliant(t *testing.T) {
	tests := []struct {
		row  ComplianceRow
		want float64
	}{
		{ComplianceRow{}, 1},
		{ComplianceRow{NotApplicable: 5, Unknown: 3}, 1},
		{ComplianceRow{Installed: 3}, 1},
		{ComplianceRow{Installed: 1, Needed: 1, Failed: 1}, 1.0 / 3},
		{ComplianceRow{Installed: 2, InProgress: 1, RebootPending: 1, NotApplicable: 10, Unknown: 10}, 0.5},
		{ComplianceRow{Needed: 4}, 0},
	}
	for _, tc := range tests {
		if got := tc.row.Compliant(); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%+v.Compliant() = %v, want %v", tc.row, got, tc.want)
		}
	}
}
