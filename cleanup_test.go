package patchgate

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestCatalogNeeds(t *testing.T) {
	cat := NewCatalog([]Update{upd("HF1"), upd("HF2"), supersedes(upd("SR1"), "HF1", "HF2"), supersedes(upd("SR2"), "SR1"),
		supersedes(upd("DBSR", pc("db", "")), "HF2")})
	host := func(mut func(*PlanHost)) PlanHost {
		h := planHost()
		if mut != nil {
			mut(&h)
		}
		return h
	}
	cases := []struct {
		name      string
		approvals []Approval
		h         PlanHost
		id        string
		want      bool
	}{
		{"applies, nothing covers it", nil, host(nil), "HF1", true},
		{"applies, not approved itself: still needed", []Approval{decline("HF1", "prod")}, host(nil), "HF1", true},
		{"installed", nil, host(func(h *PlanHost) { h.Installed = []string{"HF1"} }), "HF1", false},
		{"reboot pending", nil, host(func(h *PlanHost) { h.RebootPending = []string{"HF1"} }), "HF1", false},
		{"not applicable", nil, host(func(h *PlanHost) { h.Products = []InstalledProduct{ip("db", "1")} }), "HF1", false},
		{"superseding SR installed", nil, host(func(h *PlanHost) { h.Installed = []string{"SR1"} }), "HF1", false},
		{"SR of the SR installed (chain)", nil, host(func(h *PlanHost) { h.Installed = []string{"SR2"} }), "HF1", false},
		{"superseding SR approved and applicable", []Approval{install("SR1", "prod")}, host(nil), "HF1", false},
		{"superseding SR approved through the chain", []Approval{install("SR2", GroupAll)}, host(nil), "HF2", false},
		{"superseding SR approved for another group", []Approval{install("SR1", "test")}, host(nil), "HF1", true},
		{"superseding SR declined for the host", []Approval{install("SR1", "prod"), decline("SR1", GroupAll)}, host(nil), "HF1", true},
		{"superseding update approved but not applicable", []Approval{install("DBSR", "prod")}, host(nil), "HF2", true},
		{"unknown update", nil, host(nil), "nope", false},
	}
	for _, c := range cases {
		if got := cat.Needs(NewApprovalIndex(c.approvals), c.h, c.id); got != c.want {
			t.Errorf("%s: Needs = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestDecideCleanup(t *testing.T) {
	now := time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC)
	ago := func(d int) time.Time { return now.Add(-time.Duration(d) * 24 * time.Hour) }
	cat := NewCatalog([]Update{upd("OLD"), upd("YOUNG"), upd("NEEDED"), upd("GONE"), upd("LIVE"),
		supersedes(upd("SR1"), "OLD", "NEEDED", "GONE"), supersedes(upd("SR2"), "YOUNG"), supersedes(upd("DBSR", pc("db", "")), "NEEDED")})
	states := []ReleaseState{
		{UpdateID: "OLD", Status: StatusSuperseded, Since: ago(40)},
		{UpdateID: "NEEDED", Status: StatusSuperseded, Since: ago(35)},
		{UpdateID: "YOUNG", Status: StatusSuperseded, Since: ago(10)},
		{UpdateID: "GONE", Status: StatusSuperseded, Since: ago(60)}, // already declined
		{UpdateID: "LIVE", Status: StatusPosted, Since: ago(90)},
		{UpdateID: "SR1", Status: StatusPosted, Since: ago(40)},
		{UpdateID: "MISSING", Status: StatusSuperseded, Since: ago(90)}, // not in the view
	}
	approvals := NewApprovalIndex([]Approval{install("SR1", "prod"), decline("GONE", GroupAll), decline("NEEDED", "prod")})
	// h1 and h2 are in prod (SR1 approved): covered. h3 is in lab only:
	// it needs NEEDED unless it has it; it has OLD; NEEDED is needed there.
	hosts := []PlanHost{
		{ID: "h1", Groups: []string{GroupAll, "prod"}, Products: []InstalledProduct{ip("app", "1")}},
		{ID: "h2", Groups: []string{GroupAll, "prod"}, Products: []InstalledProduct{ip("app", "1")}, Installed: []string{"SR1"}},
		{ID: "h3", Groups: []string{GroupAll, "lab"}, Products: []InstalledProduct{ip("app", "1")}, Installed: []string{"OLD"}},
		{ID: "h4", Groups: []string{GroupAll, "lab"}, Products: []InstalledProduct{ip("db", "1")}},
	}
	items := DecideCleanup(cat, approvals, states, hosts, CleanupAgeDefault, now)
	var got []string
	for _, it := range items {
		got = append(got, it.UpdateID+":"+map[bool]string{true: "decline", false: "keep"}[it.Decline])
	}
	if want := "OLD:decline,NEEDED:keep,YOUNG:keep"; strings.Join(got, ",") != want {
		t.Fatalf("decisions %v, want %s", got, want)
	}
	old, needed, young := items[0], items[1], items[2]
	if !strings.Contains(old.Reason, "no host needs it") || strings.Join(old.SupersededBy, ",") != "SR1" || !old.SupersededAt.Equal(ago(40)) {
		t.Errorf("OLD: %+v", old)
	}
	if needed.NeededBy != 1 || strings.Join(needed.Hosts, ",") != "h3" || !strings.Contains(needed.Reason, "still needed by 1 host") ||
		strings.Join(needed.SupersededBy, ",") != "DBSR,SR1" {
		t.Errorf("NEEDED: %+v", needed)
	}
	if young.Reason != "superseded 10d ago, less than 30d" {
		t.Errorf("YOUNG: %q", young.Reason)
	}
	// YOUNG is needed (SR2 is approved nowhere): a shorter age keeps it,
	// now for that reason.
	items = DecideCleanup(cat, approvals, states, hosts, 7*24*time.Hour, now)
	if len(items) != 3 || items[2].Decline || items[2].NeededBy != 3 {
		t.Errorf("age 7d: %+v", items)
	}
	// With SR2 approved for all, the shorter age lets YOUNG go; NEEDED
	// stays whatever the age.
	approvals["SR2"] = []Approval{install("SR2", GroupAll)}
	items = DecideCleanup(cat, approvals, states, hosts, 7*24*time.Hour, now)
	if len(items) != 3 || !items[2].Decline || items[1].Decline {
		t.Errorf("age 7d, SR2 approved: %+v", items)
	}
	// Once h3 gets SR1 approved (lab), nobody needs NEEDED.
	approvals = NewApprovalIndex([]Approval{install("SR1", GroupAll), decline("GONE", GroupAll)})
	items = DecideCleanup(cat, approvals, states, hosts, CleanupAgeDefault, now)
	if len(items) != 3 || !items[1].Decline {
		t.Errorf("with SR1 approved for all: %+v", items)
	}
	// Exactly at the age: declined.
	items = DecideCleanup(cat, approvals, states[:1], nil, 40*24*time.Hour, now)
	if len(items) != 1 || !items[0].Decline {
		t.Errorf("at the age: %+v", items)
	}
	if items := DecideCleanup(cat, approvals, nil, hosts, CleanupAgeDefault, now); len(items) != 0 {
		t.Errorf("no states: %+v", items)
	}
}

// BenchmarkDecideCleanup: 100,000 hosts, 50 superseded hotfixes of two
// SRs, one approved for all (its hotfixes covered everywhere), one
// approved nowhere (every host needs its hotfixes: the worst case, each
// host checked against each).
func BenchmarkDecideCleanup(b *testing.B) {
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	var us []Update
	var states []ReleaseState
	var sr1, sr2 []string
	for i := range 50 {
		id := fmt.Sprintf("HF%02d", i)
		us = append(us, upd(id))
		states = append(states, ReleaseState{UpdateID: id, Status: StatusSuperseded, Since: now.Add(-60 * 24 * time.Hour)})
		if i%2 == 0 {
			sr1 = append(sr1, id)
		} else {
			sr2 = append(sr2, id)
		}
	}
	us = append(us, supersedes(upd("SR1"), sr1...), supersedes(upd("SR2"), sr2...))
	cat := NewCatalog(us)
	approvals := NewApprovalIndex([]Approval{install("SR1", GroupAll)})
	hosts := make([]PlanHost, 100000)
	for i := range hosts {
		hosts[i] = PlanHost{ID: fmt.Sprintf("h%06d", i), Groups: []string{GroupAll, "prod"}, Products: []InstalledProduct{ip("app", "1.5")},
			Installed: []string{"HF00", "HF01"}}
	}
	for b.Loop() {
		items := DecideCleanup(cat, approvals, states, hosts, CleanupAgeDefault, now)
		if len(items) != 50 {
			b.Fatal(len(items))
		}
	}
}
