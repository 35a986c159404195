package server

import (
	"context"
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
	windowSnapshot
}

type snapshotCache struct {
	gen atomic.Uint64
	mu  sync.Mutex
	cur atomic.Pointer[snapshot]
}

// invalidate must be called after a change that can alter plans has
// committed.
func (s *Server) invalidate() { s.snap.gen.Add(1) }

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
	members, err := s.store.Memberships(ctx)
	if err != nil {
		return nil, err
	}
	ws, err := s.loadWindows(ctx, approvals)
	if err != nil {
		return nil, err
	}
	snap := &snapshot{
		gen:            g,
		catalog:        patchgate.NewCatalog(updates),
		approvals:      patchgate.NewApprovalIndex(approvals),
		list:           approvals,
		members:        members,
		windowSnapshot: ws,
	}
	s.snap.cur.Store(snap)
	return snap, nil
}

// hostEntry is what the server remembers of a host between check-ins.
type hostEntry struct {
	auth   *hostAuth
	digest string   // inventory digest last stored
	groups []string // for hosts enrolled after the snapshot was built
}

type hostCache struct {
	mu sync.RWMutex
	m  map[string]*hostEntry
}

func (c *hostCache) auth(id string) (hostAuth, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if e := c.m[id]; e != nil && e.auth != nil {
		return *e.auth, true
	}
	return hostAuth{}, false
}

func (c *hostCache) setAuth(id string, a hostAuth) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(id)
	e.auth = &a
}

func (c *hostCache) entry(id string) *hostEntry {
	e := c.m[id]
	if e == nil {
		e = &hostEntry{}
		c.m[id] = e
	}
	return e
}

func (c *hostCache) digest(id string) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if e := c.m[id]; e != nil {
		return e.digest
	}
	return ""
}

func (c *hostCache) setDigest(id, d string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entry(id).digest = d
}

func (c *hostCache) setGroups(id string, groups []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entry(id).groups = groups
}

func (c *hostCache) groups(id string) ([]string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if e := c.m[id]; e != nil && e.groups != nil {
		return e.groups, true
	}
	return nil, false
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
