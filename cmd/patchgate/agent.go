package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/agent"
	"github.com/patchgate/patchgate/agentapi"
	"github.com/patchgate/patchgate/installer"
	"github.com/patchgate/patchgate/pki"
	"github.com/patchgate/patchgate/trust"
)

type agentOptions struct {
	EnrollToken    string
	StateDir       string
	Mode           string
	Products       []string
	Interval       time.Duration
	Jitter         float64
	Once           bool
	ReEnroll       bool
	Hostname       string
	MachineIDFile  string
	DpkgRoot       string
	DpkgAdminDir   string
	InstallTimeout time.Duration
	LogLevel       string
	RebootCommand  string
	RebootTimeout  time.Duration
	BootIDFile     string
	LongPoll       time.Duration
	TrustRoots     []string
	AllowUnsigned  bool
}

func newAgentCmd(g *globalOptions) *cobra.Command {
	o := &agentOptions{}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the agent on a managed host: enrol once, then poll, install what was approved, report",
		Long: `Run the agent on a managed host.

The first run enrols the host with --enroll-token and keeps its credential in
--state; later runs reuse it (a state dir copied to another machine is
detected and refused: use --re-enroll there). The agent then checks in every
--interval (with jitter) and, in between, keeps a long-poll check-in open
that the server answers as soon as the host's plan changes (--long-poll, up
to 5m a time; 0 turns it off), so an approved hotfix starts within seconds.
It downloads approved payloads (resumable), verifies
size and sha256 before anything runs, installs them through the closed set of
installers, and reports each step. Before anything is downloaded, the plan
item's payloads must be signed, exactly as planned (installer and arguments
included), by the TUF repository the item names, whose root the agent got at
enrolment: --trust-root REPO=FINGERPRINT pins that root (enrolment fails
otherwise; an agent enrolled before signed updates fetches the pinned root).
Items no repository signs are refused unless --allow-unsigned. Every check-in
answer must be signed by the server's plan key (pinned at enrolment) over the
check-in's fresh nonce: a replayed or altered plan is refused and nothing runs.
Reports made while the server is unreachable are queued in --state and
delivered later.

--once runs one cycle and exits non-zero if anything failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := agentConfig(g, o)
			if err != nil {
				return err
			}
			a, err := agent.New(cfg)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := a.Enroll(ctx); err != nil {
				return err
			}
			if !o.Once {
				// The agent is one binary with the server: package
				// initialisation (schemas, templates) leaves garbage that
				// a long-running agent should not keep resident. Its own
				// work allocates little, so a tighter GC costs little CPU.
				if os.Getenv("GOGC") == "" {
					debug.SetGCPercent(agentGCPercent)
				}
				debug.FreeOSMemory()
				return a.Run(ctx)
			}
			sum, err := a.RunOnce(ctx)
			out := cmd.OutOrStdout()
			switch {
			case sum.NotModified:
				fmt.Fprintln(out, "checked in: plan not modified, nothing to do")
			case sum.Manual && sum.Skipped == 0:
				fmt.Fprintln(out, "checked in: manual host, nothing to install by hand")
			case sum.Manual:
				fmt.Fprintf(out, "checked in: manual action required for %d update(s); see `patchgate host show`\n", sum.Skipped)
			default:
				fmt.Fprintf(out, "checked in: %d installed, %d uninstalled, %d failed, %d skipped\n", sum.Installed, sum.Uninstalled, sum.Failed, sum.Skipped)
			}
			switch {
			case sum.Rebooted:
				fmt.Fprintf(out, "rebooting (%s)\n", sum.RebootReason)
			case sum.RebootRequired || strings.Contains(sum.RebootReason, "loop guard"):
				fmt.Fprintf(out, "a reboot is required to finish: %s\n", sum.RebootReason)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.EnrollToken, "enroll-token", os.Getenv("PATCHGATE_ENROLL_TOKEN"), "enrolment token, needed on first run (env PATCHGATE_ENROLL_TOKEN)")
	f.StringVar(&o.StateDir, "state", envOr("PATCHGATE_AGENT_STATE", "/var/lib/patchgate-agent"), "state directory: identity, journal, queued reports (env PATCHGATE_AGENT_STATE)")
	f.StringVar(&o.Mode, "mode", "automatic", "automatic (the agent installs) or manual (patching only by hand; the server tells people)")
	f.StringArrayVar(&o.Products, "product", nil, "a product on this host as NAME=VERSION (repeatable); dpkg packages are detected too")
	f.DurationVar(&o.Interval, "interval", time.Hour, "time between check-ins")
	f.Float64Var(&o.Jitter, "jitter", 0.1, "spread check-ins by ± this fraction of --interval")
	f.BoolVar(&o.Once, "once", false, "run one cycle and exit; non-zero if anything failed")
	f.BoolVar(&o.ReEnroll, "re-enroll", false, "discard the identity in --state and enrol again with --enroll-token")
	f.StringVar(&o.Hostname, "hostname", "", "host name to report (default: the system's)")
	f.StringVar(&o.MachineIDFile, "machine-id-file", "", "file identifying this machine (default /etc/machine-id)")
	f.StringVar(&o.DpkgRoot, "dpkg-root", "", "install .deb payloads under this root (default /)")
	f.StringVar(&o.DpkgAdminDir, "dpkg-admindir", "", "dpkg database to install into and detect products from (default /var/lib/dpkg)")
	f.DurationVar(&o.InstallTimeout, "install-timeout", time.Hour, "longest one installer may run")
	f.StringVar(&o.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&o.RebootCommand, "reboot-command", "", `command (run by /bin/sh) that reboots this host when the group's reboot policy says so, e.g. "systemctl reboot"; default none: report reboot-pending and wait for an operator`)
	f.DurationVar(&o.RebootTimeout, "reboot-timeout", agent.DefaultRebootTimeout, "longest the reboot command may run")
	f.StringVar(&o.BootIDFile, "boot-id-file", "", "file identifying the current boot, to notice a reboot (default /proc/sys/kernel/random/boot_id)")
	f.DurationVar(&o.LongPoll, "long-poll", agentapi.MaxWait, "between check-ins, keep a check-in open that the server holds up to this long and answers when the plan changes (1s to 5m; 0 = off: poll every --interval only)")
	f.StringArrayVar(&o.TrustRoots, "trust-root", nil, "trust only this root for a signed-update repository, as REPO=FINGERPRINT (sha256 of its 1.root.json, shown by the server); repeatable")
	f.BoolVar(&o.AllowUnsigned, "allow-unsigned", os.Getenv("PATCHGATE_AGENT_ALLOW_UNSIGNED") == "1", "run updates no repository signs (from a server without signed updates) with only the size and sha256 check, and unsigned plans from a server without a plan key; for migration only (env PATCHGATE_AGENT_ALLOW_UNSIGNED=1)")
	return cmd
}

func agentConfig(g *globalOptions, o *agentOptions) (agent.Config, error) {
	var cfg agent.Config
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return cfg, fmt.Errorf("--log-level: %v", err)
	}
	mode := patchgate.Mode(o.Mode)
	if !mode.Valid() {
		return cfg, fmt.Errorf("--mode: must be automatic or manual, not %q", o.Mode)
	}
	var products []patchgate.InstalledProduct
	for _, p := range o.Products {
		name, ver, ok := strings.Cut(p, "=")
		if !ok || !patchgate.ValidProductName(name) || patchgate.ValidVersion(ver) != nil {
			return cfg, fmt.Errorf("--product: %q must be NAME=VERSION with a lowercase product name, e.g. cisco.ucce=7.2(1)", p)
		}
		products = append(products, patchgate.InstalledProduct{Name: name, Version: ver})
	}
	pins, err := parseTrustRoots(o.TrustRoots)
	if err != nil {
		return cfg, err
	}
	client, err := httpClientFor(g.Server, g.CAFingerprint, time.Minute)
	if err != nil {
		return cfg, err
	}
	if o.LongPoll != 0 && (o.LongPoll < time.Second || o.LongPoll > agentapi.MaxWait) {
		return cfg, fmt.Errorf("--long-poll: must be 0 (off) or between 1s and %s, not %s", agentapi.MaxWait, o.LongPoll)
	}
	var longPoll *http.Client
	if o.LongPoll > 0 {
		longPoll = pki.WithResponseHeaderTimeout(client, o.LongPoll+agentapi.HoldGrace)
	}
	if o.InstallTimeout <= 0 {
		return cfg, errors.New("--install-timeout must be positive")
	}
	if err := checkRebootCommand(o.RebootCommand); err != nil {
		return cfg, err
	}
	if o.RebootTimeout <= 0 || o.RebootTimeout > time.Hour {
		return cfg, errors.New("--reboot-timeout must be positive and at most 1h")
	}
	return agent.Config{
		Server: strings.TrimRight(g.Server, "/"), Client: client, StateDir: o.StateDir,
		EnrollToken: o.EnrollToken, ReEnroll: o.ReEnroll, Mode: mode, Products: products,
		DpkgAdminDir:   o.DpkgAdminDir,
		Installer:      installer.Config{DpkgRoot: o.DpkgRoot, DpkgAdminDir: o.DpkgAdminDir, DpkgForceNotRoot: o.DpkgRoot != ""},
		InstallTimeout: o.InstallTimeout, Hostname: o.Hostname, MachineIDFile: o.MachineIDFile,
		Interval: o.Interval, Jitter: o.Jitter, Version: version,
		RebootCommand: o.RebootCommand, RebootTimeout: o.RebootTimeout, BootIDFile: o.BootIDFile,
		LongPoll: o.LongPoll, LongPollClient: longPoll,
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		TrustRoots: pins, AllowUnsigned: o.AllowUnsigned,
	}, nil
}

// parseTrustRoots parses --trust-root REPO=FINGERPRINT values.
func parseTrustRoots(vals []string) (map[string]string, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	pins := map[string]string{}
	for _, v := range vals {
		repo, fp, ok := strings.Cut(v, "=")
		fp = strings.ToLower(strings.TrimSpace(fp))
		if !ok || trust.CheckRepoName(repo) != nil || trust.CheckRootFingerprint(fp) != nil {
			return nil, patchgate.Invalid("--trust-root", "%q must be REPO=FINGERPRINT, e.g. local=<64 hex characters>", v)
		}
		if old, dup := pins[repo]; dup && old != fp {
			return nil, patchgate.Invalid("--trust-root", "repository %s pinned twice with different fingerprints", repo)
		}
		pins[repo] = fp
	}
	return pins, nil
}

// checkRebootCommand refuses a reboot command that cannot be meant: too
// long, or with control characters (a newline would hide a second
// command in a unit file or a log line).
func checkRebootCommand(c string) error {
	if len(c) > 1024 {
		return patchgate.Invalid("--reboot-command", "longer than 1024 bytes")
	}
	if strings.IndexFunc(c, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return patchgate.Invalid("--reboot-command", "contains control characters (newlines, tabs, ...)")
	}
	if c != "" && strings.TrimSpace(c) == "" {
		return patchgate.Invalid("--reboot-command", "is blank")
	}
	return nil
}

// httpClientFor returns a client for server: TLS pinned to fingerprint for
// https, plain for http. Neither uses proxies or the system trust store.
func httpClientFor(server, fingerprint string, timeout time.Duration) (*http.Client, error) {
	switch {
	case strings.HasPrefix(server, "https://"):
		if fingerprint == "" {
			return nil, errors.New("--ca-fingerprint (or PATCHGATE_CA_FINGERPRINT) is required for https: `patchgate serve` prints it")
		}
		return pki.NewHTTPClient(fingerprint, timeout)
	case strings.HasPrefix(server, "http://"):
		return pki.NewInsecureHTTPClient(timeout), nil
	}
	return nil, fmt.Errorf("--server: %q must start with https:// or http://", server)
}

// agentGCPercent is the long-running agent's GOGC unless the GOGC
// environment variable sets one (BENCHMARKS.md §6 measures both).
const agentGCPercent = 50
