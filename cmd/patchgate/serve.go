//go:build !agentonly

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/spf13/cobra"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/content"
	"github.com/patchgate/patchgate/pki"
	"github.com/patchgate/patchgate/server"
	"github.com/patchgate/patchgate/sqlite"
	"github.com/patchgate/patchgate/trust"
)

type serveOptions struct {
	Data         string
	Listen       string
	TLSCert      string
	TLSKey       string
	InsecureHTTP bool
	Hostnames    []string
	MaxPayload   int64
	LogLevel     string
	DebugListen  string
	Retention    time.Duration
	Consolidate  string
	TimeZone     string
	Notify       notifyOptions
	// SLAWarn: how long before an SLA deadline sla.approaching is raised.
	SLAWarn time.Duration
	// Cleanup is the cron expression of the cleanup of superseded
	// updates; CleanupAge how long after being superseded they go.
	Cleanup    string
	CleanupAge string
	// RulesInterval: how often the approval rules run (0 = only on
	// posting and on demand).
	RulesInterval time.Duration
	Sync          syncOptions
	// MaxHeld bounds the long-poll check-ins held at once.
	MaxHeld int
}

func newServeCmd() *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the update server (SQLite and a content directory under --data)",
		Long: `Run the update server on its embedded defaults: a SQLite database and a
content-addressed payload store under --data, created on first start.

On first start it creates an admin token (shown once, stored only as a hash)
and, unless --tls-cert/--tls-key are given, a self-signed CA and server
certificate; it prints the CA's SHA-256 fingerprint, which the CLI and agents
pin. SIGTERM or Ctrl-C shuts down gracefully.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runServe(cmd.Context(), o, cmd.OutOrStdout(), nil)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Data, "data", envOr("PATCHGATE_DATA", "patchgate-data"), "data directory (env PATCHGATE_DATA)")
	f.StringVar(&o.Listen, "listen", envOr("PATCHGATE_LISTEN", "127.0.0.1:8443"), "address to listen on (env PATCHGATE_LISTEN)")
	f.StringVar(&o.TLSCert, "tls-cert", "", "TLS certificate file (PEM); default: a self-signed CA under --data")
	f.StringVar(&o.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	f.BoolVar(&o.InsecureHTTP, "insecure-http", false, "serve plain HTTP: for local experiments only, never in production")
	f.StringSliceVar(&o.Hostnames, "hostname", nil, "extra DNS names or IPs for the self-signed server certificate")
	f.Int64Var(&o.MaxPayload, "max-payload-bytes", 4<<30, "largest payload accepted for upload")
	f.StringVar(&o.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&o.Consolidate, "consolidate-schedule", "0 2 1 * *", `when to build the monthly Service Releases: a cron expression (minute hour day month weekday) in --timezone; "" disables it`)
	f.StringVar(&o.TimeZone, "timezone", "Local", "the server's time zone for schedules, e.g. Europe/Paris")
	f.DurationVar(&o.Retention, "event-retention", 365*24*time.Hour, "keep the activity log this long (0 = for ever); older events are pruned hourly")
	f.StringVar(&o.DebugListen, "debug-listen", "", "serve Go's profiler (/debug/pprof/) on this separate address, e.g. 127.0.0.1:6060; keep it on loopback")
	f.IntVar(&o.MaxHeld, "max-held-checkins", server.DefaultMaxHeld, "most long-poll check-ins held open at once (about 20 KB each); beyond it agents are answered at once and back off")
	f.DurationVar(&o.SLAWarn, "sla-warn", patchgate.SLAWarnDefault, "raise sla.approaching when an unposted update has less than this left before its SLA deadline")
	f.StringVar(&o.Cleanup, "cleanup-schedule", "30 3 * * *", `when to decline superseded updates no host needs any more: a cron expression in --timezone (default daily at 03:30); "" disables it`)
	f.StringVar(&o.CleanupAge, "cleanup-age", "30d", "how long after being superseded an update no host needs is declined by the cleanup job (e.g. 30d, 720h)")
	f.DurationVar(&o.RulesInterval, "rules-interval", time.Minute, "run the automatic approval rules this often (0: only when updates are posted and on demand)")
	addNotifyFlags(f, &o.Notify)
	addSyncFlags(f, &o.Sync)
	return cmd
}

// runServe runs a server until ctx ends. ready, if not nil, receives the
// base URL, the CA fingerprint and the admin token (empty if it existed)
// once the server listens.
func runServe(ctx context.Context, o *serveOptions, out io.Writer, ready func(url, fingerprint, adminToken string)) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return fmt.Errorf("--log-level: %v", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if o.SLAWarn < 0 || o.SLAWarn > 30*24*time.Hour {
		return errors.New("--sla-warn: must be between 0 and 720h")
	}
	consolidateNext, err := consolidationSchedule(o.Consolidate, o.TimeZone)
	if err != nil {
		return err
	}
	cleanupNext, err := cronSchedule("--cleanup-schedule", o.Cleanup, o.TimeZone)
	if err != nil {
		return err
	}
	cleanupAge := patchgate.CleanupAgeDefault
	if o.CleanupAge != "" {
		if cleanupAge, err = parseFlagDuration("--cleanup-age", o.CleanupAge); err != nil {
			return err
		}
	}
	if o.RulesInterval < 0 || (o.RulesInterval > 0 && o.RulesInterval < time.Second) {
		return errors.New("--rules-interval: must be 0 (off) or at least 1s")
	}
	rulesIv := o.RulesInterval
	if rulesIv == 0 {
		rulesIv = -1 // server.Config: negative = no periodic runs
	}
	if err := o.Sync.check(); err != nil {
		return err
	}
	if o.Retention < 0 {
		return errors.New("--event-retention must not be negative (0 keeps events for ever)")
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if o.MaxHeld < 0 {
		return fmt.Errorf("--max-held-checkins: must not be negative (0 = the default, %d), not %d", server.DefaultMaxHeld, o.MaxHeld)
	}
	if o.InsecureHTTP && o.TLSCert != "" {
		return errors.New("--insecure-http and --tls-cert exclude each other")
	}
	if err := os.MkdirAll(o.Data, 0o700); err != nil {
		return fmt.Errorf("--data: %v", err)
	}
	unlock, err := lockDataDir(o.Data)
	if err != nil {
		return err
	}
	defer unlock()
	db, err := sqlite.Open(filepath.Join(o.Data, "patchgate.db"))
	if err != nil {
		return fmt.Errorf("opening database: %w", err)
	}
	defer db.Close()
	cs, err := content.Open(filepath.Join(o.Data, "content"))
	if err != nil {
		return fmt.Errorf("opening content store: %w", err)
	}
	repo, rootKeyFiles, err := openTrust(o.Data)
	if err != nil {
		return err
	}
	planKey, _, err := trust.OpenPlanKey(filepath.Join(o.Data, trust.PlanKeyFile))
	if err != nil {
		return fmt.Errorf("opening the plan key: %w", err)
	}
	o.Notify.TimeZone = o.TimeZone
	ns, err := setupNotify(o.Notify, o.Data, db, log)
	if err != nil {
		return err
	}
	srv := server.New(server.Config{Store: db, Content: cs, Logger: log, MaxPayloadBytes: o.MaxPayload, Version: version, EventRetention: o.Retention, ConsolidateNext: consolidateNext, Notify: ns.server,
		SLAWarn: o.SLAWarn, CleanupNext: cleanupNext, CleanupAge: cleanupAge, NotifyJobs: ns.jobs,
		RulesInterval: rulesIv, MaxHeldCheckins: o.MaxHeld,
		Trust: server.TrustConfig{Repo: repo, PlanKey: planKey, Mirrors: trust.NewMirrors(filepath.Join(o.Data, "tuf", "mirror"))}})
	ns.cfg.StatusReport = srv.StatusReport
	syncer := newSyncer(o, db, cs, srv, log)
	adminToken, err := srv.BootstrapAdmin(ctx)
	if err != nil {
		return fmt.Errorf("creating the admin token: %w", err)
	}

	var tlsCfg *tls.Config
	fingerprint := ""
	switch {
	case o.InsecureHTTP:
		fmt.Fprintln(out, "WARNING: --insecure-http: serving plain HTTP. Tokens and plans travel in clear text.")
		fmt.Fprintln(out, "WARNING: use this for local experiments only, never in production.")
	case o.TLSCert != "":
		tlsCfg, err = pki.LoadServerTLS(o.TLSCert, o.TLSKey)
		if err != nil {
			return err
		}
		if fingerprint, err = pki.FingerprintFile(o.TLSCert); err != nil {
			return err
		}
	default:
		hosts := append([]string{"localhost", "127.0.0.1", "::1"}, o.Hostnames...)
		if h, _, err := net.SplitHostPort(o.Listen); err == nil && h != "" && h != "0.0.0.0" && h != "::" {
			hosts = append(hosts, h)
		}
		tlsCfg, fingerprint, err = pki.EnsureServerTLS(filepath.Join(o.Data, "tls"), dedupe(hosts), time.Now())
		if err != nil {
			return fmt.Errorf("preparing TLS: %w", err)
		}
	}

	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("--listen: %v", err)
	}
	scheme := "https"
	if tlsCfg == nil {
		scheme = "http"
	} else {
		ln = tls.NewListener(ln, tlsCfg)
	}
	url := scheme + "://" + ln.Addr().String()
	if o.DebugListen != "" {
		dl, err := net.Listen("tcp", o.DebugListen)
		if err != nil {
			return fmt.Errorf("--debug-listen: %v", err)
		}
		defer dl.Close()
		go http.Serve(dl, debugHandler())
		fmt.Fprintf(out, "  profiler:       http://%s/debug/pprof/\n", dl.Addr())
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	// Held check-ins (long polls) are answered at once on shutdown, or
	// Shutdown would wait for them.
	hs.RegisterOnShutdown(srv.ReleaseHolds)

	abs, _ := filepath.Abs(o.Data)
	fmt.Fprintf(out, "patchgate %s serving on %s\n", version, url)
	fmt.Fprintf(out, "  data directory: %s\n", abs)
	if fingerprint != "" {
		fmt.Fprintf(out, "  CA fingerprint: %s\n", fingerprint)
	}
	if adminToken != "" {
		fmt.Fprintf(out, "  admin token:    %s\n", adminToken)
		fmt.Fprintln(out, "  (shown once: it is stored only as a hash; keep it safe)")
	}
	printTrust(out, repo, rootKeyFiles)
	fmt.Fprintf(out, "  try: export PATCHGATE_SERVER=%s", url)
	if fingerprint != "" {
		fmt.Fprintf(out, " PATCHGATE_CA_FINGERPRINT=%s", fingerprint)
	}
	fmt.Fprintln(out)
	if ready != nil {
		ready(url, fingerprint, adminToken)
	}

	bg, stopBg := context.WithCancel(context.WithoutCancel(ctx))
	bgDone := make(chan struct{})
	go func() { srv.Run(bg); close(bgDone) }()
	syncDone := make(chan struct{})
	go func() { syncer.Run(bg); close(syncDone) }()
	notifyDone := ns.start(bg, url)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err = hs.Shutdown(sctx)
		cancel()
	}
	stopBg()
	<-bgDone
	<-syncDone
	<-notifyDone
	srv.Close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func dedupe(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// consolidationSchedule turns --consolidate-schedule and --timezone into
// the server's "next run" function; nil when disabled.
func consolidationSchedule(spec, zone string) (func(time.Time) time.Time, error) {
	return cronSchedule("--consolidate-schedule", spec, zone)
}

// cronSchedule turns a cron flag and --timezone into a "next run"
// function; nil when the flag is "".
func cronSchedule(flag, spec, zone string) (func(time.Time) time.Time, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("--timezone: %v", err)
	}
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("%s: %q: %v", flag, spec, err)
	}
	return func(after time.Time) time.Time { return sched.Next(after.In(loc)) }, nil
}
