//go:build !agentonly

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/agentapi"
	"github.com/patchgate/patchgate/pki"
)

// fakeAPI records the requests it gets and answers with handler.
type fakeAPI struct {
	mu       sync.Mutex
	requests []recorded
}

type recorded struct {
	Method, Path, Query, Auth, ContentType string
	ContentLength                          int64
	Body                                   []byte
}

func (f *fakeAPI) record(r *http.Request) recorded {
	body, _ := io.ReadAll(r.Body)
	rec := recorded{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Auth: r.Header.Get("Authorization"),
		ContentType: r.Header.Get("Content-Type"), ContentLength: r.ContentLength, Body: body}
	f.mu.Lock()
	f.requests = append(f.requests, rec)
	f.mu.Unlock()
	return rec
}

func (f *fakeAPI) all() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.requests...)
}

func newFakeServer(t *testing.T, handler func(w http.ResponseWriter, r recorded)) (*httptest.Server, *fakeAPI) {
	t.Helper()
	f := &fakeAPI{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler(w, f.record(r))
	}))
	t.Cleanup(ts.Close)
	return ts, f
}

func answerJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func testClient(t *testing.T, url, token string) *apiClient {
	t.Helper()
	c, err := newAPIClient(&globalOptions{Server: url, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	c.progress = nil
	return c
}

func TestDoSendsTokenAndJSON(t *testing.T) {
	ts, f := newFakeServer(t, func(w http.ResponseWriter, r recorded) {
		answerJSON(w, http.StatusOK, adminapi.WhoAmI{TokenID: "t1", Name: "ci", Role: patchgate.RoleViewer})
	})
	c := testClient(t, ts.URL+"/", "pgt_secret")
	var who adminapi.WhoAmI
	body := adminapi.CreateGroupRequest{Name: "web"}
	if err := c.do(context.Background(), "POST", "/api/v1/groups", map[string][]string{"a": {"b c"}}, body, &who); err != nil {
		t.Fatal(err)
	}
	if who.TokenID != "t1" || who.Role != patchgate.RoleViewer {
		t.Errorf("decoded %+v", who)
	}
	reqs := f.all()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.Auth != "Bearer pgt_secret" {
		t.Errorf("Authorization = %q", r.Auth)
	}
	if r.Method != "POST" || r.Path != "/api/v1/groups" || r.Query != "a=b+c" {
		t.Errorf("request %s %s?%s", r.Method, r.Path, r.Query)
	}
	if r.ContentType != "application/json" || string(bytes.TrimSpace(r.Body)) != `{"name":"web"}` {
		t.Errorf("body %s %q", r.ContentType, r.Body)
	}
}

func TestDoDecodesErrorBody(t *testing.T) {
	ts, _ := newFakeServer(t, func(w http.ResponseWriter, r recorded) {
		switch r.Path {
		case "/api/v1/conflict":
			answerJSON(w, http.StatusConflict, agentapi.ErrorBody{Code: patchgate.CodeConflict, Message: "group web exists"})
		case "/api/v1/proxy":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html>bad gateway</html>\n")
		case "/api/v1/empty401":
			w.WriteHeader(http.StatusUnauthorized)
		}
	})
	c := testClient(t, ts.URL, "tok")
	cases := []struct {
		path    string
		code    patchgate.Code
		message string
	}{
		{"/api/v1/conflict", patchgate.CodeConflict, "group web exists"},
		{"/api/v1/proxy", patchgate.CodeInternal, "server answered HTTP 502: <html>bad gateway</html>"},
		{"/api/v1/empty401", patchgate.CodeUnauthorized, "server answered HTTP 401 Unauthorized"},
	}
	for _, tc := range cases {
		err := c.do(context.Background(), "GET", tc.path, nil, nil, nil)
		var pe *patchgate.Error
		if !errors.As(err, &pe) {
			t.Fatalf("%s: error %T %v, want *patchgate.Error", tc.path, err, err)
		}
		if pe.Code != tc.code || pe.Message != tc.message {
			t.Errorf("%s: got (%s) %q, want (%s) %q", tc.path, pe.Code, pe.Message, tc.code, tc.message)
		}
	}
}

func TestMissingTokenSendsNothing(t *testing.T) {
	ts, f := newFakeServer(t, func(w http.ResponseWriter, r recorded) { answerJSON(w, 200, []any{}) })
	c := testClient(t, ts.URL, "")
	err := c.do(context.Background(), "GET", "/api/v1/updates", nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "no API token: pass --token or set PATCHGATE_TOKEN") {
		t.Errorf("do without token: %v", err)
	}
	if err := c.putContent(context.Background(), strings.Repeat("a", 64), strings.NewReader(""), 0); !errors.Is(err, errNoToken) {
		t.Errorf("putContent without token: %v", err)
	}
	// Through the CLI as well.
	out, _, err := runCLI(t, "--server", ts.URL, "--token", "", "update", "list")
	if err == nil || !strings.Contains(err.Error(), "no API token") || out != "" {
		t.Errorf("update list without token: %q, %v", out, err)
	}
	if n := len(f.all()); n != 0 {
		t.Errorf("%d requests sent without a token", n)
	}
}

func TestNewAPIClientServerFlags(t *testing.T) {
	cases := []struct {
		server, fp, field string
	}{
		{"ftp://x", "", "--server"},
		{"localhost:8443", "", "--server"},
		{"https://u:p@host", "", "--server"},
		{"https://host:8443", "", "--ca-fingerprint"},
		{"https://host:8443", "not-hex", "--ca-fingerprint"},
	}
	for _, tc := range cases {
		_, err := newAPIClient(&globalOptions{Server: tc.server, CAFingerprint: tc.fp, Token: "t"})
		var pe *patchgate.Error
		if !errors.As(err, &pe) || pe.Field != tc.field {
			t.Errorf("server %q fp %q: %v, want an error naming %s", tc.server, tc.fp, err, tc.field)
		}
	}
}

func TestPinnedHTTPS(t *testing.T) {
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answerJSON(w, http.StatusOK, adminapi.WhoAmI{TokenID: "x", Role: patchgate.RoleAdmin})
	}))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	ts.StartTLS()
	defer ts.Close()
	good := pki.Fingerprint(ts.Certificate())
	c, err := newAPIClient(&globalOptions{Server: ts.URL, Token: "t", CAFingerprint: good})
	if err != nil {
		t.Fatal(err)
	}
	var who adminapi.WhoAmI
	if err := c.do(context.Background(), "GET", "/api/v1/whoami", nil, nil, &who); err != nil || who.TokenID != "x" {
		t.Fatalf("pinned request: %v %+v", err, who)
	}
	bad := strings.Repeat("ab", 32)
	c, err = newAPIClient(&globalOptions{Server: ts.URL, Token: "t", CAFingerprint: bad})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.do(context.Background(), "GET", "/api/v1/whoami", nil, nil, &who); err == nil || !strings.Contains(err.Error(), "not the pinned server") {
		t.Errorf("wrong pin: %v", err)
	}
}

func TestPutContent(t *testing.T) {
	data := bytes.Repeat([]byte("patch"), 300_000) // 1.5 MB: shows progress
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	ts, f := newFakeServer(t, func(w http.ResponseWriter, r recorded) {
		s := sha256.Sum256(r.Body)
		answerJSON(w, http.StatusCreated, adminapi.PutContentResponse{SHA256: hex.EncodeToString(s[:]), Size: int64(len(r.Body))})
	})
	c := testClient(t, ts.URL, "tok")
	var progress bytes.Buffer
	c.progress = &progress
	if err := c.putContentLabeled(context.Background(), "big.bin", sha, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	r := f.all()[0]
	if r.Method != "PUT" || r.Path != "/api/v1/content/"+sha || r.ContentLength != int64(len(data)) || !bytes.Equal(r.Body, data) {
		t.Errorf("upload: %s %s length %d, %d bytes", r.Method, r.Path, r.ContentLength, len(r.Body))
	}
	if r.ContentType != "application/octet-stream" || r.Auth != "Bearer tok" {
		t.Errorf("headers: %q %q", r.ContentType, r.Auth)
	}
	p := progress.String()
	if !strings.HasPrefix(p, "\rbig.bin [") || !strings.Contains(p, "100%") || !strings.HasSuffix(p, "\n") {
		t.Errorf("progress output %q", p)
	}

	// Small files show no progress; a server that stored something else
	// is an error.
	progress.Reset()
	err := c.putContent(context.Background(), strings.Repeat("0", 64), strings.NewReader("tiny"), 4)
	if err == nil || !strings.Contains(err.Error(), "server stored") {
		t.Errorf("mismatching answer: %v", err)
	}
	if progress.Len() != 0 {
		t.Errorf("progress for a small file: %q", progress.String())
	}
	if err := c.putContent(context.Background(), "nothex", strings.NewReader(""), 0); err == nil {
		t.Error("bad sha accepted")
	}
}

// runCLI runs the real root command and returns stdout and stderr.
func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	t.Setenv("PATCHGATE_TOKEN", "")
	t.Setenv("PATCHGATE_SERVER", "")
	t.Setenv("PATCHGATE_CA_FINGERPRINT", "")
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

const testManifest = `id: PG-2026-001
title: Fix the frobnicator
kind: hotfix
severity: critical
products:
  - name: cisco.ucce
    versions: ">=7.2"
payloads:
  - name: fix.sh
    installer: exec
    args: ["--quiet"]
  - name: fix.deb
    installer: dpkg
`

func TestUpdateAdd(t *testing.T) {
	dir := t.TempDir()
	manifest := writeFile(t, dir, "update.yaml", testManifest)
	sh := writeFile(t, dir, "fix.sh", "#!/bin/sh\necho fixed\n")
	deb := writeFile(t, dir, "fix.deb", "debian package")

	created := true
	ts, f := newFakeServer(t, func(w http.ResponseWriter, r recorded) {
		switch {
		case r.Method == "PUT":
			answerJSON(w, http.StatusCreated, adminapi.PutContentResponse{SHA256: sha(string(r.Body)), Size: int64(len(r.Body))})
		case r.Method == "POST" && r.Path == "/api/v1/updates":
			var req adminapi.AddUpdateRequest
			json.Unmarshal(r.Body, &req)
			u, err := req.Manifest.Update()
			if err != nil {
				answerJSON(w, 400, agentapi.ErrorBody{Code: patchgate.CodeInvalid, Message: err.Error()})
				return
			}
			u.Revision = 1
			answerJSON(w, http.StatusCreated, adminapi.AddUpdateResponse{Update: u, Created: created,
				Release: patchgate.ReleaseState{UpdateID: u.ID, Status: patchgate.StatusReceived, Revision: 1}})
		default:
			w.WriteHeader(404)
		}
	})
	out, _, err := runCLI(t, "--server", ts.URL, "--token", "tok", "update", "add", manifest, "--payload", sh, deb)
	if err != nil {
		t.Fatal(err)
	}
	if out != "added PG-2026-001 revision 1: received\n" {
		t.Errorf("output %q", out)
	}
	reqs := f.all()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 2 uploads and 1 add", len(reqs))
	}
	uploaded := map[string]bool{}
	for _, r := range reqs[:2] {
		uploaded[strings.TrimPrefix(r.Path, "/api/v1/content/")] = true
	}
	if !uploaded[sha("#!/bin/sh\necho fixed\n")] || !uploaded[sha("debian package")] {
		t.Errorf("uploads %v", uploaded)
	}
	var req adminapi.AddUpdateRequest
	if err := json.Unmarshal(reqs[2].Body, &req); err != nil {
		t.Fatal(err)
	}
	p := req.Manifest.Payloads
	if p[0].SHA256 != sha("#!/bin/sh\necho fixed\n") || p[0].Size != 21 || p[1].Size != 14 || p[0].Args[0] != "--quiet" {
		t.Errorf("payloads sent %+v", p)
	}

	created = false
	out, _, err = runCLI(t, "--server", ts.URL, "--token", "tok", "update", "add", manifest, "--payload", sh, "--payload", deb)
	if err != nil || out != "PG-2026-001 unchanged (revision 1): received\n" {
		t.Errorf("second add: %q %v", out, err)
	}
}

func TestUpdateAddLocalErrors(t *testing.T) {
	dir := t.TempDir()
	ts, f := newFakeServer(t, func(w http.ResponseWriter, r recorded) { w.WriteHeader(500) })
	good := writeFile(t, dir, "update.yaml", testManifest)
	sh := writeFile(t, dir, "fix.sh", "script")
	deb := writeFile(t, dir, "fix.deb", "deb")
	extra := writeFile(t, dir, "other.bin", "x")
	wrongSHA := writeFile(t, dir, "wrongsha.yaml", strings.Replace(testManifest, "    installer: dpkg\n",
		"    installer: dpkg\n    sha256: "+strings.Repeat("0", 64)+"\n", 1))
	wrongSize := writeFile(t, dir, "wrongsize.yaml", strings.Replace(testManifest, "    installer: exec\n",
		"    installer: exec\n    size: 99\n", 1))
	badKind := writeFile(t, dir, "bad.yaml", strings.Replace(testManifest, "kind: hotfix", "kind: bugfix", 1))

	cases := []struct {
		args []string
		want string
	}{
		{[]string{good, "--payload", sh}, "--payload: payload files do not match the manifest: missing fix.deb"},
		{[]string{good, "--payload", sh, "--payload", deb, "--payload", extra}, "extra " + extra},
		{[]string{good, "--payload", sh, "--payload", filepath.Join(dir, "sub", "fix.sh"), deb}, "two files with the same name"},
		{[]string{wrongSHA, "--payload", sh, "--payload", deb}, "payloads[1].sha256: the manifest says 0000"},
		{[]string{wrongSize, "--payload", sh, "--payload", deb}, "payloads[0].size: the manifest says 99 bytes"},
		{[]string{badKind, "--payload", sh, "--payload", deb}, badKind + ": kind: must be one of"},
	}
	for _, tc := range cases {
		_, _, err := runCLI(t, append([]string{"--server", ts.URL, "--token", "t", "update", "add"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("update add %v: %v, want %q", tc.args, err, tc.want)
		}
	}
	if n := len(f.all()); n != 0 {
		t.Errorf("%d requests sent despite local errors", n)
	}
}

func TestFlagsCheckedBeforeRequests(t *testing.T) {
	ts, f := newFakeServer(t, func(w http.ResponseWriter, r recorded) { w.WriteHeader(500) })
	cases := []struct {
		args  []string
		field string
	}{
		{[]string{"update", "list", "--severity", "urgent"}, "--severity"},
		{[]string{"update", "list", "--kind", "bugfix"}, "--kind"},
		{[]string{"update", "list", "--product", "Bad Name"}, "--product"},
		{[]string{"token", "create", "--role", "root", "--name", "x"}, "--role"},
		{[]string{"token", "create", "--role", "admin"}, "--name"},
		{[]string{"token", "create", "--enroll", "--mode", "auto"}, "--mode"},
		{[]string{"token", "create", "--enroll", "--expires", "tomorrow"}, "--expires"},
		{[]string{"token", "create", "--enroll", "--uses", "0"}, "--uses"},
		{[]string{"token", "create", "--role", "viewer", "--name", "x", "--group", "web"}, "--group"},
		{[]string{"token", "create"}, "--enroll"},
		{[]string{"approve", "PG-1"}, "--group"},
		{[]string{"approve", "PG-1", "--group", "web", "--deadline", "soon"}, "--deadline"},
		{[]string{"approve", "PG-1", "--group", "web", "--deadline", "2001-01-01T00:00:00Z"}, "--deadline"},
		{[]string{"approve", "bad id!", "--group", "web"}, "UPDATE"},
		{[]string{"unapprove", "PG-1"}, "--group"},
		{[]string{"events", "--limit", "0"}, "--limit"},
		{[]string{"report", "compliance", "--csv", "--json"}, "--csv"},
		{[]string{"group", "delete", "all"}, "NAME"},
	}
	for _, tc := range cases {
		_, _, err := runCLI(t, append([]string{"--server", ts.URL, "--token", "t"}, tc.args...)...)
		var pe *patchgate.Error
		if !errors.As(err, &pe) || pe.Field != tc.field {
			t.Errorf("%v: %v, want an error naming %s", tc.args, err, tc.field)
		}
	}
	if n := len(f.all()); n != 0 {
		t.Errorf("%d requests sent despite bad flags", n)
	}
}

func TestTokenCreate(t *testing.T) {
	exp := time.Now().Add(24 * time.Hour)
	uses := 5
	ts, f := newFakeServer(t, func(w http.ResponseWriter, r recorded) {
		var req adminapi.CreateTokenRequest
		json.Unmarshal(r.Body, &req)
		answerJSON(w, 201, adminapi.CreateTokenResponse{
			Token:  patchgate.Token{ID: "abc123", Kind: req.Kind, Group: req.Group, Mode: req.Mode, UsesLeft: req.Uses, ExpiresAt: &exp},
			Secret: "pge_abc123_s3cret",
		})
	})
	out, errOut, err := runCLI(t, "--server", ts.URL, "--token", "t", "token", "create", "--enroll", "--group", "web", "--mode", "manual", "--uses", "5")
	if err != nil {
		t.Fatal(err)
	}
	if out != "pge_abc123_s3cret\n" {
		t.Errorf("stdout %q: want the secret alone", out)
	}
	if !strings.Contains(errOut, "created enrolment token abc123 (group web, mode manual, 5 uses") || !strings.Contains(errOut, "shown only this once") {
		t.Errorf("hint %q", errOut)
	}
	var req adminapi.CreateTokenRequest
	json.Unmarshal(f.all()[0].Body, &req)
	if req.Kind != patchgate.TokenEnroll || req.Group != "web" || req.Mode != patchgate.ModeManual || req.Uses == nil || *req.Uses != uses || req.ExpiresIn != "24h0m0s" {
		t.Errorf("request %+v", req)
	}

	_, _, err = runCLI(t, "--server", ts.URL, "--token", "t", "token", "create", "--role", "publisher", "--name", "ci", "--expires", "30d")
	if err != nil {
		t.Fatal(err)
	}
	req = adminapi.CreateTokenRequest{}
	json.Unmarshal(f.all()[1].Body, &req)
	if req.Kind != patchgate.TokenAPI || req.Role != patchgate.RolePublisher || req.ExpiresIn != "720h0m0s" || req.Uses != nil {
		t.Errorf("api token request %+v", req)
	}
}

func TestApproveAndUnapprove(t *testing.T) {
	ts, f := newFakeServer(t, func(w http.ResponseWriter, r recorded) {
		if r.Method == "DELETE" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		var req adminapi.ApproveRequest
		json.Unmarshal(r.Body, &req)
		var resp adminapi.ApproveResponse
		for _, u := range req.Updates {
			resp.Approvals = append(resp.Approvals, patchgate.Approval{UpdateID: u, Group: req.Group, Action: req.Action})
		}
		answerJSON(w, 200, resp)
	})
	out, _, err := runCLI(t, "--server", ts.URL, "--token", "t", "approve", "PG-1", "PG-2", "--group", "web", "--deadline", "3d")
	if err != nil {
		t.Fatal(err)
	}
	if out != "approved PG-1 for group web\napproved PG-2 for group web\n" {
		t.Errorf("approve output %q", out)
	}
	var req adminapi.ApproveRequest
	json.Unmarshal(f.all()[0].Body, &req)
	if req.Action != patchgate.ActionInstall || req.Deadline != "72h0m0s" || len(req.Updates) != 2 {
		t.Errorf("approve request %+v", req)
	}
	out, _, err = runCLI(t, "--server", ts.URL, "--token", "t", "decline", "PG-3")
	if err != nil || out != "declined PG-3 for group all\n" {
		t.Errorf("decline: %q %v", out, err)
	}
	_, _, err = runCLI(t, "--server", ts.URL, "--token", "t", "unapprove", "PG-1", "PG-2", "--group", "web")
	if err != nil {
		t.Fatal(err)
	}
	reqs := f.all()
	if len(reqs) != 4 || reqs[2].Path != "/api/v1/approvals/web/PG-1" || reqs[3].Path != "/api/v1/approvals/web/PG-2" || reqs[3].Method != "DELETE" {
		t.Errorf("unapprove requests %+v", reqs[2:])
	}
}

func TestListingsHonourJSON(t *testing.T) {
	body := `[{"id":"PG-1","revision":2,"title":"T","kind":"hotfix","severity":"high","products":[{"name":"db"}],"reboot":"may","payloads":[],"release":{"status":"posted"}}]`
	ts, f := newFakeServer(t, func(w http.ResponseWriter, r recorded) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	})
	out, _, err := runCLI(t, "--server", ts.URL, "--token", "t", "--json", "update", "list", "--severity", "high", "--product", "db")
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	json.Indent(&want, []byte(body), "", "  ")
	if out != want.String()+"\n" {
		t.Errorf("--json output %q", out)
	}
	if q := f.all()[0].Query; q != "product=db&severity=high" {
		t.Errorf("query %q", q)
	}
	out, _, err = runCLI(t, "--server", ts.URL, "--token", "t", "update", "list")
	if err != nil {
		t.Fatal(err)
	}
	want.Reset()
	want.WriteString("ID    REV  STATUS  KIND    SEVERITY  PRODUCTS  TITLE\nPG-1  2    posted  hotfix  high      db        T\n")
	if out != want.String() {
		t.Errorf("table:\n%s\nwant:\n%s", out, want.String())
	}
}

func TestGroupAddResolvesHostnames(t *testing.T) {
	hosts := []adminapi.HostSummary{
		{Host: patchgate.Host{ID: "h1", Inventory: patchgate.Inventory{Hostname: "web-01"}}},
		{Host: patchgate.Host{ID: "h2", Inventory: patchgate.Inventory{Hostname: "web-02"}}},
		{Host: patchgate.Host{ID: "h3", Inventory: patchgate.Inventory{Hostname: "web-02"}}},
	}
	ts, f := newFakeServer(t, func(w http.ResponseWriter, r recorded) {
		if r.Method == "GET" {
			answerJSON(w, 200, hosts)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	out, _, err := runCLI(t, "--server", ts.URL, "--token", "t", "group", "add", "web", "WEB-01", "h2")
	if err != nil || out != "added 2 hosts to group web\n" {
		t.Fatalf("group add: %q %v", out, err)
	}
	var req adminapi.GroupHostsRequest
	json.Unmarshal(f.all()[1].Body, &req)
	if strings.Join(req.Hosts, ",") != "h1,h2" {
		t.Errorf("hosts sent %v", req.Hosts)
	}
	_, _, err = runCLI(t, "--server", ts.URL, "--token", "t", "group", "add", "web", "web-02")
	if patchgate.ErrorCode(err) != patchgate.CodeConflict {
		t.Errorf("ambiguous hostname: %v", err)
	}
	_, _, err = runCLI(t, "--server", ts.URL, "--token", "t", "group", "remove", "web", "nope")
	if !patchgate.IsNotFound(err) {
		t.Errorf("unknown host: %v", err)
	}
}
