package agent

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

func TestMain(m *testing.M) {
	retryDelay = 10 * time.Millisecond
	os.Exit(m.Run())
}

// env is one managed host: its state dir and the files that identify it.
type env struct {
	t         *testing.T
	srv       *fakeServer
	stateDir  string
	machineID string // file path
	bootID    string // file path
	dpkgDir   string
	markers   string // where payload scripts write
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{
		t:         t,
		srv:       newFakeServer(t),
		stateDir:  filepath.Join(dir, "state"),
		machineID: filepath.Join(dir, "machine-id"),
		bootID:    filepath.Join(dir, "boot_id"),
		dpkgDir:   filepath.Join(dir, "dpkg"),
		markers:   filepath.Join(dir, "markers"),
	}
	for _, d := range []string{e.dpkgDir, e.markers} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.write(e.machineID, "0123456789abcdef0123456789abcdef\n")
	e.write(e.bootID, "boot-1\n")
	e.write(filepath.Join(e.dpkgDir, "status"), "Package: openssl\nStatus: install ok installed\nVersion: 3.0.15-1\n\n"+
		"Package: removed\nStatus: deinstall ok config-files\nVersion: 1.0\n")
	return e
}

func (e *env) write(path, content string) {
	e.t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

type testLogWriter struct {
	mu sync.Mutex
	t  *testing.T
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (e *env) config() Config {
	return Config{
		Server:        e.srv.ts.URL,
		Client:        e.srv.ts.Client(),
		StateDir:      e.stateDir,
		EnrollToken:   e.srv.token,
		Hostname:      "web-1",
		MachineIDFile: e.machineID,
		BootIDFile:    e.bootID,
		DpkgAdminDir:  e.dpkgDir,
		Interval:      time.Minute,
		Version:       "test",
		AllowUnsigned: true, // the fake server predates signed updates (trust_test.go tests them)
		Logger:        slog.New(slog.NewTextHandler(&testLogWriter{t: e.t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func (e *env) agent(mutate ...func(*Config)) *Agent {
	e.t.Helper()
	cfg := e.config()
	for _, m := range mutate {
		m(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// scriptPayload is an exec payload that appends its arguments to a marker
// file, then runs extra shell code.
func (e *env) scriptPayload(name, extra string) (patchgate.Payload, string) {
	marker := filepath.Join(e.markers, name)
	body := "#!/bin/sh\nprintf '%s\\n' \"$*\" >> \"$1\"\necho \"ran $*\"\n" + extra + "\n"
	return e.srv.addPayload(name, []byte(body), patchgate.InstallerExec, marker), marker
}

func installItem(id string, payloads ...patchgate.Payload) patchgate.PlanItem {
	return patchgate.PlanItem{UpdateID: id, Revision: 1, Title: "fix " + id, Kind: patchgate.KindHotfix,
		Severity: patchgate.SeverityCritical, Action: patchgate.ActionInstall, Reboot: patchgate.RebootMay, Payloads: payloads}
}

func (e *env) readState() state {
	e.t.Helper()
	var st state
	data, err := os.ReadFile(filepath.Join(e.stateDir, stateFile))
	if err != nil {
		e.t.Fatal(err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		e.t.Fatal(err)
	}
	return st
}

func (e *env) outbox() []string {
	e.t.Helper()
	entries, err := os.ReadDir(filepath.Join(e.stateDir, outboxDir))
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, en := range entries {
		n := strings.TrimSuffix(en.Name(), ".json")
		ids = append(ids, n[strings.IndexByte(n, '-')+1:])
	}
	return ids
}

func states(events []patchgate.Event) []string {
	var s []string
	for _, ev := range events {
		s = append(s, ev.UpdateID+":"+string(ev.State))
	}
	return s
}

func mustExist(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return string(data)
}

func mustNotExist(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		t.Fatalf("%s exists", path)
	}
}

func TestEnrollOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.agent()
	if err := a.Enroll(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Enroll(ctx); err != nil {
		t.Fatal(err)
	}
	// A new process on the same state dir does not enrol again either.
	if _, err := e.agent().RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.enrollCount(); n != 1 {
		t.Fatalf("enrolled %d times, want once", n)
	}
	req := e.srv.enrolls[0]
	if req.MachineID != "0123456789abcdef0123456789abcdef" || req.Inventory.Hostname != "web-1" {
		t.Errorf("enrolment request %+v", req)
	}

	fi, err := os.Stat(filepath.Join(e.stateDir, identityFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("identity.json mode %v, want 0600", fi.Mode().Perm())
	}
	for _, d := range []string{"", outboxDir, stagingDir} {
		fi, err := os.Stat(filepath.Join(e.stateDir, d))
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s/%s: mode %v, %v; want 0700", e.stateDir, d, fi.Mode().Perm(), err)
		}
	}
	var id identity
	json.Unmarshal([]byte(mustExist(t, filepath.Join(e.stateDir, identityFile))), &id)
	if id.HostID != "h-1" || id.Credential == "" || id.Server != e.srv.ts.URL || id.MachineID != req.MachineID || id.Hostname != "web-1" || id.EnrolledAt.IsZero() {
		t.Errorf("identity %+v", id)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(e.stateDir, ".*.tmp")); len(leftovers) > 0 {
		t.Errorf("temp files left behind: %v", leftovers)
	}
}

func TestEnrollErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	err := e.agent(func(c *Config) { c.EnrollToken = "" }).Enroll(ctx)
	if err == nil || !strings.Contains(err.Error(), "enrolment token is needed") {
		t.Fatalf("err = %v", err)
	}
	err = e.agent(func(c *Config) { c.EnrollToken = "wrong" }).Enroll(ctx)
	if patchgate.ErrorCode(err) != patchgate.CodeUnauthorized || !strings.Contains(err.Error(), "invalid enrolment token") {
		t.Fatalf("err = %v, want the server's unauthorized error", err)
	}
	mustNotExist(t, filepath.Join(e.stateDir, identityFile))
}

func TestCloneDetection(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.agent().Enroll(ctx); err != nil {
		t.Fatal(err)
	}
	// The disk was cloned onto another machine.
	e.write(e.machineID, "ffffffffffffffffffffffffffffffff\n")
	clone := e.agent(func(c *Config) { c.Hostname = "web-2" })
	err := clone.Enroll(ctx)
	if err == nil || !strings.Contains(err.Error(), "looks cloned from host h-1 (web-1") || !strings.Contains(err.Error(), "re-enrol") {
		t.Fatalf("err = %v, want clone detection naming the original host", err)
	}
	if _, err := clone.RunOnce(ctx); err == nil || !strings.Contains(err.Error(), "cloned") {
		t.Fatalf("RunOnce err = %v, want clone detection", err)
	}
	if n := e.srv.enrollCount(); n != 1 {
		t.Fatalf("enrolments: %d", n)
	}

	re := e.agent(func(c *Config) { c.Hostname = "web-2"; c.ReEnroll = true })
	if err := re.Enroll(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := re.RunOnce(ctx); err != nil { // ReEnroll acts once
		t.Fatal(err)
	}
	if n := e.srv.enrollCount(); n != 2 {
		t.Fatalf("enrolments: %d, want 2", n)
	}
	var id identity
	json.Unmarshal([]byte(mustExist(t, filepath.Join(e.stateDir, identityFile))), &id)
	if id.HostID != "h-2" || id.MachineID != "ffffffffffffffffffffffffffffffff" || id.Hostname != "web-2" {
		t.Fatalf("identity after re-enrolment %+v", id)
	}
	if err := e.agent(func(c *Config) { c.Hostname = "web-2" }).Enroll(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestCloneDetectionWithoutMachineID(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	noID := func(c *Config) { c.MachineIDFile = filepath.Join(t.TempDir(), "missing") }
	if err := e.agent(noID).Enroll(ctx); err != nil {
		t.Fatal(err)
	}
	fallback := mustExist(t, filepath.Join(e.stateDir, machineIDFile))
	if e.srv.enrolls[0].MachineID != strings.TrimSpace(fallback) {
		t.Fatalf("enrolled with machine id %q, stored %q", e.srv.enrolls[0].MachineID, fallback)
	}
	if err := e.agent(noID).Enroll(ctx); err != nil {
		t.Fatal(err)
	}
	err := e.agent(noID, func(c *Config) { c.Hostname = "db-7" }).Enroll(ctx)
	if err == nil || !strings.Contains(err.Error(), "looks cloned from host h-1") {
		t.Fatalf("err = %v, want clone detection by hostname", err)
	}
}

func TestOtherServer(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.agent().Enroll(ctx); err != nil {
		t.Fatal(err)
	}
	other := newFakeServer(t)
	err := e.agent(func(c *Config) { c.Server = other.ts.URL }).Enroll(ctx)
	if err == nil || !strings.Contains(err.Error(), "is enrolled with server") {
		t.Fatalf("err = %v", err)
	}
}

func TestInstallExecPayload(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p, marker := e.scriptPayload("fix.sh", "echo done >&2")
	e.srv.setItems(installItem("PG-1", p))
	a := e.agent(func(c *Config) {
		c.Products = []patchgate.InstalledProduct{{Name: "cisco.ucce", Version: "7.2(1)"}}
	})

	sum, err := a.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Installed != 1 || sum.Failed != 0 || sum.Skipped != 0 || sum.NotModified {
		t.Fatalf("summary %+v", sum)
	}
	if got := mustExist(t, marker); got != marker+"\n" {
		t.Fatalf("marker = %q: the payload must get exactly its fixed args", got)
	}

	events := e.srv.eventList()
	if got := states(events); !slices.Equal(got, []string{"PG-1:downloading", "PG-1:installing", "PG-1:installed"}) {
		t.Fatalf("events %v", got)
	}
	seen := map[string]bool{}
	for _, ev := range events {
		if len(ev.ID) != 32 || seen[ev.ID] || ev.Type != patchgate.EventDeployment || ev.Time.IsZero() {
			t.Fatalf("bad event %+v", ev)
		}
		seen[ev.ID] = true
		if e.srv.receipts[ev.ID] != 1 {
			t.Errorf("event %s received %d times", ev.ID, e.srv.receipts[ev.ID])
		}
	}
	if last := events[2]; last.ExitCode != 0 || !strings.Contains(last.Detail, "ran "+marker) || !strings.Contains(last.Detail, "done") {
		t.Errorf("installed event detail %q", last.Detail)
	}
	if len(e.outbox()) != 0 {
		t.Errorf("outbox not empty: %v", e.outbox())
	}

	// The second check-in told the server; the inventory is complete.
	inv := e.srv.lastCheckin()
	if !slices.Equal(inv.Installed, []string{"PG-1"}) || inv.Hostname != "web-1" || inv.Agent != "test" || inv.Interval != time.Minute || inv.Mode != patchgate.ModeAutomatic {
		t.Errorf("inventory %+v", inv)
	}
	wantProducts := []patchgate.InstalledProduct{{Name: "cisco.ucce", Version: "7.2(1)"}, {Name: "openssl", Version: "3.0.15-1"}}
	if !slices.Equal(inv.Products, wantProducts) {
		t.Errorf("products %+v, want %+v", inv.Products, wantProducts)
	}
	st := e.readState()
	if !slices.Equal(st.Installed, []string{"PG-1"}) || st.Journal != nil || st.LastETag == "" {
		t.Errorf("state %+v", st)
	}
	if entries, _ := os.ReadDir(filepath.Join(e.stateDir, stagingDir)); len(entries) != 0 {
		t.Errorf("staging not cleaned: %v", entries)
	}

	// Nothing changed: the server answers 304 and nothing runs again.
	sum, err = a.RunOnce(ctx)
	if err != nil || !sum.NotModified || sum.Installed != 0 {
		t.Fatalf("second run: %+v, %v", sum, err)
	}
	if got := mustExist(t, marker); got != marker+"\n" {
		t.Fatalf("payload ran again: %q", got)
	}
}

func TestRangeResume(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// A payload big enough to need several writes.
	p, marker := e.scriptPayload("big.sh", "# "+strings.Repeat("padding ", 40000))
	half := p.Size / 2
	e.srv.set(func(s *fakeServer) {
		s.contentHook = func(w http.ResponseWriter, r *http.Request, sha string, call int) bool {
			if call > 1 {
				return false
			}
			w.Header().Set("Content-Length", strconv.FormatInt(p.Size, 10))
			w.WriteHeader(http.StatusOK)
			w.Write(s.content[sha][:half])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the connection drops mid-body
		}
	})
	e.srv.setItems(installItem("PG-2", p))
	sum, err := e.agent().RunOnce(ctx)
	if err != nil || sum.Installed != 1 {
		t.Fatalf("summary %+v, err %v", sum, err)
	}
	mustExist(t, marker)
	if want := []string{"", "bytes=" + strconv.FormatInt(half, 10) + "-"}; !slices.Equal(e.srv.contentReqs, want) {
		t.Fatalf("content requests (Range headers) %q, want %q", e.srv.contentReqs, want)
	}
}

func TestResumeAcrossRuns(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p, marker := e.scriptPayload("fix.sh", "")
	// A previous run got the first 10 bytes before the agent stopped.
	if err := e.agent().Enroll(ctx); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(e.stateDir, stagingDir, p.SHA256+".part")
	e.write(part, string(e.srv.content[p.SHA256][:10]))
	e.srv.setItems(installItem("PG-3", p))
	if sum, err := e.agent().RunOnce(ctx); err != nil || sum.Installed != 1 {
		t.Fatalf("summary %+v, err %v", sum, err)
	}
	mustExist(t, marker)
	if !slices.Equal(e.srv.contentReqs, []string{"bytes=10-"}) {
		t.Fatalf("Range headers %q", e.srv.contentReqs)
	}
}

// TestResumeWithTamperedPrefix: the sha256 is computed as the bytes stream
// in, over what a partial download already held too, so a partial file
// altered while the agent was down is caught: nothing runs.
func TestResumeWithTamperedPrefix(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p, marker := e.scriptPayload("fix.sh", "")
	if err := e.agent().Enroll(ctx); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(e.stateDir, stagingDir, p.SHA256+".part")
	prefix := []byte(string(e.srv.content[p.SHA256][:10]))
	prefix[0] ^= 0x20
	e.write(part, string(prefix))
	e.srv.setItems(installItem("PG-3", p))
	sum, err := e.agent().RunOnce(ctx)
	if err == nil || sum.Failed != 1 || sum.Installed != 0 {
		t.Fatalf("summary %+v, err %v; want the install refused", sum, err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a payload with a tampered partial download ran")
	}
	if _, err := os.Stat(part); err == nil {
		t.Fatal("the tampered partial download was kept")
	}
	if !slices.Equal(e.srv.contentReqs, []string{"bytes=10-"}) {
		t.Fatalf("Range headers %q: the download should have resumed", e.srv.contentReqs)
	}
}

func TestTamperedPayloadNeverRuns(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(orig []byte) []byte
		detail string
	}{
		{"same size", func(b []byte) []byte {
			return []byte(strings.Replace(string(b), "ran", "RAN", 1))
		}, "hash mismatch"},
		{"longer", func(b []byte) []byte { return append(b, "\ntouch /tmp/owned\n"...) }, "size mismatch"},
		{"shorter", func(b []byte) []byte { return b[:len(b)-3] }, "size mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			p, marker := e.scriptPayload("fix.sh", "")
			e.srv.set(func(s *fakeServer) { s.content[p.SHA256] = tc.tamper(s.content[p.SHA256]) })
			e.srv.setItems(installItem("PG-4", p))
			sum, err := e.agent().RunOnce(context.Background())
			if err == nil || sum.Failed != 1 || sum.Installed != 0 {
				t.Fatalf("summary %+v, err %v; want a failure", sum, err)
			}
			mustNotExist(t, marker)
			events := e.srv.eventList()
			if got := states(events); !slices.Equal(got, []string{"PG-4:downloading", "PG-4:failed"}) {
				t.Fatalf("events %v", got)
			}
			if d := events[1].Detail; !strings.Contains(d, tc.detail) || !strings.Contains(d, "never run") {
				t.Errorf("failed event detail %q, want %q", d, tc.detail)
			}
			if entries, _ := os.ReadDir(filepath.Join(e.stateDir, stagingDir)); len(entries) != 0 {
				t.Errorf("tampered download kept: %v", entries)
			}
			st := e.readState()
			if len(st.Installed) != 0 || st.Journal != nil || st.LastETag != "" {
				t.Errorf("state %+v", st)
			}
		})
	}
}

func TestOutboxWhileServerCannotTakeReports(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p, marker := e.scriptPayload("fix.sh", "")
	e.srv.setItems(installItem("PG-5", p))
	e.srv.set(func(s *fakeServer) { s.eventsMode = "down" })
	a := e.agent()

	sum, err := a.RunOnce(ctx)
	if err == nil || !strings.Contains(err.Error(), "database unavailable") {
		t.Fatalf("err = %v, want the reporting failure", err)
	}
	if sum.Installed != 1 {
		t.Fatalf("summary %+v", sum)
	}
	mustExist(t, marker)
	queued := e.outbox()
	if len(queued) != 3 || len(e.srv.eventList()) != 0 {
		t.Fatalf("outbox %v, server has %d events", queued, len(e.srv.eventList()))
	}

	// The server stores the next delivery but the answer is lost: the
	// events stay queued and are sent again with the same IDs.
	e.srv.set(func(s *fakeServer) { s.eventsMode = "lost-ack" })
	if _, err := a.RunOnce(ctx); err == nil {
		t.Fatal("lost acknowledgement not noticed")
	}
	if again := e.outbox(); !slices.Equal(again, queued) {
		t.Fatalf("outbox changed: %v, was %v", again, queued)
	}

	e.srv.set(func(s *fakeServer) { s.eventsMode = "" })
	sum, err = a.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.EventsSent != 3 || sum.Installed != 0 || len(e.outbox()) != 0 {
		t.Fatalf("summary %+v, outbox %v", sum, e.outbox())
	}
	events := e.srv.eventList()
	var ids []string
	for _, ev := range events {
		ids = append(ids, ev.ID)
	}
	if !slices.Equal(ids, queued) {
		t.Fatalf("server has events %v, want exactly the queued %v", ids, queued)
	}
	if got := states(events); !slices.Equal(got, []string{"PG-5:downloading", "PG-5:installing", "PG-5:installed"}) {
		t.Fatalf("events %v", got)
	}
	for _, id := range queued {
		if n := e.srv.receipts[id]; n != 2 {
			t.Errorf("event %s received %d times, want 2 (lost ack, then retry)", id, n)
		}
	}
	if got := mustExist(t, marker); got != marker+"\n" {
		t.Fatalf("payload ran %d times", strings.Count(got, "\n"))
	}
}

func TestManualPlanInstallsNothing(t *testing.T) {
	e := newEnv(t)
	p, marker := e.scriptPayload("fix.sh", "")
	e.srv.setItems(installItem("PG-6", p))
	e.srv.set(func(s *fakeServer) { s.manual = true })
	a := e.agent(func(c *Config) { c.Mode = patchgate.ModeManual })
	sum, err := a.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Manual || sum.Skipped != 1 || sum.Installed != 0 {
		t.Fatalf("summary %+v", sum)
	}
	mustNotExist(t, marker)
	if len(e.srv.eventList()) != 0 || len(e.srv.contentReqs) != 0 {
		t.Fatalf("manual host downloaded or reported: %v %v", e.srv.eventList(), e.srv.contentReqs)
	}
	if inv := e.srv.lastCheckin(); inv.Mode != patchgate.ModeManual {
		t.Fatalf("mode reported %q", inv.Mode)
	}
	// The plan is remembered: unchanged, the next check-in is a 304.
	if sum, err := a.RunOnce(context.Background()); err != nil || !sum.NotModified {
		t.Fatalf("second run %+v, %v", sum, err)
	}
}

func TestCrashRecovery(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p, marker := e.scriptPayload("fix.sh", "")
	e.srv.setItems(installItem("PG-7", p))
	if err := e.agent().Enroll(ctx); err != nil {
		t.Fatal(err)
	}
	// The agent died while the installer ran.
	crashed := state{Installed: []string{}, LastETag: `"stale"`,
		Journal: &journal{UpdateID: "PG-7", Action: patchgate.ActionInstall, Step: stepInstalling, Started: time.Now()}}
	data, _ := json.Marshal(crashed)
	e.write(filepath.Join(e.stateDir, stateFile), string(data))

	a := e.agent()
	sum, err := a.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Skipped != 1 || sum.Installed != 0 {
		t.Fatalf("summary %+v: an interrupted install must not be re-run in the same cycle", sum)
	}
	mustNotExist(t, marker)
	events := e.srv.eventList()
	if got := states(events); !slices.Equal(got, []string{"PG-7:failed"}) || events[0].Detail != detailInterrupted {
		t.Fatalf("events %v %+v", got, events)
	}
	if st := e.readState(); st.Journal != nil || st.LastETag != "" {
		t.Fatalf("state %+v", st)
	}

	// The next cycle's plan offers it again and it installs.
	sum, err = a.RunOnce(ctx)
	if err != nil || sum.Installed != 1 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	mustExist(t, marker)
}

func TestInterruptedDownloadResumesAtOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p, marker := e.scriptPayload("fix.sh", "")
	e.srv.setItems(installItem("PG-8", p))
	if err := e.agent().Enroll(ctx); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(state{Journal: &journal{UpdateID: "PG-8", Action: patchgate.ActionInstall, Step: stepDownloading}})
	e.write(filepath.Join(e.stateDir, stateFile), string(data))
	sum, err := e.agent().RunOnce(ctx)
	if err != nil || sum.Installed != 1 || sum.Skipped != 0 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	mustExist(t, marker)
}

func TestFailedInstallReportsExitCodeAndOutput(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p, marker := e.scriptPayload("fix.sh", "echo 'cannot stop service' >&2; exit 5")
	e.srv.setItems(installItem("PG-9", p))
	a := e.agent()
	sum, err := a.RunOnce(ctx)
	if err == nil || !strings.Contains(err.Error(), "1 of 1 updates failed") || sum.Failed != 1 {
		t.Fatalf("summary %+v, err %v", sum, err)
	}
	mustExist(t, marker)
	events := e.srv.eventList()
	last := events[len(events)-1]
	if last.State != patchgate.StateFailed || last.ExitCode != 5 || !strings.Contains(last.Detail, "exited with code 5") || !strings.Contains(last.Detail, "cannot stop service") {
		t.Fatalf("failed event %+v", last)
	}
	if st := e.readState(); len(st.Installed) != 0 || st.LastETag != "" {
		t.Fatalf("state %+v", st)
	}
	// Failures are retried next cycle: no 304.
	if sum, _ := a.RunOnce(ctx); sum.NotModified || sum.Failed != 1 {
		t.Fatalf("retry summary %+v", sum)
	}
}

func TestUninstall(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p, marker := e.scriptPayload("fix.sh", "")
	e.srv.setItems(installItem("PG-10", p))
	a := e.agent()
	if _, err := a.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	un := installItem("PG-10", p)
	un.Action = patchgate.ActionUninstall
	e.srv.setItems(un)
	sum, err := a.RunOnce(ctx)
	if err != nil || sum.Uninstalled != 1 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	if got := mustExist(t, marker); got != marker+"\n"+marker+" --uninstall\n" {
		t.Fatalf("marker %q", got)
	}
	if st := e.readState(); len(st.Installed) != 0 {
		t.Fatalf("still installed: %+v", st)
	}
	events := e.srv.eventList()
	if last := events[len(events)-1]; last.State != patchgate.StateNotApplicable || !strings.HasPrefix(last.Detail, "uninstalled") {
		t.Fatalf("last event %+v", last)
	}
	if inv := e.srv.lastCheckin(); len(inv.Installed) != 0 {
		t.Fatalf("inventory %+v", inv)
	}
}

func TestRebootPending(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p, _ := e.scriptPayload("fix.sh", "exit 100")
	e.srv.setItems(installItem("PG-11", p))
	a := e.agent()
	sum, err := a.RunOnce(ctx)
	if err != nil || sum.Installed != 1 || !sum.RebootRequired {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	st := e.readState()
	if !slices.Equal(st.Installed, []string{"PG-11"}) || !slices.Equal(st.RebootPending, []string{"PG-11"}) || st.BootID != "boot-1" {
		t.Fatalf("state %+v", st)
	}
	if inv := e.srv.lastCheckin(); !slices.Equal(inv.RebootPending, []string{"PG-11"}) {
		t.Fatalf("inventory %+v", inv)
	}
	events := e.srv.eventList()
	if last := events[len(events)-1]; last.State != patchgate.StateRebootPending || last.ExitCode != 100 {
		t.Fatalf("last event %+v", last)
	}
	// Same boot: still pending.
	if _, err := a.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if st := e.readState(); len(st.RebootPending) != 1 {
		t.Fatalf("state %+v", st)
	}
	e.write(e.bootID, "boot-2\n")
	if _, err := a.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if st := e.readState(); len(st.RebootPending) != 0 || !slices.Equal(st.Installed, []string{"PG-11"}) {
		t.Fatalf("state after reboot %+v", st)
	}
	events = e.srv.eventList()
	if last := events[len(events)-1]; last.State != patchgate.StateInstalled || last.Detail != "reboot completed" {
		t.Fatalf("last event %+v", last)
	}
	if inv := e.srv.lastCheckin(); len(inv.RebootPending) != 0 {
		t.Fatalf("inventory %+v", inv)
	}
}

func TestRefusesBadPlanItems(t *testing.T) {
	e := newEnv(t)
	good, _ := e.scriptPayload("fix.sh", "")
	badSHA := good
	badSHA.SHA256 = "../../../etc/passwd"
	msi := good
	msi.Installer = "msi"
	huge := good
	huge.Size = MaxPayloadSize + 1
	decline := installItem("PG-D", good)
	decline.Action = patchgate.ActionDecline
	e.srv.setItems(
		installItem("PG-S", badSHA),
		installItem("PG-M", msi),
		installItem("PG-H", huge),
		installItem("PG-E"),
		decline,
		installItem("bad id/..", good),
	)
	sum, err := e.agent().RunOnce(context.Background())
	if err == nil || sum.Failed != 6 || sum.Installed != 0 {
		t.Fatalf("summary %+v, err %v", sum, err)
	}
	if len(e.srv.contentReqs) != 0 {
		t.Fatalf("downloaded for refused items: %v", e.srv.contentReqs)
	}
	got := states(e.srv.eventList())
	want := []string{"PG-S:failed", "PG-M:failed", "PG-H:failed", "PG-E:failed", "PG-D:failed"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

func TestCredentialRejected(t *testing.T) {
	e := newEnv(t)
	a := e.agent()
	if err := a.Enroll(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.srv.set(func(s *fakeServer) { s.rejectCreds = true })
	_, err := a.RunOnce(context.Background())
	var pe *patchgate.Error
	if !errors.As(err, &pe) || pe.Code != patchgate.CodeUnauthorized || !strings.Contains(err.Error(), "host credential rejected") || !strings.Contains(err.Error(), "re-enrol") {
		t.Fatalf("err = %v, want a clear unauthorized error", err)
	}
}

func TestServerDown(t *testing.T) {
	e := newEnv(t)
	a := e.agent()
	if err := a.Enroll(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.srv.ts.Close()
	if _, err := a.RunOnce(context.Background()); err == nil || !strings.Contains(err.Error(), "check-in") {
		t.Fatalf("err = %v", err)
	}
}

func TestNoRedirects(t *testing.T) {
	e := newEnv(t)
	elsewhere := newFakeServer(t)
	redirect := http.NewServeMux()
	redirect.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.ts.URL+r.URL.Path, http.StatusTemporaryRedirect)
	})
	e.srv.ts.Config.Handler = redirect
	err := e.agent().Enroll(context.Background())
	if err == nil || elsewhere.enrollCount() != 0 {
		t.Fatalf("followed a redirect: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	e := newEnv(t)
	for name, mutate := range map[string]func(*Config){
		"no server":      func(c *Config) { c.Server = "" },
		"ftp server":     func(c *Config) { c.Server = "ftp://x" },
		"no client":      func(c *Config) { c.Client = nil },
		"no state dir":   func(c *Config) { c.StateDir = "" },
		"bad mode":       func(c *Config) { c.Mode = "sometimes" },
		"bad product":    func(c *Config) { c.Products = []patchgate.InstalledProduct{{Name: "Bad Name", Version: "1"}} },
		"bad version":    func(c *Config) { c.Products = []patchgate.InstalledProduct{{Name: "x", Version: "1 2"}} },
		"bad jitter":     func(c *Config) { c.Jitter = 1 },
		"negative inter": func(c *Config) { c.Interval = -time.Second },
	} {
		cfg := e.config()
		mutate(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRunLoop(t *testing.T) {
	e := newEnv(t)
	a := e.agent(func(c *Config) { c.Interval = 10 * time.Millisecond; c.Jitter = 0.5 })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
	e.srv.mu.Lock()
	n := len(e.srv.checkins)
	e.srv.mu.Unlock()
	if n < 3 {
		t.Fatalf("%d check-ins in 300ms at a 10ms interval", n)
	}
}

func TestTruncate(t *testing.T) {
	s := strings.Repeat("é", 10) // 20 bytes
	for n := 0; n <= 21; n++ {
		got := truncate(s, n)
		if len(got) > n || len(got) < n-1 || !strings.HasPrefix(s, got) {
			t.Errorf("truncate(%d) = %q", n, got)
		}
	}
	if got := truncate("a\xffb", 10); got != "a\uFFFDb" {
		t.Errorf("invalid UTF-8 kept: %q", got)
	}
}
