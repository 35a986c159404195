package patchgate

import (
	"testing"
	"time"
)

// benchTree nests the groups of benchApprovalList: prod and web get
// descendants, and the hosts of benchPlanHosts move into the deepest ones,
// so every approval reaches them through two or three ancestors.
func benchTree() (*GroupTree, map[string]string) {
	tree := NewGroupTree([]GroupNode{
		{Name: "prod"}, {Name: "prod-eu", Parent: "prod"}, {Name: "prod-eu-paris", Parent: "prod-eu"},
		{Name: "web"}, {Name: "web-eu", Parent: "web"},
		{Name: "test"}, {Name: "db"},
	})
	return tree, map[string]string{"prod": "prod-eu-paris", "web": "web-eu"}
}

// BenchmarkComputePlanNested is BenchmarkComputePlan with the hosts two or
// three levels below the groups their approvals are for; compare the two
// (same catalog, approvals and hosts).
func BenchmarkComputePlanNested(b *testing.B) {
	updates := benchCatalog()
	cat := NewCatalog(updates)
	idx := NewApprovalIndex(benchApprovalList(updates))
	hosts := benchPlanHosts()
	tree, leaf := benchTree()
	items := 0
	for i := range hosts {
		h := &hosts[i]
		groups := make([]string, len(h.Groups))
		for j, g := range h.Groups {
			groups[j] = g
			if l, ok := leaf[g]; ok {
				groups[j] = l
			}
		}
		h.Groups, h.Tree = groups, tree
		items += len(ComputePlan(cat, idx, *h).Items)
	}
	if items == 0 {
		b.Fatal("benchmark fleet plans nothing")
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		ComputePlan(cat, idx, hosts[i%len(hosts)])
		i++
	}
	b.ReportMetric(float64(items)/float64(len(hosts)), "items/plan")
}

func benchWindows(b *testing.B) map[string]CompiledWindow {
	m := map[string]CompiledWindow{}
	for _, g := range []string{GroupAll, "prod", "web"} {
		c, err := Window{Group: g, Schedule: "0 22 * * sat", Duration: 4 * time.Hour, TimeZone: "Europe/Paris"}.Compile()
		if err != nil {
			b.Fatal(err)
		}
		m[g] = c
	}
	return m
}

// BenchmarkHostWindowsFlat and BenchmarkHostWindowsNested measure what the
// 304 path adds per check-in when windows exist: the flat lookup of the
// host's own groups, and the tree's (nearest window per scope).
func BenchmarkHostWindowsFlat(b *testing.B) {
	ws := benchWindows(b)
	groups := []string{GroupAll, "prod", "web"}
	b.ReportAllocs()
	for b.Loop() {
		HostWindows(ws, groups)
	}
}

func BenchmarkHostWindowsNested(b *testing.B) {
	ws := benchWindows(b)
	tree, _ := benchTree()
	groups := []string{GroupAll, "prod-eu-paris", "web-eu"}
	if got := tree.Windows(ws, groups); len(got) != 2 {
		b.Fatalf("windows %d", len(got))
	}
	b.ReportAllocs()
	for b.Loop() {
		tree.Windows(ws, groups)
	}
}
