package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

// TestCleanup: superseded hotfixes are kept while younger than the age
// or while a host needs them (their SR not approved), then declined for
// all by "cleanup"; a dry run changes nothing; a second run finds nothing.
func TestCleanup(t *testing.T) {
	e := newEnv(t)
	inv := func(installed ...string) patchgate.Inventory {
		return patchgate.Inventory{Hostname: "h", Mode: patchgate.ModeAutomatic, Products: []patchgate.InstalledProduct{{Name: "app", Version: "1.0"}}, Installed: installed}
	}
	e.publish("HF-1", "app", "", []byte("one"), nil)
	e.publish("HF-2", "app", "", []byte("two"), nil)
	e.publish("DB-1", "db", "", []byte("db"), nil)
	e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{"HF-1", "HF-2"}, Group: patchgate.GroupAll, Action: patchgate.ActionInstall}, nil)
	e.call("POST", "/api/v1/groups", e.admin, adminapi.CreateGroupRequest{Name: "prod"}, nil)
	_, credA := e.enroll("prod", inv("HF-1"))
	_, credB := e.enroll("prod", inv("HF-1", "HF-2"))
	e.checkin(credA, "", inv("HF-1"))
	e.checkin(credB, "", inv("HF-1", "HF-2"))

	cleanup := func(req adminapi.CleanupRequest) adminapi.CleanupReport {
		t.Helper()
		var rep adminapi.CleanupReport
		if code := e.call("POST", "/api/v1/release/cleanup", e.admin, req, &rep); code != 200 {
			t.Fatalf("cleanup %+v: %d", req, code)
		}
		return rep
	}
	if rep := cleanup(adminapi.CleanupRequest{}); len(rep.Items) != 0 || rep.Age != "720h0m0s" {
		t.Fatalf("nothing superseded yet: %+v", rep)
	}
	var c adminapi.ConsolidateResponse
	e.call("POST", "/api/v1/release/consolidate", e.admin, adminapi.ConsolidateRequest{Product: "app"}, &c)
	if code := e.call("POST", "/api/v1/updates/app-SR1/post", e.admin, adminapi.PostUpdateRequest{Force: true, Reason: "test"}, nil); code != 200 {
		t.Fatalf("post SR: %d", code)
	}
	// Younger than 30 days: kept.
	rep := cleanup(adminapi.CleanupRequest{})
	if len(rep.Items) != 2 || rep.Declined != 0 || !strings.Contains(rep.Items[0].Reason, "less than 30d") {
		t.Fatalf("young: %+v", rep)
	}
	// Old enough, but the SR is approved nowhere: A needs HF-2.
	rep = cleanup(adminapi.CleanupRequest{Age: "0"})
	byID := map[string]patchgate.CleanupItem{}
	for _, it := range rep.Items {
		byID[it.UpdateID] = it
	}
	if rep.Declined != 1 || !byID["HF-1"].Decline || byID["HF-2"].Decline || byID["HF-2"].NeededBy != 1 || strings.Join(byID["HF-2"].SupersededBy, ",") != "app-SR1" {
		t.Fatalf("SR not approved: %+v", rep)
	}
	// That declined HF-1 (no host lacks it).
	var as []patchgate.Approval
	e.call("GET", "/api/v1/approvals", e.admin, nil, &as)
	declined := map[string]string{}
	for _, a := range as {
		if a.Action == patchgate.ActionDecline && a.Group == patchgate.GroupAll {
			declined[a.UpdateID] = a.CreatedBy
		}
	}
	if len(declined) != 1 || declined["HF-1"] != "cleanup" {
		t.Fatalf("declines after the first cleanup: %v", declined)
	}
	// The SR approved for all: nobody needs HF-2; a dry run says so and
	// changes nothing.
	e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{"app-SR1"}, Group: patchgate.GroupAll, Action: patchgate.ActionInstall}, nil)
	rep = cleanup(adminapi.CleanupRequest{Age: "0", DryRun: true})
	if !rep.DryRun || rep.Declined != 1 || len(rep.Items) != 1 || rep.Items[0].UpdateID != "HF-2" || !rep.Items[0].Decline {
		t.Fatalf("dry run: %+v", rep)
	}
	if rep := cleanup(adminapi.CleanupRequest{Age: "0", DryRun: true}); rep.Declined != 1 {
		t.Fatalf("a dry run declined something: %+v", rep)
	}
	// The scheduled job at its configured age (30 days) declines nothing.
	e.srv.RunCleanup(context.Background())
	if rep := cleanup(adminapi.CleanupRequest{Age: "0", DryRun: true}); rep.Declined != 1 {
		t.Fatalf("the 30-day job declined a day-old update: %+v", rep)
	}
	rep = cleanup(adminapi.CleanupRequest{Age: "0d"})
	if rep.Declined != 1 {
		t.Fatalf("cleanup: %+v", rep)
	}
	if rep := cleanup(adminapi.CleanupRequest{Age: "0"}); len(rep.Items) != 0 {
		t.Fatalf("a second cleanup: %+v", rep)
	}
	var evs []patchgate.Event
	e.call("GET", "/api/v1/events?type=release.cleanup", e.admin, nil, &evs)
	if len(evs) != 2 || evs[0].Actor != "cleanup" || !strings.Contains(evs[1].Detail, "HF-2") {
		t.Fatalf("cleanup events: %+v", evs)
	}
	// HF-2 is out of A's plan (declined; the SR is what A installs).
	_, _, resp := e.checkin(credA, "", inv("HF-1"))
	for _, it := range resp.Plan.Items {
		if it.UpdateID == "HF-2" || it.UpdateID == "HF-1" {
			t.Errorf("plan offers %s after cleanup", it.UpdateID)
		}
	}
	e.wantError("POST", "/api/v1/release/cleanup", adminapi.CleanupRequest{Age: "soon"}, 400, "age")
	e.wantError("POST", "/api/v1/release/cleanup", adminapi.CleanupRequest{Age: "-5h"}, 400, "age")
}
