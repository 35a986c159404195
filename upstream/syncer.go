package upstream

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/content"
	"github.com/patchgate/patchgate/trust"
)

// Config is what a Syncer is made of; cmd/ fills it.
type Config struct {
	Store   patchgate.Store
	Content *content.Store
	Logger  *slog.Logger
	Clock   func() time.Time
	// Chain returns the chain of server ids sent with feed requests (this
	// server, then its downstreams); the server's ChainFor.
	Chain func(ctx context.Context) ([]string, error)
	// Compliance returns this server's compliance summary, rolled up to
	// each upstream after a sync with those of the sites below; nil = no
	// roll-up.
	Compliance func(ctx context.Context) (patchgate.SiteCompliance, error)
	// OnChange is called after a page changed the catalog (plans must be
	// recomputed).
	OnChange func()
	// PageSize is the feed page size asked for (default 200).
	PageSize int
	// Parallel bounds concurrent content downloads (default 4).
	Parallel int
	// PartialDir holds partial downloads, resumed with Range requests.
	PartialDir string
	// MaxPayloadBytes refuses larger synced payloads (default 4 GiB).
	MaxPayloadBytes int64
	// PerDay scheduled syncs of every upstream a day (0 = none), at a
	// random offset chosen once, like WSUS.
	PerDay int
	Offset time.Duration
	// Mirrors keeps the verbatim copies of the upstreams' TUF
	// repositories; nil = none are mirrored.
	Mirrors *trust.Mirrors
	// MirrorInterval is how often the mirrors are refreshed between
	// syncs (default 1h; negative = only with syncs): a mirrored
	// timestamp lives a day, and its publisher re-signs it every 12h.
	MirrorInterval time.Duration
}

// Syncer runs syncs and content fetches. It implements
// server.SyncService.
type Syncer struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
	sem chan struct{}

	mu       sync.Mutex
	base     context.Context // the server's lifetime
	running  map[string]*run // by upstream name
	fetching map[string]*fetchCall
	wg       sync.WaitGroup
}

type run struct {
	mu    sync.Mutex
	rec   patchgate.SyncRun
	repos []string // the TUF repositories the upstream's last page listed
}

func (r *run) snapshot() patchgate.SyncRun {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rec
}

type fetchCall struct {
	done  chan struct{}
	err   error
	bytes int64
}

// New returns a syncer; call Run to start its schedule and background
// work.
func New(cfg Config) *Syncer {
	if cfg.PageSize <= 0 {
		cfg.PageSize = 200
	}
	cfg.PageSize = min(cfg.PageSize, patchgate.MaxFeedLimit)
	if cfg.Parallel <= 0 {
		cfg.Parallel = 4
	}
	if cfg.MaxPayloadBytes <= 0 {
		cfg.MaxPayloadBytes = 4 << 30
	}
	s := &Syncer{cfg: cfg, log: cfg.Logger, now: cfg.Clock, sem: make(chan struct{}, cfg.Parallel),
		base: context.Background(), running: map[string]*run{}, fetching: map[string]*fetchCall{}}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.cfg.OnChange == nil {
		s.cfg.OnChange = func() {}
	}
	return s
}

// RandomOffset returns a random offset within one period of perDay syncs.
func RandomOffset(perDay int) time.Duration {
	if perDay < 1 {
		return 0
	}
	var b [8]byte
	rand.Read(b[:])
	var n uint64
	for _, x := range b {
		n = n<<8 | uint64(x)
	}
	return time.Duration(n % uint64(24*time.Hour/time.Duration(perDay)))
}

// Run runs the schedule until ctx ends: fetches content pending from
// before a restart once, then syncs every upstream PerDay times a day.
// It waits for the syncs it started before returning.
func (s *Syncer) Run(ctx context.Context) {
	s.mu.Lock()
	s.base = ctx
	s.mu.Unlock()
	s.closeInterrupted(ctx)
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.fetchPending(ctx, nil) }()
	timer := time.NewTimer(time.Duration(math.MaxInt64))
	defer timer.Stop()
	arm := func() {
		if next := patchgate.NextSync(s.now(), s.cfg.PerDay, s.cfg.Offset); !next.IsZero() {
			timer.Reset(next.Sub(s.now()))
			s.log.Info("next scheduled sync", "at", next.Format(time.RFC3339))
		}
	}
	arm()
	mirrorEvery := s.cfg.MirrorInterval
	if mirrorEvery == 0 {
		mirrorEvery = time.Hour
	}
	var refresh <-chan time.Time
	if mirrorEvery > 0 && s.cfg.Mirrors != nil {
		t := time.NewTicker(mirrorEvery)
		defer t.Stop()
		refresh = t.C
	}
	for {
		select {
		case <-ctx.Done():
			s.wg.Wait()
			return
		case <-refresh:
			s.RefreshMirrors(ctx)
		case <-timer.C:
			if ups, err := s.cfg.Store.Upstreams(ctx); err != nil || len(ups) == 0 {
				arm()
				continue
			}
			if _, err := s.Start(ctx, "", "schedule"); err != nil {
				s.log.Warn("scheduled sync", "err", err)
			}
			arm()
		}
	}
}

// closeInterrupted records runs left running by a server that stopped
// (killed, or crashed) as failed: what they stored is committed page by
// page, and the next sync resumes from the stored cursor.
func (s *Syncer) closeInterrupted(ctx context.Context) {
	runs, err := s.cfg.Store.SyncRuns(ctx, "", 1000)
	if err != nil {
		s.log.Error("reading the sync history", "err", err)
		return
	}
	for _, r := range runs {
		s.mu.Lock()
		live, ok := s.running[r.Upstream]
		s.mu.Unlock()
		if r.Status != patchgate.SyncRunning || (ok && live.rec.ID == r.ID) {
			continue
		}
		r.Status, r.FinishedAt = patchgate.SyncFailed, s.now().UTC()
		r.Error = "interrupted: the server stopped during the sync; the next sync resumes from the last stored page"
		ev := patchgate.Event{ID: "ev-" + r.ID, Time: r.FinishedAt, Type: patchgate.EventSyncFailed, Actor: "upstream:" + r.Upstream,
			Detail: fmt.Sprintf("sync of upstream %s %s", r.Upstream, r.Error)}
		if err := s.cfg.Store.FinishSyncRun(ctx, r, ev); err != nil {
			s.log.Error("closing an interrupted sync run", "run", r.ID, "err", err)
		}
	}
}

func newRunID() string {
	var b [8]byte
	rand.Read(b[:])
	return "sync-" + hex.EncodeToString(b[:])
}

// Start implements server.SyncService.
func (s *Syncer) Start(ctx context.Context, name, trigger string) ([]patchgate.SyncRun, error) {
	var ups []patchgate.Upstream
	if name != "" {
		u, err := s.cfg.Store.GetUpstream(ctx, name)
		if err != nil {
			return nil, err
		}
		ups = []patchgate.Upstream{u}
	} else {
		var err error
		if ups, err = s.cfg.Store.Upstreams(ctx); err != nil {
			return nil, err
		}
		if len(ups) == 0 {
			return nil, patchgate.Errorf(patchgate.CodeConflict, "no upstream to sync from: add one with `patchgate upstream add`")
		}
	}
	out := []patchgate.SyncRun{}
	for _, u := range ups {
		s.mu.Lock()
		if _, busy := s.running[u.Name]; busy {
			s.mu.Unlock()
			if name != "" {
				return nil, patchgate.Errorf(patchgate.CodeConflict, "upstream %s is already syncing", u.Name)
			}
			continue
		}
		r := &run{rec: patchgate.SyncRun{ID: newRunID(), Upstream: u.Name, Status: patchgate.SyncRunning, StartedAt: s.now().UTC(), Trigger: trigger, Cursor: u.Cursor}}
		s.running[u.Name] = r
		base := s.base
		s.mu.Unlock()
		if err := s.cfg.Store.StartSyncRun(ctx, r.rec); err != nil {
			s.mu.Lock()
			delete(s.running, u.Name)
			s.mu.Unlock()
			return nil, err
		}
		out = append(out, r.snapshot())
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.execute(base, u, r)
		}()
	}
	return out, nil
}

// Running implements server.SyncService.
func (s *Syncer) Running() []patchgate.SyncRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]patchgate.SyncRun, 0, len(s.running))
	for _, r := range s.running {
		out = append(out, r.snapshot())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Upstream < out[j].Upstream })
	return out
}

// SyncNow runs one sync of upstream name in the caller's goroutine and
// returns its outcome (tests and tools).
func (s *Syncer) SyncNow(ctx context.Context, name string) (patchgate.SyncRun, error) {
	u, err := s.cfg.Store.GetUpstream(ctx, name)
	if err != nil {
		return patchgate.SyncRun{}, err
	}
	s.mu.Lock()
	if _, busy := s.running[u.Name]; busy {
		s.mu.Unlock()
		return patchgate.SyncRun{}, patchgate.Errorf(patchgate.CodeConflict, "upstream %s is already syncing", u.Name)
	}
	r := &run{rec: patchgate.SyncRun{ID: newRunID(), Upstream: u.Name, Status: patchgate.SyncRunning, StartedAt: s.now().UTC(), Trigger: "manual", Cursor: u.Cursor}}
	s.running[u.Name] = r
	s.mu.Unlock()
	if err := s.cfg.Store.StartSyncRun(ctx, r.rec); err != nil {
		s.mu.Lock()
		delete(s.running, u.Name)
		s.mu.Unlock()
		return patchgate.SyncRun{}, err
	}
	s.execute(ctx, u, r)
	rec := r.snapshot()
	if rec.Status == patchgate.SyncFailed {
		return rec, fmt.Errorf("%s", rec.Error)
	}
	return rec, nil
}

// replicate takes the upstream's groups, approvals and windows.
func (s *Syncer) replicate(ctx context.Context, u patchgate.Upstream, r *run) error {
	cl, err := newClient(u)
	if err != nil {
		return err
	}
	self, err := s.cfg.Store.ServerID(ctx)
	if err != nil {
		return err
	}
	chain := []string{self}
	if s.cfg.Chain != nil {
		if chain, err = s.cfg.Chain(ctx); err != nil {
			return err
		}
	}
	p, n, err := cl.policy(ctx, chain)
	if err != nil {
		return err
	}
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	applied, err := s.cfg.Store.ApplyReplicaPolicy(ctx, u.Name, p, hex.EncodeToString(sum[:]),
		patchgate.Event{ID: "ev-policy-" + r.rec.ID, Time: s.now(), Type: patchgate.EventReplicaPolicy, Actor: "upstream:" + u.Name})
	if err != nil {
		return err
	}
	if applied.Changed {
		s.cfg.OnChange()
	}
	r.mu.Lock()
	r.rec.Policy = &applied
	r.rec.Counts.Bytes += n
	r.mu.Unlock()
	return nil
}

// rollUp sends this server's compliance summary and those its downstreams
// sent it to upstream u.
func (s *Syncer) rollUp(ctx context.Context, u patchgate.Upstream) error {
	if s.cfg.Compliance == nil {
		return nil
	}
	own, err := s.cfg.Compliance(ctx)
	if err != nil {
		return err
	}
	below, err := s.cfg.Store.SiteCompliances(ctx)
	if err != nil {
		return err
	}
	chain := []string{own.ServerID}
	if s.cfg.Chain != nil {
		if chain, err = s.cfg.Chain(ctx); err != nil {
			return err
		}
	}
	sites := []patchgate.SiteCompliance{own}
	for _, sc := range below {
		// Only sites the chain vouches for (they synced from here lately).
		if slices.Contains(chain, sc.ServerID) && len(sites) < patchgate.MaxChainLen {
			sc.ReceivedAt, sc.Via = time.Time{}, ""
			sites = append(sites, sc)
		}
	}
	cl, err := newClient(u)
	if err != nil {
		return err
	}
	return cl.postCompliance(ctx, chain, sites)
}

// maxPages bounds one run (a feed that never ends is a broken upstream).
const maxPages = 1_000_000

// execute runs one sync to its end and records the outcome.
func (s *Syncer) execute(ctx context.Context, u patchgate.Upstream, r *run) {
	defer func() {
		s.mu.Lock()
		delete(s.running, u.Name)
		s.mu.Unlock()
	}()
	err := s.pull(ctx, u, r)
	if err == nil {
		err = s.mirror(ctx, u, r)
	}
	if err == nil && u.Mode == patchgate.ModeReplica {
		err = s.replicate(ctx, u, r)
	}
	if err == nil {
		if rerr := s.rollUp(ctx, u); rerr != nil {
			// The catalog is synced; the roll-up is retried next time.
			s.log.Warn("compliance roll-up failed", "upstream", u.Name, "err", rerr)
		}
	}
	if err == nil {
		// Immediate upstreams: every payload; on-approval ones: those of
		// approved updates (a new revision of an approved update too).
		err = s.fetchPending(ctx, r)
	}
	r.mu.Lock()
	r.rec.FinishedAt = s.now().UTC()
	ev := patchgate.Event{ID: "ev-" + r.rec.ID, Time: r.rec.FinishedAt, Actor: "upstream:" + u.Name}
	c := r.rec.Counts
	if err != nil {
		r.rec.Status = patchgate.SyncFailed
		r.rec.Error = err.Error()
		ev.Type = patchgate.EventSyncFailed
		ev.Detail = fmt.Sprintf("sync of upstream %s failed: %v (stored before the failure: %d new, %d revised, %d withdrawn)", u.Name, err, c.New, c.Revised, c.Withdrawn)
	} else {
		r.rec.Status = patchgate.SyncSucceeded
		ev.Type = patchgate.EventSyncCompleted
		ev.Detail = fmt.Sprintf("synced upstream %s: %d new, %d revised, %d withdrawn, %d filtered out, %d conflicts, %d bytes", u.Name, c.New, c.Revised, c.Withdrawn, c.FilteredOut, c.Conflicts, c.Bytes)
	}
	rec := r.rec
	r.mu.Unlock()
	// The outcome is recorded even when the server is shutting down.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if ferr := s.cfg.Store.FinishSyncRun(fctx, rec, ev); ferr != nil {
		s.log.Error("recording a sync run", "upstream", u.Name, "err", ferr)
	}
	if err != nil {
		s.log.Warn("sync failed", "upstream", u.Name, "err", err)
	} else {
		s.log.Info("sync completed", "upstream", u.Name, "new", c.New, "revised", c.Revised, "withdrawn", c.Withdrawn, "filtered_out", c.FilteredOut, "conflicts", c.Conflicts, "bytes", c.Bytes)
	}
}

// pull reads the feed from the stored cursor to its end, storing each page
// with its cursor in one transaction.
func (s *Syncer) pull(ctx context.Context, u patchgate.Upstream, r *run) error {
	cl, err := newClient(u)
	if err != nil {
		return err
	}
	self, err := s.cfg.Store.ServerID(ctx)
	if err != nil {
		return err
	}
	cursor := u.Cursor
	first := true
	for range maxPages {
		chain := []string{self}
		if s.cfg.Chain != nil {
			if chain, err = s.cfg.Chain(ctx); err != nil {
				return err
			}
		}
		page, n, err := cl.feed(ctx, cursor, s.cfg.PageSize, chain)
		if err != nil {
			return err
		}
		if page.ServerID == self || slices.Contains(page.Ancestors, self) {
			return patchgate.Errorf(patchgate.CodeConflict, "sync loop refused: this server (%s) is upstream %s or above it (%s)", self, u.Name, strings.Join(page.Ancestors, " → "))
		}
		if first {
			// Mirror the repositories before storing what they sign: a
			// plan naming a repository this server does not serve yet
			// would be refused by agents checking in meanwhile.
			first = false
			if err := s.mirrorRepos(ctx, u, page.Repos); err != nil {
				return err
			}
		}
		applied, err := s.cfg.Store.ApplySync(ctx, patchgate.SyncBatch{Upstream: u.Name, Ancestors: page.Ancestors, From: cursor, Next: page.Next,
			Entries: page.Entries, At: s.now(), Actor: "upstream:" + u.Name, Bytes: n})
		if err != nil {
			return err
		}
		if applied.Counts.New+applied.Counts.Revised+applied.Counts.Withdrawn > 0 {
			s.cfg.OnChange()
		}
		r.mu.Lock()
		r.rec.Counts.Add(applied.Counts)
		r.rec.Cursor = page.Next
		r.repos = page.Repos
		r.rec.Done += len(page.Entries)
		r.rec.Total = r.rec.Done + page.Remaining
		r.mu.Unlock()
		progressed := page.Next != cursor
		cursor = page.Next
		if !page.More || !progressed {
			return nil
		}
	}
	return fmt.Errorf("upstream %s: feed did not end after %d pages", u.Name, maxPages)
}

// mirror refreshes the verbatim copy of every TUF repository the
// upstream's feed listed (issue 8). Metadata that does not verify fails
// the sync and leaves the last good copy served.
func (s *Syncer) mirror(ctx context.Context, u patchgate.Upstream, r *run) error {
	r.mu.Lock()
	repos := slices.Clone(r.repos)
	r.mu.Unlock()
	return s.mirrorRepos(ctx, u, repos)
}

// RefreshMirrors refreshes, from its upstream, every repository mirrored
// before (between syncs, so mirrored timestamps do not expire). Failures
// are logged; the last good copies stay served.
func (s *Syncer) RefreshMirrors(ctx context.Context) {
	if s.cfg.Mirrors == nil {
		return
	}
	ups, err := s.cfg.Store.Upstreams(ctx)
	if err != nil {
		s.log.Warn("refreshing mirrored TUF repositories", "err", err)
		return
	}
	for _, u := range ups {
		repos, err := s.cfg.Mirrors.ReposFrom(u.Name)
		if err == nil {
			err = s.mirrorRepos(ctx, u, repos)
		}
		if err != nil {
			s.log.Warn("refreshing mirrored TUF repositories", "upstream", u.Name, "err", err)
		}
	}
}

func (s *Syncer) mirrorRepos(ctx context.Context, u patchgate.Upstream, repos []string) error {
	if s.cfg.Mirrors == nil || len(repos) == 0 {
		return nil
	}
	self, err := s.cfg.Store.ServerID(ctx)
	if err != nil {
		return err
	}
	cl, err := newClient(u)
	if err != nil {
		return err
	}
	var errs []error
	changed := false
	for _, repo := range repos {
		if repo == self {
			continue // a loop: refused by pull already
		}
		c, err := s.cfg.Mirrors.Sync(ctx, trust.MirrorSource{Base: u.URL, Repo: repo, Client: cl.http, Pin: u.RootPins[repo], Clock: s.now})
		if err != nil {
			errs = append(errs, fmt.Errorf("mirroring TUF repository %s: %w", repo, err))
			continue
		}
		if err := s.cfg.Mirrors.SetSource(repo, u.Name); err != nil {
			errs = append(errs, err)
		}
		changed = changed || c
	}
	if changed {
		s.cfg.OnChange()
	}
	return errors.Join(errs...)
}
