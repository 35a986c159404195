package sim

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/agentapi"
)

// Template is an OS/product profile of virtual hosts. Hosts get templates
// round-robin, each template Weight times per round.
type Template struct {
	Name     string                       `json:"name"`
	OS       string                       `json:"os"`
	Arch     string                       `json:"arch"`
	Mode     patchgate.Mode               `json:"mode,omitempty"` // "" = automatic
	Products []patchgate.InstalledProduct `json:"products"`
	Weight   int                          `json:"weight,omitempty"` // 0 = 1
}

// DefaultTemplates is a contact-centre fleet: UCCE and CVP servers, a few
// hosts with both, CUIC reporting and web front ends. Every one has
// OpenSSL 3.0.11, so an OpenSSL fix applies to the whole fleet.
var DefaultTemplates = []Template{
	{Name: "ucce", OS: "linux", Arch: "amd64", Weight: 4, Products: []patchgate.InstalledProduct{
		{Name: "cisco.ucce", Version: "7.2(1)"}, {Name: "openssl", Version: "3.0.11"}}},
	{Name: "cvp", OS: "linux", Arch: "amd64", Weight: 3, Products: []patchgate.InstalledProduct{
		{Name: "cisco.cvp", Version: "11.6"}, {Name: "openssl", Version: "3.0.11"}}},
	{Name: "ucce-cvp", OS: "linux", Arch: "amd64", Weight: 1, Products: []patchgate.InstalledProduct{
		{Name: "cisco.cvp", Version: "11.6"}, {Name: "cisco.ucce", Version: "7.2(1)"}, {Name: "openssl", Version: "3.0.11"}}},
	{Name: "cuic", OS: "linux", Arch: "amd64", Weight: 1, Products: []patchgate.InstalledProduct{
		{Name: "cisco.cuic", Version: "11.6(1)"}, {Name: "openssl", Version: "3.0.11"}}},
	{Name: "web", OS: "linux", Arch: "arm64", Weight: 1, Products: []patchgate.InstalledProduct{
		{Name: "nginx", Version: "1.24.0"}, {Name: "openssl", Version: "3.0.11"}}},
}

// Config configures a simulation. Server, Client, Hosts and Duration are
// required; EnrollToken is needed when the identity file holds fewer than
// Hosts identities.
//
// Validation errors are *patchgate.Error whose Field is the name of the
// matching `patchgate sim` flag without its dashes.
type Config struct {
	// Server is the base URL of the patchgate server.
	Server string
	// Client is made by the caller (TLS pinned to the server's CA); its
	// transport should keep about MaxInFlight idle connections.
	Client *http.Client
	// EnrollToken enrols the hosts missing from IdentityFile.
	EnrollToken string
	// Hosts is the number of virtual hosts.
	Hosts int
	// IdentityFile holds one JSON object per line for each enrolled host
	// ({host_id, credential, template, hostname, installed, etag}); a run
	// resumes the hosts in it, appends those it enrols, and at its end
	// records what they installed and their ETags. "" keeps identities in
	// memory only. It holds credentials: it is created 0600.
	IdentityFile string
	// Templates of the hosts; nil = DefaultTemplates.
	Templates []Template

	// Interval between a host's check-ins (default 1h), spread by
	// ±Jitter×Interval (0 ≤ Jitter < 1).
	Interval time.Duration
	Jitter   float64
	// StartSpread spreads the first check-ins uniformly over this time.
	StartSpread time.Duration
	// CheckinRate > 0 paces check-ins at this aggregate rate per second
	// (open loop: hosts take turns, longest waiting first) instead of per
	// host intervals.
	CheckinRate float64
	// LongPoll > 0 has each host keep a long-poll check-in open between
	// its Interval check-ins, asking the server to hold it up to LongPoll
	// (at most agentapi.MaxWait), as `patchgate agent` does: one
	// goroutine and one connection per host (MaxInFlight does not bound
	// them), so give Client a transport that keeps that many idle
	// connections and waits LongPoll+agentapi.HoldGrace for headers. Not
	// with CheckinRate.
	LongPoll time.Duration
	// HostClient, in long-poll mode, makes each host's own HTTP client:
	// its own connections, as real agents have (a shared pinned HTTPS
	// client keeps only a few idle connections and would redial). nil =
	// every host uses Client.
	HostClient func() *http.Client
	// Duration of the check-in phase (after enrolment); at most 7 days.
	Duration time.Duration

	// FailureRate is the probability that an install fails (0..1).
	FailureRate float64
	// SkipDownload does not download payloads (pure check-in load).
	SkipDownload bool
	// EnrollConcurrency bounds concurrent enrolments (default 8).
	EnrollConcurrency int
	// MaxInFlight bounds the host cycles, hence requests, in flight
	// (default 64).
	MaxInFlight int

	// WatchUpdate records, per host, when its first download of this
	// update started (hotfix latency), from WatchSince (default: the start
	// of the check-in phase).
	WatchUpdate string
	WatchSince  time.Time
	// StopAfterInstalled ends the run once this many hosts installed
	// WatchUpdate (0 = run for Duration).
	StopAfterInstalled int

	// Progress gets a live progress line every second (in place, with
	// \r, when ProgressInPlace; else one line every 5 seconds). nil = none.
	Progress        io.Writer
	ProgressInPlace bool
	// HostnamePrefix names the hosts PREFIX-000001, ...; default "sim".
	HostnamePrefix string
	// Version is reported as the agent version (patchgate-sim/VERSION).
	Version string
	// Clock stamps events and the watch instants; nil = time.Now.
	// Scheduling and latencies use the monotonic clock.
	Clock func() time.Time
}

// MaxDuration bounds Config.Duration.
const MaxDuration = 7 * 24 * time.Hour

func (c *Config) setDefaults() {
	if c.Templates == nil {
		c.Templates = DefaultTemplates
	}
	if c.Interval == 0 {
		c.Interval = time.Hour
	}
	if c.EnrollConcurrency == 0 {
		c.EnrollConcurrency = 8
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 64
	}
	if c.HostnamePrefix == "" {
		c.HostnamePrefix = "sim"
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
}

// validate checks a Config with its defaults set.
func (c *Config) validate() error {
	u, err := url.Parse(c.Server)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return patchgate.Invalid("server", "must be an http(s) base URL like https://patch.example.com, not %q", c.Server)
	}
	if c.Client == nil {
		return patchgate.Invalid("client", "an HTTP client (with the server's pinned CA) is required")
	}
	switch {
	case c.Hosts < 1 || c.Hosts > 10_000_000:
		return patchgate.Invalid("hosts", "must be between 1 and 10,000,000, not %d", c.Hosts)
	case c.Interval < 0 || c.Interval > 31*24*time.Hour:
		return patchgate.Invalid("interval", "must be between 0 and 31 days")
	case c.Interval < time.Millisecond:
		return patchgate.Invalid("interval", "must be at least 1ms")
	case c.Jitter < 0 || c.Jitter >= 1:
		return patchgate.Invalid("jitter", "must be in [0, 1), not %g", c.Jitter)
	case c.StartSpread < 0:
		return patchgate.Invalid("start-spread", "must not be negative")
	case c.CheckinRate < 0 || c.CheckinRate > 1e6:
		return patchgate.Invalid("checkin-rate", "must be between 0 (off) and 1,000,000 per second, not %g", c.CheckinRate)
	case c.LongPoll < 0 || c.LongPoll > agentapi.MaxWait || (c.LongPoll > 0 && c.LongPoll < time.Second):
		return patchgate.Invalid("long-poll", "must be 0 (off) or between 1s and %s, not %s", agentapi.MaxWait, c.LongPoll)
	case c.LongPoll > 0 && c.CheckinRate > 0:
		return patchgate.Invalid("long-poll", "does not go with --checkin-rate (long polls follow each host's plan, not a rate)")
	case c.Duration <= 0 || c.Duration > MaxDuration:
		return patchgate.Invalid("duration", "must be positive and at most %s, not %s", MaxDuration, c.Duration)
	case c.FailureRate < 0 || c.FailureRate > 1:
		return patchgate.Invalid("failure-rate", "must be between 0 and 1, not %g", c.FailureRate)
	case c.EnrollConcurrency < 1 || c.EnrollConcurrency > 10000:
		return patchgate.Invalid("enroll-concurrency", "must be between 1 and 10000, not %d", c.EnrollConcurrency)
	case c.MaxInFlight < 1 || c.MaxInFlight > 100000:
		return patchgate.Invalid("max-in-flight", "must be between 1 and 100000, not %d", c.MaxInFlight)
	case c.WatchUpdate != "" && !agentapi.ValidID(c.WatchUpdate):
		return patchgate.Invalid("until-installed", "invalid update id %q", c.WatchUpdate)
	case c.StopAfterInstalled < 0:
		return patchgate.Invalid("count", "must not be negative")
	case c.StopAfterInstalled > 0 && c.WatchUpdate == "":
		return patchgate.Invalid("count", "needs an update to watch (--until-installed)")
	case !agentapi.ValidID(c.HostnamePrefix):
		return patchgate.Invalid("hostname-prefix", "invalid prefix %q", c.HostnamePrefix)
	}
	if len(c.Templates) == 0 {
		return patchgate.Invalid("templates", "at least one template is needed")
	}
	names := map[string]bool{}
	for i, t := range c.Templates {
		f := fmt.Sprintf("templates[%d]", i)
		if !agentapi.ValidID(t.Name) {
			return patchgate.Invalid(f+".name", "invalid template name %q", t.Name)
		}
		if names[t.Name] {
			return patchgate.Invalid(f+".name", "template %q defined twice", t.Name)
		}
		names[t.Name] = true
		if t.Weight < 0 || t.Weight > 1000 {
			return patchgate.Invalid(f+".weight", "must be between 0 and 1000")
		}
		if t.Mode != "" && !t.Mode.Valid() {
			return patchgate.Invalid(f+".mode", "must be automatic or manual, not %q", t.Mode)
		}
		inv := patchgate.Inventory{Hostname: "x", OS: t.OS, Arch: t.Arch, Mode: t.Mode, Products: t.Products}
		if err := agentapi.ValidateInventory(&inv); err != nil {
			var pe *patchgate.Error
			if errors.As(err, &pe) {
				return patchgate.Invalid(f+"."+strings.TrimPrefix(pe.Field, "inventory."), "%s", pe.Message)
			}
			return patchgate.Invalid(f, "%v", err)
		}
	}
	return nil
}
