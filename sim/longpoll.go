package sim

import (
	"context"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/patchgate/patchgate/agentapi"
)

// Long-poll mode (Config.LongPoll): every host runs in its own goroutine
// and keeps a check-in held by the server between its ordinary Interval
// check-ins, as `patchgate agent` does, so that a plan change reaches it
// as soon as the server answers.

// Backoff after a failed or unexpectedly short long poll.
const (
	holdBackoffMin = time.Second
	holdBackoffMax = time.Minute
)

// longPollPhase runs every host's long-poll loop until the run ends and
// says why it ended.
func (r *runner) longPollPhase(parent context.Context) string {
	// holdCtx ends held check-ins at once when the run ends; reqCtx lets
	// other requests in flight finish for a grace period.
	reqCtx, cancelReqs := context.WithCancel(parent)
	defer cancelReqs()
	holdCtx, cancelHolds := context.WithCancel(reqCtx)
	defer cancelHolds()
	r.start = time.Now()
	var wg sync.WaitGroup
	for _, h := range r.hosts {
		wg.Go(func() { r.longPollHost(reqCtx, holdCtx, h) })
	}
	end := time.NewTimer(r.cfg.Duration)
	defer end.Stop()
	var why string
	select {
	case <-parent.Done():
		why = "interrupted"
	case <-end.C:
		why = "duration"
	case <-r.stopped:
		why = "until-installed"
	}
	cancelHolds()
	drain(&wg, cancelReqs)
	return why
}

// longPollHost is one host: an ordinary cycle first and every Interval
// (± Jitter), long polls in between. A long poll that ends in a plan
// carries it out and polls again at once; one that fails, or comes back
// "not modified" in less than half its wait (a server that does not hold),
// backs off.
func (r *runner) longPollHost(ctx, holdCtx context.Context, h *host) {
	sleep := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-holdCtx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	if r.cfg.HostClient != nil {
		h.api = &agentapi.Client{BaseURL: r.api.BaseURL, HTTP: r.cfg.HostClient(), UserAgent: r.api.UserAgent}
	}
	if r.cfg.StartSpread > 0 && !sleep(time.Duration(mrand.Int64N(int64(r.cfg.StartSpread)))) {
		return
	}
	var nextFull time.Time
	backoff := holdBackoffMin
	for holdCtx.Err() == nil {
		now := time.Now()
		if !now.Before(nextFull) {
			r.m.cycles.Add(1)
			r.m.inFlight.Add(1)
			r.cycle(ctx, h)
			r.m.inFlight.Add(-1)
			f := 1 + r.cfg.Jitter*(2*mrand.Float64()-1)
			nextFull = time.Now().Add(time.Duration(float64(r.cfg.Interval) * f))
			continue
		}
		wait := min(r.cfg.LongPoll, nextFull.Sub(now))
		if wait < time.Second {
			if !sleep(wait) {
				return
			}
			continue
		}
		notModified, err := r.cycleWait(ctx, holdCtx, h, wait)
		if holdCtx.Err() != nil {
			return
		}
		if err != nil || (notModified && time.Since(now) < wait/2) {
			if !sleep(backoff) {
				return
			}
			backoff = min(2*backoff, holdBackoffMax)
			continue
		}
		backoff = holdBackoffMin
	}
}
