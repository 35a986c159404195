package patchgate

import (
	"strings"
	"testing"
)

func TestDecideRollout(t *testing.T) {
	p := func(mut func(*RolloutPolicy)) RolloutPolicy {
		pol := RolloutPolicy{Group: "prod"}
		if mut != nil {
			mut(&pol)
		}
		return pol
	}
	tests := []struct {
		name   string
		policy RolloutPolicy
		counts RolloutCounts
		halted bool
		start  bool
		halt   bool
		reason string
	}{
		{"no limits", p(nil), RolloutCounts{Hosts: 10, Active: 9}, false, true, false, "may start"},
		{"halted starts no one", p(nil), RolloutCounts{Hosts: 10}, true, false, false, "halted"},
		{"under the concurrency count", p(func(p *RolloutPolicy) { p.MaxConcurrent = 2 }), RolloutCounts{Hosts: 10, Active: 1}, false, true, false, ""},
		{"at the concurrency count", p(func(p *RolloutPolicy) { p.MaxConcurrent = 2 }), RolloutCounts{Hosts: 10, Active: 2}, false, false, false, "limit is 2"},
		{"percent rounds up", p(func(p *RolloutPolicy) { p.MaxConcurrentPercent = 10 }), RolloutCounts{Hosts: 11, Active: 1}, false, true, false, ""},
		{"percent limit reached", p(func(p *RolloutPolicy) { p.MaxConcurrentPercent = 10 }), RolloutCounts{Hosts: 11, Active: 2}, false, false, false, "limit is 2"},
		{"percent of a tiny group is at least one", p(func(p *RolloutPolicy) { p.MaxConcurrentPercent = 1 }), RolloutCounts{Hosts: 3}, false, true, false, ""},
		{"count and percent: the smaller wins", p(func(p *RolloutPolicy) { p.MaxConcurrent = 5; p.MaxConcurrentPercent = 50 }), RolloutCounts{Hosts: 4, Active: 2}, false, false, false, "limit is 2"},
		{"failures below the limit", p(func(p *RolloutPolicy) { p.MaxFailures = 2 }), RolloutCounts{Hosts: 10, Failed: 1}, false, true, false, ""},
		{"failure limit halts", p(func(p *RolloutPolicy) { p.MaxFailures = 2 }), RolloutCounts{Hosts: 10, Failed: 2}, false, false, true, "2 failed"},
		{"failure percent halts", p(func(p *RolloutPolicy) { p.MaxFailuresPercent = 20 }), RolloutCounts{Hosts: 10, Failed: 2}, false, false, true, "limit is 2"},
		{"already halted does not halt again", p(func(p *RolloutPolicy) { p.MaxFailures = 1 }), RolloutCounts{Hosts: 10, Failed: 5}, true, false, false, "halted"},
		{"first canary starts", p(func(p *RolloutPolicy) { p.Canary = 1 }), RolloutCounts{Hosts: 10}, false, true, false, ""},
		{"canary running: others wait", p(func(p *RolloutPolicy) { p.Canary = 1 }), RolloutCounts{Hosts: 10, Active: 1}, false, false, false, "canary"},
		{"canary failed: others wait", p(func(p *RolloutPolicy) { p.Canary = 1 }), RolloutCounts{Hosts: 10, Failed: 1}, false, false, false, "canary"},
		{"canary succeeded: others go", p(func(p *RolloutPolicy) { p.Canary = 1; p.MaxConcurrent = 3 }), RolloutCounts{Hosts: 10, Succeeded: 1, Active: 2}, false, true, false, ""},
		{"two canaries, one started", p(func(p *RolloutPolicy) { p.Canary = 2 }), RolloutCounts{Hosts: 10, Active: 1}, false, true, false, ""},
		{"failures halt even during the canary", p(func(p *RolloutPolicy) { p.Canary = 3; p.MaxFailures = 1 }), RolloutCounts{Hosts: 10, Failed: 1}, false, false, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := DecideRollout(tc.policy, tc.counts, tc.halted)
			if d.Start != tc.start || d.Halt != tc.halt {
				t.Fatalf("start=%v halt=%v (%s), want start=%v halt=%v", d.Start, d.Halt, d.Reason, tc.start, tc.halt)
			}
			if !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("reason %q does not say %q", d.Reason, tc.reason)
			}
		})
	}
}

func TestRolloutPolicyValidate(t *testing.T) {
	for _, p := range []RolloutPolicy{{MaxConcurrent: -1}, {MaxConcurrentPercent: 101}, {MaxFailuresPercent: -5}, {Canary: -1}} {
		if err := p.Validate(); ErrorCode(err) != CodeInvalid {
			t.Errorf("Validate(%+v) = %v", p, err)
		}
	}
	if err := (RolloutPolicy{MaxConcurrent: 5, MaxConcurrentPercent: 100, Canary: 1}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestParseRolloutLimit(t *testing.T) {
	for _, tc := range []struct {
		in         string
		count, pct int
		ok         bool
	}{
		{"", 0, 0, true}, {"0", 0, 0, true}, {"5", 5, 0, true}, {"10%", 0, 10, true}, {" 100% ", 0, 100, true},
		{"101%", 0, 0, false}, {"-1", 0, 0, false}, {"five", 0, 0, false}, {"5%%", 0, 0, false}, {"%", 0, 0, false},
	} {
		c, p, err := ParseRolloutLimit("--max-concurrent", tc.in)
		if (err == nil) != tc.ok || c != tc.count || p != tc.pct {
			t.Errorf("ParseRolloutLimit(%q) = %d, %d, %v", tc.in, c, p, err)
		}
	}
	if LimitText(5, 10) != "5 or 10%, the smaller" || LimitText(0, 0) != "none" || LimitText(0, 20) != "20%" {
		t.Error("LimitText")
	}
}
