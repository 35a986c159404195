package upstream_test

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
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/agentapi"
	"github.com/patchgate/patchgate/content"
	"github.com/patchgate/patchgate/server"
	"github.com/patchgate/patchgate/sqlite"
	"github.com/patchgate/patchgate/upstream"
)

// site is one patchgate server on loopback (plain HTTP: TLS pinning is
// covered by the e2e tests of the real binary), with its syncer.
type site struct {
	t      *testing.T
	db     *sqlite.DB
	cs     *content.Store
	srv    *server.Server
	sync   *upstream.Syncer
	http   *httptest.Server
	admin  string
	dir    string
	mu     sync.Mutex
	ranges []string // Range headers of content requests
	active atomic.Int64
	peak   atomic.Int64
}

func newSite(t *testing.T, parallel int) *site {
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
	s := &site{t: t, db: db, cs: cs, dir: dir}
	s.srv = server.New(server.Config{Store: db, Content: cs})
	s.sync = upstream.New(upstream.Config{Store: db, Content: cs, Chain: s.srv.ChainFor, OnChange: s.srv.Invalidate, Compliance: s.srv.LocalSiteCompliance,
		PageSize: 3, Parallel: parallel, PartialDir: filepath.Join(dir, "partial")})
	s.srv.SetSyncService(s.sync)
	if s.admin, err = s.srv.BootstrapAdmin(t.Context()); err != nil {
		t.Fatal(err)
	}
	h := s.srv.Handler()
	s.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, agentapi.PathContent) {
			s.mu.Lock()
			s.ranges = append(s.ranges, r.Header.Get("Range"))
			s.mu.Unlock()
			n := s.active.Add(1)
			defer s.active.Add(-1)
			for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
			}
			time.Sleep(20 * time.Millisecond) // let downloads overlap
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.http.Close)
	return s
}

func (s *site) call(method, path string, body, out any) int {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, s.http.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+s.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			s.t.Fatalf("%s %s: %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

// publish adds and posts an update with one payload of the given bytes.
func (s *site) publish(id, product string, kind patchgate.Kind, payload []byte) string {
	s.t.Helper()
	sum := sha256.Sum256(payload)
	sha := hex.EncodeToString(sum[:])
	req, _ := http.NewRequest("PUT", s.http.URL+"/api/v1/content/"+sha, bytes.NewReader(payload))
	req.Header.Set("Authorization", "Bearer "+s.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		s.t.Fatalf("put content: %v %v", resp, err)
	}
	resp.Body.Close()
	m := patchgate.Manifest{ID: id, Title: "fix " + id, Kind: kind, Severity: patchgate.SeverityCritical,
		Products: []patchgate.ProductConstraint{{Name: product}}, Reboot: patchgate.RebootNever,
		Payloads: []patchgate.ManifestPayload{{Name: "fix.sh", Size: int64(len(payload)), SHA256: sha, Installer: patchgate.InstallerExec}}}
	var eb agentapi.ErrorBody
	if st := s.call("POST", "/api/v1/updates", adminapi.AddUpdateRequest{Manifest: m, Post: true, Force: true, Reason: "fixture"}, &eb); st != 201 && st != 200 {
		s.t.Fatalf("add %s: %d %+v", id, st, eb)
	}
	return sha
}

func (s *site) downstreamToken(name string) string {
	var resp adminapi.CreateTokenResponse
	if st := s.call("POST", "/api/v1/tokens", adminapi.CreateTokenRequest{Kind: patchgate.TokenAPI, Role: patchgate.RoleDownstream, Name: name}, &resp); st != 201 {
		s.t.Fatalf("create downstream token: %d", st)
	}
	return resp.Secret
}

// follow makes s sync from up under name.
func (s *site) follow(up *site, name string, edit func(*adminapi.AddUpstreamRequest)) {
	s.t.Helper()
	req := adminapi.AddUpstreamRequest{Name: name, URL: up.http.URL, Token: up.downstreamToken("from-" + name)}
	if edit != nil {
		edit(&req)
	}
	var eb agentapi.ErrorBody
	if st := s.call("POST", "/api/v1/upstreams", req, &eb); st != 201 {
		s.t.Fatalf("add upstream: %d %+v", st, eb)
	}
}

func (s *site) status(id string) patchgate.UpdateStatus {
	s.t.Helper()
	st, err := s.db.ReleaseState(s.t.Context(), id)
	if err != nil {
		s.t.Fatalf("release state of %s: %v", id, err)
	}
	return st.Status
}

func TestSyncStoresFiltersWithdrawsAndReportsConflicts(t *testing.T) {
	ctx := t.Context()
	vendor, other, down := newSite(t, 4), newSite(t, 4), newSite(t, 4)
	for i := range 7 {
		vendor.publish(fmt.Sprintf("ucce-hf%d", i), "cisco.ucce", patchgate.KindHotfix, []byte(fmt.Sprintf("#!/bin/sh\necho %d\n", i)))
	}
	vendor.publish("ucce-feature", "cisco.ucce", patchgate.KindFeature, []byte("feature"))
	vendor.publish("openssl-sec", "openssl", patchgate.KindSecurity, []byte("openssl"))
	other.publish("ucce-hf1", "cisco.ucce", patchgate.KindHotfix, []byte("an impostor"))
	down.follow(vendor, "vendor", func(r *adminapi.AddUpstreamRequest) {
		r.Products, r.Kinds = []string{"cisco.ucce"}, []patchgate.Kind{patchgate.KindHotfix}
	})
	down.follow(other, "other", nil)

	run, err := down.sync.SyncNow(ctx, "vendor")
	if err != nil {
		t.Fatal(err)
	}
	if c := run.Counts; c.New != 7 || c.FilteredOut != 2 || c.Conflicts != 0 || c.Bytes == 0 {
		t.Errorf("first sync %+v", c)
	}
	if run.Done != 9 || run.Total != 9 {
		t.Errorf("progress %d/%d, want 9/9", run.Done, run.Total)
	}
	// Again: nothing new, nothing duplicated.
	run, err = down.sync.SyncNow(ctx, "vendor")
	if err != nil {
		t.Fatal(err)
	}
	if c := run.Counts; c.New+c.Revised+c.Withdrawn+c.FilteredOut != 0 {
		t.Errorf("second sync changed something: %+v", c)
	}
	if n := len(eventsOf(t, down, patchgate.EventUpdateSynced)); n != 7 {
		t.Errorf("%d update.synced events, want 7", n)
	}
	if got := down.status("ucce-hf3"); got != patchgate.StatusPosted {
		t.Errorf("synced update is %s, want posted", got)
	}
	// Same id from another upstream: a conflict, reported, not an overwrite.
	run, err = down.sync.SyncNow(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	if run.Counts.Conflicts != 1 || run.Counts.New != 0 {
		t.Errorf("other upstream %+v, want one conflict", run.Counts)
	}
	u, _ := down.db.GetUpdate(ctx, "ucce-hf1")
	vu, _ := vendor.db.GetUpdate(ctx, "ucce-hf1")
	if u.Payloads[0].SHA256 != vu.Payloads[0].SHA256 {
		t.Error("the conflicting upstream overwrote the update")
	}
	var st adminapi.SyncStatus
	down.call("GET", "/api/v1/sync/status", nil, &st)
	if len(st.Conflicts) != 1 || st.Conflicts[0].Upstream != "other" || st.Conflicts[0].Held != "vendor" {
		t.Errorf("status conflicts %+v", st.Conflicts)
	}
	if len(st.Runs) != 3 || st.Runs[0].Upstream != "other" || st.Runs[0].Status != patchgate.SyncSucceeded {
		t.Errorf("status runs %+v", st.Runs)
	}

	// Withdrawal and revision travel.
	var eb agentapi.ErrorBody
	if s := vendor.call("POST", "/api/v1/updates/ucce-hf2/withdraw", adminapi.WithdrawUpdateRequest{Reason: "broken"}, &eb); s != 200 {
		t.Fatalf("withdraw: %d %+v", s, eb)
	}
	run, err = down.sync.SyncNow(ctx, "vendor")
	if err != nil {
		t.Fatal(err)
	}
	if run.Counts.Withdrawn != 1 || down.status("ucce-hf2") != patchgate.StatusWithdrawn {
		t.Errorf("withdrawal: %+v, status %s", run.Counts, down.status("ucce-hf2"))
	}
	if n := len(eventsOf(t, down, patchgate.EventSyncCompleted)); n != 4 {
		t.Errorf("%d sync.completed events, want 4", n)
	}
}

func eventsOf(t *testing.T, s *site, typ string) []patchgate.Event {
	t.Helper()
	evs, err := s.db.ListEvents(t.Context(), patchgate.EventFilter{Type: typ, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestSyncFailureIsRecorded(t *testing.T) {
	vendor, down := newSite(t, 4), newSite(t, 4)
	vendor.publish("hf1", "cisco.ucce", patchgate.KindHotfix, []byte("x"))
	down.follow(vendor, "vendor", func(r *adminapi.AddUpstreamRequest) {
		r.Token = "pgt.000000000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	})
	_, err := down.sync.SyncNow(t.Context(), "vendor")
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("sync with a wrong token: %v", err)
	}
	var st adminapi.SyncStatus
	down.call("GET", "/api/v1/sync/status", nil, &st)
	if len(st.Runs) != 1 || st.Runs[0].Status != patchgate.SyncFailed || !strings.Contains(st.Runs[0].Error, "401") ||
		st.Upstreams[0].LastRun == nil || st.Upstreams[0].Cursor != 0 {
		t.Errorf("status after a failure %+v", st)
	}
	if evs := eventsOf(t, down, patchgate.EventSyncFailed); len(evs) != 1 {
		t.Errorf("sync.failed events %+v", evs)
	}
}

func TestContentOnApprovalOnDemandAndImmediate(t *testing.T) {
	ctx := t.Context()
	vendor, onApproval, immediate := newSite(t, 2), newSite(t, 2), newSite(t, 2)
	shas := map[string]string{}
	for i := range 6 {
		id := fmt.Sprintf("hf%d", i)
		shas[id] = vendor.publish(id, "cisco.ucce", patchgate.KindHotfix, bytes.Repeat([]byte{byte('a' + i)}, 50_000))
	}
	onApproval.follow(vendor, "vendor", nil)
	immediate.follow(vendor, "vendor", func(r *adminapi.AddUpstreamRequest) { r.Content = patchgate.ContentImmediate })

	if _, err := onApproval.sync.SyncNow(ctx, "vendor"); err != nil {
		t.Fatal(err)
	}
	for id, sha := range shas {
		if _, ok, _ := onApproval.cs.Has(sha); ok {
			t.Errorf("%s fetched before approval", id)
		}
	}
	// Approval fetches in the background.
	var ar adminapi.ApproveResponse
	if st := onApproval.call("POST", "/api/v1/approvals", adminapi.ApproveRequest{Updates: []string{"hf0"}, Group: "all", Action: patchgate.ActionInstall}, &ar); st != 200 && st != 201 {
		t.Fatalf("approve: %d", st)
	}
	waitFor(t, func() bool { _, ok, _ := onApproval.cs.Has(shas["hf0"]); return ok })
	// A host (here: a token holder) asking for content not fetched yet
	// makes the server fetch it, then serve it.
	req, _ := http.NewRequest("GET", onApproval.http.URL+agentapi.PathContent+shas["hf3"], nil)
	req.Header.Set("Authorization", "Bearer "+onApproval.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(body, bytes.Repeat([]byte{'d'}, 50_000)) {
		t.Fatalf("on-demand content: %d, %d bytes", resp.StatusCode, len(body))
	}
	// Unknown content is still not found.
	req, _ = http.NewRequest("GET", onApproval.http.URL+agentapi.PathContent+strings.Repeat("0", 64), nil)
	req.Header.Set("Authorization", "Bearer "+onApproval.admin)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 404 {
		t.Fatalf("unknown content: %v %v", resp, err)
	}

	// Immediate: everything, at most Parallel downloads at once.
	vendor.peak.Store(0)
	run, err := immediate.sync.SyncNow(ctx, "vendor")
	if err != nil {
		t.Fatal(err)
	}
	for id, sha := range shas {
		if _, ok, _ := immediate.cs.Has(sha); !ok {
			t.Errorf("%s not fetched at once", id)
		}
	}
	if p := vendor.peak.Load(); p > 2 || p < 1 {
		t.Errorf("peak concurrent downloads %d, want 1..2", p)
	}
	if run.Counts.Bytes < 6*50_000 {
		t.Errorf("bytes %d, want the content counted", run.Counts.Bytes)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for range 500 {
		if ok() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not met within 5s")
}

func TestContentResumesWithRangeAndRefusesCorruption(t *testing.T) {
	ctx := t.Context()
	vendor, down := newSite(t, 2), newSite(t, 2)
	payload := bytes.Repeat([]byte("0123456789"), 10_000)
	sha := vendor.publish("hf1", "cisco.ucce", patchgate.KindHotfix, payload)
	down.follow(vendor, "vendor", nil)
	if _, err := down.sync.SyncNow(ctx, "vendor"); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(down.dir, "partial", sha+".part")
	os.MkdirAll(filepath.Dir(part), 0o700)

	// An interrupted download left the first 40,000 bytes: only the rest
	// is asked for.
	if err := os.WriteFile(part, payload[:40_000], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := down.sync.FetchContent(ctx, sha); err != nil {
		t.Fatal(err)
	}
	vendor.mu.Lock()
	ranges := append([]string(nil), vendor.ranges...)
	vendor.mu.Unlock()
	if len(ranges) != 1 || ranges[0] != "bytes=40000-" {
		t.Errorf("content requests with Range %q, want one from 40000", ranges)
	}
	f, _, err := down.cs.Open(sha)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, payload) {
		t.Error("resumed content differs")
	}
	if _, err := os.Stat(part); !os.IsNotExist(err) {
		t.Errorf("partial file left: %v", err)
	}

	// A damaged partial file: the whole fails its sha256, is discarded,
	// nothing is stored; the next fetch starts over and succeeds.
	down.cs.Remove(sha)
	bad := append([]byte(nil), payload[:40_000]...)
	bad[100] ^= 0xff
	os.WriteFile(part, bad, 0o600)
	err = down.sync.FetchContent(ctx, sha)
	if patchgate.ErrorCode(err) != patchgate.CodeInvalid || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("corrupt content: %v, want refused on sha256", err)
	}
	if _, ok, _ := down.cs.Has(sha); ok {
		t.Fatal("corrupt content stored")
	}
	if err := down.sync.FetchContent(ctx, sha); err != nil {
		t.Fatalf("fetch after a discarded partial: %v", err)
	}
	if _, ok, _ := down.cs.Has(sha); !ok {
		t.Fatal("content not stored after a fresh fetch")
	}
}

func TestLoopsRefused(t *testing.T) {
	ctx := t.Context()
	a, b := newSite(t, 2), newSite(t, 2)
	a.publish("hf1", "cisco.ucce", patchgate.KindHotfix, []byte("x"))

	// A server that syncs from itself.
	a.follow(a, "self", nil)
	_, err := a.sync.SyncNow(ctx, "self")
	if patchgate.ErrorCode(err) != patchgate.CodeConflict && (err == nil || !strings.Contains(err.Error(), "loop")) {
		t.Fatalf("sync from itself: %v, want a loop refused", err)
	}

	// b syncs from a; then a from b: a sends [a, b...], b finds itself
	// in it and refuses.
	b.follow(a, "a", nil)
	if _, err := b.sync.SyncNow(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	a.follow(b, "b", nil)
	_, err = a.sync.SyncNow(ctx, "b")
	if err == nil || !strings.Contains(err.Error(), "loop") || !strings.Contains(err.Error(), "409") {
		t.Fatalf("a syncing from its own downstream: %v, want 409 loop refused", err)
	}

	// The feed refuses a request whose chain names the upstream itself,
	// and one without a chain.
	self, _ := b.db.ServerID(ctx)
	tok := b.downstreamToken("probe")
	for _, tc := range []struct {
		chain string
		want  int
	}{{self, 409}, {"srv-0000000000000001," + self, 409}, {"", 400}, {"srv-0000000000000001", 200}} {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", b.http.URL+"/api/v1/feed/changes?cursor=0&limit=5", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if tc.chain != "" {
			req.Header.Set(patchgate.HeaderServerChain, tc.chain)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("chain %q: %d, want %d", tc.chain, resp.StatusCode, tc.want)
		}
	}
}

func TestFeedNeedsDownstreamRole(t *testing.T) {
	a := newSite(t, 2)
	var viewer adminapi.CreateTokenResponse
	a.call("POST", "/api/v1/tokens", adminapi.CreateTokenRequest{Kind: patchgate.TokenAPI, Role: patchgate.RoleViewer, Name: "v"}, &viewer)
	down := a.downstreamToken("d")
	for _, tc := range []struct {
		token, path string
		want        int
	}{
		{viewer.Secret, "/api/v1/feed/changes", 403},
		{down, "/api/v1/feed/changes", 200},
		{down, "/api/v1/updates", 403},
		{down, "/api/v1/hosts", 403},
		{down, "/api/v1/feed/changes?limit=0", 400},
		{down, "/api/v1/feed/changes?cursor=-1", 400},
		{down, "/api/v1/feed/changes?limit=1001", 400},
	} {
		req, _ := http.NewRequest("GET", a.http.URL+tc.path, nil)
		req.Header.Set("Authorization", "Bearer "+tc.token)
		req.Header.Set(patchgate.HeaderServerChain, "srv-0000000000000001")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.path, resp.StatusCode, tc.want)
		}
	}
}

func TestComplianceRollsUpTheChain(t *testing.T) {
	ctx := t.Context()
	vendor, central, branch := newSite(t, 2), newSite(t, 2), newSite(t, 2)
	vendor.publish("hf1", "cisco.ucce", patchgate.KindHotfix, []byte("x"))
	central.follow(vendor, "vendor", nil)
	branch.follow(central, "central", nil)
	if _, err := central.sync.SyncNow(ctx, "vendor"); err != nil {
		t.Fatal(err)
	}
	if _, err := branch.sync.SyncNow(ctx, "central"); err != nil {
		t.Fatal(err)
	}
	// The branch has a host and approves; its summary has the row.
	var et adminapi.CreateTokenResponse
	branch.call("POST", "/api/v1/tokens", adminapi.CreateTokenRequest{Kind: patchgate.TokenEnroll}, &et)
	inv := patchgate.Inventory{Hostname: "till1", OS: "linux", Arch: "amd64", Mode: patchgate.ModeAutomatic,
		Products: []patchgate.InstalledProduct{{Name: "cisco.ucce", Version: "7.2(1)"}}, Interval: time.Hour}
	if st := branch.call("POST", agentapi.PathEnroll, agentapi.EnrollRequest{Token: et.Secret, Inventory: inv, MachineID: "m1"}, nil); st != 201 {
		t.Fatalf("enrol: %d", st)
	}
	branch.call("POST", "/api/v1/approvals", adminapi.ApproveRequest{Updates: []string{"hf1"}, Group: "all", Action: patchgate.ActionInstall}, nil)
	if _, err := branch.sync.SyncNow(ctx, "central"); err != nil {
		t.Fatal(err)
	}
	if _, err := central.sync.SyncNow(ctx, "vendor"); err != nil {
		t.Fatal(err)
	}
	var rep adminapi.SitesComplianceReport
	if st := vendor.call("GET", "/api/v1/reports/compliance/sites", nil, &rep); st != 200 {
		t.Fatalf("sites report: %d", st)
	}
	ids := map[string]string{}
	for _, s := range []*site{vendor, central, branch} {
		id, _ := s.db.ServerID(ctx)
		ids[id] = map[*site]string{vendor: "vendor", central: "central", branch: "branch"}[s]
	}
	var got []string
	var br patchgate.SiteCompliance
	for _, sc := range rep.Sites {
		got = append(got, ids[sc.ServerID])
		if ids[sc.ServerID] == "branch" {
			br = sc
		}
	}
	if len(got) != 3 || got[0] != "vendor" || !slices.Contains(got, "central") || !slices.Contains(got, "branch") {
		t.Fatalf("sites %v, want the vendor first, then central and branch", got)
	}
	if len(br.Rows) != 1 || br.Rows[0].UpdateID != "hf1" || br.Rows[0].Group != "all" || br.Rows[0].Hosts != 1 || br.Rows[0].Needed != 1 {
		t.Errorf("branch rows %+v", br.Rows)
	}
	centralID, _ := central.db.ServerID(ctx)
	if br.Via != centralID {
		t.Errorf("branch summary via %s, want central %s", br.Via, centralID)
	}

	// A report naming a site outside the sending chain is refused.
	tok := vendor.downstreamToken("probe")
	body, _ := json.Marshal(adminapi.SiteComplianceReport{Sites: []patchgate.SiteCompliance{{ServerID: "srv-00000000000000ee", Name: "x", GeneratedAt: time.Now()}}})
	req, _ := http.NewRequest("POST", vendor.http.URL+"/api/v1/feed/compliance", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set(patchgate.HeaderServerChain, "srv-00000000000000ff")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var eb agentapi.ErrorBody
	json.NewDecoder(resp.Body).Decode(&eb)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(eb.Message, "sites[0].server_id") {
		t.Errorf("report for a site outside the chain: %d %+v", resp.StatusCode, eb)
	}
}

func TestReplicaTakesGroupsApprovalsAndWindows(t *testing.T) {
	ctx := t.Context()
	central, branch := newSite(t, 2), newSite(t, 2)
	central.publish("hf1", "cisco.ucce", patchgate.KindHotfix, []byte("one"))
	central.publish("hf2", "cisco.ucce", patchgate.KindHotfix, []byte("two"))
	central.publish("other", "openssl", patchgate.KindSecurity, []byte("three"))
	central.call("POST", "/api/v1/groups", adminapi.CreateGroupRequest{Name: "tills", Description: "shop tills"}, nil)
	central.call("POST", "/api/v1/approvals", adminapi.ApproveRequest{Updates: []string{"hf1", "other"}, Group: "tills", Action: patchgate.ActionInstall}, nil)
	central.call("POST", "/api/v1/approvals", adminapi.ApproveRequest{Updates: []string{"hf2"}, Group: "all", Action: patchgate.ActionDecline}, nil)
	var eb agentapi.ErrorBody
	if st := central.call("PUT", "/api/v1/windows/tills", adminapi.SetWindowRequest{Schedule: "0 22 * * *", Duration: "2h", TimeZone: "UTC"}, &eb); st != 200 {
		t.Fatalf("window: %d %+v", st, eb)
	}
	// The branch's own group goes: groups come from the central site.
	branch.call("POST", "/api/v1/groups", adminapi.CreateGroupRequest{Name: "local-only"}, nil)
	branch.follow(central, "central", func(r *adminapi.AddUpstreamRequest) {
		r.Mode, r.Products = patchgate.ModeReplica, []string{"cisco.ucce"}
	})
	run, err := branch.sync.SyncNow(ctx, "central")
	if err != nil {
		t.Fatal(err)
	}
	if p := run.Policy; p == nil || !p.Changed || p.Groups != 1 || p.Approvals != 2 || p.Skipped != 1 || p.Windows != 1 {
		t.Fatalf("policy applied %+v, want 1 group, 2 approvals (1 skipped: filtered out), 1 window", run.Policy)
	}
	groups, _ := branch.db.ListGroups(ctx)
	var names []string
	for _, g := range groups {
		names = append(names, g.Name)
	}
	if strings.Join(names, ",") != "all,tills" {
		t.Errorf("branch groups %v", names)
	}
	as, _ := branch.db.ListApprovals(ctx)
	if len(as) != 2 {
		t.Errorf("branch approvals %+v", as)
	}
	ws, _ := branch.db.ListWindows(ctx)
	if len(ws) != 1 || ws[0].Group != "tills" || ws[0].Schedule != "0 22 * * *" {
		t.Errorf("branch windows %+v", ws)
	}
	// Read-only here.
	for _, c := range []struct{ method, path string }{
		{"POST", "/api/v1/approvals"}, {"DELETE", "/api/v1/approvals/tills/hf1"}, {"POST", "/api/v1/groups"},
		{"DELETE", "/api/v1/groups/tills"}, {"PUT", "/api/v1/windows/tills"}, {"DELETE", "/api/v1/windows/tills"},
	} {
		var eb agentapi.ErrorBody
		if st := branch.call(c.method, c.path, map[string]any{}, &eb); st != 409 || !strings.Contains(eb.Message, "replica") {
			t.Errorf("%s %s on a replica: %d %+v, want 409", c.method, c.path, st, eb)
		}
	}
	// Unchanged policy: nothing applied, no event.
	run, err = branch.sync.SyncNow(ctx, "central")
	if err != nil {
		t.Fatal(err)
	}
	if run.Policy == nil || run.Policy.Changed {
		t.Errorf("unchanged policy applied again: %+v", run.Policy)
	}
	if n := len(eventsOf(t, branch, patchgate.EventReplicaPolicy)); n != 1 {
		t.Errorf("%d replica.policy events, want 1", n)
	}
	// A change upstream follows.
	central.call("DELETE", "/api/v1/approvals/tills/hf1", nil, nil)
	if _, err := branch.sync.SyncNow(ctx, "central"); err != nil {
		t.Fatal(err)
	}
	if as, _ := branch.db.ListApprovals(ctx); len(as) != 1 || as[0].UpdateID != "hf2" {
		t.Errorf("after the unapproval upstream: %+v", as)
	}
	// One replica upstream only.
	other := newSite(t, 2)
	req := adminapi.AddUpstreamRequest{Name: "other", URL: other.http.URL, Token: other.downstreamToken("x"), Mode: patchgate.ModeReplica}
	if st := branch.call("POST", "/api/v1/upstreams", req, &eb); st != 409 {
		t.Errorf("second replica upstream: %d %+v", st, eb)
	}
}

func TestUpstreamTokenNeverShown(t *testing.T) {
	up, down := newSite(t, 2), newSite(t, 2)
	tok := up.downstreamToken("branch")
	var eb agentapi.ErrorBody
	if st := down.call("POST", "/api/v1/upstreams", adminapi.AddUpstreamRequest{Name: "central", URL: up.http.URL, Token: tok}, &eb); st != 201 {
		t.Fatalf("add: %d %+v", st, eb)
	}
	for _, path := range []string{"/api/v1/upstreams", "/api/v1/sync/status"} {
		var raw json.RawMessage
		down.call("GET", path, nil, &raw)
		if strings.Contains(string(raw), tok) || strings.Contains(string(raw), `"token"`) {
			t.Errorf("%s shows the token: %s", path, raw)
		}
	}
	// Refused input names the field; nothing is stored.
	for _, c := range []struct {
		req   adminapi.AddUpstreamRequest
		field string
	}{
		{adminapi.AddUpstreamRequest{Name: "x", URL: "https://h:1", Token: tok}, "ca_fingerprint"},
		{adminapi.AddUpstreamRequest{Name: "x", URL: "https://h:1", Token: tok, CAFingerprint: "zz"}, "ca_fingerprint"},
		{adminapi.AddUpstreamRequest{Name: "x", URL: "gopher://h", Token: tok}, "url"},
		{adminapi.AddUpstreamRequest{Name: "X Y", URL: up.http.URL, Token: tok}, "name"},
		{adminapi.AddUpstreamRequest{Name: "x", URL: up.http.URL}, "token"},
		{adminapi.AddUpstreamRequest{Name: "x", URL: up.http.URL, Token: tok, Content: "sometimes"}, "content"},
		{adminapi.AddUpstreamRequest{Name: "x", URL: up.http.URL, Token: tok, Mode: "mirror"}, "mode"},
		{adminapi.AddUpstreamRequest{Name: "central", URL: up.http.URL, Token: tok}, "already exists"},
	} {
		var eb agentapi.ErrorBody
		st := down.call("POST", "/api/v1/upstreams", c.req, &eb)
		if st/100 != 4 || !strings.Contains(eb.Message, c.field) {
			t.Errorf("%+v: %d %+v, want 4xx naming %s", c.req, st, eb, c.field)
		}
	}
	if ups, _ := down.db.Upstreams(t.Context()); len(ups) != 1 {
		t.Errorf("refused upstreams stored: %+v", ups)
	}
}
