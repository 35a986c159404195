package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

// testReleaseStates: a new update is received from its event's time; a
// transition checks the current status, returns the previous state and
// appends its event; posting stamps PostedAt and Forced; a revision that
// changes what hosts run goes back to received, one that changes words
// does not.
func testReleaseStates(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	ev := newEvent(patchgate.EventUpdateAdded)
	_, _, err := s.PutUpdate(ctx, newUpdate("HF-1"), ev)
	must(t, err, "PutUpdate")
	st, err := s.ReleaseState(ctx, "HF-1")
	must(t, err, "ReleaseState")
	same(t, "new update", st, patchgate.ReleaseState{UpdateID: "HF-1", Status: patchgate.StatusReceived, Revision: 1, Since: ev.Time, ReceivedAt: ev.Time})
	wantNotFound(t, func() error { _, err := s.ReleaseState(ctx, "nope"); return err }(), "ReleaseState of a missing update")

	// From a status not in from: conflict naming it, nothing appended.
	before := len(allEvents(t, s))
	_, err = s.TransitionUpdate(ctx, "HF-1", []patchgate.UpdateStatus{patchgate.StatusTested}, patchgate.StatusPosted, false, t0, newEvent(patchgate.EventUpdatePosted))
	wantCode(t, err, patchgate.CodeConflict, "post a received update as if tested")
	if err != nil && !strings.Contains(err.Error(), "received") {
		t.Errorf("conflict does not name the status: %v", err)
	}
	_, err = s.TransitionUpdate(ctx, "nope", []patchgate.UpdateStatus{patchgate.StatusReceived}, patchgate.StatusTesting, false, t0, newEvent(patchgate.EventUpdateTesting))
	wantNotFound(t, err, "TransitionUpdate of a missing update")
	if after := len(allEvents(t, s)); after != before {
		t.Errorf("refused transitions appended %d events", after-before)
	}

	tTest := t0.Add(time.Hour)
	ev = newEvent(patchgate.EventUpdateTesting)
	ev.Detail = "approved for lab"
	prev, err := s.TransitionUpdate(ctx, "HF-1", []patchgate.UpdateStatus{patchgate.StatusReceived}, patchgate.StatusTesting, false, tTest.In(elsewhere), ev)
	must(t, err, "TransitionUpdate to testing")
	if prev.Status != patchgate.StatusReceived {
		t.Errorf("previous status %s, want received", prev.Status)
	}
	got := findEvent(t, s, ev.ID)
	if got.UpdateID != "HF-1" || got.Type != patchgate.EventUpdateTesting || !strings.Contains(got.Detail, "received → testing") || !strings.Contains(got.Detail, "approved for lab") {
		t.Errorf("transition event %+v", got)
	}
	tPost := t0.Add(2 * time.Hour)
	_, err = s.TransitionUpdate(ctx, "HF-1", []patchgate.UpdateStatus{patchgate.StatusTesting}, patchgate.StatusPosted, true, tPost, newEvent(patchgate.EventUpdatePosted))
	must(t, err, "TransitionUpdate to posted")
	st, err = s.ReleaseState(ctx, "HF-1")
	must(t, err, "ReleaseState")
	same(t, "posted", st, patchgate.ReleaseState{UpdateID: "HF-1", Status: patchgate.StatusPosted, Revision: 1, Since: tPost,
		ReceivedAt: st.ReceivedAt, PostedAt: tPost, Forced: true})

	// Words only: still posted.
	u := newUpdate("HF-1")
	u.Title = "a better title"
	_, _, err = s.PutUpdate(ctx, u, newEvent(""))
	must(t, err, "PutUpdate words only")
	st, err = s.ReleaseState(ctx, "HF-1")
	must(t, err, "ReleaseState")
	if st.Status != patchgate.StatusPosted || st.Revision != 1 {
		t.Errorf("a words-only revision changed the state: %+v", st)
	}
	// New install arguments: back to received, SLA clock restarted.
	u.Payloads[0].Args = []string{"--other"}
	ev = newEvent("")
	stored, _, err := s.PutUpdate(ctx, u, ev)
	must(t, err, "PutUpdate new arguments")
	st, err = s.ReleaseState(ctx, "HF-1")
	must(t, err, "ReleaseState")
	same(t, "revised", st, patchgate.ReleaseState{UpdateID: "HF-1", Status: patchgate.StatusReceived, Revision: stored.Revision, Since: ev.Time, ReceivedAt: ev.Time})
	if d := findEvent(t, s, ev.ID).Detail; !strings.Contains(d, "back to received") {
		t.Errorf("revision event does not say it went back to received: %q", d)
	}

	putUpdate(t, s, newUpdate("HF-2"))
	list, err := s.ReleaseStates(ctx)
	must(t, err, "ReleaseStates")
	if len(list) != 2 || list[0].UpdateID != "HF-1" || list[1].UpdateID != "HF-2" {
		t.Errorf("ReleaseStates: %+v", list)
	}
	_, err = s.TransitionUpdate(ctx, "HF-2", []patchgate.UpdateStatus{patchgate.StatusReceived}, patchgate.StatusWithdrawn, false, t0, newEvent(patchgate.EventUpdateWithdrawn))
	must(t, err, "withdraw")
	for _, c := range []struct {
		status patchgate.UpdateStatus
		want   []string
	}{
		{patchgate.StatusReceived, []string{"HF-1"}},
		{patchgate.StatusWithdrawn, []string{"HF-2"}},
		{patchgate.StatusPosted, nil},
	} {
		us, err := s.ListUpdates(ctx, patchgate.UpdateFilter{Status: c.status})
		must(t, err, "ListUpdates by status")
		var ids []string
		for _, u := range us {
			ids = append(ids, u.ID)
		}
		if strings.Join(ids, ",") != strings.Join(c.want, ",") {
			t.Errorf("ListUpdates status %s: %v, want %v", c.status, ids, c.want)
		}
	}
	// A revision of a withdrawn update brings it back to received.
	u2 := newUpdate("HF-2")
	u2.Description = "reissued"
	_, _, err = s.PutUpdate(ctx, u2, newEvent(""))
	must(t, err, "PutUpdate withdrawn")
	if st, _ := s.ReleaseState(ctx, "HF-2"); st.Status != patchgate.StatusReceived {
		t.Errorf("a revision of a withdrawn update is %s, want received", st.Status)
	}
}

func testTestGroups(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	gs, err := s.TestGroups(ctx)
	must(t, err, "TestGroups")
	if len(gs) != 0 {
		t.Errorf("a new store has test groups %v", gs)
	}
	wantNotFound(t, s.AddTestGroup(ctx, "lab", newEvent(patchgate.EventTestGroupChanged)), "AddTestGroup of a missing group")
	createGroup(t, s, "lab")
	createGroup(t, s, "canary")
	ev := newEvent(patchgate.EventTestGroupChanged)
	must(t, s.AddTestGroup(ctx, "lab", ev), "AddTestGroup")
	findEvent(t, s, ev.ID)
	must(t, s.AddTestGroup(ctx, "lab", newEvent(patchgate.EventTestGroupChanged)), "AddTestGroup again")
	must(t, s.AddTestGroup(ctx, "canary", newEvent(patchgate.EventTestGroupChanged)), "AddTestGroup canary")
	gs, err = s.TestGroups(ctx)
	must(t, err, "TestGroups")
	same(t, "TestGroups", gs, []string{"canary", "lab"})
	must(t, s.RemoveTestGroup(ctx, "canary", newEvent(patchgate.EventTestGroupChanged)), "RemoveTestGroup")
	wantNotFound(t, s.RemoveTestGroup(ctx, "canary", newEvent(patchgate.EventTestGroupChanged)), "RemoveTestGroup twice")
	// Deleting the group ends its role.
	must(t, s.DeleteGroup(ctx, "lab", newEvent(patchgate.EventGroupChanged)), "DeleteGroup")
	gs, err = s.TestGroups(ctx)
	must(t, err, "TestGroups")
	if len(gs) != 0 {
		t.Errorf("a deleted group is still a test group: %v", gs)
	}
}

func testSLAPolicy(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	p, err := s.SLAPolicy(ctx)
	must(t, err, "SLAPolicy")
	same(t, "default policy", p, patchgate.DefaultSLAPolicy())
	ev := newEvent(patchgate.EventSLAChanged)
	must(t, s.SetSLA(ctx, patchgate.SeverityHigh, 72*time.Hour, ev), "SetSLA high")
	findEvent(t, s, ev.ID)
	must(t, s.SetSLA(ctx, patchgate.SeverityCritical, 12*time.Hour, newEvent(patchgate.EventSLAChanged)), "SetSLA critical")
	p, err = s.SLAPolicy(ctx)
	must(t, err, "SLAPolicy")
	same(t, "policy", p, patchgate.SLAPolicy{Max: map[patchgate.Severity]time.Duration{patchgate.SeverityCritical: 12 * time.Hour, patchgate.SeverityHigh: 72 * time.Hour}})
	must(t, s.SetSLA(ctx, patchgate.SeverityCritical, 0, newEvent(patchgate.EventSLAChanged)), "SetSLA none")
	p, err = s.SLAPolicy(ctx)
	must(t, err, "SLAPolicy")
	same(t, "policy without critical", p, patchgate.SLAPolicy{Max: map[patchgate.Severity]time.Duration{patchgate.SeverityHigh: 72 * time.Hour}})
	before := len(allEvents(t, s))
	wantCode(t, s.SetSLA(ctx, "urgent", time.Hour, newEvent(patchgate.EventSLAChanged)), patchgate.CodeInvalid, "SetSLA of an unknown severity")
	wantCode(t, s.SetSLA(ctx, patchgate.SeverityLow, -time.Hour, newEvent(patchgate.EventSLAChanged)), patchgate.CodeInvalid, "SetSLA negative")
	if after := len(allEvents(t, s)); after != before {
		t.Errorf("refused SLA changes appended %d events", after-before)
	}
}

// testSLAEventsOnce: the SLA check relies on the store refusing a second
// event with the same ID.
func testSLAEventsOnce(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	putUpdate(t, s, newUpdate("HF-1"))
	st, err := s.ReleaseState(ctx, "HF-1")
	must(t, err, "ReleaseState")
	ev := patchgate.Event{ID: patchgate.SLAEventID(patchgate.EventSLABreached, st), Time: t0, Type: patchgate.EventSLABreached, UpdateID: "HF-1"}
	must(t, s.AppendEvent(ctx, ev), "AppendEvent")
	wantCode(t, s.AppendEvent(ctx, ev), patchgate.CodeConflict, "the same SLA event twice")
	if n := len(eventsOfType(t, s, patchgate.EventSLABreached)); n != 1 {
		t.Errorf("%d breach events, want 1", n)
	}
}

func testTestGroupMinSuccess(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	createGroup(t, s, "lab")
	createGroup(t, s, "canary")
	wantNotFound(t, s.SetTestGroupMinSuccess(ctx, "lab", 2, newEvent(patchgate.EventTestGroupChanged)), "SetTestGroupMinSuccess of a group that is not a test group")
	must(t, s.AddTestGroup(ctx, "lab", newEvent(patchgate.EventTestGroupChanged)), "AddTestGroup lab")
	must(t, s.AddTestGroup(ctx, "canary", newEvent(patchgate.EventTestGroupChanged)), "AddTestGroup canary")
	gs, err := s.TestGroupPolicies(ctx)
	must(t, err, "TestGroupPolicies")
	same(t, "default policies", gs, []patchgate.TestGroup{{Name: "canary"}, {Name: "lab"}})
	ev := newEvent(patchgate.EventTestGroupChanged)
	must(t, s.SetTestGroupMinSuccess(ctx, "lab", 2, ev), "SetTestGroupMinSuccess")
	findEvent(t, s, ev.ID)
	if err := s.SetTestGroupMinSuccess(ctx, "lab", -1, newEvent(patchgate.EventTestGroupChanged)); patchgate.ErrorCode(err) != patchgate.CodeInvalid {
		t.Errorf("SetTestGroupMinSuccess -1: %v, want invalid", err)
	}
	// Adding the group again keeps its count.
	must(t, s.AddTestGroup(ctx, "lab", newEvent(patchgate.EventTestGroupChanged)), "AddTestGroup lab again")
	gs, err = s.TestGroupPolicies(ctx)
	must(t, err, "TestGroupPolicies")
	same(t, "policies", gs, []patchgate.TestGroup{{Name: "canary"}, {Name: "lab", MinSuccess: 2}})
	// Removing and adding it back starts from the default.
	must(t, s.RemoveTestGroup(ctx, "lab", newEvent(patchgate.EventTestGroupChanged)), "RemoveTestGroup")
	must(t, s.AddTestGroup(ctx, "lab", newEvent(patchgate.EventTestGroupChanged)), "AddTestGroup lab back")
	gs, err = s.TestGroupPolicies(ctx)
	must(t, err, "TestGroupPolicies")
	same(t, "policies after re-adding", gs, []patchgate.TestGroup{{Name: "canary"}, {Name: "lab"}})
}
