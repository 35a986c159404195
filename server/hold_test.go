package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/agentapi"
)

type held struct {
	status int
	etag   string
	resp   agentapi.CheckinResponse
	err    error
}

// holdCheckin sends a long-poll check-in to base and delivers its answer
// on the returned channel.
func holdCheckin(base, cred, etag, wait string, inv patchgate.Inventory) <-chan held {
	out := make(chan held, 1)
	go func() {
		data, _ := json.Marshal(agentapi.CheckinRequest{Inventory: inv})
		req, _ := http.NewRequest("POST", base+agentapi.PathCheckin+"?wait="+wait, bytes.NewReader(data))
		req.Header.Set("Authorization", "Bearer "+cred)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
		if err != nil {
			out <- held{err: err}
			return
		}
		defer resp.Body.Close()
		h := held{status: resp.StatusCode, etag: resp.Header.Get("ETag")}
		if resp.StatusCode == 200 {
			h.err = json.NewDecoder(resp.Body).Decode(&h.resp)
		}
		out <- h
	}()
	return out
}

// waitHeld waits (bounded) until the server holds n check-ins.
func waitHeld(t *testing.T, e *env, n int) {
	t.Helper()
	for range 500 {
		if e.srv.HeldCheckins() == n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the server holds %d check-ins, want %d", e.srv.HeldCheckins(), n)
}

func recv(t *testing.T, ch <-chan held) held {
	t.Helper()
	select {
	case h := <-ch:
		if h.err != nil {
			t.Fatalf("held check-in: %v", h.err)
		}
		return h
	case <-time.After(30 * time.Second):
		t.Fatal("held check-in not answered")
	}
	return held{}
}

func mustGroup(t *testing.T, e *env, name string) {
	t.Helper()
	if st := e.call("POST", "/api/v1/groups", e.admin, adminapi.CreateGroupRequest{Name: name}, nil); st != 201 {
		t.Fatalf("create group: %d", st)
	}
}

// TestLongPollWakesOnApproval: a check-in holding the current ETag is held
// until an approval changes the plan, then answered with it; one without
// the current ETag is answered at once.
func TestLongPollWakesOnApproval(t *testing.T) {
	e := newEnv(t)
	e.publish("HF-1", "app", "", []byte("#!/bin/sh\n"), nil)
	mustGroup(t, e, "web")
	inv := patchgate.Inventory{Hostname: "w1", Mode: patchgate.ModeAutomatic, Products: []patchgate.InstalledProduct{{Name: "app", Version: "1.0"}}}
	_, cred := e.enroll("web", inv)
	_, cred2 := e.enroll("web", patchgate.Inventory{Hostname: "w2", Mode: patchgate.ModeAutomatic})
	st, etag, resp := e.checkin(cred, "", inv)
	if st != 200 || len(resp.Plan.Items) != 0 || etag == "" {
		t.Fatalf("first check-in: %d %q %+v", st, etag, resp.Plan)
	}
	// Not the current ETag: answered at once, with the plan.
	if h := recv(t, holdCheckin(e.http.URL, cred, `"stale"`, "60", inv)); h.status != 200 || h.etag != etag {
		t.Fatalf("stale ETag: %d %q, want 200 %q", h.status, h.etag, etag)
	}
	e.checkin(cred2, "", patchgate.Inventory{Hostname: "w2", Mode: patchgate.ModeAutomatic})
	ch := holdCheckin(e.http.URL, cred, etag, "60", inv)
	waitHeld(t, e, 1)
	select {
	case h := <-ch:
		t.Fatalf("answered while nothing changed: %+v", h)
	default:
	}
	if st := e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{"HF-1"}, Group: "web", Action: patchgate.ActionInstall}, nil); st != 200 {
		t.Fatalf("approve: %d", st)
	}
	h := recv(t, ch)
	if h.status != 200 || h.etag == etag || len(h.resp.Plan.Items) != 1 || h.resp.Plan.Items[0].UpdateID != "HF-1" || !h.resp.Plan.Items[0].MayInstall() {
		t.Fatalf("woken check-in: %d %q %+v", h.status, h.etag, h.resp.Plan)
	}
	if n := e.srv.HeldCheckins(); n != 0 {
		t.Errorf("%d check-ins still held", n)
	}
	// The new ETag holds again, and the hold ends with 304 and the same
	// ETag when its wait is over.
	h = recv(t, holdCheckin(e.http.URL, cred, h.etag, "1", inv))
	if h.status != 304 {
		t.Errorf("hold that timed out: %d, want 304", h.status)
	}
}

func TestLongPollBadWait(t *testing.T) {
	e := newEnv(t)
	inv := patchgate.Inventory{Hostname: "w1", Mode: patchgate.ModeAutomatic}
	_, cred := e.enroll("", inv)
	for _, w := range []string{"0", "-1", "301", "abc", "1.5", "05", "99999"} {
		data, _ := json.Marshal(agentapi.CheckinRequest{Inventory: inv})
		req, _ := http.NewRequest("POST", e.http.URL+agentapi.PathCheckin+"?wait="+w, bytes.NewReader(data))
		req.Header.Set("Authorization", "Bearer "+cred)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var eb agentapi.ErrorBody
		json.NewDecoder(resp.Body).Decode(&eb)
		resp.Body.Close()
		if resp.StatusCode != 400 || eb.Code != patchgate.CodeInvalid || !bytes.Contains([]byte(eb.Message), []byte("wait")) {
			t.Errorf("wait=%s: %d %+v, want 400 naming wait", w, resp.StatusCode, eb)
		}
	}
}

// TestLongPollRelease: shutting down answers held check-ins with 304 and
// holds no new ones.
func TestLongPollRelease(t *testing.T) {
	e := newEnv(t)
	inv := patchgate.Inventory{Hostname: "w1", Mode: patchgate.ModeAutomatic}
	_, cred := e.enroll("", inv)
	_, etag, _ := e.checkin(cred, "", inv)
	ch := holdCheckin(e.http.URL, cred, etag, "300", inv)
	waitHeld(t, e, 1)
	e.srv.ReleaseHolds()
	if h := recv(t, ch); h.status != 304 || h.etag != etag {
		t.Errorf("released: %d %q", h.status, h.etag)
	}
	if h := recv(t, holdCheckin(e.http.URL, cred, etag, "300", inv)); h.status != 304 {
		t.Errorf("after release: %d", h.status)
	}
}

// TestLongPollWindowOpens: a held check-in of a host whose window opens
// while it waits is answered with the plan that may now install.
func TestLongPollWindowOpens(t *testing.T) {
	clock := &fakeClock{now: at("2026-12-05T21:59:58Z")}
	e := newClockEnv(t, clock)
	e.publish("HF-1", "app", "", []byte("#!/bin/sh\n"), nil)
	mustGroup(t, e, "web")
	inv := patchgate.Inventory{Hostname: "w1", Mode: patchgate.ModeAutomatic, Products: []patchgate.InstalledProduct{{Name: "app", Version: "1.0"}}}
	_, cred := e.enroll("web", inv)
	if st := e.call("PUT", "/api/v1/windows/web", e.admin, adminapi.SetWindowRequest{Schedule: "0 22 * * sat", Duration: "4h", TimeZone: "UTC"}, nil); st != 200 {
		t.Fatalf("set window: %d", st)
	}
	if st := e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{"HF-1"}, Group: "web", Action: patchgate.ActionInstall}, nil); st != 200 {
		t.Fatalf("approve: %d", st)
	}
	st, etag, resp := e.checkin(cred, "", inv)
	if st != 200 || len(resp.Plan.Items) != 1 || resp.Plan.Items[0].MayInstall() {
		t.Fatalf("before the window: %d %+v", st, resp.Plan)
	}
	ch := holdCheckin(e.http.URL, cred, etag, "300", inv)
	waitHeld(t, e, 1)
	clock.Set(at("2026-12-05T22:00:01Z"))
	h := recv(t, ch)
	if h.status != 200 || len(h.resp.Plan.Items) != 1 || !h.resp.Plan.Items[0].MayInstall() {
		t.Fatalf("window opened: %d %+v", h.status, h.resp.Plan)
	}
}

// TestLongPollServerTimeouts: an http.Server's ReadTimeout and
// WriteTimeout, shorter than the hold, do not cut it short.
func TestLongPollServerTimeouts(t *testing.T) {
	e := newEnv(t)
	hs := httptest.NewUnstartedServer(e.srv.Handler())
	hs.Config.ReadTimeout = time.Second
	hs.Config.WriteTimeout = time.Second
	hs.Start()
	defer hs.Close()
	inv := patchgate.Inventory{Hostname: "w1", Mode: patchgate.ModeAutomatic}
	_, cred := e.enroll("", inv)
	_, etag, _ := e.checkin(cred, "", inv)
	if h := recv(t, holdCheckin(hs.URL, cred, etag, "3", inv)); h.status != 304 || h.etag != etag {
		t.Errorf("held past the server's timeouts: %d %q, want 304", h.status, h.etag)
	}
}

// TestLongPollLimits: a host holds at most a few check-ins at once, and
// the server at most MaxHeldCheckins; beyond them check-ins are answered
// at once.
func TestLongPollLimits(t *testing.T) {
	e := newEnv(t)
	inv := patchgate.Inventory{Hostname: "w1", Mode: patchgate.ModeAutomatic}
	_, cred := e.enroll("", inv)
	_, etag, _ := e.checkin(cred, "", inv)
	var chs []<-chan held
	for range 4 {
		chs = append(chs, holdCheckin(e.http.URL, cred, etag, "300", inv))
	}
	waitHeld(t, e, 4)
	if h := recv(t, holdCheckin(e.http.URL, cred, etag, "300", inv)); h.status != 304 {
		t.Errorf("fifth hold of one host: %d, want 304 at once", h.status)
	}
	e.srv.ReleaseHolds()
	for _, ch := range chs {
		recv(t, ch)
	}
	waitHeld(t, e, 0)
}

// TestLongPollStaysHeldOnUnrelatedChange: the ETag is the plan's content,
// so a change that does not alter a host's plan (a new group, an approval
// for another group's product) leaves its long poll held and its next
// check-in a 304; a fleet is not woken, and handed full plans, by every
// admin change.
func TestLongPollStaysHeldOnUnrelatedChange(t *testing.T) {
	e := newEnv(t)
	e.publish("HF-1", "app", "", []byte("#!/bin/sh\n"), nil)
	e.publish("DB-1", "db", "", []byte("#!/bin/sh\necho db\n"), nil)
	mustGroup(t, e, "web")
	inv := patchgate.Inventory{Hostname: "w1", Mode: patchgate.ModeAutomatic, Products: []patchgate.InstalledProduct{{Name: "app", Version: "1.0"}}}
	_, cred := e.enroll("web", inv)
	st, etag, _ := e.checkin(cred, "", inv)
	if st != 200 || etag == "" {
		t.Fatalf("first check-in: %d %q", st, etag)
	}
	ch := holdCheckin(e.http.URL, cred, etag, "60", inv)
	waitHeld(t, e, 1)
	// Unrelated to w1's plan: a new group, and DB-1 (a product w1 does
	// not run) approved for web.
	mustGroup(t, e, "db")
	if st := e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{"DB-1"}, Group: "web", Action: patchgate.ActionInstall}, nil); st != 200 {
		t.Fatalf("approve DB-1: %d", st)
	}
	time.Sleep(200 * time.Millisecond) // the woken hold has looked at its plan again
	select {
	case h := <-ch:
		t.Fatalf("answered although the plan did not change: %d %q", h.status, h.etag)
	default:
	}
	if n := e.srv.HeldCheckins(); n != 1 {
		t.Fatalf("%d check-ins held, want 1", n)
	}
	if st, got, _ := e.checkin(cred, etag, inv); st != 304 || got != etag {
		t.Fatalf("check-in after unrelated changes: %d %q, want 304 %q", st, got, etag)
	}
	// A change that does alter the plan answers the hold with it.
	if st := e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{"HF-1"}, Group: "web", Action: patchgate.ActionInstall}, nil); st != 200 {
		t.Fatalf("approve HF-1: %d", st)
	}
	h := recv(t, ch)
	if h.status != 200 || h.etag == etag || len(h.resp.Plan.Items) != 1 || h.resp.Plan.Items[0].UpdateID != "HF-1" {
		t.Fatalf("woken check-in: %d %q %+v", h.status, h.etag, h.resp.Plan)
	}
}
