package patchgate

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// Test helpers shared by the plan, compliance and benchmark tests.

func pc(name, versions string) ProductConstraint {
	return ProductConstraint{Name: name, Versions: versions}
}

func ip(name, version string) InstalledProduct {
	return InstalledProduct{Name: name, Version: version}
}

// upd returns a valid update of product app (any version) unless products
// are given.
func upd(id string, products ...ProductConstraint) Update {
	if len(products) == 0 {
		products = []ProductConstraint{pc("app", "")}
	}
	return Update{
		ID: id, Revision: 1, Title: "fix " + id, Kind: KindHotfix, Severity: SeverityHigh,
		Products: products, Reboot: RebootNever,
		Payloads: []Payload{{Name: id + ".bin", Size: 1, SHA256: strings.Repeat("a", 64), Installer: InstallerExec}},
	}
}

func supersedes(u Update, ids ...string) Update { u.Supersedes = ids; return u }
func requires(u Update, ids ...string) Update   { u.Requires = ids; return u }

func install(id, group string) Approval {
	return Approval{UpdateID: id, Group: group, Action: ActionInstall}
}
func uninstall(id, group string) Approval {
	return Approval{UpdateID: id, Group: group, Action: ActionUninstall}
}
func decline(id, group string) Approval {
	return Approval{UpdateID: id, Group: group, Action: ActionDecline}
}

// planHost is an automatic host in all and prod with app 1.5.
func planHost() PlanHost {
	return PlanHost{ID: "h1", Mode: ModeAutomatic, Groups: []string{GroupAll, "prod"}, Products: []InstalledProduct{ip("app", "1.5")}}
}

// steps renders a plan's items as "install:A", "uninstall:B".
func steps(p Plan) []string {
	out := []string{}
	for _, it := range p.Items {
		out = append(out, string(it.Action)+":"+it.UpdateID)
	}
	return out
}

func TestComputePlan(t *testing.T) {
	type blocked map[string][]string // update id -> substrings of the reason
	tests := []struct {
		name      string
		updates   []Update
		approvals []Approval
		host      func(*PlanHost)
		want      []string
		blocked   blocked
	}{
		// Approval and applicability.
		{name: "not approved", updates: []Update{upd("A")}, want: []string{}},
		{name: "approved in a group the host is not in",
			updates: []Update{upd("A")}, approvals: []Approval{install("A", "test")}, want: []string{}},
		{name: "approved and applicable",
			updates: []Update{upd("A")}, approvals: []Approval{install("A", "prod")}, want: []string{"install:A"}},
		{name: "approved for all",
			updates: []Update{upd("A")}, approvals: []Approval{install("A", GroupAll)}, want: []string{"install:A"}},
		{name: "product missing",
			updates: []Update{upd("A", pc("db", ""))}, approvals: []Approval{install("A", "prod")}, want: []string{}},
		{name: "version below the constraint",
			updates: []Update{upd("A", pc("app", ">=2.0"))}, approvals: []Approval{install("A", "prod")}, want: []string{}},
		{name: "version above the constraint",
			updates: []Update{upd("A", pc("app", "<1.5"))}, approvals: []Approval{install("A", "prod")}, want: []string{}},
		{name: "version inside the constraint",
			updates: []Update{upd("A", pc("app", ">=1.0, <2.0"))}, approvals: []Approval{install("A", "prod")}, want: []string{"install:A"}},
		{name: "second product of the update matches",
			updates: []Update{upd("A", pc("db", ""), pc("app", "=1.5"))}, approvals: []Approval{install("A", "prod")}, want: []string{"install:A"}},
		{name: "same product listed twice, second constraint matches",
			updates: []Update{upd("A", pc("app", "<1.0"), pc("app", ">=1.5"))}, approvals: []Approval{install("A", "prod")}, want: []string{"install:A"}},
		{name: "installed",
			updates: []Update{upd("A")}, approvals: []Approval{install("A", "prod")},
			host: func(h *PlanHost) { h.Installed = []string{"A"} }, want: []string{}},
		{name: "reboot pending",
			updates: []Update{upd("A")}, approvals: []Approval{install("A", "prod")},
			host: func(h *PlanHost) { h.RebootPending = []string{"A"} }, want: []string{}},
		{name: "declined",
			updates: []Update{upd("A")}, approvals: []Approval{decline("A", "prod")}, want: []string{}},
		{name: "decline in all beats install in prod",
			updates: []Update{upd("A")}, approvals: []Approval{install("A", "prod"), decline("A", GroupAll)}, want: []string{}},
		{name: "approval of another update does not leak",
			updates: []Update{upd("A"), upd("B")}, approvals: []Approval{install("B", "prod")}, want: []string{"install:B"}},
		{name: "sorted by id",
			updates:   []Update{upd("C"), upd("A"), upd("B")},
			approvals: []Approval{install("C", "prod"), install("A", "prod"), install("B", GroupAll)},
			want:      []string{"install:A", "install:B", "install:C"}},

		// Supersedence.
		{name: "B supersedes A, both approved: only B",
			updates:   []Update{upd("A"), supersedes(upd("B"), "A")},
			approvals: []Approval{install("A", "prod"), install("B", "prod")}, want: []string{"install:B"}},
		{name: "B supersedes A, B installed: A not offered",
			updates:   []Update{upd("A"), supersedes(upd("B"), "A")},
			approvals: []Approval{install("A", "prod")},
			host:      func(h *PlanHost) { h.Installed = []string{"B"} }, want: []string{}},
		{name: "B supersedes A, B reboot pending: A not offered",
			updates:   []Update{upd("A"), supersedes(upd("B"), "A")},
			approvals: []Approval{install("A", "prod")},
			host:      func(h *PlanHost) { h.RebootPending = []string{"B"} }, want: []string{}},
		{name: "B supersedes A, B approved but not applicable: A offered",
			updates:   []Update{upd("A"), supersedes(upd("B", pc("app", ">=2.0")), "A")},
			approvals: []Approval{install("A", "prod"), install("B", "prod")}, want: []string{"install:A"}},
		{name: "B supersedes A, B approved for another group: A offered",
			updates:   []Update{upd("A"), supersedes(upd("B"), "A")},
			approvals: []Approval{install("A", "prod"), install("B", "test")}, want: []string{"install:A"}},
		{name: "B supersedes A, B declined: A offered",
			updates:   []Update{upd("A"), supersedes(upd("B"), "A")},
			approvals: []Approval{install("A", "prod"), decline("B", GroupAll)}, want: []string{"install:A"}},
		{name: "B supersedes A, B not approved: A offered",
			updates:   []Update{upd("A"), supersedes(upd("B"), "A")},
			approvals: []Approval{install("A", "prod")}, want: []string{"install:A"}},
		{name: "chain C > B > A, all approved: only C",
			updates:   []Update{upd("A"), supersedes(upd("B"), "A"), supersedes(upd("C"), "B")},
			approvals: []Approval{install("A", "prod"), install("B", "prod"), install("C", "prod")}, want: []string{"install:C"}},
		{name: "chain C > B > A, A and C approved: only C",
			updates:   []Update{upd("A"), supersedes(upd("B"), "A"), supersedes(upd("C"), "B")},
			approvals: []Approval{install("A", "prod"), install("C", "prod")}, want: []string{"install:C"}},
		{name: "chain C > B > A, C installed: A not offered",
			updates:   []Update{upd("A"), supersedes(upd("B"), "A"), supersedes(upd("C"), "B")},
			approvals: []Approval{install("A", "prod"), install("B", "prod")},
			host:      func(h *PlanHost) { h.Installed = []string{"C"} }, want: []string{}},
		{name: "chain C > B > A, B installed, C approved: only C",
			updates:   []Update{upd("A"), supersedes(upd("B"), "A"), supersedes(upd("C"), "B")},
			approvals: []Approval{install("A", "prod"), install("C", "prod")},
			host:      func(h *PlanHost) { h.Installed = []string{"B"} }, want: []string{"install:C"}},
		{name: "superseder of another product line still covers",
			updates:   []Update{upd("A"), supersedes(upd("B", pc("db", ""), pc("app", "")), "A")},
			approvals: []Approval{install("A", "prod"), install("B", "prod")}, want: []string{"install:B"}},

		// Prerequisites.
		{name: "prerequisite approved: planned first",
			updates:   []Update{upd("A"), requires(upd("B"), "A")},
			approvals: []Approval{install("A", "prod"), install("B", "prod")}, want: []string{"install:A", "install:B"}},
		{name: "prerequisite planned first even when its id sorts later",
			updates:   []Update{requires(upd("A"), "Z"), upd("Z")},
			approvals: []Approval{install("A", "prod"), install("Z", "prod")}, want: []string{"install:Z", "install:A"}},
		{name: "prerequisite chain in order",
			updates:   []Update{requires(upd("A"), "B"), requires(upd("B"), "C"), upd("C"), upd("D")},
			approvals: []Approval{install("A", "prod"), install("B", "prod"), install("C", "prod"), install("D", "prod")},
			want:      []string{"install:C", "install:B", "install:A", "install:D"}},
		{name: "two prerequisites in the order listed",
			updates:   []Update{requires(upd("A"), "Y", "X"), upd("X"), upd("Y")},
			approvals: []Approval{install("A", "prod"), install("X", "prod"), install("Y", "prod")},
			want:      []string{"install:Y", "install:X", "install:A"}},
		{name: "shared prerequisite planned once",
			updates:   []Update{requires(upd("A"), "P"), requires(upd("B"), "P"), upd("P")},
			approvals: []Approval{install("A", "prod"), install("B", "prod"), install("P", "prod")},
			want:      []string{"install:P", "install:A", "install:B"}},
		{name: "prerequisite installed",
			updates:   []Update{upd("A"), requires(upd("B"), "A")},
			approvals: []Approval{install("A", "prod"), install("B", "prod")},
			host:      func(h *PlanHost) { h.Installed = []string{"A"} }, want: []string{"install:B"}},
		{name: "prerequisite installed, not approved",
			updates:   []Update{upd("A"), requires(upd("B"), "A")},
			approvals: []Approval{install("B", "prod")},
			host:      func(h *PlanHost) { h.Installed = []string{"A"} }, want: []string{"install:B"}},
		{name: "prerequisite reboot pending",
			updates:   []Update{upd("A"), requires(upd("B"), "A")},
			approvals: []Approval{install("B", "prod")},
			host:      func(h *PlanHost) { h.RebootPending = []string{"A"} }, want: []string{"install:B"}},
		{name: "prerequisite not approved: blocked",
			updates:   []Update{upd("A"), requires(upd("B"), "A")},
			approvals: []Approval{install("B", "prod")},
			want:      []string{}, blocked: blocked{"B": {"requires A", "neither installed nor approved"}}},
		{name: "prerequisite declined: blocked",
			updates:   []Update{upd("A"), requires(upd("B"), "A")},
			approvals: []Approval{install("B", "prod"), install("A", "prod"), decline("A", GroupAll)},
			want:      []string{}, blocked: blocked{"B": {"requires A"}}},
		{name: "prerequisite not applicable: blocked",
			updates:   []Update{upd("A", pc("db", "")), requires(upd("B"), "A")},
			approvals: []Approval{install("A", "prod"), install("B", "prod")},
			want:      []string{}, blocked: blocked{"B": {"requires A"}}},
		{name: "prerequisite unknown to the catalog: blocked",
			updates:   []Update{requires(upd("B"), "GHOST")},
			approvals: []Approval{install("B", "prod")},
			want:      []string{}, blocked: blocked{"B": {"requires GHOST"}}},
		{name: "blocked update does not hold back others",
			updates:   []Update{upd("A"), requires(upd("B"), "X"), upd("C")},
			approvals: []Approval{install("A", "prod"), install("B", "prod"), install("C", "prod")},
			want:      []string{"install:A", "install:C"}, blocked: blocked{"B": {"requires X"}}},
		{name: "prerequisite superseded by an installed update: satisfied",
			updates:   []Update{upd("A"), requires(upd("B"), "A"), supersedes(upd("C"), "A")},
			approvals: []Approval{install("B", "prod")},
			host:      func(h *PlanHost) { h.Installed = []string{"C"} }, want: []string{"install:B"}},
		{name: "prerequisite superseded through a chain by an installed update: satisfied",
			updates:   []Update{upd("A"), requires(upd("B"), "A"), supersedes(upd("C"), "A"), supersedes(upd("D"), "C")},
			approvals: []Approval{install("B", "prod")},
			host:      func(h *PlanHost) { h.Installed = []string{"D"} }, want: []string{"install:B"}},
		{name: "prerequisite superseded by an approved update: that update planned first",
			updates:   []Update{upd("SR1"), supersedes(upd("SR2"), "SR1"), requires(upd("ES12"), "SR1")},
			approvals: []Approval{install("SR2", "prod"), install("ES12", "prod")},
			want:      []string{"install:SR2", "install:ES12"}},
		{name: "prerequisite superseded through a chain by an approved update: planned first",
			updates:   []Update{upd("SR1"), supersedes(upd("SR2"), "SR1"), supersedes(upd("SR3"), "SR2"), requires(upd("ES12"), "SR1")},
			approvals: []Approval{install("SR1", "prod"), install("SR3", "prod"), install("ES12", "prod")},
			want:      []string{"install:SR3", "install:ES12"}},
		{name: "prerequisite superseded by a blocked update: blocked too",
			updates:   []Update{upd("SR1"), requires(supersedes(upd("SR2"), "SR1"), "X"), requires(upd("ES12"), "SR1")},
			approvals: []Approval{install("SR1", "prod"), install("SR2", "prod"), install("ES12", "prod")},
			want:      []string{},
			blocked:   blocked{"SR2": {"requires X"}, "ES12": {"requires SR1", "SR2", "requires X"}}},
		// A host behind the floor gets the floor first: a hotfix posted
		// after SR1 requires it; a host with only HF1 of SR1's constituents
		// installs SR1, then the hotfix (though "HF3" sorts before "SR1").
		{name: "behind the floor: the Service Release first",
			updates:   []Update{upd("HF1"), upd("HF2"), supersedes(upd("SR1"), "HF1", "HF2"), requires(upd("HF3"), "SR1")},
			approvals: []Approval{install("HF1", "prod"), install("HF2", "prod"), install("SR1", "prod"), install("HF3", "prod")},
			host:      func(h *PlanHost) { h.Installed = []string{"HF1"} },
			want:      []string{"install:SR1", "install:HF3"}},
		{name: "behind the floor, floor not approved: blocked, its constituents still offered",
			updates:   []Update{upd("HF1"), upd("HF2"), supersedes(upd("SR1"), "HF1", "HF2"), requires(upd("HF3"), "SR1")},
			approvals: []Approval{install("HF1", "prod"), install("HF2", "prod"), install("HF3", "prod")},
			host:      func(h *PlanHost) { h.Installed = []string{"HF1"} },
			want:      []string{"install:HF2"},
			blocked:   blocked{"HF3": {"requires SR1", "neither installed nor approved"}}},
		{name: "two floors behind: SR1, then SR2 (which requires it), then the hotfix on SR2",
			updates: []Update{upd("HF1"), supersedes(upd("SR1"), "HF1"), requires(upd("HF2"), "SR1"),
				requires(supersedes(upd("SR2"), "HF2"), "SR1"), requires(upd("HF3"), "SR2")},
			approvals: []Approval{install("SR1", "prod"), install("HF2", "prod"), install("SR2", "prod"), install("HF3", "prod")},
			want:      []string{"install:SR1", "install:SR2", "install:HF3"}},
		{name: "on the floor already: only the hotfix",
			updates:   []Update{upd("HF1"), supersedes(upd("SR1"), "HF1"), requires(upd("HF3"), "SR1")},
			approvals: []Approval{install("SR1", "prod"), install("HF3", "prod")},
			host:      func(h *PlanHost) { h.Installed = []string{"SR1"} },
			want:      []string{"install:HF3"}},
		{name: "prerequisite superseded by the update itself",
			updates:   []Update{upd("A"), supersedes(upd("B"), "A"), requires(supersedes(upd("C"), "B"), "A")},
			approvals: []Approval{install("C", "prod")},
			want:      []string{"install:C"}},
		{name: "blocked prerequisite blocks its dependant, each with its own reason",
			updates:   []Update{requires(upd("A"), "B"), requires(upd("B"), "X")},
			approvals: []Approval{install("A", "prod"), install("B", "prod")},
			want:      []string{},
			blocked:   blocked{"A": {"requires B", "requires X"}, "B": {"requires X", "neither installed nor approved"}}},
		{name: "prerequisite cycle: blocked",
			updates:   []Update{requires(upd("A"), "B"), requires(upd("B"), "A"), upd("C")},
			approvals: []Approval{install("A", "prod"), install("B", "prod"), install("C", "prod")},
			want:      []string{"install:C"},
			blocked:   blocked{"A": {"cycle"}, "B": {"cycle"}}},
		{name: "three-way prerequisite cycle: blocked",
			updates:   []Update{requires(upd("A"), "B"), requires(upd("B"), "C"), requires(upd("C"), "A")},
			approvals: []Approval{install("A", "prod"), install("B", "prod"), install("C", "prod")},
			want:      []string{},
			blocked:   blocked{"A": {"cycle"}, "B": {"cycle"}, "C": {"cycle"}}},
		{name: "update requiring itself: blocked",
			updates:   []Update{requires(upd("A"), "A")},
			approvals: []Approval{install("A", "prod")},
			want:      []string{}, blocked: blocked{"A": {"cycle"}}},

		// Uninstalls.
		{name: "uninstall approval on installed update",
			updates:   []Update{upd("A")},
			approvals: []Approval{uninstall("A", "prod")},
			host:      func(h *PlanHost) { h.Installed = []string{"A"} }, want: []string{"uninstall:A"}},
		{name: "uninstall first, then installs",
			updates:   []Update{upd("A"), upd("Z")},
			approvals: []Approval{install("A", "prod"), uninstall("Z", "prod")},
			host:      func(h *PlanHost) { h.Installed = []string{"Z"} }, want: []string{"uninstall:Z", "install:A"}},
		{name: "uninstalls sorted by id",
			updates:   []Update{upd("A"), upd("B"), upd("C")},
			approvals: []Approval{uninstall("C", "prod"), uninstall("A", GroupAll), uninstall("B", "prod")},
			host:      func(h *PlanHost) { h.Installed = []string{"C", "A", "B"} },
			want:      []string{"uninstall:A", "uninstall:B", "uninstall:C"}},
		{name: "uninstall approval on an update that is not installed",
			updates: []Update{upd("A")}, approvals: []Approval{uninstall("A", "prod")}, want: []string{}},
		{name: "uninstall of an update the catalog does not know",
			updates:   []Update{upd("A")},
			approvals: []Approval{uninstall("GONE", "prod")},
			host:      func(h *PlanHost) { h.Installed = []string{"GONE"} }, want: []string{}},
		{name: "uninstall for a product the host no longer has",
			updates:   []Update{upd("A", pc("db", ""))},
			approvals: []Approval{uninstall("A", "prod")},
			host:      func(h *PlanHost) { h.Installed = []string{"A"} }, want: []string{"uninstall:A"}},
		{name: "an uninstall for a child group overrides an install for all (deeper group wins)",
			updates:   []Update{upd("A")},
			approvals: []Approval{uninstall("A", "prod"), install("A", GroupAll)},
			host:      func(h *PlanHost) { h.Installed = []string{"A"} }, want: []string{"uninstall:A"}},
		{name: "install in one group beats uninstall in a sibling group",
			updates:   []Update{upd("A")},
			approvals: []Approval{uninstall("A", "prod"), install("A", "web")},
			host: func(h *PlanHost) {
				h.Installed = []string{"A"}
				h.Groups = append(h.Groups, "web")
			}, want: []string{}},
		{name: "decline beats uninstall",
			updates:   []Update{upd("A")},
			approvals: []Approval{uninstall("A", "prod"), decline("A", GroupAll)},
			host:      func(h *PlanHost) { h.Installed = []string{"A"} }, want: []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := planHost()
			if tc.host != nil {
				tc.host(&h)
			}
			p := ComputePlan(NewCatalog(tc.updates), NewApprovalIndex(tc.approvals), h)
			if p.HostID != h.ID {
				t.Errorf("HostID = %q, want %q", p.HostID, h.ID)
			}
			if p.Manual {
				t.Errorf("Manual = true for an automatic host")
			}
			if got := steps(p); !slices.Equal(got, tc.want) {
				t.Errorf("items = %v, want %v", got, tc.want)
			}
			gotBlocked := map[string]string{}
			for _, b := range p.Blocked {
				if _, dup := gotBlocked[b.UpdateID]; dup {
					t.Errorf("%s blocked twice", b.UpdateID)
				}
				gotBlocked[b.UpdateID] = b.Reason
			}
			for id, subs := range tc.blocked {
				reason, ok := gotBlocked[id]
				if !ok {
					t.Errorf("%s not blocked; blocked = %v", id, p.Blocked)
					continue
				}
				for _, s := range subs {
					if !strings.Contains(reason, s) {
						t.Errorf("%s blocked with reason %q, want it to mention %q", id, reason, s)
					}
				}
			}
			for id := range gotBlocked {
				if _, ok := tc.blocked[id]; !ok {
					t.Errorf("%s unexpectedly blocked: %q", id, gotBlocked[id])
				}
			}
			// A blocked update is never also planned.
			for _, it := range p.Items {
				if _, ok := gotBlocked[it.UpdateID]; ok {
					t.Errorf("%s both planned and blocked", it.UpdateID)
				}
			}
		})
	}
}

func TestComputePlanItemContent(t *testing.T) {
	a := upd("A")
	a.Revision = 3
	a.Title = "Fix the thing"
	a.Kind = KindSecurity
	a.Severity = SeverityCritical
	a.Reboot = RebootRequired
	a.Payloads = []Payload{{Name: "fix.deb", Size: 42, SHA256: strings.Repeat("b", 64), Installer: InstallerDpkg, Args: []string{"--force-confold"}}}
	p := ComputePlan(NewCatalog([]Update{a}), NewApprovalIndex([]Approval{install("A", "prod")}), planHost())
	if len(p.Items) != 1 {
		t.Fatalf("items = %v", steps(p))
	}
	want := PlanItem{UpdateID: "A", Revision: 3, Title: "Fix the thing", Kind: KindSecurity, Severity: SeverityCritical,
		Action: ActionInstall, Reboot: RebootRequired, Payloads: a.Payloads}
	if !reflect.DeepEqual(p.Items[0], want) {
		t.Errorf("item = %+v\nwant %+v", p.Items[0], want)
	}
}

func TestComputePlanEmptyPlanEncodesItemsAsArray(t *testing.T) {
	p := ComputePlan(NewCatalog(nil), NewApprovalIndex(nil), planHost())
	if p.Items == nil {
		t.Fatal("Items is nil; agents expect an array")
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"items":[]`) || strings.Contains(string(b), "blocked") {
		t.Errorf("empty plan encodes as %s", b)
	}
}

func TestComputePlanManualHost(t *testing.T) {
	cat := NewCatalog([]Update{upd("A"), requires(upd("B"), "A"), upd("C"), requires(upd("D"), "X")})
	idx := NewApprovalIndex([]Approval{install("A", "prod"), install("B", "prod"), uninstall("C", "prod"), install("D", "prod")})
	auto := planHost()
	auto.Installed = []string{"C"}
	manual := auto
	manual.Mode = ModeManual
	pa, pm := ComputePlan(cat, idx, auto), ComputePlan(cat, idx, manual)
	if pa.Manual || !pm.Manual {
		t.Fatalf("Manual: automatic host %v, manual host %v", pa.Manual, pm.Manual)
	}
	if want := []string{"uninstall:C", "install:A", "install:B"}; !slices.Equal(steps(pm), want) {
		t.Errorf("manual plan = %v, want %v", steps(pm), want)
	}
	pm.Manual = false
	if !reflect.DeepEqual(pa, pm) {
		t.Errorf("manual plan differs from automatic one beyond Manual:\n%+v\n%+v", pa, pm)
	}
}

func TestComputePlanDeadline(t *testing.T) {
	cat := NewCatalog([]Update{upd("A"), upd("B"), upd("C"), upd("D")})
	as := []Approval{
		{UpdateID: "A", Group: "prod", Action: ActionInstall, Deadline: at(d2)},
		{UpdateID: "A", Group: GroupAll, Action: ActionInstall, Deadline: at(d1)},
		{UpdateID: "B", Group: "prod", Action: ActionInstall},
		{UpdateID: "C", Group: "prod", Action: ActionInstall, Deadline: at(d3)},
		{UpdateID: "C", Group: "test", Action: ActionInstall, Deadline: at(d1)}, // host not in test
		{UpdateID: "D", Group: "prod", Action: ActionUninstall, Deadline: at(d1)},
	}
	h := planHost()
	h.Installed = []string{"D"}
	p := ComputePlan(cat, NewApprovalIndex(as), h)
	// A: prod's own approval overrides the one for all (deeper group wins).
	want := map[string]*time.Time{"A": at(d2), "B": nil, "C": at(d3)}
	if got := steps(p); !slices.Equal(got, []string{"uninstall:D", "install:A", "install:B", "install:C"}) {
		t.Fatalf("items = %v", got)
	}
	for _, it := range p.Items {
		if it.Action != ActionInstall {
			continue
		}
		w := want[it.UpdateID]
		switch {
		case w == nil && it.Deadline != nil:
			t.Errorf("%s: deadline %v, want none", it.UpdateID, *it.Deadline)
		case w != nil && (it.Deadline == nil || !it.Deadline.Equal(*w)):
			t.Errorf("%s: deadline %v, want %v", it.UpdateID, it.Deadline, *w)
		}
	}
}

// TestComputePlanDeterministic shuffles every input: catalog order,
// approval order, host lists. The plan must not change.
func TestComputePlanDeterministic(t *testing.T) {
	var updates []Update
	var approvals []Approval
	for i := range 60 {
		id := fmt.Sprintf("U%03d", i)
		u := upd(id, pc("app", ""), pc(fmt.Sprintf("p%d", i%4), ""))
		if i%7 == 3 {
			u.Requires = []string{fmt.Sprintf("U%03d", i+5)}
		}
		if i%11 == 5 {
			u.Supersedes = []string{fmt.Sprintf("U%03d", i-1)}
		}
		if i%13 == 0 {
			u.Requires = []string{"MISSING"}
		}
		updates = append(updates, u)
		g := []string{GroupAll, "prod", "web"}[i%3]
		switch {
		case i%17 == 0:
			approvals = append(approvals, uninstall(id, g))
		case i%19 == 0:
			approvals = append(approvals, decline(id, g))
		default:
			approvals = append(approvals, Approval{UpdateID: id, Group: g, Action: ActionInstall, Deadline: at(t0.Add(time.Duration(i) * time.Hour))})
		}
	}
	h := PlanHost{ID: "h", Mode: ModeAutomatic, Groups: []string{GroupAll, "prod", "web"},
		Products: []InstalledProduct{ip("app", "1"), ip("p1", "1"), ip("p2", "1")}, Installed: []string{"U017", "U034", "U010"}}
	want := ComputePlan(NewCatalog(updates), NewApprovalIndex(approvals), h)
	if len(want.Items) < 20 || len(want.Blocked) == 0 {
		t.Fatalf("test fleet too trivial: %d items, %d blocked", len(want.Items), len(want.Blocked))
	}
	r := rand.New(rand.NewSource(42))
	for i := range 50 {
		us := slices.Clone(updates)
		as := slices.Clone(approvals)
		hh := h
		hh.Groups = slices.Clone(h.Groups)
		hh.Products = slices.Clone(h.Products)
		hh.Installed = slices.Clone(h.Installed)
		r.Shuffle(len(us), func(i, j int) { us[i], us[j] = us[j], us[i] })
		r.Shuffle(len(as), func(i, j int) { as[i], as[j] = as[j], as[i] })
		r.Shuffle(len(hh.Groups), func(i, j int) { hh.Groups[i], hh.Groups[j] = hh.Groups[j], hh.Groups[i] })
		r.Shuffle(len(hh.Products), func(i, j int) { hh.Products[i], hh.Products[j] = hh.Products[j], hh.Products[i] })
		r.Shuffle(len(hh.Installed), func(i, j int) { hh.Installed[i], hh.Installed[j] = hh.Installed[j], hh.Installed[i] })
		got := ComputePlan(NewCatalog(us), NewApprovalIndex(as), hh)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: plan differs\n got %v blocked %v\nwant %v blocked %v", i, steps(got), got.Blocked, steps(want), want.Blocked)
		}
	}
}

// TestComputePlanPrerequisitesBeforeDependants checks the order invariant
// on generated catalogs: every planned update's prerequisites are
// installed, planned before it, or superseded (directly or not) by an
// update that is installed or planned before it; nothing is planned twice
// or both planned and blocked; nothing installed or superseded by an
// installed update is planned.
func TestComputePlanPrerequisitesBeforeDependants(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for round := range 200 {
		var updates []Update
		var approvals []Approval
		n := 40
		h := planHost()
		for i := range n {
			u := upd(fmt.Sprintf("U%02d", i))
			for range r.Intn(3) {
				u.Requires = append(u.Requires, fmt.Sprintf("U%02d", r.Intn(n)))
			}
			if round%2 == 1 && i > 0 && r.Intn(4) == 0 {
				u.Supersedes = append(u.Supersedes, fmt.Sprintf("U%02d", r.Intn(i)))
			}
			updates = append(updates, u)
			if r.Intn(5) != 0 {
				approvals = append(approvals, install(u.ID, "prod"))
			}
			if r.Intn(8) == 0 {
				h.Installed = append(h.Installed, u.ID)
			}
		}
		cat := NewCatalog(updates)
		p := ComputePlan(cat, NewApprovalIndex(approvals), h)
		pos := map[string]int{}
		for i, it := range p.Items {
			if _, dup := pos[it.UpdateID]; dup {
				t.Fatalf("round %d: %s planned twice", round, it.UpdateID)
			}
			pos[it.UpdateID] = i
		}
		installed := map[string]bool{}
		for _, id := range h.Installed {
			installed[id] = true
		}
		// supersededBy reports whether ok holds for an update superseding
		// id, directly or not.
		supersededBy := func(id string, ok func(s string) bool) bool {
			seen := map[string]bool{id: true}
			for next := []string{id}; len(next) > 0; {
				cur := next[len(next)-1]
				next = next[:len(next)-1]
				for _, s := range cat.SupersededBy(cur) {
					if ok(s) {
						return true
					}
					if !seen[s] {
						seen[s] = true
						next = append(next, s)
					}
				}
			}
			return false
		}
		for id, i := range pos {
			if installed[id] || supersededBy(id, func(s string) bool { return installed[s] }) {
				t.Fatalf("round %d: %s planned though it or a superseding update is installed", round, id)
			}
			u, _ := cat.Get(id)
			for _, req := range u.Requires {
				before := func(s string) bool { j, ok := pos[s]; return installed[s] || s == id || (ok && j < i) }
				if installed[req] || before(req) && req != id || supersededBy(req, before) {
					continue
				}
				t.Fatalf("round %d: %s planned at %d, but its prerequisite %s is neither installed nor planned before it (plan %v)", round, id, i, req, steps(p))
			}
		}
		for _, b := range p.Blocked {
			if _, ok := pos[b.UpdateID]; ok {
				t.Fatalf("round %d: %s both planned and blocked", round, b.UpdateID)
			}
		}
	}
}

// TestComputePlanSupersedenceDAG: each update supersedes every earlier one
// (cumulative releases). Only the newest approved one is offered, and the
// plan must not take exponential time walking the supersedence graph.
func TestComputePlanSupersedenceDAG(t *testing.T) {
	const n = 40
	var updates []Update
	for i := range n {
		u := upd(fmt.Sprintf("R%02d", i))
		for j := range i {
			u.Supersedes = append(u.Supersedes, fmt.Sprintf("R%02d", j))
		}
		updates = append(updates, u)
	}
	cat := NewCatalog(updates)
	cases := []struct {
		approved []string
		want     []string
	}{
		{[]string{"R00"}, []string{"install:R00"}},
		{[]string{"R00", "R01"}, []string{"install:R01"}},
		{[]string{"R00", "R17", "R05"}, []string{"install:R17"}},
	}
	for _, tc := range cases {
		var as []Approval
		for _, id := range tc.approved {
			as = append(as, install(id, "prod"))
		}
		done := make(chan Plan, 1)
		go func() { done <- ComputePlan(cat, NewApprovalIndex(as), planHost()) }()
		select {
		case p := <-done:
			if got := steps(p); !slices.Equal(got, tc.want) {
				t.Errorf("approved %v: items = %v, want %v", tc.approved, got, tc.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("approved %v: ComputePlan takes more than 10s on a %d-update supersedence DAG", tc.approved, n)
		}
	}
}

// TestComputePlanLongSupersedenceChain: monthly releases each superseding
// the previous one, for five years. Installing the newest covers all.
func TestComputePlanLongSupersedenceChain(t *testing.T) {
	const n = 60
	var updates []Update
	for i := range n {
		u := upd(fmt.Sprintf("SR%02d", i))
		if i > 0 {
			u.Supersedes = []string{fmt.Sprintf("SR%02d", i-1)}
		}
		updates = append(updates, u)
	}
	cat := NewCatalog(updates)
	h := planHost()
	h.Installed = []string{fmt.Sprintf("SR%02d", n-1)}
	p := ComputePlan(cat, NewApprovalIndex([]Approval{install("SR00", "prod"), install("SR01", "prod")}), h)
	if len(p.Items) != 0 {
		t.Errorf("with SR%02d installed, items = %v, want none", n-1, steps(p))
	}
	// The same chain with the newest approved instead of installed.
	p = ComputePlan(cat, NewApprovalIndex([]Approval{install("SR00", "prod"), install(fmt.Sprintf("SR%02d", n-1), "prod")}), planHost())
	if want := []string{fmt.Sprintf("install:SR%02d", n-1)}; !slices.Equal(steps(p), want) {
		t.Errorf("items = %v, want %v", steps(p), want)
	}
}

func TestComputePlanSupersedenceCycleTerminates(t *testing.T) {
	cat := NewCatalog([]Update{supersedes(upd("A"), "B"), supersedes(upd("B"), "A"), requires(upd("C"), "A")})
	done := make(chan Plan, 1)
	go func() {
		done <- ComputePlan(cat, NewApprovalIndex([]Approval{install("C", "prod")}), planHost())
	}()
	select {
	case p := <-done:
		// Neither A nor B is approved or installed: C's prerequisite is
		// missing.
		if len(p.Items) != 0 || len(p.Blocked) != 1 || p.Blocked[0].UpdateID != "C" {
			t.Errorf("plan = %v blocked %v, want C blocked", steps(p), p.Blocked)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ComputePlan does not terminate on a supersedence cycle")
	}
}

func TestCatalog(t *testing.T) {
	a := upd("A", pc("app", ">=1.0"), pc("db", "=2.0"))
	b := supersedes(upd("B", pc("app", "")), "A")
	c := supersedes(upd("C", pc("web", "")), "A", "B")
	bad := upd("BAD", pc("app", ">=")) // constraint that does not parse
	cat := NewCatalog([]Update{a, b, c, bad})
	if cat.Len() != 4 {
		t.Errorf("Len = %d, want 4", cat.Len())
	}
	if got, ok := cat.Get("A"); !ok || !reflect.DeepEqual(got, a) {
		t.Errorf("Get(A) = %+v, %v", got, ok)
	}
	if _, ok := cat.Get("nope"); ok {
		t.Error("Get(nope) found something")
	}
	if got := cat.SupersededBy("A"); !slices.Equal(got, []string{"B", "C"}) {
		t.Errorf("SupersededBy(A) = %v, want [B C]", got)
	}
	if got := cat.SupersededBy("C"); len(got) != 0 {
		t.Errorf("SupersededBy(C) = %v, want none", got)
	}
	applicable := []struct {
		id       string
		products []InstalledProduct
		want     bool
	}{
		{"A", []InstalledProduct{ip("app", "1.0")}, true},
		{"A", []InstalledProduct{ip("app", "0.9")}, false},
		{"A", []InstalledProduct{ip("app", "0.9"), ip("db", "2.0")}, true},
		{"A", []InstalledProduct{ip("db", "2.1")}, false},
		{"A", nil, false},
		{"C", []InstalledProduct{ip("web", "anything")}, true},
		{"BAD", []InstalledProduct{ip("app", "1.0")}, false},
		{"BAD", []InstalledProduct{ip("app", "0never")}, false}, // "0never" is a valid version
		{"BAD", []InstalledProduct{ip("app", "never")}, false},
		{"nope", []InstalledProduct{ip("app", "1.0")}, false},
	}
	for _, tc := range applicable {
		if got := cat.Applicable(tc.id, tc.products); got != tc.want {
			t.Errorf("Applicable(%s, %v) = %v, want %v", tc.id, tc.products, got, tc.want)
		}
	}
	// A product listed twice is indexed once.
	dup := NewCatalog([]Update{upd("D", pc("app", "<1"), pc("db", ""), pc("app", ">2"))})
	if n := len(dup.byProduct["app"]); n != 1 {
		t.Errorf("update listing app twice is indexed %d times under app", n)
	}
}

func TestNewApprovalIndex(t *testing.T) {
	as := []Approval{install("A", "prod"), decline("B", GroupAll), uninstall("A", "web")}
	idx := NewApprovalIndex(as)
	if len(idx) != 2 || len(idx["A"]) != 2 || len(idx["B"]) != 1 {
		t.Fatalf("index = %+v", idx)
	}
	if idx["A"][0].Group != "prod" || idx["A"][1].Group != "web" {
		t.Errorf("index does not keep input order: %+v", idx["A"])
	}
}
