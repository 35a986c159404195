package server

import (
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patchgate/patchgate"
)

// holdHub wakes long-poll check-ins (agentapi.QueryWait). A held check-in
// waits on three channels shared with every other one: changed, closed and
// replaced by every invalidate (one close wakes all holders, whatever
// their number); a deadline bucket, closed by one timer per second of
// deadlines rather than one timer per request; and closing, closed when
// the server shuts down. A held request costs its connection, its
// goroutine and no timer of its own.
type holdHub struct {
	mu      sync.Mutex
	changed chan struct{}
	closing chan struct{}
	closed  bool
	buckets map[int64]chan struct{} // Unix second → closed at that second
	held    atomic.Int64
	perHost map[string]int // held check-ins per host
	max     int            // most held at once; 0 = DefaultMaxHeld
}

// Limits on held check-ins. Beyond them a check-in is answered at once,
// as without a wait; the agent then backs off before its next long poll.
const (
	// DefaultMaxHeld bounds the check-ins held at once (each costs a
	// connection and about 20 KB, see BENCHMARKS.md).
	DefaultMaxHeld = 200_000
	// maxHeldPerHost: an agent holds one; a few more cover a restart
	// whose old connection the server has not seen close yet.
	maxHeldPerHost = 4
)

// begin counts a held check-in of host, or says no when a limit is
// reached; end undoes it.
func (h *holdHub) begin(host string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.initLocked()
	limit := h.max
	if limit <= 0 {
		limit = DefaultMaxHeld
	}
	if h.closed || h.held.Load() >= int64(limit) || h.perHost[host] >= maxHeldPerHost {
		return false
	}
	h.perHost[host]++
	h.held.Add(1)
	return true
}

func (h *holdHub) end(host string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.perHost[host]--; h.perHost[host] <= 0 {
		delete(h.perHost, host)
	}
	h.held.Add(-1)
}

func (h *holdHub) initLocked() {
	if h.changed == nil {
		h.changed = make(chan struct{})
		h.closing = make(chan struct{})
		h.buckets = make(map[int64]chan struct{})
		h.perHost = make(map[string]int)
	}
}

// wait returns the channel the next plan change closes. Take it before
// reading the snapshot generation, so that a change in between is not
// missed.
func (h *holdHub) wait() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.initLocked()
	return h.changed
}

// broadcast wakes every holder; call it after the generation was bumped.
func (h *holdHub) broadcast() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.initLocked()
	close(h.changed)
	h.changed = make(chan struct{})
}

// release answers every held check-in and holds no more: for shutdown.
func (h *holdHub) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.initLocked()
	if !h.closed {
		h.closed = true
		close(h.closing)
	}
}

func (h *holdHub) closingCh() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.initLocked()
	return h.closing
}

// after returns a channel closed at t or up to a second later: deadlines
// are grouped by the second, each group with one timer.
func (h *holdHub) after(t time.Time) <-chan struct{} {
	sec := (t.UnixNano() + int64(time.Second) - 1) / int64(time.Second)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.initLocked()
	if ch, ok := h.buckets[sec]; ok {
		return ch
	}
	ch := make(chan struct{})
	h.buckets[sec] = ch
	time.AfterFunc(time.Until(time.Unix(sec, 0)), func() {
		h.mu.Lock()
		delete(h.buckets, sec)
		h.mu.Unlock()
		close(ch)
	})
	return ch
}

// ReleaseHolds answers every held check-in with "not modified" and stops
// holding new ones; serve calls it when it starts shutting down (held
// requests would otherwise keep http.Server.Shutdown waiting).
func (s *Server) ReleaseHolds() { s.holds.release() }

// HeldCheckins is the number of check-ins being held now.
func (s *Server) HeldCheckins() int { return int(s.holds.held.Load()) }

// nextEdge is the earliest instant after now at which the ETag of a host
// with these windows changes by itself: a window opening or closing, or an
// approval's deadline passing. Zero when none. windowKey must have been
// called for now (it caches the states read here).
func (snap *snapshot) nextEdge(windows []patchgate.CompiledWindow, now time.Time) time.Time {
	var edge time.Time
	earlier := func(t time.Time) {
		if t.After(now) && (edge.IsZero() || t.Before(edge)) {
			edge = t
		}
	}
	for _, w := range windows {
		if slot := snap.states[w.Group]; slot != nil {
			if st := slot.Load(); st != nil {
				earlier(st.until)
			}
		}
	}
	if len(windows) > 0 {
		if i := sort.Search(len(snap.deadlines), func(i int) bool { return snap.deadlines[i].After(now) }); i < len(snap.deadlines) {
			earlier(snap.deadlines[i])
		}
	}
	return edge
}

// extendDeadlines keeps the http.Server's timeouts from cutting a held
// request short: the read deadline (ReadTimeout) would cancel its context
// while it waits, and the write deadline (WriteTimeout, counted from the
// request) would fail its answer. Each is lifted only if the server set
// it, and set again by the server for the next request on the connection.
func extendDeadlines(w http.ResponseWriter, r *http.Request, writeFrom time.Time) {
	hs, ok := r.Context().Value(http.ServerContextKey).(*http.Server)
	if !ok {
		return
	}
	rc := http.NewResponseController(w)
	if hs.ReadTimeout > 0 {
		rc.SetReadDeadline(time.Time{})
	}
	if hs.WriteTimeout > 0 {
		rc.SetWriteDeadline(writeFrom.Add(hs.WriteTimeout))
	}
}
