// Package server is patchgate's HTTP adapter: the admin API under /api/v1/,
// the agent API under /agent/v1/, content under /content/sha256/, and the
// plan cache that keeps the check-in hot path off the database.
//
// It imports the domain, its wire packages (adminapi, agentapi), content
// and a patchgate.Store; never a concrete store or cmd/.
package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/agentapi"
	"github.com/patchgate/patchgate/content"
)

// Config is what a Server is made of; cmd/ fills it.
type Config struct {
	Store   patchgate.Store
	Content *content.Store
	Logger  *slog.Logger
	Clock   func() time.Time
	// MaxPayloadBytes limits one uploaded payload (default 4 GiB).
	MaxPayloadBytes int64
	// ConsolidateNext gives the time of the next scheduled Service Release
	// consolidation after a given time (cmd/ builds it from a cron
	// expression and a time zone); nil disables the schedule.
	ConsolidateNext func(after time.Time) time.Time
	// EventRetention is how long the activity log keeps events (0 = for
	// ever); older ones are pruned hourly.
	EventRetention time.Duration
	// Version is reported in the OpenAPI document.
	Version string
	// NoGroupCommit commits every agent report in its own transaction
	// instead of sharing one among concurrent reports; for benchmarks.
	NoGroupCommit bool
	// TouchFlushInterval is how often batched check-in times are written
	// (default 5s).
	TouchFlushInterval time.Duration
	// Notify configures the subscription and feed routes.
	Notify NotifyConfig
	// SLAWarn is how long before its SLA deadline an unposted update
	// raises sla.approaching (default patchgate.SLAWarnDefault).
	SLAWarn time.Duration
	// SLACheckInterval is how often Run checks the SLA (default 1m).
	SLACheckInterval time.Duration
	// CleanupNext gives the time of the next scheduled cleanup of
	// superseded updates after a given time; nil disables it.
	CleanupNext func(after time.Time) time.Time
	// CleanupAge is how long after being superseded an update no host
	// needs is declined (default patchgate.CleanupAgeDefault).
	CleanupAge time.Duration
	// NotifyJobs configures admin alerts, manual action notices and the
	// status report.
	NotifyJobs NotifyJobsConfig
	// RulesInterval is how often Run runs the automatic approval rules
	// (default 1m; negative: only on posting and on demand).
	RulesInterval time.Duration
	// MaxHeldCheckins bounds the long-poll check-ins held at once
	// (default DefaultMaxHeld); beyond it check-ins are answered at once.
	MaxHeldCheckins int
	// Trust is the TUF repository of this server's own updates.
	Trust TrustConfig
}

// Server serves the APIs. Start its background work with Run.
type Server struct {
	store           patchgate.Store
	content         *content.Store
	log             *slog.Logger
	now             func() time.Time
	maxBytes        int64
	flushIv         time.Duration
	version         string
	retain          time.Duration
	consolidateNext func(time.Time) time.Time

	snap  snapshotCache
	hosts hostCache
	holds holdHub
	// estimates are the install-duration estimates of the last refresh.
	estimates atomic.Pointer[patchgate.InstallEstimates]
	// Group commit of the check-in path's writes.
	events      *groupCommitter[[]patchgate.Event, int]
	inventories *groupCommitter[patchgate.InventoryRecord, struct{}]
	enrolls     *groupCommitter[patchgate.EnrollRecord, patchgate.EnrollResult]

	touchMu sync.Mutex
	touches map[string]time.Time

	notify NotifyConfig

	slaWarn    time.Duration
	slaCheckIv time.Duration

	cleanupNext func(time.Time) time.Time
	cleanupAge  time.Duration
	jobsCfg     NotifyJobsConfig
	jobs        notifyJobs
	rulesIv     time.Duration
	rulesMu     sync.Mutex  // one rule run at a time
	sync        SyncService // upstream sync; nil = none
	// rulesAfterSync: a rule run after a sync is queued (see Synced).
	rulesAfterSync atomic.Bool
	trust          trustState
	planKey        ed25519.PrivateKey // signs check-in answers (plansig.go)
	planKeyText    string             // its public half, agentapi.EncodePlanKey
}

// New returns a server for cfg.
func New(cfg Config) *Server {
	s := &Server{
		store:    cfg.Store,
		content:  cfg.Content,
		log:      cfg.Logger,
		now:      cfg.Clock,
		maxBytes: cfg.MaxPayloadBytes,
		flushIv:  cfg.TouchFlushInterval,
		version:  cfg.Version,
		retain:   cfg.EventRetention,

		consolidateNext: cfg.ConsolidateNext,
		touches:         make(map[string]time.Time),
		notify:          cfg.Notify,

		slaWarn:    cfg.SLAWarn,
		slaCheckIv: cfg.SLACheckInterval,

		cleanupNext: cfg.CleanupNext,
		cleanupAge:  cfg.CleanupAge,
		jobsCfg:     cfg.NotifyJobs,
		rulesIv:     cfg.RulesInterval,
	}
	s.trust.cfg = cfg.Trust
	s.initPlanKey(cfg.Trust.PlanKey)
	if s.cleanupAge <= 0 {
		s.cleanupAge = patchgate.CleanupAgeDefault
	}
	if s.rulesIv == 0 {
		s.rulesIv = time.Minute
	}
	if s.slaWarn <= 0 {
		s.slaWarn = patchgate.SLAWarnDefault
	}
	if s.slaCheckIv <= 0 {
		s.slaCheckIv = time.Minute
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxBytes <= 0 {
		s.maxBytes = 4 << 30
	}
	if s.flushIv <= 0 {
		s.flushIv = 5 * time.Second
	}
	// A random first generation: an ETag from before a restart never
	// matches one after it.
	s.snap.gen.Store(uint64(time.Now().UnixNano()))
	s.events = newGroupCommitter(cfg.Store.RecordDeploymentEventGroups,
		func(evs []patchgate.Event) int { return len(evs) }, 5000, cfg.NoGroupCommit)
	s.inventories = newGroupCommitter(func(ctx context.Context, recs []patchgate.InventoryRecord) ([]struct{}, error) {
		return make([]struct{}, len(recs)), cfg.Store.SaveInventories(ctx, recs)
	}, func(patchgate.InventoryRecord) int { return 1 }, 1000, cfg.NoGroupCommit)
	s.enrolls = newGroupCommitter(cfg.Store.EnrollMany, func(patchgate.EnrollRecord) int { return 1 }, 500, cfg.NoGroupCommit)
	s.hosts.m = make(map[string]hostEntry)
	s.holds.max = cfg.MaxHeldCheckins
	return s
}

// Run does the server's background work (flushing check-in times, the
// SLA check, the approval rules) until ctx ends, then flushes once more.
func (s *Server) Run(ctx context.Context) {
	t := time.NewTicker(s.flushIv)
	defer t.Stop()
	sla := time.NewTicker(s.slaCheckIv)
	defer sla.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	jobs := time.NewTicker(s.jobsConfig().Interval)
	defer jobs.Stop()
	// Without periodic rule runs the ticker never fires.
	rules := time.NewTicker(time.Duration(math.MaxInt64))
	defer rules.Stop()
	if s.rulesIv > 0 {
		rules.Reset(s.rulesIv)
	}
	estimates := time.NewTicker(estimateRefresh)
	defer estimates.Stop()
	defer s.startTrust(ctx)()
	s.runSLACheck(ctx)
	s.pruneEvents(ctx)
	// The consolidation timer is re-armed after each run; without a
	// schedule it never fires.
	consolidate := time.NewTimer(time.Duration(math.MaxInt64))
	defer consolidate.Stop()
	if s.consolidateNext != nil {
		consolidate.Reset(s.consolidateNext(s.now()).Sub(s.now()))
	}
	cleanup := time.NewTimer(time.Duration(math.MaxInt64))
	defer cleanup.Stop()
	if s.cleanupNext != nil {
		cleanup.Reset(s.cleanupNext(s.now()).Sub(s.now()))
	}
	for {
		select {
		case <-ctx.Done():
			s.flushTouches(context.WithoutCancel(ctx))
			return
		case <-t.C:
			s.flushTouches(ctx)
		case <-sla.C:
			s.runSLACheck(ctx)
		case <-prune.C:
			s.pruneEvents(ctx)
		case <-jobs.C:
			s.runNotifyJobs(ctx)
		case <-rules.C:
			s.runRulesJob(ctx, "periodic")
		case <-estimates.C:
			s.refreshEstimates(ctx)
		case <-consolidate.C:
			s.runConsolidation(ctx)
			consolidate.Reset(s.consolidateNext(s.now()).Sub(s.now()))
		case <-cleanup.C:
			s.runCleanup(ctx)
			cleanup.Reset(s.cleanupNext(s.now()).Sub(s.now()))
		}
	}
}

// runConsolidation is the scheduled Service Release job.
func (s *Server) runConsolidation(ctx context.Context) {
	built, err := s.consolidateAll(ctx)
	if err != nil {
		s.log.Error("scheduled consolidation failed", "err", err, "built", built)
		return
	}
	s.log.Info("scheduled consolidation", "service_releases", built)
}

// pruneEvents applies the event retention, in bounded batches so that
// agents' reports are not held up behind one long delete.
func (s *Server) pruneEvents(ctx context.Context) {
	if s.retain <= 0 {
		return
	}
	cutoff := s.now().Add(-s.retain)
	total := 0
	for range 100 {
		n, err := s.store.PruneEvents(ctx, cutoff, 10000)
		if err != nil {
			s.log.Error("pruning the activity log failed", "err", err)
			return
		}
		total += n
		if n < 10000 {
			break
		}
	}
	if total > 0 {
		s.log.Info("pruned the activity log", "events", total, "older than", cutoff.Format(time.RFC3339))
	}
}

// Close stops the group committers; call it after the HTTP server has shut
// down.
func (s *Server) Close() {
	s.holds.release()
	s.events.close()
	s.inventories.close()
	s.enrolls.close()
}

// Handler returns the HTTP handler of every route.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	admin := map[string]http.HandlerFunc{
		"GET /api/v1/openapi.json":                  s.openAPI,
		"GET /api/v1/whoami":                        s.whoami,
		"GET /api/v1/updates":                       s.listUpdates,
		"GET /api/v1/updates/{id}":                  s.getUpdate,
		"POST /api/v1/updates":                      s.addUpdate,
		"PUT /api/v1/content/{sha}":                 s.putContent,
		"GET /api/v1/tokens":                        s.listTokens,
		"POST /api/v1/tokens":                       s.createToken,
		"DELETE /api/v1/tokens/{id}":                s.revokeToken,
		"GET /api/v1/groups":                        s.listGroups,
		"POST /api/v1/groups":                       s.createGroup,
		"DELETE /api/v1/groups/{name}":              s.deleteGroup,
		"POST /api/v1/groups/{name}/hosts":          s.addGroupHosts,
		"DELETE /api/v1/groups/{name}/hosts/{host}": s.removeGroupHost,
		"GET /api/v1/approvals":                     s.listApprovals,
		"POST /api/v1/approvals":                    s.approve,
		"DELETE /api/v1/approvals/{group}/{update}": s.unapprove,
		"GET /api/v1/hosts":                         s.listHosts,
		"GET /api/v1/hosts/{id}":                    s.getHost,
		"GET /api/v1/reports/compliance":            s.compliance,
		"GET /api/v1/events":                        s.listEvents,
		"GET /api/v1/windows":                       s.listWindows,
		"PUT /api/v1/windows/{group}":               s.setWindow,
		"DELETE /api/v1/windows/{group}":            s.deleteWindow,
		"GET /api/v1/windows/{group}/next":          s.windowNext,
		"POST /api/v1/hosts/{id}/installed":         s.markInstalled,
		"GET /api/v1/rollouts":                      s.listRollouts,
		"GET /api/v1/rollouts/{group}":              s.getRollout,
		"PUT /api/v1/rollouts/{group}":              s.setRollout,
		"DELETE /api/v1/rollouts/{group}":           s.deleteRollout,
		"POST /api/v1/rollouts/{group}/resume":      s.resumeRollout,
	}
	maps.Copy(admin, s.notifyHandlers())
	maps.Copy(admin, s.notifyJobHandlers())
	maps.Copy(admin, s.releaseHandlers())
	maps.Copy(admin, s.advisoryHandlers())
	maps.Copy(admin, s.ruleHandlers())
	maps.Copy(admin, s.groupTreeHandlers())
	maps.Copy(admin, s.upstreamHandlers())
	maps.Copy(admin, s.trustHandlers())
	for _, rt := range adminapi.Routes {
		key := rt.Method + " " + rt.Pattern
		h, ok := admin[key]
		if !ok {
			panic("server: no handler for route " + key)
		}
		mux.Handle(key, s.requireRole(rt.Role, s.replicaGuard(key, h)))
		delete(admin, key)
	}
	if len(admin) != 0 {
		panic(fmt.Sprintf("server: handlers without a route in adminapi.Routes: %v", admin))
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, patchgate.NotFound("no such API route: %s %s", r.Method, r.URL.Path))
	})
	mux.HandleFunc("POST "+agentapi.PathEnroll, s.enroll)
	mux.HandleFunc("POST "+agentapi.PathCheckin, s.checkin)
	mux.HandleFunc("POST "+agentapi.PathEvents, s.reportEvents)
	mux.HandleFunc("GET "+agentapi.PathPlanKey, s.servePlanKey)
	mux.HandleFunc("GET "+agentapi.PathContent+"{sha}", s.serveContent)
	s.registerPublicNotify(mux)
	mux.HandleFunc("GET "+agentapi.PathTUF+"{repo}/{file}", s.serveTUF)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return mux
}

type ctxKey int

const tokenKey ctxKey = 1

func (s *Server) requireRole(need patchgate.Role, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, err := s.authToken(r.Context(), bearer(r))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if !t.Role.Allows(need) {
			s.writeError(w, r, patchgate.Errorf(patchgate.CodeForbidden, "role %s may not do this; it needs %s", t.Role, need))
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), tokenKey, t)))
	})
}

// actor names who is acting, for the audit log.
func actor(r *http.Request) string {
	if t, ok := r.Context().Value(tokenKey).(patchgate.Token); ok {
		if t.Name != "" {
			return "token:" + t.Name
		}
		return "token:" + t.ID
	}
	return "anonymous"
}

var statusOf = map[patchgate.Code]int{
	patchgate.CodeInvalid:      http.StatusBadRequest,
	patchgate.CodeNotFound:     http.StatusNotFound,
	patchgate.CodeConflict:     http.StatusConflict,
	patchgate.CodeUnauthorized: http.StatusUnauthorized,
	patchgate.CodeForbidden:    http.StatusForbidden,
	patchgate.CodeTooLarge:     http.StatusRequestEntityTooLarge,
	patchgate.CodeInternal:     http.StatusInternalServerError,
}

// writeError answers with {"code","message"}; internal details are logged,
// not returned.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var pe *patchgate.Error
	if !errors.As(err, &pe) {
		pe = patchgate.Internal(err, "internal error")
	}
	status, ok := statusOf[pe.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	msg := pe.Error()
	if pe.Code == patchgate.CodeInternal {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error"
	}
	writeJSON(w, status, agentapi.ErrorBody{Code: pe.Code, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"code":"internal","message":"internal error"}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// decodeBody decodes a JSON admin request body strictly: size-limited,
// unknown fields refused, one value only.
func decodeBody(r *http.Request, v any) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, adminapi.MaxBodyBytes+1))
	if err != nil {
		return patchgate.Invalid("body", "cannot read request body: %v", err)
	}
	if len(data) > adminapi.MaxBodyBytes {
		return &patchgate.Error{Code: patchgate.CodeTooLarge, Field: "body", Message: fmt.Sprintf("request body exceeds %d bytes", adminapi.MaxBodyBytes)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return patchgate.Invalid("body", "malformed JSON at byte %d", se.Offset)
		case errors.As(err, &te):
			return patchgate.Invalid(te.Field, "expected %s, got JSON %s", te.Type, te.Value)
		case errors.Is(err, io.EOF):
			return patchgate.Invalid("body", "empty request body")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return patchgate.Invalid("body", "malformed JSON: unexpected end of input")
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return patchgate.Invalid(strings.Trim(f, `"`), "unknown field")
		}
		return patchgate.Invalid("body", "%v", err)
	}
	if dec.More() {
		return patchgate.Invalid("body", "unexpected data after the JSON object")
	}
	return nil
}
