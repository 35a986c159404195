package trust

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/patchgate/patchgate/atomicfile"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
)

const sha1 = "1111111111111111111111111111111111111111111111111111111111111111"
const sha2 = "2222222222222222222222222222222222222222222222222222222222222222"

func upd(id string, rev int, ps ...patchgate.Payload) patchgate.Update {
	return patchgate.Update{ID: id, Revision: rev, Payloads: ps}
}

func TestCatalogTargets(t *testing.T) {
	fix := patchgate.Payload{Name: "fix.sh", Size: 10, SHA256: sha1, Installer: "exec", Args: []string{"--quiet"}}
	deb := patchgate.Payload{Name: "a.deb", Size: 20, SHA256: sha2, Installer: "dpkg", Constituent: "hf1"}
	cases := []struct {
		name    string
		updates []patchgate.Update
		status  map[string]patchgate.UpdateStatus
		origin  map[string]string
		want    []string
		skipped int
	}{
		{"posted", []patchgate.Update{upd("hf3", 2, fix)}, map[string]patchgate.UpdateStatus{"hf3": patchgate.StatusPosted}, nil, []string{"hf3/r2/fix.sh"}, 0},
		{"superseded stays", []patchgate.Update{upd("hf3", 1, fix, deb)}, map[string]patchgate.UpdateStatus{"hf3": patchgate.StatusSuperseded}, nil, []string{"hf3/r1/fix.sh", "hf3/r1/a.deb"}, 0},
		{"withdrawn removed", []patchgate.Update{upd("hf3", 1, fix)}, map[string]patchgate.UpdateStatus{"hf3": patchgate.StatusWithdrawn}, nil, nil, 0},
		{"testing signed (test groups install it)", []patchgate.Update{upd("hf3", 1, fix)}, map[string]patchgate.UpdateStatus{"hf3": patchgate.StatusTesting}, nil, []string{"hf3/r1/fix.sh"}, 0},
		{"received signed", []patchgate.Update{upd("hf3", 1, fix)}, map[string]patchgate.UpdateStatus{"hf3": patchgate.StatusReceived}, nil, []string{"hf3/r1/fix.sh"}, 0},
		{"failed not signed", []patchgate.Update{upd("hf3", 1, fix)}, map[string]patchgate.UpdateStatus{"hf3": patchgate.StatusFailed}, nil, nil, 0},
		{"no status", []patchgate.Update{upd("hf3", 1, fix)}, nil, nil, nil, 0},
		{"synced never signed here (its publisher's repository is mirrored)", []patchgate.Update{upd("hf3", 1, fix)}, map[string]patchgate.UpdateStatus{"hf3": patchgate.StatusPosted}, map[string]string{"hf3": "vendor"}, nil, 0},
		{"local signed beside a synced one", []patchgate.Update{upd("hf3", 1, fix), upd("site-1", 1, deb)}, map[string]patchgate.UpdateStatus{"hf3": patchgate.StatusPosted, "site-1": patchgate.StatusPosted}, map[string]string{"hf3": "vendor"}, []string{"site-1/r1/a.deb"}, 0},
		{"bad sha skipped", []patchgate.Update{upd("hf3", 1, patchgate.Payload{Name: "x", Size: 1, SHA256: "zz"})}, map[string]patchgate.UpdateStatus{"hf3": patchgate.StatusPosted}, nil, nil, 1},
		{"slash in name skipped", []patchgate.Update{upd("hf3", 1, patchgate.Payload{Name: "../x", Size: 1, SHA256: sha1})}, map[string]patchgate.UpdateStatus{"hf3": patchgate.StatusPosted}, nil, nil, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, skipped := CatalogTargets(c.updates, c.status, c.origin)
			if len(skipped) != c.skipped {
				t.Fatalf("skipped %v, want %d", skipped, c.skipped)
			}
			if len(got) != len(c.want) {
				t.Fatalf("targets %v, want %v", keys(got), c.want)
			}
			for _, p := range c.want {
				if got[p] == nil {
					t.Fatalf("missing %s in %v", p, keys(got))
				}
			}
		})
	}
	// The file info and custom metadata of one target, exactly.
	got, _ := CatalogTargets([]patchgate.Update{upd("hf3", 2, fix)}, map[string]patchgate.UpdateStatus{"hf3": patchgate.StatusPosted}, nil)
	tf := got["hf3/r2/fix.sh"]
	if tf.Length != 10 || tf.Hashes["sha256"].String() != sha1 {
		t.Fatalf("file info %d %s", tf.Length, tf.Hashes["sha256"])
	}
	want := `{"patchgate":{"update_id":"hf3","revision":2,"payload":{"name":"fix.sh","size":10,"sha256":"` + sha1 + `","installer":"exec","args":["--quiet"]}}}`
	if string(*tf.Custom) != want {
		t.Fatalf("custom\n got %s\nwant %s", *tf.Custom, want)
	}
}

func keys(m map[string]*metadata.TargetFiles) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestValidFileName(t *testing.T) {
	for name, want := range map[string]bool{
		"root.json": true, "timestamp.json": true, "1.root.json": true, "12.snapshot.json": true, "3.targets.json": true,
		"snapshot.json": false, "targets.json": false, "0.root.json": false, "01.root.json": false, "../root.json": false,
		"..": false, "": false, "a/root.json": false, "1.timestamp.json": false, "root.json/": false, "%2e%2e": false,
		"1.root.json\x00": false, "-1.root.json": false, "12345678901.root.json": false, "/etc/passwd": false, "1.delegated.json": false,
	} {
		if got := ValidFileName(name); got != want {
			t.Errorf("ValidFileName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestValidTargetPath(t *testing.T) {
	for p, want := range map[string]bool{
		"hf3/r2/fix.sh": true, "hf3/r0/fix.sh": false, "hf3/2/fix.sh": false, "../r1/x": false, "hf3/r1/..": false,
		"/hf3/r1/x": false, "hf3/r1/a/b": false, "hf3/r1/a%2fb": false, "hf3/r1/a\\b": false, "hf3/r1/": false, "c:/r1/x": false,
	} {
		if got := ValidTargetPath(p); got != want {
			t.Errorf("ValidTargetPath(%q) = %v, want %v", p, got, want)
		}
	}
}

func FuzzNames(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		if ValidFileName(s) && (strings.ContainsAny(s, "/\\%") || strings.Contains(s, "..")) {
			t.Fatalf("ValidFileName accepted %q", s)
		}
		if ValidTargetPath(s) {
			for _, seg := range strings.Split(s, "/") {
				if seg == ".." || seg == "." || seg == "" || strings.ContainsAny(seg, "\\%") {
					t.Fatalf("ValidTargetPath accepted %q", s)
				}
			}
		}
	})
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// newRepo opens a repository with root v1 (2 of 3 keys) in a temp dir.
func newRepo(t *testing.T, c *clock) (*Repo, []ed25519.PrivateKey) {
	t.Helper()
	dir := t.TempDir()
	r, err := Open(dir, RepoLocal, c.now)
	if err != nil {
		t.Fatal(err)
	}
	files, err := r.InitRoot(filepath.Join(dir, "offline"), 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	var ks []ed25519.PrivateKey
	for _, f := range files {
		k, err := ReadKeyFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, k)
	}
	return r, ks
}

func serve(t *testing.T, r *Repo) string {
	t.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		data, err := r.ReadFile(strings.TrimPrefix(req.URL.Path, "/"))
		if err != nil {
			http.NotFound(w, req)
			return
		}
		w.Write(data)
	}))
	t.Cleanup(hs.Close)
	return hs.URL + "/"
}

// refresh runs a fresh updater from the trusted root in local, as an agent
// does, and returns it.
func refresh(t *testing.T, url, local string) (*updater.Updater, error) {
	t.Helper()
	trusted, err := os.ReadFile(filepath.Join(local, "root.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.New(url, trusted)
	if err != nil {
		t.Fatal(err)
	}
	cfg.LocalMetadataDir = local
	cfg.LocalTargetsDir = filepath.Join(local, "targets")
	cfg.RemoteTargetsURL = url
	up, err := updater.New(cfg)
	if err != nil {
		return nil, err
	}
	return up, up.Refresh()
}

func TestPublishAndUpdater(t *testing.T) {
	c := &clock{time.Now()}
	r, _ := newRepo(t, c)
	url := serve(t, r)
	root1, fp, err := r.Root1()
	if err != nil || len(fp) != 64 {
		t.Fatal(err, fp)
	}
	local := t.TempDir()
	os.WriteFile(filepath.Join(local, "root.json"), root1, 0o600)
	fix := patchgate.Payload{Name: "fix.sh", Size: 10, SHA256: sha1, Installer: "exec", Args: []string{"-y"}}
	ts, _ := CatalogTargets([]patchgate.Update{upd("hf3", 2, fix)}, map[string]patchgate.UpdateStatus{"hf3": patchgate.StatusPosted}, nil)
	if changed, err := r.Publish(ts); err != nil || !changed {
		t.Fatal(changed, err)
	}
	if changed, err := r.Publish(ts); err != nil || changed {
		t.Fatalf("same targets re-signed: %v %v", changed, err)
	}
	up, err := refresh(t, url, local)
	if err != nil {
		t.Fatal(err)
	}
	tf, err := up.GetTargetInfo("hf3/r2/fix.sh")
	if err != nil {
		t.Fatal(err)
	}
	var cu Custom
	if err := json.Unmarshal(*tf.Custom, &cu); err != nil || cu.Patchgate.Payload.Args[0] != "-y" || cu.Patchgate.Revision != 2 {
		t.Fatalf("custom %s %v", *tf.Custom, err)
	}
	// Withdrawn: the target is gone for the next updater.
	if _, err := r.Publish(map[string]*metadata.TargetFiles{}); err != nil {
		t.Fatal(err)
	}
	up, err = refresh(t, url, local)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.GetTargetInfo("hf3/r2/fix.sh"); err == nil {
		t.Fatal("withdrawn target still signed")
	}
	st, err := r.Status()
	if err != nil || st.RootFingerprint != fp || len(st.Roles) != 4 || st.Roles[1].Version != 3 {
		t.Fatalf("status %+v %v", st, err)
	}
	// Reopening loads the same state.
	r2, err := Open(filepath.Dir(filepath.Dir(r.Dir())), RepoLocal, c.now)
	if err != nil {
		t.Fatal(err)
	}
	st2, _ := r2.Status()
	if st2.Roles[3].Version != st.Roles[3].Version || st2.RootFingerprint != fp {
		t.Fatalf("reopened %+v", st2)
	}
}

func TestRefreshFakeClock(t *testing.T) {
	c := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r, _ := newRepo(t, c)
	version := func(role string) int64 {
		st, _ := r.Status()
		for _, rs := range st.Roles {
			if rs.Role == role {
				return rs.Version
			}
		}
		return 0
	}
	steps := []struct {
		advance time.Duration
		want    []string
	}{
		{time.Hour, nil},
		{11 * time.Hour, []string{"timestamp"}}, // 12h left of 24h
		{time.Hour, nil},
		{3*24*time.Hour + 12*time.Hour, []string{"snapshot", "timestamp"}}, // snapshot at half its life
		{45 * 24 * time.Hour, []string{"targets", "snapshot", "timestamp"}},
	}
	for i, s := range steps {
		c.t = c.t.Add(s.advance)
		ts := version("timestamp")
		got, err := r.Refresh()
		if err != nil || strings.Join(got, ",") != strings.Join(s.want, ",") {
			t.Fatalf("step %d: re-signed %v (%v), want %v", i, got, err, s.want)
		}
		if len(s.want) > 0 && version("timestamp") != ts+1 {
			t.Fatalf("step %d: timestamp version %d, want %d", i, version("timestamp"), ts+1)
		}
	}
	st, _ := r.Status()
	for _, rs := range st.Roles {
		if !rs.Expires.After(c.t) {
			t.Fatalf("%s expired after refresh: %v", rs.Role, rs.Expires)
		}
	}
}

func TestRootRotation(t *testing.T) {
	c := &clock{time.Now()}
	r, old := newRepo(t, c)
	url := serve(t, r)
	root1, _, _ := r.Root1()
	local := t.TempDir()
	os.WriteFile(filepath.Join(local, "root.json"), root1, 0o600)
	if _, err := refresh(t, url, local); err != nil {
		t.Fatal(err)
	}
	var fresh []ed25519.PrivateKey
	for range 3 {
		k, _ := GenerateKey()
		fresh = append(fresh, k)
	}
	cur, _ := r.ReadFile("root.json")
	// Below the old threshold (one old key): refused.
	bad, err := RotateRoot(cur, old[:1], fresh, 2, c.t.Add(RootExpiry), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetRoot(bad); err == nil || !strings.Contains(err.Error(), "threshold of the current root") {
		t.Fatalf("rotation below the old threshold accepted: %v", err)
	}
	// Not signed by the new keys: refused.
	onlyOld, _ := RotateRoot(cur, old[1:], fresh, 2, c.t.Add(RootExpiry), nil)
	m, _ := metadata.Root().FromBytes(onlyOld)
	m.Signatures = m.Signatures[:2] // drop the new keys' signatures
	unsigned, _ := m.ToBytes(true)
	if err := r.SetRoot(unsigned); err == nil || !strings.Contains(err.Error(), "own threshold") {
		t.Fatalf("rotation not signed by the new keys accepted: %v", err)
	}
	// Skipping a version: refused.
	if err := r.SetRoot(cur); err == nil {
		t.Fatal("same root version accepted again")
	}
	good, err := RotateRoot(cur, old[1:], fresh, 2, c.t.Add(RootExpiry), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetRoot(good); err != nil {
		t.Fatal(err)
	}
	up, err := refresh(t, url, local)
	if err != nil {
		t.Fatal(err)
	}
	if v := up.GetTrustedMetadataSet().Root.Signed.Version; v != 2 {
		t.Fatalf("updater trusts root v%d, want 2", v)
	}
	// The old keys alone can no longer rotate.
	cur2, _ := r.ReadFile("root.json")
	bad, _ = RotateRoot(cur2, old, old, 2, c.t.Add(RootExpiry), nil)
	if err := r.SetRoot(bad); err == nil {
		t.Fatal("old keys rotated after being replaced")
	}
	if _, err := r.InitRoot(t.TempDir(), 3, 2); err == nil {
		t.Fatal("InitRoot over an existing root")
	}
	// Renewal: same keys, a later expiry, signed by the new threshold.
	renewed, err := RotateRoot(cur2, fresh[:2], nil, 0, c.t.Add(2*RootExpiry), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetRoot(renewed); err != nil {
		t.Fatal(err)
	}
	if up, err := refresh(t, url, local); err != nil || up.GetTrustedMetadataSet().Root.Signed.Version != 3 {
		t.Fatalf("renewed root not followed: %v", err)
	}
}

// FuzzSetRoot: no input other than a properly signed next root is ever
// accepted (the fuzzer cannot sign).
func FuzzSetRoot(f *testing.F) {
	dir := f.TempDir()
	r, err := Open(dir, RepoLocal, nil)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := r.InitRoot(filepath.Join(dir, "offline"), 3, 2); err != nil {
		f.Fatal(err)
	}
	cur, _ := r.ReadFile("root.json")
	f.Add(cur)
	f.Add([]byte(strings.Replace(string(cur), `"version":1`, `"version":2`, 1)))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := r.SetRoot(data); err == nil {
			t.Fatalf("accepted an unsigned root: %s", data)
		}
	})
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	k, _ := GenerateKey()
	p := filepath.Join(dir, "k.key")
	if err := WriteKeyFile(p, k); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyFile(p, k); !errors.Is(err, os.ErrExist) {
		t.Fatalf("overwrote a key: %v", err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	got, err := ReadKeyFile(p)
	if err != nil || !got.Equal(k) {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "bad"), []byte(`{"keytype":"rsa"}`), 0o600)
	if _, err := ReadKeyFile(filepath.Join(dir, "bad")); err == nil {
		t.Fatal("read a non-ed25519 key")
	}
}

func TestExpiringRoles(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	st := func(role string, v int64, left time.Duration) Status {
		return Status{Repo: "local", Roles: []RoleStatus{{Role: role, Version: v, Expires: now.Add(left)}}}
	}
	day := 24 * time.Hour
	for _, c := range []struct {
		st   Status
		want bool
	}{
		{st("root", 1, 31*day), false},
		{st("root", 1, 30*day), true},
		{st("root", 1, -day), true},
		{st("targets", 4, 22*day), true},
		{st("targets", 4, 40*day), false},
		{st("snapshot", 9, 2*day), false},
		{st("snapshot", 9, day), true},
		{st("timestamp", 9, 12*time.Hour), false},
		{st("timestamp", 9, 5*time.Hour), true},
	} {
		got := ExpiringRoles(c.st, now, DefaultExpiryWarn())
		if (len(got) == 1) != c.want {
			t.Errorf("%+v: got %v, want alert %v", c.st.Roles[0], got, c.want)
		}
		if len(got) == 1 && got[0].Key() != "local/"+c.st.Roles[0].Role+"/"+itoaT(c.st.Roles[0].Version) {
			t.Errorf("key %s", got[0].Key())
		}
	}
}

func itoaT(v int64) string { return fmt.Sprint(v) }

func TestPruneOldVersions(t *testing.T) {
	c := &clock{time.Now()}
	r, _ := newRepo(t, c)
	for i := range KeepVersions + 5 {
		ts := map[string]*metadata.TargetFiles{}
		_, tf, _ := TargetFor(upd("hf", i+1, patchgate.Payload{Name: "x", Size: 1, SHA256: sha1}), patchgate.Payload{Name: "x", Size: 1, SHA256: sha1})
		ts["hf/r1/x"] = tf
		if _, err := r.Publish(ts); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := r.Status()
	cur := st.Roles[1].Version // targets
	for v := int64(1); v <= cur; v++ {
		_, err := r.ReadFile(fmt.Sprintf("%d.targets.json", v))
		if kept := v > cur-KeepVersions; kept != (err == nil) {
			t.Errorf("targets v%d of %d: kept=%v err=%v", v, cur, kept, err)
		}
	}
	if _, err := r.ReadFile("1.root.json"); err != nil {
		t.Fatal("root v1 pruned")
	}
}

// TestOnlineKeyRotationRecoversFastForward: an attacker with the old
// timestamp key fast-forwards an agent's timestamp; the agent is stuck
// (the genuine timestamp looks like a rollback) until a root rotation
// replaces the online keys; then it recovers.
func TestOnlineKeyRotationRecoversFastForward(t *testing.T) {
	c := &clock{time.Now()}
	r, old := newRepo(t, c)
	url := serve(t, r)
	root1, _, _ := r.Root1()
	local := t.TempDir()
	os.WriteFile(filepath.Join(local, "root.json"), root1, 0o600)
	fix := patchgate.Payload{Name: "fix.sh", Size: 10, SHA256: sha1, Installer: "exec"}
	ts, _ := CatalogTargets([]patchgate.Update{upd("hf3", 1, fix)}, map[string]patchgate.UpdateStatus{"hf3": patchgate.StatusPosted}, nil)
	if _, err := r.Publish(ts); err != nil {
		t.Fatal(err)
	}
	if _, err := refresh(t, url, local); err != nil {
		t.Fatal(err)
	}
	// The attacker signs timestamp v1000 with the stolen key; the agent
	// takes it.
	stolen, err := ReadKeyFile(filepath.Join(filepath.Dir(r.Dir()), "keys", "timestamp.key"))
	if err != nil {
		t.Fatal(err)
	}
	genuine, _ := r.ReadFile("timestamp.json")
	evil, _ := metadata.Timestamp().FromBytes(genuine)
	evil.Signed.Version = 1000
	evil.ClearSignatures()
	evil.Sign(signer(stolen))
	evilBytes, _ := evil.ToBytes(true)
	atomicfile.Write(filepath.Join(r.Dir(), "timestamp.json"), evilBytes, 0o644)
	if _, err := refresh(t, url, local); err != nil {
		t.Fatal(err)
	}
	atomicfile.Write(filepath.Join(r.Dir(), "timestamp.json"), genuine, 0o644)
	if _, err := refresh(t, url, local); err == nil {
		t.Fatal("agent took a timestamp version below the fast-forwarded one")
	}
	// Rotation of the online keys, signed by the offline root keys.
	pending, err := r.PendingOnlineKeys()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := r.PendingOnlineKeys()
	if id1, _ := pending["timestamp"].ID(); func() string { id2, _ := again["timestamp"].ID(); return id2 }() != id1 {
		t.Fatal("pending keys changed between calls")
	}
	cur, _ := r.ReadFile("root.json")
	next, err := RotateRoot(cur, old[:2], nil, 0, c.t.Add(RootExpiry), pending)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetRoot(next); err != nil {
		t.Fatal(err)
	}
	if KeyID(r.online["timestamp"]) == KeyID(stolen) {
		t.Fatal("online timestamp key not replaced")
	}
	up, err := refresh(t, url, local)
	if err != nil {
		t.Fatalf("agent did not recover after the rotation: %v", err)
	}
	if _, err := up.GetTargetInfo("hf3/r1/fix.sh"); err != nil {
		t.Fatal(err)
	}
	// A root listing keys that are neither current nor pending: refused.
	k, _ := GenerateKey()
	cur, _ = r.ReadFile("root.json")
	bad, _ := RotateRoot(cur, old[:2], nil, 0, c.t.Add(RootExpiry), map[string]*metadata.Key{"targets": PublicKey(k), "snapshot": PublicKey(k), "timestamp": PublicKey(k)})
	if err := r.SetRoot(bad); err == nil || !strings.Contains(err.Error(), "online") {
		t.Fatalf("root with foreign online keys: %v", err)
	}
	// Reopening keeps the new keys.
	r2, err := Open(filepath.Dir(filepath.Dir(r.Dir())), RepoLocal, c.now)
	if err != nil || KeyID(r2.online["timestamp"]) != KeyID(r.online["timestamp"]) {
		t.Fatalf("reopen: %v", err)
	}
}
