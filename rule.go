package patchgate

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Rule is an automatic approval rule: it approves, for install, the posted
// updates it matches for each of its target groups, once its delay has
// passed since the update was posted and, with AfterGroup (ring
// promotion: test → pilot → prod), once the update has proven itself on
// the hosts of that source group (see DecideRules).
//
// Empty match lists match everything: a rule with no kinds, severities or
// products approves every posted update for its groups.
type Rule struct {
	Name       string     `json:"name"`
	Kinds      []Kind     `json:"kinds,omitempty"`
	Severities []Severity `json:"severities,omitempty"`
	// Products: the update applies to at least one of them (by name).
	Products []string `json:"products,omitempty"`
	// Groups are the target groups the rule approves updates for.
	Groups []string `json:"groups"`
	// Delay is the time from posting to approval.
	Delay time.Duration `json:"delay,omitempty"`
	// Deadline, when set, gives each approval the deadline approval time
	// + Deadline.
	Deadline time.Duration `json:"deadline,omitempty"`
	// AfterGroup, MinSuccess and Soak make the rule a ring promotion: it
	// approves only once at least MinSuccess hosts of AfterGroup installed
	// the update, none of them has it failed, and Soak has passed since
	// the MinSuccess-th success.
	AfterGroup string        `json:"after_group,omitempty"`
	MinSuccess int           `json:"min_success,omitempty"`
	Soak       time.Duration `json:"soak,omitempty"`
	Enabled    bool          `json:"enabled"`
	CreatedBy  string        `json:"created_by,omitempty"`
	CreatedAt  time.Time     `json:"created_at,omitzero"`
}

// MaxRuleDuration bounds a rule's delay, deadline and soak.
const MaxRuleDuration = 366 * 24 * time.Hour

// MaxRuleList bounds each of a rule's lists.
const MaxRuleList = 100

var ruleNamePattern = MustBoundedPattern(`^[a-z0-9][a-z0-9._-]*$`, 1, 64)

// ValidRuleName reports whether s can name a rule.
func ValidRuleName(s string) bool { return ruleNamePattern.MatchString(s) }

// groupPattern is the shape of a group name (the server's validGroup).
var groupPattern = MustBoundedPattern(`^[a-z0-9][a-z0-9._-]*$`, 1, 64)

// Validate checks a rule, naming the field at fault.
func (r Rule) Validate() error {
	if !ruleNamePattern.MatchString(r.Name) {
		return Invalid("name", "%q is not a rule name (lowercase letters, digits, . _ -; at most 64, starting with a letter or digit)", r.Name)
	}
	if len(r.Kinds) > MaxRuleList || len(r.Severities) > MaxRuleList || len(r.Products) > MaxRuleList || len(r.Groups) > MaxRuleList {
		return Invalid("groups", "each list of a rule holds at most %d entries", MaxRuleList)
	}
	for i, k := range r.Kinds {
		if !k.Valid() {
			return Invalid(fmt.Sprintf("kinds[%d]", i), "must be one of %v, not %q", Kinds, k)
		}
		if slices.Contains(r.Kinds[:i], k) {
			return Invalid(fmt.Sprintf("kinds[%d]", i), "%s is listed twice", k)
		}
	}
	for i, s := range r.Severities {
		if !s.Valid() {
			return Invalid(fmt.Sprintf("severities[%d]", i), "must be one of %v, not %q", Severities, s)
		}
		if slices.Contains(r.Severities[:i], s) {
			return Invalid(fmt.Sprintf("severities[%d]", i), "%s is listed twice", s)
		}
	}
	for i, p := range r.Products {
		if !ValidProductName(p) {
			return Invalid(fmt.Sprintf("products[%d]", i), "%q is not a product name", p)
		}
		if slices.Contains(r.Products[:i], p) {
			return Invalid(fmt.Sprintf("products[%d]", i), "%s is listed twice", p)
		}
	}
	if len(r.Groups) == 0 {
		return Invalid("groups", "give at least one group to approve for")
	}
	for i, g := range r.Groups {
		field := fmt.Sprintf("groups[%d]", i)
		if !groupPattern.MatchString(g) {
			return Invalid(field, "%q is not a group name", g)
		}
		if slices.Contains(r.Groups[:i], g) {
			return Invalid(field, "%s is listed twice", g)
		}
		if g == r.AfterGroup {
			return Invalid(field, "%s is also the rule's after_group: a group cannot promote to itself", g)
		}
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"delay", r.Delay}, {"deadline", r.Deadline}, {"soak", r.Soak}} {
		if d.v < 0 || d.v > MaxRuleDuration {
			return Invalid(d.field, "must be between 0 and %s, not %s", MaxRuleDuration, d.v)
		}
	}
	switch {
	case r.AfterGroup == "" && (r.MinSuccess != 0 || r.Soak != 0):
		return Invalid("after_group", "is required with min_success or soak (the source group of a ring promotion)")
	case r.AfterGroup != "" && !groupPattern.MatchString(r.AfterGroup):
		return Invalid("after_group", "%q is not a group name", r.AfterGroup)
	case r.AfterGroup != "" && (r.MinSuccess < 1 || r.MinSuccess > 1<<20):
		return Invalid("min_success", "must be between 1 and %d with after_group, not %d", 1<<20, r.MinSuccess)
	}
	if len(r.CreatedBy) > 200 {
		return Invalid("created_by", "longer than 200 bytes")
	}
	return nil
}

// Matches reports whether the rule's kind, severity and product lists
// match u.
func (r Rule) Matches(u Update) bool {
	if len(r.Kinds) > 0 && !slices.Contains(r.Kinds, u.Kind) {
		return false
	}
	if len(r.Severities) > 0 && !slices.Contains(r.Severities, u.Severity) {
		return false
	}
	if len(r.Products) > 0 && !slices.ContainsFunc(u.Products, func(p ProductConstraint) bool { return slices.Contains(r.Products, p.Name) }) {
		return false
	}
	return true
}

// RuleActor is the actor (and approval author) of what rule name does.
func RuleActor(name string) string { return "rule:" + name }

// ParseRuleDuration reads a rule's delay, deadline or soak: Go syntax
// ("90m", "24h", "1h30m") or whole days ("7d"); "" and "0" are none.
// field names the input in errors.
func ParseRuleDuration(field, s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	if len(s) > 32 {
		return 0, Invalid(field, "longer than 32 bytes")
	}
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || n == "" || n[0] == '+' || n[0] == '-' {
			return 0, Invalid(field, "%q is not a duration like 90m, 24h or 7d", s)
		}
		if days > int(MaxRuleDuration/(24*time.Hour)) {
			return 0, Invalid(field, "%q is longer than %d days", s, int(MaxRuleDuration/(24*time.Hour)))
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, Invalid(field, "%q is not a duration like 90m, 24h or 7d", s)
		}
	}
	if d < 0 || d > MaxRuleDuration {
		return 0, Invalid(field, "must be between 0 and %d days, not %q", int(MaxRuleDuration/(24*time.Hour)), s)
	}
	return d, nil
}

// DurationText shows a duration in days when it is whole days ("7d"),
// else in Go syntax; "none" for zero.
func DurationText(d time.Duration) string {
	switch {
	case d == 0:
		return "none"
	case d%(24*time.Hour) == 0:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}

// RingProgress is what became of an update on the hosts of a rule's
// source group: when each host that installed it succeeded, and how many
// hosts' latest state for it is failed.
type RingProgress struct {
	Successes []time.Time `json:"successes,omitempty"`
	Failed    int         `json:"failed,omitempty"`
}

// RuleApproval is an approval a rule made: the rule, the approval (its
// CreatedBy is RuleActor(Rule)) and the approval.set event that records it.
type RuleApproval struct {
	Rule     string   `json:"rule"`
	Approval Approval `json:"approval"`
	Event    Event    `json:"-"`
	// Reason says why the rule approved.
	Reason string `json:"reason,omitempty"`
}

// RuleVerdict is what a rule does now about one update and group.
type RuleVerdict string

const (
	RuleApprove RuleVerdict = "approve" // approve now
	RuleWaiting RuleVerdict = "waiting" // later: delay, successes or soak
	RuleBlocked RuleVerdict = "blocked" // not while this lasts (a failure in the source group, a missing group)
)

// RuleDecision is a rule's verdict on one update for one group, with the
// reason; Due is when a waiting delay or soak ends, when that is known.
type RuleDecision struct {
	Rule     string      `json:"rule"`
	UpdateID string      `json:"update_id"`
	Group    string      `json:"group"`
	Verdict  RuleVerdict `json:"verdict"`
	Reason   string      `json:"reason"`
	Due      time.Time   `json:"due,omitzero"`
	// Approval is set for RuleApprove: what to store.
	Approval *Approval `json:"approval,omitempty"`
}

// RuleInput is everything DecideRules looks at.
type RuleInput struct {
	Rules   []Rule
	Updates []Update
	// Release is each update's release state; only posted ones are
	// approved (superseded ones are left to supersedence), updates still
	// in test are shown as waiting.
	Release   map[string]ReleaseState
	Approvals []Approval
	// Applied are the (update, group) pairs rules approved before: a rule
	// approves a pair once, so an approval an admin removed stays removed.
	Applied []RuleApproval
	// Groups are the groups that exist.
	Groups []string
	// Progress is by source group, then update id (see PendingRings).
	Progress map[string]map[string]RingProgress
	// Tree nests the groups (nil = flat): a decline for a group's ancestor
	// blocks a rule from approving for that group, since the child's
	// install would win over the inherited decline.
	Tree *GroupTree
	Now  time.Time
}

// ruleTarget is a pair a rule may act on: the pure part shared by
// DecideRules and PendingRings.
type ruleTarget struct {
	rule   *Rule
	update *Update
	state  ReleaseState
	group  string
}

// ruleTargets lists, for every enabled rule (by name), matching update
// (by id) in posted or in-test status, and target group, the pairs that
// have no approval, were never approved by a rule, and whose update is
// not declined for every host (group all).
func ruleTargets(in RuleInput) []ruleTarget {
	type pair struct{ u, g string }
	taken := make(map[pair]bool, len(in.Approvals)+len(in.Applied))
	declinedAll := map[string]bool{}
	declined := map[pair]bool{}
	for _, a := range in.Approvals {
		taken[pair{a.UpdateID, a.Group}] = true
		if a.Action == ActionDecline {
			declined[pair{a.UpdateID, a.Group}] = true
			if a.Group == GroupAll {
				declinedAll[a.UpdateID] = true
			}
		}
	}
	// declinedAbove: an ancestor of g declined u (explicit declines are
	// never overridden by a rule, inherited ones included).
	declinedAbove := func(u, g string) bool {
		for _, anc := range in.Tree.Chain(g) {
			if declined[pair{u, anc}] {
				return true
			}
		}
		return false
	}
	for _, a := range in.Applied {
		taken[pair{a.Approval.UpdateID, a.Approval.Group}] = true
	}
	rules := slices.Clone(in.Rules)
	sort.Slice(rules, func(i, j int) bool { return rules[i].Name < rules[j].Name })
	updates := slices.Clone(in.Updates)
	sort.Slice(updates, func(i, j int) bool { return updates[i].ID < updates[j].ID })
	var out []ruleTarget
	for i := range rules {
		r := &rules[i]
		if !r.Enabled {
			continue
		}
		for j := range updates {
			u := &updates[j]
			st, ok := in.Release[u.ID]
			if !ok || !(st.Status == StatusPosted || st.Status.InTest()) || declinedAll[u.ID] || !r.Matches(*u) {
				continue
			}
			for _, g := range r.Groups {
				if !taken[pair{u.ID, g}] && !declinedAbove(u.ID, g) {
					out = append(out, ruleTarget{rule: r, update: u, state: st, group: g})
				}
			}
		}
	}
	return out
}

// PendingRings returns, by source group, the updates whose RingProgress
// DecideRules will look at: posted ones that a ring-promotion rule still
// has to decide on. The caller loads only those.
func PendingRings(in RuleInput) map[string][]string {
	out := map[string][]string{}
	for _, t := range ruleTargets(in) {
		if t.rule.AfterGroup != "" && t.state.Status == StatusPosted && !slices.Contains(out[t.rule.AfterGroup], t.update.ID) {
			out[t.rule.AfterGroup] = append(out[t.rule.AfterGroup], t.update.ID)
		}
	}
	return out
}

// DecideRules decides what the enabled rules do now about each posted
// update they match, for each of their target groups:
//
//   - a pair (update, group) that already has an approval of any action
//     (an admin's install, uninstall or decline, or an earlier rule's) is
//     never touched, nor one a rule approved before (Applied: removing a
//     rule's approval is not undone by the rule), nor an update declined
//     for all;
//   - updates in test (received, testing, tested) are waiting to be
//     posted; failed, withdrawn and superseded ones are not considered;
//   - the delay runs from the posting time;
//   - with AfterGroup, the update must have succeeded on at least
//     MinSuccess hosts of it, with no host of it in failed (blocked
//     otherwise), and Soak must have passed since the MinSuccess-th
//     success: the soak starts when the bar is met, not at the first
//     success, so every one of the N hosts has run the update for at least
//     the soak before the next ring gets it;
//   - when several rules would approve the same pair now, the first by
//     name does, and the others say nothing of it; when none does, each
//     says why it waits.
//
// Decisions are ordered by rule, update, group. An approval made now gets
// CreatedBy RuleActor(rule), CreatedAt Now and, with a rule Deadline, the
// deadline Now + Deadline.
func DecideRules(in RuleInput) []RuleDecision {
	type pair struct{ u, g string }
	var out []RuleDecision
	approved := map[pair]bool{}
	for _, t := range ruleTargets(in) {
		d := decideRule(t, in)
		if d.Verdict == RuleApprove {
			p := pair{t.update.ID, t.group}
			if approved[p] {
				continue
			}
			approved[p] = true
		}
		out = append(out, d)
	}
	// A pair some rule approves now needs no "waiting" rows from others.
	return slices.DeleteFunc(out, func(d RuleDecision) bool {
		return d.Verdict != RuleApprove && approved[pair{d.UpdateID, d.Group}]
	})
}

func decideRule(t ruleTarget, in RuleInput) RuleDecision {
	r, u, now := t.rule, t.update, in.Now
	d := RuleDecision{Rule: r.Name, UpdateID: u.ID, Group: t.group}
	if t.state.Status != StatusPosted {
		d.Verdict, d.Reason = RuleWaiting, fmt.Sprintf("waiting: update is %s, not posted", t.state.Status)
		return d
	}
	if !slices.Contains(in.Groups, t.group) {
		d.Verdict, d.Reason = RuleBlocked, fmt.Sprintf("blocked: group %s does not exist", t.group)
		return d
	}
	posted := t.state.PostedAt
	if posted.IsZero() {
		posted = t.state.Since
	}
	due := posted.Add(r.Delay)
	var why []string
	if r.Delay > 0 {
		why = append(why, fmt.Sprintf("posted %s + delay %s", posted.UTC().Format(time.RFC3339), DurationText(r.Delay)))
	}
	if r.AfterGroup != "" {
		p := in.Progress[r.AfterGroup][u.ID]
		if p.Failed > 0 {
			d.Verdict, d.Reason = RuleBlocked, fmt.Sprintf("blocked: %d host(s) of %s failed to install it", p.Failed, r.AfterGroup)
			return d
		}
		if len(p.Successes) < r.MinSuccess {
			d.Verdict, d.Reason = RuleWaiting, fmt.Sprintf("waiting: %d/%d successes in %s", len(p.Successes), r.MinSuccess, r.AfterGroup)
			if r.Delay > 0 && now.Before(due) {
				d.Reason += fmt.Sprintf("; delay until %s", due.UTC().Format(time.RFC3339))
			}
			return d
		}
		succ := slices.Clone(p.Successes)
		slices.SortFunc(succ, func(a, b time.Time) int { return a.Compare(b) })
		soaked := succ[r.MinSuccess-1].Add(r.Soak)
		why = append(why, fmt.Sprintf("%d/%d successes in %s", len(succ), r.MinSuccess, r.AfterGroup))
		if r.Soak > 0 {
			why = append(why, fmt.Sprintf("soaked %s since %s", DurationText(r.Soak), succ[r.MinSuccess-1].UTC().Format(time.RFC3339)))
		}
		if now.Before(soaked) && !soaked.Before(due) {
			d.Verdict, d.Due = RuleWaiting, soaked
			d.Reason = fmt.Sprintf("waiting: %d/%d successes in %s, soaking until %s", len(succ), r.MinSuccess, r.AfterGroup, soaked.UTC().Format(time.RFC3339))
			return d
		}
	}
	if now.Before(due) {
		d.Verdict, d.Due = RuleWaiting, due
		d.Reason = fmt.Sprintf("waiting: delay until %s", due.UTC().Format(time.RFC3339))
		return d
	}
	a := Approval{UpdateID: u.ID, Group: t.group, Action: ActionInstall, CreatedBy: RuleActor(r.Name), CreatedAt: now}
	if r.Deadline > 0 {
		dl := now.Add(r.Deadline)
		a.Deadline = &dl
	}
	d.Verdict, d.Approval = RuleApprove, &a
	d.Reason = "approve: matches rule " + r.Name
	if len(why) > 0 {
		d.Reason += "; " + strings.Join(why, ", ")
	}
	return d
}

// RuleStore holds approval rules and the ledger of approvals they made.
type RuleStore interface {
	// CreateRule stores a new rule (conflict if the name is taken), with ev.
	CreateRule(ctx context.Context, r Rule, ev Event) error
	// ListRules returns every rule, ordered by name.
	ListRules(ctx context.Context) ([]Rule, error)
	// DeleteRule removes a rule (not_found if none), with ev. The ledger
	// keeps what it approved.
	DeleteRule(ctx context.Context, name string, ev Event) error
	// SetRuleEnabled enables or disables a rule (not_found if none), with
	// ev.
	SetRuleEnabled(ctx context.Context, name string, enabled bool, ev Event) error
	// ApplyRuleApprovals stores, in one transaction, each approval a rule
	// made with its event, and records it in the ledger. An approval whose
	// (update, group) has an approval or a ledger entry by then (an
	// admin's decision that raced the rule), or whose update or group no
	// longer exists, is skipped. It returns those stored.
	ApplyRuleApprovals(ctx context.Context, as []RuleApproval) ([]RuleApproval, error)
	// RuleApprovals returns the ledger: every (update, group) a rule
	// approved, with the rule and the approval as made, ordered by update
	// and group.
	RuleApprovals(ctx context.Context) ([]RuleApproval, error)
}

// Rule event types. An approval made by a rule is an approval.set event
// (EventApproved) whose actor is RuleActor(rule), like an admin's.
const (
	EventRuleAdded    = "rule.added"
	EventRuleRemoved  = "rule.removed"
	EventRuleEnabled  = "rule.enabled"
	EventRuleDisabled = "rule.disabled"
)
