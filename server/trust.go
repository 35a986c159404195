package server

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/agentapi"
	"github.com/patchgate/patchgate/trust"
)

// TrustConfig configures the TUF repository of this server's own updates
// (issue 8).
type TrustConfig struct {
	// Repo is the local repository; nil disables TUF.
	Repo *trust.Repo
	// Debounce is how often a changed catalog is re-signed at most
	// (default 2s); serving timestamp.json re-signs at once if needed.
	Debounce time.Duration
	// CheckInterval is how often metadata is re-signed before it expires
	// and expiry alerts are checked (default 1m).
	CheckInterval time.Duration
	// Warn is how long before expiry each role raises trust.expiring
	// (default trust.DefaultExpiryWarn).
	Warn trust.ExpiryWarn
	// PlanKey signs every check-in answer that carries an agent's nonce
	// (agentapi.SignPlan); nil = a key made for this process only (tests:
	// agents enrolled with it do not survive a restart).
	PlanKey ed25519.PrivateKey
	// Mirrors are the verbatim copies of the upstreams' repositories,
	// served at /tuf/<repo>/ and delivered at enrolment; nil = none.
	Mirrors *trust.Mirrors
}

type trustState struct {
	cfg TrustConfig
	mu  sync.Mutex    // one signing at a time
	gen atomic.Uint64 // snapshot generation last signed
	ok  atomic.Bool   // gen is valid
}

func (s *Server) trustRepo() *trust.Repo { return s.trust.cfg.Repo }

// startTrust runs the trust jobs until ctx ends; the returned function
// waits for them.
func (s *Server) startTrust(ctx context.Context) func() {
	if s.trustRepo() == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		debounce, check := s.trust.cfg.Debounce, s.trust.cfg.CheckInterval
		if debounce <= 0 {
			debounce = 2 * time.Second
		}
		if check <= 0 {
			check = time.Minute
		}
		tick := time.NewTicker(debounce)
		defer tick.Stop()
		chk := time.NewTicker(check)
		defer chk.Stop()
		s.SyncTrust(ctx)
		s.CheckTrust(ctx)
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if !s.trust.ok.Load() || s.trust.gen.Load() != s.snap.gen.Load() {
					s.SyncTrust(ctx)
				}
			case <-chk.C:
				s.CheckTrust(ctx)
			}
		}
	}()
	return func() { <-done }
}

// SyncTrust re-signs the local repository's targets (then snapshot and
// timestamp) if the posted catalog changed since it was last signed: post,
// withdraw, supersede, revision, Service Release and sync all bump the
// plan cache's generation.
func (s *Server) SyncTrust(ctx context.Context) error {
	repo := s.trustRepo()
	if repo == nil || !repo.HasRoot() {
		return nil
	}
	s.trust.mu.Lock()
	defer s.trust.mu.Unlock()
	g := s.snap.gen.Load()
	if s.trust.ok.Load() && s.trust.gen.Load() == g {
		return nil
	}
	err := func() error {
		updates, err := s.store.ListUpdates(ctx, patchgate.UpdateFilter{})
		if err != nil {
			return err
		}
		states, err := s.store.ReleaseStates(ctx)
		if err != nil {
			return err
		}
		origins, err := s.store.UpdateOrigins(ctx)
		if err != nil {
			return err
		}
		status := make(map[string]patchgate.UpdateStatus, len(states))
		for _, st := range states {
			status[st.UpdateID] = st.Status
		}
		targets, skipped := trust.CatalogTargets(updates, status, origins)
		for _, e := range skipped {
			s.log.Warn("payload left out of the signed targets", "err", e)
		}
		changed, err := repo.Publish(targets)
		if changed {
			s.log.Info("signed the catalog", "repo", repo.Name(), "targets", len(targets))
		}
		return err
	}()
	if err != nil {
		s.log.Error("signing the catalog failed", "repo", repo.Name(), "err", err)
		return err
	}
	s.trust.gen.Store(g)
	s.trust.ok.Store(true)
	return nil
}

// CheckTrust re-signs metadata before it expires, even when nothing
// changed, and raises trust.expiring once per (role, version) whose
// metadata expires within its warning threshold.
func (s *Server) CheckTrust(ctx context.Context) {
	repo := s.trustRepo()
	if repo == nil {
		return
	}
	s.trust.mu.Lock()
	roles, err := repo.Refresh()
	s.trust.mu.Unlock()
	if err != nil {
		s.log.Error("re-signing TUF metadata failed", "repo", repo.Name(), "err", err)
	} else if len(roles) > 0 {
		s.log.Info("re-signed TUF metadata before expiry", "repo", repo.Name(), "roles", roles)
	}
	st, err := repo.Status()
	if err != nil {
		s.log.Error("reading TUF status failed", "err", err)
		return
	}
	warn := s.trust.cfg.Warn
	if warn == nil {
		warn = trust.DefaultExpiryWarn()
	}
	now := s.now().UTC()
	s.raiseExpiring(ctx, trust.ExpiringRoles(st, now, warn), now, "")
	// Mirrored repositories are re-signed by their publisher and refreshed
	// here hourly: one that nears expiry means the upstream stopped
	// re-signing or this server cannot reach it, and agents will soon
	// refuse its updates.
	if m := s.trust.cfg.Mirrors; m != nil {
		repos, err := m.Repos()
		if err != nil {
			s.log.Error("listing mirrored TUF repositories failed", "err", err)
			return
		}
		for _, name := range repos {
			st, err := m.Status(name)
			if err != nil {
				s.log.Warn("reading a mirrored repository's status failed", "repo", name, "err", err)
				continue
			}
			s.raiseExpiring(ctx, trust.ExpiringRoles(st, now, warn), now,
				" (a mirror: its publisher has not re-signed it, or this server cannot refresh it from its upstream)")
		}
	}
}

// raiseExpiring appends trust.expiring once per (repository, role,
// version).
func (s *Server) raiseExpiring(ctx context.Context, es []trust.Expiring, now time.Time, note string) {
	for _, e := range es {
		ev := patchgate.Event{ID: "trust-expiring:" + e.Key(), Time: now, Type: trust.EventExpiring, Actor: "server",
			Detail: fmt.Sprintf("%s metadata of TUF repository %s (version %d) expires %s%s", e.Role, e.Repo, e.Version, e.Expires.Format(time.RFC3339), note)}
		if _, err := s.appendOnce(ctx, ev); err != nil {
			s.log.Error("recording trust.expiring failed", "err", err)
		}
	}
}

// trustRoots are the roots delivered at enrolment: this server's own
// repository (as local) and every repository it mirrors (by the id of the
// server that publishes it).
func (s *Server) trustRoots() []agentapi.TrustRoot {
	var out []agentapi.TrustRoot
	if repo := s.trustRepo(); repo != nil {
		root, fp, err := repo.Root1()
		if err != nil {
			if !errors.Is(err, trust.ErrNoRoot) {
				s.log.Error("reading 1.root.json failed", "err", err)
			}
		} else {
			out = append(out, agentapi.TrustRoot{Repo: repo.Name(), Root: root, Fingerprint: fp})
		}
	}
	if m := s.trust.cfg.Mirrors; m != nil {
		repos, err := m.Repos()
		if err != nil {
			s.log.Error("listing mirrored TUF repositories failed", "err", err)
		}
		for _, name := range repos {
			root, fp, err := m.Root1(name)
			if err != nil {
				s.log.Error("reading a mirrored 1.root.json failed", "repo", name, "err", err)
				continue
			}
			out = append(out, agentapi.TrustRoot{Repo: name, Root: root, Fingerprint: fp})
		}
	}
	return out
}

// stampRepos names, on each plan item, the repository whose targets sign
// its payloads: this server's own (local) for the updates it publishes
// and signs, the mirrored repository of the publisher for synced updates
// (as the upstream's feed said). A synced update no repository signs
// keeps Repo empty (agents refuse it unless --allow-unsigned); so do
// updates that are not signed at all.
func (s *Server) stampRepos(snap *snapshot, plan *patchgate.Plan) {
	for i := range plan.Items {
		it := &plan.Items[i]
		if _, synced := snap.origins[it.UpdateID]; synced {
			if s.trust.cfg.Mirrors != nil {
				it.Repo = snap.repos[it.UpdateID]
			}
			continue
		}
		if s.trustRepo() != nil && trust.Signs(snap.release[it.UpdateID]) {
			it.Repo = s.trustRepo().Name()
		}
	}
}

// ownRepoName is the name this server's own repository has for its
// downstreams: its server id ("" without signed updates).
func (s *Server) ownRepoName(ctx context.Context) string {
	repo := s.trustRepo()
	if repo == nil || !repo.HasRoot() {
		return ""
	}
	self, err := s.store.ServerID(ctx)
	if err != nil {
		return ""
	}
	return self
}

// feedRepos are the repositories a feed page lists: this server's own
// (by its id) and its mirrors.
func (s *Server) feedRepos(ctx context.Context) []string {
	var out []string
	if own := s.ownRepoName(ctx); own != "" {
		out = append(out, own)
	}
	if m := s.trust.cfg.Mirrors; m != nil {
		repos, _ := m.Repos()
		out = append(out, repos...)
	}
	return out
}

// serveTUF serves GET /tuf/{repo}/{file}: public, read-only metadata.
// This server's own repository is served as local and as its server id;
// a mirrored repository byte for byte as its publisher signed it. Only
// the metadata file names are served; anything else is 404.
func (s *Server) serveTUF(w http.ResponseWriter, r *http.Request) {
	repo := s.trustRepo()
	name, file := r.PathValue("repo"), r.PathValue("file")
	if !trust.ValidFileName(file) || !trust.ValidRepoName(name) {
		s.writeError(w, r, patchgate.NotFound("no such TUF metadata"))
		return
	}
	var data []byte
	var err error
	if repo != nil && (name == repo.Name() || name == s.ownRepoName(r.Context())) {
		if file == "timestamp.json" || file == "root.json" {
			// A client that has just been given a plan sees its items signed.
			s.SyncTrust(r.Context())
		}
		data, err = repo.ReadFile(file)
	} else if m := s.trust.cfg.Mirrors; m != nil {
		data, err = m.ReadFile(name, file)
	} else {
		err = fs.ErrNotExist
	}
	if errors.Is(err, fs.ErrNotExist) {
		s.writeError(w, r, patchgate.NotFound("no such TUF metadata"))
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(data)
}

func (s *Server) trustHandlers() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /api/v1/trust":              s.trustStatus,
		"POST /api/v1/trust/root":        s.setTrustRoot,
		"POST /api/v1/trust/online-keys": s.pendingOnlineKeys,
	}
}

func (s *Server) trustStatusBody() (adminapi.TrustStatus, error) {
	out := adminapi.TrustStatus{Repos: []adminapi.TrustRepoStatus{}, PlanKey: s.planKeyText}
	repo := s.trustRepo()
	if repo == nil {
		return out, nil
	}
	st, err := repo.Status()
	if err != nil {
		return out, err
	}
	keys := map[string]string{}
	for role, k := range repo.OnlineKeys() {
		id, _ := k.ID()
		keys[role] = id
	}
	warn := s.trust.cfg.Warn
	if warn == nil {
		warn = trust.DefaultExpiryWarn()
	}
	out.Repos = append(out.Repos, adminapi.TrustRepoStatus{Status: st, OnlineKeys: keys, Expiring: trust.ExpiringRoles(st, s.now(), warn)})
	if m := s.trust.cfg.Mirrors; m != nil {
		repos, err := m.Repos()
		if err != nil {
			return out, err
		}
		for _, name := range repos {
			st, err := m.Status(name)
			if err != nil {
				s.log.Warn("reading a mirrored repository's status failed", "repo", name, "err", err)
				continue
			}
			out.Repos = append(out.Repos, adminapi.TrustRepoStatus{Status: st, OnlineKeys: map[string]string{}, Expiring: trust.ExpiringRoles(st, s.now(), warn)})
		}
	}
	return out, nil
}

func (s *Server) trustStatus(w http.ResponseWriter, r *http.Request) {
	out, err := s.trustStatusBody()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// setTrustRoot accepts a new root version (a rotation signed offline by
// the old threshold and the new keys), verified against the current root.
func (s *Server) setTrustRoot(w http.ResponseWriter, r *http.Request) {
	repo := s.trustRepo()
	if repo == nil {
		s.writeError(w, r, patchgate.NotFound("TUF signing is not enabled on this server"))
		return
	}
	var req adminapi.SetRootRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(req.Root) == 0 {
		s.writeError(w, r, patchgate.Invalid("root", "missing"))
		return
	}
	s.trust.mu.Lock()
	err := repo.SetRoot(req.Root)
	s.trust.mu.Unlock()
	if err != nil {
		s.writeError(w, r, patchgate.Invalid("root", "%s", strings.TrimPrefix(err.Error(), "root: ")))
		return
	}
	s.trust.ok.Store(false)
	if err := s.SyncTrust(r.Context()); err != nil {
		s.writeError(w, r, err)
		return
	}
	st, _ := repo.Status()
	ev := s.event(r, adminapi.EventTrustRoot)
	ev.Detail = fmt.Sprintf("root of TUF repository %s is now version %d", repo.Name(), st.Roles[0].Version)
	if err := s.store.AppendEvent(r.Context(), ev); err != nil {
		s.log.Error("recording trust.root failed", "err", err)
	}
	out, err := s.trustStatusBody()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// pendingOnlineKeys creates (once) the keys that replace the online keys
// when a root listing them is accepted, and returns their public keys.
func (s *Server) pendingOnlineKeys(w http.ResponseWriter, r *http.Request) {
	repo := s.trustRepo()
	if repo == nil {
		s.writeError(w, r, patchgate.NotFound("TUF signing is not enabled on this server"))
		return
	}
	keys, err := repo.PendingOnlineKeys()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, adminapi.PendingOnlineKeys{Keys: keys})
}

// fillRepos names the repository of synced updates whose feed entry named
// none (synced before this server mirrored repositories: the cursor has
// moved past them) from the mirrors: the mirrored repository that signs
// the update id, if any.
func (s *Server) fillRepos(origins, repos map[string]string) {
	m := s.trust.cfg.Mirrors
	if m == nil {
		return
	}
	var pubs map[string]string
	for id := range origins {
		if repos[id] != "" {
			continue
		}
		if pubs == nil {
			var err error
			if pubs, err = m.Publishers(); err != nil {
				s.log.Warn("reading the mirrored repositories' targets failed", "err", err)
				return
			}
		}
		if r := pubs[id]; r != "" {
			repos[id] = r
		}
	}
}
