package patchgate

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RolloutPolicy paces the installs of each update in a group. Zero limits
// are no limits. A percentage is of the group's hosts, rounded up, and
// applies together with a count: the smaller limit wins.
type RolloutPolicy struct {
	Group string `json:"group"`
	// MaxConcurrent hosts may be installing an update at once.
	MaxConcurrent        int `json:"max_concurrent,omitempty"`
	MaxConcurrentPercent int `json:"max_concurrent_percent,omitempty"`
	// MaxFailures failed hosts (since the last resume) halt the group's
	// rollout of that update, and of every other until resumed.
	MaxFailures        int `json:"max_failures,omitempty"`
	MaxFailuresPercent int `json:"max_failures_percent,omitempty"`
	// Canary: the first Canary hosts must succeed before any other starts.
	Canary    int       `json:"canary,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	UpdatedBy string    `json:"updated_by,omitempty"`
}

// Validate checks the policy's numbers.
func (p RolloutPolicy) Validate() error {
	for _, f := range []struct {
		name string
		v    int
		max  int
	}{
		{"max_concurrent", p.MaxConcurrent, 1 << 20}, {"max_concurrent_percent", p.MaxConcurrentPercent, 100},
		{"max_failures", p.MaxFailures, 1 << 20}, {"max_failures_percent", p.MaxFailuresPercent, 100},
		{"canary", p.Canary, 1 << 20},
	} {
		if f.v < 0 || f.v > f.max {
			return Invalid(f.name, "must be between 0 and %d, not %d", f.max, f.v)
		}
	}
	return nil
}

// RolloutCounts are the live counts of one update over one group's hosts.
type RolloutCounts struct {
	Hosts int `json:"hosts"`
	// Active hosts were allowed to start and have not finished.
	Active    int `json:"active"`
	Succeeded int `json:"succeeded"`
	// Failed counts failures since the last resume.
	Failed int `json:"failed"`
}

// RolloutDecision says whether a host may start installing an update.
type RolloutDecision struct {
	Start bool
	// Halt: the failure limit is reached; the group's rollout must halt.
	Halt   bool
	Reason string
}

// limit returns the smaller of a count and a percentage of hosts (rounded
// up, at least 1), 0 when neither is set.
func limit(count, percent, hosts int) int {
	l := count
	if percent > 0 {
		p := max(1, (percent*hosts+99)/100)
		if l == 0 || p < l {
			l = p
		}
	}
	return l
}

// DecideRollout decides whether one more host of a group may start
// installing an update, given the group's policy, the live counts (not
// counting this host) and whether the group's rollout is halted:
//
//   - a halted rollout starts no one;
//   - reaching the failure limit halts it;
//   - while fewer than Canary hosts have succeeded, only Canary hosts may
//     have started (active, succeeded or failed);
//   - otherwise a host starts while fewer than the concurrency limit are
//     active.
func DecideRollout(p RolloutPolicy, c RolloutCounts, halted bool) RolloutDecision {
	if halted {
		return RolloutDecision{Reason: fmt.Sprintf("rollout of group %s is halted: resume it with `patchgate rollout resume %s`", p.Group, p.Group)}
	}
	if l := limit(p.MaxFailures, p.MaxFailuresPercent, c.Hosts); l > 0 && c.Failed >= l {
		return RolloutDecision{Halt: true, Reason: fmt.Sprintf("rollout of group %s halted: %d failed, the limit is %d", p.Group, c.Failed, l)}
	}
	if p.Canary > 0 && c.Succeeded < p.Canary && c.Active+c.Succeeded+c.Failed >= p.Canary {
		return RolloutDecision{Reason: fmt.Sprintf("waiting for the %d canary host(s) of group %s to succeed (%d so far)", p.Canary, p.Group, c.Succeeded)}
	}
	if l := limit(p.MaxConcurrent, p.MaxConcurrentPercent, c.Hosts); l > 0 && c.Active >= l {
		return RolloutDecision{Reason: fmt.Sprintf("%d host(s) of group %s are installing, the limit is %d", c.Active, p.Group, l)}
	}
	return RolloutDecision{Start: true, Reason: "rollout of group " + p.Group + ": may start"}
}

// RolloutHalt is the override an automatic brake writes: never the admin's
// policy.
type RolloutHalt struct {
	Group    string    `json:"group"`
	Halted   bool      `json:"halted"`
	Reason   string    `json:"reason,omitempty"`
	At       time.Time `json:"at"`
	UpdateID string    `json:"update_id,omitempty"` // whose failures halted it
	// ResumedAt: failures before it no longer count.
	ResumedAt time.Time `json:"resumed_at,omitzero"`
}

// RolloutStore holds rollout policies, their halt overrides and the
// permissions to start handed out at check-in.
type RolloutStore interface {
	SetRolloutPolicy(ctx context.Context, p RolloutPolicy, ev Event) error
	// DeleteRolloutPolicy removes a group's policy (not_found if none).
	DeleteRolloutPolicy(ctx context.Context, group string, ev Event) error
	ListRolloutPolicies(ctx context.Context) ([]RolloutPolicy, error)
	// GetRolloutHalt returns the group's override; a zero one if none.
	GetRolloutHalt(ctx context.Context, group string) (RolloutHalt, error)
	// ResumeRollout clears a halt (not_found if the group is not halted)
	// and records when, with ev.
	ResumeRollout(ctx context.Context, group string, at time.Time, ev Event) error
	// StartRollout decides, atomically with every other StartRollout,
	// whether host may start installing update under group's policy p: it
	// counts the group's hosts, the hosts holding an unfinished start
	// granted less than ttl ago or reporting downloading/installing, the
	// succeeded and (since the last resume) failed ones, applies
	// DecideRollout, records a granted start, and on Halt stores the halt
	// and appends halted. A host that already holds an unfinished start is
	// granted again without counting.
	StartRollout(ctx context.Context, p RolloutPolicy, update, host string, now time.Time, ttl time.Duration, halted Event) (RolloutDecision, RolloutCounts, error)
}

// Rollout event types.
const (
	EventRolloutSet     = "rollout.set"
	EventRolloutRemoved = "rollout.removed"
	EventRolloutHalted  = "rollout.halted"
	EventRolloutResumed = "rollout.resumed"
)

// ParseRolloutLimit reads a limit given as a count ("5") or a percentage
// of the group's hosts ("10%"); "" or "0" is no limit.
func ParseRolloutLimit(field, s string) (count, percent int, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, 0, nil
	}
	num, isPercent := strings.CutSuffix(s, "%")
	n, convErr := strconv.Atoi(num)
	switch {
	case convErr != nil || n < 0:
		return 0, 0, Invalid(field, "%q is neither a count like 5 nor a percentage like 10%%", s)
	case isPercent && n > 100:
		return 0, 0, Invalid(field, "%q is over 100%%", s)
	case !isPercent && n > 1<<20:
		return 0, 0, Invalid(field, "%q is too large", s)
	case isPercent:
		return 0, n, nil
	}
	return n, 0, nil
}

// LimitText shows a count or percentage limit; "none" when unset.
func LimitText(count, percent int) string {
	switch {
	case count > 0 && percent > 0:
		return fmt.Sprintf("%d or %d%%, the smaller", count, percent)
	case count > 0:
		return strconv.Itoa(count)
	case percent > 0:
		return strconv.Itoa(percent) + "%"
	}
	return "none"
}
