package server

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

// The rule engine: automatic approval rules run when an update is posted,
// when a rule is added or enabled, every RulesInterval (Run), and on
// demand (POST /api/v1/rules/run). Runs are serialised in the process;
// the store skips, under its write lock, any pair approved meanwhile, so
// two servers sharing a store cannot approve a pair twice either.

func (s *Server) ruleHandlers() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /api/v1/rules":                 s.listRules,
		"POST /api/v1/rules":                s.createRule,
		"DELETE /api/v1/rules/{name}":       s.deleteRule,
		"POST /api/v1/rules/{name}/disable": s.disableRule,
		"POST /api/v1/rules/{name}/enable":  s.enableRule,
		"GET /api/v1/rules/dry-run":         s.rulesDryRun,
		"POST /api/v1/rules/run":            s.runRulesNow,
	}
}

// ruleInput gathers what patchgate.DecideRules needs. Without an enabled
// rule it reads nothing else. Ring progress is read only for the source
// groups and updates still undecided (patchgate.PendingRings), from the
// deployments of the source groups' hosts.
func (s *Server) ruleInput(ctx context.Context) (patchgate.RuleInput, error) {
	in := patchgate.RuleInput{Now: s.now().UTC()}
	rules, err := s.store.ListRules(ctx)
	if err != nil {
		return in, err
	}
	if !slices.ContainsFunc(rules, func(r patchgate.Rule) bool { return r.Enabled }) {
		return in, nil
	}
	in.Rules = rules
	if in.Updates, err = s.store.ListUpdates(ctx, patchgate.UpdateFilter{}); err != nil {
		return in, err
	}
	if in.Release, err = s.releaseStates(ctx); err != nil {
		return in, err
	}
	if in.Approvals, err = s.store.ListApprovals(ctx); err != nil {
		return in, err
	}
	if in.Applied, err = s.store.RuleApprovals(ctx); err != nil {
		return in, err
	}
	groups, err := s.store.ListGroups(ctx)
	if err != nil {
		return in, err
	}
	for _, g := range groups {
		in.Groups = append(in.Groups, g.Name)
	}
	snap, err := s.snapshot(ctx)
	if err != nil {
		return in, err
	}
	in.Tree = snap.tree
	pending := patchgate.PendingRings(in)
	if len(pending) == 0 {
		return in, nil
	}
	members, err := s.store.Memberships(ctx)
	if err != nil {
		return in, err
	}
	in.Progress = map[string]map[string]patchgate.RingProgress{}
	for hostID, hostGroups := range members {
		var sources []string
		for _, g := range hostGroups {
			if _, ok := pending[g]; ok {
				sources = append(sources, g)
			}
		}
		if len(sources) == 0 {
			continue
		}
		deps, err := s.store.ListDeployments(ctx, hostID)
		if err != nil {
			return in, err
		}
		for _, d := range deps {
			if d.State != patchgate.StateInstalled && d.State != patchgate.StateFailed {
				continue
			}
			for _, g := range sources {
				if !slices.Contains(pending[g], d.UpdateID) {
					continue
				}
				if in.Progress[g] == nil {
					in.Progress[g] = map[string]patchgate.RingProgress{}
				}
				p := in.Progress[g][d.UpdateID]
				if d.State == patchgate.StateInstalled {
					p.Successes = append(p.Successes, d.UpdatedAt)
				} else {
					p.Failed++
				}
				in.Progress[g][d.UpdateID] = p
			}
		}
	}
	return in, nil
}

// runRules decides and stores the approvals the rules make now, and
// returns those stored.
func (s *Server) runRules(ctx context.Context) ([]patchgate.RuleDecision, error) {
	s.rulesMu.Lock()
	defer s.rulesMu.Unlock()
	// A replica's approvals come from its upstream, whose rules made them.
	if upstream, err := s.replicaOf(ctx); err != nil || upstream != "" {
		return []patchgate.RuleDecision{}, err
	}
	in, err := s.ruleInput(ctx)
	if err != nil || len(in.Rules) == 0 {
		return []patchgate.RuleDecision{}, err
	}
	var todo []patchgate.RuleApproval
	byEvent := map[string]patchgate.RuleDecision{}
	for _, d := range patchgate.DecideRules(in) {
		if d.Verdict != patchgate.RuleApprove {
			continue
		}
		a := *d.Approval
		ev := patchgate.Event{ID: "rule-" + randomHex(10), Time: in.Now, Type: patchgate.EventApproved,
			Actor: patchgate.RuleActor(d.Rule), UpdateID: d.UpdateID,
			Detail: fmt.Sprintf("%s [%s] for group %s by rule %s", a.Action, a.UpdateID, a.Group, d.Rule)}
		if a.Deadline != nil {
			ev.Detail += ", deadline " + a.Deadline.UTC().Format(time.RFC3339)
		}
		ev.Detail += " (" + strings.TrimPrefix(d.Reason, "approve: ") + ")"
		todo = append(todo, patchgate.RuleApproval{Rule: d.Rule, Approval: a, Event: ev, Reason: d.Reason})
		byEvent[ev.ID] = d
	}
	out := []patchgate.RuleDecision{}
	if len(todo) == 0 {
		return out, nil
	}
	stored, err := s.store.ApplyRuleApprovals(ctx, todo)
	if err != nil {
		return out, err
	}
	if len(stored) > 0 {
		s.invalidate()
	}
	for _, ra := range stored {
		out = append(out, byEvent[ra.Event.ID])
		s.log.Info("rule approved", "rule", ra.Rule, "update", ra.Approval.UpdateID, "group", ra.Approval.Group)
	}
	return out, nil
}

// runRulesJob runs the rules in the background (periodically, or after a
// posting). A failure is logged: the next run decides again from the
// stored state, and nothing was half done.
func (s *Server) runRulesJob(ctx context.Context, why string) {
	if _, err := s.runRules(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("approval rules failed", "trigger", why, "err", err)
	}
}

func (s *Server) listRules(w http.ResponseWriter, r *http.Request) {
	rules, err := s.store.ListRules(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rules)
}

// ruleText describes a rule for the activity log.
func ruleText(r patchgate.Rule) string {
	var b strings.Builder
	fmt.Fprintf(&b, "rule %s approves", r.Name)
	if len(r.Kinds)+len(r.Severities)+len(r.Products) == 0 {
		b.WriteString(" every posted update")
	} else {
		b.WriteString(" posted updates")
		if len(r.Kinds) > 0 {
			fmt.Fprintf(&b, " of kind %v", r.Kinds)
		}
		if len(r.Severities) > 0 {
			fmt.Fprintf(&b, " of severity %v", r.Severities)
		}
		if len(r.Products) > 0 {
			fmt.Fprintf(&b, " for %v", r.Products)
		}
	}
	fmt.Fprintf(&b, " for %v", r.Groups)
	if r.Delay > 0 {
		fmt.Fprintf(&b, " %s after posting", patchgate.DurationText(r.Delay))
	}
	if r.AfterGroup != "" {
		fmt.Fprintf(&b, " once %d host(s) of %s installed them with no failure", r.MinSuccess, r.AfterGroup)
		if r.Soak > 0 {
			fmt.Fprintf(&b, " and %s passed", patchgate.DurationText(r.Soak))
		}
	}
	if r.Deadline > 0 {
		fmt.Fprintf(&b, ", deadline %s after approval", patchgate.DurationText(r.Deadline))
	}
	if !r.Enabled {
		b.WriteString(" (disabled)")
	}
	return b.String()
}

func (s *Server) createRule(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req adminapi.CreateRuleRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	rule := patchgate.Rule{Name: req.Name, Kinds: req.Kinds, Severities: req.Severities, Products: req.Products,
		Groups: req.Groups, AfterGroup: req.AfterGroup, MinSuccess: req.MinSuccess, Enabled: !req.Disabled,
		CreatedBy: actor(r), CreatedAt: s.now().UTC()}
	var err error
	for _, d := range []struct {
		field, text string
		into        *time.Duration
	}{{"delay", req.Delay, &rule.Delay}, {"deadline", req.Deadline, &rule.Deadline}, {"soak", req.Soak, &rule.Soak}} {
		if *d.into, err = patchgate.ParseRuleDuration(d.field, d.text); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if err := rule.Validate(); err != nil {
		s.writeError(w, r, err)
		return
	}
	groups, err := s.store.ListGroups(ctx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	exists := func(name string) bool {
		return slices.ContainsFunc(groups, func(g patchgate.Group) bool { return g.Name == name })
	}
	for i, g := range rule.Groups {
		if !exists(g) {
			s.writeError(w, r, patchgate.Invalid(fmt.Sprintf("groups[%d]", i), "group %q does not exist", g))
			return
		}
	}
	if rule.AfterGroup != "" && !exists(rule.AfterGroup) {
		s.writeError(w, r, patchgate.Invalid("after_group", "group %q does not exist", rule.AfterGroup))
		return
	}
	ev := s.event(r, patchgate.EventRuleAdded)
	ev.Detail = ruleText(rule)
	if err := s.store.CreateRule(ctx, rule, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	resp := adminapi.RuleResponse{Rule: rule, Approved: []patchgate.RuleDecision{}}
	if rule.Enabled {
		if resp.Approved, err = s.runRules(ctx); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) deleteRule(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ev := s.event(r, patchgate.EventRuleRemoved)
	ev.Detail = "removed rule " + name
	if err := s.store.DeleteRule(r.Context(), name, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) disableRule(w http.ResponseWriter, r *http.Request) { s.setRuleEnabled(w, r, false) }
func (s *Server) enableRule(w http.ResponseWriter, r *http.Request)  { s.setRuleEnabled(w, r, true) }

func (s *Server) setRuleEnabled(w http.ResponseWriter, r *http.Request, enabled bool) {
	ctx := r.Context()
	name := r.PathValue("name")
	typ, verb := patchgate.EventRuleDisabled, "disabled"
	if enabled {
		typ, verb = patchgate.EventRuleEnabled, "enabled"
	}
	ev := s.event(r, typ)
	ev.Detail = verb + " rule " + name
	if err := s.store.SetRuleEnabled(ctx, name, enabled, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	resp := adminapi.RuleResponse{Approved: []patchgate.RuleDecision{}}
	rules, err := s.store.ListRules(ctx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, rule := range rules {
		if rule.Name == name {
			resp.Rule = rule
		}
	}
	if enabled {
		if resp.Approved, err = s.runRules(ctx); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) rulesDryRun(w http.ResponseWriter, r *http.Request) {
	in, err := s.ruleInput(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ds := patchgate.DecideRules(in)
	if ds == nil {
		ds = []patchgate.RuleDecision{}
	}
	writeJSON(w, http.StatusOK, adminapi.RulesDryRun{GeneratedAt: in.Now, Decisions: ds})
}

func (s *Server) runRulesNow(w http.ResponseWriter, r *http.Request) {
	approved, err := s.runRules(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, adminapi.RulesRun{Approved: approved})
}
