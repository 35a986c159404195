package storetest

import (
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

func testRules(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	list, err := s.ListRules(ctx)
	must(t, err, "ListRules")
	if len(list) != 0 {
		t.Fatalf("a new store has rules: %+v", list)
	}
	ring := patchgate.Rule{Name: "ring-prod", Kinds: []patchgate.Kind{patchgate.KindHotfix, patchgate.KindSecurity},
		Severities: []patchgate.Severity{patchgate.SeverityCritical}, Products: []string{"cisco.ucce"},
		Groups: []string{"prod", "dr"}, Delay: 7 * 24 * time.Hour, Deadline: 14 * 24 * time.Hour,
		AfterGroup: "test", MinSuccess: 5, Soak: 90 * time.Minute, Enabled: true, CreatedBy: "alice", CreatedAt: t0.In(elsewhere)}
	all := patchgate.Rule{Name: "all-lab", Groups: []string{"lab"}, Enabled: true, CreatedBy: "bob", CreatedAt: t0}
	ev := newEvent(patchgate.EventRuleAdded)
	must(t, s.CreateRule(ctx, ring, ev), "CreateRule ring")
	findEvent(t, s, ev.ID)
	must(t, s.CreateRule(ctx, all, newEvent(patchgate.EventRuleAdded)), "CreateRule all")
	list, err = s.ListRules(ctx)
	must(t, err, "ListRules")
	same(t, "ListRules, by name", list, []patchgate.Rule{all, ring})

	// A taken name is a conflict; an invalid rule is refused; neither
	// appends an event.
	before := len(allEvents(t, s))
	dup := all
	dup.Groups = []string{"other"}
	wantCode(t, s.CreateRule(ctx, dup, newEvent(patchgate.EventRuleAdded)), patchgate.CodeConflict, "CreateRule taken name")
	bad := all
	bad.Name = "Bad Name"
	wantCode(t, s.CreateRule(ctx, bad, newEvent(patchgate.EventRuleAdded)), patchgate.CodeInvalid, "CreateRule invalid")
	wantNotFound(t, s.DeleteRule(ctx, "nope", newEvent(patchgate.EventRuleRemoved)), "DeleteRule missing")
	wantNotFound(t, s.SetRuleEnabled(ctx, "nope", false, newEvent(patchgate.EventRuleDisabled)), "SetRuleEnabled missing")
	if after := len(allEvents(t, s)); after != before {
		t.Errorf("refused rule changes appended %d events", after-before)
	}

	ev = newEvent(patchgate.EventRuleDisabled)
	must(t, s.SetRuleEnabled(ctx, "ring-prod", false, ev), "disable")
	findEvent(t, s, ev.ID)
	list, err = s.ListRules(ctx)
	must(t, err, "ListRules")
	ring.Enabled = false
	same(t, "after disable", list, []patchgate.Rule{all, ring})
	must(t, s.SetRuleEnabled(ctx, "ring-prod", true, newEvent(patchgate.EventRuleEnabled)), "enable")
	must(t, s.SetRuleEnabled(ctx, "ring-prod", true, newEvent(patchgate.EventRuleEnabled)), "enable twice")
	ring.Enabled = true

	ev = newEvent(patchgate.EventRuleRemoved)
	must(t, s.DeleteRule(ctx, "all-lab", ev), "DeleteRule")
	findEvent(t, s, ev.ID)
	list, err = s.ListRules(ctx)
	must(t, err, "ListRules")
	same(t, "after delete", list, []patchgate.Rule{ring})
}

func ruleApproval(rule, update, group string, at time.Time, deadline *time.Time) patchgate.RuleApproval {
	ev := newEvent(patchgate.EventApproved)
	ev.Actor, ev.UpdateID = patchgate.RuleActor(rule), update
	return patchgate.RuleApproval{Rule: rule, Reason: "matches rule " + rule, Event: ev,
		Approval: patchgate.Approval{UpdateID: update, Group: group, Action: patchgate.ActionInstall, Deadline: deadline,
			CreatedBy: patchgate.RuleActor(rule), CreatedAt: at}}
}

func testRuleApprovals(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	putUpdate(t, s, newUpdate("HF-1"))
	putUpdate(t, s, newUpdate("HF-2"))
	createGroup(t, s, "prod")
	createGroup(t, s, "pilot")
	// An admin declined HF-2 for prod.
	decline := patchgate.Approval{UpdateID: "HF-2", Group: "prod", Action: patchgate.ActionDecline, CreatedBy: "admin", CreatedAt: t0}
	must(t, s.SetApprovals(ctx, []patchgate.Approval{decline}, newEvent(patchgate.EventApproved)), "SetApprovals decline")

	dl := t0.Add(14 * 24 * time.Hour).In(elsewhere)
	hf1prod := ruleApproval("fast", "HF-1", "prod", t0, &dl)
	hf1pilot := ruleApproval("fast", "HF-1", "pilot", t0, nil)
	hf2prod := ruleApproval("fast", "HF-2", "prod", t0, nil)  // declined: skipped
	ghost := ruleApproval("fast", "HF-1", "gone", t0, nil)    // no such group: skipped
	nobody := ruleApproval("fast", "NOPE-1", "prod", t0, nil) // no such update: skipped
	stored, err := s.ApplyRuleApprovals(ctx, []patchgate.RuleApproval{hf1prod, hf2prod, ghost, nobody, hf1pilot})
	must(t, err, "ApplyRuleApprovals")
	if len(stored) != 2 || stored[0].Event.ID != hf1prod.Event.ID || stored[1].Event.ID != hf1pilot.Event.ID {
		t.Fatalf("stored %+v, want HF-1 for prod and pilot", stored)
	}
	ev := findEvent(t, s, hf1prod.Event.ID)
	if ev.Actor != "rule:fast" || ev.Type != patchgate.EventApproved || ev.UpdateID != "HF-1" {
		t.Errorf("event %+v", ev)
	}
	evs := allEvents(t, s)
	if hasEvent(evs, hf2prod.Event.ID) || hasEvent(evs, ghost.Event.ID) || hasEvent(evs, nobody.Event.ID) {
		t.Error("a skipped rule approval appended its event")
	}
	as, err := s.ListApprovals(ctx)
	must(t, err, "ListApprovals")
	same(t, "approvals: the decline stands, the rule's are stored with their author", as,
		[]patchgate.Approval{hf1pilot.Approval, hf1prod.Approval, decline})

	ledger, err := s.RuleApprovals(ctx)
	must(t, err, "RuleApprovals")
	for i := range ledger {
		ledger[i].Event = patchgate.Event{}
	}
	want := []patchgate.RuleApproval{hf1pilot, hf1prod}
	for i := range want {
		want[i].Event = patchgate.Event{}
	}
	same(t, "ledger", ledger, want)

	// An admin removes the rule's approval: applying again stores nothing,
	// the ledger remembers the pair.
	must(t, s.DeleteApprovals(ctx, []string{"HF-1"}, "pilot", newEvent(patchgate.EventUnapproved)), "DeleteApprovals")
	again := ruleApproval("other", "HF-1", "pilot", t0.Add(time.Hour), nil)
	stored, err = s.ApplyRuleApprovals(ctx, []patchgate.RuleApproval{again})
	must(t, err, "ApplyRuleApprovals again")
	if len(stored) != 0 {
		t.Fatalf("a pair in the ledger was approved again: %+v", stored)
	}
	// Rules approve for install only.
	un := ruleApproval("fast", "HF-2", "pilot", t0, nil)
	un.Approval.Action = patchgate.ActionUninstall
	_, err = s.ApplyRuleApprovals(ctx, []patchgate.RuleApproval{un})
	wantCode(t, err, patchgate.CodeInvalid, "ApplyRuleApprovals uninstall")

	// Deleting a group drops its ledger entries with its approvals.
	must(t, s.DeleteGroup(ctx, "prod", newEvent(patchgate.EventGroupChanged)), "DeleteGroup")
	ledger, err = s.RuleApprovals(ctx)
	must(t, err, "RuleApprovals")
	if len(ledger) != 1 || ledger[0].Approval.Group != "pilot" {
		t.Errorf("ledger after deleting prod: %+v", ledger)
	}
}
