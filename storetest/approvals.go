package storetest

import (
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

func testApprovals(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	putUpdate(t, s, newUpdate("HF-1"))
	putUpdate(t, s, newUpdate("HF-2"))
	createGroup(t, s, "web")
	createGroup(t, s, "db")

	list, err := s.ListApprovals(ctx)
	must(t, err, "ListApprovals")
	if len(list) != 0 {
		t.Errorf("a new store has %d approvals", len(list))
	}

	deadline := t0.Add(72 * time.Hour).In(elsewhere)
	first := []patchgate.Approval{
		{UpdateID: "HF-2", Group: "web", Action: patchgate.ActionInstall, Deadline: &deadline, CreatedBy: "alice", CreatedAt: t0},
		{UpdateID: "HF-1", Group: "web", Action: patchgate.ActionInstall, CreatedBy: "alice", CreatedAt: t0},
		{UpdateID: "HF-1", Group: "db", Action: patchgate.ActionDecline, CreatedBy: "alice", CreatedAt: t0},
	}
	ev := newEvent(patchgate.EventApproved)
	must(t, s.SetApprovals(ctx, first, ev), "SetApprovals")
	findEvent(t, s, ev.ID)
	list, err = s.ListApprovals(ctx)
	must(t, err, "ListApprovals")
	same(t, "ListApprovals, ordered by update and group", list, []patchgate.Approval{first[2], first[1], first[0]})
	for _, a := range list {
		if a.UpdateID == "HF-2" && (a.Deadline == nil || !a.Deadline.Equal(deadline)) {
			t.Errorf("deadline %v, want %v", a.Deadline, deadline)
		}
	}

	// Setting (update, group) again replaces the approval, deadline included.
	later := t0.Add(time.Hour)
	second := []patchgate.Approval{
		{UpdateID: "HF-2", Group: "web", Action: patchgate.ActionUninstall, CreatedBy: "bob", CreatedAt: later},
		{UpdateID: "HF-1", Group: "web", Action: patchgate.ActionInstall, Deadline: &deadline, CreatedBy: "bob", CreatedAt: later},
	}
	must(t, s.SetApprovals(ctx, second, newEvent(patchgate.EventApproved)), "SetApprovals again")
	list, err = s.ListApprovals(ctx)
	must(t, err, "ListApprovals")
	same(t, "ListApprovals after replace", list, []patchgate.Approval{first[2], second[1], second[0]})

	ev = newEvent(patchgate.EventUnapproved)
	must(t, s.DeleteApprovals(ctx, []string{"HF-1", "HF-2", "HF-404"}, "web", ev), "DeleteApprovals")
	findEvent(t, s, ev.ID)
	list, err = s.ListApprovals(ctx)
	must(t, err, "ListApprovals")
	same(t, "ListApprovals after delete", list, []patchgate.Approval{first[2]})

	// A deleted group's approvals go with it.
	must(t, s.DeleteGroup(ctx, "db", newEvent(patchgate.EventGroupChanged)), "DeleteGroup")
	list, err = s.ListApprovals(ctx)
	must(t, err, "ListApprovals")
	if len(list) != 0 {
		t.Errorf("approvals of a deleted group remain: %+v", list)
	}
}

func testApprovalsRefused(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	putUpdate(t, s, newUpdate("HF-1"))
	createGroup(t, s, "web")
	ok := patchgate.Approval{UpdateID: "HF-1", Group: "web", Action: patchgate.ActionInstall, CreatedBy: "alice", CreatedAt: t0}

	err := s.SetApprovals(ctx, []patchgate.Approval{ok, {UpdateID: "HF-404", Group: "web", Action: patchgate.ActionInstall, CreatedAt: t0}}, newEvent(patchgate.EventApproved))
	wantNotFound(t, err, "SetApprovals of an unknown update")
	err = s.SetApprovals(ctx, []patchgate.Approval{ok, {UpdateID: "HF-1", Group: "nogroup", Action: patchgate.ActionInstall, CreatedAt: t0}}, newEvent(patchgate.EventApproved))
	wantNotFound(t, err, "SetApprovals for an unknown group")
	err = s.SetApprovals(ctx, []patchgate.Approval{ok, {UpdateID: "HF-1", Group: "web", Action: "maybe", CreatedAt: t0}}, newEvent(patchgate.EventApproved))
	wantCode(t, err, patchgate.CodeInvalid, "SetApprovals with an unknown action")

	// Each refused batch was refused whole.
	list, err := s.ListApprovals(ctx)
	must(t, err, "ListApprovals")
	if len(list) != 0 {
		t.Errorf("refused batches left approvals: %+v", list)
	}
}
