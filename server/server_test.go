package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/agentapi"
	"github.com/patchgate/patchgate/content"
	"github.com/patchgate/patchgate/server"
	"github.com/patchgate/patchgate/sqlite"
)

type env struct {
	t     *testing.T
	srv   *server.Server
	http  *httptest.Server
	admin string
	store *sqlite.DB
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := newEnvWith(t, nil)
	again, err := e.srv.BootstrapAdmin(context.Background())
	if err != nil || again != "" {
		t.Fatalf("second bootstrap must create nothing: %q %v", again, err)
	}
	return e
}

// newEnvWith is a server on a new SQLite store and content directory,
// served over loopback HTTP, with its admin token; configure, if set,
// completes its Config first.
func newEnvWith(t *testing.T, configure func(cfg *server.Config, dir string)) *env {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cs, err := content.Open(filepath.Join(dir, "content"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{Store: db, Content: cs}
	if configure != nil {
		configure(&cfg, dir)
	}
	srv := server.New(cfg)
	admin, err := srv.BootstrapAdmin(context.Background())
	if err != nil || admin == "" {
		t.Fatalf("bootstrap: %q %v", admin, err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &env{t: t, srv: srv, http: hs, admin: admin, store: db}
}

// call sends a JSON (or raw []byte) body and decodes the answer into out.
func (e *env) call(method, path, token string, body any, out any) int {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, e.http.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			e.t.Fatalf("%s %s: decoding %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

func (e *env) token(role patchgate.Role) string {
	var resp adminapi.CreateTokenResponse
	if st := e.call("POST", "/api/v1/tokens", e.admin, adminapi.CreateTokenRequest{Kind: patchgate.TokenAPI, Role: role, Name: string(role)}, &resp); st != 201 {
		e.t.Fatalf("create token: %d", st)
	}
	return resp.Secret
}

func (e *env) publish(id, product, versions string, payload []byte, mut func(*patchgate.Manifest)) {
	e.t.Helper()
	sum := sha256.Sum256(payload)
	sha := hex.EncodeToString(sum[:])
	if st := e.call("PUT", "/api/v1/content/"+sha, e.admin, payload, nil); st != 201 {
		e.t.Fatalf("put content: %d", st)
	}
	m := patchgate.Manifest{ID: id, Title: "fix " + id, Kind: patchgate.KindHotfix, Severity: patchgate.SeverityCritical,
		Products: []patchgate.ProductConstraint{{Name: product, Versions: versions}},
		Payloads: []patchgate.ManifestPayload{{Name: "fix.sh", Size: int64(len(payload)), SHA256: sha, Installer: patchgate.InstallerExec}}}
	if mut != nil {
		mut(&m)
	}
	var eb agentapi.ErrorBody
	if st := e.call("POST", "/api/v1/updates", e.admin, adminapi.AddUpdateRequest{Manifest: m, Post: true, Force: true, Reason: "test fixture"}, &eb); st != 201 && st != 200 {
		e.t.Fatalf("add update %s: %d %+v", id, st, eb)
	}
}

func (e *env) enroll(group string, inv patchgate.Inventory) (hostID, cred string) {
	e.t.Helper()
	var tok adminapi.CreateTokenResponse
	if st := e.call("POST", "/api/v1/tokens", e.admin, adminapi.CreateTokenRequest{Kind: patchgate.TokenEnroll, Group: group}, &tok); st != 201 {
		e.t.Fatalf("enroll token: %d", st)
	}
	var resp agentapi.EnrollResponse
	if st := e.call("POST", agentapi.PathEnroll, "", agentapi.EnrollRequest{Token: tok.Secret, Inventory: inv, MachineID: "m1"}, &resp); st != 201 {
		e.t.Fatalf("enroll: %d", st)
	}
	return resp.HostID, resp.Credential
}

func (e *env) checkin(cred, etag string, inv patchgate.Inventory) (int, string, agentapi.CheckinResponse) {
	e.t.Helper()
	data, _ := json.Marshal(agentapi.CheckinRequest{Inventory: inv})
	req, _ := http.NewRequest("POST", e.http.URL+agentapi.PathCheckin, bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+cred)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out agentapi.CheckinResponse
	if resp.StatusCode == 200 {
		json.NewDecoder(resp.Body).Decode(&out)
	}
	return resp.StatusCode, resp.Header.Get("ETag"), out
}

// TestRouteRoles calls every admin route with every role and without a
// token, and checks that exactly the allowed roles get past authorization.
func TestRouteRoles(t *testing.T) {
	e := newEnv(t)
	tokens := map[patchgate.Role]string{patchgate.RoleAdmin: e.admin}
	for _, r := range []patchgate.Role{patchgate.RoleApprover, patchgate.RolePublisher, patchgate.RoleViewer, patchgate.RoleDownstream} {
		tokens[r] = e.token(r)
	}
	path := func(p string) string {
		for _, v := range []string{"{id}", "{name}", "{host}", "{group}", "{update}"} {
			p = strings.ReplaceAll(p, v, "x")
		}
		return strings.ReplaceAll(p, "{sha}", strings.Repeat("a", 64))
	}
	for _, rt := range adminapi.Routes {
		if st := e.call(rt.Method, path(rt.Pattern), "", nil, nil); st != 401 {
			t.Errorf("%s %s without token: %d, want 401", rt.Method, rt.Pattern, st)
		}
		if st := e.call(rt.Method, path(rt.Pattern), "pgt.nope.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", nil, nil); st != 401 {
			t.Errorf("%s %s with unknown token: %d, want 401", rt.Method, rt.Pattern, st)
		}
		for role, tok := range tokens {
			var raw json.RawMessage
			st := e.call(rt.Method, path(rt.Pattern), tok, nil, &raw)
			var eb agentapi.ErrorBody
			json.Unmarshal(raw, &eb)
			if role.Allows(rt.Role) {
				if st == 401 || st == 403 {
					t.Errorf("%s %s as %s: %d, want it allowed", rt.Method, rt.Pattern, role, st)
				}
			} else if st != 403 || eb.Code != patchgate.CodeForbidden {
				t.Errorf("%s %s as %s: %d %q, want 403 forbidden", rt.Method, rt.Pattern, role, st, eb.Code)
			}
		}
	}
}

func TestBadInputNamesFieldAndWritesNothing(t *testing.T) {
	e := newEnv(t)
	payload := []byte("#!/bin/sh\nexit 0\n")
	sum := sha256.Sum256(payload)
	sha := hex.EncodeToString(sum[:])
	wrong := strings.Repeat("b", 64)
	cases := []struct {
		name, method, path string
		body               any
		status             int
		wantMsg            string
	}{
		{"unknown field", "POST", "/api/v1/groups", []byte(`{"name":"g","colour":"red"}`), 400, "colour"},
		{"bad group name", "POST", "/api/v1/groups", adminapi.CreateGroupRequest{Name: "Bad Name"}, 400, "name"},
		{"trailing data", "POST", "/api/v1/groups", []byte(`{"name":"g"} {}`), 400, "unexpected data"},
		{"malformed", "POST", "/api/v1/groups", []byte(`{"name":`), 400, "malformed"},
		{"oversized", "POST", "/api/v1/groups", bytes.Repeat([]byte(" "), adminapi.MaxBodyBytes+10), 413, "exceeds"},
		{"hash mismatch", "PUT", "/api/v1/content/" + wrong, payload, 400, "sha256"},
		{"bad sha", "PUT", "/api/v1/content/XYZ", payload, 400, "sha256"},
		{"content missing", "POST", "/api/v1/updates", adminapi.AddUpdateRequest{Manifest: patchgate.Manifest{ID: "u1", Title: "t", Kind: "hotfix", Severity: "low",
			Products: []patchgate.ProductConstraint{{Name: "p"}}, Payloads: []patchgate.ManifestPayload{{Name: "a.sh", SHA256: sha, Size: 3, Installer: "exec"}}}}, 400, "payloads[0].sha256"},
		{"bad kind", "POST", "/api/v1/updates", adminapi.AddUpdateRequest{Manifest: patchgate.Manifest{ID: "u1", Title: "t", Kind: "nope"}}, 400, "kind"},
		{"approve unknown update", "POST", "/api/v1/approvals", adminapi.ApproveRequest{Updates: []string{"ghost"}, Group: "all", Action: "install"}, 400, "updates[0]"},
		{"approve bad action", "POST", "/api/v1/approvals", adminapi.ApproveRequest{Updates: []string{"x"}, Group: "all", Action: "maybe"}, 400, "action"},
		{"token bad role", "POST", "/api/v1/tokens", adminapi.CreateTokenRequest{Kind: "api", Role: "root"}, 400, "role"},
		{"token bad expiry", "POST", "/api/v1/tokens", adminapi.CreateTokenRequest{Kind: "enroll", ExpiresIn: "soon"}, 400, "expires_in"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var eb agentapi.ErrorBody
			st := e.call(c.method, c.path, e.admin, c.body, &eb)
			if st != c.status || !strings.Contains(eb.Message, c.wantMsg) {
				t.Fatalf("got %d %+v, want %d mentioning %q", st, eb, c.status, c.wantMsg)
			}
		})
	}
	var groups []patchgate.Group
	e.call("GET", "/api/v1/groups", e.admin, nil, &groups)
	for _, g := range groups {
		if g.Name == "g" {
			t.Fatal("a refused request created a group")
		}
	}
	var us []patchgate.Update
	e.call("GET", "/api/v1/updates", e.admin, nil, &us)
	if len(us) != 0 {
		t.Fatalf("refused requests stored updates: %+v", us)
	}
}

func TestCheckinPlanAndNotModified(t *testing.T) {
	e := newEnv(t)
	inv := patchgate.Inventory{Hostname: "web1", OS: "linux", Arch: "amd64", Mode: patchgate.ModeAutomatic,
		Products: []patchgate.InstalledProduct{{Name: "cisco.ucce", Version: "7.2(1)"}}, Interval: time.Hour}
	hostID, cred := e.enroll("prod", inv)
	e.publish("hf1", "cisco.ucce", ">=7.2(1), <7.3", []byte("#!/bin/sh\necho one\n"), nil)
	e.publish("hf2", "cisco.ucce", ">=7.2(1), <7.3", []byte("#!/bin/sh\necho two\n"), func(m *patchgate.Manifest) { m.Supersedes = []string{"hf1"} })
	e.publish("other", "openssl", "", []byte("#!/bin/sh\necho three\n"), nil)

	st, etag, resp := e.checkin(cred, "", inv)
	if st != 200 || len(resp.Plan.Items) != 0 || etag == "" {
		t.Fatalf("before approval: %d %q %+v", st, etag, resp.Plan)
	}
	if st, _, _ := e.checkin(cred, etag, inv); st != 304 {
		t.Fatalf("unchanged check-in: %d, want 304", st)
	}
	for _, id := range []string{"hf1", "other"} {
		if st := e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{id}, Group: "prod", Action: "install", Deadline: "72h"}, nil); st != 200 {
			t.Fatalf("approve: %d", st)
		}
	}
	st, etag2, resp := e.checkin(cred, etag, inv)
	if st != 200 || etag2 == etag || len(resp.Plan.Items) != 1 || resp.Plan.Items[0].UpdateID != "hf1" || resp.Plan.Items[0].Deadline == nil {
		t.Fatalf("after approval: %d %+v", st, resp.Plan)
	}
	// Approving the superseding update replaces hf1 in the plan.
	e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{"hf2"}, Group: "all", Action: "install"}, nil)
	_, _, resp = e.checkin(cred, etag2, inv)
	if len(resp.Plan.Items) != 1 || resp.Plan.Items[0].UpdateID != "hf2" {
		t.Fatalf("supersedence: %+v", resp.Plan)
	}
	// A changed inventory gets a fresh plan, and is stored.
	inv.Installed = []string{"hf2"}
	st, _, resp = e.checkin(cred, etag2, inv)
	if st != 200 || len(resp.Plan.Items) != 0 {
		t.Fatalf("after install: %d %+v", st, resp.Plan)
	}
	var hd adminapi.HostDetail
	e.call("GET", "/api/v1/hosts/"+hostID, e.admin, nil, &hd)
	if len(hd.Host.Installed) != 1 || hd.Host.Installed[0] != "hf2" {
		t.Fatalf("inventory not stored: %+v", hd.Host)
	}
	// A decline in any group wins.
	e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{"hf2"}, Group: "all", Action: "decline"}, nil)
	inv.Installed = nil
	_, _, resp = e.checkin(cred, "", inv)
	if len(resp.Plan.Items) != 1 || resp.Plan.Items[0].UpdateID != "hf1" {
		t.Fatalf("declined hf2 must not be offered; hf1 comes back: %+v", resp.Plan)
	}
}

func TestAgentAuthAndEvents(t *testing.T) {
	e := newEnv(t)
	inv := patchgate.Inventory{Hostname: "db1", Products: []patchgate.InstalledProduct{{Name: "postgres", Version: "15.2"}}}
	hostA, credA := e.enroll("", inv)
	hostB, _ := e.enroll("", inv)
	if st, _, _ := e.checkin(credA+"x", "", inv); st != 401 {
		t.Fatalf("tampered credential: %d", st)
	}
	if st, _, _ := e.checkin("pgh."+hostB+"."+strings.Repeat("A", 43), "", inv); st != 401 {
		t.Fatalf("forged credential for another host: %d", st)
	}
	ev := patchgate.Event{ID: "e1", Time: time.Now(), Type: patchgate.EventDeployment, UpdateID: "u1", State: patchgate.StateFailed, ExitCode: 3}
	var resp agentapi.EventsResponse
	for i := 0; i < 2; i++ {
		if st := e.call("POST", agentapi.PathEvents, credA, agentapi.EventsRequest{Events: []patchgate.Event{ev}}, &resp); st != 200 {
			t.Fatalf("events: %d", st)
		}
		if want := 1 - i; resp.Accepted != want {
			t.Fatalf("attempt %d accepted %d, want %d (idempotent by id)", i, resp.Accepted, want)
		}
	}
	var evs []patchgate.Event
	e.call("GET", "/api/v1/events?type=deployment", e.admin, nil, &evs)
	if len(evs) != 1 || evs[0].HostID != hostA {
		t.Fatalf("events: %+v", evs)
	}
	ev.HostID = hostB
	var eb agentapi.ErrorBody
	if st := e.call("POST", agentapi.PathEvents, credA, agentapi.EventsRequest{Events: []patchgate.Event{ev}}, &eb); st != 400 || !strings.Contains(eb.Message, "host_id") {
		t.Fatalf("a host must not report for another: %d %+v", st, eb)
	}
	// Enrolment tokens with a use limit are consumed.
	one := 1
	var tok adminapi.CreateTokenResponse
	e.call("POST", "/api/v1/tokens", e.admin, adminapi.CreateTokenRequest{Kind: patchgate.TokenEnroll, Uses: &one}, &tok)
	for i, want := range []int{201, 401} {
		if st := e.call("POST", agentapi.PathEnroll, "", agentapi.EnrollRequest{Token: tok.Secret, Inventory: inv}, nil); st != want {
			t.Fatalf("enrol %d with a one-use token: %d, want %d", i, st, want)
		}
	}
	// Content needs a credential.
	if st := e.call("GET", agentapi.PathContent+strings.Repeat("a", 64), "", nil, nil); st != 401 {
		t.Fatalf("anonymous content: %d", st)
	}
	if st := e.call("GET", agentapi.PathContent+"../../etc/passwd", credA, nil, nil); st == 200 {
		t.Fatalf("path escape: %d", st)
	}
	_ = fmt.Sprint()
}

func TestCheckinBadBodies(t *testing.T) {
	e := newEnv(t)
	inv := patchgate.Inventory{Hostname: "web1", Products: []patchgate.InstalledProduct{{Name: "nginx", Version: "1.22"}}}
	_, cred := e.enroll("", inv)
	cases := []struct {
		name   string
		body   []byte
		status int
		want   string
	}{
		{"unknown field", []byte(`{"inventory":{"hostname":"web1"},"extra":1}`), 400, "extra"},
		{"malformed", []byte(`{"inventory":`), 400, "body"},
		{"bad mode", []byte(`{"inventory":{"hostname":"web1","mode":"yolo"}}`), 400, "inventory.mode"},
		{"oversized", bytes.Repeat([]byte(" "), agentapi.MaxBodyBytes+1), 413, "body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var eb agentapi.ErrorBody
			// Twice: the second time the digest of a refused body must not
			// have been remembered as valid.
			for i := 0; i < 2; i++ {
				if st := e.call("POST", agentapi.PathCheckin, cred, c.body, &eb); st != c.status || !strings.Contains(eb.Message, c.want) {
					t.Fatalf("attempt %d: %d %+v, want %d mentioning %q", i, st, eb, c.status, c.want)
				}
			}
		})
	}
	var hd adminapi.HostDetail
	e.call("GET", "/api/v1/hosts", e.admin, nil, nil)
	if st := e.call("GET", "/api/v1/hosts/"+strings.Split(cred, ".")[1], e.admin, nil, &hd); st != 200 || hd.Host.Hostname != "web1" || len(hd.Host.Products) != 1 {
		t.Fatalf("a refused check-in changed the stored inventory: %d %+v", st, hd.Host)
	}
}

// TestPlanRefusedEvent: an agent's report that it refused a check-in
// answer lands in the activity log once (however often it is resent),
// with the host, and mixed with deployment events in one request.
func TestPlanRefusedEvent(t *testing.T) {
	e := newEnv(t)
	inv := patchgate.Inventory{Hostname: "db1", Products: []patchgate.InstalledProduct{{Name: "postgres", Version: "15.2"}}}
	host, cred := e.enroll("", inv)
	refused := patchgate.Event{ID: "r1", Time: time.Now(), Type: patchgate.EventPlanRefused, Detail: "check-in refused: plan signature: the plan does not verify"}
	dep := patchgate.Event{ID: "d1", Time: time.Now(), Type: patchgate.EventDeployment, UpdateID: "u1", State: patchgate.StateFailed, ExitCode: 3}
	for i, want := range []int{2, 0} {
		var resp agentapi.EventsResponse
		if st := e.call("POST", agentapi.PathEvents, cred, agentapi.EventsRequest{Events: []patchgate.Event{refused, dep}}, &resp); st != 200 {
			t.Fatalf("events: %d", st)
		}
		if resp.Accepted != want {
			t.Fatalf("attempt %d accepted %d, want %d", i, resp.Accepted, want)
		}
	}
	var evs []patchgate.Event
	e.call("GET", "/api/v1/events?type="+patchgate.EventPlanRefused, e.admin, nil, &evs)
	if len(evs) != 1 || evs[0].HostID != host || evs[0].Actor != "host:"+host || evs[0].Detail != refused.Detail {
		t.Fatalf("plan refusal events: %+v", evs)
	}
	if !patchgate.IsAlert(patchgate.EventPlanRefused) {
		t.Error("a refused plan is not an admin alert")
	}
}
