package storetest

import (
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

func testWindows(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	createGroup(t, s, "web")
	createGroup(t, s, "db")

	list, err := s.ListWindows(ctx)
	must(t, err, "ListWindows")
	if len(list) != 0 {
		t.Errorf("a new store has %d windows", len(list))
	}

	web := patchgate.Window{Group: "web", Schedule: "second tuesday +3d 22:00", Duration: 4 * time.Hour,
		TimeZone: "Europe/Paris", UpdatedAt: t0.In(elsewhere), UpdatedBy: "alice"}
	db := patchgate.Window{Group: "db", Schedule: "0 22 * * sat", Duration: 90 * time.Minute,
		TimeZone: "America/New_York", UpdatedAt: t0, UpdatedBy: "alice"}
	ev := newEvent(patchgate.EventWindowSet)
	must(t, s.SetWindow(ctx, web, ev), "SetWindow web")
	findEvent(t, s, ev.ID)
	must(t, s.SetWindow(ctx, db, newEvent(patchgate.EventWindowSet)), "SetWindow db")
	list, err = s.ListWindows(ctx)
	must(t, err, "ListWindows")
	same(t, "ListWindows, ordered by group", list, []patchgate.Window{db, web})

	// Setting a group's window again replaces it.
	web2 := web
	web2.Schedule, web2.Duration, web2.UpdatedBy, web2.UpdatedAt = "0 1 * * *", 2*time.Hour, "bob", t0.Add(time.Hour)
	must(t, s.SetWindow(ctx, web2, newEvent(patchgate.EventWindowSet)), "SetWindow web again")
	list, err = s.ListWindows(ctx)
	must(t, err, "ListWindows")
	same(t, "ListWindows after replace", list, []patchgate.Window{db, web2})

	// Removing it.
	ev = newEvent(patchgate.EventWindowRemoved)
	must(t, s.DeleteWindow(ctx, "web", ev), "DeleteWindow")
	findEvent(t, s, ev.ID)
	list, err = s.ListWindows(ctx)
	must(t, err, "ListWindows")
	same(t, "ListWindows after delete", list, []patchgate.Window{db})

	// Deleting the group deletes its window.
	must(t, s.DeleteGroup(ctx, "db", newEvent(patchgate.EventGroupChanged)), "DeleteGroup")
	list, err = s.ListWindows(ctx)
	must(t, err, "ListWindows")
	if len(list) != 0 {
		t.Errorf("the window of a deleted group remains: %+v", list)
	}
}

func testWindowsRefused(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	before := len(allEvents(t, s))
	w := patchgate.Window{Group: "nope", Schedule: "0 22 * * sat", Duration: time.Hour, TimeZone: "UTC", UpdatedAt: t0}
	wantNotFound(t, s.SetWindow(ctx, w, newEvent(patchgate.EventWindowSet)), "SetWindow of a missing group")
	wantNotFound(t, s.DeleteWindow(ctx, "all", newEvent(patchgate.EventWindowRemoved)), "DeleteWindow of a group without one")
	if after := len(allEvents(t, s)); after != before {
		t.Errorf("refused window changes appended %d events", after-before)
	}
}

func testApprovalsEmergency(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	putUpdate(t, s, newUpdate("HF-1"))
	createGroup(t, s, "web")
	a := patchgate.Approval{UpdateID: "HF-1", Group: "web", Action: patchgate.ActionInstall, Emergency: true, CreatedBy: "alice", CreatedAt: t0}
	must(t, s.SetApprovals(ctx, []patchgate.Approval{a}, newEvent(patchgate.EventApproved)), "SetApprovals emergency")
	list, err := s.ListApprovals(ctx)
	must(t, err, "ListApprovals")
	same(t, "emergency approval", list, []patchgate.Approval{a})
	a.Emergency = false
	must(t, s.SetApprovals(ctx, []patchgate.Approval{a}, newEvent(patchgate.EventApproved)), "SetApprovals not emergency")
	list, err = s.ListApprovals(ctx)
	must(t, err, "ListApprovals")
	same(t, "approval no longer emergency", list, []patchgate.Approval{a})
}
