package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/agentapi"
)

// Endpoints measured, in the order the summary lists them.
const (
	EpEnroll     = "enroll"
	EpCheckin200 = "checkin-200"
	EpCheckin304 = "checkin-304"
	EpEvents     = "events"
	EpContent    = "content"
	// Long-poll check-ins (Config.LongPoll): answered with a plan, or
	// with 304 when the hold timed out. Their latency is the hold's.
	EpHold200 = "hold-200"
	EpHold304 = "hold-304"
)

var endpointNames = []string{EpEnroll, EpCheckin200, EpCheckin304, EpEvents, EpContent, EpHold200, EpHold304}

type endpoint struct {
	hist Histogram
}

type errorStat struct {
	count   int64
	example string
}

// metrics are shared by every worker.
type metrics struct {
	ep map[string]*endpoint // fixed keys: read without a lock
	// lag is how late hosts were handed to a worker (interval mode): a
	// high lag means MaxInFlight, not the server, set the pace.
	lag Histogram

	errMu  sync.Mutex
	errs   map[string]*errorStat
	errAll atomic.Int64

	enrolled, enrollFailed        atomic.Int64
	cycles, missed                atomic.Int64
	installsDone, installsFailed  atomic.Int64
	uninstalls                    atomic.Int64
	eventsSent, eventsAccepted    atomic.Int64
	eventsDropped                 atomic.Int64
	downloadBytes, verifyFailures atomic.Int64
	inFlight                      atomic.Int64
	held                          atomic.Int64 // long polls in flight
	watchStarted, watchInstalled  atomic.Int64
	watchFirstNanos               atomic.Int64 // Clock instants, UnixNano
	watchLastNanos                atomic.Int64
	watchInstalledAt              atomic.Int64 // when StopAfterInstalled was reached
}

func newMetrics() *metrics {
	m := &metrics{ep: map[string]*endpoint{}, errs: map[string]*errorStat{}}
	for _, n := range endpointNames {
		m.ep[n] = &endpoint{}
	}
	return m
}

func (m *metrics) observe(ep string, d time.Duration) { m.ep[ep].hist.Record(d) }

// fail records an error of a request to family (enroll, checkin, events,
// content) by kind.
func (m *metrics) fail(family string, err error) {
	m.errAll.Add(1)
	key := family + ": " + errorKind(err)
	m.errMu.Lock()
	s := m.errs[key]
	if s == nil {
		s = &errorStat{example: truncateString(err.Error(), 200)}
		m.errs[key] = s
	}
	s.count++
	m.errMu.Unlock()
}

// errorKind classifies an error: the HTTP status and code of a server's
// answer, or the kind of network failure.
func errorKind(err error) string {
	if st := agentapi.HTTPStatus(err); st != 0 {
		return fmt.Sprintf("HTTP %d %s", st, patchgate.ErrorCode(err))
	}
	var ve verifyError
	var ne net.Error
	var ue *url.Error
	switch {
	case errors.As(err, &ve):
		return string(ve.kind)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no local port (address not available)"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too many open files"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "connection closed early"
	case errors.Is(err, agentapi.ErrBadContentRange):
		return "bad content range"
	case errors.As(err, &ue):
		return "network"
	}
	var pe *patchgate.Error
	if errors.As(err, &pe) {
		return "client: " + string(pe.Code)
	}
	return "bad answer"
}

func truncateString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Summary is what a run measured. Durations are in milliseconds or
// seconds as their names say.
type Summary struct {
	Server      string    `json:"server"`
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished"`
	StoppedBy   string    `json:"stopped_by"` // duration, until-installed, interrupted, no-hosts
	Hosts       int       `json:"hosts"`      // virtual hosts that ran
	Resumed     int       `json:"resumed"`    // identities loaded from the file
	Enrolled    int64     `json:"enrolled"`   // enrolled by this run
	EnrollFails int64     `json:"enroll_failures"`
	// EnrollSeconds is the length of the enrolment phase, EnrollRate
	// hosts enrolled per second in it.
	EnrollSeconds float64 `json:"enroll_seconds"`
	EnrollRate    float64 `json:"enroll_rate"`

	Mode        string  `json:"mode"` // "interval" or "rate"
	Interval    string  `json:"interval,omitempty"`
	Jitter      float64 `json:"jitter,omitempty"`
	StartSpread string  `json:"start_spread,omitempty"`
	LongPoll    string  `json:"long_poll,omitempty"`   // the hold asked for, long-poll mode
	TargetRate  float64 `json:"target_rate,omitempty"` // check-ins/s, rate mode
	MaxInFlight int     `json:"max_in_flight"`
	// Seconds is the length of the check-in phase.
	Seconds float64 `json:"seconds"`
	// Cycles counts host check-in cycles started; Missed, in rate mode,
	// check-ins not started because every host or worker was busy.
	Cycles int64 `json:"cycles"`
	Missed int64 `json:"missed,omitempty"`
	// LagP99Ms and LagMaxMs, in interval mode, say how late check-ins
	// started after their scheduled time: a large lag means MaxInFlight,
	// not the server, set the pace.
	LagP99Ms float64 `json:"schedule_lag_p99_ms,omitempty"`
	LagMaxMs float64 `json:"schedule_lag_max_ms,omitempty"`

	Endpoints []EndpointSummary `json:"endpoints"`
	Requests  int64             `json:"requests"` // every request answered, all endpoints
	Errors    []ErrorSummary    `json:"errors"`
	ErrorsAll int64             `json:"errors_total"`

	InstallsDone   int64 `json:"installs_done"`
	InstallsFailed int64 `json:"installs_failed"`
	Uninstalls     int64 `json:"uninstalls"`
	EventsSent     int64 `json:"events_sent"`
	EventsAccepted int64 `json:"events_accepted"` // new to the server
	EventsDropped  int64 `json:"events_dropped"`
	DownloadBytes  int64 `json:"download_bytes"`
	// VerifyFailures counts downloads whose size or sha256 was wrong.
	VerifyFailures int64 `json:"verify_failures"`

	Watch *WatchSummary `json:"watch,omitempty"`
}

// EndpointSummary is the count and latency of one endpoint's successful
// requests (errors are counted in Errors).
type EndpointSummary struct {
	Name   string  `json:"name"`
	Count  uint64  `json:"count"`
	Rate   float64 `json:"per_second"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// ErrorSummary counts the errors of one kind, e.g. "checkin: HTTP 503
// internal" or "content: connection refused", with one example message.
type ErrorSummary struct {
	Kind    string `json:"kind"`
	Count   int64  `json:"count"`
	Example string `json:"example"`
}

// WatchSummary is the hotfix latency of one update: when hosts first
// started downloading it, relative to Since.
type WatchSummary struct {
	Update         string    `json:"update"`
	Since          time.Time `json:"since"`
	HostsStarted   int       `json:"hosts_started"`
	HostsInstalled int       `json:"hosts_installed"`
	// FirstAt and LastAt are the instants the first and the last host
	// started downloading; the *Seconds fields are relative to Since.
	FirstAt       time.Time `json:"first_at,omitzero"`
	LastAt        time.Time `json:"last_at,omitzero"`
	FirstSeconds  float64   `json:"first_seconds"`
	MedianSeconds float64   `json:"p50_seconds"`
	P90Seconds    float64   `json:"p90_seconds"`
	LastSeconds   float64   `json:"last_seconds"`
	// TargetReachedSeconds is when StopAfterInstalled hosts had installed
	// it (0 if never).
	TargetReachedSeconds float64 `json:"target_reached_seconds,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (m *metrics) endpoints(seconds float64, enrollSeconds float64) []EndpointSummary {
	var out []EndpointSummary
	for _, n := range endpointNames {
		h := &m.ep[n].hist
		s := EndpointSummary{Name: n, Count: h.Count(), MeanMs: ms(h.Mean()), P50Ms: ms(h.Quantile(0.5)),
			P90Ms: ms(h.Quantile(0.9)), P99Ms: ms(h.Quantile(0.99)), MaxMs: ms(h.Max())}
		secs := seconds
		if n == EpEnroll {
			secs = enrollSeconds
		}
		if secs > 0 {
			s.Rate = float64(s.Count) / secs
		}
		out = append(out, s)
	}
	return out
}

func (m *metrics) errorList() []ErrorSummary {
	m.errMu.Lock()
	defer m.errMu.Unlock()
	out := make([]ErrorSummary, 0, len(m.errs))
	for k, s := range m.errs {
		out = append(out, ErrorSummary{Kind: k, Count: s.count, Example: s.example})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

// WriteTable writes the summary for people.
func (s *Summary) WriteTable(w io.Writer) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("patchgate sim: %d hosts against %s (%d resumed, %d enrolled now", s.Hosts, s.Server, s.Resumed, s.Enrolled)
	if s.EnrollFails > 0 {
		p(", %d enrolments failed", s.EnrollFails)
	}
	p(")\n")
	if s.Enrolled > 0 || s.EnrollFails > 0 {
		p("enrolment: %d hosts in %.1fs (%.0f hosts/s)\n", s.Enrolled, s.EnrollSeconds, s.EnrollRate)
	}
	switch {
	case s.StoppedBy == "no-hosts":
		p("check-ins: none, no host could be enrolled\n")
	case s.Mode == "rate":
		p("check-ins: paced at %.0f/s for %.1fs (%d cycles, %d missed), max %d in flight, stopped by %s\n",
			s.TargetRate, s.Seconds, s.Cycles, s.Missed, s.MaxInFlight, s.StoppedBy)
	case s.LongPoll != "":
		p("check-ins: every %s ±%.0f%%, long polls of up to %s in between, start spread %s, for %.1fs (%d cycles), stopped by %s\n",
			s.Interval, s.Jitter*100, s.LongPoll, s.StartSpread, s.Seconds, s.Cycles, s.StoppedBy)
	default:
		p("check-ins: every %s ±%.0f%%, start spread %s, for %.1fs (%d cycles, schedule lag p99 %s, max %s), max %d in flight, stopped by %s\n",
			s.Interval, s.Jitter*100, s.StartSpread, s.Seconds, s.Cycles, fmtMs(s.LagP99Ms), fmtMs(s.LagMaxMs), s.MaxInFlight, s.StoppedBy)
	}
	p("\n%-12s %10s %10s %9s %9s %9s %9s %9s\n", "ENDPOINT", "REQUESTS", "PER SEC", "MEAN", "P50", "P90", "P99", "MAX")
	for _, e := range s.Endpoints {
		p("%-12s %10d %10.1f %9s %9s %9s %9s %9s\n", e.Name, e.Count, e.Rate,
			fmtMs(e.MeanMs), fmtMs(e.P50Ms), fmtMs(e.P90Ms), fmtMs(e.P99Ms), fmtMs(e.MaxMs))
	}
	p("\nerrors: %d\n", s.ErrorsAll)
	for _, e := range s.Errors {
		p("  %-40s %8d  e.g. %s\n", e.Kind, e.Count, e.Example)
	}
	p("installs: %d done, %d failed, %d uninstalled; events: %d sent (%d new), %d dropped; downloaded %s",
		s.InstallsDone, s.InstallsFailed, s.Uninstalls, s.EventsSent, s.EventsAccepted, s.EventsDropped, fmtBytes(s.DownloadBytes))
	if s.VerifyFailures > 0 {
		p(", %d downloads failed verification", s.VerifyFailures)
	}
	p("\n")
	if wt := s.Watch; wt != nil {
		p("hotfix latency of %s since %s: %d hosts started downloading, %d installed",
			wt.Update, wt.Since.Format(time.RFC3339), wt.HostsStarted, wt.HostsInstalled)
		if wt.HostsStarted > 0 {
			p("; first %+.1fs, p50 %+.1fs, p90 %+.1fs, last %+.1fs", wt.FirstSeconds, wt.MedianSeconds, wt.P90Seconds, wt.LastSeconds)
		}
		if wt.TargetReachedSeconds > 0 {
			p("; target reached at %+.1fs", wt.TargetReachedSeconds)
		}
		p("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func fmtMs(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v < 10:
		return fmt.Sprintf("%.2fms", v)
	case v < 10000:
		return fmt.Sprintf("%.1fms", v)
	}
	return fmt.Sprintf("%.1fs", v/1000)
}

func fmtBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for x := n / unit; x >= unit; x /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
