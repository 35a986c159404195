package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

// agentEvent is a deployment event as the agent API hands it to the store:
// the host set from the credential, the rest from the agent.
func agentEvent(id, host, update string, state patchgate.DeploymentState, at time.Time) patchgate.Event {
	return patchgate.Event{
		ID:       id,
		Time:     at,
		Type:     patchgate.EventDeployment,
		Actor:    "host:" + host,
		HostID:   host,
		UpdateID: update,
		State:    state,
	}
}

func record(t *testing.T, s patchgate.Store, evs []patchgate.Event, wantNew int) {
	t.Helper()
	n, err := s.RecordDeploymentEvents(t.Context(), evs)
	must(t, err, "RecordDeploymentEvents")
	if n != wantNew {
		t.Errorf("RecordDeploymentEvents: %d new, want %d", n, wantNew)
	}
}

func deployments(t *testing.T, s patchgate.Store, host string) []patchgate.Deployment {
	t.Helper()
	ds, err := s.ListDeployments(t.Context(), host)
	must(t, err, "ListDeployments")
	return ds
}

func testDeploymentEvents(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	enroll(t, s, "h1", "")
	enroll(t, s, "h2", "")
	if ds := deployments(t, s, ""); len(ds) != 0 {
		t.Errorf("a new store has deployments: %+v", ds)
	}

	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	installed := agentEvent("e3", "h1", "HF-1", patchgate.StateInstalled, at(3).In(elsewhere))
	installed.Detail = "installed in 2.1s"
	failed := agentEvent("e4", "h2", "HF-1", patchgate.StateFailed, at(1))
	failed.ExitCode, failed.Detail = 3, "installer exited with 3"
	note := agentEvent("e6", "h1", "HF-2", "", at(6))
	note.Detail = "download resumed at byte 1048576"
	batch := []patchgate.Event{
		agentEvent("e1", "h1", "HF-1", patchgate.StateDownloading, at(1)),
		agentEvent("e2", "h1", "HF-1", patchgate.StateInstalling, at(2)),
		installed,
		failed,
		agentEvent("e5", "h1", "HF-2", patchgate.StateRebootPending, at(5)),
		note, // no state: logged, moves nothing
	}
	record(t, s, batch, len(batch))

	wantH1 := []patchgate.Deployment{
		{HostID: "h1", UpdateID: "HF-1", State: patchgate.StateInstalled, Detail: "installed in 2.1s", UpdatedAt: at(3)},
		{HostID: "h1", UpdateID: "HF-2", State: patchgate.StateRebootPending, UpdatedAt: at(5)},
	}
	wantAll := append(append([]patchgate.Deployment(nil), wantH1...),
		patchgate.Deployment{HostID: "h2", UpdateID: "HF-1", State: patchgate.StateFailed, ExitCode: 3, Detail: "installer exited with 3", UpdatedAt: at(1)})
	same(t, "ListDeployments(h1)", deployments(t, s, "h1"), wantH1)
	same(t, "ListDeployments()", deployments(t, s, ""), wantAll)
	if ds := deployments(t, s, "nobody"); len(ds) != 0 {
		t.Errorf("ListDeployments of an unknown host: %+v", ds)
	}

	// The events are in the log as sent, in order.
	logged, err := s.ListEvents(ctx, patchgate.EventFilter{Type: patchgate.EventDeployment})
	must(t, err, "ListEvents")
	same(t, "logged agent events", withoutSeq(logged), batch)

	// A retried batch is stored once and changes nothing.
	before := allEvents(t, s)
	record(t, s, batch, 0)
	same(t, "log after a retried batch", allEvents(t, s), before)
	same(t, "deployments after a retried batch", deployments(t, s, ""), wantAll)

	// A batch mixing old and new events stores only the new ones.
	again := agentEvent("e7", "h2", "HF-1", patchgate.StateInstalled, at(7))
	record(t, s, []patchgate.Event{batch[3], again, batch[0]}, 1)
	wantAll[2] = patchgate.Deployment{HostID: "h2", UpdateID: "HF-1", State: patchgate.StateInstalled, UpdatedAt: at(7)}
	same(t, "deployments after a new event", deployments(t, s, ""), wantAll)

	// The same ID twice in one batch is one event.
	dup := agentEvent("e8", "h2", "HF-3", patchgate.StateDownloading, at(8))
	record(t, s, []patchgate.Event{dup, dup}, 1)

	n, err := s.RecordDeploymentEvents(ctx, nil)
	must(t, err, "RecordDeploymentEvents of nothing")
	if n != 0 {
		t.Errorf("an empty batch added %d events", n)
	}
}

func withoutSeq(evs []patchgate.Event) []patchgate.Event {
	out := make([]patchgate.Event, len(evs))
	for i, ev := range evs {
		ev.Seq = 0
		out[i] = ev
	}
	return out
}

func testDeploymentEventsOutOfOrder(t *testing.T, s patchgate.Store) {
	enroll(t, s, "h1", "")
	// An agent back from being offline replays its queue after a newer
	// report got through: the older state must not win.
	record(t, s, []patchgate.Event{agentEvent("late", "h1", "HF-1", patchgate.StateInstalled, t0.Add(10*time.Second))}, 1)
	record(t, s, []patchgate.Event{agentEvent("early", "h1", "HF-1", patchgate.StateDownloading, t0.Add(5*time.Second))}, 1)
	same(t, "deployment after an out-of-order report", deployments(t, s, "h1"), []patchgate.Deployment{
		{HostID: "h1", UpdateID: "HF-1", State: patchgate.StateInstalled, UpdatedAt: t0.Add(10 * time.Second)},
	})
	// Within a batch too.
	record(t, s, []patchgate.Event{
		agentEvent("b2", "h1", "HF-2", patchgate.StateFailed, t0.Add(20*time.Second)),
		agentEvent("b1", "h1", "HF-2", patchgate.StateInstalling, t0.Add(19*time.Second)),
	}, 2)
	ds := deployments(t, s, "h1")
	if len(ds) != 2 || ds[1].State != patchgate.StateFailed {
		t.Errorf("deployments after an out-of-order batch: %+v", ds)
	}
}

func testDeploymentEventsPerHostIDs(t *testing.T, s patchgate.Store) {
	enroll(t, s, "h1", "")
	enroll(t, s, "h2", "")
	// Agents choose event IDs: one host reusing another's must neither be
	// dropped nor suppress the other's report.
	record(t, s, []patchgate.Event{agentEvent("1", "h1", "HF-1", patchgate.StateInstalled, t0)}, 1)
	record(t, s, []patchgate.Event{agentEvent("1", "h2", "HF-1", patchgate.StateFailed, t0)}, 1)
	record(t, s, []patchgate.Event{agentEvent("1", "h2", "HF-1", patchgate.StateFailed, t0)}, 0)
	ds := deployments(t, s, "")
	if len(ds) != 2 || ds[0].State != patchgate.StateInstalled || ds[1].State != patchgate.StateFailed {
		t.Errorf("deployments: %+v", ds)
	}
}

func testListEvents(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	enroll(t, s, "h1", "")
	enroll(t, s, "h2", "")
	before := allEvents(t, s)

	ad := newEvent("audit.test")
	ad.UpdateID, ad.HostID = "HF-1", "h2"
	evs := []patchgate.Event{
		agentEvent("a1", "h1", "HF-1", patchgate.StateDownloading, t0),
		agentEvent("a2", "h2", "HF-1", patchgate.StateDownloading, t0),
		agentEvent("a3", "h1", "HF-2", patchgate.StateDownloading, t0),
		agentEvent("a4", "h1", "HF-1", patchgate.StateInstalled, t0),
	}
	record(t, s, evs[:2], 2)
	must(t, s.AppendEvent(ctx, ad), "AppendEvent")
	record(t, s, evs[2:], 2)
	all := allEvents(t, s)

	if len(all) != len(before)+5 {
		t.Fatalf("%d events, want %d", len(all), len(before)+5)
	}
	for i, ev := range all {
		if ev.Seq <= 0 || (i > 0 && ev.Seq <= all[i-1].Seq) {
			t.Fatalf("events not in ascending Seq order at %d: %d after %d", i, ev.Seq, all[max(i-1, 0)].Seq)
		}
	}
	same(t, "the log's tail", withoutSeq(all[len(before):]), []patchgate.Event{evs[0], evs[1], ad, evs[2], evs[3]})

	ids := func(f patchgate.EventFilter) []string {
		got, err := s.ListEvents(ctx, f)
		must(t, err, "ListEvents")
		out := []string{}
		for _, ev := range got {
			out = append(out, ev.ID)
		}
		return out
	}
	mark := all[len(before)-1].Seq // the last event before this test's
	for _, tc := range []struct {
		name string
		f    patchgate.EventFilter
		want []string
	}{
		{"host", patchgate.EventFilter{HostID: "h1", AfterSeq: mark}, []string{"a1", "a3", "a4"}},
		{"update", patchgate.EventFilter{UpdateID: "HF-1", AfterSeq: mark}, []string{"a1", "a2", ad.ID, "a4"}},
		{"type", patchgate.EventFilter{Type: "audit.test"}, []string{ad.ID}},
		{"host+update", patchgate.EventFilter{HostID: "h1", UpdateID: "HF-1"}, []string{"a1", "a4"}},
		{"host+type", patchgate.EventFilter{HostID: "h2", Type: patchgate.EventDeployment}, []string{"a2"}},
		{"after", patchgate.EventFilter{AfterSeq: all[len(before)+2].Seq}, []string{"a3", "a4"}},
		{"limit", patchgate.EventFilter{AfterSeq: mark, Limit: 2}, []string{"a1", "a2"}},
		{"after+limit", patchgate.EventFilter{AfterSeq: all[len(before)+1].Seq, Limit: 2}, []string{ad.ID, "a3"}},
		{"nothing after the end", patchgate.EventFilter{AfterSeq: all[len(all)-1].Seq}, []string{}},
		{"unknown host", patchgate.EventFilter{HostID: "nobody"}, []string{}},
	} {
		same(t, "ListEvents "+tc.name, ids(tc.f), tc.want)
	}

	// Paging by AfterSeq visits every event once.
	same(t, "paged log", pageAll(t, s, 3), all)

	// Limit 0 means 100.
	var many []patchgate.Event
	for i := range 130 {
		many = append(many, agentEvent(fmt.Sprintf("m%d", i), "h2", "HF-9", patchgate.StateNeeded, t0))
	}
	record(t, s, many, len(many))
	got, err := s.ListEvents(ctx, patchgate.EventFilter{})
	must(t, err, "ListEvents")
	if len(got) != 100 {
		t.Errorf("ListEvents without a limit returned %d events, want 100", len(got))
	}

	// Seq keeps growing after new writes.
	last := got[len(got)-1].Seq
	tail, err := s.ListEvents(ctx, patchgate.EventFilter{AfterSeq: last, Limit: 1000})
	must(t, err, "ListEvents")
	extra := newEvent("audit.test")
	must(t, s.AppendEvent(ctx, extra), "AppendEvent")
	e := findLast(t, s)
	if e.ID != extra.ID || e.Seq <= tail[len(tail)-1].Seq {
		t.Errorf("the newest event is %s at seq %d, want %s after seq %d", e.ID, e.Seq, extra.ID, tail[len(tail)-1].Seq)
	}
}

// findLast returns the newest event in the log.
func findLast(t *testing.T, s patchgate.Store) patchgate.Event {
	t.Helper()
	evs := pageAll(t, s, 1000)
	if len(evs) == 0 {
		t.Fatal("the log is empty")
	}
	return evs[len(evs)-1]
}

// pageAll reads the whole log in pages of size events, failing rather than
// looping forever if a store's pages do not advance.
func pageAll(t *testing.T, s patchgate.Store, size int) []patchgate.Event {
	t.Helper()
	var all []patchgate.Event
	for after := int64(0); ; {
		page, err := s.ListEvents(t.Context(), patchgate.EventFilter{AfterSeq: after, Limit: size})
		must(t, err, "ListEvents page")
		if len(page) == 0 {
			return all
		}
		if len(page) > size {
			t.Fatalf("ListEvents returned %d events, over the limit of %d", len(page), size)
		}
		for _, ev := range page {
			if ev.Seq <= after {
				t.Fatalf("ListEvents after seq %d returned seq %d", after, ev.Seq)
			}
			after = ev.Seq
		}
		all = append(all, page...)
	}
}

func testAppendEvent(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	ev := patchgate.Event{
		ID: "sla-1", Time: t0.In(elsewhere), Type: "sla.breach", Actor: "system",
		HostID: "h9", UpdateID: "HF-1", State: patchgate.StateNeeded, ExitCode: 2, Detail: "critical fix not posted within 24h",
	}
	must(t, s.AppendEvent(ctx, ev), "AppendEvent")
	got := findEvent(t, s, ev.ID)
	if got.Seq <= 0 {
		t.Errorf("stored event has Seq %d", got.Seq)
	}
	got.Seq = 0
	same(t, "appended event", got, ev)

	err := s.AppendEvent(ctx, ev)
	wantCode(t, err, patchgate.CodeConflict, "AppendEvent of a stored ID")
	if n := len(allEvents(t, s)); n != 1 {
		t.Errorf("%d events after a duplicate append, want 1", n)
	}
}

// testAdminEvents checks that every admin method appends the event it is
// given, as given.
func testAdminEvents(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	enroll(t, s, "h1", "")
	putUpdate(t, s, newUpdate("HF-1"))
	newEnrollToken(t, s, "tok", "", 0)

	check := func(name string, ev patchgate.Event, call func(ev patchgate.Event) error) {
		t.Helper()
		ev.HostID, ev.UpdateID = "h1", "HF-1" // set, so the store must keep them
		if err := call(ev); err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		got := findEvent(t, s, ev.ID)
		got.Seq = 0
		same(t, name+" event", got, ev)
	}
	check("PutUpdate", newEvent(patchgate.EventUpdateRevised), func(ev patchgate.Event) error {
		u := newUpdate("HF-1")
		u.Title = "changed"
		_, _, err := s.PutUpdate(ctx, u, ev)
		return err
	})
	check("Enroll", newEvent(patchgate.EventHostEnrolled), func(ev patchgate.Event) error {
		_, err := s.Enroll(ctx, "tok", t0, patchgate.Host{ID: "h2", Inventory: newInventory("h2")}, []byte("c"), ev)
		return err
	})
	check("CreateGroup", newEvent(patchgate.EventGroupChanged), func(ev patchgate.Event) error {
		return s.CreateGroup(ctx, patchgate.Group{Name: "web", CreatedAt: t0}, ev)
	})
	check("AddToGroup", newEvent(patchgate.EventGroupChanged), func(ev patchgate.Event) error {
		return s.AddToGroup(ctx, "web", []string{"h1"}, ev)
	})
	check("RemoveFromGroup", newEvent(patchgate.EventGroupChanged), func(ev patchgate.Event) error {
		return s.RemoveFromGroup(ctx, "web", []string{"h1"}, ev)
	})
	check("SetApprovals", newEvent(patchgate.EventApproved), func(ev patchgate.Event) error {
		return s.SetApprovals(ctx, []patchgate.Approval{{UpdateID: "HF-1", Group: "web", Action: patchgate.ActionInstall, CreatedAt: t0}}, ev)
	})
	check("DeleteApprovals", newEvent(patchgate.EventUnapproved), func(ev patchgate.Event) error {
		return s.DeleteApprovals(ctx, []string{"HF-1"}, "web", ev)
	})
	check("DeleteGroup", newEvent(patchgate.EventGroupChanged), func(ev patchgate.Event) error {
		return s.DeleteGroup(ctx, "web", ev)
	})
	check("CreateToken", newEvent(patchgate.EventTokenCreated), func(ev patchgate.Event) error {
		return s.CreateToken(ctx, patchgate.Token{ID: "api", Kind: patchgate.TokenAPI, Role: patchgate.RoleViewer, SecretHash: []byte("h"), CreatedAt: t0}, ev)
	})
	check("RevokeToken", newEvent(patchgate.EventTokenRevoked), func(ev patchgate.Event) error {
		return s.RevokeToken(ctx, "api", ev)
	})
	check("AppendEvent", newEvent("system.test"), func(ev patchgate.Event) error {
		return s.AppendEvent(ctx, ev)
	})
}

// testFailedAdminActions checks that an admin action that fails leaves no
// event: the event and the change are one transaction.
func testFailedAdminActions(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	enroll(t, s, "h1", "")
	putUpdate(t, s, newUpdate("HF-1"))
	createGroup(t, s, "web")
	newEnrollToken(t, s, "tok", "", 0)

	for _, tc := range []struct {
		name string
		call func(ev patchgate.Event) error
	}{
		{"CreateGroup of an existing name", func(ev patchgate.Event) error {
			return s.CreateGroup(ctx, patchgate.Group{Name: "web", CreatedAt: t0}, ev)
		}},
		{"DeleteGroup of an unknown group", func(ev patchgate.Event) error { return s.DeleteGroup(ctx, "nope", ev) }},
		{"DeleteGroup all", func(ev patchgate.Event) error { return s.DeleteGroup(ctx, patchgate.GroupAll, ev) }},
		{"AddToGroup of an unknown host", func(ev patchgate.Event) error { return s.AddToGroup(ctx, "web", []string{"h1", "nobody"}, ev) }},
		{"RemoveFromGroup all", func(ev patchgate.Event) error { return s.RemoveFromGroup(ctx, patchgate.GroupAll, []string{"h1"}, ev) }},
		{"SetApprovals of an unknown update", func(ev patchgate.Event) error {
			return s.SetApprovals(ctx, []patchgate.Approval{{UpdateID: "nope", Group: "web", Action: patchgate.ActionInstall, CreatedAt: t0}}, ev)
		}},
		{"CreateToken with an existing ID", func(ev patchgate.Event) error {
			return s.CreateToken(ctx, patchgate.Token{ID: "tok", Kind: patchgate.TokenAPI, CreatedAt: t0}, ev)
		}},
		{"RevokeToken of an unknown token", func(ev patchgate.Event) error { return s.RevokeToken(ctx, "nope", ev) }},
		{"Enroll of an enrolled host", func(ev patchgate.Event) error {
			_, err := s.Enroll(ctx, "tok", t0, patchgate.Host{ID: "h1", Inventory: newInventory("h1")}, []byte("c"), ev)
			return err
		}},
	} {
		ev := newEvent("failing.test")
		if err := tc.call(ev); err == nil {
			t.Errorf("%s: succeeded", tc.name)
			continue
		}
		if hasEvent(allEvents(t, s), ev.ID) {
			t.Errorf("%s failed but appended its event", tc.name)
		}
	}
	if evs := eventsOfType(t, s, "failing.test"); len(evs) != 0 {
		t.Errorf("failed actions appended %d events", len(evs))
	}
	// The failed AddToGroup added no one.
	h, err := s.GetHost(ctx, "h1")
	must(t, err, "GetHost")
	same(t, "groups of h1", h.Groups, []string{patchgate.GroupAll})
}

func testDeploymentEventGroups(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	enroll(t, s, "h1", "")
	enroll(t, s, "h2", "")
	a := agentEvent("a", "h1", "HF-1", patchgate.StateInstalled, t0)
	b := agentEvent("b", "h2", "HF-1", patchgate.StateFailed, t0)
	// Two reports in one transaction; the second repeats the first's
	// event (a retry racing the original) and adds one of its own.
	n, err := s.RecordDeploymentEventGroups(ctx, [][]patchgate.Event{{a}, {a, b}, nil})
	must(t, err, "RecordDeploymentEventGroups")
	same(t, "new events per group", n, []int{1, 1, 0})
	same(t, "deployments after a group commit", len(deployments(t, s, "")), 2)

	// One bad event refuses the whole group commit: nothing is stored.
	before := allEvents(t, s)
	c := agentEvent("c", "h1", "HF-2", patchgate.StateInstalled, t0)
	bad := agentEvent("d", "nobody", "HF-2", patchgate.StateInstalled, t0)
	if _, err := s.RecordDeploymentEventGroups(ctx, [][]patchgate.Event{{c}, {bad}}); err == nil {
		t.Fatal("a group commit with an event of an unknown host succeeded")
	}
	same(t, "log after a refused group commit", allEvents(t, s), before)
}

func testListEventsNewest(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	enroll(t, s, "h1", "")
	var evs []patchgate.Event
	for i := range 5 {
		evs = append(evs, agentEvent(fmt.Sprintf("n%d", i), "h1", "HF-1", patchgate.StateDownloading, t0.Add(time.Duration(i)*time.Second)))
	}
	record(t, s, evs, len(evs))
	got, err := s.ListEvents(ctx, patchgate.EventFilter{Type: patchgate.EventDeployment, Limit: 2, Newest: true})
	must(t, err, "ListEvents newest")
	if len(got) != 2 || got[0].ID != "n3" || got[1].ID != "n4" {
		t.Fatalf("newest 2, oldest first: got %+v", withoutSeq(got))
	}
	got, err = s.ListEvents(ctx, patchgate.EventFilter{Type: patchgate.EventDeployment, Limit: 2})
	must(t, err, "ListEvents oldest")
	if len(got) != 2 || got[0].ID != "n0" || got[1].ID != "n1" {
		t.Fatalf("oldest 2: got %+v", withoutSeq(got))
	}
}
