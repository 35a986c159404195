package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/agentapi"
)

// TestCheckinInstallEstimate: once installs of an update were seen to take
// 90 minutes, a host whose window closes in 30 minutes is told to wait for
// the next window, and why; with the whole window ahead it installs.
func TestCheckinInstallEstimate(t *testing.T) {
	clock := &fakeClock{now: at("2026-12-05T22:00:00Z")} // a window opens
	e := newClockEnv(t, clock)
	e.publish("HF-1", "app", "", []byte("#!/bin/sh\n"), nil)
	mustGroup(t, e, "web")
	if st := e.call("PUT", "/api/v1/windows/web", e.admin, adminapi.SetWindowRequest{Schedule: "0 22 * * sat", Duration: "4h", TimeZone: "UTC"}, nil); st != 200 {
		t.Fatalf("set window: %d", st)
	}
	if st := e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{"HF-1"}, Group: "web", Action: patchgate.ActionInstall}, nil); st != 200 {
		t.Fatalf("approve: %d", st)
	}
	inv := func(name string) patchgate.Inventory {
		return patchgate.Inventory{Hostname: name, Mode: patchgate.ModeAutomatic, Products: []patchgate.InstalledProduct{{Name: "app", Version: "1.0"}}}
	}
	// Three hosts install it, each in 90 minutes.
	start := at("2026-12-05T22:00:00Z")
	for i := range 3 {
		name := fmt.Sprintf("w%d", i)
		_, cred := e.enroll("web", inv(name))
		var evs []patchgate.Event
		for j, st := range []patchgate.DeploymentState{patchgate.StateDownloading, patchgate.StateInstalling, patchgate.StateInstalled} {
			at := start.Add(time.Duration(j) * 45 * time.Minute)
			evs = append(evs, patchgate.Event{ID: fmt.Sprintf("e%d", j), Time: at, Type: patchgate.EventDeployment, UpdateID: "HF-1", State: st})
		}
		var resp agentapi.EventsResponse
		if st := e.call("POST", agentapi.PathEvents, cred, agentapi.EventsRequest{Events: evs}, &resp); st != 200 || resp.Accepted != 3 {
			t.Fatalf("events: %d %+v", st, resp)
		}
	}
	_, cred := e.enroll("web", inv("late"))
	st, etag, resp := e.checkin(cred, "", inv("late"))
	if st != 200 || len(resp.Plan.Items) != 1 || !resp.Plan.Items[0].MayInstall() || resp.Plan.Items[0].EstimatedSeconds != 0 {
		t.Fatalf("before any estimate: %d %+v", st, resp.Plan)
	}
	e.srv.RefreshEstimates(context.Background())
	if st, _, _ := e.checkin(cred, etag, inv("late")); st != 200 {
		t.Errorf("new estimates, same ETag: %d", st)
	}
	// With the whole window ahead it fits.
	_, _, resp = e.checkin(cred, "", inv("late"))
	if it := resp.Plan.Items[0]; !it.MayInstall() || it.EstimatedSeconds != 5400 {
		t.Errorf("window just opened: %+v", it)
	}
	// Half an hour before the close it does not.
	clock.Set(at("2026-12-06T01:30:00Z"))
	_, _, resp = e.checkin(cred, "", inv("late"))
	it := resp.Plan.Items[0]
	if it.MayInstall() || it.NextWindow == nil || !it.NextWindow.Equal(at("2026-12-12T22:00:00Z")) ||
		!strings.Contains(it.InstallReason, "would not finish before the maintenance window closes at 2026-12-06T02:00:00Z") ||
		!strings.Contains(it.InstallReason, "p90 of 3 past installs of HF-1") {
		t.Errorf("30 minutes before the close: %+v", it)
	}
	// host show tells people the same.
	hostID := resp.Plan.HostID
	var detail adminapi.HostDetail
	if st := e.call("GET", "/api/v1/hosts/"+hostID, e.admin, nil, &detail); st != 200 || len(detail.Plan.Items) != 1 ||
		detail.Plan.Items[0].MayInstall() || detail.Plan.Items[0].InstallReason != it.InstallReason {
		t.Errorf("host show: %d %+v", st, detail.Plan)
	}
	// Unchanged estimates do not invalidate plans.
	_, etag, _ = e.checkin(cred, "", inv("late"))
	e.srv.RefreshEstimates(context.Background())
	if st, _, _ := e.checkin(cred, etag, inv("late")); st != 304 {
		t.Errorf("same estimates: %d, want 304", st)
	}
}
