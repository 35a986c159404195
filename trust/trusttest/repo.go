// Package trusttest builds TUF repositories in memory for tests of the
// agent's verification (issue #8's attack suite): real ed25519 keys, real
// go-tuf metadata, served over HTTP, and every way to tamper with them —
// roll versions back or inflate them, expire them, sign with unknown keys,
// below the threshold or twice with one key, rotate the root, or serve
// other bytes than the signed ones.
package trusttest

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/patchgate/patchgate"
)

// Key is an ed25519 signing key and its TUF public key.
type Key struct {
	Signer signature.Signer
	Pub    *metadata.Key
	ID     string
}

// NewKey makes a fresh ed25519 key.
func NewKey(t testing.TB) *Key {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signature.LoadSigner(priv, crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	k, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	id, err := k.ID()
	if err != nil {
		t.Fatal(err)
	}
	return &Key{Signer: s, Pub: k, ID: id}
}

// Repo is one repository: the metadata being edited and the files served.
// Tests edit Root/Targets/Snapshot/Timestamp.Signed and call the Write
// methods (or Publish) to sign and serve them.
type Repo struct {
	t   testing.TB
	Now time.Time

	RootKeys                              []*Key // 3, threshold 2
	TargetsKey, SnapshotKey, TimestampKey *Key

	Root      *metadata.Metadata[metadata.RootType]
	Targets   *metadata.Metadata[metadata.TargetsType]
	Snapshot  *metadata.Metadata[metadata.SnapshotType]
	Timestamp *metadata.Metadata[metadata.TimestampType]

	mu    sync.Mutex
	files map[string][]byte
	// Hook, when set, may answer a request for a file itself (e.g. a slow
	// or endless body) by returning true.
	Hook     func(w http.ResponseWriter, r *http.Request, file string) bool
	requests []string
}

// Requests returns the files asked for so far, in order.
func (r *Repo) Requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.requests...)
}

// NewRepo makes root v1 (2 of 3 root keys) with online targets, snapshot
// and timestamp keys, an empty targets v1, and publishes them, expiring as
// the contract says (root 365d, targets 90d, snapshot 7d, timestamp 1d)
// from now.
func NewRepo(t testing.TB, now time.Time) *Repo {
	t.Helper()
	r := &Repo{t: t, Now: now, files: map[string][]byte{}}
	for range 3 {
		r.RootKeys = append(r.RootKeys, NewKey(t))
	}
	r.TargetsKey, r.SnapshotKey, r.TimestampKey = NewKey(t), NewKey(t), NewKey(t)
	r.Root = metadata.Root(now.Add(365 * 24 * time.Hour))
	for _, k := range r.RootKeys {
		r.must(r.Root.Signed.AddKey(k.Pub, metadata.ROOT))
	}
	r.Root.Signed.Roles[metadata.ROOT].Threshold = 2
	r.must(r.Root.Signed.AddKey(r.TargetsKey.Pub, metadata.TARGETS))
	r.must(r.Root.Signed.AddKey(r.SnapshotKey.Pub, metadata.SNAPSHOT))
	r.must(r.Root.Signed.AddKey(r.TimestampKey.Pub, metadata.TIMESTAMP))
	r.WriteRoot(r.RootKeys[0], r.RootKeys[1])
	r.Targets = metadata.Targets(now.Add(90 * 24 * time.Hour))
	r.Snapshot = metadata.Snapshot(now.Add(7 * 24 * time.Hour))
	r.Timestamp = metadata.Timestamp(now.Add(24 * time.Hour))
	r.WriteTargets()
	r.WriteSnapshot()
	r.WriteTimestamp()
	return r
}

func (r *Repo) must(err error) {
	r.t.Helper()
	if err != nil {
		r.t.Fatal(err)
	}
}

// RootBytes returns the served 1.root.json and its fingerprint.
func (r *Repo) RootBytes() ([]byte, string) {
	b := r.File("1.root.json")
	sum := sha256.Sum256(b)
	return b, hexString(sum[:])
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func sign[T metadata.Roles](t testing.TB, md *metadata.Metadata[T], keys []*Key) []byte {
	t.Helper()
	md.ClearSignatures()
	for _, k := range keys {
		if _, err := md.Sign(k.Signer); err != nil {
			t.Fatal(err)
		}
	}
	b, err := md.ToBytes(false)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// WriteRoot signs the root with keys (default: the first two root keys)
// and serves it as <version>.root.json and root.json.
func (r *Repo) WriteRoot(keys ...*Key) []byte {
	if len(keys) == 0 {
		keys = r.RootKeys[:2]
	}
	b := sign(r.t, r.Root, keys)
	r.SetFile(strconv.FormatInt(r.Root.Signed.Version, 10)+".root.json", b)
	r.SetFile("root.json", b)
	return b
}

// WriteTargets signs targets (default: the targets key) and serves it as
// <version>.targets.json.
func (r *Repo) WriteTargets(keys ...*Key) []byte {
	if len(keys) == 0 {
		keys = []*Key{r.TargetsKey}
	}
	b := sign(r.t, r.Targets, keys)
	r.SetFile(strconv.FormatInt(r.Targets.Signed.Version, 10)+".targets.json", b)
	return b
}

// WriteSnapshot lists the current targets version, signs the snapshot
// (default: the snapshot key) and serves it as <version>.snapshot.json.
func (r *Repo) WriteSnapshot(keys ...*Key) []byte {
	if len(keys) == 0 {
		keys = []*Key{r.SnapshotKey}
	}
	r.Snapshot.Signed.Meta["targets.json"] = metadata.MetaFile(r.Targets.Signed.Version)
	b := sign(r.t, r.Snapshot, keys)
	r.SetFile(strconv.FormatInt(r.Snapshot.Signed.Version, 10)+".snapshot.json", b)
	return b
}

// WriteTimestamp lists the current snapshot version, signs the timestamp
// (default: the timestamp key) and serves it as timestamp.json.
func (r *Repo) WriteTimestamp(keys ...*Key) []byte {
	if len(keys) == 0 {
		keys = []*Key{r.TimestampKey}
	}
	r.Timestamp.Signed.Meta["snapshot.json"] = metadata.MetaFile(r.Snapshot.Signed.Version)
	b := sign(r.t, r.Timestamp, keys)
	r.SetFile("timestamp.json", b)
	return b
}

// Publish makes a new version of targets, snapshot and timestamp, as the
// server does when the catalog changes.
func (r *Repo) Publish() {
	r.Targets.Signed.Version++
	r.Snapshot.Signed.Version++
	r.Timestamp.Signed.Version++
	r.WriteTargets()
	r.WriteSnapshot()
	r.WriteTimestamp()
}

// Rotate makes root version+1 with the given change applied, signed by
// the old threshold (the first two old root keys) and the new one, and
// serves it.
func (r *Repo) Rotate(change func(root *metadata.RootType)) []byte {
	old := append([]*Key{}, r.RootKeys[:2]...)
	r.Root.Signed.Version++
	if change != nil {
		change(&r.Root.Signed)
	}
	keys := append([]*Key{}, old...)
	for _, k := range r.RootKeys[:2] {
		if k != old[0] && k != old[1] {
			keys = append(keys, k)
		}
	}
	return r.WriteRoot(keys...)
}

// SetOnlineKey replaces the key of an online role (targets, snapshot or
// timestamp) in the root being edited; call Rotate to publish it.
func (r *Repo) SetOnlineKey(root *metadata.RootType, role string, k *Key) {
	for _, id := range append([]string{}, root.Roles[role].KeyIDs...) {
		r.must(root.RevokeKey(id, role))
	}
	r.must(root.AddKey(k.Pub, role))
	switch role {
	case metadata.TARGETS:
		r.TargetsKey = k
	case metadata.SNAPSHOT:
		r.SnapshotKey = k
	case metadata.TIMESTAMP:
		r.TimestampKey = k
	}
}

// Custom is the patchgate custom metadata of a target (the contract).
func Custom(updateID string, revision int, p patchgate.Payload) *json.RawMessage {
	b, err := json.Marshal(map[string]any{"patchgate": map[string]any{"update_id": updateID, "revision": revision, "payload": p}})
	if err != nil {
		panic(err)
	}
	raw := json.RawMessage(b)
	return &raw
}

// AddTarget adds (or replaces) a target for data with the contract's
// custom metadata for p; call Publish to sign it.
func (r *Repo) AddTarget(path string, data []byte, updateID string, revision int, p patchgate.Payload) {
	tf, err := metadata.TargetFile().FromBytes(path, data, "sha256")
	r.must(err)
	tf.Custom = Custom(updateID, revision, p)
	r.Targets.Signed.Targets[path] = tf
}

// SetFile serves b as file (nil removes it).
func (r *Repo) SetFile(file string, b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b == nil {
		delete(r.files, file)
		return
	}
	r.files[file] = append([]byte(nil), b...)
}

// File returns a served file.
func (r *Repo) File(file string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.files[file]...)
}

// Restore serves exactly files again (from Files): an older state.
func (r *Repo) Restore(files map[string][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files = files
}

// Files returns a copy of all served files, to serve that state again
// later with Restore.
func (r *Repo) Files() map[string][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]byte, len(r.files))
	for k, v := range r.files {
		out[k] = append([]byte(nil), v...)
	}
	return out
}

// ServeHTTP serves GET <anything>/<file>: the last path element.
func (r *Repo) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	file := req.URL.Path[strings.LastIndex(req.URL.Path, "/")+1:]
	r.mu.Lock()
	r.requests = append(r.requests, file)
	b, ok := r.files[file]
	hook := r.Hook
	r.mu.Unlock()
	if hook != nil && hook(w, req, file) {
		return
	}
	if !ok {
		http.NotFound(w, req)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}
