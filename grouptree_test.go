package patchgate

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// The tree used below:
//
//	all
//	├── prod
//	│   ├── prod-eu
//	│   │   └── prod-eu-paris
//	│   │       └── prod-eu-paris-cc   (a deep chain)
//	│   └── prod-us
//	├── test
//	└── lab (reboot policy always)
func treeNodes() []GroupNode {
	return []GroupNode{
		{Name: GroupAll},
		{Name: "prod", RebootPolicy: RebootPolicyNever},
		{Name: "prod-eu", Parent: "prod"},
		{Name: "prod-eu-paris", Parent: "prod-eu", RebootPolicy: RebootPolicyIfRequired},
		{Name: "prod-eu-paris-cc", Parent: "prod-eu-paris"},
		{Name: "prod-us", Parent: "prod"},
		{Name: "test"},
		{Name: "lab", Parent: GroupAll, RebootPolicy: RebootPolicyAlways},
	}
}

func TestGroupTreeChains(t *testing.T) {
	tree := NewGroupTree(treeNodes())
	tests := []struct {
		group string
		want  []string
	}{
		{GroupAll, []string{GroupAll}},
		{"prod", []string{"prod", GroupAll}},
		{"lab", []string{"lab", GroupAll}}, // parent "all" is the root
		{"prod-eu-paris-cc", []string{"prod-eu-paris-cc", "prod-eu-paris", "prod-eu", "prod", GroupAll}},
		{"unknown", []string{"unknown", GroupAll}},
	}
	for _, tc := range tests {
		if got := tree.Chain(tc.group); !slices.Equal(got, tc.want) {
			t.Errorf("Chain(%s) = %v, want %v", tc.group, got, tc.want)
		}
		var flat *GroupTree
		if got := flat.Chain(tc.group); len(got) > 2 {
			t.Errorf("flat Chain(%s) = %v", tc.group, got)
		}
	}
	if p := tree.Parent("prod-eu"); p != "prod" {
		t.Errorf("Parent(prod-eu) = %q", p)
	}
	if p := tree.Parent(GroupAll); p != "" {
		t.Errorf("Parent(all) = %q", p)
	}
}

func TestGroupTreeCutsStoredCycles(t *testing.T) {
	// Stores refuse cycles; a tree built from a corrupt one still ends.
	tree := NewGroupTree([]GroupNode{{Name: "a", Parent: "b"}, {Name: "b", Parent: "c"}, {Name: "c", Parent: "a"}, {Name: "d", Parent: "missing"}})
	if got := tree.Chain("a"); !slices.Equal(got, []string{"a", "b", "c", GroupAll}) {
		t.Errorf("Chain(a) = %v", got)
	}
	if got := tree.Chain("d"); !slices.Equal(got, []string{"d", GroupAll}) {
		t.Errorf("Chain(d) = %v", got)
	}
}

func TestCheckParent(t *testing.T) {
	nodes := treeNodes()
	// A chain exactly MaxGroupDepth deep: d1 below all, ..., d16.
	var deep []GroupNode
	for i := 1; i <= MaxGroupDepth; i++ {
		n := GroupNode{Name: fmt.Sprintf("d%d", i)}
		if i > 1 {
			n.Parent = fmt.Sprintf("d%d", i-1)
		}
		deep = append(deep, n)
	}
	tests := []struct {
		name          string
		nodes         []GroupNode
		group, parent string
		code          Code   // "" = allowed
		msg           string // part of the message
	}{
		{"to the root", nodes, "prod-eu", "", "", ""},
		{"to the root spelled all", nodes, "prod-eu", GroupAll, "", ""},
		{"to a sibling", nodes, "prod-us", "prod-eu", "", ""},
		{"a subtree moves along", nodes, "prod-eu", "test", "", ""},
		{"all has no parent", nodes, GroupAll, "prod", CodeInvalid, "root"},
		{"itself", nodes, "prod", "prod", CodeConflict, "prod → prod"},
		{"its child", nodes, "prod", "prod-eu", CodeConflict, "prod → prod-eu → prod"},
		{"its deep descendant names the cycle", nodes, "prod", "prod-eu-paris-cc", CodeConflict,
			"prod → prod-eu-paris-cc → prod-eu-paris → prod-eu → prod"},
		{"depth limit reached", deep, "x", "d16", CodeInvalid, "at most 16"},
		{"depth limit kept", deep, "x", "d15", "", ""},
		{"a subtree too deep after the move", append(slices.Clone(deep), GroupNode{Name: "y"}, GroupNode{Name: "z", Parent: "y"}), "y", "d15", CodeInvalid, "17 deep"},
		{"an existing cycle above the parent", []GroupNode{{Name: "a", Parent: "b"}, {Name: "b", Parent: "a"}, {Name: "c"}}, "c", "a", CodeConflict, "already form a cycle"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckParent(tc.nodes, tc.group, tc.parent)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if ErrorCode(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v (code %q), want code %s containing %q", err, ErrorCode(err), tc.code, tc.msg)
			}
		})
	}
}

func TestScopes(t *testing.T) {
	tree := NewGroupTree(treeNodes())
	tests := []struct {
		groups []string
		want   []string // first group of each scope
	}{
		{nil, []string{GroupAll}},
		{[]string{GroupAll}, []string{GroupAll}},
		{[]string{GroupAll, "prod"}, []string{"prod"}},
		{[]string{GroupAll, "prod", "prod-eu"}, []string{"prod-eu"}},                   // prod is prod-eu's ancestor
		{[]string{GroupAll, "prod", "prod-eu-paris-cc"}, []string{"prod-eu-paris-cc"}}, // also from far below
		{[]string{GroupAll, "prod-eu", "prod-us"}, []string{"prod-eu", "prod-us"}},
		{[]string{GroupAll, "prod-eu", "test"}, []string{"prod-eu", "test"}},
	}
	for _, tc := range tests {
		var got []string
		for _, s := range tree.Scopes(tc.groups) {
			got = append(got, s[0])
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Scopes(%v) = %v, want %v", tc.groups, got, tc.want)
		}
	}
}

func TestResolveScoped(t *testing.T) {
	tree := NewGroupTree(treeNodes())
	a := func(group string, act Action, deadline *time.Time) Approval {
		return Approval{UpdateID: "U1", Group: group, Action: act, Deadline: deadline}
	}
	tests := []struct {
		name      string
		groups    []string
		approvals []Approval
		want      Effective
	}{
		{"nothing", []string{GroupAll, "prod-eu"}, nil, Effective{}},
		{"inherited from the parent", []string{GroupAll, "prod-eu"},
			[]Approval{a("prod", ActionInstall, at(d2))}, Effective{Action: ActionInstall, Group: "prod", Deadline: at(d2)}},
		{"inherited from all", []string{GroupAll, "prod-eu-paris-cc"},
			[]Approval{a(GroupAll, ActionInstall, at(d1))}, Effective{Action: ActionInstall, Group: GroupAll, Deadline: at(d1)}},
		{"inherited down a deep chain", []string{GroupAll, "prod-eu-paris-cc"},
			[]Approval{a("prod", ActionInstall, nil), a(GroupAll, ActionUninstall, nil)}, Effective{Action: ActionInstall, Group: "prod"}},
		{"the nearest ancestor wins", []string{GroupAll, "prod-eu-paris-cc"},
			[]Approval{a("prod", ActionDecline, nil), a("prod-eu-paris", ActionInstall, at(d3))}, Effective{Action: ActionInstall, Group: "prod-eu-paris", Deadline: at(d3)}},
		{"a child's decline beats the parent's install", []string{GroupAll, "prod-eu"},
			[]Approval{a("prod", ActionInstall, nil), a("prod-eu", ActionDecline, nil)}, Effective{Action: ActionDecline, Group: "prod-eu"}},
		{"a child's install beats the parent's decline", []string{GroupAll, "prod-eu"},
			[]Approval{a("prod", ActionDecline, nil), a("prod-eu", ActionInstall, at(d1))}, Effective{Action: ActionInstall, Group: "prod-eu", Deadline: at(d1)}},
		{"a child's later deadline overrides the parent's", []string{GroupAll, "prod-eu"},
			[]Approval{a("prod", ActionInstall, at(d1)), a("prod-eu", ActionInstall, at(d3))}, Effective{Action: ActionInstall, Group: "prod-eu", Deadline: at(d3)}},
		{"a child's uninstall beats an install for all", []string{GroupAll, "test"},
			[]Approval{a(GroupAll, ActionInstall, nil), a("test", ActionUninstall, nil)}, Effective{Action: ActionUninstall, Group: "test"}},
		{"a decline for all is global", []string{GroupAll, "prod-eu"},
			[]Approval{a(GroupAll, ActionDecline, nil), a("prod-eu", ActionInstall, nil)}, Effective{Action: ActionDecline, Group: GroupAll}},
		{"membership in a group and its ancestor: the deeper one speaks", []string{GroupAll, "prod", "prod-eu"},
			[]Approval{a("prod", ActionInstall, nil), a("prod-eu", ActionDecline, nil)}, Effective{Action: ActionDecline, Group: "prod-eu"}},
		{"two scopes: decline in one beats install in the other", []string{GroupAll, "prod-eu", "prod-us"},
			[]Approval{a("prod", ActionInstall, nil), a("prod-eu", ActionDecline, nil)}, Effective{Action: ActionDecline, Group: "prod-eu"}},
		{"two scopes: install beats uninstall", []string{GroupAll, "prod-eu", "test"},
			[]Approval{a("prod", ActionInstall, at(d3)), a("test", ActionUninstall, nil)}, Effective{Action: ActionInstall, Group: "prod", Deadline: at(d3)}},
		{"two scopes: earliest deadline among their nearest installs", []string{GroupAll, "prod-eu", "test"},
			[]Approval{a("prod", ActionInstall, at(d3)), a("test", ActionInstall, at(d2)), a(GroupAll, ActionInstall, at(d1))},
			Effective{Action: ActionInstall, Group: "prod", Deadline: at(d2)}},
		{"two scopes sharing an ancestor's approval", []string{GroupAll, "prod-eu", "prod-us"},
			[]Approval{a("prod", ActionInstall, at(d2))}, Effective{Action: ActionInstall, Group: "prod", Deadline: at(d2)}},
		{"groups the host is not in are ignored", []string{GroupAll, "prod-eu"},
			[]Approval{a("prod-us", ActionDecline, nil), a("prod-eu-paris", ActionDecline, nil)}, Effective{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ResolveScoped(tc.approvals, tree.Scopes(tc.groups))
			if got.Action != tc.want.Action || got.Group != tc.want.Group || !sameTime(got.Deadline, tc.want.Deadline) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			// The order of approvals never matters.
			rev := slices.Clone(tc.approvals)
			slices.Reverse(rev)
			if again := ResolveScoped(rev, tree.Scopes(tc.groups)); again.Action != got.Action || !sameTime(again.Deadline, got.Deadline) {
				t.Fatalf("reversed approvals: %+v, want %+v", again, got)
			}
		})
	}
}

func TestResolveScopedFlatMatchesResolveWithoutAll(t *testing.T) {
	// In a flat tree, approvals of groups other than all combine exactly
	// as Resolve combines them.
	groups := []string{GroupAll, "prod", "web"}
	as := []Approval{appr("prod", ActionInstall, at(d2)), appr("web", ActionInstall, at(d1)), appr("test", ActionDecline, nil)}
	var flat *GroupTree
	got, want := ResolveScoped(as, flat.Scopes(groups)), Resolve(as, groups)
	if got.Action != want.Action || got.Group != want.Group || !sameTime(got.Deadline, want.Deadline) {
		t.Fatalf("ResolveScoped = %+v, Resolve = %+v", got, want)
	}
}

func sameTime(a, b *time.Time) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && a.Equal(*b))
}

func TestTreeWindows(t *testing.T) {
	tree := NewGroupTree(treeNodes())
	win := func(g string) CompiledWindow {
		c, err := Window{Group: g, Schedule: "0 22 * * *", Duration: time.Hour, TimeZone: "UTC"}.Compile()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	byGroup := func(groups ...string) map[string]CompiledWindow {
		m := map[string]CompiledWindow{}
		for _, g := range groups {
			m[g] = win(g)
		}
		return m
	}
	tests := []struct {
		name    string
		windows map[string]CompiledWindow
		groups  []string
		want    []string
	}{
		{"no windows", nil, []string{GroupAll, "prod-eu"}, nil},
		{"inherited from all", byGroup(GroupAll), []string{GroupAll, "prod-eu"}, []string{GroupAll}},
		{"inherited down a deep chain", byGroup("prod"), []string{GroupAll, "prod-eu-paris-cc"}, []string{"prod"}},
		{"a child's window replaces the parent's", byGroup("prod", "prod-eu"), []string{GroupAll, "prod-eu"}, []string{"prod-eu"}},
		{"a child's window replaces all's", byGroup(GroupAll, "test"), []string{GroupAll, "test"}, []string{"test"}},
		{"the nearest ancestor's window", byGroup(GroupAll, "prod", "prod-eu-paris"), []string{GroupAll, "prod-eu-paris-cc"}, []string{"prod-eu-paris"}},
		{"two scopes: one window each", byGroup("prod-eu", "test"), []string{GroupAll, "prod-eu", "test"}, []string{"prod-eu", "test"}},
		{"two scopes: one inherits all's", byGroup(GroupAll, "prod"), []string{GroupAll, "prod-eu", "test"}, []string{GroupAll, "prod"}},
		{"two scopes sharing an ancestor's window", byGroup("prod"), []string{GroupAll, "prod-eu", "prod-us"}, []string{"prod"}},
		{"a scope without any window adds none", byGroup("prod"), []string{GroupAll, "prod-eu", "test"}, []string{"prod"}},
		{"membership in the ancestor too", byGroup("prod", "prod-eu"), []string{GroupAll, "prod", "prod-eu"}, []string{"prod-eu"}},
	}
	for _, tc := range tests {
		var got []string
		for _, w := range tree.Windows(tc.windows, tc.groups) {
			got = append(got, w.Group)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: windows %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRebootPolicyFor(t *testing.T) {
	tree := NewGroupTree(treeNodes())
	tests := []struct {
		groups []string
		want   RebootPolicy
	}{
		{[]string{GroupAll}, RebootPolicyIfRequired}, // the default
		{[]string{GroupAll, "test"}, RebootPolicyIfRequired},
		{[]string{GroupAll, "lab"}, RebootPolicyAlways},
		{[]string{GroupAll, "prod-us"}, RebootPolicyNever},                    // inherited from prod
		{[]string{GroupAll, "prod-eu-paris-cc"}, RebootPolicyIfRequired},      // prod-eu-paris overrides prod
		{[]string{GroupAll, "prod", "prod-eu-paris"}, RebootPolicyIfRequired}, // the deeper group speaks
		{[]string{GroupAll, "lab", "test"}, RebootPolicyIfRequired},           // most restrictive of the scopes
		{[]string{GroupAll, "lab", "prod-us"}, RebootPolicyNever},
		{[]string{GroupAll, "unknown"}, RebootPolicyIfRequired},
	}
	for _, tc := range tests {
		if got := tree.RebootPolicyFor(tc.groups); got != tc.want {
			t.Errorf("RebootPolicyFor(%v) = %s, want %s", tc.groups, got, tc.want)
		}
	}
	// A policy for all reaches every group that sets none.
	withAll := NewGroupTree(append(treeNodes()[1:], GroupNode{Name: GroupAll, RebootPolicy: RebootPolicyNever}))
	if got := withAll.RebootPolicyFor([]string{GroupAll, "test"}); got != RebootPolicyNever {
		t.Errorf("test below all=never: %s", got)
	}
	if got := withAll.RebootPolicyFor([]string{GroupAll, "unknown"}); got != RebootPolicyNever {
		t.Errorf("unknown group below all=never: %s", got)
	}
	var flat *GroupTree
	if got := flat.RebootPolicyFor([]string{GroupAll, "x"}); got != DefaultRebootPolicy {
		t.Errorf("flat: %s", got)
	}
	if got := MostRestrictive(); got != DefaultRebootPolicy {
		t.Errorf("MostRestrictive() = %s", got)
	}
}

func TestComputePlanNestedGroups(t *testing.T) {
	tree := NewGroupTree(treeNodes())
	cat := NewCatalog([]Update{upd("A"), upd("B"), upd("C")})
	as := NewApprovalIndex([]Approval{
		install("A", "prod"), decline("A", "prod-eu-paris"), // paris opts out of A
		install("B", GroupAll),
		decline("C", "prod"), install("C", "prod-eu"), // prod-eu opts in to C
	})
	h := planHost()
	h.Tree = tree
	for _, tc := range []struct {
		group  string
		want   []string
		policy RebootPolicy
	}{
		{"prod-us", []string{"install:A", "install:B"}, RebootPolicyNever},
		{"prod-eu", []string{"install:A", "install:B", "install:C"}, RebootPolicyNever},
		{"prod-eu-paris-cc", []string{"install:B", "install:C"}, RebootPolicyIfRequired},
	} {
		h.Groups = []string{GroupAll, tc.group}
		p := ComputePlan(cat, as, h)
		if got := steps(p); !slices.Equal(got, tc.want) {
			t.Errorf("host in %s: items %v, want %v", tc.group, got, tc.want)
		}
		if p.RebootPolicy != tc.policy {
			t.Errorf("host in %s: reboot policy %s, want %s", tc.group, p.RebootPolicy, tc.policy)
		}
	}
}

// TestComplianceNestedGroups: a group's row shows the approval its hosts
// get through the tree.
func TestComplianceNestedGroups(t *testing.T) {
	in := complianceFleet()
	in.UpdateID = "U1"
	// test sits below prod; prod declines U1, all installs it.
	in.Tree = NewGroupTree([]GroupNode{{Name: GroupAll}, {Name: "prod"}, {Name: "test", Parent: "prod"}})
	for _, tc := range []struct {
		approvals []Approval
		want      map[string]Action
	}{
		{[]Approval{install("U1", GroupAll), decline("U1", "prod")}, map[string]Action{GroupAll: ActionInstall, "prod": ActionDecline, "test": ActionDecline}},
		{[]Approval{install("U1", "prod")}, map[string]Action{GroupAll: "", "prod": ActionInstall, "test": ActionInstall}},
		{[]Approval{decline("U1", "prod"), install("U1", "test")}, map[string]Action{GroupAll: "", "prod": ActionDecline, "test": ActionInstall}},
	} {
		in.Approvals = tc.approvals
		for _, r := range Compliance(in) {
			if r.Approval != tc.want[r.Group] {
				t.Errorf("%v: group %s approval %q, want %q", tc.approvals, r.Group, r.Approval, tc.want[r.Group])
			}
		}
	}
}
