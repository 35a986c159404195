package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/agentapi"
)

// add adds an update without posting it: it enters received.
func (e *env) add(id, product string, payload []byte, mut func(*patchgate.Manifest)) adminapi.AddUpdateResponse {
	e.t.Helper()
	sum := sha256.Sum256(payload)
	sha := hex.EncodeToString(sum[:])
	if st := e.call("PUT", "/api/v1/content/"+sha, e.admin, payload, nil); st != 201 {
		e.t.Fatalf("put content: %d", st)
	}
	m := patchgate.Manifest{ID: id, Title: "fix " + id, Kind: patchgate.KindHotfix, Severity: patchgate.SeverityCritical,
		Products: []patchgate.ProductConstraint{{Name: product}},
		Payloads: []patchgate.ManifestPayload{{Name: "fix.sh", Size: int64(len(payload)), SHA256: sha, Installer: patchgate.InstallerExec}}}
	if mut != nil {
		mut(&m)
	}
	var resp adminapi.AddUpdateResponse
	if st := e.call("POST", "/api/v1/updates", e.admin, adminapi.AddUpdateRequest{Manifest: m}, &resp); st != 201 && st != 200 {
		e.t.Fatalf("add update %s: %d", id, st)
	}
	return resp
}

func (e *env) status(id string) patchgate.ReleaseState {
	e.t.Helper()
	var h adminapi.UpdateHistory
	if st := e.call("GET", "/api/v1/updates/"+id+"/history", e.admin, nil, &h); st != 200 {
		e.t.Fatalf("history of %s: %d", id, st)
	}
	return h.Release
}

func (e *env) planned(cred string, inv patchgate.Inventory, id string) bool {
	e.t.Helper()
	st, _, resp := e.checkin(cred, "", inv)
	if st != 200 {
		e.t.Fatalf("checkin: %d", st)
	}
	for _, it := range resp.Plan.Items {
		if it.UpdateID == id {
			return true
		}
	}
	return false
}

// wantError checks an API refusal: its status, and that the message
// names what it must.
func (e *env) wantError(method, path string, body any, status int, names ...string) {
	e.t.Helper()
	var eb agentapi.ErrorBody
	st := e.call(method, path, e.admin, body, &eb)
	if st != status {
		e.t.Errorf("%s %s: %d %+v, want %d", method, path, st, eb, status)
		return
	}
	for _, n := range names {
		if !strings.Contains(eb.Message, n) {
			e.t.Errorf("%s %s: message %q does not name %q", method, path, eb.Message, n)
		}
	}
}

// TestReleaseLifecycle drives an update from received through testing to
// tested by the reports of a test host's agent, then posted; and a second
// one to failed, refused unforced, force-posted; then withdrawal and
// revisions.
func TestReleaseLifecycle(t *testing.T) {
	e := newEnv(t)
	for _, g := range []string{"lab", "prod"} {
		e.call("POST", "/api/v1/groups", e.admin, adminapi.CreateGroupRequest{Name: g}, nil)
	}
	inv := patchgate.Inventory{Hostname: "h", Mode: patchgate.ModeAutomatic, Products: []patchgate.InstalledProduct{{Name: "app", Version: "1.0"}}}
	_, labCred := e.enroll("lab", inv)
	_, prodCred := e.enroll("prod", inv)

	if got := e.add("HF-1", "app", []byte("one"), nil); got.Release.Status != patchgate.StatusReceived {
		t.Fatalf("a new update is %q, want received", got.Release.Status)
	}
	// Not approvable anywhere before it is posted: no test group yet.
	e.wantError("POST", "/api/v1/approvals", adminapi.ApproveRequest{Updates: []string{"HF-1"}, Group: "lab", Action: patchgate.ActionInstall}, 409, "received", "not posted")
	if st := e.call("PUT", "/api/v1/release/test-groups/lab", e.admin, nil, nil); st != 204 {
		t.Fatalf("add test group: %d", st)
	}
	e.wantError("PUT", "/api/v1/release/test-groups/nope", nil, 404, "nope")
	e.wantError("POST", "/api/v1/approvals", adminapi.ApproveRequest{Updates: []string{"HF-1"}, Group: "prod", Action: patchgate.ActionInstall}, 409, "HF-1", "received")
	e.wantError("POST", "/api/v1/approvals", adminapi.ApproveRequest{Updates: []string{"HF-1"}, Group: "lab", Action: patchgate.ActionDecline}, 409, "may only install")
	e.wantError("POST", "/api/v1/updates/HF-1/post", adminapi.PostUpdateRequest{}, 409, "received", "not tested")

	if st := e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{"HF-1"}, Group: "lab", Action: patchgate.ActionInstall}, nil); st != 200 {
		t.Fatalf("approve for the test group: %d", st)
	}
	if got := e.status("HF-1").Status; got != patchgate.StatusTesting {
		t.Fatalf("approved for a test group: %s, want testing", got)
	}
	if !e.planned(labCred, inv, "HF-1") {
		t.Error("the test host is not offered the update in testing")
	}
	if e.planned(prodCred, inv, "HF-1") {
		t.Error("a production host is offered an update in testing")
	}
	// The test host's agent reports: downloading changes nothing,
	// installed makes it tested.
	now := time.Now().UTC()
	e.report(labCred, patchgate.Event{ID: "l1", Time: now, Type: patchgate.EventDeployment, UpdateID: "HF-1", State: patchgate.StateDownloading})
	if got := e.status("HF-1").Status; got != patchgate.StatusTesting {
		t.Fatalf("after downloading: %s", got)
	}
	e.report(labCred, patchgate.Event{ID: "l2", Time: now.Add(time.Second), Type: patchgate.EventDeployment, UpdateID: "HF-1", State: patchgate.StateInstalled})
	if got := e.status("HF-1").Status; got != patchgate.StatusTested {
		t.Fatalf("after the test host installed it: %s, want tested", got)
	}
	var st patchgate.ReleaseState
	if code := e.call("POST", "/api/v1/updates/HF-1/post", e.admin, adminapi.PostUpdateRequest{}, &st); code != 200 || st.Status != patchgate.StatusPosted || st.Forced || st.PostedAt.IsZero() {
		t.Fatalf("post a tested update: %d %+v", code, st)
	}
	e.wantError("POST", "/api/v1/updates/HF-1/post", adminapi.PostUpdateRequest{}, 409, "already posted")
	if st := e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{"HF-1"}, Group: "prod", Action: patchgate.ActionInstall}, nil); st != 200 {
		t.Fatalf("approve a posted update: %d", st)
	}
	if !e.planned(prodCred, inv, "HF-1") {
		t.Error("a posted, approved update is not planned")
	}
	var h adminapi.UpdateHistory
	e.call("GET", "/api/v1/updates/HF-1/history", e.admin, nil, &h)
	var types []string
	for _, ev := range h.Events {
		types = append(types, ev.Type+" by "+ev.Actor)
	}
	want := []string{"update.added by token:", "update.testing by token:", "update.tested by system:testing", "update.posted by token:"}
	if len(types) != len(want) {
		t.Fatalf("history %v, want %v", types, want)
	}
	for i := range want {
		if !strings.HasPrefix(types[i], want[i]) {
			t.Errorf("history[%d] = %s, want %s...", i, types[i], want[i])
		}
	}

	// HF-2 fails on the test host.
	e.add("HF-2", "app", []byte("two"), nil)
	e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{"HF-2"}, Group: "lab", Action: patchgate.ActionInstall}, nil)
	e.report(labCred, patchgate.Event{ID: "l3", Time: now.Add(2 * time.Second), Type: patchgate.EventDeployment, UpdateID: "HF-2", State: patchgate.StateFailed, ExitCode: 3})
	if got := e.status("HF-2").Status; got != patchgate.StatusFailed {
		t.Fatalf("after a failed test install: %s, want failed", got)
	}
	if e.planned(labCred, inv, "HF-2") {
		t.Error("a failed update is still offered to test hosts")
	}
	e.wantError("POST", "/api/v1/updates/HF-2/post", adminapi.PostUpdateRequest{}, 409, "failed")
	e.wantError("POST", "/api/v1/updates/HF-2/post", adminapi.PostUpdateRequest{Force: true}, 400, "reason")
	if code := e.call("POST", "/api/v1/updates/HF-2/post", e.admin, adminapi.PostUpdateRequest{Force: true, Reason: "vendor says the lab disk was full"}, &st); code != 200 || !st.Forced {
		t.Fatalf("forced post: %d %+v", code, st)
	}
	var evs []patchgate.Event
	e.call("GET", "/api/v1/events?update=HF-2&type=update.posted", e.admin, nil, &evs)
	if len(evs) != 1 || !strings.Contains(evs[0].Detail, "lab disk was full") || !strings.Contains(evs[0].Detail, "forced") || evs[0].Actor == "" {
		t.Fatalf("forced post not audited: %+v", evs)
	}

	// Withdrawal needs a reason and takes the update out of plans.
	e.wantError("POST", "/api/v1/updates/HF-1/withdraw", adminapi.WithdrawUpdateRequest{}, 400, "reason")
	if code := e.call("POST", "/api/v1/updates/HF-1/withdraw", e.admin, adminapi.WithdrawUpdateRequest{Reason: "bricks routers"}, &st); code != 200 || st.Status != patchgate.StatusWithdrawn {
		t.Fatalf("withdraw: %d %+v", code, st)
	}
	if e.planned(prodCred, inv, "HF-1") {
		t.Error("a withdrawn update is still planned")
	}
	e.wantError("POST", "/api/v1/updates/HF-1/post", adminapi.PostUpdateRequest{Force: true, Reason: "x"}, 409, "withdrawn")
	e.wantError("POST", "/api/v1/approvals", adminapi.ApproveRequest{Updates: []string{"HF-1"}, Group: "prod", Action: patchgate.ActionInstall}, 409, "withdrawn")

	// A words-only revision keeps the status; a new payload goes back to
	// received and leaves production plans, its approval kept for later.
	e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{"HF-2"}, Group: "prod", Action: patchgate.ActionInstall}, nil)
	if r := e.add("HF-2", "app", []byte("two"), func(m *patchgate.Manifest) { m.Title = "better title" }); r.Update.Revision != 2 || r.Release.Status != patchgate.StatusPosted {
		t.Fatalf("words-only revision: rev %d %s, want 2 posted", r.Update.Revision, r.Release.Status)
	}
	if r := e.add("HF-2", "app", []byte("two, fixed"), nil); r.Update.Revision != 3 || r.Release.Status != patchgate.StatusReceived || r.Release.Revision != 3 {
		t.Fatalf("new payload: rev %d %+v, want 3 received", r.Update.Revision, r.Release)
	}
	if e.planned(prodCred, inv, "HF-2") {
		t.Error("a revision back in received is planned on production")
	}

	// Adding with post needs force and a reason, checked before storing.
	sum := sha256.Sum256([]byte("one")) // uploaded above
	m := patchgate.Manifest{ID: "HF-3", Title: "t", Kind: patchgate.KindHotfix, Severity: patchgate.SeverityLow, Products: []patchgate.ProductConstraint{{Name: "app"}},
		Payloads: []patchgate.ManifestPayload{{Name: "fix.sh", Size: 3, SHA256: hex.EncodeToString(sum[:]), Installer: patchgate.InstallerExec}}}
	e.wantError("POST", "/api/v1/updates", adminapi.AddUpdateRequest{Manifest: m, Post: true}, 400, "force")
	e.wantError("POST", "/api/v1/updates", adminapi.AddUpdateRequest{Manifest: m, Post: true, Force: true}, 400, "reason")
	e.wantError("POST", "/api/v1/updates", adminapi.AddUpdateRequest{Manifest: m, Force: true}, 400, "post")
	e.wantError("GET", "/api/v1/updates/HF-3", nil, 404, "HF-3")
	var r adminapi.AddUpdateResponse
	if code := e.call("POST", "/api/v1/updates", e.admin, adminapi.AddUpdateRequest{Manifest: m, Post: true, Force: true, Reason: "local quick fix"}, &r); code != 201 || r.Release.Status != patchgate.StatusPosted || !r.Release.Forced {
		t.Fatalf("add --post --force: %d %+v", code, r.Release)
	}
	// Again: unchanged, still posted, nothing posted twice.
	if code := e.call("POST", "/api/v1/updates", e.admin, adminapi.AddUpdateRequest{Manifest: m, Post: true, Force: true, Reason: "local quick fix"}, &r); code != 200 || r.Release.Status != patchgate.StatusPosted {
		t.Fatalf("add --post --force again: %d %+v", code, r.Release)
	}
	var list []adminapi.UpdateInfo
	e.call("GET", "/api/v1/updates?status=posted", e.admin, nil, &list)
	if len(list) != 1 || list[0].ID != "HF-3" {
		t.Errorf("updates?status=posted: %+v", list)
	}
	e.wantError("GET", "/api/v1/updates?status=live", nil, 400, "status")
}

// TestSLACheck: approaching, then breached, each emitted once however
// often the check runs; the report shows the remaining time and the
// breach; a policy change via the API applies.
func TestSLACheck(t *testing.T) {
	clock := &fakeClock{now: at("2026-01-31T20:00:00Z")}
	e := newClockEnv(t, clock)
	ctx := context.Background()
	e.add("CRIT-1", "app", []byte("c"), nil)
	e.add("HIGH-1", "app", []byte("h"), func(m *patchgate.Manifest) { m.Severity = patchgate.SeverityHigh })

	var info adminapi.SLAPolicyInfo
	if code := e.call("PUT", "/api/v1/release/sla/high", e.admin, adminapi.SetSLARequest{Max: "72h"}, &info); code != 200 || info.Max["high"] != "72h0m0s" || info.Max["critical"] != "24h0m0s" {
		t.Fatalf("set SLA: %d %+v", code, info)
	}
	e.wantError("PUT", "/api/v1/release/sla/urgent", adminapi.SetSLARequest{Max: "1h"}, 400, "severity")
	e.wantError("PUT", "/api/v1/release/sla/low", adminapi.SetSLARequest{Max: "soon"}, 400, "max")

	count := func(typ string) int {
		var evs []patchgate.Event
		e.call("GET", "/api/v1/events?type="+typ, e.admin, nil, &evs)
		return len(evs)
	}
	check := func() int {
		n, err := e.srv.CheckSLA(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := check(); n != 0 {
		t.Fatalf("a fresh update raised %d SLA events", n)
	}
	clock.Set(at("2026-02-01T17:00:00Z")) // 3h left for CRIT-1, across the month boundary
	if n := check(); n != 1 || count(patchgate.EventSLAApproaching) != 1 {
		t.Fatalf("approaching: %d new events", n)
	}
	if n := check(); n != 0 {
		t.Fatalf("the check is not idempotent: %d more events", n)
	}
	clock.Set(at("2026-02-01T21:00:00Z"))
	if n := check(); n != 1 || count(patchgate.EventSLABreached) != 1 {
		t.Fatalf("breached: %d new events", n)
	}
	check()
	if count(patchgate.EventSLABreached) != 1 {
		t.Fatal("a breach was reported twice")
	}
	var rep adminapi.SLAReport
	e.call("GET", "/api/v1/reports/sla", e.admin, nil, &rep)
	if len(rep.Rows) != 2 {
		t.Fatalf("SLA report: %+v", rep.Rows)
	}
	crit, high := rep.Rows[0], rep.Rows[1]
	if crit.UpdateID != "CRIT-1" || crit.State != patchgate.SLABreached || crit.Overdue != time.Hour {
		t.Errorf("critical row: %+v", crit)
	}
	if high.UpdateID != "HIGH-1" || high.State != patchgate.SLAOK || high.Remaining != 47*time.Hour {
		t.Errorf("high row: %+v", high)
	}
}

// TestConsolidate: a dry run stores nothing; the SR is built from the
// posted hotfixes, enters received, and a second run builds nothing;
// posting the SR marks its constituents superseded.
func TestConsolidate(t *testing.T) {
	e := newEnv(t)
	e.publish("HF-1", "app", "", []byte("one"), nil)
	e.publish("HF-2", "app", "", []byte("two"), func(m *patchgate.Manifest) { m.Severity = patchgate.SeverityHigh })
	e.add("HF-3", "app", []byte("three"), nil) // received: not in the SR

	var resp adminapi.ConsolidateResponse
	if code := e.call("POST", "/api/v1/release/consolidate", e.admin, adminapi.ConsolidateRequest{Product: "app", DryRun: true}, &resp); code != 200 || resp.Update == nil || resp.Created || resp.Update.ID != "app-SR1" {
		t.Fatalf("dry run: %d %+v", code, resp)
	}
	e.wantError("GET", "/api/v1/updates/app-SR1", nil, 404, "app-SR1")

	resp = adminapi.ConsolidateResponse{}
	if code := e.call("POST", "/api/v1/release/consolidate", e.admin, adminapi.ConsolidateRequest{Product: "app"}, &resp); code != 201 || !resp.Created || resp.Release == nil || resp.Release.Status != patchgate.StatusReceived {
		t.Fatalf("consolidate: %d %+v", code, resp)
	}
	if got := strings.Join(resp.Update.Supersedes, ","); got != "HF-1,HF-2" || len(resp.Update.Payloads) != 2 {
		t.Fatalf("SR contents: supersedes %s, %d payloads", got, len(resp.Update.Payloads))
	}
	resp = adminapi.ConsolidateResponse{}
	if code := e.call("POST", "/api/v1/release/consolidate", e.admin, adminapi.ConsolidateRequest{Product: "app"}, &resp); code != 200 || resp.Update != nil || !strings.Contains(resp.Reason, "since app-SR1") {
		t.Fatalf("second run: %d %+v", code, resp)
	}
	e.wantError("POST", "/api/v1/release/consolidate", adminapi.ConsolidateRequest{Product: "Not A Product"}, 400, "product")

	if code := e.call("POST", "/api/v1/updates/app-SR1/post", e.admin, adminapi.PostUpdateRequest{Force: true, Reason: "test"}, nil); code != 200 {
		t.Fatalf("post SR: %d", code)
	}
	for _, id := range []string{"HF-1", "HF-2"} {
		if got := e.status(id).Status; got != patchgate.StatusSuperseded {
			t.Errorf("%s after its SR was posted: %s, want superseded", id, got)
		}
	}
	if got := e.status("HF-3").Status; got != patchgate.StatusReceived {
		t.Errorf("HF-3: %s", got)
	}
}

func TestScheduledConsolidation(t *testing.T) {
	e := newEnv(t)
	e.publish("APP-HF-1", "app", "", []byte("one"), nil)
	e.publish("DB-HF-1", "db", "", []byte("two"), nil)
	e.add("WEB-HF-1", "web", []byte("three"), nil) // received: nothing to consolidate for web
	built, err := e.srv.ConsolidateAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(built, ",") != "app-SR1,db-SR1" {
		t.Fatalf("scheduled consolidation built %v, want app-SR1 and db-SR1", built)
	}
	var u patchgate.Update
	if code := e.call("GET", "/api/v1/updates/app-SR1", e.admin, nil, &u); code != 200 || u.CreatedBy != "system:schedule" {
		t.Fatalf("app-SR1: %d, created by %q", code, u.CreatedBy)
	}
	// Idempotent: a second run in the same period builds nothing.
	if built, err := e.srv.ConsolidateAll(context.Background()); err != nil || len(built) != 0 {
		t.Fatalf("second run built %v (%v)", built, err)
	}
}
