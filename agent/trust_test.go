package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/agentapi"
	"github.com/patchgate/patchgate/pki"
	"github.com/patchgate/patchgate/trust"
	"github.com/patchgate/patchgate/trust/trusttest"
)

// The attack suite of issue #8 (cases 1-9 and 11; 10 and plan-nonce
// replay need the server side). Every case runs the real agent against the
// fake agent API and an in-process TUF repository (trusttest), both served
// over TLS on loopback and reached through the agent's pinned client
// (pki.NewHTTPClient). Each attack must end with: the cycle failing,
// nothing executed (the exec payload would write a marker file), nothing
// left in staging, and a failed event whose detail starts with
// "signature:".

// tufEnv is an env whose server also publishes the TUF repository "local"
// and delivers its root at enrolment.
type tufEnv struct {
	*env
	repo   *trusttest.Repo
	tls    *httptest.Server
	client *http.Client

	mu    sync.Mutex
	now   time.Time
	roots []agentapi.TrustRoot // delivered at enrolment
}

var tufEpoch = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func newTUFEnv(t *testing.T) *tufEnv {
	t.Helper()
	te := &tufEnv{env: newEnv(t), now: tufEpoch}
	te.repo = trusttest.NewRepo(t, tufEpoch)
	root, fp := te.repo.RootBytes()
	te.roots = []agentapi.TrustRoot{{Repo: "local", Root: root, Fingerprint: fp}}
	inner := te.srv.ts.Config.Handler
	mux := http.NewServeMux()
	mux.Handle("GET /tuf/local/", te.repo)
	mux.HandleFunc("POST "+agentapi.PathEnroll, func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		inner.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK {
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
		var er agentapi.EnrollResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &er); err != nil {
			t.Errorf("enrol answer: %v", err)
		}
		te.mu.Lock()
		er.TrustRoots = te.roots
		te.mu.Unlock()
		writeJSON(w, er)
	})
	mux.Handle("/", inner)
	te.tls = httptest.NewTLSServer(mux)
	t.Cleanup(te.tls.Close)
	client, err := pki.NewHTTPClient(pki.Fingerprint(te.tls.Certificate()), 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	te.client = client
	return te
}

func (te *tufEnv) clock() time.Time {
	te.mu.Lock()
	defer te.mu.Unlock()
	return te.now
}

func (te *tufEnv) setNow(t time.Time) {
	te.mu.Lock()
	te.now = t
	te.mu.Unlock()
}

// agent is an agent that requires signatures (AllowUnsigned off), with the
// fake clock.
func (te *tufEnv) agent(mutate ...func(*Config)) *Agent {
	te.t.Helper()
	return te.env.agent(append([]func(*Config){func(c *Config) {
		c.Server = te.tls.URL
		c.Client = te.client
		c.AllowUnsigned = false
		c.Clock = te.clock
		c.MetadataTimeout = 2 * time.Second
	}}, mutate...)...)
}

// signedItem adds an exec payload as content, signs it in the repository
// (not yet published) and returns its plan item and marker file.
func (te *tufEnv) signedItem(id string, revision int, name string) (patchgate.PlanItem, string) {
	p, marker := te.scriptPayload(name, "")
	te.srv.mu.Lock()
	data := te.srv.content[p.SHA256]
	te.srv.mu.Unlock()
	path, err := trust.TargetPathFor(id, revision, name)
	if err != nil {
		te.t.Fatal(err)
	}
	te.repo.AddTarget(path, data, id, revision, p)
	item := installItem(id, p)
	item.Revision = revision
	item.Repo = "local"
	return item, marker
}

// installs runs a cycle that must install item.
func (te *tufEnv) installs(a *Agent, item patchgate.PlanItem, marker string) {
	te.t.Helper()
	te.srv.setItems(item)
	sum, err := a.RunOnce(context.Background())
	if err != nil || sum.Installed != 1 {
		te.t.Fatalf("genuine signed update: installed %d, err %v", sum.Installed, err)
	}
	mustExist(te.t, marker)
	te.stagingEmpty()
}

func (te *tufEnv) stagingEmpty() {
	te.t.Helper()
	entries, err := os.ReadDir(filepath.Join(te.stateDir, stagingDir))
	if err != nil {
		te.t.Fatal(err)
	}
	if len(entries) > 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		te.t.Fatalf("staging not empty: %v", names)
	}
}

// refused runs a cycle offering item and checks the attack was refused:
// the cycle failed, the marker was never written, staging is empty, and a
// failed event with a "signature:" detail containing want was reported.
func (te *tufEnv) refused(a *Agent, item patchgate.PlanItem, marker, want string) {
	te.t.Helper()
	te.srv.setItems(item)
	before := len(te.srv.eventList())
	sum, err := a.RunOnce(context.Background())
	if err == nil || sum.Failed != 1 || sum.Installed != 0 {
		te.t.Fatalf("attack not refused: installed %d, failed %d, err %v", sum.Installed, sum.Failed, err)
	}
	mustNotExist(te.t, marker)
	mustNotExist(te.t, filepath.Join(te.stateDir, workDir))
	te.stagingEmpty()
	if sum.Uninstalled != 0 {
		te.t.Fatalf("uninstalled %d", sum.Uninstalled)
	}
	var found bool
	for _, ev := range te.srv.eventList()[before:] {
		if ev.UpdateID != item.UpdateID {
			continue
		}
		if ev.State == patchgate.StateInstalling || ev.State == patchgate.StateInstalled || ev.State == patchgate.StateNotApplicable {
			te.t.Fatalf("refused update reached %s", ev.State)
		}
		if ev.State == patchgate.StateFailed {
			found = true
			if !strings.HasPrefix(ev.Detail, "signature: ") || !strings.Contains(ev.Detail, want) {
				te.t.Fatalf("failed event detail %q, want a signature: refusal mentioning %q", ev.Detail, want)
			}
		}
	}
	if !found {
		te.t.Fatalf("no failed event for %s in %v", item.UpdateID, states(te.srv.eventList()))
	}
	te.t.Logf("refused as expected: %v", err)
}

func TestSignedUpdateInstalls(t *testing.T) {
	te := newTUFEnv(t)
	item, marker := te.signedItem("fix-1", 1, "fix.sh")
	te.repo.Publish()
	a := te.agent()
	te.installs(a, item, marker)
	for _, f := range []string{"1.root.json", "root.json", "timestamp.json", "snapshot.json", "targets.json"} {
		mustExist(t, filepath.Join(te.stateDir, tufDir, "local", f))
	}
	fp, err := a.verifier().Fingerprint("local")
	if err != nil || fp != te.roots[0].Fingerprint {
		t.Fatalf("stored root fingerprint %s, %v", fp, err)
	}
}

// #1: payload bytes that do not match the signed hash or length; a target
// that is not signed at all.
func TestAttackPayloadMismatch(t *testing.T) {
	t.Run("served bytes differ from the signed hash", func(t *testing.T) {
		te := newTUFEnv(t)
		item, marker := te.signedItem("fix-1", 1, "fix.sh")
		te.repo.Publish()
		sha := item.Payloads[0].SHA256
		te.srv.set(func(s *fakeServer) {
			evil := []byte(strings.Replace(string(s.content[sha]), "printf", "PRINTF", 1))
			s.content[sha] = evil
		})
		te.refused(te.agent(), item, marker, "hash mismatch")
	})
	t.Run("plan payload with other bytes than signed", func(t *testing.T) {
		te := newTUFEnv(t)
		item, marker := te.signedItem("fix-1", 1, "fix.sh")
		te.repo.Publish()
		evil, _ := te.scriptPayload("fix.sh", "touch /tmp/never")
		item.Payloads[0] = evil
		te.refused(te.agent(), item, marker, "signed length")
	})
	t.Run("plan payload with the signed length but another hash", func(t *testing.T) {
		te := newTUFEnv(t)
		item, marker := te.signedItem("fix-1", 1, "fix.sh")
		te.repo.Publish()
		p := item.Payloads[0]
		te.srv.mu.Lock()
		b := []byte(strings.Replace(string(te.srv.content[p.SHA256]), "ran", "RAN", 1))
		te.srv.mu.Unlock()
		item.Payloads[0] = te.srv.addPayload(p.Name, b, p.Installer, p.Args...)
		te.refused(te.agent(), item, marker, "signed sha256")
	})
	t.Run("target not signed", func(t *testing.T) {
		te := newTUFEnv(t)
		te.repo.Publish()
		p, marker := te.scriptPayload("fix.sh", "")
		item := installItem("fix-1", p)
		item.Repo = "local"
		te.refused(te.agent(), item, marker, "does not sign target fix-1/r1/fix.sh")
	})
	t.Run("item names no repository", func(t *testing.T) {
		te := newTUFEnv(t)
		te.repo.Publish()
		p, marker := te.scriptPayload("fix.sh", "")
		te.refused(te.agent(), installItem("fix-1", p), marker, "names no signing repository")
	})
	t.Run("repository without a trusted root", func(t *testing.T) {
		te := newTUFEnv(t)
		item, marker := te.signedItem("fix-1", 1, "fix.sh")
		te.repo.Publish()
		item.Repo = "vendor"
		te.refused(te.agent(), item, marker, "no trusted root for repository vendor")
	})
}

// trustCurrent runs a genuine install of a fresh item so that the agent trusts
// the repository's current versions.
func (te *tufEnv) trustCurrent(a *Agent, id string) {
	te.t.Helper()
	item, marker := te.signedItem(id, 1, id+".sh")
	te.repo.Publish()
	te.installs(a, item, marker)
}

// #2: rollback of timestamp, snapshot, targets and root versions; an older
// payload served after a newer one.
func TestAttackRollback(t *testing.T) {
	t.Run("timestamp", func(t *testing.T) {
		te := newTUFEnv(t)
		a := te.agent()
		victim, marker := te.signedItem("fix-v", 1, "v.sh")
		te.repo.Publish()
		old := te.repo.Files()
		te.trustCurrent(a, "fix-a") // the agent now trusts newer versions
		te.repo.Restore(old)
		te.refused(a, victim, marker, "new timestamp version")
	})
	t.Run("snapshot", func(t *testing.T) {
		te := newTUFEnv(t)
		a := te.agent()
		victim, marker := te.signedItem("fix-v", 1, "v.sh")
		te.trustCurrent(a, "fix-a")
		// A new timestamp naming an older snapshot.
		te.repo.Snapshot.Signed.Version--
		te.repo.Timestamp.Signed.Version++
		te.repo.WriteTimestamp()
		te.refused(a, victim, marker, "new snapshot version")
	})
	t.Run("targets", func(t *testing.T) {
		te := newTUFEnv(t)
		a := te.agent()
		victim, marker := te.signedItem("fix-v", 1, "v.sh")
		te.trustCurrent(a, "fix-a")
		// A new snapshot naming an older targets version.
		te.repo.Targets.Signed.Version--
		te.repo.Snapshot.Signed.Version++
		te.repo.Timestamp.Signed.Version++
		te.repo.WriteSnapshot()
		te.repo.WriteTimestamp()
		te.refused(a, victim, marker, "targets.json version")
	})
	t.Run("root", func(t *testing.T) {
		te := newTUFEnv(t)
		a := te.agent()
		te.repo.Rotate(nil) // root v2
		te.trustCurrent(a, "fix-a")
		victim, marker := te.signedItem("fix-v", 1, "v.sh")
		te.repo.Publish()
		// The next root served is version 1 again.
		te.repo.SetFile("3.root.json", te.repo.File("1.root.json"))
		te.refused(a, victim, marker, "bad version number, expected 3, got 1")
	})
	t.Run("older payload after a newer one", func(t *testing.T) {
		te := newTUFEnv(t)
		a := te.agent()
		old, _ := te.scriptPayload("fix.sh", "echo revision 1")
		te.srv.mu.Lock()
		data := te.srv.content[old.SHA256]
		te.srv.mu.Unlock()
		te.repo.AddTarget("fix-1/r1/fix.sh", data, "fix-1", 1, old)
		te.repo.Publish()
		// Revision 2 is published and signed; the plan offers it with
		// revision 1's payload.
		r2, marker := te.signedItem("fix-1", 2, "fix.sh")
		delete(te.repo.Targets.Signed.Targets, "fix-1/r1/fix.sh")
		te.repo.Publish()
		r2.Payloads = []patchgate.Payload{old}
		te.refused(a, r2, marker, "signed length")
	})
}

// #3: freeze: expired timestamp or snapshot (fake clock).
func TestAttackFreeze(t *testing.T) {
	t.Run("expired timestamp", func(t *testing.T) {
		te := newTUFEnv(t)
		item, marker := te.signedItem("fix-1", 1, "fix.sh")
		te.repo.Publish()
		te.setNow(tufEpoch.Add(25 * time.Hour)) // timestamp expires after 1 day
		te.refused(te.agent(), item, marker, "timestamp.json is expired")
	})
	t.Run("expired snapshot", func(t *testing.T) {
		te := newTUFEnv(t)
		item, marker := te.signedItem("fix-1", 1, "fix.sh")
		te.repo.Publish()
		// A fresh timestamp keeps pointing at the frozen snapshot.
		te.setNow(tufEpoch.Add(8 * 24 * time.Hour))
		te.repo.Timestamp.Signed.Expires = tufEpoch.Add(9 * 24 * time.Hour)
		te.repo.Timestamp.Signed.Version++
		te.repo.WriteTimestamp()
		te.refused(te.agent(), item, marker, "snapshot.json is expired")
	})
	t.Run("expired targets", func(t *testing.T) {
		te := newTUFEnv(t)
		item, marker := te.signedItem("fix-1", 1, "fix.sh")
		te.repo.Targets.Signed.Expires = tufEpoch.Add(time.Hour)
		te.repo.Publish()
		te.setNow(tufEpoch.Add(2 * time.Hour))
		te.refused(te.agent(), item, marker, "new targets is expired")
	})
}

// #4: fast-forward: an inflated timestamp version, recovered only by a
// root rotation of the timestamp key.
func TestAttackFastForward(t *testing.T) {
	te := newTUFEnv(t)
	a := te.agent()
	// A stolen timestamp key signs an inflated version; the agent, which
	// cannot tell, trusts it.
	te.repo.Timestamp.Signed.Version = 1 << 40
	te.trustCurrent(a, "fix-a")
	// The genuine repository goes on at normal versions: refused.
	victim, marker := te.signedItem("fix-v", 1, "v.sh")
	te.repo.Timestamp.Signed.Version = 10
	te.repo.Targets.Signed.Version++
	te.repo.Snapshot.Signed.Version++
	te.repo.WriteTargets()
	te.repo.WriteSnapshot()
	te.repo.WriteTimestamp()
	te.refused(a, victim, marker, "new timestamp version 10 must be >= ")
	// Recovery: the root rotates the timestamp key; the agent follows
	// the rotation, drops the inflated timestamp and installs.
	te.repo.Rotate(func(root *metadata.RootType) {
		te.repo.SetOnlineKey(root, metadata.TIMESTAMP, trusttest.NewKey(t))
	})
	te.repo.Timestamp.Signed.Version = 11
	te.repo.WriteTimestamp()
	te.installs(a, victim, marker)
}

// #5: mix-and-match: snapshot or targets not matching the parent's
// listing.
func TestAttackMixAndMatch(t *testing.T) {
	t.Run("targets", func(t *testing.T) {
		te := newTUFEnv(t)
		item, marker := te.signedItem("fix-1", 1, "fix.sh")
		te.repo.Publish() // targets v2
		v2 := te.repo.File("2.targets.json")
		te.repo.Publish() // targets v3, listed by snapshot v3
		te.repo.SetFile("3.targets.json", v2)
		te.refused(te.agent(), item, marker, "expected targets version 3, got 2")
	})
	t.Run("snapshot", func(t *testing.T) {
		te := newTUFEnv(t)
		item, marker := te.signedItem("fix-1", 1, "fix.sh")
		te.repo.Publish()
		v2 := te.repo.File("2.snapshot.json")
		te.repo.Publish()
		te.repo.SetFile("3.snapshot.json", v2)
		te.refused(te.agent(), item, marker, "expected 3, got 2")
	})
}

// #6: endless data: oversized metadata, a payload longer than signed, a
// slow body.
func TestAttackEndlessData(t *testing.T) {
	t.Run("oversized timestamp", func(t *testing.T) {
		te := newTUFEnv(t)
		item, marker := te.signedItem("fix-1", 1, "fix.sh")
		te.repo.Publish()
		var served atomic.Int64
		te.repo.Hook = func(w http.ResponseWriter, r *http.Request, file string) bool {
			if file != "timestamp.json" {
				return false
			}
			chunk := []byte(strings.Repeat(" ", 4096))
			for range 1024 { // 4 MiB, no Content-Length
				n, err := w.Write(chunk)
				served.Add(int64(n))
				if err != nil {
					break
				}
			}
			return true
		}
		te.refused(te.agent(), item, marker, "more than the 16384 bytes allowed")
		t.Logf("server wrote %d bytes", served.Load())
	})
	t.Run("oversized targets", func(t *testing.T) {
		te := newTUFEnv(t)
		item, marker := te.signedItem("fix-1", 1, "fix.sh")
		te.repo.Publish()
		te.repo.Hook = func(w http.ResponseWriter, r *http.Request, file string) bool {
			if !strings.HasSuffix(file, ".targets.json") {
				return false
			}
			w.Header().Set("Content-Length", "1073741824")
			w.Write([]byte("{"))
			return true
		}
		te.refused(te.agent(), item, marker, "more than the 16777216 allowed")
	})
	t.Run("payload longer than signed", func(t *testing.T) {
		te := newTUFEnv(t)
		item, marker := te.signedItem("fix-1", 1, "fix.sh")
		te.repo.Publish()
		sha := item.Payloads[0].SHA256
		te.srv.set(func(s *fakeServer) {
			s.contentHook = func(w http.ResponseWriter, r *http.Request, _ string, _ int) bool {
				// Chunked, no length: the agent must stop by itself.
				for range 1000 {
					if _, err := w.Write(append(append([]byte{}, s.content[sha]...), "touch /tmp/x\n"...)); err != nil {
						break
					}
				}
				return true
			}
		})
		te.refused(te.agent(), item, marker, "sent more than")
	})
	t.Run("slow payload body", func(t *testing.T) {
		te := newTUFEnv(t)
		item, marker := te.signedItem("fix-1", 1, "fix.sh")
		te.repo.Publish()
		te.srv.set(func(s *fakeServer) {
			s.contentHook = func(w http.ResponseWriter, r *http.Request, _ string, _ int) bool {
				w.Header().Set("Content-Length", "52")
				w.Write([]byte("#!/bin/sh\n"))
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
				case <-time.After(10 * time.Second):
				}
				return true
			}
		})
		// The agent's client bounds each request (the CLI: 1 minute).
		client, err := pki.NewHTTPClient(pki.Fingerprint(te.tls.Certificate()), 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		a := te.agent(func(c *Config) { c.Client = client })
		te.srv.setItems(item)
		start := time.Now()
		sum, err := a.RunOnce(context.Background())
		if err == nil || sum.Failed != 1 || !(strings.Contains(err.Error(), "deadline exceeded") || strings.Contains(err.Error(), "Client.Timeout")) {
			t.Fatalf("slow body: failed %d, err %v", sum.Failed, err)
		}
		if d := time.Since(start); d > 8*time.Second {
			t.Fatalf("the slow body held the agent %s", d)
		}
		mustNotExist(t, marker)
		// Only the partial download is kept, to resume; nothing verified.
		mustNotExist(t, filepath.Join(te.stateDir, stagingDir, item.Payloads[0].SHA256))
		evs := states(te.srv.eventList())
		if len(evs) == 0 || evs[len(evs)-1] != "fix-1:failed" {
			t.Fatalf("events %v", evs)
		}
	})
	t.Run("slow metadata body", func(t *testing.T) {
		te := newTUFEnv(t)
		item, marker := te.signedItem("fix-1", 1, "fix.sh")
		te.repo.Publish()
		te.repo.Hook = func(w http.ResponseWriter, r *http.Request, file string) bool {
			if file != "timestamp.json" {
				return false
			}
			w.Write([]byte("{"))
			w.(http.Flusher).Flush()
			select { // one byte, then nothing until the client gives up
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return true
		}
		start := time.Now()
		te.refused(te.agent(func(c *Config) { c.MetadataTimeout = 300 * time.Millisecond }), item, marker, "deadline exceeded")
		if d := time.Since(start); d > 8*time.Second {
			t.Fatalf("the slow body held the agent %s", d)
		}
	})
}

// #7: keys: metadata signed by an unknown key, below threshold, duplicate
// signatures from one key, a root rotation not signed by the old
// threshold, more rotations than the limit.
func TestAttackKeys(t *testing.T) {
	t.Run("timestamp signed by an unknown key", func(t *testing.T) {
		te := newTUFEnv(t)
		item, marker := te.signedItem("fix-1", 1, "fix.sh")
		te.repo.Publish()
		te.repo.WriteTimestamp(trusttest.NewKey(t))
		te.refused(te.agent(), item, marker, "Verifying timestamp failed")
	})
	t.Run("targets signed by an unknown key", func(t *testing.T) {
		te := newTUFEnv(t)
		item, marker := te.signedItem("fix-1", 1, "fix.sh")
		te.repo.Targets.Signed.Version++
		te.repo.WriteTargets(trusttest.NewKey(t))
		te.repo.Snapshot.Signed.Version++
		te.repo.Timestamp.Signed.Version++
		te.repo.WriteSnapshot()
		te.repo.WriteTimestamp()
		te.refused(te.agent(), item, marker, "Verifying targets failed")
	})
	t.Run("targets below threshold and duplicate signatures", func(t *testing.T) {
		te := newTUFEnv(t)
		second := trusttest.NewKey(t)
		te.repo.Rotate(func(root *metadata.RootType) {
			if err := root.AddKey(second.Pub, metadata.TARGETS); err != nil {
				t.Fatal(err)
			}
			root.Roles[metadata.TARGETS].Threshold = 2
		})
		a := te.agent()
		// Both keys: installs.
		ok, okMarker := te.signedItem("fix-ok", 1, "ok.sh")
		te.repo.Targets.Signed.Version++
		te.repo.WriteTargets(te.repo.TargetsKey, second)
		te.repo.Snapshot.Signed.Version++
		te.repo.Timestamp.Signed.Version++
		te.repo.WriteSnapshot()
		te.repo.WriteTimestamp()
		te.installs(a, ok, okMarker)

		for _, tc := range []struct {
			name string
			keys []*trusttest.Key
			want string
		}{
			{"below threshold", []*trusttest.Key{te.repo.TargetsKey}, "Verifying targets failed, not enough signatures, got 1, want 2"},
			{"duplicate signatures", []*trusttest.Key{te.repo.TargetsKey, te.repo.TargetsKey}, "multiple signatures found for key"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				item, marker := te.signedItem("fix-"+strings.ReplaceAll(tc.name, " ", "-"), 1, "fix.sh")
				te.repo.Targets.Signed.Version++
				te.repo.WriteTargets(tc.keys...)
				te.repo.Snapshot.Signed.Version++
				te.repo.Timestamp.Signed.Version++
				te.repo.WriteSnapshot()
				te.repo.WriteTimestamp()
				te.refused(a, item, marker, tc.want)
				delete(te.repo.Targets.Signed.Targets, "fix-"+strings.ReplaceAll(tc.name, " ", "-")+"/r1/fix.sh")
			})
		}
	})
	t.Run("rotation not signed by the old threshold", func(t *testing.T) {
		te := newTUFEnv(t)
		item, marker := te.signedItem("fix-1", 1, "fix.sh")
		te.repo.Publish()
		// An attacker with one old root key makes root v2 with keys of
		// its own and a timestamp key of its own.
		evilRoot, evilTS := trusttest.NewKey(t), trusttest.NewKey(t)
		te.repo.Root.Signed.Version = 2
		for _, id := range append([]string{}, te.repo.Root.Signed.Roles[metadata.ROOT].KeyIDs...) {
			te.repo.Root.Signed.RevokeKey(id, metadata.ROOT)
		}
		te.repo.Root.Signed.AddKey(evilRoot.Pub, metadata.ROOT)
		te.repo.Root.Signed.Roles[metadata.ROOT].Threshold = 1
		te.repo.SetOnlineKey(&te.repo.Root.Signed, metadata.TIMESTAMP, evilTS)
		te.repo.WriteRoot(te.repo.RootKeys[0], evilRoot)
		te.repo.Timestamp.Signed.Version++
		te.repo.WriteTimestamp()
		te.refused(te.agent(), item, marker, "Verifying root failed, not enough signatures, got 1, want 2")
	})
	t.Run("more rotations than the limit", func(t *testing.T) {
		te := newTUFEnv(t)
		item, marker := te.signedItem("fix-1", 1, "fix.sh")
		te.repo.Publish()
		for range 5 {
			te.repo.Rotate(func(root *metadata.RootType) {
				te.repo.SetOnlineKey(root, metadata.TIMESTAMP, trusttest.NewKey(t))
			})
		}
		te.repo.Timestamp.Signed.Version++
		te.repo.WriteTimestamp()
		// Following 3 of the 5 rotations leaves the agent on root v4,
		// whose timestamp key no longer signs.
		te.refused(te.agent(func(c *Config) { c.MaxRootRotations = 3 }), item, marker, "Verifying timestamp failed")
		// Within the limit the same repository verifies.
		te.installs(te.agent(), item, marker)
	})
	t.Run("enrolment root not self-signed by its threshold", func(t *testing.T) {
		te := newTUFEnv(t)
		// Root v1 signed by one of its two required keys.
		b := te.repo.WriteRoot(te.repo.RootKeys[0])
		te.mu.Lock()
		te.roots = []agentapi.TrustRoot{{Repo: "local", Root: b, Fingerprint: trust.RootFingerprintOf(b)}}
		te.mu.Unlock()
		err := te.agent().Enroll(context.Background())
		if err == nil || !strings.Contains(err.Error(), "not signed by its own threshold") {
			t.Fatalf("enrolment with a bad root: %v", err)
		}
		mustNotExist(t, filepath.Join(te.stateDir, identityFile))
	})
}

// Uninstall runs the payload too: it is verified the same way.
func TestAttackUninstallTamperedArgs(t *testing.T) {
	te := newTUFEnv(t)
	item, marker := te.signedItem("fix-1", 1, "fix.sh")
	te.repo.Publish()
	a := te.agent()
	te.installs(a, item, marker)
	os.Remove(marker)
	un := item
	un.Action = patchgate.ActionUninstall
	un.Payloads = []patchgate.Payload{item.Payloads[0]}
	un.Payloads[0].Args = []string{marker, "--evil"}
	te.refused(a, un, marker, "installer args")
}

// #8: tampered installer arguments or installer with an otherwise genuine
// payload (WSUSpect).
func TestAttackTamperedArgs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(p *patchgate.Payload)
		want   string
	}{
		{"args", func(p *patchgate.Payload) { p.Args = append(p.Args, "; rm -rf /") }, "installer args"},
		{"args removed", func(p *patchgate.Payload) { p.Args = nil }, "installer args"},
		{"installer", func(p *patchgate.Payload) { p.Installer = patchgate.InstallerDpkg }, "installer"},
		{"constituent", func(p *patchgate.Payload) { p.Constituent = "other-fix" }, "constituent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := newTUFEnv(t)
			item, marker := te.signedItem("fix-1", 1, "fix.sh")
			te.repo.Publish()
			tc.tamper(&item.Payloads[0])
			te.refused(te.agent(), item, marker, tc.want)
		})
	}
	t.Run("signed for another update", func(t *testing.T) {
		te := newTUFEnv(t)
		item, marker := te.signedItem("fix-1", 1, "fix.sh")
		// The genuine payload of fix-1 signed under fix-2's path with
		// fix-1's custom metadata: refused for fix-2.
		te.repo.Targets.Signed.Targets["fix-2/r1/fix.sh"] = te.repo.Targets.Signed.Targets["fix-1/r1/fix.sh"]
		te.repo.Publish()
		item.UpdateID = "fix-2"
		te.refused(te.agent(), item, marker, "signed for update fix-1 revision 1")
	})
}

// #9: target names with ../, absolute paths, URL-encoded separators —
// even when the repository signs them.
func TestAttackTargetNames(t *testing.T) {
	for _, name := range []string{"../../evil.sh", "/etc/cron.d/evil", "..%2f..%2fevil.sh", "a%2fb.sh", "sub/evil.sh", `..\evil.sh`, "."} {
		t.Run(name, func(t *testing.T) {
			te := newTUFEnv(t)
			p, marker := te.scriptPayload("fix.sh", "")
			te.srv.mu.Lock()
			data := te.srv.content[p.SHA256]
			te.srv.mu.Unlock()
			p.Name = name
			te.repo.AddTarget("fix-1/r1/"+name, data, "fix-1", 1, p)
			te.repo.Publish()
			item := installItem("fix-1", p)
			item.Repo = "local"
			te.refused(te.agent(), item, marker, "invalid payload name")
		})
	}
}

// #11: a proxy set in the agent's environment and a rogue CA in the
// system store are ignored.
func TestAttackProxyAndRogueCA(t *testing.T) {
	te := newTUFEnv(t)
	// A proxy that records every connection.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var proxied atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			proxied.Add(1)
			c.Close()
		}
	}()
	proxyURL := "http://" + ln.Addr().String()
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"} {
		t.Setenv(k, proxyURL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")

	// A rogue CA in the system store, and a rogue server it vouches for.
	rogueCA, rogueCert := rogueCAAndServerCert(t)
	caFile := filepath.Join(t.TempDir(), "rogue-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rogueCA.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSL_CERT_FILE", caFile)
	t.Setenv("SSL_CERT_DIR", filepath.Dir(caFile))
	rogue := httptest.NewUnstartedServer(te.repo) // serves the genuine metadata, even
	rogue.TLS = &tls.Config{Certificates: []tls.Certificate{rogueCert}}
	rogue.StartTLS()
	defer rogue.Close()

	// The genuine server, through the pinned client: the proxy is never
	// used.
	item, marker := te.signedItem("fix-1", 1, "fix.sh")
	te.repo.Publish()
	a := te.agent()
	te.installs(a, item, marker)
	if n := proxied.Load(); n != 0 {
		t.Fatalf("%d connections went to the proxy from the environment", n)
	}

	// The rogue server, with a certificate the rogue system CA signs: the
	// pinned client refuses it, so no metadata is ever read from it.
	v := &trust.Verifier{Dir: filepath.Join(te.stateDir, tufDir), Server: rogue.URL, Client: te.client, Clock: te.clock}
	before := len(te.repo.Requests())
	_, err = v.Targets(context.Background(), "local", []string{"fix-1/r1/fix.sh"})
	if err == nil || !strings.Contains(err.Error(), "not the pinned server") {
		t.Fatalf("rogue server: %v", err)
	}
	if len(te.repo.Requests()) != before {
		t.Fatal("the rogue server was read")
	}
	if n := proxied.Load(); n != 0 {
		t.Fatalf("%d connections went to the proxy from the environment", n)
	}
}

func rogueCAAndServerCert(t *testing.T) (*x509.Certificate, tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rogue CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return ca, tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}
}

// Enrolment: --trust-root pins the delivered root; an agent enrolled
// before signed updates fetches a pinned root.
func TestTrustRootPins(t *testing.T) {
	t.Run("pinned fingerprint matches", func(t *testing.T) {
		te := newTUFEnv(t)
		item, marker := te.signedItem("fix-1", 1, "fix.sh")
		te.repo.Publish()
		a := te.agent(func(c *Config) { c.TrustRoots = map[string]string{"local": te.roots[0].Fingerprint} })
		te.installs(a, item, marker)
	})
	t.Run("pinned fingerprint differs", func(t *testing.T) {
		te := newTUFEnv(t)
		a := te.agent(func(c *Config) { c.TrustRoots = map[string]string{"local": strings.Repeat("ab", 32)} })
		err := a.Enroll(context.Background())
		if err == nil || !strings.Contains(err.Error(), "pinned to "+strings.Repeat("ab", 32)) {
			t.Fatalf("enrolment: %v", err)
		}
		mustNotExist(t, filepath.Join(te.stateDir, identityFile))
		mustNotExist(t, filepath.Join(te.stateDir, tufDir, "local", "root.json"))
	})
	t.Run("pinned repository not delivered", func(t *testing.T) {
		te := newTUFEnv(t)
		a := te.agent(func(c *Config) {
			c.TrustRoots = map[string]string{"local": te.roots[0].Fingerprint, "vendor": strings.Repeat("cd", 32)}
		})
		if err := a.Enroll(context.Background()); err == nil || !strings.Contains(err.Error(), "no root for repository vendor") {
			t.Fatalf("enrolment: %v", err)
		}
	})
	t.Run("delivered fingerprint does not match the root", func(t *testing.T) {
		te := newTUFEnv(t)
		te.roots[0].Fingerprint = strings.Repeat("ef", 32)
		if err := te.agent().Enroll(context.Background()); err == nil || !strings.Contains(err.Error(), "trust_roots[0].fingerprint") {
			t.Fatalf("enrolment: %v", err)
		}
	})
	t.Run("agent enrolled before signed updates", func(t *testing.T) {
		te := newTUFEnv(t)
		fp := te.roots[0].Fingerprint
		te.roots = nil // an old server delivers no roots
		item, marker := te.signedItem("fix-1", 1, "fix.sh")
		te.repo.Publish()
		a := te.agent()
		if err := a.Enroll(context.Background()); err != nil {
			t.Fatal(err)
		}
		// Without a root, the signed item is refused.
		te.refused(a, item, marker, "no trusted root for repository local")
		// Unsigned items are refused by default.
		p, m2 := te.scriptPayload("old.sh", "")
		te.refused(a, installItem("fix-old", p), m2, "names no signing repository")
		// A wrong pin fetches the root but does not keep it.
		bad := te.agent(func(c *Config) { c.TrustRoots = map[string]string{"local": strings.Repeat("ab", 32)} })
		if err := bad.Enroll(context.Background()); err == nil || !strings.Contains(err.Error(), "fingerprint") {
			t.Fatalf("wrong pin: %v", err)
		}
		mustNotExist(t, filepath.Join(te.stateDir, tufDir, "local", "root.json"))
		// The right pin: the root is fetched, kept, and the item installs.
		good := te.agent(func(c *Config) { c.TrustRoots = map[string]string{"local": fp} })
		te.installs(good, item, marker)
		// --allow-unsigned runs the unsigned item (migration only).
		te.installs(te.agent(func(c *Config) { c.AllowUnsigned = true }), installItem("fix-old", p), m2)
	})
}

// TestSignedMetadataRefreshedOncePerCycle: a plan of several signed items
// costs one refresh of the repository's metadata per cycle, not one per
// item (and per item for the check that no other repository publishes
// its update id).
func TestSignedMetadataRefreshedOncePerCycle(t *testing.T) {
	te := newTUFEnv(t)
	var items []patchgate.PlanItem
	var markers []string
	for _, id := range []string{"fix-1", "fix-2", "fix-3"} {
		item, marker := te.signedItem(id, 1, id+".sh")
		items, markers = append(items, item), append(markers, marker)
	}
	te.repo.Publish()
	a := te.agent()
	te.srv.setItems(items...)
	before := len(te.repo.Requests())
	sum, err := a.RunOnce(context.Background())
	if err != nil || sum.Installed != 3 {
		t.Fatalf("three signed items: %+v, %v", sum, err)
	}
	for _, m := range markers {
		mustExist(t, m)
	}
	timestamps := 0
	for _, f := range te.repo.Requests()[before:] {
		if f == "timestamp.json" {
			timestamps++
		}
	}
	if timestamps != 1 {
		t.Fatalf("timestamp.json fetched %d times in one cycle of three items, want 1", timestamps)
	}
}
