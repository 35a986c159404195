package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/agentapi"
)

func (e *env) report(cred string, evs ...patchgate.Event) {
	e.t.Helper()
	data, _ := json.Marshal(agentapi.EventsRequest{Events: evs})
	req, _ := http.NewRequest("POST", e.http.URL+agentapi.PathEvents, bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+cred)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		e.t.Fatalf("report: %d", resp.StatusCode)
	}
}

// TestRollout: a canary goes first, a failure halts the group (an override
// and an event, the policy untouched), resume lets a new canary start, and
// its success lets the others go.
func TestRollout(t *testing.T) {
	clock := &fakeClock{now: at("2026-12-02T12:00:00Z")}
	e := newClockEnv(t, clock)
	e.publish("HF-1", "app", "", []byte("#!/bin/sh\n"), nil)
	e.call("POST", "/api/v1/groups", e.admin, adminapi.CreateGroupRequest{Name: "prod"}, nil)
	inv := patchgate.Inventory{Hostname: "p", Mode: patchgate.ModeAutomatic, Products: []patchgate.InstalledProduct{{Name: "app", Version: "1.0"}}}
	var creds []string
	for range 3 {
		_, c := e.enroll("prod", inv)
		creds = append(creds, c)
	}
	for _, bad := range []adminapi.SetRolloutRequest{{MaxConcurrent: "lots"}, {MaxFailures: "120%"}, {Canary: -1}} {
		if st := e.call("PUT", "/api/v1/rollouts/prod", e.admin, bad, nil); st != 400 {
			t.Errorf("policy %+v accepted: %d", bad, st)
		}
	}
	viewer := e.token(patchgate.RoleViewer)
	if st := e.call("PUT", "/api/v1/rollouts/prod", viewer, adminapi.SetRolloutRequest{Canary: 1}, nil); st != 403 {
		t.Errorf("viewer set a policy: %d", st)
	}
	var st adminapi.RolloutStatus
	if code := e.call("PUT", "/api/v1/rollouts/prod", e.admin, adminapi.SetRolloutRequest{MaxConcurrent: "50%", MaxFailures: "1", Canary: 1}, &st); code != 200 {
		t.Fatalf("set policy: %d", code)
	}
	if st.Policy.MaxConcurrentPercent != 50 || st.Policy.MaxFailures != 1 || st.Halt.Halted {
		t.Errorf("policy %+v", st)
	}
	e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{"HF-1"}, Group: "prod", Action: patchgate.ActionInstall}, nil)

	may := func(i int) (bool, string) {
		t.Helper()
		_, _, resp := e.checkin(creds[i], "", inv)
		if len(resp.Plan.Items) != 1 {
			t.Fatalf("host %d plan %+v", i, resp.Plan)
		}
		return resp.Plan.Items[0].MayInstall(), resp.Plan.Items[0].InstallReason
	}
	if ok, why := may(0); !ok {
		t.Fatalf("the canary may not start: %s", why)
	}
	if ok, why := may(1); ok || !strings.Contains(why, "canary") {
		t.Fatalf("a second host started during the canary: %v %s", ok, why)
	}
	if ok, _ := may(0); !ok {
		t.Fatal("the canary lost its start")
	}

	// The canary fails: the next check-in halts the group.
	clock.Set(at("2026-12-02T12:10:00Z"))
	e.report(creds[0], patchgate.Event{ID: "f1", Time: clock.Now(), Type: patchgate.EventDeployment, UpdateID: "HF-1", State: patchgate.StateFailed, ExitCode: 1})
	clock.Set(at("2026-12-02T12:11:00Z"))
	if ok, why := may(1); ok || !strings.Contains(why, "halted") {
		t.Fatalf("after the canary failed: %v %s", ok, why)
	}
	e.call("GET", "/api/v1/rollouts/prod", viewer, nil, &st)
	if !st.Halt.Halted || st.Halt.UpdateID != "HF-1" || st.Policy.MaxFailures != 1 {
		t.Errorf("status after the failure: %+v", st)
	}
	var evs []patchgate.Event
	e.call("GET", "/api/v1/events?type="+patchgate.EventRolloutHalted, viewer, nil, &evs)
	if len(evs) != 1 || evs[0].UpdateID != "HF-1" {
		t.Errorf("halt events %+v", evs)
	}
	if ok, _ := may(2); ok {
		t.Fatal("a halted group started a host")
	}

	// Resume: a new canary; its success lets the rest go.
	if code := e.call("POST", "/api/v1/rollouts/prod/resume", viewer, nil, nil); code != 403 {
		t.Errorf("viewer resumed: %d", code)
	}
	clock.Set(at("2026-12-02T12:20:00Z"))
	if code := e.call("POST", "/api/v1/rollouts/prod/resume", e.admin, nil, &st); code != 200 || st.Halt.Halted {
		t.Fatalf("resume: %d %+v", code, st)
	}
	if code := e.call("POST", "/api/v1/rollouts/prod/resume", e.admin, nil, nil); code != 404 {
		t.Errorf("resume a running rollout: %d", code)
	}
	clock.Set(at("2026-12-02T12:21:00Z"))
	if ok, why := may(1); !ok {
		t.Fatalf("after resume: %s", why)
	}
	if ok, _ := may(2); ok {
		t.Fatal("two canaries")
	}
	e.report(creds[1], patchgate.Event{ID: "s1", Time: clock.Now().Add(time.Minute), Type: patchgate.EventDeployment, UpdateID: "HF-1", State: patchgate.StateInstalled})
	if ok, why := may(2); !ok {
		t.Fatalf("after the canary succeeded: %s", why)
	}

	var list []adminapi.RolloutStatus
	if code := e.call("GET", "/api/v1/rollouts", viewer, nil, &list); code != 200 || len(list) != 1 {
		t.Errorf("list: %d %+v", code, list)
	}
	if code := e.call("DELETE", "/api/v1/rollouts/prod", e.admin, nil, nil); code != 204 {
		t.Errorf("delete: %d", code)
	}
	if code := e.call("GET", "/api/v1/rollouts/prod", viewer, nil, nil); code != 404 {
		t.Errorf("get after delete: %d", code)
	}
}
