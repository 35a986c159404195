package patchgate

import (
	"fmt"
	"math/rand"
	"testing"
	"time"
)

const (
	benchUpdates   = 10000
	benchProducts  = 100
	benchApprovals = 1000
	benchHosts     = 100
)

// benchCatalog builds a catalog of benchUpdates updates spread over
// benchProducts products (100 updates each), with version constraints,
// supersedence chains and prerequisites like a real vendor's: every tenth
// update of a product is a service release that supersedes the nine
// hotfixes before it, and hotfixes require the latest service release.
func benchCatalog() []Update {
	updates := make([]Update, 0, benchUpdates)
	perProduct := benchUpdates / benchProducts
	for p := range benchProducts {
		product := fmt.Sprintf("product-%03d", p)
		lastSR := ""
		for i := range perProduct {
			id := fmt.Sprintf("%s-U%04d", product, i)
			u := upd(id, pc(product, fmt.Sprintf(">=%d.0, <%d.0", i/25, i/25+2)))
			if i%10 == 9 {
				u.Kind = KindServiceRelease
				for j := i - 9; j < i; j++ {
					u.Supersedes = append(u.Supersedes, fmt.Sprintf("%s-U%04d", product, j))
				}
				lastSR = id
			} else if lastSR != "" {
				u.Requires = []string{lastSR}
			}
			updates = append(updates, u)
		}
	}
	return updates
}

func benchApprovalList(updates []Update) []Approval {
	r := rand.New(rand.NewSource(1))
	groups := []string{GroupAll, "prod", "test", "web", "db"}
	deadline := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	as := make([]Approval, 0, benchApprovals)
	for _, i := range r.Perm(len(updates))[:benchApprovals] {
		a := Approval{UpdateID: updates[i].ID, Group: groups[r.Intn(len(groups))], Action: ActionInstall}
		switch r.Intn(20) {
		case 0:
			a.Action = ActionDecline
		case 1:
			a.Action = ActionUninstall
		case 2, 3:
			a.Deadline = &deadline
		}
		as = append(as, a)
	}
	return as
}

// benchPlanHosts are hosts with 3 products each, some updates installed.
func benchPlanHosts() []PlanHost {
	r := rand.New(rand.NewSource(2))
	hosts := make([]PlanHost, benchHosts)
	for i := range hosts {
		h := PlanHost{ID: fmt.Sprintf("host-%03d", i), Mode: ModeAutomatic, Groups: []string{GroupAll, []string{"prod", "test"}[i%2], "web"}}
		for _, p := range r.Perm(benchProducts)[:3] {
			product := fmt.Sprintf("product-%03d", p)
			h.Products = append(h.Products, ip(product, fmt.Sprintf("%d.5", r.Intn(4))))
			for j := range r.Intn(20) {
				h.Installed = append(h.Installed, fmt.Sprintf("%s-U%04d", product, j))
			}
		}
		hosts[i] = h
	}
	return hosts
}

func BenchmarkComputePlan(b *testing.B) {
	updates := benchCatalog()
	cat := NewCatalog(updates)
	idx := NewApprovalIndex(benchApprovalList(updates))
	hosts := benchPlanHosts()
	items, blocked := 0, 0
	for _, h := range hosts {
		p := ComputePlan(cat, idx, h)
		items += len(p.Items)
		blocked += len(p.Blocked)
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
	b.ReportMetric(float64(blocked)/float64(len(hosts)), "blocked/plan")
}

func BenchmarkNewCatalog(b *testing.B) {
	updates := benchCatalog()
	b.ReportAllocs()
	for b.Loop() {
		NewCatalog(updates)
	}
}

func BenchmarkResolve(b *testing.B) {
	deadline := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	approvals := []Approval{
		{UpdateID: "U", Group: GroupAll, Action: ActionInstall},
		{UpdateID: "U", Group: "prod", Action: ActionInstall, Deadline: &deadline},
		{UpdateID: "U", Group: "test", Action: ActionUninstall},
		{UpdateID: "U", Group: "web", Action: ActionInstall},
		{UpdateID: "U", Group: "db", Action: ActionDecline},
	}
	hostGroups := []string{GroupAll, "prod", "web"}
	b.ReportAllocs()
	for b.Loop() {
		if Resolve(approvals, hostGroups).Action != ActionInstall {
			b.Fatal("wrong result")
		}
	}
}

func BenchmarkCompareVersions(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		CompareVersions("1:2.36-9+deb12u4", "1:2.36-9+deb12u10")
		CompareVersions("7.2(1)", "7.2(10)")
	}
}

func BenchmarkCompliance(b *testing.B) {
	updates := benchCatalog()[:1000]
	in := ComplianceInput{Catalog: NewCatalog(updates), Approvals: benchApprovalList(benchCatalog())[:100], Now: t0}
	for i, ph := range benchPlanHosts() {
		in.Hosts = append(in.Hosts, Host{ID: ph.ID, Inventory: Inventory{Hostname: ph.ID, Mode: []Mode{ModeAutomatic, ModeManual}[i%2],
			Products: ph.Products, Installed: ph.Installed}, Groups: ph.Groups, LastCheckin: t0})
	}
	b.ReportAllocs()
	for b.Loop() {
		Compliance(in)
	}
}

// BenchmarkApplicable is the applicability test of one update against a
// host's products (constraint matching with dpkg version comparison).
func BenchmarkApplicable(b *testing.B) {
	updates := benchCatalog()
	cat := NewCatalog(updates)
	hosts := benchPlanHosts()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h := hosts[i%len(hosts)]
		cat.Applicable(updates[i%len(updates)].ID, h.Products)
		i++
	}
}
