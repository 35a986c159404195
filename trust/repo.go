package trust

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/patchgate/patchgate/atomicfile"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Expiry of each role's metadata, from the time it is signed.
const (
	RootExpiry      = 365 * 24 * time.Hour
	TargetsExpiry   = 90 * 24 * time.Hour
	SnapshotExpiry  = 7 * 24 * time.Hour
	TimestampExpiry = 24 * time.Hour
)

// Online roles: signed by the server with keys in <data>/tuf/keys/.
var OnlineRoles = []string{metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP}

// ErrNoRoot says a repository has no root yet.
var ErrNoRoot = errors.New("trust: the repository has no root yet")

// Repo is one TUF repository this server signs: <data>/tuf/<name>/.
// Its methods are safe for concurrent use.
type Repo struct {
	name    string
	dir     string
	keysDir string
	now     func() time.Time

	mu     sync.Mutex
	online map[string]ed25519.PrivateKey
	root   *metadata.Metadata[metadata.RootType]
	tgt    *metadata.Metadata[metadata.TargetsType]
	snap   *metadata.Metadata[metadata.SnapshotType]
	ts     *metadata.Metadata[metadata.TimestampType]
}

// Open opens (creating the directories and the online keys if missing)
// repository name under dataDir/tuf/. It loads the latest root and the
// current timestamp, snapshot and targets if there are any.
func Open(dataDir, name string, now func() time.Time) (*Repo, error) {
	if !ValidRepoName(name) {
		return nil, fmt.Errorf("trust: %q is not a valid repository name", name)
	}
	if now == nil {
		now = time.Now
	}
	r := &Repo{name: name, dir: filepath.Join(dataDir, "tuf", name), keysDir: filepath.Join(dataDir, "tuf", "keys"), now: now}
	for _, d := range []string{r.dir, r.keysDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	keys, err := loadOnlineKeys(r.keysDir)
	if err != nil {
		return nil, err
	}
	r.online = keys
	if err := r.load(); err != nil {
		return nil, err
	}
	// Metadata signed by keys that are no longer the online keys (a
	// rotation interrupted before re-signing) is signed again.
	if r.ts != nil && (!signedBy(r.tgt.Signatures, r.online[metadata.TARGETS]) || !signedBy(r.snap.Signatures, r.online[metadata.SNAPSHOT]) ||
		!signedBy(r.ts.Signatures, r.online[metadata.TIMESTAMP])) {
		if err := r.publishLocked(r.tgt.Signed.Targets); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func signedBy(sigs []metadata.Signature, k ed25519.PrivateKey) bool {
	id := KeyID(k)
	for _, s := range sigs {
		if s.KeyID == id {
			return true
		}
	}
	return false
}

// loadOnlineKeys reads (creating on first use) the online keys.
func loadOnlineKeys(dir string) (map[string]ed25519.PrivateKey, error) {
	return loadKeys(dir, true)
}

// loadKeys reads the online roles' keys in dir, creating missing ones if
// create (else leaving them out).
func loadKeys(dir string, create bool) (map[string]ed25519.PrivateKey, error) {
	if create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	keys := make(map[string]ed25519.PrivateKey)
	for _, role := range OnlineRoles {
		path := filepath.Join(dir, role+".key")
		k, err := ReadKeyFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			if !create {
				continue
			}
			if k, err = GenerateKey(); err == nil {
				err = WriteKeyFile(path, k)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("trust: %s key: %w", role, err)
		}
		keys[role] = k
	}
	return keys, nil
}

// Name is the repository's name.
func (r *Repo) Name() string { return r.name }

// Dir is the repository's directory.
func (r *Repo) Dir() string { return r.dir }

func (r *Repo) load() error {
	data, err := atomicfile.ReadLimited(filepath.Join(r.dir, "root.json"), MaxFileBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.root, err = metadata.Root().FromBytes(data); err != nil {
		return fmt.Errorf("trust: %s/root.json: %w", r.name, err)
	}
	// A rotation of the online keys interrupted after the root was
	// written: the root lists the pending keys; finish it.
	if ts := r.root.Signed.Roles[metadata.TIMESTAMP]; ts != nil && !slices.Contains(ts.KeyIDs, KeyID(r.online[metadata.TIMESTAMP])) {
		if pending, err := loadKeys(filepath.Join(r.keysDir, "pending"), false); err == nil && pending[metadata.TIMESTAMP] != nil &&
			slices.Contains(ts.KeyIDs, KeyID(pending[metadata.TIMESTAMP])) {
			if err := r.promoteLocked(); err != nil {
				return err
			}
		}
	}
	data, err = atomicfile.ReadLimited(filepath.Join(r.dir, "timestamp.json"), MaxFileBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.ts, err = metadata.Timestamp().FromBytes(data); err != nil {
		return fmt.Errorf("trust: %s/timestamp.json: %w", r.name, err)
	}
	sv := r.ts.Signed.Meta["snapshot.json"].Version
	if data, err = atomicfile.ReadLimited(filepath.Join(r.dir, fmt.Sprintf("%d.snapshot.json", sv)), MaxFileBytes); err != nil {
		return err
	}
	if r.snap, err = metadata.Snapshot().FromBytes(data); err != nil {
		return fmt.Errorf("trust: %s snapshot: %w", r.name, err)
	}
	tv := r.snap.Signed.Meta["targets.json"].Version
	if data, err = atomicfile.ReadLimited(filepath.Join(r.dir, fmt.Sprintf("%d.targets.json", tv)), MaxFileBytes); err != nil {
		return err
	}
	if r.tgt, err = metadata.Targets().FromBytes(data); err != nil {
		return fmt.Errorf("trust: %s targets: %w", r.name, err)
	}
	return nil
}

// HasRoot reports whether the repository has a root.
func (r *Repo) HasRoot() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.root != nil
}

// OnlineKeys are the public keys of the online roles, by role.
func (r *Repo) OnlineKeys() map[string]*metadata.Key {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]*metadata.Key, len(r.online))
	for role, k := range r.online {
		out[role] = PublicKey(k)
	}
	return out
}

// NewRoot builds root version 1: the root role is held by rootKeys
// (threshold of them), the online roles by onlineKeys (one each). It is
// not signed yet.
func NewRoot(rootKeys []*metadata.Key, threshold int, onlineKeys map[string]*metadata.Key, expires time.Time) (*metadata.Metadata[metadata.RootType], error) {
	if threshold < 1 || threshold > len(rootKeys) {
		return nil, fmt.Errorf("threshold %d must be between 1 and the number of root keys (%d)", threshold, len(rootKeys))
	}
	root := metadata.Root(expires.UTC().Truncate(time.Second))
	for _, k := range rootKeys {
		if err := root.Signed.AddKey(k, metadata.ROOT); err != nil {
			return nil, err
		}
	}
	root.Signed.Roles[metadata.ROOT].Threshold = threshold
	for _, role := range OnlineRoles {
		k, ok := onlineKeys[role]
		if !ok {
			return nil, fmt.Errorf("no %s key", role)
		}
		if err := root.Signed.AddKey(k, role); err != nil {
			return nil, err
		}
	}
	return root, nil
}

// SignRoot signs root with every key given.
func SignRoot(root *metadata.Metadata[metadata.RootType], keys []ed25519.PrivateKey) error {
	for _, k := range keys {
		if _, err := root.Sign(signer(k)); err != nil {
			return err
		}
	}
	return nil
}

// RotateRoot builds root version cur+1, signed by oldKeys and newKeys so
// that clients trusting cur follow it. Its root role is held by newKeys
// (threshold of them), or stays as it is when newKeys is empty; the online
// roles are held by online (one key each: the server's pending online
// keys), or stay as they are when online is nil. With neither, it renews
// the root: same keys, a new expiry.
func RotateRoot(cur []byte, oldKeys, newKeys []ed25519.PrivateKey, threshold int, expires time.Time, online map[string]*metadata.Key) ([]byte, error) {
	root, err := metadata.Root().FromBytes(cur)
	if err != nil {
		return nil, fmt.Errorf("current root: %w", err)
	}
	if len(newKeys) > 0 {
		if threshold < 1 || threshold > len(newKeys) {
			return nil, fmt.Errorf("threshold %d must be between 1 and the number of new root keys (%d)", threshold, len(newKeys))
		}
		if err := replaceRoleKeys(root, metadata.ROOT, newKeys...); err != nil {
			return nil, err
		}
		root.Signed.Roles[metadata.ROOT].Threshold = threshold
	}
	if online != nil {
		for _, role := range OnlineRoles {
			k, ok := online[role]
			if !ok {
				return nil, fmt.Errorf("no new %s key", role)
			}
			for _, id := range slices.Clone(root.Signed.Roles[role].KeyIDs) {
				if err := root.Signed.RevokeKey(id, role); err != nil {
					return nil, err
				}
			}
			if err := root.Signed.AddKey(k, role); err != nil {
				return nil, err
			}
			root.Signed.Roles[role].Threshold = 1
		}
	}
	root.Signed.Version++
	root.Signed.Expires = expires.UTC().Truncate(time.Second)
	root.ClearSignatures()
	seen := map[string]bool{}
	for _, k := range append(slices.Clone(oldKeys), newKeys...) {
		if id := KeyID(k); !seen[id] {
			seen[id] = true
			if _, err := root.Sign(signer(k)); err != nil {
				return nil, err
			}
		}
	}
	return root.ToBytes(true)
}

func replaceRoleKeys(root *metadata.Metadata[metadata.RootType], role string, keys ...ed25519.PrivateKey) error {
	for _, id := range slices.Clone(root.Signed.Roles[role].KeyIDs) {
		if err := root.Signed.RevokeKey(id, role); err != nil {
			return err
		}
	}
	for _, k := range keys {
		if err := root.Signed.AddKey(PublicKey(k), role); err != nil {
			return err
		}
	}
	return nil
}

// SetRoot accepts a new root: version 1 when the repository has none
// (signed by its own threshold), else exactly the next version, signed by
// the threshold of the current root and of itself. The online roles must
// be this server's online keys. It writes <N>.root.json and root.json.
func (r *Repo) SetRoot(data []byte) error {
	if len(data) > MaxFileBytes {
		return fmt.Errorf("root: larger than %d bytes", MaxFileBytes)
	}
	// Stored compact: JSON carried in another document (the enrolment
	// answer) is compacted, and the fingerprint is over the exact bytes.
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return fmt.Errorf("root: %w", err)
	}
	data = buf.Bytes()
	next, err := metadata.Root().FromBytes(data)
	if err != nil {
		return fmt.Errorf("root: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	want := int64(1)
	if r.root != nil {
		want = r.root.Signed.Version + 1
		if err := r.root.VerifyDelegate(metadata.ROOT, next); err != nil {
			return fmt.Errorf("root: not signed by the threshold of the current root (version %d): %w", r.root.Signed.Version, err)
		}
	}
	if next.Signed.Version != want {
		return fmt.Errorf("root: version %d, want %d", next.Signed.Version, want)
	}
	if err := next.VerifyDelegate(metadata.ROOT, next); err != nil {
		return fmt.Errorf("root: not signed by its own threshold: %w", err)
	}
	if !next.Signed.ConsistentSnapshot {
		return errors.New("root: consistent_snapshot must be true")
	}
	if !next.Signed.Expires.After(r.now()) {
		return errors.New("root: already expired")
	}
	// The online roles: this server's current online keys, or all of its
	// pending ones (a rotation of the online keys).
	pending, err := loadKeys(filepath.Join(r.keysDir, "pending"), false)
	if err != nil {
		return err
	}
	holds := func(keys map[string]ed25519.PrivateKey) bool {
		for _, role := range OnlineRoles {
			rl, k := next.Signed.Roles[role], keys[role]
			if rl == nil || k == nil || rl.Threshold != 1 || len(rl.KeyIDs) != 1 || rl.KeyIDs[0] != KeyID(k) {
				return false
			}
		}
		return true
	}
	promote := false
	switch {
	case holds(r.online):
	case len(pending) == len(OnlineRoles) && holds(pending):
		promote = true
	default:
		return fmt.Errorf("root: each online role (targets, snapshot, timestamp) must be held, threshold 1, by this server's online key or, all of them, by its pending online keys")
	}
	if err := atomicfile.Write(filepath.Join(r.dir, fmt.Sprintf("%d.root.json", want)), data, 0o644); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(r.dir, "root.json"), data, 0o644); err != nil {
		return err
	}
	r.root = next
	if promote {
		if err := r.promoteLocked(); err != nil {
			return err
		}
		// Everything is signed again with the new keys: a client drops
		// metadata its new root's keys did not sign (fast-forward recovery).
		if r.ts != nil {
			return r.publishLocked(r.tgt.Signed.Targets)
		}
	}
	if r.ts == nil {
		return r.publishLocked(map[string]*metadata.TargetFiles{})
	}
	return nil
}

// PendingOnlineKeys returns the public keys of the pending online keys
// (<data>/tuf/keys/pending/), creating them if needed: a root rotation
// that lists them replaces the online keys when it is accepted.
func (r *Repo) PendingOnlineKeys() (map[string]*metadata.Key, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys, err := loadKeys(filepath.Join(r.keysDir, "pending"), true)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*metadata.Key, len(keys))
	for role, k := range keys {
		out[role] = PublicKey(k)
	}
	return out, nil
}

// promoteLocked makes the pending online keys the online keys.
func (r *Repo) promoteLocked() error {
	dir := filepath.Join(r.keysDir, "pending")
	keys, err := loadKeys(dir, false)
	if err != nil {
		return err
	}
	if len(keys) != len(OnlineRoles) {
		return errors.New("trust: pending online keys are incomplete")
	}
	for _, role := range OnlineRoles {
		if err := os.Rename(filepath.Join(dir, role+".key"), filepath.Join(r.keysDir, role+".key")); err != nil {
			return err
		}
	}
	r.online = keys
	return nil
}

// Root1 returns the bytes of 1.root.json and its fingerprint.
func (r *Repo) Root1() ([]byte, string, error) {
	data, err := atomicfile.ReadLimited(filepath.Join(r.dir, "1.root.json"), MaxFileBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", ErrNoRoot
	}
	if err != nil {
		return nil, "", err
	}
	return data, Fingerprint(data), nil
}

// Publish signs targets as the repository's new target set when it
// differs from the current one (new targets, snapshot and timestamp
// versions); it reports whether it did.
func (r *Repo) Publish(targets map[string]*metadata.TargetFiles) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.root == nil {
		return false, ErrNoRoot
	}
	if r.tgt != nil && SameTargets(r.tgt.Signed.Targets, targets) {
		return false, nil
	}
	return true, r.publishLocked(targets)
}

func (r *Repo) expires(d time.Duration) time.Time { return r.now().UTC().Add(d).Truncate(time.Second) }

func (r *Repo) publishLocked(targets map[string]*metadata.TargetFiles) error {
	t := metadata.Targets(r.expires(TargetsExpiry))
	if r.tgt != nil {
		t.Signed.Version = r.tgt.Signed.Version + 1
	}
	t.Signed.Targets = targets
	if _, err := t.Sign(signer(r.online[metadata.TARGETS])); err != nil {
		return err
	}
	data, err := t.ToBytes(false)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(r.dir, fmt.Sprintf("%d.targets.json", t.Signed.Version)), data, 0o644); err != nil {
		return err
	}
	r.tgt = t
	return r.snapshotLocked()
}

// snapshotLocked signs a new snapshot of the current targets, then a new
// timestamp.
func (r *Repo) snapshotLocked() error {
	s := metadata.Snapshot(r.expires(SnapshotExpiry))
	if r.snap != nil {
		s.Signed.Version = r.snap.Signed.Version + 1
	}
	s.Signed.Meta["targets.json"] = metadata.MetaFile(r.tgt.Signed.Version)
	if _, err := s.Sign(signer(r.online[metadata.SNAPSHOT])); err != nil {
		return err
	}
	data, err := s.ToBytes(false)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(r.dir, fmt.Sprintf("%d.snapshot.json", s.Signed.Version)), data, 0o644); err != nil {
		return err
	}
	r.snap = s
	return r.timestampLocked()
}

// timestampLocked signs a new timestamp of the current snapshot; it is
// written last, so a client never sees a timestamp whose snapshot is not
// there yet.
func (r *Repo) timestampLocked() error {
	ts := metadata.Timestamp(r.expires(TimestampExpiry))
	if r.ts != nil {
		ts.Signed.Version = r.ts.Signed.Version + 1
	}
	ts.Signed.Meta["snapshot.json"] = metadata.MetaFile(r.snap.Signed.Version)
	if _, err := ts.Sign(signer(r.online[metadata.TIMESTAMP])); err != nil {
		return err
	}
	data, err := ts.ToBytes(false)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(r.dir, "timestamp.json"), data, 0o644); err != nil {
		return err
	}
	r.ts = ts
	r.pruneLocked()
	return nil
}

// KeepVersions is how many snapshot and targets versions a repository
// keeps on disk: a client that read an older timestamp a moment ago still
// finds the snapshot and targets it names. Every root version is kept.
const KeepVersions = 16

// pruneLocked removes snapshot and targets versions older than the last
// KeepVersions; failures only leave files behind.
func (r *Repo) pruneLocked() {
	for role, cur := range map[string]int64{metadata.SNAPSHOT: r.snap.Signed.Version, metadata.TARGETS: r.tgt.Signed.Version} {
		for v := cur - KeepVersions; v > 0; v-- {
			err := os.Remove(filepath.Join(r.dir, fmt.Sprintf("%d.%s.json", v, role)))
			if errors.Is(err, fs.ErrNotExist) {
				break // older ones were pruned before
			}
		}
	}
}

// Refresh re-signs, even when nothing changed, the online metadata that
// would expire within half its lifetime (targets, snapshot, timestamp),
// and returns the roles it re-signed.
func (r *Repo) Refresh() ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.root == nil || r.ts == nil {
		return nil, nil
	}
	now := r.now()
	switch {
	case !r.tgt.Signed.Expires.After(now.Add(TargetsExpiry / 2)):
		return []string{metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP}, r.publishLocked(r.tgt.Signed.Targets)
	case !r.snap.Signed.Expires.After(now.Add(SnapshotExpiry / 2)):
		return []string{metadata.SNAPSHOT, metadata.TIMESTAMP}, r.snapshotLocked()
	case !r.ts.Signed.Expires.After(now.Add(TimestampExpiry / 2)):
		return []string{metadata.TIMESTAMP}, r.timestampLocked()
	}
	return nil, nil
}

// ReadFile returns a metadata file of the repository; name must pass
// ValidFileName.
func (r *Repo) ReadFile(name string) ([]byte, error) {
	if !ValidFileName(name) {
		return nil, fs.ErrNotExist
	}
	return atomicfile.ReadLimited(filepath.Join(r.dir, name), MaxFileBytes)
}

// RoleStatus is where one role's metadata stands.
type RoleStatus struct {
	Role      string    `json:"role"`
	Version   int64     `json:"version"`
	Expires   time.Time `json:"expires"`
	Threshold int       `json:"threshold"`
	KeyIDs    []string  `json:"keyids"`
}

// Status is where a repository stands.
type Status struct {
	Repo            string       `json:"repo"`
	RootFingerprint string       `json:"root_fingerprint,omitempty"`
	Targets         int          `json:"targets"`
	Roles           []RoleStatus `json:"roles"`
	// Mirrored says the repository is a verbatim mirror of an upstream's:
	// this server holds none of its keys.
	Mirrored bool `json:"mirrored,omitempty"`
}

// Status reports the versions, expiries and keys of every role.
func (r *Repo) Status() (Status, error) {
	st := Status{Repo: r.name, Roles: []RoleStatus{}}
	if _, fp, err := r.Root1(); err == nil {
		st.RootFingerprint = fp
	} else if !errors.Is(err, ErrNoRoot) {
		return st, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.root == nil {
		return st, nil
	}
	role := func(name string, version int64, expires time.Time) RoleStatus {
		rs := RoleStatus{Role: name, Version: version, Expires: expires}
		if rl := r.root.Signed.Roles[name]; rl != nil {
			rs.Threshold, rs.KeyIDs = rl.Threshold, slices.Sorted(slices.Values(rl.KeyIDs))
		}
		return rs
	}
	st.Roles = append(st.Roles, role(metadata.ROOT, r.root.Signed.Version, r.root.Signed.Expires))
	if r.ts != nil {
		st.Targets = len(r.tgt.Signed.Targets)
		st.Roles = append(st.Roles, role(metadata.TARGETS, r.tgt.Signed.Version, r.tgt.Signed.Expires),
			role(metadata.SNAPSHOT, r.snap.Signed.Version, r.snap.Signed.Expires),
			role(metadata.TIMESTAMP, r.ts.Signed.Version, r.ts.Signed.Expires))
	}
	return st, nil
}

// InitRoot creates count root keys in keyDir (root-1.key ...; the
// directory must not hold keys yet), builds root version 1 over them with
// the repository's online keys and installs it. It returns the key files.
func (r *Repo) InitRoot(keyDir string, count, threshold int) ([]string, error) {
	if count < 1 || count > 16 {
		return nil, fmt.Errorf("count %d: must be between 1 and 16", count)
	}
	if r.HasRoot() {
		return nil, errors.New("the repository already has a root; rotate it instead")
	}
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		return nil, err
	}
	var keys []ed25519.PrivateKey
	var pubs []*metadata.Key
	var files []string
	for i := range count {
		k, err := GenerateKey()
		if err != nil {
			return nil, err
		}
		path := filepath.Join(keyDir, "root-"+strconv.Itoa(i+1)+".key")
		if err := WriteKeyFile(path, k); err != nil {
			return nil, fmt.Errorf("writing root key: %w", err)
		}
		keys, pubs, files = append(keys, k), append(pubs, PublicKey(k)), append(files, path)
	}
	root, err := NewRoot(pubs, threshold, r.OnlineKeys(), r.expires(RootExpiry))
	if err != nil {
		return nil, err
	}
	if err := SignRoot(root, keys); err != nil {
		return nil, err
	}
	data, err := root.ToBytes(true)
	if err != nil {
		return nil, err
	}
	return files, r.SetRoot(data)
}
