package server_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/agentapi"
	"github.com/patchgate/patchgate/server"
	"github.com/patchgate/patchgate/trust"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
)

// newTrustEnv is newEnv with the local TUF repository (root v1, 2 of 3
// offline keys, returned) on a clock the test moves.
func newTrustEnv(t *testing.T) (*env, *trust.Repo, []ed25519.PrivateKey, *fakeClock) {
	t.Helper()
	return newTrustEnvMirrors(t, nil)
}

// newTrustEnvMirrors is newTrustEnv for a server that also serves mirrors.
func newTrustEnvMirrors(t *testing.T, mirrors *trust.Mirrors) (*env, *trust.Repo, []ed25519.PrivateKey, *fakeClock) {
	t.Helper()
	clk := &fakeClock{now: time.Now().UTC()}
	var repo *trust.Repo
	var keys []ed25519.PrivateKey
	e := newEnvWith(t, func(cfg *server.Config, dir string) {
		var err error
		if repo, err = trust.Open(dir, trust.RepoLocal, clk.Now); err != nil {
			t.Fatal(err)
		}
		files, err := repo.InitRoot(filepath.Join(dir, "tuf-root-keys"), 3, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			k, err := trust.ReadKeyFile(f)
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k)
		}
		cfg.Clock = clk.Now
		cfg.Trust = server.TrustConfig{Repo: repo, Mirrors: mirrors, Debounce: 20 * time.Millisecond}
	})
	return e, repo, keys, clk
}

// agentRefresh does what an agent does before installing: a new updater
// from its trusted root, Refresh over real HTTP.
func agentRefresh(t *testing.T, base, local string) (*updater.Updater, error) {
	t.Helper()
	trusted, err := os.ReadFile(filepath.Join(local, "root.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.New(base+"/tuf/local/", trusted)
	if err != nil {
		t.Fatal(err)
	}
	cfg.LocalMetadataDir = local
	cfg.LocalTargetsDir = filepath.Join(local, "targets")
	up, err := updater.New(cfg)
	if err != nil {
		return nil, err
	}
	return up, up.Refresh()
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func TestTUFSignedCatalog(t *testing.T) {
	e, _, _, _ := newTrustEnv(t)
	inv := patchgate.Inventory{Hostname: "web1", OS: "linux", Arch: "amd64", Mode: patchgate.ModeAutomatic,
		Products: []patchgate.InstalledProduct{{Name: "cisco.ucce", Version: "7.2(1)"}}, Interval: time.Hour}
	// Enrolment delivers the local root and its fingerprint.
	var tok adminapi.CreateTokenResponse
	e.call("POST", "/api/v1/tokens", e.admin, adminapi.CreateTokenRequest{Kind: patchgate.TokenEnroll, Group: "prod"}, &tok)
	var enr agentapi.EnrollResponse
	if st := e.call("POST", agentapi.PathEnroll, "", agentapi.EnrollRequest{Token: tok.Secret, Inventory: inv, MachineID: "m1"}, &enr); st != 201 {
		t.Fatalf("enroll: %d", st)
	}
	if len(enr.TrustRoots) != 1 || enr.TrustRoots[0].Repo != "local" {
		t.Fatalf("trust roots %+v", enr.TrustRoots)
	}
	st, root1 := get(t, e.http.URL+"/tuf/local/1.root.json")
	if st != 200 || string(root1) != string(enr.TrustRoots[0].Root) || trust.Fingerprint(root1) != enr.TrustRoots[0].Fingerprint {
		t.Fatalf("delivered root differs from 1.root.json (%d)", st)
	}
	local := t.TempDir()
	os.WriteFile(filepath.Join(local, "root.json"), enr.TrustRoots[0].Root, 0o600)

	e.publish("hf1", "cisco.ucce", ">=7.2(1), <7.3", []byte("#!/bin/sh\necho one\n"), func(m *patchgate.Manifest) {
		m.Payloads[0].Args = []string{"--quiet"}
	})
	if st := e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{"hf1"}, Group: "prod", Action: "install"}, nil); st != 200 {
		t.Fatalf("approve: %d", st)
	}
	_, _, resp := e.checkin(enr.Credential, "", inv)
	if len(resp.Plan.Items) != 1 || resp.Plan.Items[0].Repo != "local" {
		t.Fatalf("plan %+v", resp.Plan.Items)
	}
	item := resp.Plan.Items[0]
	up, err := agentRefresh(t, e.http.URL, local)
	if err != nil {
		t.Fatal(err)
	}
	tf, err := up.GetTargetInfo(trust.TargetPath(item.UpdateID, item.Revision, item.Payloads[0].Name))
	if err != nil {
		t.Fatal(err)
	}
	var cu trust.Custom
	if err := json.Unmarshal(*tf.Custom, &cu); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cu.Patchgate.Payload, item.Payloads[0]) || cu.Patchgate.UpdateID != "hf1" || cu.Patchgate.Revision != item.Revision {
		t.Fatalf("signed payload %+v, plan payload %+v", cu.Patchgate, item.Payloads[0])
	}
	if tf.Length != item.Payloads[0].Size || tf.Hashes["sha256"].String() != item.Payloads[0].SHA256 {
		t.Fatalf("file info %d %s", tf.Length, tf.Hashes["sha256"])
	}

	// Withdrawn: the next updater no longer finds the target.
	if st := e.call("POST", "/api/v1/updates/hf1/withdraw", e.admin, adminapi.WithdrawUpdateRequest{Reason: "broken"}, nil); st != 200 {
		t.Fatalf("withdraw: %d", st)
	}
	up, err = agentRefresh(t, e.http.URL, local)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.GetTargetInfo("hf1/r1/fix.sh"); err == nil {
		t.Fatal("withdrawn update still signed")
	}

	// Strict file names: only the metadata files, nothing else.
	for _, p := range []string{"/tuf/local/../tuf/keys/targets.key", "/tuf/keys/targets.key", "/tuf/local/targets.key",
		"/tuf/local/snapshot.json", "/tuf/local/%2e%2e%2fkeys%2ftargets.key", "/tuf/other/root.json", "/tuf/local/99.root.json",
		"/tuf/local/..%2f..%2fdb.sqlite", "/tuf/local/1.root.json/", "/tuf/local/0.root.json"} {
		if st, body := get(t, e.http.URL+p); st != 404 || strings.Contains(string(body), "private") {
			t.Errorf("GET %s: %d, want 404", p, st)
		}
	}
	if st, _ := get(t, e.http.URL+"/tuf/local/timestamp.json"); st != 200 {
		t.Fatalf("timestamp.json: %d", st)
	}
	var ts adminapi.TrustStatus
	if st := e.call("GET", "/api/v1/trust", e.token(patchgate.RoleViewer), nil, &ts); st != 200 || len(ts.Repos) != 1 ||
		ts.Repos[0].RootFingerprint != enr.TrustRoots[0].Fingerprint || len(ts.Repos[0].Roles) != 4 || len(ts.Repos[0].OnlineKeys) != 3 {
		t.Fatalf("trust status %d %+v", st, ts)
	}
}

func TestTUFRootRotationOverAPI(t *testing.T) {
	e, repo, old, clk := newTrustEnv(t)
	root1, _, _ := repo.Root1()
	local := t.TempDir()
	os.WriteFile(filepath.Join(local, "root.json"), root1, 0o600)
	if _, err := agentRefresh(t, e.http.URL, local); err != nil {
		t.Fatal(err)
	}
	var fresh []ed25519.PrivateKey
	for range 3 {
		k, _ := trust.GenerateKey()
		fresh = append(fresh, k)
	}
	_, cur := get(t, e.http.URL+"/tuf/local/root.json")
	// One old key is below the threshold of 2: refused, naming the field.
	bad, err := trust.RotateRoot(cur, old[:1], fresh, 2, clk.Now().Add(trust.RootExpiry), nil)
	if err != nil {
		t.Fatal(err)
	}
	var eb agentapi.ErrorBody
	if st := e.call("POST", "/api/v1/trust/root", e.admin, adminapi.SetRootRequest{Root: bad}, &eb); st != 400 || !strings.HasPrefix(eb.Message, "root") {
		t.Fatalf("rotation below the old threshold: %d %+v", st, eb)
	}
	if st := e.call("POST", "/api/v1/trust/root", e.token(patchgate.RoleApprover), adminapi.SetRootRequest{Root: bad}, nil); st != 403 {
		t.Fatalf("approver rotated the root: %d", st)
	}
	good, _ := trust.RotateRoot(cur, old[:2], fresh, 2, clk.Now().Add(trust.RootExpiry), nil)
	var ts adminapi.TrustStatus
	if st := e.call("POST", "/api/v1/trust/root", e.admin, adminapi.SetRootRequest{Root: good}, &ts); st != 200 || ts.Repos[0].Roles[0].Version != 2 {
		t.Fatalf("rotation: %d %+v", st, ts)
	}
	up, err := agentRefresh(t, e.http.URL, local)
	if err != nil {
		t.Fatal(err)
	}
	if v := up.GetTrustedMetadataSet().Root.Signed.Version; v != 2 {
		t.Fatalf("agent that trusted root v1 is at v%d, want 2", v)
	}
	if st, _ := get(t, e.http.URL+"/tuf/local/2.root.json"); st != 200 {
		t.Fatalf("2.root.json: %d", st)
	}
}

func TestTUFResignAndExpiryAlerts(t *testing.T) {
	e, repo, _, clk := newTrustEnv(t)
	version := func(role string) int64 {
		st, _ := repo.Status()
		for _, r := range st.Roles {
			if r.Role == role {
				return r.Version
			}
		}
		return 0
	}
	ts := version("timestamp")
	e.srv.CheckTrust(t.Context())
	if version("timestamp") != ts {
		t.Fatal("fresh timestamp re-signed")
	}
	clk.Add(13 * time.Hour)
	e.srv.CheckTrust(t.Context())
	if version("timestamp") != ts+1 {
		t.Fatalf("timestamp at %d after 13h, want %d", version("timestamp"), ts+1)
	}
	count := func() int {
		evs, err := e.store.ListEvents(t.Context(), patchgate.EventFilter{Type: trust.EventExpiring, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	if n := count(); n != 0 {
		t.Fatalf("%d trust.expiring events on fresh metadata", n)
	}
	// 336 days on, root v1 expires within 30 days: one alert, raised once.
	for range 28 {
		clk.Add(12 * 24 * time.Hour)
		e.srv.CheckTrust(t.Context()) // keeps the online roles fresh
		if clk.Now().After(time.Now().Add(336 * 24 * time.Hour)) {
			break
		}
	}
	e.srv.CheckTrust(t.Context())
	evs, _ := e.store.ListEvents(t.Context(), patchgate.EventFilter{Type: trust.EventExpiring, Limit: 100})
	if len(evs) != 1 || !strings.Contains(evs[0].Detail, "root metadata") {
		t.Fatalf("trust.expiring events %+v", evs)
	}
}

// TestTUFBackgroundSigning: with the server's background work running, a
// posted update is signed without anyone fetching the metadata.
func TestTUFBackgroundSigning(t *testing.T) {
	e, repo, _, _ := newTrustEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.srv.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	e.publish("hf1", "cisco.ucce", "", []byte("#!/bin/sh\necho one\n"), nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := repo.Status()
		if err != nil {
			t.Fatal(err)
		}
		if st.Targets == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not signed within 10s: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTUFConcurrentFetchAndPost: agents fetching metadata while updates
// are posted always get a consistent, verifiable repository.
func TestTUFConcurrentFetchAndPost(t *testing.T) {
	e, repo, _, _ := newTrustEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.srv.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	root1, _, _ := repo.Root1()
	errs := make(chan error, 4)
	stop := make(chan struct{})
	for range 2 {
		go func() {
			local := t.TempDir()
			os.WriteFile(filepath.Join(local, "root.json"), root1, 0o600)
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				if _, err := agentRefresh(t, e.http.URL, local); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range 5 {
		e.publish("hf"+string(rune('a'+i)), "cisco.ucce", "", []byte("#!/bin/sh\necho "+string(rune('a'+i))+"\n"), nil)
	}
	close(stop)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("an agent's refresh failed while updates were posted: %v", err)
		}
	}
	local := t.TempDir()
	os.WriteFile(filepath.Join(local, "root.json"), root1, 0o600)
	up, err := agentRefresh(t, e.http.URL, local)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(up.GetTopLevelTargets()); n != 5 {
		t.Fatalf("%d targets signed, want 5", n)
	}
}

// TestTUFMirrorExpiryAlert: a mirrored repository that its publisher stops
// re-signing (or that this server cannot refresh) raises trust.expiring
// before agents start refusing its updates; once per role and version.
func TestTUFMirrorExpiryAlert(t *testing.T) {
	up, _, _, _ := newTrustEnv(t)
	up.publish("hf1", "cisco.ucce", "", []byte("#!/bin/sh\necho one\n"), nil)
	upID, err := up.store.ServerID(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	mirrors := trust.NewMirrors(filepath.Join(t.TempDir(), "mirror"))
	if _, err := mirrors.Sync(t.Context(), trust.MirrorSource{Base: up.http.URL, Repo: upID, Client: up.http.Client(), Clock: time.Now}); err != nil {
		t.Fatal(err)
	}
	e, _, _, clk := newTrustEnvMirrors(t, mirrors)
	mirrored := func() []patchgate.Event {
		evs, err := e.store.ListEvents(t.Context(), patchgate.EventFilter{Type: trust.EventExpiring, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var out []patchgate.Event
		for _, ev := range evs {
			if strings.Contains(ev.Detail, "a mirror") {
				out = append(out, ev)
			}
		}
		return out
	}
	e.srv.CheckTrust(t.Context())
	if evs := mirrored(); len(evs) != 0 {
		t.Fatalf("alerts on a fresh mirror: %+v", evs)
	}
	// 20 hours without a refresh: the mirrored timestamp (a day's life)
	// has less than its warning (6 h) left.
	clk.Add(20 * time.Hour)
	e.srv.CheckTrust(t.Context())
	e.srv.CheckTrust(t.Context())
	evs := mirrored()
	if len(evs) != 1 || !strings.Contains(evs[0].Detail, "timestamp metadata") {
		t.Fatalf("mirror alerts after 20h: %+v", evs)
	}
}
