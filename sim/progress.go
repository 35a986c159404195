package sim

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// progress writes a live progress line every second until the returned
// function is called (it may be called more than once).
func (r *runner) progress(ctx context.Context) (stop func()) {
	w := r.cfg.Progress
	if w == nil {
		return func() {}
	}
	every := 5 * time.Second
	if r.cfg.ProgressInPlace {
		every = time.Second
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		begin := time.Now()
		var last progressSample
		last.at = begin
		width := 0
		for {
			select {
			case <-ctx.Done():
			case <-done:
			case <-t.C:
				line, s := r.progressLine(begin, last)
				last = s
				if r.cfg.ProgressInPlace {
					// Pad over a longer previous line rather than rely on
					// terminal escapes.
					pad := max(width-len(line), 0)
					width = len(line)
					fmt.Fprintf(w, "\r%s%s", line, strings.Repeat(" ", pad))
				} else {
					fmt.Fprintln(w, line)
				}
				continue
			}
			if r.cfg.ProgressInPlace && width > 0 {
				fmt.Fprintln(w)
			}
			return
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		wg.Wait()
	}
}

type progressSample struct {
	at       time.Time
	checkins uint64
	enrolled int64
}

func (r *runner) progressLine(begin time.Time, last progressSample) (string, progressSample) {
	m := r.m
	now := time.Now()
	dt := now.Sub(last.at).Seconds()
	s := progressSample{at: now, enrolled: m.enrolled.Load()}
	c200, c304 := m.ep[EpCheckin200].hist.Count(), m.ep[EpCheckin304].hist.Count()
	s.checkins = c200 + c304
	var b strings.Builder
	fmt.Fprintf(&b, "[%4.0fs] ", now.Sub(begin).Seconds())
	switch phase, _ := r.phase.Load().(string); phase {
	case "enrolling":
		fmt.Fprintf(&b, "enrolling %d/%d hosts (%.0f/s), %d failed", r.enrolGot.Load(), r.cfg.Hosts,
			float64(s.enrolled-last.enrolled)/dt, m.enrollFailed.Load())
	case "checking in":
		fmt.Fprintf(&b, "%d hosts | check-ins %.0f/s (200: %d p99 %s, 304: %d p99 %s) | events %d | downloads %d | installs %d ok, %d failed | errors %d | in flight %d",
			len(r.hosts), float64(s.checkins-last.checkins)/dt,
			c200, fmtMs(ms(m.ep[EpCheckin200].hist.Quantile(0.99))), c304, fmtMs(ms(m.ep[EpCheckin304].hist.Quantile(0.99))),
			m.ep[EpEvents].hist.Count(), m.ep[EpContent].hist.Count(),
			m.installsDone.Load(), m.installsFailed.Load(), m.errAll.Load(), m.inFlight.Load())
		if r.cfg.LongPoll > 0 {
			fmt.Fprintf(&b, " | held %d", m.held.Load())
		}
		if r.cfg.WatchUpdate != "" {
			fmt.Fprintf(&b, " | %s: %d downloading, %d installed", r.cfg.WatchUpdate, m.watchStarted.Load(), m.watchInstalled.Load())
		}
	default:
		b.WriteString(phase)
	}
	return b.String(), s
}
