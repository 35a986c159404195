package server

import (
	"context"
	"encoding/hex"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/patchgate/patchgate"
)

// snapshot is the catalog, approvals and group memberships that plans are
// computed from, at one generation. Every admin change that can alter a
// plan bumps the generation after it commits; the next plan request
// rebuilds the snapshot. A host's ETag is derived from the generation and
// its inventory digest, so "not modified" needs no database access.
type snapshot struct {
	gen       uint64
	catalog   *patchgate.Catalog
	approvals patchgate.ApprovalIndex
	list      []patchgate.Approval
	members   map[string][]string
	// release is each update's status; testGroups the publisher's test
	// groups. The catalog and approvals above are already filtered by
	// patchgate.ReleasedView.
	release    map[string]patchgate.UpdateStatus
	testGroups []string
	// tree nests the groups: approvals, windows and reboot policies
	// inherit down it.
	tree *patchgate.GroupTree
	windowSnapshot
	// estimates are the install-duration estimates (only with windows).
	estimates patchgate.InstallEstimates
	// origins maps synced updates to their upstream (TUF plan items).
	origins map[string]string
	// repos maps synced updates to the mirrored TUF repository that
	// signs them.
	repos map[string]string
}

type snapshotCache struct {
	gen atomic.Uint64
	mu  sync.Mutex
	cur atomic.Pointer[snapshot]
}

// invalidate must be called after a change that can alter plans has
// committed. It wakes the held check-ins (long polls) too.
func (s *Server) invalidate() {
	s.snap.gen.Add(1)
	s.holds.broadcast()
}

func (s *Server) snapshot(ctx context.Context) (*snapshot, error) {
	g := s.snap.gen.Load()
	if cur := s.snap.cur.Load(); cur != nil && cur.gen == g {
		return cur, nil
	}
	s.snap.mu.Lock()
	defer s.snap.mu.Unlock()
	g = s.snap.gen.Load()
	if cur := s.snap.cur.Load(); cur != nil && cur.gen == g {
		return cur, nil
	}
	updates, err := s.store.ListUpdates(ctx, patchgate.UpdateFilter{})
	if err != nil {
		return nil, err
	}
	approvals, err := s.store.ListApprovals(ctx)
	if err != nil {
		return nil, err
	}
	states, err := s.store.ReleaseStates(ctx)
	if err != nil {
		return nil, err
	}
	testGroups, err := s.store.TestGroups(ctx)
	if err != nil {
		return nil, err
	}
	release := make(map[string]patchgate.UpdateStatus, len(states))
	for _, st := range states {
		release[st.UpdateID] = st.Status
	}
	updates, approvals = patchgate.ReleasedView(updates, approvals, release, testGroups)
	members, err := s.store.Memberships(ctx)
	if err != nil {
		return nil, err
	}
	internGroups(members)
	nodes, err := s.store.GroupNodes(ctx)
	if err != nil {
		return nil, err
	}
	ws, err := s.loadWindows(ctx, approvals)
	if err != nil {
		return nil, err
	}
	catalog := patchgate.NewCatalog(updates)
	estimates, err := s.currentEstimates(ctx, &ws, catalog)
	if err != nil {
		return nil, err
	}
	origins, err := s.store.UpdateOrigins(ctx)
	if err != nil {
		return nil, err
	}
	repos, err := s.store.UpdateRepos(ctx)
	if err != nil {
		return nil, err
	}
	s.fillRepos(origins, repos)
	snap := &snapshot{
		gen:            g,
		estimates:      estimates,
		catalog:        catalog,
		approvals:      patchgate.NewApprovalIndex(approvals),
		list:           approvals,
		members:        members,
		release:        release,
		testGroups:     testGroups,
		tree:           patchgate.NewGroupTree(nodes),
		windowSnapshot: ws,
		origins:        origins,
		repos:          repos,
	}
	s.snap.cur.Store(snap)
	return snap, nil
}

// hostEntry is what the server remembers of a host between check-ins. It
// is kept small and pointer-free (one per host, a million hosts on a small
// server): fixed-size hashes, and group lists shared between hosts.
type hostEntry struct {
	hash      [32]byte // credential hash
	digest    [16]byte // inventory digest last stored
	hasHash   bool
	hasDigest bool
	manual    bool     // mode of the inventory with that digest
	groups    []string // for hosts enrolled after the snapshot was built
	// The ETag of the plan last computed for the host, valid while the
	// snapshot generation and the plan key (inventory digest and window
	// state) are those it was computed at: the 304 fast path.
	planGen  uint64
	planKey  [8]byte
	planETag [12]byte
	hasPlan  bool
}

type hostCache struct {
	mu sync.RWMutex
	m  map[string]hostEntry
}

func (c *hostCache) auth(id string) (hostAuth, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if e, ok := c.m[id]; ok && e.hasHash {
		return hostAuth{hash: e.hash[:]}, true
	}
	return hostAuth{}, false
}

func (c *hostCache) update(id string, f func(*hostEntry)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[id]
	f(&e)
	c.m[id] = e
}

func (c *hostCache) setAuth(id string, a hostAuth) {
	c.update(id, func(e *hostEntry) {
		e.hasHash = copy(e.hash[:], a.hash) == len(e.hash)
	})
}

// sameDigest reports whether d is the inventory digest last stored for id,
// and the mode of that inventory.
func (c *hostCache) sameDigest(id, d string) (same bool, mode patchgate.Mode) {
	var want [16]byte
	if n, err := hex.Decode(want[:], []byte(d)); err != nil || n != len(want) {
		return false, ""
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.m[id]
	if !ok || !e.hasDigest || e.digest != want {
		return false, ""
	}
	if e.manual {
		return true, patchgate.ModeManual
	}
	return true, patchgate.ModeAutomatic
}

func (c *hostCache) setDigest(id, d string, mode patchgate.Mode) {
	c.update(id, func(e *hostEntry) {
		n, err := hex.Decode(e.digest[:], []byte(d))
		e.hasDigest = err == nil && n == len(e.digest)
		e.manual = mode == patchgate.ModeManual
	})
}

func (c *hostCache) setGroups(id string, groups []string) {
	c.update(id, func(e *hostEntry) { e.groups = groups })
}

func (c *hostCache) groups(id string) ([]string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if e, ok := c.m[id]; ok && e.groups != nil {
		return e.groups, true
	}
	return nil, false
}

// internGroups makes hosts with the same groups share one slice: most hosts
// of a fleet are in a handful of combinations.
func internGroups(members map[string][]string) {
	seen := make(map[string][]string)
	for id, gs := range members {
		key := strings.Join(gs, "\x00")
		if shared, ok := seen[key]; ok {
			members[id] = shared
		} else {
			seen[key] = gs
		}
	}
}

// hostGroups returns a host's groups from the snapshot, the host cache, or
// the store, in that order.
func (s *Server) hostGroups(ctx context.Context, snap *snapshot, id string) ([]string, error) {
	if g, ok := snap.members[id]; ok {
		return g, nil
	}
	if g, ok := s.hosts.groups(id); ok {
		return g, nil
	}
	h, err := s.store.GetHost(ctx, id)
	if err != nil {
		return nil, err
	}
	s.hosts.setGroups(id, h.Groups)
	return h.Groups, nil
}

// planETag returns the host's cached plan ETag if it was computed at gen
// for key.
func (c *hostCache) planETag(id string, gen uint64, key [8]byte) (string, bool) {
	c.mu.RLock()
	e, ok := c.m[id]
	c.mu.RUnlock()
	if !ok || !e.hasPlan || e.planGen != gen || e.planKey != key {
		return "", false
	}
	return `"` + hex.EncodeToString(e.planETag[:]) + `"`, true
}

// setPlanETag caches the ETag of the plan computed for id at gen for key.
func (c *hostCache) setPlanETag(id string, gen uint64, key [8]byte, etag string) {
	var raw [12]byte
	if n, err := hex.Decode(raw[:], []byte(strings.Trim(etag, `"`))); err != nil || n != len(raw) {
		return
	}
	c.update(id, func(e *hostEntry) {
		e.planGen, e.planKey, e.planETag, e.hasPlan = gen, key, raw, true
	})
}
