package trust

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/patchgate/patchgate/atomicfile"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Mirrors keeps verbatim copies of the TUF repositories a server gets from
// its upstreams (issue 8). A repository is named by the id of the server
// that publishes it (patchgate.ValidServerID, e.g. srv-0123456789abcdef):
// it is stable along a chain vendor → central → branch, so an agent below
// any of them trusts the same root for it. Layout:
//
//	<Dir>/<repo>/        served at /tuf/<repo>/ byte for byte: 1.root.json
//	                     ... <N>.root.json, root.json, <N>.snapshot.json,
//	                     <N>.targets.json, timestamp.json
//	<Dir>-trust/<repo>/  the go-tuf state this server verified them with
//	                     (its trusted root, first taken at the first sync)
//
// A mirror is never re-signed: the server holds no key of it. Each sync
// refreshes it with go-tuf's updater against the trusted root; metadata
// that does not verify is refused and the last good copy stays served.
type Mirrors struct {
	Dir string
	mu  sync.Mutex

	pubMu sync.Mutex
	pub   map[string]publisherCache // by repository
}

// publisherCache is the update ids one version of a mirrored targets
// file signs.
type publisherCache struct {
	file string
	ids  []string
}

// NewMirrors returns the mirrors kept under dir.
func NewMirrors(dir string) *Mirrors { return &Mirrors{Dir: dir} }

func (m *Mirrors) trustDir() string { return m.Dir + "-trust" }

// Repos lists the mirrored repositories that have a verified copy,
// sorted.
func (m *Mirrors) Repos() ([]string, error) {
	entries, err := os.ReadDir(m.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && ValidRepoName(e.Name()) {
			if _, err := os.Stat(filepath.Join(m.Dir, e.Name(), "timestamp.json")); err == nil {
				out = append(out, e.Name())
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// ReadFile returns a mirrored metadata file exactly as its publisher
// signed it; fs.ErrNotExist for anything not mirrored.
func (m *Mirrors) ReadFile(repo, name string) ([]byte, error) {
	if !ValidRepoName(repo) || !ValidFileName(name) {
		return nil, fs.ErrNotExist
	}
	return atomicfile.ReadLimited(filepath.Join(m.Dir, repo, name), MaxFileBytes)
}

// Root1 returns the bytes of a mirrored repository's 1.root.json and its
// fingerprint.
func (m *Mirrors) Root1(repo string) ([]byte, string, error) {
	data, err := m.ReadFile(repo, "1.root.json")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", ErrNoRoot
	}
	if err != nil {
		return nil, "", err
	}
	return data, Fingerprint(data), nil
}

// MirrorSource is where one repository is mirrored from.
type MirrorSource struct {
	// Base is the upstream's URL; the repository is read from
	// <Base>/tuf/<Repo>/.
	Base string
	Repo string
	// Client is the upstream's pinned client.
	Client *http.Client
	// Pin is the fingerprint the repository's 1.root.json must have; ""
	// trusts the root the upstream serves at the first sync.
	Pin   string
	Clock func() time.Time
}

// Sync refreshes the mirror of src.Repo: the first time it takes the
// upstream's 1.root.json (checked against src.Pin when given); then the
// metadata is verified with go-tuf against the trusted root and stored
// byte for byte, new versions before timestamp.json. On any error the
// served copy is left as it was. It reports whether the served copy
// changed.
func (m *Mirrors) Sync(ctx context.Context, src MirrorSource) (bool, error) {
	if !ValidRepoName(src.Repo) || src.Repo == RepoLocal {
		return false, fmt.Errorf("repository %q: not a repository name to mirror", src.Repo)
	}
	if src.Pin != "" {
		if err := CheckRootFingerprint(src.Pin); err != nil {
			return false, fmt.Errorf("repository %s: pinned fingerprint: %w", src.Repo, err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	fetched := map[string][]byte{}
	v := &Verifier{Dir: m.trustDir(), Server: src.Base, Client: src.Client, Clock: src.Clock,
		Fetched: func(name string, data []byte) { fetched[name] = data }}
	if err := os.MkdirAll(v.Dir, 0o700); err != nil {
		return false, err
	}
	if v.HasRoot(src.Repo) {
		have, err := v.Fingerprint(src.Repo)
		if err != nil {
			return false, err
		}
		if src.Pin != "" && have != src.Pin {
			return false, fmt.Errorf("repository %s: the trusted root has fingerprint %s, not the pinned %s", src.Repo, have, src.Pin)
		}
	} else {
		root, err := fetchRoot1(ctx, src)
		if err != nil {
			return false, err
		}
		fp := Fingerprint(root)
		if src.Pin != "" && fp != src.Pin {
			return false, fmt.Errorf("repository %s: the upstream's 1.root.json has fingerprint %s, not the pinned %s", src.Repo, fp, src.Pin)
		}
		if err := v.SaveRoot(src.Repo, root, fp); err != nil {
			return false, err
		}
	}
	_, rerr := v.Refresh(ctx, src.Repo)
	trusted := filepath.Join(v.Dir, src.Repo)
	out := filepath.Join(m.Dir, src.Repo)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return false, err
	}
	// Root versions go-tuf accepted (kept even when a later step failed:
	// the trusted root has moved on and will not fetch them again).
	rootNow, err := fileVersion(filepath.Join(trusted, "root.json"))
	if err != nil {
		return false, err
	}
	changed := false
	put := func(name string, data []byte) error {
		old, err := os.ReadFile(filepath.Join(out, name))
		if err == nil && string(old) == string(data) {
			return nil
		}
		changed = true
		return atomicfile.Write(filepath.Join(out, name), data, 0o644)
	}
	if _, err := os.Stat(filepath.Join(out, "1.root.json")); err != nil {
		data, err := os.ReadFile(filepath.Join(trusted, "1.root.json"))
		if err != nil {
			return false, err
		}
		if err := put("1.root.json", data); err != nil {
			return false, err
		}
	}
	for name, data := range fetched {
		if n, ok := strings.CutSuffix(name, ".root.json"); ok {
			if v, err := strconv.ParseInt(n, 10, 64); err == nil && v >= 2 && v <= rootNow {
				if err := put(name, data); err != nil {
					return false, err
				}
			}
		}
	}
	if rerr != nil {
		return changed, rerr
	}
	// Snapshot and targets under their consistent-snapshot names, then
	// root.json, then timestamp.json: a client reading the new timestamp
	// finds every file it names.
	for _, role := range []string{metadata.SNAPSHOT, metadata.TARGETS} {
		data, err := os.ReadFile(filepath.Join(trusted, role+".json"))
		if err != nil {
			return changed, err
		}
		ver, err := fileVersion(filepath.Join(trusted, role+".json"))
		if err != nil {
			return changed, err
		}
		if err := put(fmt.Sprintf("%d.%s.json", ver, role), data); err != nil {
			return changed, err
		}
	}
	for _, name := range []string{"root.json", "timestamp.json"} {
		data, err := os.ReadFile(filepath.Join(trusted, name))
		if err != nil {
			return changed, err
		}
		if err := put(name, data); err != nil {
			return changed, err
		}
	}
	return changed, nil
}

// fileVersion reads the signed version of a metadata file.
func fileVersion(path string) (int64, error) {
	data, err := atomicfile.ReadLimited(path, MaxFileBytes)
	if err != nil {
		return 0, err
	}
	var doc struct {
		Signed struct {
			Version int64 `json:"version"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return 0, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return doc.Signed.Version, nil
}

func fetchRoot1(ctx context.Context, src MirrorSource) ([]byte, error) {
	u, err := url.JoinPath(src.Base, "tuf", src.Repo, "1.root.json")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultMetadataTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := src.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("repository %s: GET 1.root.json: %s", src.Repo, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 512<<10+1))
	if err != nil {
		return nil, err
	}
	if len(b) > 512<<10 {
		return nil, fmt.Errorf("repository %s: 1.root.json has more than 512 KiB", src.Repo)
	}
	return b, nil
}

// Status reports the versions and expiries of a mirrored repository's
// served metadata (as its publisher signed it).
func (m *Mirrors) Status(repo string) (Status, error) {
	st := Status{Repo: repo, Roles: []RoleStatus{}, Mirrored: true}
	_, fp, err := m.Root1(repo)
	if err != nil {
		return st, err
	}
	st.RootFingerprint = fp
	read := func(name string) ([]byte, error) { return m.ReadFile(repo, name) }
	b, err := read("root.json")
	if err != nil {
		return st, err
	}
	root, err := metadata.Root().FromBytes(b)
	if err != nil {
		return st, err
	}
	role := func(name string, version int64, expires time.Time) RoleStatus {
		rs := RoleStatus{Role: name, Version: version, Expires: expires}
		if rl := root.Signed.Roles[name]; rl != nil {
			rs.Threshold, rs.KeyIDs = rl.Threshold, slices.Sorted(slices.Values(rl.KeyIDs))
		}
		return rs
	}
	st.Roles = append(st.Roles, role(metadata.ROOT, root.Signed.Version, root.Signed.Expires))
	if b, err = read("timestamp.json"); err != nil {
		return st, err
	}
	ts, err := metadata.Timestamp().FromBytes(b)
	if err != nil {
		return st, err
	}
	snapMeta := ts.Signed.Meta["snapshot.json"]
	if snapMeta == nil {
		return st, errors.New("timestamp.json names no snapshot")
	}
	if b, err = read(fmt.Sprintf("%d.snapshot.json", snapMeta.Version)); err != nil {
		return st, err
	}
	snap, err := metadata.Snapshot().FromBytes(b)
	if err != nil {
		return st, err
	}
	tgtMeta := snap.Signed.Meta["targets.json"]
	if tgtMeta == nil {
		return st, errors.New("snapshot names no targets")
	}
	if b, err = read(fmt.Sprintf("%d.targets.json", tgtMeta.Version)); err != nil {
		return st, err
	}
	tgt, err := metadata.Targets().FromBytes(b)
	if err != nil {
		return st, err
	}
	st.Targets = len(tgt.Signed.Targets)
	st.Roles = append(st.Roles, role(metadata.TARGETS, tgt.Signed.Version, tgt.Signed.Expires),
		role(metadata.SNAPSHOT, snap.Signed.Version, snap.Signed.Expires),
		role(metadata.TIMESTAMP, ts.Signed.Version, ts.Signed.Expires))
	return st, nil
}

// SetSource records the upstream a mirrored repository is refreshed from.
func (m *Mirrors) SetSource(repo, upstream string) error {
	if !ValidRepoName(repo) {
		return fmt.Errorf("repository %q: not a repository name", repo)
	}
	path := filepath.Join(m.trustDir(), repo+".source")
	if old, err := os.ReadFile(path); err == nil && string(old) == upstream {
		return nil
	}
	return atomicfile.Write(path, []byte(upstream), 0o644)
}

// ReposFrom lists the mirrored repositories last refreshed from upstream.
func (m *Mirrors) ReposFrom(upstream string) ([]string, error) {
	repos, err := m.Repos()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range repos {
		if b, err := atomicfile.ReadLimited(filepath.Join(m.trustDir(), r+".source"), 1024); err == nil && string(b) == upstream {
			out = append(out, r)
		}
	}
	return out, nil
}

// Publishers maps each update id a mirrored repository signs (any target
// <update-id>/...) to that repository; the first repository in name order
// wins. It reads the targets version the served timestamp leads to, and
// remembers it until that changes.
func (m *Mirrors) Publishers() (map[string]string, error) {
	repos, err := m.Repos()
	if err != nil {
		return nil, err
	}
	m.pubMu.Lock()
	defer m.pubMu.Unlock()
	if m.pub == nil {
		m.pub = map[string]publisherCache{}
	}
	out := map[string]string{}
	for _, repo := range repos {
		file, err := m.targetsFile(repo)
		if err != nil {
			return nil, fmt.Errorf("repository %s: %w", repo, err)
		}
		c, ok := m.pub[repo]
		if !ok || c.file != file {
			b, err := m.ReadFile(repo, file)
			if err != nil {
				return nil, fmt.Errorf("repository %s: %w", repo, err)
			}
			md, err := metadata.Targets().FromBytes(b)
			if err != nil {
				return nil, fmt.Errorf("repository %s: %w", repo, err)
			}
			c = publisherCache{file: file}
			for p := range md.Signed.Targets {
				if id, _, ok := strings.Cut(p, "/"); ok {
					c.ids = append(c.ids, id)
				}
			}
			m.pub[repo] = c
		}
		for _, id := range c.ids {
			if _, ok := out[id]; !ok {
				out[id] = repo
			}
		}
	}
	return out, nil
}

// targetsFile names the targets version a mirror's timestamp leads to.
func (m *Mirrors) targetsFile(repo string) (string, error) {
	b, err := m.ReadFile(repo, "timestamp.json")
	if err != nil {
		return "", err
	}
	ts, err := metadata.Timestamp().FromBytes(b)
	if err != nil {
		return "", err
	}
	sm := ts.Signed.Meta["snapshot.json"]
	if sm == nil {
		return "", errors.New("timestamp.json names no snapshot")
	}
	if b, err = m.ReadFile(repo, fmt.Sprintf("%d.snapshot.json", sm.Version)); err != nil {
		return "", err
	}
	snap, err := metadata.Snapshot().FromBytes(b)
	if err != nil {
		return "", err
	}
	tm := snap.Signed.Meta["targets.json"]
	if tm == nil {
		return "", errors.New("snapshot names no targets")
	}
	return fmt.Sprintf("%d.targets.json", tm.Version), nil
}
