package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/pki"
)

// Upstream sync: the change feed this server serves its downstreams, and
// the admin routes of the upstreams it syncs from. The syncing itself is
// the upstream package's, behind SyncService.

// SyncService runs syncs and fetches synced content; cmd/ wires the
// upstream package's Syncer in. A server without one serves the feed but
// has no upstreams' syncs to run.
type SyncService interface {
	// Start starts syncing one upstream ("" = every one) in the
	// background and returns the runs started; a conflict if it is
	// already running.
	Start(ctx context.Context, upstream, trigger string) ([]patchgate.SyncRun, error)
	// Running returns the runs in progress, with their progress.
	Running() []patchgate.SyncRun
	// FetchContent fetches the content sha from the upstream of a synced
	// update that has it as a payload, verifies and stores it; not_found
	// if no synced update names it.
	FetchContent(ctx context.Context, sha string) error
	// Approved tells that updates were approved for install: their
	// synced content is fetched in the background.
	Approved(updateIDs []string)
}

// SetSyncService wires the sync service in (before Handler is served).
func (s *Server) SetSyncService(sv SyncService) { s.sync = sv }

// Invalidate tells the plan cache that the catalog changed outside the
// admin API (a sync stored updates).
func (s *Server) Invalidate() { s.invalidate() }

// Synced tells the server that a sync stored updates: plans are
// recomputed, and the approval rules run, in the background, once for a
// burst of pages (a page arriving during a run queues one more run).
func (s *Server) Synced() {
	s.invalidate()
	if !s.rulesAfterSync.CompareAndSwap(false, true) {
		return
	}
	go func() {
		s.rulesAfterSync.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		s.runRulesJob(ctx, "sync")
	}()
}

// downstreamChainAge is how long a downstream's chain counts for loop
// detection after its last feed request.
const downstreamChainAge = 30 * 24 * time.Hour

func (s *Server) upstreamHandlers() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /api/v1/feed/changes":             s.feedChanges,
		"GET /api/v1/upstreams":                s.listUpstreams,
		"POST /api/v1/upstreams":               s.addUpstream,
		"DELETE /api/v1/upstreams/{name}":      s.removeUpstream,
		"POST /api/v1/sync":                    s.startSync,
		"GET /api/v1/sync/status":              s.syncStatus,
		"GET /api/v1/sync/runs/{id}":           s.syncRun,
		"POST /api/v1/feed/compliance":         s.receiveSiteCompliance,
		"GET /api/v1/reports/compliance/sites": s.sitesCompliance,
		"POST /api/v1/cleanup":                 s.purge,
		"GET /api/v1/feed/policy":              s.feedPolicy,
	}
}

// maxSiteReportBytes bounds a rolled-up compliance report.
const maxSiteReportBytes = 64 << 20

// siteName is how this server names itself in compliance roll-ups.
func (s *Server) siteName() string {
	if s.notify.ServerName != "" {
		return s.notify.ServerName
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "patchgate"
}

// LocalSiteCompliance is this server's compliance summary for its
// upstreams.
func (s *Server) LocalSiteCompliance(ctx context.Context) (patchgate.SiteCompliance, error) {
	self, err := s.store.ServerID(ctx)
	if err != nil {
		return patchgate.SiteCompliance{}, err
	}
	rows, now, err := s.complianceReport(ctx, "", "")
	if err != nil {
		return patchgate.SiteCompliance{}, err
	}
	return patchgate.SiteCompliance{ServerID: self, Name: s.siteName(), GeneratedAt: now, Rows: rows}, nil
}

// receiveSiteCompliance stores the summaries a downstream rolled up: its
// own and those of the servers below it, each of them in its chain.
func (s *Server) receiveSiteCompliance(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	chain, err := patchgate.ParseChain(r.Header.Get(patchgate.HeaderServerChain))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	self, err := s.store.ServerID(ctx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := patchgate.CheckChain(self, chain); err != nil {
		s.writeError(w, r, err)
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxSiteReportBytes+1))
	if err != nil {
		s.writeError(w, r, patchgate.Invalid("body", "cannot read request body: %v", err))
		return
	}
	if len(data) > maxSiteReportBytes {
		s.writeError(w, r, &patchgate.Error{Code: patchgate.CodeTooLarge, Field: "body", Message: fmt.Sprintf("request body exceeds %d bytes", maxSiteReportBytes)})
		return
	}
	var req adminapi.SiteComplianceReport
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() {
		s.writeError(w, r, patchgate.Invalid("body", "malformed site compliance report"))
		return
	}
	if len(req.Sites) == 0 || len(req.Sites) > patchgate.MaxChainLen {
		s.writeError(w, r, patchgate.Invalid("sites", "give from 1 to %d sites", patchgate.MaxChainLen))
		return
	}
	for i, sc := range req.Sites {
		if err := patchgate.ValidateSiteCompliance(sc); err != nil {
			var pe *patchgate.Error
			if errors.As(err, &pe) {
				err = patchgate.Invalid(fmt.Sprintf("sites[%d].%s", i, pe.Field), "%s", pe.Message)
			}
			s.writeError(w, r, err)
			return
		}
		if !slices.Contains(chain, sc.ServerID) {
			s.writeError(w, r, patchgate.Invalid(fmt.Sprintf("sites[%d].server_id", i), "%s is not in the sending chain %s", sc.ServerID, strings.Join(chain, ",")))
			return
		}
	}
	if err := s.store.PutSiteCompliance(ctx, chain[0], req.Sites, s.now()); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// sitesCompliance is report compliance --all-sites: this server's rows,
// then every site rolled up to it.
func (s *Server) sitesCompliance(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	group, update := q.Get("group"), q.Get("update")
	local, err := s.LocalSiteCompliance(ctx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sites, err := s.store.SiteCompliances(ctx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	all := append([]patchgate.SiteCompliance{local}, sites...)
	for i := range all {
		all[i].Rows = slices.DeleteFunc(all[i].Rows, func(row patchgate.ComplianceRow) bool {
			return (group != "" && row.Group != group) || (update != "" && row.UpdateID != update)
		})
	}
	writeJSON(w, http.StatusOK, adminapi.SitesComplianceReport{GeneratedAt: local.GeneratedAt, Sites: all})
}

// ChainFor returns the chain of server ids this server sends upstream:
// itself, then the servers that sync from it (as their recent feed
// requests said).
func (s *Server) ChainFor(ctx context.Context) ([]string, error) {
	self, err := s.store.ServerID(ctx)
	if err != nil {
		return nil, err
	}
	down, err := s.store.DownstreamChains(ctx, s.now().Add(-downstreamChainAge))
	if err != nil {
		return nil, err
	}
	return patchgate.BuildChain(self, down), nil
}

// ancestors is this server's id, then the servers above it through its
// upstreams, as their last feed pages said.
func (s *Server) ancestors(ctx context.Context, self string) ([]string, error) {
	ups, err := s.store.Upstreams(ctx)
	if err != nil {
		return nil, err
	}
	var above [][]string
	for _, u := range ups {
		above = append(above, u.Ancestors)
	}
	return patchgate.BuildChain(self, above), nil
}

// feedChain checks the chain of server ids of a feed request: it must not
// loop back to this server or the servers above it. It records the
// requester's chain and returns this server's id and ancestors; on a
// refusal it has answered the request.
func (s *Server) feedChain(w http.ResponseWriter, r *http.Request) (self string, ancestors []string, ok bool) {
	ctx := r.Context()
	chain, err := patchgate.ParseChain(r.Header.Get(patchgate.HeaderServerChain))
	if err != nil {
		s.writeError(w, r, err)
		return "", nil, false
	}
	if self, err = s.store.ServerID(ctx); err != nil {
		s.writeError(w, r, err)
		return "", nil, false
	}
	if ancestors, err = s.ancestors(ctx, self); err != nil {
		s.writeError(w, r, err)
		return "", nil, false
	}
	if err := patchgate.CheckLoop(ancestors, chain); err != nil {
		s.log.Warn("refused a feed request that would loop", "chain", strings.Join(chain, ","), "actor", actor(r))
		s.writeError(w, r, err)
		return "", nil, false
	}
	if err := s.store.RecordDownstream(ctx, chain[0], chain, s.now()); err != nil {
		s.writeError(w, r, err)
		return "", nil, false
	}
	return self, ancestors, true
}

func (s *Server) feedChanges(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	var cursor int64
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			s.writeError(w, r, patchgate.Invalid("cursor", "%q is not a feed cursor (a number, 0 = from the start)", v))
			return
		}
		cursor = n
	}
	limit := adminapi.FeedDefaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > patchgate.MaxFeedLimit {
			s.writeError(w, r, patchgate.Invalid("limit", "must be a number from 1 to %d", patchgate.MaxFeedLimit))
			return
		}
		limit = n
	}
	self, ancestors, ok := s.feedChain(w, r)
	if !ok {
		return
	}
	entries, next, remaining, err := s.store.FeedChanges(ctx, cursor, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	own := s.ownRepoName(ctx)
	for i := range entries {
		if entries[i].Repo == self && own == "" {
			entries[i].Repo = "" // this server signs nothing
		}
	}
	writeJSON(w, http.StatusOK, adminapi.FeedPage{ServerID: self, Ancestors: ancestors, Entries: entries, Next: next, More: remaining > 0, Remaining: remaining, Repos: s.feedRepos(ctx)})
}

func (s *Server) upstreamInfos(ctx context.Context) ([]adminapi.UpstreamInfo, error) {
	ups, err := s.store.Upstreams(ctx)
	if err != nil {
		return nil, err
	}
	out := []adminapi.UpstreamInfo{}
	for _, u := range ups {
		info := adminapi.UpstreamInfo{Upstream: u}
		runs, err := s.store.SyncRuns(ctx, u.Name, 1)
		if err != nil {
			return nil, err
		}
		if len(runs) > 0 {
			info.LastRun = &runs[0]
		}
		out = append(out, info)
	}
	return out, nil
}

func (s *Server) listUpstreams(w http.ResponseWriter, r *http.Request) {
	out, err := s.upstreamInfos(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) addUpstream(w http.ResponseWriter, r *http.Request) {
	var req adminapi.AddUpstreamRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	u := patchgate.Upstream{Name: req.Name, URL: strings.TrimRight(strings.TrimSpace(req.URL), "/"), Token: strings.TrimSpace(req.Token),
		Products: req.Products, Kinds: req.Kinds, Content: req.Content, Mode: req.Mode, CreatedAt: s.now().UTC(), CreatedBy: actor(r), RootPins: req.RootFingerprints}
	if req.CAFingerprint != "" {
		fp, err := pki.NormalizeFingerprint(req.CAFingerprint)
		if err != nil {
			s.writeError(w, r, patchgate.Invalid("ca_fingerprint", "%v", strings.TrimPrefix(err.Error(), "pki: ")))
			return
		}
		u.CAFingerprint = fp
	}
	if err := u.Validate(); err != nil {
		s.writeError(w, r, err)
		return
	}
	ev := s.event(r, patchgate.EventUpstreamChange)
	ev.Detail = "added upstream " + u.Name + " at " + u.URL
	if err := s.store.AddUpstream(r.Context(), u, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, adminapi.UpstreamInfo{Upstream: u})
}

func (s *Server) removeUpstream(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ev := s.event(r, patchgate.EventUpstreamChange)
	ev.Detail = "removed upstream " + name
	if err := s.store.RemoveUpstream(r.Context(), name, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) startSync(w http.ResponseWriter, r *http.Request) {
	var req adminapi.SyncRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.sync == nil {
		s.writeError(w, r, patchgate.Errorf(patchgate.CodeConflict, "this server runs without upstream sync"))
		return
	}
	if req.Upstream != "" {
		if _, err := s.store.GetUpstream(r.Context(), req.Upstream); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	runs, err := s.sync.Start(r.Context(), req.Upstream, "manual")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, adminapi.SyncStarted{Runs: runs})
}

// withProgress overlays the in-memory progress of running syncs on runs
// read from the store.
func (s *Server) withProgress(runs []patchgate.SyncRun) []patchgate.SyncRun {
	if s.sync == nil {
		return runs
	}
	live := s.sync.Running()
	for i, r := range runs {
		if j := slices.IndexFunc(live, func(l patchgate.SyncRun) bool { return l.ID == r.ID }); j >= 0 && r.Status == patchgate.SyncRunning {
			runs[i] = live[j]
		}
	}
	return runs
}

func (s *Server) syncStatus(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			s.writeError(w, r, patchgate.Invalid("limit", "must be a number from 1 to 1000"))
			return
		}
		limit = n
	}
	st := adminapi.SyncStatus{GeneratedAt: s.now().UTC()}
	var err error
	if st.ServerID, err = s.store.ServerID(ctx); err != nil {
		s.writeError(w, r, err)
		return
	}
	if st.Upstreams, err = s.upstreamInfos(ctx); err != nil {
		s.writeError(w, r, err)
		return
	}
	runs, err := s.store.SyncRuns(ctx, q.Get("upstream"), limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st.Runs = s.withProgress(runs)
	if st.Conflicts, err = s.store.SyncConflicts(ctx); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) syncRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if s.sync != nil {
		for _, l := range s.sync.Running() {
			if l.ID == id {
				writeJSON(w, http.StatusOK, l)
				return
			}
		}
	}
	runs, err := s.store.SyncRuns(r.Context(), "", 1000)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, run := range runs {
		if run.ID == id {
			writeJSON(w, http.StatusOK, run)
			return
		}
	}
	s.writeError(w, r, patchgate.NotFound("sync run %q not found", id))
}

// fetchMissingContent makes this server fetch content it has not got yet
// from the upstream of a synced update that names it, so that a host or
// downstream asking for it gets it. It reports whether it did.
func (s *Server) fetchMissingContent(ctx context.Context, sha string) (bool, error) {
	if s.sync == nil {
		return false, nil
	}
	if _, ok, err := s.content.Has(sha); err != nil || ok {
		return false, err
	}
	if err := s.sync.FetchContent(ctx, sha); err != nil {
		if patchgate.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}
