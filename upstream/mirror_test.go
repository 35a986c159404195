package upstream_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/content"
	"github.com/patchgate/patchgate/server"
	"github.com/patchgate/patchgate/sqlite"
	"github.com/patchgate/patchgate/trust"
	"github.com/patchgate/patchgate/upstream"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// newSigningSite is a site whose server signs its own updates (TUF) and
// mirrors its upstreams' repositories, on clk.
func newSigningSite(t *testing.T, clk *clock) *site {
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
	repo, err := trust.Open(dir, trust.RepoLocal, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.InitRoot(filepath.Join(dir, "tuf-root-keys"), 3, 2); err != nil {
		t.Fatal(err)
	}
	mirrors := trust.NewMirrors(filepath.Join(dir, "tuf", "mirror"))
	s := &site{t: t, db: db, cs: cs, dir: dir}
	s.srv = server.New(server.Config{Store: db, Content: cs, Clock: clk.Now, Trust: server.TrustConfig{Repo: repo, Mirrors: mirrors}})
	s.sync = upstream.New(upstream.Config{Store: db, Content: cs, Clock: clk.Now, Chain: s.srv.ChainFor, OnChange: s.srv.Invalidate,
		PageSize: 3, PartialDir: filepath.Join(dir, "partial"), Mirrors: mirrors})
	s.srv.SetSyncService(s.sync)
	if s.admin, err = s.srv.BootstrapAdmin(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.http = httptest.NewServer(s.srv.Handler())
	t.Cleanup(s.http.Close)
	return s
}

func (s *site) tuf(repo, file string) []byte {
	s.t.Helper()
	resp, err := http.Get(s.http.URL + "/tuf/" + repo + "/" + file)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	if resp.StatusCode != 200 {
		s.t.Fatalf("GET /tuf/%s/%s: %d", repo, file, resp.StatusCode)
	}
	return b.Bytes()
}

// TestSyncMirrorsRepositories: a sync mirrors the vendor's repository
// verbatim and the synced update names it; metadata that does not verify
// fails the sync and keeps the last good copy; the mirror is refreshed
// between syncs, so its timestamp does not expire.
func TestSyncMirrorsRepositories(t *testing.T) {
	ctx := t.Context()
	clk := &clock{now: time.Now().UTC()}
	vendor, down := newSigningSite(t, clk), newSigningSite(t, clk)
	vendor.publish("HF-1", "cisco.ucce", patchgate.KindHotfix, []byte("one"))
	down.follow(vendor, "vendor", nil)
	run, err := down.sync.SyncNow(ctx, "vendor")
	if err != nil || run.Status != patchgate.SyncSucceeded {
		t.Fatalf("sync: %+v %v", run, err)
	}
	vid, err := vendor.db.ServerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := vendor.tuf("local", "timestamp.json"), down.tuf(vid, "timestamp.json"); !bytes.Equal(a, b) {
		t.Fatal("the mirrored timestamp differs from the vendor's")
	}
	repos, err := down.db.UpdateRepos(ctx)
	if err != nil || repos["HF-1"] != vid {
		t.Fatalf("synced update's repository: %v %v, want %s", repos, err, vid)
	}
	// The downstream never signs the synced update in its own repository.
	local, err := trust.Open(down.dir, trust.RepoLocal, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := local.Status(); err != nil || st.Targets != 0 {
		t.Fatalf("the downstream's own repository signs %d targets (%v)", st.Targets, err)
	}

	// One byte of the vendor's timestamp altered on the way: refused,
	// the last good copy stays.
	good := down.tuf(vid, "timestamp.json")
	vendor.publish("HF-2", "cisco.ucce", patchgate.KindHotfix, []byte("two"))
	vendor.tuf("local", "timestamp.json") // signs HF-2
	path := filepath.Join(vendor.dir, "tuf", "local", "timestamp.json")
	signed, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// One digit of the expiry: well-formed, no longer what was signed.
	bad := bytes.Clone(signed)
	i := bytes.Index(bad, []byte(`"expires":"`)) + len(`"expires":"`) + 3
	bad[i] = '9' - (bad[i] - '0')
	os.WriteFile(path, bad, 0o644)
	run, err = down.sync.SyncNow(ctx, "vendor")
	if err == nil || run.Status != patchgate.SyncFailed || !strings.Contains(run.Error, "mirroring TUF repository "+vid) {
		t.Fatalf("sync of altered metadata: %+v %v", run, err)
	}
	if !bytes.Equal(down.tuf(vid, "timestamp.json"), good) {
		t.Fatal("the mirror changed after a refused sync")
	}
	os.WriteFile(path, signed, 0o644)

	// Half a day later the vendor re-signs its timestamp; the refresh
	// between syncs takes it.
	clk.add(13 * time.Hour)
	vendor.srv.CheckTrust(ctx)
	fresh := vendor.tuf("local", "timestamp.json")
	if bytes.Equal(fresh, signed) {
		t.Fatal("the vendor did not re-sign its timestamp")
	}
	down.sync.RefreshMirrors(ctx)
	if !bytes.Equal(down.tuf(vid, "timestamp.json"), fresh) {
		t.Fatal("the refresh between syncs did not take the vendor's new timestamp")
	}
}
