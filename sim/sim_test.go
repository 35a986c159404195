package sim_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/content"
	"github.com/patchgate/patchgate/server"
	"github.com/patchgate/patchgate/sim"
	"github.com/patchgate/patchgate/sqlite"
)

// env is a real server in process: SQLite on a temp file, a content
// store, the HTTP handler on loopback.
type env struct {
	t      *testing.T
	db     *sqlite.DB
	ts     *httptest.Server
	admin  string
	client *http.Client
	dir    string
	srv    *server.Server
}

func newEnv(t *testing.T) *env {
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
	srv := server.New(server.Config{Store: db, Content: cs})
	admin, err := srv.BootstrapAdmin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	tr := &http.Transport{MaxIdleConns: 128, MaxIdleConnsPerHost: 128, IdleConnTimeout: time.Minute}
	t.Cleanup(tr.CloseIdleConnections)
	return &env{t: t, db: db, ts: ts, admin: admin, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}, dir: dir, srv: srv}
}

func (e *env) call(method, path string, body any, out any) {
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
	req, _ := http.NewRequest(method, e.ts.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+e.admin)
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		e.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) enrollToken() string {
	var tok adminapi.CreateTokenResponse
	e.call("POST", "/api/v1/tokens", adminapi.CreateTokenRequest{Kind: patchgate.TokenEnroll, Name: "sim"}, &tok)
	return tok.Secret
}

// publish adds an update for product with a random payload of size bytes.
func (e *env) publish(id, product, versions string, size int) {
	payload := make([]byte, size)
	rand.Read(payload)
	sum := sha256.Sum256(payload)
	sha := hex.EncodeToString(sum[:])
	e.call("PUT", "/api/v1/content/"+sha, payload, nil)
	m := patchgate.Manifest{ID: id, Title: "fix " + id, Kind: patchgate.KindSecurity, Severity: patchgate.SeverityCritical,
		Products: []patchgate.ProductConstraint{{Name: product, Versions: versions}}, Reboot: patchgate.RebootNever,
		Payloads: []patchgate.ManifestPayload{{Name: id + ".sh", Size: int64(size), SHA256: sha, Installer: patchgate.InstallerExec}}}
	e.call("POST", "/api/v1/updates", adminapi.AddUpdateRequest{Manifest: m, Post: true, Force: true, Reason: "simulation"}, nil)
}

func (e *env) approve(id string) {
	e.call("POST", "/api/v1/approvals", adminapi.ApproveRequest{Updates: []string{id}, Group: patchgate.GroupAll, Action: patchgate.ActionInstall}, nil)
}

func (e *env) config(hosts int, token string) sim.Config {
	return sim.Config{
		Server: e.ts.URL, Client: e.client, EnrollToken: token, Hosts: hosts,
		IdentityFile: filepath.Join(e.dir, "identities.jsonl"),
		Interval:     100 * time.Millisecond, Jitter: 0.2, StartSpread: 50 * time.Millisecond,
		Duration: time.Second, MaxInFlight: 32, EnrollConcurrency: 8, Version: "test",
	}
}

func (e *env) run(cfg sim.Config) *sim.Summary {
	e.t.Helper()
	sum, err := sim.Run(context.Background(), cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	var b strings.Builder
	sum.WriteTable(&b)
	e.t.Log("\n" + b.String())
	return sum
}

func (e *env) hosts() []patchgate.Host {
	e.t.Helper()
	hs, err := e.db.ListHosts(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return hs
}

// deploymentEvents counts the agent events of update by state.
func (e *env) deploymentEvents(update string) map[patchgate.DeploymentState]int {
	e.t.Helper()
	counts := map[patchgate.DeploymentState]int{}
	var after int64
	for {
		evs, err := e.db.ListEvents(context.Background(), patchgate.EventFilter{Type: patchgate.EventDeployment, UpdateID: update, AfterSeq: after, Limit: 1000})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(evs) == 0 {
			return counts
		}
		for _, ev := range evs {
			counts[ev.State]++
			after = max(after, ev.Seq)
		}
	}
}

func endpoint(t *testing.T, s *sim.Summary, name string) sim.EndpointSummary {
	t.Helper()
	for _, e := range s.Endpoints {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("no endpoint %s in the summary", name)
	return sim.EndpointSummary{}
}

func readIdentities(t *testing.T, path string) []sim.Identity {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi, _ := f.Stat(); fi.Mode().Perm() != 0o600 {
		t.Errorf("identity file mode %v, want 0600", fi.Mode().Perm())
	}
	var ids []sim.Identity
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var id sim.Identity
		if err := json.Unmarshal(sc.Bytes(), &id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func TestFleetEnrolsResumesAndConverges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 200
	const update = "openssl-3.0.15-sec"
	e.publish(update, "openssl", "<3.0.15", 64<<10)
	cfg := e.config(n, e.enrollToken())

	// Run 1: every host enrols, checks in, has nothing to do.
	s1 := e.run(cfg)
	if s1.Enrolled != n || s1.Resumed != 0 || s1.Hosts != n || s1.ErrorsAll != 0 || s1.StoppedBy != "duration" {
		t.Fatalf("run 1: enrolled %d, resumed %d, hosts %d, errors %d (%v), stopped by %s", s1.Enrolled, s1.Resumed, s1.Hosts, s1.ErrorsAll, s1.Errors, s1.StoppedBy)
	}
	if got := len(e.hosts()); got != n {
		t.Fatalf("store has %d hosts, want %d", got, n)
	}
	ids := readIdentities(t, cfg.IdentityFile)
	if len(ids) != n {
		t.Fatalf("identity file has %d lines", len(ids))
	}
	if c := endpoint(t, s1, sim.EpEnroll).Count; c != n {
		t.Errorf("enroll count %d", c)
	}
	// The first check-in of each host gets its (empty) plan, later ones
	// "not modified".
	c200, c304 := endpoint(t, s1, sim.EpCheckin200).Count, endpoint(t, s1, sim.EpCheckin304).Count
	if c200 > n || c304 == 0 || int64(c200+c304) != s1.Cycles || s1.InstallsDone != 0 || s1.EventsSent != 0 {
		t.Errorf("run 1: check-ins 200: %d, 304: %d, cycles %d; summary %+v", c200, c304, s1.Cycles, s1)
	}

	// Run 2: the same fleet, resumed; an approved update reaches every host.
	e.approve(update)
	cfg2 := cfg
	cfg2.EnrollToken = "" // nothing to enrol: not needed
	cfg2.Duration = 30 * time.Second
	cfg2.WatchUpdate, cfg2.StopAfterInstalled = update, n
	s2 := e.run(cfg2)
	if s2.Enrolled != 0 || s2.Resumed != n || s2.StoppedBy != "until-installed" || s2.ErrorsAll != 0 {
		t.Fatalf("run 2: enrolled %d, resumed %d, stopped by %s, errors %v", s2.Enrolled, s2.Resumed, s2.StoppedBy, s2.Errors)
	}
	if got := len(e.hosts()); got != n {
		t.Fatalf("store has %d hosts after resuming, want %d", got, n)
	}
	if s2.InstallsDone != n || s2.InstallsFailed != 0 || endpoint(t, s2, sim.EpContent).Count != n || s2.DownloadBytes != n*64<<10 {
		t.Errorf("run 2: installs %d/%d, downloads %d, bytes %d", s2.InstallsDone, s2.InstallsFailed, endpoint(t, s2, sim.EpContent).Count, s2.DownloadBytes)
	}
	// downloading, installing, installed per host, each new to the server.
	if s2.EventsSent != 3*n || s2.EventsAccepted != 3*n {
		t.Errorf("run 2: events sent %d, accepted %d, want %d", s2.EventsSent, s2.EventsAccepted, 3*n)
	}
	if w := s2.Watch; w == nil || w.HostsStarted != n || w.HostsInstalled != n || w.FirstSeconds < 0 || w.LastSeconds < w.FirstSeconds ||
		w.MedianSeconds < w.FirstSeconds || w.LastSeconds < w.P90Seconds || w.TargetReachedSeconds < w.LastSeconds {
		t.Errorf("run 2: watch %+v", s2.Watch)
	}
	if got := e.deploymentEvents(update); got[patchgate.StateInstalled] != n || got[patchgate.StateDownloading] != n || got[patchgate.StateFailed] != 0 {
		t.Errorf("stored events %v", got)
	}
	// Compliance as the server reports it: every host has the update.
	hosts := e.hosts()
	for i := range hosts {
		if !slices.Contains(hosts[i].Installed, update) {
			t.Fatalf("host %s inventory %v lacks %s", hosts[i].ID, hosts[i].Installed, update)
		}
		hosts[i].Interval = time.Hour // the simulated 100ms would make them look silent by now
	}
	ups, _ := e.db.ListUpdates(context.Background(), patchgate.UpdateFilter{})
	aps, _ := e.db.ListApprovals(context.Background())
	deps, _ := e.db.ListDeployments(context.Background(), "")
	rows := patchgate.Compliance(patchgate.ComplianceInput{Catalog: patchgate.NewCatalog(ups), Approvals: aps, Hosts: hosts,
		Deployments: deps, Now: time.Now(), Group: patchgate.GroupAll, UpdateID: update})
	if len(rows) != 1 || rows[0].Installed != n || rows[0].Compliant() != 1 {
		t.Fatalf("compliance %+v", rows)
	}

	// Run 3: the installed updates and ETags were kept with the
	// identities: nothing to do, every check-in is "not modified".
	ids = readIdentities(t, cfg.IdentityFile)
	if len(ids) != n || !slices.Equal(ids[0].Installed, []string{update}) || ids[0].ETag == "" {
		t.Fatalf("identity file after run 2: %d lines, first %+v", len(ids), ids[0])
	}
	cfg3 := cfg
	s3 := e.run(cfg3)
	if s3.Enrolled != 0 || s3.InstallsDone != 0 || s3.EventsSent != 0 || s3.ErrorsAll != 0 {
		t.Fatalf("run 3: %+v", s3)
	}
	c200, c304 = endpoint(t, s3, sim.EpCheckin200).Count, endpoint(t, s3, sim.EpCheckin304).Count
	if c200 != 0 || c304 == 0 || int64(c304) != s3.Cycles {
		t.Errorf("run 3: check-ins 200: %d, 304: %d, cycles %d", c200, c304, s3.Cycles)
	}
	if got := len(e.hosts()); got != n {
		t.Fatalf("store has %d hosts after run 3", got)
	}
}

func TestFailureRate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 100
	const update = "ucce-7.2.1-hf3"
	e.publish(update, "cisco.ucce", ">=7.2(1), <7.3", 1024)
	e.approve(update)
	cfg := e.config(n, e.enrollToken())
	cfg.IdentityFile = "" // in memory only
	cfg.Templates = []sim.Template{{Name: "ucce", OS: "linux", Arch: "amd64", Products: []patchgate.InstalledProduct{{Name: "cisco.ucce", Version: "7.2(1)"}}}}
	cfg.FailureRate = 0.5
	cfg.SkipDownload = true
	// Failed hosts retry at their next check-in, until every one has it.
	cfg.WatchUpdate, cfg.StopAfterInstalled = update, n
	cfg.Duration = 30 * time.Second
	s := e.run(cfg)
	if s.StoppedBy != "until-installed" || s.InstallsDone != n || s.InstallsFailed == 0 || s.ErrorsAll != 0 {
		t.Fatalf("stopped by %s; installs %d done, %d failed; errors %v", s.StoppedBy, s.InstallsDone, s.InstallsFailed, s.Errors)
	}
	// With p = 0.5 the failures are about as many as the successes.
	if s.InstallsFailed < n/3 || s.InstallsFailed > 3*n {
		t.Errorf("%d failures for %d installs at failure rate 0.5", s.InstallsFailed, s.InstallsDone)
	}
	if c := endpoint(t, s, sim.EpContent).Count; c != 0 || s.DownloadBytes != 0 {
		t.Errorf("--skip-download downloaded %d times", c)
	}
	got := e.deploymentEvents(update)
	if int64(got[patchgate.StateFailed]) != s.InstallsFailed || int64(got[patchgate.StateInstalled]) != s.InstallsDone ||
		int64(got[patchgate.StateDownloading]) != s.InstallsDone+s.InstallsFailed {
		t.Errorf("stored events %v, summary %d installed, %d failed", got, s.InstallsDone, s.InstallsFailed)
	}
	if s.EventsAccepted != s.EventsSent || s.EventsSent != 3*(s.InstallsDone+s.InstallsFailed) {
		t.Errorf("events sent %d, accepted %d", s.EventsSent, s.EventsAccepted)
	}
}

func TestCheckinRate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.config(50, e.enrollToken())
	cfg.IdentityFile = ""
	cfg.CheckinRate = 200
	cfg.Duration = time.Second
	s := e.run(cfg)
	checkins := endpoint(t, s, sim.EpCheckin200).Count + endpoint(t, s, sim.EpCheckin304).Count
	if s.Mode != "rate" || s.Cycles < 100 || s.Cycles > 210 || int64(checkins) != s.Cycles || s.ErrorsAll != 0 {
		t.Fatalf("mode %s, cycles %d, check-ins %d, missed %d, errors %v", s.Mode, s.Cycles, checkins, s.Missed, s.Errors)
	}
	// Hosts take turns: each checked in about 4 times, the first with 200.
	if c := endpoint(t, s, sim.EpCheckin200).Count; c != 50 {
		t.Errorf("%d full answers, want one per host", c)
	}
}

func TestEnrolmentRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.config(20, "pge.nosuch.token")
	s, err := sim.Run(context.Background(), cfg)
	if err == nil || s == nil || s.Enrolled != 0 || s.EnrollFails == 0 || len(s.Errors) == 0 || !strings.HasPrefix(s.Errors[0].Kind, "enroll: HTTP 401 unauthorized") {
		t.Fatalf("err %v, summary %+v", err, s)
	}
	// A refusal stops the enrolment rather than trying every host.
	if s.EnrollFails > int64(cfg.EnrollConcurrency) {
		t.Errorf("%d enrolment attempts after the first refusal", s.EnrollFails)
	}
}

func TestConfigErrorsNameTheFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	base := sim.Config{Server: "http://127.0.0.1:1", Client: http.DefaultClient, EnrollToken: "t", Hosts: 1, Duration: time.Second}
	for field, mutate := range map[string]func(*sim.Config){
		"server":             func(c *sim.Config) { c.Server = "ftp://x" },
		"hosts":              func(c *sim.Config) { c.Hosts = 0 },
		"jitter":             func(c *sim.Config) { c.Jitter = 1 },
		"duration":           func(c *sim.Config) { c.Duration = 0 },
		"failure-rate":       func(c *sim.Config) { c.FailureRate = 1.5 },
		"checkin-rate":       func(c *sim.Config) { c.CheckinRate = -1 },
		"start-spread":       func(c *sim.Config) { c.StartSpread = -time.Second },
		"max-in-flight":      func(c *sim.Config) { c.MaxInFlight = -1 },
		"enroll-concurrency": func(c *sim.Config) { c.EnrollConcurrency = -2 },
		"count":              func(c *sim.Config) { c.StopAfterInstalled = 5 },
		"until-installed":    func(c *sim.Config) { c.WatchUpdate = "bad id" },
		"enroll-token":       func(c *sim.Config) { c.EnrollToken = "" },
		"long-poll":          func(c *sim.Config) { c.LongPoll = 10 * time.Minute },
		"templates[0].products[0].version": func(c *sim.Config) {
			c.Templates = []sim.Template{{Name: "x", Products: []patchgate.InstalledProduct{{Name: "openssl", Version: "1 2"}}}}
		},
		"identities": func(c *sim.Config) {
			c.IdentityFile = filepath.Join(dir, "ids")
			os.WriteFile(c.IdentityFile, []byte(`{"host_id":"h1","credential":"c","template":"gone"}`+"\n"), 0o600)
		},
	} {
		cfg := base
		mutate(&cfg)
		_, err := sim.Run(context.Background(), cfg)
		var pe *patchgate.Error
		if !errors.As(err, &pe) || pe.Field != field {
			t.Errorf("%s: err %v", field, err)
		}
	}
}

// TestLongPollHotfix: hosts in long-poll mode hold a check-in open; an
// approval reaches every one of them through its held check-in, long
// before the next ordinary check-in (an hour away).
func TestLongPollHotfix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 40
	const update = "ucce-7.2.1-hf3"
	e.publish(update, "cisco.ucce", ">=7.2(1), <7.3", 1024)
	tr := &http.Transport{MaxIdleConns: n + 16, MaxIdleConnsPerHost: n + 16, IdleConnTimeout: time.Minute}
	t.Cleanup(tr.CloseIdleConnections)
	cfg := e.config(n, e.enrollToken())
	cfg.Client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	cfg.IdentityFile = ""
	cfg.Templates = []sim.Template{{Name: "ucce", OS: "linux", Arch: "amd64", Products: []patchgate.InstalledProduct{{Name: "cisco.ucce", Version: "7.2(1)"}}}}
	cfg.Interval, cfg.LongPoll = time.Hour, 20*time.Second
	var clients atomic.Int64
	cfg.HostClient = func() *http.Client {
		clients.Add(1)
		return &http.Client{Transport: tr, Timeout: 30 * time.Second}
	}
	cfg.WatchUpdate, cfg.StopAfterInstalled = update, n
	cfg.Duration = 60 * time.Second
	go func() {
		for range 3000 {
			if e.srv.HeldCheckins() == n {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		e.approve(update)
	}()
	s := e.run(cfg)
	if s.StoppedBy != "until-installed" || s.InstallsDone != n || s.ErrorsAll != 0 || s.LongPoll != "20s" {
		t.Fatalf("stopped by %s; installs %d; errors %v; long poll %q", s.StoppedBy, s.InstallsDone, s.Errors, s.LongPoll)
	}
	// One ordinary cycle per host; the plan came through a held check-in.
	if s.Cycles != n {
		t.Errorf("%d ordinary cycles, want %d", s.Cycles, n)
	}
	if c := endpoint(t, s, sim.EpHold200).Count; c < n {
		t.Errorf("%d held check-ins answered with a plan, want at least %d", c, n)
	}
	if s.Watch == nil || s.Watch.HostsStarted != n {
		t.Errorf("watch %+v", s.Watch)
	}
	if c := clients.Load(); c != n {
		t.Errorf("%d host clients made, want one per host", c)
	}
}
