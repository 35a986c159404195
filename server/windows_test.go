package server_test

import (
	"sync"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/agentapi"
	"github.com/patchgate/patchgate/server"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func newClockEnv(t *testing.T, clock *fakeClock) *env {
	t.Helper()
	return newEnvWith(t, func(cfg *server.Config, _ string) { cfg.Clock = clock.Now })
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestCheckinWindow: a plan outside the host's window is not installable;
// when the clock enters the window the ETag changes and the same plan is;
// when it leaves, it is not again. Emergency approvals and removing the
// window lift the wait.
func TestCheckinWindow(t *testing.T) {
	clock := &fakeClock{now: at("2026-12-02T12:00:00Z")} // a Wednesday
	e := newClockEnv(t, clock)
	e.publish("HF-1", "app", "", []byte("#!/bin/sh\n"), nil)
	if st := e.call("POST", "/api/v1/groups", e.admin, adminapi.CreateGroupRequest{Name: "web"}, nil); st != 201 {
		t.Fatalf("create group: %d", st)
	}
	inv := patchgate.Inventory{Hostname: "w1", Mode: patchgate.ModeAutomatic, Products: []patchgate.InstalledProduct{{Name: "app", Version: "1.0"}}}
	_, cred := e.enroll("web", inv)

	viewer := e.token(patchgate.RoleViewer)
	req := adminapi.SetWindowRequest{Schedule: "0 22 * * sat", Duration: "4h", TimeZone: "UTC"}
	if st := e.call("PUT", "/api/v1/windows/web", viewer, req, nil); st != 403 {
		t.Errorf("a viewer set a window: %d", st)
	}
	for _, bad := range []adminapi.SetWindowRequest{
		{Schedule: "0 25 * * *", Duration: "4h", TimeZone: "UTC"},
		{Schedule: "0 22 * * sat", Duration: "soon", TimeZone: "UTC"},
		{Schedule: "0 22 * * sat", Duration: "4h", TimeZone: "Nowhere/Land"},
	} {
		if st := e.call("PUT", "/api/v1/windows/web", e.admin, bad, nil); st != 400 {
			t.Errorf("window %+v accepted: %d", bad, st)
		}
	}
	if st := e.call("PUT", "/api/v1/windows/nope", e.admin, req, nil); st != 404 {
		t.Errorf("window of a missing group: %d", st)
	}
	var info adminapi.WindowInfo
	if st := e.call("PUT", "/api/v1/windows/web", e.admin, req, &info); st != 200 {
		t.Fatalf("set window: %d", st)
	}
	if info.Open || info.NextOpening == nil || !info.NextOpening.Equal(at("2026-12-05T22:00:00Z")) {
		t.Errorf("set window answered %+v", info)
	}
	if st := e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{"HF-1"}, Group: "web", Action: patchgate.ActionInstall}, nil); st != 200 {
		t.Fatalf("approve: %d", st)
	}

	item := func(tag string, resp agentapi.CheckinResponse) patchgate.PlanItem {
		t.Helper()
		if len(resp.Plan.Items) != 1 {
			t.Fatalf("%s: plan %+v", tag, resp.Plan)
		}
		return resp.Plan.Items[0]
	}

	// Outside the window: planned, not installable, told when.
	st, etag1, resp := e.checkin(cred, "", inv)
	if st != 200 {
		t.Fatalf("checkin: %d", st)
	}
	it := item("closed", resp)
	if it.MayInstall() || it.NextWindow == nil || !it.NextWindow.Equal(at("2026-12-05T22:00:00Z")) || it.InstallReason == "" {
		t.Errorf("outside the window: %+v", it)
	}
	clock.Set(at("2026-12-04T08:00:00Z"))
	if st, _, _ := e.checkin(cred, etag1, inv); st != 304 {
		t.Errorf("still closed, same inputs: %d, want 304", st)
	}

	// The window opens: new ETag, installable until it closes.
	clock.Set(at("2026-12-05T22:30:00Z"))
	st, etag2, resp := e.checkin(cred, etag1, inv)
	if st != 200 || etag2 == etag1 {
		t.Fatalf("window opened: %d, etag %s (was %s)", st, etag2, etag1)
	}
	it = item("open", resp)
	if !it.MayInstall() || it.WindowClosesAt == nil || !it.WindowClosesAt.Equal(at("2026-12-06T02:00:00Z")) {
		t.Errorf("inside the window: %+v", it)
	}
	clock.Set(at("2026-12-06T01:59:00Z"))
	if st, _, _ := e.checkin(cred, etag2, inv); st != 304 {
		t.Errorf("still open: %d, want 304", st)
	}

	// It closes.
	clock.Set(at("2026-12-06T02:00:00Z"))
	st, etag3, resp := e.checkin(cred, etag2, inv)
	if st != 200 || etag3 == etag2 {
		t.Fatalf("window closed: %d", st)
	}
	if it := item("closed again", resp); it.MayInstall() {
		t.Errorf("after the window: %+v", it)
	}

	// An emergency approval installs at once.
	if st := e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{"HF-1"}, Group: "web", Action: patchgate.ActionDecline, Emergency: true}, nil); st != 400 {
		t.Errorf("emergency decline: %d", st)
	}
	if st := e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{"HF-1"}, Group: "web", Action: patchgate.ActionInstall, Emergency: true}, nil); st != 200 {
		t.Fatalf("emergency approve: %d", st)
	}
	st, _, resp = e.checkin(cred, etag3, inv)
	if it := item("emergency", resp); st != 200 || !it.MayInstall() || !it.Emergency {
		t.Errorf("emergency: %d %+v", st, it)
	}

	// Listing and next openings.
	var list []adminapi.WindowInfo
	if st := e.call("GET", "/api/v1/windows", viewer, nil, &list); st != 200 || len(list) != 1 || list[0].Group != "web" || list[0].Open {
		t.Errorf("list windows: %d %+v", st, list)
	}
	var next adminapi.WindowNext
	if st := e.call("GET", "/api/v1/windows/web/next?count=3", viewer, nil, &next); st != 200 || len(next.Openings) != 3 {
		t.Fatalf("next: %d %+v", st, next)
	}
	if !next.Openings[0].Opens.Equal(at("2026-12-12T22:00:00Z")) || !next.Openings[2].Closes.Equal(at("2026-12-27T02:00:00Z")) {
		t.Errorf("next openings: %+v", next.Openings)
	}
	if st := e.call("GET", "/api/v1/windows/web/next?count=0", viewer, nil, nil); st != 400 {
		t.Errorf("count=0: %d", st)
	}
	if st := e.call("GET", "/api/v1/windows/all/next", viewer, nil, nil); st != 404 {
		t.Errorf("next of a group without a window: %d", st)
	}

	// Without a window (and without emergency) the host installs any time.
	e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{"HF-1"}, Group: "web", Action: patchgate.ActionInstall}, nil)
	if st := e.call("DELETE", "/api/v1/windows/web", e.admin, nil, nil); st != 204 {
		t.Fatalf("remove window: %d", st)
	}
	if st := e.call("DELETE", "/api/v1/windows/web", e.admin, nil, nil); st != 404 {
		t.Errorf("remove it again: %d", st)
	}
	_, _, resp = e.checkin(cred, "", inv)
	if it := item("no window", resp); !it.MayInstall() {
		t.Errorf("without a window: %+v", it)
	}
}

// TestCheckinWindowDeadline: once the approval's deadline passes, the host
// installs outside its window, and the ETag says so.
func TestCheckinWindowDeadline(t *testing.T) {
	clock := &fakeClock{now: at("2026-12-02T12:00:00Z")}
	e := newClockEnv(t, clock)
	e.publish("HF-1", "app", "", []byte("#!/bin/sh\n"), nil)
	e.call("POST", "/api/v1/groups", e.admin, adminapi.CreateGroupRequest{Name: "web"}, nil)
	inv := patchgate.Inventory{Hostname: "w1", Mode: patchgate.ModeAutomatic, Products: []patchgate.InstalledProduct{{Name: "app", Version: "1.0"}}}
	_, cred := e.enroll("web", inv)
	e.call("PUT", "/api/v1/windows/web", e.admin, adminapi.SetWindowRequest{Schedule: "0 22 * * sat", Duration: "4h", TimeZone: "UTC"}, nil)
	if st := e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{"HF-1"}, Group: "web", Action: patchgate.ActionInstall, Deadline: "2h"}, nil); st != 200 {
		t.Fatalf("approve: %d", st)
	}
	_, etag, resp := e.checkin(cred, "", inv)
	if len(resp.Plan.Items) != 1 || resp.Plan.Items[0].MayInstall() {
		t.Fatalf("before the deadline: %+v", resp.Plan)
	}
	clock.Set(at("2026-12-02T14:00:00Z"))
	st, etag2, resp := e.checkin(cred, etag, inv)
	if st != 200 || etag2 == etag || !resp.Plan.Items[0].MayInstall() {
		t.Errorf("after the deadline: %d %+v", st, resp.Plan)
	}
}

// TestMarkInstalled: an operator records a manual install on a manual host;
// compliance counts it and the host's plan no longer asks for it.
func TestMarkInstalled(t *testing.T) {
	clock := &fakeClock{now: at("2026-12-02T12:00:00Z")}
	e := newClockEnv(t, clock)
	e.publish("HF-1", "app", "", []byte("#!/bin/sh\n"), nil)
	manual := patchgate.Inventory{Hostname: "m1", Mode: patchgate.ModeManual, Products: []patchgate.InstalledProduct{{Name: "app", Version: "1.0"}}}
	mid, mcred := e.enroll("", manual)
	e.checkin(mcred, "", manual)
	auto := manual
	auto.Hostname, auto.Mode = "a1", patchgate.ModeAutomatic
	aid, _ := e.enroll("", auto)
	e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{"HF-1"}, Group: "all", Action: patchgate.ActionInstall}, nil)

	viewer := e.token(patchgate.RoleViewer)
	body := adminapi.MarkInstalledRequest{Update: "HF-1", Note: "CHG-42"}
	if st := e.call("POST", "/api/v1/hosts/"+mid+"/installed", viewer, body, nil); st != 403 {
		t.Errorf("viewer: %d", st)
	}
	if st := e.call("POST", "/api/v1/hosts/"+aid+"/installed", e.admin, body, nil); st != 409 {
		t.Errorf("automatic host: %d", st)
	}
	if st := e.call("POST", "/api/v1/hosts/nope/installed", e.admin, body, nil); st != 404 {
		t.Errorf("missing host: %d", st)
	}
	if st := e.call("POST", "/api/v1/hosts/"+mid+"/installed", e.admin, adminapi.MarkInstalledRequest{Update: "NOPE-1"}, nil); st != 400 {
		t.Errorf("missing update: %d", st)
	}
	var ev patchgate.Event
	if st := e.call("POST", "/api/v1/hosts/"+mid+"/installed", e.admin, body, &ev); st != 200 {
		t.Fatalf("mark installed: %d", st)
	}
	if ev.Type != patchgate.EventMarkedInstalled || ev.HostID != mid || ev.Actor == "" {
		t.Errorf("event %+v", ev)
	}
	var evs []patchgate.Event
	e.call("GET", "/api/v1/events?type="+patchgate.EventMarkedInstalled, viewer, nil, &evs)
	if len(evs) != 1 || evs[0].UpdateID != "HF-1" {
		t.Errorf("audit log: %+v", evs)
	}
	var rep adminapi.ComplianceReport
	e.call("GET", "/api/v1/reports/compliance?group=all&update=HF-1", viewer, nil, &rep)
	if len(rep.Rows) != 1 || rep.Rows[0].Installed != 1 || rep.Rows[0].Needed != 1 {
		t.Errorf("compliance: %+v", rep.Rows)
	}
	var d adminapi.HostDetail
	e.call("GET", "/api/v1/hosts/"+mid, viewer, nil, &d)
	if len(d.Plan.Items) != 0 {
		t.Errorf("the manual plan still asks for it: %+v", d.Plan.Items)
	}
	var hosts []adminapi.HostSummary
	e.call("GET", "/api/v1/hosts", viewer, nil, &hosts)
	for _, h := range hosts {
		if want := map[string]int{mid: 0, aid: 1}[h.ID]; h.Pending != want {
			t.Errorf("host %s (%s): %d pending, want %d", h.ID, h.Mode, h.Pending, want)
		}
	}
}
