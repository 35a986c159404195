package trust_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/trust"
	"github.com/patchgate/patchgate/trust/trusttest"
)

// mirrorEnv is an upstream serving one repository at /tuf/srv-up/ over
// real HTTP, and a mirror directory.
type mirrorEnv struct {
	t   *testing.T
	up  *trusttest.Repo
	srv *httptest.Server
	m   *trust.Mirrors
	now time.Time
}

func newMirrorEnv(t *testing.T) *mirrorEnv {
	now := time.Now().UTC()
	up := trusttest.NewRepo(t, now)
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	return &mirrorEnv{t: t, up: up, srv: srv, m: trust.NewMirrors(filepath.Join(t.TempDir(), "mirror")), now: now}
}

func (e *mirrorEnv) sync(pin string) (bool, error) {
	return e.m.Sync(context.Background(), trust.MirrorSource{Base: e.srv.URL, Repo: "srv-up", Client: e.srv.Client(), Pin: pin,
		Clock: func() time.Time { return e.now }})
}

// served is the mirror's copy of every file the upstream serves.
func (e *mirrorEnv) served() map[string][]byte {
	out := map[string][]byte{}
	for name := range e.up.Files() {
		if b, err := e.m.ReadFile("srv-up", name); err == nil {
			out[name] = b
		}
	}
	return out
}

func (e *mirrorEnv) addTarget(id string) {
	payload := []byte("#!/bin/sh\necho " + id + "\n")
	p := patchgate.Payload{Name: "fix.sh", Size: int64(len(payload)), SHA256: trust.Fingerprint(payload), Installer: "exec"}
	e.up.AddTarget(id+"/r1/fix.sh", payload, id, 1, p)
	e.up.Publish()
}

// TestMirrorVerbatim: the mirror holds the upstream's files byte for
// byte, follows a root rotation, and serves the same root to agents.
func TestMirrorVerbatim(t *testing.T) {
	e := newMirrorEnv(t)
	e.addTarget("hf1")
	_, fp := e.up.RootBytes()
	if _, err := e.sync(strings.Repeat("0", 64)); err == nil || !strings.Contains(err.Error(), "pinned") {
		t.Fatalf("a wrong pin was accepted: %v", err)
	}
	changed, err := e.sync(fp)
	if err != nil || !changed {
		t.Fatalf("first sync: changed=%v err=%v", changed, err)
	}
	e.up.Rotate(nil)
	e.addTarget("hf2")
	if _, err := e.sync(""); err != nil {
		t.Fatalf("sync after a rotation: %v", err)
	}
	want := e.up.Files()
	got := e.served()
	for _, name := range []string{"1.root.json", "2.root.json", "root.json", "timestamp.json"} {
		if !bytes.Equal(got[name], want[name]) {
			t.Errorf("%s differs from the upstream's", name)
		}
	}
	ver := e.up.Timestamp.Signed.Meta["snapshot.json"].Version
	if name := itoa(ver) + ".snapshot.json"; !bytes.Equal(got[name], want[name]) {
		t.Errorf("%s differs from the upstream's", name)
	}
	if name := itoa(e.up.Targets.Signed.Version) + ".targets.json"; !bytes.Equal(got[name], want[name]) {
		t.Errorf("%s differs from the upstream's", name)
	}
	repos, _ := e.m.Repos()
	if len(repos) != 1 || repos[0] != "srv-up" {
		t.Errorf("repos %v", repos)
	}
	if _, rfp, err := e.m.Root1("srv-up"); err != nil || rfp != fp {
		t.Errorf("Root1: %s %v, want %s", rfp, err, fp)
	}
	pubs, err := e.m.Publishers()
	if err != nil || len(pubs) != 2 || pubs["hf1"] != "srv-up" || pubs["hf2"] != "srv-up" {
		t.Errorf("Publishers: %v %v", pubs, err)
	}
	if changed, err := e.sync(""); err != nil || changed {
		t.Errorf("a sync with nothing new: changed=%v err=%v", changed, err)
	}
	if _, err := e.m.ReadFile("srv-up", "../keys/targets.key"); err == nil {
		t.Error("a path outside the mirror was read")
	}
}

// TestMirrorRefusesBadMetadata: upstream metadata that does not verify
// (one byte altered, signed by an unknown key, rolled back, expired) is
// refused, and the last good copy stays served.
func TestMirrorRefusesBadMetadata(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(e *mirrorEnv)
		want   string
	}{
		{"one byte of the timestamp", func(e *mirrorEnv) {
			e.addTarget("hf2")
			b := bytes.Clone(e.up.File("timestamp.json"))
			// One digit of the expiry date: still well-formed, no longer signed.
			i := bytes.Index(b, []byte(`"expires":"`)) + len(`"expires":"`) + 3
			b[i] = '9' - (b[i] - '0')
			e.up.SetFile("timestamp.json", b)
		}, "timestamp"},
		{"one byte of the targets", func(e *mirrorEnv) {
			e.addTarget("hf2")
			name := itoa(e.up.Targets.Signed.Version) + ".targets.json"
			b := bytes.Clone(e.up.File(name))
			b[bytes.Index(b, []byte("hf2"))+2] = '3'
			e.up.SetFile(name, b)
		}, "targets"},
		{"an unknown key", func(e *mirrorEnv) {
			e.up.Targets.Signed.Version++
			e.up.WriteTargets(trusttest.NewKey(e.t))
			e.up.Snapshot.Signed.Version++
			e.up.WriteSnapshot()
			e.up.Timestamp.Signed.Version++
			e.up.WriteTimestamp()
		}, "targets"},
		{"a rolled-back timestamp", func(e *mirrorEnv) {
			e.up.Timestamp.Signed.Version = 1
			e.up.WriteTimestamp()
		}, "timestamp"},
		{"expired", func(e *mirrorEnv) { e.now = e.now.Add(48 * time.Hour) }, "expired"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newMirrorEnv(t)
			e.t = t
			e.addTarget("hf1")
			e.addTarget("hf1b")
			if _, err := e.sync(""); err != nil {
				t.Fatal(err)
			}
			good := e.served()
			c.tamper(e)
			_, err := e.sync("")
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), c.want) {
				t.Fatalf("sync of tampered metadata: %v, want an error about %s", err, c.want)
			}
			for name, b := range good {
				if now, _ := e.m.ReadFile("srv-up", name); !bytes.Equal(now, b) {
					t.Errorf("%s changed after a refused sync", name)
				}
			}
			if _, err := os.Stat(filepath.Join(e.m.Dir, "srv-up", "timestamp.json")); err != nil {
				t.Errorf("the last good timestamp is gone: %v", err)
			}
		})
	}
}

func itoa(n int64) string { return fmt.Sprint(n) }

// TestClaimedBy: an update id signed by another trusted repository is
// claimed by it; one it does not sign is not; a repository that cannot
// be refreshed is checked against the metadata verified last.
func TestClaimedBy(t *testing.T) {
	now := time.Now().UTC()
	vendor, site := trusttest.NewRepo(t, now), trusttest.NewRepo(t, now)
	payload := []byte("x")
	p := patchgate.Payload{Name: "fix.sh", Size: 1, SHA256: trust.Fingerprint(payload), Installer: "exec"}
	vendor.AddTarget("hf1/r1/fix.sh", payload, "hf1", 1, p)
	vendor.Publish()
	site.AddTarget("hf1/r1/fix.sh", payload, "hf1", 1, p)
	site.AddTarget("own-1/r1/fix.sh", payload, "own-1", 1, p)
	site.Publish()
	mux := http.NewServeMux()
	mux.Handle("/tuf/srv-0000000000000001/", vendor)
	mux.Handle("/tuf/local/", site)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	v := &trust.Verifier{Dir: t.TempDir(), Server: srv.URL, Client: srv.Client(), Clock: func() time.Time { return now }}
	for repo, r := range map[string]*trusttest.Repo{"srv-0000000000000001": vendor, "local": site} {
		root, fp := r.RootBytes()
		if err := v.SaveRoot(repo, root, fp); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct{ repo, update, want string }{
		{"local", "hf1", "srv-0000000000000001"},
		{"srv-0000000000000001", "hf1", "local"}, // both sign it: either way it is refused
		{"local", "own-1", ""},
		{"local", "hf", ""}, // a prefix of an id is not the id
	}
	for _, c := range cases {
		got, err := v.ClaimedBy(context.Background(), c.repo, c.update)
		if err != nil || got != c.want {
			t.Errorf("ClaimedBy(%s, %s) = %q, %v; want %q", c.repo, c.update, got, err, c.want)
		}
	}
	// The vendor's repository stops answering: its last verified targets
	// still claim hf1.
	vendor.Hook = func(w http.ResponseWriter, r *http.Request, file string) bool {
		http.Error(w, "gone", http.StatusServiceUnavailable)
		return true
	}
	if got, err := v.ClaimedBy(context.Background(), "local", "hf1"); err != nil || got != "srv-0000000000000001" {
		t.Errorf("with the vendor's repository unreachable: %q, %v", got, err)
	}
}
