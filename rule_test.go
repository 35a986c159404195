package patchgate

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRuleValidate(t *testing.T) {
	ok := Rule{Name: "crit-prod", Kinds: []Kind{KindHotfix}, Severities: []Severity{SeverityCritical},
		Products: []string{"cisco.ucce"}, Groups: []string{"prod"}, Delay: 7 * 24 * time.Hour,
		Deadline: 14 * 24 * time.Hour, AfterGroup: "test", MinSuccess: 5, Soak: 24 * time.Hour, Enabled: true}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid rule refused: %v", err)
	}
	if err := (Rule{Name: "all", Groups: []string{"prod"}}).Validate(); err != nil {
		t.Fatalf("a rule matching everything refused: %v", err)
	}
	for _, tc := range []struct {
		field string
		edit  func(*Rule)
	}{
		{"name", func(r *Rule) { r.Name = "" }},
		{"name", func(r *Rule) { r.Name = "Crit" }},
		{"name", func(r *Rule) { r.Name = strings.Repeat("a", 65) }},
		{"kinds[1]", func(r *Rule) { r.Kinds = []Kind{KindHotfix, "patch"} }},
		{"kinds[1]", func(r *Rule) { r.Kinds = []Kind{KindHotfix, KindHotfix} }},
		{"severities[0]", func(r *Rule) { r.Severities = []Severity{"urgent"} }},
		{"severities[1]", func(r *Rule) { r.Severities = []Severity{SeverityLow, SeverityLow} }},
		{"products[0]", func(r *Rule) { r.Products = []string{"bad name"} }},
		{"products[1]", func(r *Rule) { r.Products = []string{"a", "a"} }},
		{"groups", func(r *Rule) { r.Groups = nil }},
		{"groups[0]", func(r *Rule) { r.Groups = []string{"Prod"} }},
		{"groups[1]", func(r *Rule) { r.Groups = []string{"prod", "prod"} }},
		{"groups[0]", func(r *Rule) { r.Groups = []string{"test"} }},
		{"groups", func(r *Rule) { r.Groups = make([]string, MaxRuleList+1) }},
		{"delay", func(r *Rule) { r.Delay = -time.Second }},
		{"deadline", func(r *Rule) { r.Deadline = MaxRuleDuration + 1 }},
		{"soak", func(r *Rule) { r.Soak = -1 }},
		{"after_group", func(r *Rule) { r.AfterGroup = "" }},
		{"after_group", func(r *Rule) { r.AfterGroup = ""; r.MinSuccess = 0 }},
		{"after_group", func(r *Rule) { r.AfterGroup = "Test" }},
		{"min_success", func(r *Rule) { r.MinSuccess = 0 }},
		{"created_by", func(r *Rule) { r.CreatedBy = strings.Repeat("x", 201) }},
	} {
		r := ok
		r.Kinds, r.Groups = append([]Kind(nil), ok.Kinds...), append([]string(nil), ok.Groups...)
		tc.edit(&r)
		err := r.Validate()
		if err == nil {
			t.Errorf("%s: accepted %+v", tc.field, r)
			continue
		}
		if pe, _ := err.(*Error); pe == nil || pe.Code != CodeInvalid || pe.Field != tc.field {
			t.Errorf("%s: got %v", tc.field, err)
		}
	}
}

func TestRuleMatches(t *testing.T) {
	u := Update{ID: "u", Kind: KindSecurity, Severity: SeverityHigh, Products: []ProductConstraint{{Name: "openssl"}, {Name: "nginx"}}}
	for _, tc := range []struct {
		r    Rule
		want bool
	}{
		{Rule{}, true},
		{Rule{Kinds: []Kind{KindHotfix, KindSecurity}}, true},
		{Rule{Kinds: []Kind{KindHotfix}}, false},
		{Rule{Severities: []Severity{SeverityCritical}}, false},
		{Rule{Severities: []Severity{SeverityHigh}, Products: []string{"nginx"}}, true},
		{Rule{Products: []string{"cisco.ucce"}}, false},
		{Rule{Kinds: []Kind{KindSecurity}, Severities: []Severity{SeverityHigh}, Products: []string{"x", "openssl"}}, true},
	} {
		if got := tc.r.Matches(u); got != tc.want {
			t.Errorf("%+v.Matches = %v, want %v", tc.r, got, tc.want)
		}
	}
}

func TestParseRuleDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"", 0, false}, {"0", 0, false}, {"7d", 7 * 24 * time.Hour, false}, {"0d", 0, false},
		{"24h", 24 * time.Hour, false}, {"1h30m", 90 * time.Minute, false}, {" 3s ", 3 * time.Second, false},
		{"366d", MaxRuleDuration, false}, {"367d", 0, true}, {"d", 0, true}, {"-1d", 0, true}, {"+1d", 0, true},
		{"1.5d", 0, true}, {"-5m", 0, true}, {"9000h", 0, true}, {"soon", 0, true}, {strings.Repeat("1", 40) + "s", 0, true},
	} {
		got, err := ParseRuleDuration("delay", tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseRuleDuration(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.bad)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "delay: ") {
			t.Errorf("ParseRuleDuration(%q): error %q does not name the field", tc.in, err)
		}
	}
	if DurationText(7*24*time.Hour) != "7d" || DurationText(90*time.Minute) != "1h30m0s" || DurationText(0) != "none" {
		t.Error("DurationText")
	}
}

func FuzzParseRuleDuration(f *testing.F) {
	for _, s := range []string{"7d", "24h", "1h30m", "", "0", "-1d", "1e3d", "99999999999999999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseRuleDuration("soak", s)
		if err != nil {
			if pe, ok := err.(*Error); !ok || pe.Field != "soak" || pe.Code != CodeInvalid {
				t.Fatalf("%q: error %v does not name the field", s, err)
			}
			return
		}
		if d < 0 || d > MaxRuleDuration {
			t.Fatalf("%q: accepted %v, out of range", s, d)
		}
	})
}

// ruleClock is the tests' "now".
var ruleClock = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

func TestDecideRules(t *testing.T) {
	const day = 24 * time.Hour
	hf := Update{ID: "hf1", Kind: KindHotfix, Severity: SeverityCritical, Products: []ProductConstraint{{Name: "app"}}}
	sec := Update{ID: "sec1", Kind: KindSecurity, Severity: SeverityLow, Products: []ProductConstraint{{Name: "db"}}}
	posted := func(ago time.Duration) ReleaseState {
		return ReleaseState{Status: StatusPosted, PostedAt: ruleClock.Add(-ago), Since: ruleClock.Add(-ago)}
	}
	at := func(ago time.Duration) time.Time { return ruleClock.Add(-ago) }
	prod := Rule{Name: "prod", Kinds: []Kind{KindHotfix}, Groups: []string{"prod"}, Delay: 7 * day, Enabled: true}
	ring := Rule{Name: "ring", Groups: []string{"prod"}, AfterGroup: "test", MinSuccess: 2, Soak: day, Enabled: true}
	groups := []string{"all", "test", "prod", "pilot"}
	type want struct {
		rule, update, group string
		verdict             RuleVerdict
		reason              string // substring
	}
	for _, tc := range []struct {
		name      string
		rules     []Rule
		updates   []Update
		release   map[string]ReleaseState
		approvals []Approval
		applied   []RuleApproval
		progress  map[string]map[string]RingProgress
		want      []want
	}{
		{name: "no rules", updates: []Update{hf}, release: map[string]ReleaseState{"hf1": posted(10 * day)}},
		{name: "delay passed", rules: []Rule{prod}, updates: []Update{hf, sec},
			release: map[string]ReleaseState{"hf1": posted(7 * day), "sec1": posted(30 * day)},
			want:    []want{{"prod", "hf1", "prod", RuleApprove, "posted 2026-03-03T12:00:00Z + delay 7d"}}},
		{name: "delay not passed", rules: []Rule{prod}, updates: []Update{hf},
			release: map[string]ReleaseState{"hf1": posted(7*day - time.Second)},
			want:    []want{{"prod", "hf1", "prod", RuleWaiting, "delay until 2026-03-10T12:00:01Z"}}},
		{name: "no delay approves at once", rules: []Rule{{Name: "now", Groups: []string{"prod", "pilot"}, Enabled: true}},
			updates: []Update{hf}, release: map[string]ReleaseState{"hf1": posted(0)},
			want: []want{{"now", "hf1", "prod", RuleApprove, "matches rule now"}, {"now", "hf1", "pilot", RuleApprove, ""}}},
		{name: "disabled rule does nothing", rules: []Rule{{Name: "off", Groups: []string{"prod"}}},
			updates: []Update{hf}, release: map[string]ReleaseState{"hf1": posted(10 * day)}},
		{name: "update in test waits to be posted", rules: []Rule{prod}, updates: []Update{hf},
			release: map[string]ReleaseState{"hf1": {Status: StatusTesting}},
			want:    []want{{"prod", "hf1", "prod", RuleWaiting, "update is testing, not posted"}}},
		{name: "failed, withdrawn, superseded and unknown updates are not considered", rules: []Rule{{Name: "any", Groups: []string{"prod"}, Enabled: true}},
			updates: []Update{hf, sec, {ID: "old"}, {ID: "ghost"}},
			release: map[string]ReleaseState{"hf1": {Status: StatusFailed}, "sec1": {Status: StatusWithdrawn}, "old": {Status: StatusSuperseded}}},
		{name: "an admin's decline is never overridden", rules: []Rule{prod}, updates: []Update{hf},
			release:   map[string]ReleaseState{"hf1": posted(10 * day)},
			approvals: []Approval{{UpdateID: "hf1", Group: "prod", Action: ActionDecline, CreatedBy: "token:admin"}}},
		{name: "a decline for all is never overridden", rules: []Rule{prod}, updates: []Update{hf},
			release:   map[string]ReleaseState{"hf1": posted(10 * day)},
			approvals: []Approval{{UpdateID: "hf1", Group: "all", Action: ActionDecline}}},
		{name: "a decline for another group does not stop the rule", rules: []Rule{prod}, updates: []Update{hf},
			release:   map[string]ReleaseState{"hf1": posted(10 * day)},
			approvals: []Approval{{UpdateID: "hf1", Group: "pilot", Action: ActionDecline}},
			want:      []want{{"prod", "hf1", "prod", RuleApprove, ""}}},
		{name: "an admin's uninstall or install stands", rules: []Rule{{Name: "any", Groups: []string{"prod", "pilot"}, Enabled: true}},
			updates: []Update{hf}, release: map[string]ReleaseState{"hf1": posted(10 * day)},
			approvals: []Approval{{UpdateID: "hf1", Group: "prod", Action: ActionUninstall}, {UpdateID: "hf1", Group: "pilot", Action: ActionInstall}}},
		{name: "a pair a rule approved once is not approved again after removal", rules: []Rule{prod}, updates: []Update{hf},
			release: map[string]ReleaseState{"hf1": posted(10 * day)},
			applied: []RuleApproval{{Rule: "prod", Approval: Approval{UpdateID: "hf1", Group: "prod", Action: ActionInstall}}}},
		{name: "missing target group blocks", rules: []Rule{{Name: "gone", Groups: []string{"nope"}, Enabled: true}},
			updates: []Update{hf}, release: map[string]ReleaseState{"hf1": posted(0)},
			want: []want{{"gone", "hf1", "nope", RuleBlocked, "group nope does not exist"}}},
		{name: "ring: no successes yet", rules: []Rule{ring}, updates: []Update{hf},
			release: map[string]ReleaseState{"hf1": posted(day)},
			want:    []want{{"ring", "hf1", "prod", RuleWaiting, "waiting: 0/2 successes in test"}}},
		{name: "ring: not enough successes", rules: []Rule{ring}, updates: []Update{hf},
			release:  map[string]ReleaseState{"hf1": posted(day)},
			progress: map[string]map[string]RingProgress{"test": {"hf1": {Successes: []time.Time{at(5 * day)}}}},
			want:     []want{{"ring", "hf1", "prod", RuleWaiting, "1/2 successes in test"}}},
		{name: "ring: a failure blocks however many succeeded", rules: []Rule{ring}, updates: []Update{hf},
			release:  map[string]ReleaseState{"hf1": posted(day)},
			progress: map[string]map[string]RingProgress{"test": {"hf1": {Successes: []time.Time{at(5 * day), at(5 * day), at(5 * day)}, Failed: 1}}},
			want:     []want{{"ring", "hf1", "prod", RuleBlocked, "1 host(s) of test failed"}}},
		{name: "ring: soaking since the N-th success", rules: []Rule{ring}, updates: []Update{hf},
			release:  map[string]ReleaseState{"hf1": posted(3 * day)},
			progress: map[string]map[string]RingProgress{"test": {"hf1": {Successes: []time.Time{at(time.Hour), at(2 * day)}}}},
			want:     []want{{"ring", "hf1", "prod", RuleWaiting, "2/2 successes in test, soaking until 2026-03-11T11:00:00Z"}}},
		{name: "ring: soaked", rules: []Rule{ring}, updates: []Update{hf},
			release:  map[string]ReleaseState{"hf1": posted(3 * day)},
			progress: map[string]map[string]RingProgress{"test": {"hf1": {Successes: []time.Time{at(day), at(2 * day), at(time.Minute)}}}},
			want:     []want{{"ring", "hf1", "prod", RuleApprove, "3/2 successes in test, soaked 1d since 2026-03-09T12:00:00Z"}}},
		{name: "ring: soak passed but delay not", rules: []Rule{{Name: "ring", Groups: []string{"prod"}, AfterGroup: "test", MinSuccess: 1, Soak: time.Hour, Delay: 2 * day, Enabled: true}},
			updates: []Update{hf}, release: map[string]ReleaseState{"hf1": posted(day)},
			progress: map[string]map[string]RingProgress{"test": {"hf1": {Successes: []time.Time{at(day)}}}},
			want:     []want{{"ring", "hf1", "prod", RuleWaiting, "delay until 2026-03-11T12:00:00Z"}}},
		{name: "ring: successes missing and delay running say both", rules: []Rule{{Name: "ring", Groups: []string{"prod"}, AfterGroup: "test", MinSuccess: 3, Delay: 2 * day, Enabled: true}},
			updates: []Update{hf}, release: map[string]ReleaseState{"hf1": posted(day)},
			want: []want{{"ring", "hf1", "prod", RuleWaiting, "0/3 successes in test; delay until 2026-03-11T12:00:00Z"}}},
		{name: "ring: successes before posting count (test group)", rules: []Rule{{Name: "ring", Groups: []string{"prod"}, AfterGroup: "test", MinSuccess: 1, Enabled: true}},
			updates: []Update{hf}, release: map[string]ReleaseState{"hf1": posted(0)},
			progress: map[string]map[string]RingProgress{"test": {"hf1": {Successes: []time.Time{at(day)}}}},
			want:     []want{{"ring", "hf1", "prod", RuleApprove, "1/1 successes in test"}}},
		{name: "ring progress of another update does not count", rules: []Rule{ring}, updates: []Update{hf},
			release:  map[string]ReleaseState{"hf1": posted(3 * day)},
			progress: map[string]map[string]RingProgress{"test": {"sec1": {Successes: []time.Time{at(2 * day), at(2 * day)}}}, "pilot": {"hf1": {Successes: []time.Time{at(2 * day), at(2 * day)}}}},
			want:     []want{{"ring", "hf1", "prod", RuleWaiting, "0/2"}}},
		{name: "two rules for one pair: the first by name that approves wins, waiting rows drop", rules: []Rule{
			{Name: "b-now", Groups: []string{"prod"}, Enabled: true}, {Name: "c-now", Groups: []string{"prod"}, Enabled: true}, prod},
			updates: []Update{hf}, release: map[string]ReleaseState{"hf1": posted(day)},
			want: []want{{"b-now", "hf1", "prod", RuleApprove, ""}}},
		{name: "two rules, none approves: both say why", rules: []Rule{prod, ring}, updates: []Update{hf},
			release: map[string]ReleaseState{"hf1": posted(day)},
			want:    []want{{"prod", "hf1", "prod", RuleWaiting, "delay"}, {"ring", "hf1", "prod", RuleWaiting, "0/2"}}},
		{name: "posted time falls back to the last transition", rules: []Rule{prod}, updates: []Update{hf},
			release: map[string]ReleaseState{"hf1": {Status: StatusPosted, Since: at(8 * day)}},
			want:    []want{{"prod", "hf1", "prod", RuleApprove, ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := RuleInput{Rules: tc.rules, Updates: tc.updates, Release: tc.release, Approvals: tc.approvals,
				Applied: tc.applied, Groups: groups, Progress: tc.progress, Now: ruleClock}
			got := DecideRules(in)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d decisions, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Rule != w.rule || g.UpdateID != w.update || g.Group != w.group || g.Verdict != w.verdict || !strings.Contains(g.Reason, w.reason) {
					t.Errorf("decision %d: got %+v, want %+v", i, g, w)
				}
				if (g.Verdict == RuleApprove) != (g.Approval != nil) {
					t.Errorf("decision %d: verdict %s with approval %v", i, g.Verdict, g.Approval)
				}
			}
		})
	}
}

func TestDecideRulesApproval(t *testing.T) {
	u := Update{ID: "hf1", Kind: KindHotfix, Severity: SeverityCritical}
	in := RuleInput{
		Rules:   []Rule{{Name: "fast", Groups: []string{"prod"}, Deadline: 14 * 24 * time.Hour, Enabled: true}},
		Updates: []Update{u}, Release: map[string]ReleaseState{"hf1": {Status: StatusPosted, PostedAt: ruleClock}},
		Groups: []string{"prod"}, Now: ruleClock,
	}
	got := DecideRules(in)
	if len(got) != 1 || got[0].Approval == nil {
		t.Fatalf("got %+v", got)
	}
	a := *got[0].Approval
	if a.Action != ActionInstall || a.CreatedBy != "rule:fast" || !a.CreatedAt.Equal(ruleClock) || a.Emergency ||
		a.Deadline == nil || !a.Deadline.Equal(ruleClock.Add(14*24*time.Hour)) {
		t.Fatalf("approval %+v", a)
	}
	in.Rules[0].Deadline = 0
	if a := DecideRules(in)[0].Approval; a.Deadline != nil {
		t.Fatalf("a rule without deadline set one: %v", a.Deadline)
	}
}

// TestDecideRulesClock walks a fake clock through a ring promotion: the
// verdict changes exactly at the N-th success and at the end of the soak.
func TestDecideRulesClock(t *testing.T) {
	r := Rule{Name: "ring", Groups: []string{"prod"}, AfterGroup: "test", MinSuccess: 2, Soak: 3 * time.Hour, Enabled: true}
	postedAt := ruleClock
	in := RuleInput{Rules: []Rule{r}, Updates: []Update{{ID: "hf1"}},
		Release: map[string]ReleaseState{"hf1": {Status: StatusPosted, PostedAt: postedAt}}, Groups: []string{"test", "prod"}}
	var succ []time.Time
	step := func(now time.Time, want RuleVerdict) {
		t.Helper()
		in.Now = now
		in.Progress = map[string]map[string]RingProgress{"test": {"hf1": {Successes: succ}}}
		got := DecideRules(in)
		if len(got) != 1 || got[0].Verdict != want {
			t.Fatalf("at %s: got %+v, want %s", now, got, want)
		}
	}
	step(postedAt, RuleWaiting)
	succ = append(succ, postedAt.Add(time.Hour))
	step(postedAt.Add(time.Hour), RuleWaiting)
	succ = append(succ, postedAt.Add(2*time.Hour))
	step(postedAt.Add(5*time.Hour-time.Nanosecond), RuleWaiting)
	step(postedAt.Add(5*time.Hour), RuleApprove)
	if p := PendingRings(in); len(p["test"]) != 1 || p["test"][0] != "hf1" {
		t.Fatalf("PendingRings = %v", p)
	}
	in.Applied = []RuleApproval{{Rule: "ring", Approval: Approval{UpdateID: "hf1", Group: "prod"}}}
	if got, p := DecideRules(in), PendingRings(in); len(got) != 0 || len(p) != 0 {
		t.Fatalf("after approval: %+v, pending %v", got, p)
	}
}

// BenchmarkDecideRules: 10,000 posted updates, half already approved for
// prod, three rules (one a ring promotion with progress for every
// update), three target groups.
func BenchmarkDecideRules(b *testing.B) {
	const n = 10000
	in := RuleInput{Release: map[string]ReleaseState{}, Groups: []string{"all", "test", "pilot", "prod"},
		Progress: map[string]map[string]RingProgress{"test": {}}, Now: ruleClock}
	in.Rules = []Rule{
		{Name: "crit", Severities: []Severity{SeverityCritical}, Groups: []string{"prod", "pilot"}, Delay: 24 * time.Hour, Enabled: true},
		{Name: "ring", Kinds: []Kind{KindHotfix}, Groups: []string{"prod"}, AfterGroup: "test", MinSuccess: 3, Soak: time.Hour, Enabled: true},
		{Name: "lab", Groups: []string{"test"}, Enabled: true},
	}
	for i := range n {
		id := fmt.Sprintf("u%05d", i)
		in.Updates = append(in.Updates, Update{ID: id, Kind: KindHotfix, Severity: Severities[i%4], Products: []ProductConstraint{{Name: "app"}}})
		in.Release[id] = ReleaseState{Status: StatusPosted, PostedAt: ruleClock.Add(-time.Duration(i) * time.Minute)}
		if i%2 == 0 {
			in.Approvals = append(in.Approvals, Approval{UpdateID: id, Group: "prod", Action: ActionInstall})
		}
		in.Progress["test"][id] = RingProgress{Successes: []time.Time{ruleClock.Add(-3 * time.Hour), ruleClock.Add(-2 * time.Hour), ruleClock.Add(-time.Hour)}}
	}
	b.ResetTimer()
	for b.Loop() {
		if len(DecideRules(in)) == 0 {
			b.Fatal("no decisions")
		}
	}
}

// TestDecideRulesInheritedDecline: a decline for a parent group reaches
// its children, and a rule must not override it by approving for a child
// (the child's install would beat the inherited decline).
func TestDecideRulesInheritedDecline(t *testing.T) {
	u := Update{ID: "hf1", Kind: KindHotfix, Severity: SeverityCritical}
	tree := NewGroupTree([]GroupNode{{Name: "prod"}, {Name: "prod-eu", Parent: "prod"}, {Name: "paris", Parent: "prod-eu"}, {Name: "test"}})
	in := RuleInput{
		Rules:   []Rule{{Name: "fast", Groups: []string{"paris", "test"}, Enabled: true}},
		Updates: []Update{u}, Release: map[string]ReleaseState{"hf1": {Status: StatusPosted, PostedAt: ruleClock}},
		Approvals: []Approval{{UpdateID: "hf1", Group: "prod", Action: ActionDecline}},
		Groups:    []string{"prod", "prod-eu", "paris", "test"}, Tree: tree, Now: ruleClock,
	}
	got := DecideRules(in)
	if len(got) != 1 || got[0].Group != "test" || got[0].Approval == nil {
		t.Fatalf("with prod declined: %+v, want only test approved", got)
	}
	// An install for the parent does not block the child.
	in.Approvals[0].Action = ActionInstall
	if got := DecideRules(in); len(got) != 2 {
		t.Fatalf("with prod approved: %+v, want paris and test", got)
	}
	// Without the tree, paris is a flat group and prod's decline is not its.
	in.Approvals[0].Action, in.Tree = ActionDecline, nil
	if got := DecideRules(in); len(got) != 2 {
		t.Fatalf("flat groups: %+v, want paris and test", got)
	}
}
