//go:build !agentonly

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/agentapi"
	"github.com/patchgate/patchgate/pki"
	"github.com/patchgate/patchgate/sim"
)

type simOptions struct {
	EnrollToken       string
	Hosts             int
	Identities        string
	Templates         string
	Interval          time.Duration
	Jitter            float64
	StartSpread       time.Duration
	Duration          time.Duration
	CheckinRate       float64
	FailureRate       float64
	SkipDownload      bool
	MaxInFlight       int
	EnrollConcurrency int
	WatchUpdate       string
	UntilInstalled    string
	Count             int
	Since             string
	Timeout           time.Duration
	Quiet             bool
	LongPoll          time.Duration
}

func newSimCmd(g *globalOptions) *cobra.Command {
	o := &simOptions{}
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Fleet simulator: run many virtual agents against a server and measure it",
		Long: `Run --hosts virtual agents in this process against a real server, over the
same agent protocol as ` + "`patchgate agent`" + `.

Each virtual host enrols once (identities, credentials included, are kept in
--identities, one JSON object per line: a later run resumes the same fleet
and enrols only the missing hosts), then checks in with its ETag, downloads
each approved payload from the server and verifies its size and sha256
(unless --skip-download), "installs" it in memory (failing with probability
--failure-rate), reports its events, and checks in again.

Check-ins follow each host's --interval ± --jitter, the first ones spread
over --start-spread; or, with --checkin-rate, a fixed aggregate rate (open
loop). The run lasts --duration (after enrolment), or until --count hosts
installed the update named by --until-installed.

Live progress goes to stderr; the summary (requests and latency per
endpoint, errors by kind, installs, hotfix latency) to stdout, as JSON with
--json.`,
		Example: `  patchgate sim --server https://127.0.0.1:8443 --ca-fingerprint FP --enroll-token pge... \
      --hosts 2000 --identities fleet.jsonl --interval 7h --start-spread 30s --duration 5m
  patchgate sim ... --hosts 100000 --identities fleet.jsonl --checkin-rate 2000 --skip-download --duration 5m
  patchgate sim ... --hosts 1000 --identities fleet.jsonl --until-installed ucce-7.2.1-hf3 --duration 3h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := simConfig(g, o)
			if err != nil {
				return err
			}
			if !o.Quiet {
				cfg.Progress = cmd.ErrOrStderr()
				cfg.ProgressInPlace = stderrIsTerminal()
			}
			sum, err := sim.Run(cmd.Context(), cfg)
			if sum != nil {
				out := cmd.OutOrStdout()
				var werr error
				if g.JSON {
					werr = emitJSON(out, sum)
				} else {
					werr = sum.WriteTable(out)
				}
				err = errors.Join(err, werr)
			}
			return simFlagError(err)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.EnrollToken, "enroll-token", os.Getenv("PATCHGATE_ENROLL_TOKEN"), "enrolment token for the hosts not in --identities yet (env PATCHGATE_ENROLL_TOKEN)")
	f.IntVar(&o.Hosts, "hosts", 0, "number of virtual hosts (required)")
	f.StringVar(&o.Identities, "identities", "", "file of enrolled identities, one JSON object per line, resumed and extended (required; holds credentials: kept 0600)")
	f.StringVar(&o.Templates, "templates", "", `JSON file of host templates: [{"name","os","arch","mode","products":[{"name","version"}],"weight"}] (default: a contact-centre fleet with cisco.ucce 7.2(1), cisco.cvp 11.6, cisco.cuic, nginx, openssl 3.0.11)`)
	f.DurationVar(&o.Interval, "interval", time.Hour, "time between a host's check-ins")
	f.Float64Var(&o.Jitter, "jitter", 0.1, "spread check-ins by ± this fraction of --interval")
	f.DurationVar(&o.StartSpread, "start-spread", 0, "spread the first check-ins uniformly over this time")
	f.DurationVar(&o.Duration, "duration", 5*time.Minute, "how long to run the check-ins (after enrolment)")
	f.Float64Var(&o.CheckinRate, "checkin-rate", 0, "pace check-ins at this aggregate rate per second instead of per-host intervals (open loop)")
	f.Float64Var(&o.FailureRate, "failure-rate", 0, "probability that an install fails (0 to 1)")
	f.BoolVar(&o.SkipDownload, "skip-download", false, "do not download payloads (pure check-in and event load)")
	f.IntVar(&o.MaxInFlight, "max-in-flight", 64, "most host cycles (hence requests) in flight at once")
	f.IntVar(&o.EnrollConcurrency, "enroll-concurrency", 8, "most enrolments in flight at once")
	f.StringVar(&o.WatchUpdate, "watch-update", "", "record when each host first starts downloading this update (hotfix latency)")
	f.StringVar(&o.UntilInstalled, "until-installed", "", "watch this update and stop once --count hosts installed it")
	f.IntVar(&o.Count, "count", 0, "with --until-installed: how many hosts (default: all of --hosts)")
	f.StringVar(&o.Since, "since", "", "RFC 3339 instant hotfix latency is measured from, e.g. when the update was approved (default: start of the check-ins)")
	f.DurationVar(&o.Timeout, "timeout", time.Minute, "longest one request may take")
	f.BoolVar(&o.Quiet, "quiet", false, "no live progress on stderr")
	f.DurationVar(&o.LongPoll, "long-poll", 0, "keep a long-poll check-in open per host between --interval check-ins, held by the server up to this long (at most 5m; 0 = off), as the agent does")
	return cmd
}

func simConfig(g *globalOptions, o *simOptions) (sim.Config, error) {
	var cfg sim.Config
	if o.Hosts <= 0 {
		return cfg, fmt.Errorf("--hosts: the number of virtual hosts is required (a positive number, not %d)", o.Hosts)
	}
	if o.Identities == "" {
		return cfg, errors.New("--identities: a file for the enrolled identities is required, so that a later run resumes the same fleet")
	}
	if o.Timeout <= 0 {
		return cfg, errors.New("--timeout: must be positive")
	}
	watch := o.WatchUpdate
	stopAfter := 0
	if o.UntilInstalled != "" {
		if watch != "" && watch != o.UntilInstalled {
			return cfg, errors.New("--watch-update and --until-installed name different updates: one update is watched per run")
		}
		watch = o.UntilInstalled
		stopAfter = o.Count
		if stopAfter == 0 {
			stopAfter = o.Hosts
		}
		if stopAfter < 0 || stopAfter > o.Hosts {
			return cfg, fmt.Errorf("--count: must be between 1 and --hosts (%d), not %d", o.Hosts, o.Count)
		}
	} else if o.Count != 0 {
		return cfg, errors.New("--count: goes with --until-installed")
	}
	var since time.Time
	if o.Since != "" {
		if watch == "" {
			return cfg, errors.New("--since: goes with --watch-update or --until-installed")
		}
		var err error
		if since, err = time.Parse(time.RFC3339, o.Since); err != nil {
			return cfg, fmt.Errorf("--since: %q is not an RFC 3339 time like 2026-12-01T10:00:00Z", o.Since)
		}
	}
	var templates []sim.Template
	if o.Templates != "" {
		var err error
		if templates, err = readTemplates(o.Templates); err != nil {
			return cfg, fmt.Errorf("--templates: %w", err)
		}
	}
	conns, headerWait := o.MaxInFlight+o.EnrollConcurrency, time.Duration(0)
	if o.LongPoll > 0 {
		// One connection per host, each waiting for its answer as long as
		// the server may hold it.
		conns, headerWait = o.Hosts+o.EnrollConcurrency, o.LongPoll+agentapi.HoldGrace
	}
	client, err := simHTTPClient(g, conns, o.Timeout, headerWait)
	if err != nil {
		return cfg, err
	}
	var hostClient func() *http.Client
	if o.LongPoll > 0 && !strings.HasPrefix(g.Server, "http://") {
		// Over HTTPS each host gets its own pinned client, hence its own
		// TLS connection, as real agents have.
		hostClient = func() *http.Client {
			c, err := simHTTPClient(g, 1, o.Timeout, headerWait)
			if err != nil { // checked above with the same arguments
				return client
			}
			return c
		}
	}
	return sim.Config{
		Server: strings.TrimRight(g.Server, "/"), Client: client, EnrollToken: o.EnrollToken,
		Hosts: o.Hosts, IdentityFile: o.Identities, Templates: templates,
		Interval: o.Interval, Jitter: o.Jitter, StartSpread: o.StartSpread, LongPoll: o.LongPoll, HostClient: hostClient, CheckinRate: o.CheckinRate, Duration: o.Duration,
		FailureRate: o.FailureRate, SkipDownload: o.SkipDownload,
		EnrollConcurrency: o.EnrollConcurrency, MaxInFlight: o.MaxInFlight,
		WatchUpdate: watch, WatchSince: since, StopAfterInstalled: stopAfter,
		Version: version,
	}, nil
}

// simHTTPClient is the agents' client: pinned TLS (HTTP/2, so few
// connections) for https; for plain http, a transport that keeps as many
// idle connections as there can be requests in flight, so that a load run
// does not churn through ephemeral ports. Neither uses a proxy.
//
// headerWait > 0 (long polls) makes the transport wait that long for
// response headers.
func simHTTPClient(g *globalOptions, conns int, timeout, headerWait time.Duration) (*http.Client, error) {
	if !strings.HasPrefix(g.Server, "http://") {
		c, err := httpClientFor(g.Server, g.CAFingerprint, timeout)
		if err == nil && headerWait > 0 {
			c = pki.WithResponseHeaderTimeout(c, headerWait)
		}
		return c, err
	}
	conns = max(conns, 16)
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ResponseHeaderTimeout: max(30*time.Second, headerWait),
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
	}
	return &http.Client{Transport: t, Timeout: timeout}, nil
}

func readTemplates(path string) ([]sim.Template, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 1<<20+1))
	if err != nil {
		return nil, err
	}
	if len(data) > 1<<20 {
		return nil, errors.New("larger than 1 MiB")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var ts []sim.Template
	if err := dec.Decode(&ts); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(ts) == 0 {
		return nil, fmt.Errorf("%s: no templates", path)
	}
	return ts, nil
}

// simFlagError names the flag of a configuration error: the simulator's
// fields are named like the flags.
func simFlagError(err error) error {
	var pe *patchgate.Error
	if err == nil || !errors.As(err, &pe) || pe.Field == "" || pe.Code != patchgate.CodeInvalid {
		return err
	}
	field := pe.Field
	if i := strings.IndexAny(field, ".["); i > 0 {
		return fmt.Errorf("--%s: %s: %s", field[:i], field, pe.Message)
	}
	return fmt.Errorf("--%s: %s", field, pe.Message)
}
