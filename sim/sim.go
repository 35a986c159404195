// Package sim is patchgate's fleet simulator: it runs many virtual agents
// in one process against a real server over real HTTP(S), to measure the
// server under load and to see a fleet converge.
//
// Every virtual host enrols once (identities are kept in a file so that a
// later run resumes the same fleet), then checks in with its ETag,
// downloads each payload of its plan from /content (reading every byte and
// verifying size and sha256), "installs" it by adding it to its in-memory
// inventory (or fails, with a configured probability), reports
// downloading/installing/installed|failed events, and checks in again:
// the cycle `patchgate agent` runs, through the same protocol client
// (agentapi.Client).
//
// Hosts wait in a min-heap ordered by their next check-in time; a bounded
// pool of workers runs their cycles, so a fleet of a million hosts costs
// memory for its state and a fixed number of goroutines. Check-ins follow
// each host's interval (closed loop) or, with CheckinRate, a fixed
// aggregate rate (open loop).
//
// The package imports the domain and agentapi; never a server-side
// package.
package sim

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	mrand "math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/agentapi"
)

// host is one virtual agent. Only the worker running its cycle touches it
// (the scheduler hands it to one worker at a time).
type host struct {
	id, cred, hostname string
	tmpl               int
	installed          []string // sorted
	etag               string
	planETag           string // ETag of the last plan the server sent: long polls hold on it
	outbox             []patchgate.Event
	savedETag          string           // etag in the identity file
	changed            bool             // installed differs from the identity file
	watchStart         int64            // Clock UnixNano of its first download of WatchUpdate; 0 = none
	api                *agentapi.Client // its own client (Config.HostClient); nil = the shared one
	watchInstalled     bool
}

// maxOutbox bounds the events a host keeps while the server cannot take
// them; older ones are dropped (counted).
const maxOutbox = 1000

// maxEnrollFailStreak failed enrolments in a row stop the enrolment.
const maxEnrollFailStreak = 100

// gracePeriod is how long cycles in flight may finish after the run ends.
const gracePeriod = 10 * time.Second

type runner struct {
	cfg   Config
	api   *agentapi.Client
	m     *metrics
	hosts []*host
	slots []int // template index per round-robin slot
	start time.Time

	phase    atomic.Value // string: "enrolling", "checking in"
	enrolGot atomic.Int64 // hosts enrolled or resumed so far
	stopOnce sync.Once
	stopped  chan struct{} // StopAfterInstalled reached
}

// Run runs a simulation until Duration has passed, StopAfterInstalled
// hosts installed WatchUpdate, or ctx ends, and returns its summary. An
// interrupted run (ctx ended) still returns its summary, with StoppedBy
// "interrupted". It returns an error when the configuration is invalid,
// the identity file cannot be used, or no host could be enrolled.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &runner{
		cfg:     cfg,
		api:     &agentapi.Client{BaseURL: strings.TrimRight(cfg.Server, "/"), HTTP: cfg.Client, UserAgent: "patchgate-sim/" + cfg.Version},
		m:       newMetrics(),
		stopped: make(chan struct{}),
	}
	for i, t := range cfg.Templates {
		for range max(t.Weight, 1) {
			r.slots = append(r.slots, i)
		}
	}
	r.phase.Store("starting")
	sum := &Summary{Server: cfg.Server, Started: cfg.Clock(), MaxInFlight: cfg.MaxInFlight}

	// Resume the fleet in the identity file.
	var all []Identity
	if cfg.IdentityFile != "" {
		var err error
		if all, err = loadIdentities(cfg.IdentityFile); err != nil {
			return nil, patchgate.Invalid("identities", "%v", err)
		}
	}
	tmplByName := map[string]int{}
	for i, t := range cfg.Templates {
		tmplByName[t.Name] = i
	}
	for i := range min(len(all), cfg.Hosts) {
		id := all[i]
		t, ok := tmplByName[id.Template]
		if !ok {
			return nil, patchgate.Invalid("identities", "host %s (line %d) has template %q, which is not configured", id.HostID, i+1, id.Template)
		}
		hostname := id.Hostname
		if hostname == "" {
			hostname = fmt.Sprintf("%s-%06d", cfg.HostnamePrefix, i+1)
		}
		inst := slices.Clone(id.Installed)
		slices.Sort(inst)
		r.hosts = append(r.hosts, &host{id: id.HostID, cred: id.Credential, hostname: hostname, tmpl: t, installed: inst,
			etag: id.ETag, savedETag: id.ETag})
	}
	sum.Resumed = len(r.hosts)
	r.enrolGot.Store(int64(len(r.hosts)))
	if missing := cfg.Hosts - len(r.hosts); missing > 0 && cfg.EnrollToken == "" {
		return nil, patchgate.Invalid("enroll-token", "is needed to enrol %d more hosts (the identity file has %d of %d)", missing, len(r.hosts), cfg.Hosts)
	}

	stopProgress := r.progress(ctx)
	defer stopProgress()

	// Enrol the missing ones.
	if cfg.Hosts > len(r.hosts) {
		r.phase.Store("enrolling")
		t0 := time.Now()
		newHosts, err := r.enrollAll(ctx, len(r.hosts), cfg.Hosts-len(r.hosts))
		sum.EnrollSeconds = time.Since(t0).Seconds()
		r.hosts = append(r.hosts, newHosts...)
		if err != nil {
			return nil, err
		}
	}
	sum.Enrolled = r.m.enrolled.Load()
	sum.EnrollFails = r.m.enrollFailed.Load()
	if sum.EnrollSeconds > 0 {
		sum.EnrollRate = float64(sum.Enrolled) / sum.EnrollSeconds
	}
	sum.Hosts = len(r.hosts)

	since := cfg.WatchSince
	switch {
	case len(r.hosts) == 0:
		sum.StoppedBy = "no-hosts"
	case ctx.Err() != nil:
		sum.StoppedBy = "interrupted"
	default:
		r.phase.Store("checking in")
		if since.IsZero() {
			since = cfg.Clock()
		}
		t0 := time.Now()
		if cfg.LongPoll > 0 {
			sum.StoppedBy = r.longPollPhase(ctx)
		} else {
			sum.StoppedBy = r.checkinPhase(ctx)
		}
		sum.Seconds = time.Since(t0).Seconds()
	}
	stopProgress()

	r.summarize(sum, since)
	sum.Finished = cfg.Clock()

	// Keep what the hosts installed, and their ETags, for the next run.
	if cfg.IdentityFile != "" && slices.ContainsFunc(r.hosts, func(h *host) bool { return h.changed || h.etag != h.savedETag }) {
		byID := make(map[string]*host, len(r.hosts))
		for _, h := range r.hosts {
			byID[h.id] = h
		}
		all, err := loadIdentities(cfg.IdentityFile) // now with the new ones
		if err != nil {
			return sum, fmt.Errorf("updating the identity file: %w", err)
		}
		for i := range all {
			if h := byID[all[i].HostID]; h != nil {
				all[i].Installed, all[i].ETag = h.installed, h.etag
			}
		}
		if err := writeIdentities(cfg.IdentityFile, all); err != nil {
			return sum, fmt.Errorf("updating the identity file: %w", err)
		}
	}
	if len(r.hosts) == 0 {
		return sum, errors.New("no host could be enrolled: see the errors above")
	}
	return sum, nil
}

// apiFor returns the protocol client of a host.
func (r *runner) apiFor(h *host) *agentapi.Client {
	if h.api != nil {
		return h.api
	}
	return r.api
}

func (r *runner) template(h *host) *Template { return &r.cfg.Templates[h.tmpl] }

func (r *runner) inventory(h *host) patchgate.Inventory {
	t := r.template(h)
	inst := h.installed
	if inst == nil {
		inst = []string{}
	}
	mode := t.Mode
	if mode == "" {
		mode = patchgate.ModeAutomatic
	}
	return patchgate.Inventory{Hostname: h.hostname, OS: t.OS, Arch: t.Arch, Mode: mode, Products: t.Products,
		Installed: inst, Agent: "patchgate-sim/" + r.cfg.Version, Interval: r.cfg.Interval}
}

// enrollAll enrols n hosts numbered from first, EnrollConcurrency at a
// time. A refusal by the server (a spent or invalid token, say) or
// maxEnrollFailStreak failures in a row stop the enrolment: the hosts
// enrolled so far run. Otherwise a failed host is counted and skipped.
func (r *runner) enrollAll(ctx context.Context, first, n int) ([]*host, error) {
	var log *identityLog
	if r.cfg.IdentityFile != "" {
		var err error
		if log, err = openIdentityLog(r.cfg.IdentityFile); err != nil {
			return nil, patchgate.Invalid("identities", "%v", err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make([]*host, n)
	var next, streak atomic.Int64
	var wg sync.WaitGroup
	var logErr error
	var logMu sync.Mutex
	for range min(r.cfg.EnrollConcurrency, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				idx := first + i
				h := &host{hostname: fmt.Sprintf("%s-%06d", r.cfg.HostnamePrefix, idx+1), tmpl: r.slots[idx%len(r.slots)]}
				t0 := time.Now()
				er, err := r.api.Enroll(ctx, agentapi.EnrollRequest{Token: r.cfg.EnrollToken, Inventory: r.inventory(h), MachineID: "sim-" + randomHex(16)})
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					r.m.enrollFailed.Add(1)
					r.m.fail("enroll", err)
					if st := agentapi.HTTPStatus(err); st >= 400 && st < 500 {
						cancel() // the token will not get better
					}
					if streak.Add(1) >= maxEnrollFailStreak {
						cancel() // the server is down or overwhelmed
					}
					continue
				}
				streak.Store(0)
				r.m.observe(EpEnroll, time.Since(t0))
				r.m.enrolled.Add(1)
				r.enrolGot.Add(1)
				h.id, h.cred = er.HostID, er.Credential
				if log != nil {
					if err := log.append(Identity{HostID: h.id, Credential: h.cred, Template: r.cfg.Templates[h.tmpl].Name, Hostname: h.hostname}); err != nil {
						logMu.Lock()
						logErr = errors.Join(logErr, err)
						logMu.Unlock()
						cancel()
					}
				}
				out[i] = h
			}
		})
	}
	wg.Wait()
	if log != nil {
		if err := log.close(); err != nil {
			logErr = errors.Join(logErr, err)
		}
	}
	hosts := slices.DeleteFunc(out, func(h *host) bool { return h == nil })
	if logErr != nil {
		return hosts, fmt.Errorf("writing the identity file: %w", logErr)
	}
	return hosts, nil
}

// checkinPhase runs the hosts' cycles until the run ends and says why it
// ended.
func (r *runner) checkinPhase(parent context.Context) string {
	// reqCtx lets cycles in flight finish for a grace period after the
	// end; an interruption (parent) stops them at once.
	reqCtx, cancelReqs := context.WithCancel(parent)
	defer cancelReqs()
	s := newScheduler(len(r.hosts))
	rate := r.cfg.CheckinRate
	for i := range r.hosts {
		at := int64(i) // rate mode: in order
		if rate == 0 && r.cfg.StartSpread > 0 {
			at = mrand.Int64N(int64(r.cfg.StartSpread))
		}
		s.push(at, int32(i))
	}
	r.start = time.Now()
	work := make(chan int32)
	var wg sync.WaitGroup
	for range r.cfg.MaxInFlight {
		wg.Go(func() {
			for i := range work {
				r.m.inFlight.Add(1)
				r.cycle(reqCtx, r.hosts[i])
				r.m.inFlight.Add(-1)
				var next int64
				if rate == 0 {
					f := 1 + r.cfg.Jitter*(2*mrand.Float64()-1)
					next = int64(time.Since(r.start)) + int64(float64(r.cfg.Interval)*f)
				} else {
					next = int64(time.Since(r.start)) // back of the queue
				}
				s.push(next, i)
			}
		})
	}

	end := time.NewTimer(r.cfg.Duration)
	defer end.Stop()
	why := r.dispatch(parent, s, work, end.C)
	close(work)
	drain(&wg, cancelReqs)
	return why
}

// dispatch hands due hosts to the workers until the run ends.
func (r *runner) dispatch(ctx context.Context, s *scheduler, work chan<- int32, end <-chan time.Time) string {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	rate := r.cfg.CheckinRate
	var sent int64 // rate mode: check-ins dispatched or missed
	send := func(i int32) string {
		select {
		case work <- i:
			r.m.cycles.Add(1)
			return ""
		case <-ctx.Done():
		case <-end:
			s.push(0, i)
			return "duration"
		case <-r.stopped:
			s.push(0, i)
			return "until-installed"
		}
		s.push(0, i)
		return "interrupted"
	}
	for {
		var wait time.Duration
		now := int64(time.Since(r.start))
		if rate == 0 {
			i, at, w, ok := s.popDue(now, false)
			if ok {
				r.m.lag.Record(time.Duration(now - at))
				if why := send(i); why != "" {
					return why
				}
				continue
			}
			wait = time.Duration(w)
			if w < 0 {
				wait = time.Hour // all busy: a push wakes us
			}
		} else {
			due := int64(float64(now) / 1e9 * rate)
			// Do not make up for more than a second behind: those
			// check-ins are missed, not sent in a burst.
			if behind := due - sent; behind > int64(rate)+1 {
				r.m.missed.Add(behind - int64(rate) - 1)
				sent = due - int64(rate) - 1
			}
			for sent < due {
				i, _, _, ok := s.popDue(now, true)
				if !ok {
					r.m.missed.Add(due - sent) // every host is busy
					sent = due
					break
				}
				if why := send(i); why != "" {
					return why
				}
				sent++
			}
			next := time.Duration(float64(sent+1) / rate * 1e9)
			wait = max(next-time.Since(r.start), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return "interrupted"
		case <-end:
			return "duration"
		case <-r.stopped:
			return "until-installed"
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// cycle is one check-in cycle of a host, as the agent runs it: deliver
// queued events, check in, carry out the plan, report, check in again.
func (r *runner) cycle(ctx context.Context, h *host) {
	r.cycleWait(ctx, ctx, h, 0)
}

// cycleWait is cycle whose check-in is a long poll held up to wait (with
// holdCtx) on the last plan the host got; wait 0 is an ordinary cycle.
func (r *runner) cycleWait(ctx, holdCtx context.Context, h *host, wait time.Duration) (notModified bool, err error) {
	r.flush(ctx, h)
	plan, etag, notModified, err := r.checkinWait(holdCtx, h, wait)
	if err != nil || notModified {
		return notModified, err
	}
	if plan.Manual || len(plan.Items) == 0 {
		h.etag = etag
		return false, nil
	}
	failed := false
	for _, item := range plan.Items {
		if ctx.Err() != nil {
			failed = true
			break
		}
		if !r.apply(ctx, h, item) {
			failed = true
		}
	}
	// Only a plan carried out in full is "seen"; otherwise the next
	// check-in gets the whole plan again and retries.
	if failed {
		h.etag = ""
	} else {
		h.etag = etag
	}
	r.flush(ctx, h)
	plan, etag, notModified, err = r.checkin(ctx, h)
	if err == nil && !notModified {
		if h.etag != "" && (plan.Manual || len(plan.Items) == 0) {
			h.etag = etag
		} else {
			h.etag = ""
		}
	}
	return false, nil
}

func (r *runner) checkin(ctx context.Context, h *host) (patchgate.Plan, string, bool, error) {
	return r.checkinWait(ctx, h, 0)
}

// checkinWait checks in; with wait > 0 as a long poll on the last plan
// the host got (h.planETag).
func (r *runner) checkinWait(ctx context.Context, h *host, wait time.Duration) (patchgate.Plan, string, bool, error) {
	t0 := time.Now()
	etag, ep200, ep304 := h.etag, EpCheckin200, EpCheckin304
	if wait > 0 {
		etag, ep200, ep304 = cmp.Or(h.planETag, h.etag), EpHold200, EpHold304
		r.m.held.Add(1)
		defer r.m.held.Add(-1)
	}
	cr, etag, notModified, err := r.apiFor(h).CheckinWait(ctx, h.cred, etag, wait, agentapi.CheckinRequest{Inventory: r.inventory(h)})
	d := time.Since(t0)
	if err == nil && etag != "" {
		h.planETag = etag
	}
	switch {
	case err != nil:
		if ctx.Err() == nil {
			r.m.fail("checkin", err)
		}
	case notModified:
		r.m.observe(ep304, d)
	default:
		r.m.observe(ep200, d)
		if cr.Plan.HostID != "" && cr.Plan.HostID != h.id {
			err = fmt.Errorf("the server sent the plan of host %s to host %s", cr.Plan.HostID, h.id)
			r.m.fail("checkin", err)
		}
	}
	return cr.Plan, etag, notModified, err
}

// apply carries out one plan item and reports whether it succeeded.
func (r *runner) apply(ctx context.Context, h *host, item patchgate.PlanItem) bool {
	if err := agentapi.CheckPlanItem(item, agentapi.MaxContentBytes); err != nil {
		if agentapi.ValidID(item.UpdateID) {
			r.queue(h, item.UpdateID, patchgate.StateFailed, -1, err.Error())
		}
		r.m.installsFailed.Add(1)
		return false
	}
	watched := item.UpdateID == r.cfg.WatchUpdate && item.Action == patchgate.ActionInstall
	if watched && h.watchStart == 0 {
		h.watchStart = r.cfg.Clock().UnixNano()
		r.m.watchStarted.Add(1)
		atomicMin(&r.m.watchFirstNanos, h.watchStart)
		atomicMax(&r.m.watchLastNanos, h.watchStart)
	}
	r.queue(h, item.UpdateID, patchgate.StateDownloading, 0, "")
	r.flush(ctx, h)
	if !r.cfg.SkipDownload {
		// As the agent does: an SR's installed constituents are not fetched.
		payloads, _ := patchgate.PayloadsToRun(item, h.installed)
		for _, p := range payloads {
			if err := r.download(ctx, h, p); err != nil {
				r.queue(h, item.UpdateID, patchgate.StateFailed, -1, err.Error())
				r.m.installsFailed.Add(1)
				return false
			}
		}
	}
	r.queue(h, item.UpdateID, patchgate.StateInstalling, 0, "")
	r.flush(ctx, h)
	if r.cfg.FailureRate > 0 && mrand.Float64() < r.cfg.FailureRate {
		r.queue(h, item.UpdateID, patchgate.StateFailed, 1, "simulated install failure (exit code 1)")
		r.m.installsFailed.Add(1)
		return false
	}
	h.changed = true
	if item.Action == patchgate.ActionUninstall {
		h.installed = slices.DeleteFunc(h.installed, func(x string) bool { return x == item.UpdateID })
		r.queue(h, item.UpdateID, patchgate.StateNotApplicable, 0, "uninstalled (simulated)")
		r.m.uninstalls.Add(1)
		return true
	}
	if i, found := slices.BinarySearch(h.installed, item.UpdateID); !found {
		h.installed = slices.Insert(h.installed, i, item.UpdateID)
	}
	r.queue(h, item.UpdateID, patchgate.StateInstalled, 0, "installed (simulated)")
	r.m.installsDone.Add(1)
	if watched && !h.watchInstalled {
		h.watchInstalled = true
		n := r.m.watchInstalled.Add(1)
		if target := int64(r.cfg.StopAfterInstalled); target > 0 && n == target {
			r.m.watchInstalledAt.Store(r.cfg.Clock().UnixNano())
			r.stopOnce.Do(func() { close(r.stopped) })
		}
	}
	return true
}

// verifyError is a download that did not verify.
type verifyError struct {
	kind string
	msg  string
}

func (e verifyError) Error() string { return e.msg }

// counter hashes and counts what it is given, up to a limit.
type counter struct {
	h    hash.Hash
	n    int64
	over bool
	max  int64
}

func (c *counter) Write(b []byte) (int, error) {
	if c.n+int64(len(b)) > c.max {
		c.over = true
		return 0, verifyError{"size mismatch", "the server sent more bytes than the payload's size"}
	}
	c.n += int64(len(b))
	return c.h.Write(b)
}

// download reads a payload from the server and verifies its size and
// sha256, like the agent, without writing it anywhere.
func (r *runner) download(ctx context.Context, h *host, p patchgate.Payload) error {
	c := &counter{h: sha256.New(), max: p.Size}
	t0 := time.Now()
	n, total, err := r.apiFor(h).Download(ctx, h.cred, p.SHA256, 0, c)
	d := time.Since(t0)
	r.m.downloadBytes.Add(n)
	switch {
	case err == nil && total >= 0 && total != p.Size, err == nil && n != p.Size:
		err = verifyError{"size mismatch", fmt.Sprintf("payload %s: size mismatch: got %d bytes (announced %d), want %d", p.Name, n, total, p.Size)}
	case err == nil && hex.EncodeToString(c.h.Sum(nil)) != p.SHA256:
		err = verifyError{"hash mismatch", fmt.Sprintf("payload %s: hash mismatch", p.Name)}
	}
	var ve verifyError
	switch {
	case err == nil:
		r.m.observe(EpContent, d)
		return nil
	case errors.As(err, &ve):
		r.m.verifyFailures.Add(1)
		r.m.fail("content", err)
	case ctx.Err() == nil:
		r.m.fail("content", err)
	}
	return fmt.Errorf("downloading %s: %w", p.Name, err)
}

// queue adds an event to the host's outbox.
func (r *runner) queue(h *host, updateID string, st patchgate.DeploymentState, exitCode int, detail string) {
	if len(h.outbox) >= maxOutbox {
		h.outbox = h.outbox[1:]
		r.m.eventsDropped.Add(1)
	}
	h.outbox = append(h.outbox, patchgate.Event{ID: randomHex(16), Time: r.cfg.Clock().UTC(), Type: patchgate.EventDeployment,
		UpdateID: updateID, State: st, ExitCode: exitCode, Detail: detail})
}

// flush delivers the host's queued events; on failure they stay queued,
// except a batch the server refuses as invalid (dropped, like the agent
// drops an event refused on its own).
func (r *runner) flush(ctx context.Context, h *host) {
	for len(h.outbox) > 0 && ctx.Err() == nil {
		batch := h.outbox[:min(len(h.outbox), agentapi.MaxEventsPerReq)]
		t0 := time.Now()
		n, err := r.apiFor(h).ReportEvents(ctx, h.cred, batch)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.m.fail("events", err)
			if c := patchgate.ErrorCode(err); agentapi.HTTPStatus(err) != 0 && (c == patchgate.CodeInvalid || c == patchgate.CodeTooLarge) {
				r.m.eventsDropped.Add(int64(len(batch)))
				h.outbox = h.outbox[len(batch):]
				continue
			}
			return
		}
		r.m.observe(EpEvents, time.Since(t0))
		r.m.eventsSent.Add(int64(len(batch)))
		r.m.eventsAccepted.Add(int64(n))
		h.outbox = h.outbox[len(batch):]
	}
	if len(h.outbox) == 0 {
		h.outbox = nil
	}
}

// summarize fills in what the metrics and hosts say.
func (r *runner) summarize(sum *Summary, since time.Time) {
	m := r.m
	if r.cfg.CheckinRate > 0 {
		sum.Mode = "rate"
		sum.TargetRate = r.cfg.CheckinRate
	} else {
		sum.Mode = "interval"
		sum.Interval = r.cfg.Interval.String()
		sum.Jitter = r.cfg.Jitter
		sum.StartSpread = r.cfg.StartSpread.String()
		if r.cfg.LongPoll > 0 {
			sum.LongPoll = r.cfg.LongPoll.String()
		}
	}
	sum.Cycles = m.cycles.Load()
	sum.Missed = m.missed.Load()
	if sum.Mode == "interval" && r.cfg.LongPoll == 0 {
		sum.LagP99Ms, sum.LagMaxMs = ms(m.lag.Quantile(0.99)), ms(m.lag.Max())
	}
	sum.Endpoints = m.endpoints(sum.Seconds, sum.EnrollSeconds)
	for _, e := range sum.Endpoints {
		sum.Requests += int64(e.Count)
	}
	sum.Errors = m.errorList()
	sum.ErrorsAll = m.errAll.Load()
	sum.InstallsDone = m.installsDone.Load()
	sum.InstallsFailed = m.installsFailed.Load()
	sum.Uninstalls = m.uninstalls.Load()
	sum.EventsSent = m.eventsSent.Load()
	sum.EventsAccepted = m.eventsAccepted.Load()
	sum.EventsDropped = m.eventsDropped.Load()
	sum.DownloadBytes = m.downloadBytes.Load()
	sum.VerifyFailures = m.verifyFailures.Load()
	if r.cfg.WatchUpdate == "" {
		return
	}
	w := &WatchSummary{Update: r.cfg.WatchUpdate, Since: since}
	var starts []int64
	for _, h := range r.hosts {
		if h.watchStart != 0 {
			starts = append(starts, h.watchStart)
		}
		if h.watchInstalled {
			w.HostsInstalled++
		}
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	w.HostsStarted = len(starts)
	rel := func(ns int64) float64 { return time.Unix(0, ns).Sub(since).Seconds() }
	if n := len(starts); n > 0 {
		w.FirstAt, w.LastAt = time.Unix(0, starts[0]).UTC(), time.Unix(0, starts[n-1]).UTC()
		w.FirstSeconds, w.LastSeconds = rel(starts[0]), rel(starts[n-1])
		w.MedianSeconds = rel(starts[(n-1)/2])
		w.P90Seconds = rel(starts[(n-1)*9/10])
	}
	if at := m.watchInstalledAt.Load(); at != 0 {
		w.TargetReachedSeconds = rel(at)
	}
	sum.Watch = w
}

func atomicMin(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if (cur != 0 && cur <= v) || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

func atomicMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if cur >= v || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// drain waits for the workers in wg to finish their requests, and after
// gracePeriod cancels what is still in flight (cancelReqs) and waits for
// them to notice.
func drain(wg *sync.WaitGroup, cancelReqs func()) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(gracePeriod):
		cancelReqs()
		<-done
	}
}
