package storetest

import (
	"strings"
	"testing"

	"github.com/patchgate/patchgate"
)

func testGroupTree(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	createGroup(t, s, "prod")
	// Created below a parent, with its own reboot policy.
	must(t, s.CreateGroup(ctx, patchgate.Group{Name: "prod-eu", Parent: "prod", RebootPolicy: patchgate.RebootPolicyNever, CreatedAt: t0},
		newEvent(patchgate.EventGroupChanged)), "CreateGroup prod-eu below prod")
	must(t, s.CreateGroup(ctx, patchgate.Group{Name: "paris", Parent: patchgate.GroupAll, CreatedAt: t0},
		newEvent(patchgate.EventGroupChanged)), "CreateGroup paris below all")
	wantCode(t, s.CreateGroup(ctx, patchgate.Group{Name: "x", Parent: "nope", CreatedAt: t0}, newEvent(patchgate.EventGroupChanged)),
		patchgate.CodeInvalid, "CreateGroup below an unknown parent")
	wantCode(t, s.CreateGroup(ctx, patchgate.Group{Name: "y", RebootPolicy: "sometimes", CreatedAt: t0}, newEvent(patchgate.EventGroupChanged)),
		patchgate.CodeInvalid, "CreateGroup with an unknown reboot policy")

	ev := newEvent(patchgate.EventGroupParentSet)
	must(t, s.SetGroupParent(ctx, "paris", "prod-eu", ev), "SetGroupParent paris below prod-eu")
	findEvent(t, s, ev.ID)
	ev = newEvent(patchgate.EventGroupRebootSet)
	must(t, s.SetGroupRebootPolicy(ctx, "prod", patchgate.RebootPolicyAlways, ev), "SetGroupRebootPolicy prod")
	findEvent(t, s, ev.ID)

	nodes, err := s.GroupNodes(ctx)
	must(t, err, "GroupNodes")
	same(t, "GroupNodes", nodes, []patchgate.GroupNode{
		{Name: patchgate.GroupAll},
		{Name: "paris", Parent: "prod-eu"},
		{Name: "prod", RebootPolicy: patchgate.RebootPolicyAlways},
		{Name: "prod-eu", Parent: "prod", RebootPolicy: patchgate.RebootPolicyNever},
	})
	gs, err := s.ListGroups(ctx)
	must(t, err, "ListGroups")
	for _, g := range gs {
		if g.Name == "prod-eu" && (g.Parent != "prod" || g.RebootPolicy != patchgate.RebootPolicyNever) {
			t.Errorf("ListGroups: prod-eu = %+v", g)
		}
	}

	// Cycles are refused and named; nothing changes, no event is appended.
	ev = newEvent("failing.test")
	err = s.SetGroupParent(ctx, "prod", "paris", ev)
	wantCode(t, err, patchgate.CodeConflict, "SetGroupParent prod below its grandchild")
	if err != nil && !strings.Contains(err.Error(), "prod → paris → prod-eu → prod") {
		t.Errorf("the cycle is not named: %v", err)
	}
	wantCode(t, s.SetGroupParent(ctx, "prod", "prod", ev), patchgate.CodeConflict, "SetGroupParent prod below itself")
	wantCode(t, s.SetGroupParent(ctx, patchgate.GroupAll, "prod", ev), patchgate.CodeInvalid, "SetGroupParent of all")
	wantCode(t, s.SetGroupParent(ctx, "prod", "nope", ev), patchgate.CodeInvalid, "SetGroupParent below an unknown group")
	wantNotFound(t, s.SetGroupParent(ctx, "nope", "prod", ev), "SetGroupParent of an unknown group")
	wantNotFound(t, s.SetGroupRebootPolicy(ctx, "nope", patchgate.RebootPolicyNever, ev), "SetGroupRebootPolicy of an unknown group")
	wantCode(t, s.SetGroupRebootPolicy(ctx, "prod", "sometimes", ev), patchgate.CodeInvalid, "SetGroupRebootPolicy sometimes")
	if hasEvent(allEvents(t, s), ev.ID) {
		t.Error("a refused change appended its event")
	}

	// A group with children cannot be deleted; once they moved, it can.
	err = s.DeleteGroup(ctx, "prod", newEvent(patchgate.EventGroupChanged))
	wantCode(t, err, patchgate.CodeConflict, "DeleteGroup of a parent")
	if err != nil && !strings.Contains(err.Error(), "prod-eu") {
		t.Errorf("the children are not named: %v", err)
	}
	must(t, s.SetGroupParent(ctx, "prod-eu", "", newEvent(patchgate.EventGroupParentSet)), "SetGroupParent prod-eu to the root")
	must(t, s.SetGroupRebootPolicy(ctx, "prod", "", newEvent(patchgate.EventGroupRebootSet)), "SetGroupRebootPolicy prod inherit")
	must(t, s.DeleteGroup(ctx, "prod", newEvent(patchgate.EventGroupChanged)), "DeleteGroup prod")
	nodes, err = s.GroupNodes(ctx)
	must(t, err, "GroupNodes")
	same(t, "GroupNodes after the moves", nodes, []patchgate.GroupNode{
		{Name: patchgate.GroupAll},
		{Name: "paris", Parent: "prod-eu"},
		{Name: "prod-eu", RebootPolicy: patchgate.RebootPolicyNever},
	})
}
