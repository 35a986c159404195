package patchgate

import (
	"context"
	"sort"
	"strings"
)

// Nested groups. A group may have a parent; GroupAll is the implicit root,
// the parent of every group that names none. Approvals, maintenance windows
// and reboot policies set on a group reach its descendants unless a
// descendant sets its own: the deeper group wins. The combination rule for
// one host and one update:
//
//  1. The host's *scopes* are its groups minus those that are an ancestor
//     of another of its groups (every host is in GroupAll, which is the
//     ancestor of everything: it only speaks through the deeper groups).
//  2. Per scope, the effective setting is the one of the nearest group
//     walking up from the scope to GroupAll: the scope's own, else its
//     parent's, and so on. A child's decline beats its parent's install,
//     and a child's install beats its parent's decline.
//  3. Across the host's scopes the flat rule applies (Resolve): decline >
//     install > uninstall, the earliest deadline among the winning
//     approvals; a window open in any scope lets the host install; the most
//     restrictive reboot policy wins (never > if-required > always).
//
// One exception keeps WSUS's global decline: a decline made for GroupAll
// (what `patchgate decline` does without --group) is never overridden.

// MaxGroupDepth bounds the nesting of groups (GroupAll is depth 0).
const MaxGroupDepth = 16

// RebootPolicy says whether the hosts of a group reboot after installing.
type RebootPolicy string

const (
	// RebootPolicyNever: never reboot; updates that need one stay
	// reboot-pending until an operator reboots the host.
	RebootPolicyNever RebootPolicy = "never"
	// RebootPolicyIfRequired: reboot when an installed update needs it
	// (the update says required, or says may and its installer asked).
	RebootPolicyIfRequired RebootPolicy = "if-required"
	// RebootPolicyAlways: reboot after every cycle that changed something.
	RebootPolicyAlways RebootPolicy = "always"
)

// DefaultRebootPolicy applies where neither a group nor any ancestor sets
// one.
const DefaultRebootPolicy = RebootPolicyIfRequired

// RebootPolicies lists the valid policies, most restrictive first.
var RebootPolicies = []RebootPolicy{RebootPolicyNever, RebootPolicyIfRequired, RebootPolicyAlways}

// Valid reports whether p is one of RebootPolicies.
func (p RebootPolicy) Valid() bool { return p.restriction() > 0 }

// restriction ranks policies: never 3, if-required 2, always 1, invalid 0.
func (p RebootPolicy) restriction() int {
	for i, v := range RebootPolicies {
		if p == v {
			return len(RebootPolicies) - i
		}
	}
	return 0
}

// MostRestrictive returns the policy of ps that reboots least; the default
// if ps is empty.
func MostRestrictive(ps ...RebootPolicy) RebootPolicy {
	best := RebootPolicy("")
	for _, p := range ps {
		if p.restriction() > best.restriction() {
			best = p
		}
	}
	if best == "" {
		return DefaultRebootPolicy
	}
	return best
}

// GroupNode is where a group sits in the tree and what it sets itself.
type GroupNode struct {
	Name string `json:"name"`
	// Parent is "" for a group directly below GroupAll.
	Parent string `json:"parent,omitempty"`
	// RebootPolicy is the group's own policy; "" inherits.
	RebootPolicy RebootPolicy `json:"reboot_policy,omitempty"`
}

// GroupTreeStore holds the parents and reboot policies of groups.
type GroupTreeStore interface {
	// SetGroupParent moves group below parent ("" = below GroupAll), in
	// one transaction with ev. Both must exist (not_found); a move that
	// would make a cycle or nest deeper than MaxGroupDepth is refused
	// (CheckParent), checked inside the transaction.
	SetGroupParent(ctx context.Context, group, parent string, ev Event) error
	// SetGroupRebootPolicy sets group's own reboot policy ("" = inherit),
	// in one transaction with ev.
	SetGroupRebootPolicy(ctx context.Context, group string, p RebootPolicy, ev Event) error
	// GroupNodes returns every group's node, ordered by name (cheap: no
	// host counts).
	GroupNodes(ctx context.Context) ([]GroupNode, error)
}

// Event types of the group tree.
const (
	EventGroupParentSet  = "group.parent-set"
	EventGroupRebootSet  = "group.reboot-policy-set"
	EventRebootLoopGuard = "reboot.loop-guard"
)

// NormalizeParent maps the spellings of "no parent" to "".
func NormalizeParent(parent string) string {
	if parent == GroupAll {
		return ""
	}
	return parent
}

// CheckParent reports whether group may be moved below parent, given the
// current nodes: GroupAll has no parent, a group cannot be its own
// ancestor (the error names the cycle), and the tree stays at most
// MaxGroupDepth deep. Existence is the store's business.
func CheckParent(nodes []GroupNode, group, parent string) error {
	parent = NormalizeParent(parent)
	if group == GroupAll {
		return Invalid("group", "group %q is the root of every group: it has no parent", GroupAll)
	}
	if parent == "" {
		return nil
	}
	parents := make(map[string]string, len(nodes))
	children := make(map[string][]string, len(nodes))
	for _, n := range nodes {
		parents[n.Name] = NormalizeParent(n.Parent)
		if p := NormalizeParent(n.Parent); p != "" {
			children[p] = append(children[p], n.Name)
		}
	}
	// Walk up from parent: meeting group closes a cycle.
	path := []string{group, parent}
	depth := 1 // parent's depth below GroupAll
	for cur, seen := parent, map[string]bool{parent: true}; ; {
		if cur == group {
			return Errorf(CodeConflict, "group %q cannot be below %q: that makes a cycle %s", group, parent, strings.Join(path, " → "))
		}
		next := parents[cur]
		if next == "" {
			break
		}
		if seen[next] {
			return Errorf(CodeConflict, "the groups above %q already form a cycle (%s)", parent, strings.Join(append(path, next), " → "))
		}
		seen[next] = true
		path = append(path, next)
		cur = next
		depth++
	}
	// The subtree below group moves along.
	var height func(g string, n int) int
	height = func(g string, n int) int {
		if n > MaxGroupDepth+1 {
			return n
		}
		h := 0
		for _, c := range children[g] {
			h = max(h, 1+height(c, n+1))
		}
		return h
	}
	if d := depth + 1 + height(group, 0); d > MaxGroupDepth {
		return Invalid("parent", "moving %q below %q nests groups %d deep; at most %d", group, parent, d, MaxGroupDepth)
	}
	return nil
}

// GroupTree is the parents of groups with every group's chain (itself up
// to GroupAll) and effective reboot policy precomputed, for check-ins. A
// nil *GroupTree is the flat tree: every group directly below GroupAll,
// with the default reboot policy.
type GroupTree struct {
	chains map[string][]string
	reboot map[string]RebootPolicy // effective, per group
	nested bool                    // some group has a parent
}

// NewGroupTree builds the tree of nodes. A parent that is not a known
// group counts as GroupAll; a cycle (which the stores refuse) is cut where
// it closes, so that every chain is finite.
func NewGroupTree(nodes []GroupNode) *GroupTree {
	t := &GroupTree{chains: make(map[string][]string, len(nodes)+1), reboot: make(map[string]RebootPolicy, len(nodes)+1)}
	byName := make(map[string]GroupNode, len(nodes))
	for _, n := range nodes {
		byName[n.Name] = n
	}
	for _, n := range nodes {
		if n.Name == GroupAll {
			continue
		}
		chain := []string{n.Name}
		seen := map[string]bool{n.Name: true}
		for cur := n; ; {
			p := NormalizeParent(cur.Parent)
			pn, ok := byName[p]
			if p == "" || !ok || seen[p] || len(chain) > MaxGroupDepth {
				break
			}
			t.nested = true
			seen[p] = true
			chain = append(chain, p)
			cur = pn
		}
		chain = append(chain, GroupAll)
		t.chains[n.Name] = chain
	}
	t.chains[GroupAll] = []string{GroupAll}
	for g, chain := range t.chains {
		t.reboot[g] = DefaultRebootPolicy
		for _, c := range chain {
			if p := byName[c].RebootPolicy; p.Valid() {
				t.reboot[g] = p
				break
			}
		}
	}
	return t
}

// Chain returns group and its ancestors, nearest first, ending with
// GroupAll.
func (t *GroupTree) Chain(group string) []string {
	if t != nil {
		if c, ok := t.chains[group]; ok {
			return c
		}
	}
	if group == GroupAll {
		return []string{GroupAll}
	}
	return []string{group, GroupAll}
}

// Parent returns the parent of group ("" for GroupAll).
func (t *GroupTree) Parent(group string) string {
	if c := t.Chain(group); len(c) > 1 {
		return c[1]
	}
	return ""
}

// Scopes returns the chains of a host's groups that are not an ancestor of
// another of its groups, in the order of hostGroups. A host with no
// groups has the scope of GroupAll.
func (t *GroupTree) Scopes(hostGroups []string) [][]string {
	out := make([][]string, 0, len(hostGroups))
	t.eachScope(hostGroups, func(chain []string) { out = append(out, chain) })
	return out
}

// eachScope calls f with the chain of each scope, without allocating for
// known groups (the check-in path calls it for every 304 with windows).
func (t *GroupTree) eachScope(hostGroups []string, f func(chain []string)) {
	n := 0
	for _, g := range hostGroups {
		if !t.isAncestorOfAny(g, hostGroups) {
			f(t.Chain(g))
			n++
		}
	}
	if n == 0 {
		f(t.Chain(GroupAll))
	}
}

// isAncestorOfAny reports whether g is a proper ancestor of one of groups.
func (t *GroupTree) isAncestorOfAny(g string, groups []string) bool {
	if g == GroupAll {
		for _, h := range groups {
			if h != GroupAll {
				return true
			}
		}
		return false
	}
	if t == nil || !t.nested {
		return false // flat: only GroupAll is anyone's ancestor
	}
	for _, h := range groups {
		if h == g {
			continue
		}
		c := t.Chain(h)
		for _, a := range c[1:] {
			if a == g {
				return true
			}
		}
	}
	return false
}

// ResolveScoped combines the approvals of one update for a host whose
// scopes are given (GroupTree.Scopes): per scope the nearest approval wins,
// then Resolve's rule across scopes. A decline for GroupAll wins over
// everything.
func ResolveScoped(approvals []Approval, scopes [][]string) Effective {
	for _, a := range approvals {
		if a.Group == GroupAll && a.Action == ActionDecline {
			return Effective{Action: ActionDecline, Group: GroupAll}
		}
	}
	var eff Effective
	for _, chain := range scopes {
	walk:
		for _, g := range chain {
			for _, a := range approvals {
				if a.Group == g {
					eff.add(a)
					break walk
				}
			}
		}
	}
	return eff.finish()
}

// Windows returns, ordered by group, the maintenance windows that apply to
// a host: per scope the window of the nearest group that has one. A host
// none of whose scopes inherits a window gets none (it installs at any
// time).
func (t *GroupTree) Windows(byGroup map[string]CompiledWindow, hostGroups []string) []CompiledWindow {
	if len(byGroup) == 0 {
		return nil
	}
	var out []CompiledWindow
	t.eachScope(hostGroups, func(chain []string) {
		for _, g := range chain {
			w, ok := byGroup[g]
			if !ok {
				continue
			}
			for _, o := range out {
				if o.Group == g {
					return
				}
			}
			out = append(out, w)
			return
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// RebootPolicyFor returns a host's reboot policy: per scope the policy of
// the nearest group that sets one (else the default), and across scopes
// the most restrictive.
func (t *GroupTree) RebootPolicyFor(hostGroups []string) RebootPolicy {
	return t.rebootPolicy(t.Scopes(hostGroups))
}

func (t *GroupTree) rebootPolicy(scopes [][]string) RebootPolicy {
	best := RebootPolicy("")
	for _, chain := range scopes {
		p := DefaultRebootPolicy
		if t != nil {
			if q, ok := t.reboot[chain[0]]; ok {
				p = q
			} else if q, ok := t.reboot[GroupAll]; ok {
				p = q // a group the tree does not know hangs below GroupAll
			}
		}
		if p.restriction() > best.restriction() {
			best = p
		}
	}
	return MostRestrictive(best)
}
