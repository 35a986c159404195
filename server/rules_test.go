package server_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/agentapi"
)

func (e *env) dryRun() []patchgate.RuleDecision {
	e.t.Helper()
	var d adminapi.RulesDryRun
	if st := e.call("GET", "/api/v1/rules/dry-run", e.admin, nil, &d); st != 200 {
		e.t.Fatalf("dry-run: %d", st)
	}
	return d.Decisions
}

func (e *env) approvalOf(update, group string) *patchgate.Approval {
	e.t.Helper()
	var as []patchgate.Approval
	e.call("GET", "/api/v1/approvals", e.admin, nil, &as)
	for _, a := range as {
		if a.UpdateID == update && a.Group == group {
			return &a
		}
	}
	return nil
}

func decisionFor(ds []patchgate.RuleDecision, update, group string) *patchgate.RuleDecision {
	for _, d := range ds {
		if d.UpdateID == update && d.Group == group {
			return &d
		}
	}
	return nil
}

// TestRules drives the rule engine through the API with a fake clock:
// validation, ring promotion (successes, soak), a failure blocking, the
// run on posting, declines and removed approvals never overridden,
// disable/enable, and the audit trail.
func TestRules(t *testing.T) {
	now := at("2026-12-02T12:00:00Z")
	clock := &fakeClock{now: now}
	e := newClockEnv(t, clock)
	for _, g := range []string{"test", "prod"} {
		e.call("POST", "/api/v1/groups", e.admin, adminapi.CreateGroupRequest{Name: g}, nil)
	}
	inv := patchgate.Inventory{Hostname: "h", Mode: patchgate.ModeAutomatic, Products: []patchgate.InstalledProduct{{Name: "app", Version: "1.0"}}}
	var testCreds []string
	for range 2 {
		_, c := e.enroll("test", inv)
		testCreds = append(testCreds, c)
	}
	e.enroll("prod", inv)

	ring := adminapi.CreateRuleRequest{Name: "ring", Kinds: []patchgate.Kind{patchgate.KindHotfix}, Groups: []string{"prod"},
		AfterGroup: "test", MinSuccess: 2, Soak: "1h", Deadline: "14d"}
	for _, bad := range []struct {
		mut   func(*adminapi.CreateRuleRequest)
		field string
	}{
		{func(r *adminapi.CreateRuleRequest) { r.Name = "Bad Name" }, "name"},
		{func(r *adminapi.CreateRuleRequest) { r.Soak = "soon" }, "soak"},
		{func(r *adminapi.CreateRuleRequest) { r.Delay = "-1d" }, "delay"},
		{func(r *adminapi.CreateRuleRequest) { r.Groups = []string{"nope"} }, "groups[0]"},
		{func(r *adminapi.CreateRuleRequest) { r.AfterGroup = "nope" }, "after_group"},
		{func(r *adminapi.CreateRuleRequest) { r.AfterGroup = "" }, "after_group"},
		{func(r *adminapi.CreateRuleRequest) { r.MinSuccess = 0 }, "min_success"},
		{func(r *adminapi.CreateRuleRequest) { r.Kinds = []patchgate.Kind{"patch"} }, "kinds[0]"},
	} {
		req := ring
		bad.mut(&req)
		var eb agentapi.ErrorBody
		if st := e.call("POST", "/api/v1/rules", e.admin, req, &eb); st != 400 || !strings.HasPrefix(eb.Message, bad.field+":") {
			t.Errorf("rule %+v: %d %+v, want 400 naming %s", req, st, eb, bad.field)
		}
	}
	if st := e.call("POST", "/api/v1/rules", e.token(patchgate.RoleViewer), ring, nil); st != 403 {
		t.Errorf("a viewer added a rule: %d", st)
	}
	var rr adminapi.RuleResponse
	if st := e.call("POST", "/api/v1/rules", e.token(patchgate.RoleApprover), ring, &rr); st != 201 {
		t.Fatalf("add rule: %d", st)
	}
	if rr.Rule.Soak != time.Hour || rr.Rule.Deadline != 14*24*time.Hour || !rr.Rule.Enabled || rr.Rule.CreatedBy != "token:approver" || len(rr.Approved) != 0 {
		t.Fatalf("rule %+v", rr)
	}
	if st := e.call("POST", "/api/v1/rules", e.admin, ring, nil); st != 409 {
		t.Errorf("a second rule with the same name: %d", st)
	}

	// Posted: the ring waits for successes in test.
	e.publish("HF-1", "app", "", []byte("#!/bin/sh\n"), nil)
	if d := decisionFor(e.dryRun(), "HF-1", "prod"); d == nil || d.Verdict != patchgate.RuleWaiting || !strings.Contains(d.Reason, "0/2 successes in test") {
		t.Fatalf("dry-run: %+v", d)
	}
	e.report(testCreds[0], patchgate.Event{ID: "t1", Time: now, Type: patchgate.EventDeployment, UpdateID: "HF-1", State: patchgate.StateInstalled})
	if d := decisionFor(e.dryRun(), "HF-1", "prod"); d == nil || !strings.Contains(d.Reason, "1/2 successes in test") {
		t.Fatalf("dry-run: %+v", d)
	}
	second := now.Add(10 * time.Minute)
	e.report(testCreds[1], patchgate.Event{ID: "t2", Time: second, Type: patchgate.EventDeployment, UpdateID: "HF-1", State: patchgate.StateInstalled})
	clock.Set(second.Add(59 * time.Minute))
	d := decisionFor(e.dryRun(), "HF-1", "prod")
	if d == nil || d.Verdict != patchgate.RuleWaiting || !d.Due.Equal(second.Add(time.Hour)) || !strings.Contains(d.Reason, "soaking until") {
		t.Fatalf("dry-run while soaking: %+v", d)
	}
	var run adminapi.RulesRun
	e.call("POST", "/api/v1/rules/run", e.admin, nil, &run)
	if len(run.Approved) != 0 || e.approvalOf("HF-1", "prod") != nil {
		t.Fatalf("approved while soaking: %+v", run)
	}
	// The soak ends an hour after the second success.
	clock.Set(second.Add(time.Hour))
	if st := e.call("POST", "/api/v1/rules/run", e.token(patchgate.RoleViewer), nil, nil); st != 403 {
		t.Errorf("a viewer ran the rules: %d", st)
	}
	e.call("POST", "/api/v1/rules/run", e.admin, nil, &run)
	if len(run.Approved) != 1 || run.Approved[0].UpdateID != "HF-1" || run.Approved[0].Rule != "ring" {
		t.Fatalf("run: %+v", run)
	}
	a := e.approvalOf("HF-1", "prod")
	if a == nil || a.Action != patchgate.ActionInstall || a.CreatedBy != "rule:ring" || a.Deadline == nil ||
		!a.Deadline.Equal(second.Add(time.Hour+14*24*time.Hour)) {
		t.Fatalf("approval %+v", a)
	}
	var evs []patchgate.Event
	e.call("GET", "/api/v1/events?type=approval.set&update=HF-1", e.admin, nil, &evs)
	if len(evs) != 1 || evs[0].Actor != "rule:ring" || !strings.Contains(evs[0].Detail, "by rule ring") || !strings.Contains(evs[0].Detail, "2/2 successes in test") {
		t.Fatalf("events %+v", evs)
	}
	e.call("POST", "/api/v1/rules/run", e.admin, nil, &run)
	if len(run.Approved) != 0 {
		t.Fatalf("approved twice: %+v", run)
	}

	// A failure in the source group blocks, however many succeeded.
	e.publish("HF-2", "app", "", []byte("#!/bin/sh\necho 2\n"), nil)
	e.report(testCreds[0], patchgate.Event{ID: "t3", Time: clock.Now(), Type: patchgate.EventDeployment, UpdateID: "HF-2", State: patchgate.StateInstalled})
	e.report(testCreds[1], patchgate.Event{ID: "t4", Time: clock.Now(), Type: patchgate.EventDeployment, UpdateID: "HF-2", State: patchgate.StateFailed, ExitCode: 3})
	clock.Set(clock.Now().Add(48 * time.Hour))
	if d := decisionFor(e.dryRun(), "HF-2", "prod"); d == nil || d.Verdict != patchgate.RuleBlocked || !strings.Contains(d.Reason, "1 host(s) of test failed") {
		t.Fatalf("dry-run after a failure: %+v", d)
	}

	// A rule without delay approves at posting; declines stand.
	e.publish("HF-3", "app", "", []byte("#!/bin/sh\necho 3\n"), nil)
	e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{"HF-3"}, Group: "prod", Action: patchgate.ActionDecline}, nil)
	var now2 adminapi.RuleResponse
	if st := e.call("POST", "/api/v1/rules", e.admin, adminapi.CreateRuleRequest{Name: "now", Groups: []string{"prod"}, Severities: []patchgate.Severity{patchgate.SeverityCritical}}, &now2); st != 201 {
		t.Fatalf("add rule now: %d", st)
	}
	// It acts at once on HF-2 (the ring rule is blocked, this one is not).
	if len(now2.Approved) != 1 || now2.Approved[0].UpdateID != "HF-2" || now2.Approved[0].Rule != "now" {
		t.Fatalf("rule now approved %+v", now2.Approved)
	}
	if a := e.approvalOf("HF-3", "prod"); a == nil || a.Action != patchgate.ActionDecline {
		t.Fatalf("the decline of HF-3 was overridden: %+v", a)
	}
	e.publish("HF-4", "app", "", []byte("#!/bin/sh\necho 4\n"), nil)
	if a := e.approvalOf("HF-4", "prod"); a == nil || a.CreatedBy != "rule:now" {
		t.Fatalf("posting did not run the rules: %+v", a)
	}

	// An approval an admin removed is not made again.
	if st := e.call("DELETE", "/api/v1/approvals/prod/HF-4", e.admin, nil, nil); st != 204 {
		t.Fatalf("unapprove: %d", st)
	}
	e.call("POST", "/api/v1/rules/run", e.admin, nil, &run)
	if len(run.Approved) != 0 || e.approvalOf("HF-4", "prod") != nil {
		t.Fatalf("a removed approval came back: %+v", run)
	}

	// Disabled rules do nothing; enabling runs them.
	if st := e.call("POST", "/api/v1/rules/now/disable", e.admin, nil, &rr); st != 200 || rr.Rule.Enabled {
		t.Fatalf("disable: %d %+v", st, rr)
	}
	e.publish("HF-5", "app", "", []byte("#!/bin/sh\necho 5\n"), nil)
	if a := e.approvalOf("HF-5", "prod"); a != nil {
		t.Fatalf("a disabled rule approved: %+v", a)
	}
	if st := e.call("POST", "/api/v1/rules/now/enable", e.admin, nil, &rr); st != 200 || !rr.Rule.Enabled || len(rr.Approved) != 1 || rr.Approved[0].UpdateID != "HF-5" {
		t.Fatalf("enable: %d %+v", st, rr)
	}
	if st := e.call("POST", "/api/v1/rules/nope/enable", e.admin, nil, nil); st != 404 {
		t.Errorf("enable a missing rule: %d", st)
	}

	var rules []patchgate.Rule
	e.call("GET", "/api/v1/rules", e.token(patchgate.RoleViewer), nil, &rules)
	if len(rules) != 2 || rules[0].Name != "now" || rules[1].Name != "ring" {
		t.Fatalf("rules %+v", rules)
	}
	if st := e.call("DELETE", "/api/v1/rules/now", e.admin, nil, nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	if st := e.call("DELETE", "/api/v1/rules/now", e.admin, nil, nil); st != 404 {
		t.Fatalf("delete again: %d", st)
	}
	if a := e.approvalOf("HF-5", "prod"); a == nil {
		t.Fatal("removing a rule removed its approvals")
	}
	for _, typ := range []string{patchgate.EventRuleAdded, patchgate.EventRuleDisabled, patchgate.EventRuleEnabled, patchgate.EventRuleRemoved} {
		e.call("GET", "/api/v1/events?type="+typ, e.admin, nil, &evs)
		if len(evs) == 0 {
			t.Errorf("no %s event", typ)
		}
	}
}

// TestRulesConcurrentRuns: simultaneous runs (a posting, the periodic job,
// "rule run") approve each pair once, with one event.
func TestRulesConcurrentRuns(t *testing.T) {
	e := newEnv(t)
	e.call("POST", "/api/v1/groups", e.admin, adminapi.CreateGroupRequest{Name: "prod"}, nil)
	if st := e.call("POST", "/api/v1/rules", e.admin, adminapi.CreateRuleRequest{Name: "later", Groups: []string{"prod"}, Disabled: true}, nil); st != 201 {
		t.Fatalf("add rule: %d", st)
	}
	for i := range 5 {
		e.publish(fmt.Sprintf("HF-%d", i), "app", "", []byte(fmt.Sprintf("#!/bin/sh\necho %d\n", i)), nil)
	}
	// Enabling runs the rules; eight runs race it.
	var wg sync.WaitGroup
	var mu sync.Mutex
	approved := 0
	wg.Go(func() {
		var rr adminapi.RuleResponse
		e.call("POST", "/api/v1/rules/later/enable", e.admin, nil, &rr)
		mu.Lock()
		approved += len(rr.Approved)
		mu.Unlock()
	})
	for range 8 {
		wg.Go(func() {
			var run adminapi.RulesRun
			e.call("POST", "/api/v1/rules/run", e.admin, nil, &run)
			mu.Lock()
			approved += len(run.Approved)
			mu.Unlock()
		})
	}
	wg.Wait()
	if approved != 5 {
		t.Errorf("the runs reported %d approvals, want 5", approved)
	}
	var evs []patchgate.Event
	e.call("GET", "/api/v1/events?type=approval.set&limit=1000", e.admin, nil, &evs)
	if len(evs) != 5 {
		t.Fatalf("%d approval events, want 5: %+v", len(evs), evs)
	}
}
