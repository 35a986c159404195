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
)

// The benchmarks share one server: a catalog of benchUpdates updates over
// benchProducts products and benchHosts enrolled hosts with three products
// each, built once (it takes a while) in a temp dir.
const (
	benchUpdates  = 10000
	benchProducts = 100
	benchHosts    = 2000
)

type benchHost struct {
	cred string
	inv  patchgate.Inventory
	body []byte
	etag atomic.Pointer[string]
}

type benchEnv struct {
	url string
	// urlSingle serves the same store without group commit.
	urlSingle string
	// enrollToken has unlimited uses.
	enrollToken string
	client      *http.Client
	admin       string
	hosts       []*benchHost
	srv         *server.Server
}

var (
	benchOnce sync.Once
	benchE    *benchEnv
)

func newBenchClient() *http.Client {
	tr := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, Proxy: nil}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func setupBench(b *testing.B) *benchEnv {
	benchOnce.Do(func() {
		dir, err := osMkdirTemp()
		if err != nil {
			b.Fatal(err)
		}
		db, err := sqlite.Open(filepath.Join(dir, "db.sqlite"))
		if err != nil {
			b.Fatal(err)
		}
		cs, err := content.Open(filepath.Join(dir, "content"))
		if err != nil {
			b.Fatal(err)
		}
		srv := server.New(server.Config{Store: db, Content: cs})
		admin, _ := srv.BootstrapAdmin(context.Background())
		hs := httptest.NewServer(srv.Handler())
		single := server.New(server.Config{Store: db, Content: cs, NoGroupCommit: true})
		hsSingle := httptest.NewServer(single.Handler())
		e := &benchEnv{url: hs.URL, urlSingle: hsSingle.URL, client: newBenchClient(), admin: admin, srv: srv}
		ctx := context.Background()
		sum := sha256.Sum256([]byte("payload"))
		sha := hex.EncodeToString(sum[:])
		for i := range benchUpdates {
			u := patchgate.Update{ID: fmt.Sprintf("u%05d", i), Title: "update", Kind: patchgate.KindHotfix, Severity: patchgate.SeverityHigh,
				Products: []patchgate.ProductConstraint{{Name: fmt.Sprintf("p%03d", i%benchProducts), Versions: ">=1.0, <2.0"}},
				Reboot:   patchgate.RebootNever, Payloads: []patchgate.Payload{{Name: "fix.sh", Size: 7, SHA256: sha, Installer: patchgate.InstallerExec}}}
			if _, _, err := db.PutUpdate(ctx, u, patchgate.Event{Type: patchgate.EventUpdateAdded, Time: time.Now()}); err != nil {
				b.Fatal(err)
			}
			if _, err := db.TransitionUpdate(ctx, u.ID, []patchgate.UpdateStatus{patchgate.StatusReceived}, patchgate.StatusPosted, true, time.Now(),
				patchgate.Event{Type: patchgate.EventUpdatePosted, Detail: "benchmark fixture"}); err != nil {
				b.Fatal(err)
			}
		}
		var tok adminapi.CreateTokenResponse
		e.post(b, "/api/v1/tokens", admin, adminapi.CreateTokenRequest{Kind: patchgate.TokenEnroll}, &tok)
		e.enrollToken = tok.Secret
		for i := range benchHosts {
			inv := patchgate.Inventory{Hostname: fmt.Sprintf("host%05d", i), OS: "linux", Arch: "amd64", Mode: patchgate.ModeAutomatic, Interval: time.Hour,
				Products: []patchgate.InstalledProduct{
					{Name: fmt.Sprintf("p%03d", i%benchProducts), Version: "1.5"},
					{Name: fmt.Sprintf("p%03d", (i+1)%benchProducts), Version: "1.5"},
					{Name: fmt.Sprintf("p%03d", (i+2)%benchProducts), Version: "1.5"},
				}}
			var resp agentapi.EnrollResponse
			e.post(b, agentapi.PathEnroll, "", agentapi.EnrollRequest{Token: tok.Secret, Inventory: inv}, &resp)
			body, _ := json.Marshal(agentapi.CheckinRequest{Inventory: inv})
			e.hosts = append(e.hosts, &benchHost{cred: resp.Credential, inv: inv, body: body})
		}
		benchE = e
	})
	if benchE == nil {
		b.Fatal("benchmark setup failed")
	}
	return benchE
}

func (e *benchEnv) post(b *testing.B, path, token string, body, out any) {
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", e.url+path, bytes.NewReader(data))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(resp.Body)
		b.Fatalf("%s: %d %s", path, resp.StatusCode, msg)
	}
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
}

// checkin sends one check-in and remembers the plan's ETag.
func (e *benchEnv) checkin(b *testing.B, h *benchHost, sendETag bool) int {
	return e.checkinNonce(b, h, sendETag, false)
}

// checkinNonce is checkin, with a fresh nonce (a signed answer) if nonce.
func (e *benchEnv) checkinNonce(b *testing.B, h *benchHost, sendETag, nonce bool) int {
	req, _ := http.NewRequest("POST", e.url+agentapi.PathCheckin, bytes.NewReader(h.body))
	req.Header.Set("Authorization", "Bearer "+h.cred)
	if nonce {
		req.Header.Set(agentapi.HeaderNonce, agentapi.NewNonce())
	}
	if p := h.etag.Load(); sendETag && p != nil {
		req.Header.Set("If-None-Match", *p)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		b.Error(err)
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if t := resp.Header.Get("ETag"); t != "" {
		h.etag.Store(&t)
	}
	return resp.StatusCode
}

// BenchmarkCheckinNotModified is the hot path: hosts whose inventory and
// plan did not change get 304 from memory. Compare with BenchmarkBareHandler
// (same client, same concurrency, a bare net/http handler).
func BenchmarkCheckinNotModified(b *testing.B) { benchNotModified(b, false) }

// BenchmarkCheckinNotModifiedSigned is the hot path as agents use it now:
// each check-in sends a nonce and its 304 is signed (Ed25519) for it.
func BenchmarkCheckinNotModifiedSigned(b *testing.B) { benchNotModified(b, true) }

func benchNotModified(b *testing.B, signed bool) {
	e := setupBench(b)
	for _, h := range e.hosts {
		e.checkin(b, h, false) // warm: every host holds its current ETag
	}
	var next atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h := e.hosts[int(next.Add(1))%len(e.hosts)]
			if st := e.checkinNonce(b, h, true, signed); st != http.StatusNotModified {
				b.Errorf("check-in: %d, want 304", st)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checkins/s")
}

// BenchmarkBareHandler is the comparison point: a net/http handler that
// returns a 200-byte JSON body, under the same client and concurrency.
func BenchmarkBareHandler(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 186)
	payload := []byte(`{"status":"` + string(body) + `"}`)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(payload)
	}))
	defer hs.Close()
	client := newBenchClient()
	reqBody := bytes.Repeat([]byte("y"), 400) // about a check-in's size
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", hs.URL+agentapi.PathCheckin, bytes.NewReader(reqBody))
			req.Header.Set("Authorization", "Bearer x")
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checkins/s")
}

// BenchmarkCheckinChangedPlan measures plans computed per second: an
// approval just landed for every host, so each check-in computes a plan.
func BenchmarkCheckinChangedPlan(b *testing.B) { benchChangedPlan(b, false) }

// BenchmarkCheckinChangedPlanSigned: the same with nonces, each plan
// signed over its exact body.
func BenchmarkCheckinChangedPlanSigned(b *testing.B) { benchChangedPlan(b, true) }

func benchChangedPlan(b *testing.B, signed bool) {
	e := setupBench(b)
	var ids []string
	for i := 0; i < benchProducts; i++ {
		ids = append(ids, fmt.Sprintf("u%05d", i))
	}
	e.post(b, "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: ids, Group: "all", Action: patchgate.ActionInstall}, nil)
	var next atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h := e.hosts[int(next.Add(1))%len(e.hosts)]
			if st := e.checkinNonce(b, h, false, signed); st != http.StatusOK {
				b.Errorf("check-in: %d, want 200", st)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "plans/s")
}

// BenchmarkEventIngestion measures durable agent events per second: many
// hosts report 10 events each at once. With group commit concurrent reports
// share a transaction (and its fsync); per-report, the comparison point,
// commits each on its own. Both are fully durable.
func BenchmarkEventIngestion(b *testing.B) {
	e := setupBench(b)
	groupCommitModes(b, e, "per-report", func(b *testing.B, url string) { benchEvents(b, e, url) })
}

var eventSeq atomic.Int64

func benchEvents(b *testing.B, e *benchEnv, url string) {
	const perReport = 10
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := eventSeq.Add(1)
			h := e.hosts[int(n)%len(e.hosts)]
			evs := make([]patchgate.Event, perReport)
			for i := range evs {
				evs[i] = patchgate.Event{ID: fmt.Sprintf("b%d-%d", n, i), Time: time.Now(), Type: patchgate.EventDeployment,
					UpdateID: fmt.Sprintf("u%05d", i), State: patchgate.StateInstalled}
			}
			data, _ := json.Marshal(agentapi.EventsRequest{Events: evs})
			req, _ := http.NewRequest("POST", url+agentapi.PathEvents, bytes.NewReader(data))
			req.Header.Set("Authorization", "Bearer "+h.cred)
			resp, err := e.client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("events: %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*perReport)/b.Elapsed().Seconds(), "events/s")
}

// groupCommitModes runs a benchmark against the server with group commit
// and against the same store without it (the comparison point).
func groupCommitModes(b *testing.B, e *benchEnv, single string, f func(b *testing.B, url string)) {
	for _, mode := range []struct{ name, url string }{{"group-commit", e.url}, {single, e.urlSingle}} {
		b.Run(mode.name, func(b *testing.B) { f(b, mode.url) })
	}
}

func (e *benchEnv) postStatus(b *testing.B, url, path, cred string, body []byte, want int) bool {
	req, _ := http.NewRequest("POST", url+path, bytes.NewReader(body))
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		b.Error(err)
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		b.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		return false
	}
	return true
}

var benchSeq atomic.Int64

// BenchmarkEnroll measures durable enrolments per second, many agents
// enrolling at once.
func BenchmarkEnroll(b *testing.B) {
	e := setupBench(b)
	groupCommitModes(b, e, "per-enrolment", func(b *testing.B, url string) {
		b.SetParallelism(16)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				name := fmt.Sprintf("enrol-%d", benchSeq.Add(1))
				body, _ := json.Marshal(agentapi.EnrollRequest{Token: e.enrollToken, Inventory: patchgate.Inventory{Hostname: name}})
				if !e.postStatus(b, url, agentapi.PathEnroll, "", body, http.StatusCreated) {
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "enrolments/s")
	})
}

// BenchmarkCheckinChangedInventory measures check-ins whose inventory
// changed (an install just happened), each stored durably.
func BenchmarkCheckinChangedInventory(b *testing.B) {
	e := setupBench(b)
	groupCommitModes(b, e, "per-checkin", func(b *testing.B, url string) {
		b.SetParallelism(16)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				n := benchSeq.Add(1)
				h := e.hosts[int(n)%len(e.hosts)]
				inv := h.inv
				inv.Installed = []string{fmt.Sprintf("x%d", n)}
				body, _ := json.Marshal(agentapi.CheckinRequest{Inventory: inv})
				if !e.postStatus(b, url, agentapi.PathCheckin, h.cred, body, http.StatusOK) {
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checkins/s")
	})
}
