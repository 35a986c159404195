package server_test

import (
	"slices"
	"testing"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

// TestNestedGroups drives nested groups through the API and the check-in
// path: approvals, windows and reboot policies of a parent reach a host of
// a child until the child sets its own; cycles and deleting a parent are
// refused with messages that name the groups.
func TestNestedGroups(t *testing.T) {
	clock := &fakeClock{now: at("2026-12-02T12:00:00Z")} // a Wednesday
	e := newClockEnv(t, clock)
	e.publish("HF-1", "app", "", []byte("#!/bin/sh\n"), nil)
	e.publish("HF-2", "app", "", []byte("#!/bin/sh\necho 2\n"), nil)
	create := func(name, parent, reboot string) {
		t.Helper()
		var g patchgate.Group
		if st := e.call("POST", "/api/v1/groups", e.admin, adminapi.CreateGroupRequest{Name: name, Parent: parent, RebootPolicy: reboot}, &g); st != 201 {
			t.Fatalf("create group %s: %d", name, st)
		}
		if g.Parent != patchgate.NormalizeParent(parent) {
			t.Errorf("create %s answered parent %q", name, g.Parent)
		}
	}
	create("prod", "", "never")
	create("prod-eu", "prod", "")
	create("paris", "prod-eu", "")
	e.wantError("POST", "/api/v1/groups", adminapi.CreateGroupRequest{Name: "x", Parent: "nope"}, 400, "nope")
	e.wantError("POST", "/api/v1/groups", adminapi.CreateGroupRequest{Name: "x", RebootPolicy: "weekly"}, 400, "reboot_policy")

	inv := patchgate.Inventory{Hostname: "p1", Mode: patchgate.ModeAutomatic, Products: []patchgate.InstalledProduct{{Name: "app", Version: "1.0"}}}
	_, cred := e.enroll("paris", inv)
	plan := func() (patchgate.Plan, []string) {
		t.Helper()
		st, _, resp := e.checkin(cred, "", inv)
		if st != 200 {
			t.Fatalf("checkin: %d", st)
		}
		var ids []string
		for _, it := range resp.Plan.Items {
			ids = append(ids, it.UpdateID)
		}
		return resp.Plan, ids
	}
	approve := func(update, group string, action patchgate.Action) {
		t.Helper()
		if st := e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{update}, Group: group, Action: action}, nil); st != 200 {
			t.Fatalf("approve %s for %s: %d", update, group, st)
		}
	}

	// Approvals of prod reach paris, two levels down.
	approve("HF-1", "prod", patchgate.ActionInstall)
	approve("HF-2", "prod", patchgate.ActionInstall)
	p, ids := plan()
	if !slices.Equal(ids, []string{"HF-1", "HF-2"}) {
		t.Fatalf("plan of a paris host: %v", ids)
	}
	if p.RebootPolicy != patchgate.RebootPolicyNever {
		t.Errorf("reboot policy %q, want never from prod", p.RebootPolicy)
	}
	// prod-eu declines HF-2: the deeper group wins.
	approve("HF-2", "prod-eu", patchgate.ActionDecline)
	if _, ids = plan(); !slices.Equal(ids, []string{"HF-1"}) {
		t.Fatalf("after prod-eu declined HF-2: %v", ids)
	}
	// paris approves it again: deeper still.
	approve("HF-2", "paris", patchgate.ActionInstall)
	if _, ids = plan(); !slices.Equal(ids, []string{"HF-1", "HF-2"}) {
		t.Fatalf("after paris approved HF-2: %v", ids)
	}

	// prod's window reaches paris; paris's own replaces it.
	if st := e.call("PUT", "/api/v1/windows/prod", e.admin, adminapi.SetWindowRequest{Schedule: "0 22 * * sat", Duration: "4h", TimeZone: "UTC"}, nil); st != 200 {
		t.Fatalf("set window: %d", st)
	}
	p, _ = plan()
	if it := p.Items[0]; it.MayInstall() || it.NextWindow == nil || !it.NextWindow.Equal(at("2026-12-05T22:00:00Z")) {
		t.Errorf("with prod's window: %+v", it)
	}
	if st := e.call("PUT", "/api/v1/windows/paris", e.admin, adminapi.SetWindowRequest{Schedule: "0 11 * * *", Duration: "2h", TimeZone: "UTC"}, nil); st != 200 {
		t.Fatalf("set window: %d", st)
	}
	p, _ = plan()
	if it := p.Items[0]; !it.MayInstall() || it.WindowClosesAt == nil || !it.WindowClosesAt.Equal(at("2026-12-02T13:00:00Z")) {
		t.Errorf("with paris's own window: %+v", it)
	}

	// Reboot policy: paris overrides; "inherit" goes back to prod's.
	var g patchgate.Group
	if st := e.call("PUT", "/api/v1/groups/paris/reboot-policy", e.admin, adminapi.SetGroupRebootRequest{RebootPolicy: "always"}, &g); st != 200 || g.RebootPolicy != patchgate.RebootPolicyAlways {
		t.Fatalf("set reboot policy: %d %+v", st, g)
	}
	if p, _ = plan(); p.RebootPolicy != patchgate.RebootPolicyAlways {
		t.Errorf("reboot policy %q, want always", p.RebootPolicy)
	}
	e.wantError("PUT", "/api/v1/groups/paris/reboot-policy", adminapi.SetGroupRebootRequest{RebootPolicy: "weekly"}, 400, "weekly")
	e.wantError("PUT", "/api/v1/groups/nope/reboot-policy", adminapi.SetGroupRebootRequest{RebootPolicy: "never"}, 404, "nope")
	if st := e.call("PUT", "/api/v1/groups/paris/reboot-policy", e.admin, adminapi.SetGroupRebootRequest{RebootPolicy: "inherit"}, nil); st != 200 {
		t.Fatalf("inherit: %d", st)
	}
	if p, _ = plan(); p.RebootPolicy != patchgate.RebootPolicyNever {
		t.Errorf("reboot policy %q, want never again", p.RebootPolicy)
	}

	// Cycles are refused, naming them; so is deleting a parent.
	e.wantError("PUT", "/api/v1/groups/prod/parent", adminapi.SetGroupParentRequest{Parent: "paris"}, 409, "prod → paris → prod-eu → prod")
	e.wantError("PUT", "/api/v1/groups/all/parent", adminapi.SetGroupParentRequest{Parent: "prod"}, 400, "root")
	e.wantError("PUT", "/api/v1/groups/prod/parent", adminapi.SetGroupParentRequest{Parent: "Bad!"}, 400, "Bad!")
	e.wantError("DELETE", "/api/v1/groups/prod-eu", nil, 409, "paris")

	// Moving paris to the top: prod's approvals, window and policy no
	// longer reach it, and the ETag changed with the tree.
	st, etag, _ := e.checkin(cred, "", inv)
	if st != 200 {
		t.Fatal(st)
	}
	var moved patchgate.Group
	if st := e.call("PUT", "/api/v1/groups/paris/parent", e.admin, adminapi.SetGroupParentRequest{Parent: patchgate.GroupAll}, &moved); st != 200 || moved.Parent != "" || moved.Name != "paris" {
		t.Fatalf("move paris to the top: %d %+v", st, moved)
	}
	if st, _, _ := e.checkin(cred, etag, inv); st != 200 {
		t.Errorf("the plan's ETag did not change with the tree: %d", st)
	}
	p, ids = plan()
	if !slices.Equal(ids, []string{"HF-2"}) || p.RebootPolicy != patchgate.RebootPolicyIfRequired {
		t.Errorf("paris at the top: %v, reboot %q", ids, p.RebootPolicy)
	}

	// The listing shows the tree.
	var groups []patchgate.Group
	e.call("GET", "/api/v1/groups", e.admin, nil, &groups)
	parents := map[string]string{}
	for _, g := range groups {
		parents[g.Name] = g.Parent
	}
	if parents["prod-eu"] != "prod" || parents["paris"] != "" || parents["prod"] != "" {
		t.Errorf("groups: %+v", groups)
	}
	var evs []patchgate.Event
	e.call("GET", "/api/v1/events?type="+patchgate.EventGroupParentSet, e.admin, nil, &evs)
	if len(evs) != 1 || evs[0].Detail != "group paris moved directly below all" {
		t.Errorf("events: %+v", evs)
	}
}
