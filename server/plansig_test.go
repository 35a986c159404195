package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/agentapi"
)

type signedAnswer struct {
	status int
	etag   string
	sig    string
	body   []byte
}

// signedCheckin sends a check-in with nonce (none if "") over real HTTP.
func (e *env) signedCheckin(cred, etag, nonce, query string, inv patchgate.Inventory) signedAnswer {
	e.t.Helper()
	data, _ := json.Marshal(agentapi.CheckinRequest{Inventory: inv})
	req, _ := http.NewRequest("POST", e.http.URL+agentapi.PathCheckin+query, bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+cred)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if nonce != "" {
		req.Header.Set(agentapi.HeaderNonce, nonce)
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return signedAnswer{status: resp.StatusCode, etag: resp.Header.Get("ETag"), sig: resp.Header.Get(agentapi.HeaderPlanSignature), body: body}
}

func TestPlanSignatures(t *testing.T) {
	e := newEnv(t)
	inv := patchgate.Inventory{Hostname: "web-1", OS: "linux", Arch: "amd64", Mode: patchgate.ModeAutomatic,
		Products: []patchgate.InstalledProduct{{Name: "cisco.ucce", Version: "7.2.1"}}, Installed: []string{}}
	e.publish("fix-1", "cisco.ucce", ">=7.0", []byte("#!/bin/sh\nexit 0\n"), nil)
	e.approve("fix-1")

	// The plan key is delivered at enrolment, shown by GET /api/v1/trust,
	// and served to enrolled hosts only.
	var tok adminapi.CreateTokenResponse
	e.call("POST", "/api/v1/tokens", e.admin, adminapi.CreateTokenRequest{Kind: patchgate.TokenEnroll, Group: "all"}, &tok)
	var er agentapi.EnrollResponse
	if st := e.call("POST", agentapi.PathEnroll, "", agentapi.EnrollRequest{Token: tok.Secret, Inventory: inv, MachineID: "m1"}, &er); st != 201 {
		t.Fatalf("enroll: %d", st)
	}
	key, err := agentapi.ParsePlanKey("plan_key", er.PlanKey)
	if err != nil {
		t.Fatalf("enrolment plan key %q: %v", er.PlanKey, err)
	}
	var ts adminapi.TrustStatus
	if st := e.call("GET", "/api/v1/trust", e.admin, nil, &ts); st != 200 || ts.PlanKey != er.PlanKey {
		t.Fatalf("GET /api/v1/trust: %d plan_key %q, want %q", st, ts.PlanKey, er.PlanKey)
	}
	var pk agentapi.PlanKeyResponse
	if st := e.call("GET", agentapi.PathPlanKey, er.Credential, nil, &pk); st != 200 || pk.PlanKey != er.PlanKey {
		t.Fatalf("GET %s: %d %q", agentapi.PathPlanKey, st, pk.PlanKey)
	}
	if st := e.call("GET", agentapi.PathPlanKey, "", nil, nil); st != 401 {
		t.Fatalf("GET %s without a credential: %d, want 401", agentapi.PathPlanKey, st)
	}
	host, cred := er.HostID, er.Credential

	// 200: the signature covers nonce, host, ETag and the exact body.
	n1 := agentapi.NewNonce()
	a := e.signedCheckin(cred, "", n1, "", inv)
	if a.status != 200 || !bytes.Contains(a.body, []byte("fix-1")) {
		t.Fatalf("check-in: %d %s", a.status, a.body)
	}
	if err := agentapi.VerifyPlan(key, a.sig, false, n1, host, a.etag, a.body); err != nil {
		t.Fatalf("200 signature: %v", err)
	}
	for name, bad := range map[string]error{
		"other nonce": agentapi.VerifyPlan(key, a.sig, false, agentapi.NewNonce(), host, a.etag, a.body),
		"other host":  agentapi.VerifyPlan(key, a.sig, false, n1, "hother", a.etag, a.body),
		"other body":  agentapi.VerifyPlan(key, a.sig, false, n1, host, a.etag, append(a.body, ' ')),
	} {
		if !errors.Is(bad, agentapi.ErrPlanSignature) {
			t.Errorf("%s: %v, want refused", name, bad)
		}
	}

	// 304 (the fast path): signed for this nonce and ETag; the 304 of an
	// earlier nonce does not verify for a later one.
	n2 := agentapi.NewNonce()
	b := e.signedCheckin(cred, a.etag, n2, "", inv)
	if b.status != 304 || b.etag != a.etag {
		t.Fatalf("second check-in: %d %q", b.status, b.etag)
	}
	if err := agentapi.VerifyPlan(key, b.sig, true, n2, host, b.etag, nil); err != nil {
		t.Fatalf("304 signature: %v", err)
	}
	n3 := agentapi.NewNonce()
	c := e.signedCheckin(cred, a.etag, n3, "", inv)
	if err := agentapi.VerifyPlan(key, b.sig, true, n3, host, c.etag, nil); !errors.Is(err, agentapi.ErrPlanSignature) {
		t.Fatalf("replayed 304 signature verified for a new nonce: %v", err)
	}
	if err := agentapi.VerifyPlan(key, c.sig, true, n3, host, c.etag, nil); err != nil {
		t.Fatalf("third 304: %v", err)
	}

	// No nonce (an agent that predates signed plans): no signature.
	if d := e.signedCheckin(cred, a.etag, "", "", inv); d.status != 304 || d.sig != "" {
		t.Fatalf("check-in without a nonce: %d sig %q", d.status, d.sig)
	}
	// A malformed nonce is refused, naming the header, on both paths.
	for _, etag := range []string{"", a.etag} {
		for _, bad := range []string{"abc", strings.Repeat("A", 32), strings.Repeat("a", 65)} {
			d := e.signedCheckin(cred, etag, bad, "", inv)
			if d.status != 400 || !strings.Contains(string(d.body), agentapi.HeaderNonce) {
				t.Errorf("nonce %q (etag %q): %d %s", bad, etag, d.status, d.body)
			}
		}
	}

	// Long polls: a held check-in that times out answers a signed 304.
	n4 := agentapi.NewNonce()
	d := e.signedCheckin(cred, a.etag, n4, "?wait=1", inv)
	if d.status != 304 {
		t.Fatalf("long poll: %d", d.status)
	}
	if err := agentapi.VerifyPlan(key, d.sig, true, n4, host, d.etag, nil); err != nil {
		t.Fatalf("long poll 304: %v", err)
	}

	// The shared client verifies against the real server.
	cl := &agentapi.Client{BaseURL: e.http.URL, HTTP: &http.Client{Timeout: time.Minute}}
	ctx := context.Background()
	if _, _, nm, err := cl.CheckinVerified(ctx, cred, host, key, a.etag, 0, agentapi.CheckinRequest{Inventory: inv}); err != nil || !nm {
		t.Fatalf("CheckinVerified 304: %v %v", nm, err)
	}
	cr, _, nm, err := cl.CheckinVerified(ctx, cred, host, key, "", 0, agentapi.CheckinRequest{Inventory: inv})
	if err != nil || nm || len(cr.Plan.Items) != 1 {
		t.Fatalf("CheckinVerified 200: %+v %v %v", cr.Plan, nm, err)
	}
	other := ed25519.PublicKey(bytes.Repeat([]byte{1}, 32))
	if _, _, _, err := cl.CheckinVerified(ctx, cred, host, other, "", 0, agentapi.CheckinRequest{Inventory: inv}); !errors.Is(err, agentapi.ErrPlanSignature) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, _, _, err := cl.CheckinVerified(ctx, cred, "hother", key, "", 0, agentapi.CheckinRequest{Inventory: inv}); !errors.Is(err, agentapi.ErrPlanSignature) {
		t.Fatalf("another host's plan: %v", err)
	}
}

// A long poll woken by a plan change answers a plan signed for the nonce
// the held check-in sent.
func TestPlanSignatureHeldCheckin(t *testing.T) {
	e := newEnv(t)
	inv := patchgate.Inventory{Hostname: "web-1", OS: "linux", Arch: "amd64", Mode: patchgate.ModeAutomatic,
		Products: []patchgate.InstalledProduct{{Name: "cisco.ucce", Version: "7.2.1"}}, Installed: []string{}}
	host, cred := e.enroll("all", inv)
	var pk agentapi.PlanKeyResponse
	e.call("GET", agentapi.PathPlanKey, cred, nil, &pk)
	key, err := agentapi.ParsePlanKey("plan_key", pk.PlanKey)
	if err != nil {
		t.Fatal(err)
	}
	e.publish("fix-1", "cisco.ucce", ">=7.0", []byte("#!/bin/sh\nexit 0\n"), nil)
	first := e.signedCheckin(cred, "", agentapi.NewNonce(), "", inv)
	nonce := agentapi.NewNonce()
	out := make(chan signedAnswer, 1)
	go func() { out <- e.signedCheckin(cred, first.etag, nonce, "?wait=30", inv) }()
	waitHeld(t, e, 1)
	e.approve("fix-1")
	select {
	case a := <-out:
		if a.status != 200 || !bytes.Contains(a.body, []byte("fix-1")) {
			t.Fatalf("held check-in: %d %s", a.status, a.body)
		}
		if err := agentapi.VerifyPlan(key, a.sig, false, nonce, host, a.etag, a.body); err != nil {
			t.Fatalf("held check-in signature: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the held check-in was not answered")
	}
}

func (e *env) approve(id string) {
	e.t.Helper()
	if st := e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{id}, Group: "all", Action: patchgate.ActionInstall}, nil); st/100 != 2 {
		e.t.Fatalf("approve %s: %d", id, st)
	}
}
