package server_test

import (
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

// TestMinSuccess: with three test hosts, the default needs all three;
// a count of 2 makes the update tested after two installs, and lowering
// the count decides updates in testing at once.
func TestMinSuccess(t *testing.T) {
	e := newEnv(t)
	e.call("POST", "/api/v1/groups", e.admin, adminapi.CreateGroupRequest{Name: "lab"}, nil)
	inv := patchgate.Inventory{Hostname: "h", Mode: patchgate.ModeAutomatic, Products: []patchgate.InstalledProduct{{Name: "app", Version: "1.0"}}}
	var creds []string
	for range 3 {
		_, c := e.enroll("lab", inv)
		creds = append(creds, c)
	}
	e.wantError("PUT", "/api/v1/release/test-groups/lab/min-success", adminapi.SetMinSuccessRequest{MinSuccess: 2}, 404, "lab")
	if st := e.call("PUT", "/api/v1/release/test-groups/lab", e.admin, nil, nil); st != 204 {
		t.Fatalf("add test group: %d", st)
	}
	var pol adminapi.TestPolicy
	if code := e.call("GET", "/api/v1/release/test-policy", e.admin, nil, &pol); code != 200 || len(pol.Groups) != 1 || pol.Groups[0] != (patchgate.TestGroup{Name: "lab"}) {
		t.Fatalf("default policy: %d %+v", code, pol)
	}
	e.wantError("PUT", "/api/v1/release/test-groups/lab/min-success", adminapi.SetMinSuccessRequest{MinSuccess: -1}, 400, "min_success")
	e.wantError("PUT", "/api/v1/release/test-groups/lab/min-success", map[string]any{"min_success": "two"}, 400, "min_success")

	now := time.Now().UTC()
	installed := func(i int, id, evID string) {
		e.report(creds[i], patchgate.Event{ID: evID, Time: now, Type: patchgate.EventDeployment, UpdateID: id, State: patchgate.StateInstalled})
	}
	for _, id := range []string{"HF-1", "HF-2"} {
		e.add(id, "app", []byte(id), nil)
		if st := e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{id}, Group: "lab", Action: patchgate.ActionInstall}, nil); st != 200 {
			t.Fatalf("approve %s: %d", id, st)
		}
	}
	// Default: two of three is not enough.
	installed(0, "HF-1", "a1")
	installed(1, "HF-1", "b1")
	if got := e.status("HF-1").Status; got != patchgate.StatusTesting {
		t.Fatalf("HF-1 after 2 of 3 installs by default: %s, want testing", got)
	}
	// Count 2: HF-1 is decided at once, without another report.
	var tg patchgate.TestGroup
	if code := e.call("PUT", "/api/v1/release/test-groups/lab/min-success", e.admin, adminapi.SetMinSuccessRequest{MinSuccess: 2}, &tg); code != 200 || tg.MinSuccess != 2 {
		t.Fatalf("set min-success: %d %+v", code, tg)
	}
	if got := e.status("HF-1").Status; got != patchgate.StatusTested {
		t.Fatalf("HF-1 after the count went to 2: %s, want tested", got)
	}
	installed(2, "HF-2", "c2")
	if got := e.status("HF-2").Status; got != patchgate.StatusTesting {
		t.Fatalf("HF-2 after 1 install: %s, want testing", got)
	}
	installed(0, "HF-2", "a2")
	if got := e.status("HF-2").Status; got != patchgate.StatusTested {
		t.Fatalf("HF-2 after 2 installs: %s, want tested", got)
	}
	e.call("GET", "/api/v1/release/test-policy", e.admin, nil, &pol)
	if len(pol.Groups) != 1 || pol.Groups[0].MinSuccess != 2 {
		t.Fatalf("policy %+v", pol)
	}
	var evs []patchgate.Event
	e.call("GET", "/api/v1/events?type=release.test-group", e.admin, nil, &evs)
	if len(evs) != 2 || evs[1].Detail != "test group lab: tested when 2 host(s) that need an update installed it" {
		t.Fatalf("events %+v", evs)
	}
}
