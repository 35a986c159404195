// Package agent is the patchgate agent that runs on each managed host: it
// enrols once, then polls its server for the host's plan, downloads each
// payload (resumable), verifies its size and sha256 before anything runs,
// applies it with one of the closed set of installers, and reports what
// happened as events that are queued on disk until the server has them.
// Every step is recorded durably before its side effect, so a crash or
// reboot never leaves the agent guessing.
//
// It talks to the server only through agentapi.Client, the protocol
// client it shares with the fleet simulator (package sim), and imports
// only the domain package, agentapi, installer and trust (signed-update
// verification): never a
// server-side package (stores, http server, content store, notify, ...).
// Configuration comes in as a Config value; the package reads no
// environment variables or flags.
package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/agentapi"
	"github.com/patchgate/patchgate/installer"
	"github.com/patchgate/patchgate/trust"
)

// Config configures an agent. Server, Client and StateDir are required.
type Config struct {
	// Server is the base URL of the patchgate server, e.g.
	// https://patch.example.com:8443.
	Server string
	// Client is made by the caller: TLS pinned to the server's CA, no
	// proxy or trust store it was not configured with. The agent uses a
	// copy that never follows redirects.
	Client *http.Client
	// StateDir holds the agent's identity and state (see state.go).
	StateDir string
	// EnrollToken is needed only to enrol.
	EnrollToken string
	// ReEnroll discards an existing identity and enrols again with
	// EnrollToken (e.g. for a host whose state dir was cloned). It acts
	// once per Agent.
	ReEnroll bool
	// TrustRoots pins, by repository name, the fingerprint (sha256 of
	// 1.root.json) of the TUF roots the agent trusts: enrolment fails
	// unless the server delivers exactly these; an agent enrolled before
	// signed updates fetches a pinned repository's 1.root.json and keeps
	// it only with this fingerprint. See trust.go.
	TrustRoots map[string]string
	// AllowUnsigned runs plan items that name no signing repository (from
	// a server that predates signed updates) with only the plan's size and
	// sha256 check. Off by default: such items are refused. Items that name
	// a repository are always verified. It also accepts unsigned check-in
	// answers from a server that has no plan key (plansig.go); a server
	// that has one is always verified.
	AllowUnsigned bool
	// MetadataTimeout bounds the fetch of one TUF metadata file
	// (0 = trust.DefaultMetadataTimeout); MaxRootRotations bounds the root
	// versions one refresh follows (0 = trust.DefaultMaxRootRotations).
	MetadataTimeout  time.Duration
	MaxRootRotations int
	// Mode is reported to the server; "" = automatic.
	Mode patchgate.Mode
	// Products are declared by configuration; they win over detected ones
	// of the same name.
	Products []patchgate.InstalledProduct
	// DpkgAdminDir is where installed packages are detected as products;
	// "" = Installer.DpkgAdminDir if set, else var/lib/dpkg under
	// Installer.DpkgRoot or / (when it exists).
	DpkgAdminDir string
	// Installer configures the installers.
	Installer installer.Config
	// InstallTimeout bounds one installer run; 0 = installer.DefaultTimeout.
	InstallTimeout time.Duration
	// Hostname overrides os.Hostname.
	Hostname string
	// MachineIDFile identifies the machine; "" = /etc/machine-id. Without
	// one the agent keeps a random id in the state dir.
	MachineIDFile string
	// BootIDFile identifies the current boot, to notice that a pending
	// reboot happened; "" = /proc/sys/kernel/random/boot_id.
	BootIDFile string
	// RebootCommand reboots the host when the plan's reboot policy and
	// patchgate.DecideReboot say so; it runs through /bin/sh. "" = never
	// reboot: updates that need one stay reboot-pending until an operator
	// reboots. RebootTimeout bounds it (0 = DefaultRebootTimeout).
	RebootCommand string
	RebootTimeout time.Duration
	// Interval between check-ins in Run; 0 = DefaultInterval. Jitter
	// spreads check-ins by ±Jitter×Interval (0 ≤ Jitter < 1).
	Interval time.Duration
	Jitter   float64
	// LongPoll > 0 makes Run keep a long-poll check-in open between its
	// Interval check-ins: the server holds it up to LongPoll (at most
	// agentapi.MaxWait) and answers as soon as the host's plan changes, so
	// an approved hotfix arrives in seconds. 0 = poll every Interval only.
	LongPoll time.Duration
	// LongPollClient carries the held check-ins; its transport must wait
	// LongPoll+agentapi.HoldGrace for response headers. nil = Client.
	LongPollClient *http.Client
	// Version of the agent, reported in the inventory; "" = "dev".
	Version string
	// Logger gets the agent's log; nil = discard.
	Logger *slog.Logger
	// Clock stamps events and records; nil = time.Now.
	Clock func() time.Time
}

// DefaultInterval is the check-in interval when Config.Interval is 0.
const DefaultInterval = 15 * time.Minute

// Agent is the check-in loop of one host. Its methods may be called from
// several goroutines; they run one at a time.
type Agent struct {
	cfg    Config
	server string // base URL without trailing slash
	api    *agentapi.Client
	log    *slog.Logger
	now    func() time.Time

	mu         sync.Mutex
	reEnrolled bool   // Config.ReEnroll has been acted on
	seq        uint64 // last outbox sequence number
	seqLoaded  bool
	// planETag is the ETag of the last plan the server sent, carried out
	// or not: long polls hold on it. In memory only: after a restart the
	// first cycle is an ordinary check-in.
	planETag string
	// askAgain: the last plan held an item back for a reason that can
	// pass without its ETag changing (a rollout limit); Run then checks
	// in ordinarily after a long poll that changed nothing.
	askAgain bool
	// serverUnsigned: the server has no plan key (it predates signed
	// plans) and Config.AllowUnsigned accepts its unsigned plans; asked
	// again after a restart.
	serverUnsigned bool
	// planRefusals counts check-in answers refused for their signature.
	planRefusals int
	// cycleTrust verifies this cycle's plan items: it refreshes each
	// repository's signed metadata once per cycle (checkSigned).
	cycleTrust *trust.Verifier
}

// Summary says what one RunOnce did.
type Summary struct {
	// NotModified: the server said the plan did not change (nothing to do).
	NotModified bool
	// Manual: the host is patched by hand; the plan's items were logged,
	// not installed (they count as Skipped).
	Manual      bool
	Installed   int
	Uninstalled int
	Failed      int
	// Skipped counts plan items not attempted: manual plans, and an
	// update whose install was interrupted by a restart (retried next
	// cycle).
	Skipped int
	// RebootRequired: at least one change waits for a reboot.
	RebootRequired bool
	// Rebooted: the reboot command ran (successfully) at the end of the
	// cycle; RebootReason says why the agent rebooted or did not.
	Rebooted     bool
	RebootReason string
	// EventsSent counts events the server acknowledged.
	EventsSent int
	// PlanRefused: a check-in answer was refused because its signature
	// was missing or did not verify (altered, replayed, another key);
	// nothing of it was carried out.
	PlanRefused bool
}

// New checks cfg and prepares the state directory.
func New(cfg Config) (*Agent, error) {
	u, err := url.Parse(cfg.Server)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, patchgate.Invalid("server", "must be an http(s) base URL like https://patch.example.com, not %q", cfg.Server)
	}
	if cfg.Client == nil {
		return nil, patchgate.Invalid("client", "an HTTP client (with the server's pinned CA) is required")
	}
	if cfg.StateDir == "" {
		return nil, patchgate.Invalid("state_dir", "is required")
	}
	if cfg.StateDir, err = filepath.Abs(cfg.StateDir); err != nil {
		return nil, patchgate.Invalid("state_dir", "%v", err)
	}
	if cfg.Mode == "" {
		cfg.Mode = patchgate.ModeAutomatic
	}
	if !cfg.Mode.Valid() {
		return nil, patchgate.Invalid("mode", "must be automatic or manual, not %q", cfg.Mode)
	}
	for i, p := range cfg.Products {
		if !patchgate.ValidProductName(p.Name) {
			return nil, patchgate.Invalid(fmt.Sprintf("products[%d].name", i), "invalid product name %q", p.Name)
		}
		if err := patchgate.ValidVersion(p.Version); err != nil {
			return nil, patchgate.Invalid(fmt.Sprintf("products[%d].version", i), "%v", err)
		}
	}
	if len(cfg.Products) > agentapi.MaxProducts {
		return nil, patchgate.Invalid("products", "more than %d products", agentapi.MaxProducts)
	}
	if err := checkTrustRootPins(cfg.TrustRoots); err != nil {
		return nil, err
	}
	if cfg.MetadataTimeout < 0 || cfg.MaxRootRotations < 0 {
		return nil, patchgate.Invalid("metadata_timeout", "metadata timeout and root rotations must not be negative")
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Interval < 0 || cfg.Interval > 31*24*time.Hour {
		return nil, patchgate.Invalid("interval", "must be between 0 and 31 days")
	}
	if cfg.LongPoll < 0 || cfg.LongPoll > agentapi.MaxWait || (cfg.LongPoll > 0 && cfg.LongPoll < time.Second) {
		return nil, patchgate.Invalid("long_poll", "must be 0 (off) or between 1s and %s", agentapi.MaxWait)
	}
	if cfg.Jitter < 0 || cfg.Jitter >= 1 {
		return nil, patchgate.Invalid("jitter", "must be in [0, 1)")
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	server := strings.TrimRight(cfg.Server, "/")
	a := &Agent{
		cfg:    cfg,
		server: server,
		// The client refuses redirects: the agent API has none, and one
		// would only lead the credential elsewhere.
		api: &agentapi.Client{BaseURL: server, HTTP: cfg.Client, LongPollHTTP: cfg.LongPollClient, UserAgent: "patchgate-agent/" + cfg.Version},
		log: cfg.Logger,
		now: cfg.Clock,
	}
	for _, d := range []string{"", outboxDir, stagingDir} {
		p := a.path(d)
		if err := os.MkdirAll(p, 0o700); err != nil {
			return nil, fmt.Errorf("state dir: %w", err)
		}
		// It holds the credential and what gets executed: private.
		if err := os.Chmod(p, 0o700); err != nil {
			return nil, fmt.Errorf("state dir: %w", err)
		}
	}
	return a, nil
}

// Enroll makes sure this host is enrolled: with an identity in the state
// dir that was made on this machine it does nothing; without one it enrols
// with Config.EnrollToken. An identity made on another machine (a cloned
// disk or state dir) is an error until Config.ReEnroll replaces it.
func (a *Agent) Enroll(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	unlock, err := a.lockStateDir()
	if err != nil {
		return err
	}
	defer unlock()
	_, err = a.enrolled(ctx)
	return err
}

func (a *Agent) enrolled(ctx context.Context) (*identity, error) {
	id, err := a.loadIdentity()
	if err != nil {
		return nil, err
	}
	machineID, fromOS, err := a.machineID()
	if err != nil {
		return nil, err
	}
	hostname, err := a.hostname()
	if err != nil {
		return nil, err
	}
	reEnroll := a.cfg.ReEnroll && !a.reEnrolled
	if id != nil && !reEnroll {
		if err := a.sameMachine(id, machineID, fromOS, hostname); err != nil {
			return id, err
		}
		return id, a.checkPinnedRoots(ctx)
	}
	if a.cfg.EnrollToken == "" {
		return nil, patchgate.Errorf(patchgate.CodeUnauthorized, "this host is not enrolled (no %s in %s): an enrolment token is needed", identityFile, a.cfg.StateDir)
	}
	st, err := a.loadState()
	if err != nil {
		return nil, err
	}
	inv, err := a.inventory(st)
	if err != nil {
		return nil, err
	}
	er, err := a.api.Enroll(ctx, agentapi.EnrollRequest{Token: a.cfg.EnrollToken, Inventory: inv, MachineID: machineID})
	if err != nil {
		return nil, a.serverError(err, "enrolling", false)
	}
	if err := a.acceptTrustRoots(er.TrustRoots); err != nil {
		return nil, fmt.Errorf("enrolling: refusing the server's signed-update roots: %w", err)
	}
	if er.PlanKey != "" {
		if _, err := agentapi.ParsePlanKey("plan_key", er.PlanKey); err != nil {
			return nil, fmt.Errorf("enrolling: refusing the server's plan key: %w", err)
		}
	}
	newID := &identity{
		HostID:     er.HostID,
		Credential: er.Credential,
		Server:     a.server,
		MachineID:  machineID,
		Hostname:   hostname,
		EnrolledAt: a.now().UTC(),
		PlanKey:    er.PlanKey,
	}
	if id != nil {
		// Events queued under the old identity describe the machine it
		// was made on, and its plan's ETag is another host's.
		n, err := a.clearOutbox()
		if err != nil {
			return nil, err
		}
		st.LastETag, a.planETag = "", ""
		if err := a.saveState(st); err != nil {
			return nil, err
		}
		a.log.Warn("re-enrolled: replaced the previous identity", "old_host", id.HostID, "new_host", er.HostID, "discarded_events", n)
	}
	if err := a.storeTrustRoots(er.TrustRoots); err != nil {
		return nil, fmt.Errorf("enrolled as %s but cannot store the trusted roots: %w", er.HostID, err)
	}
	if err := a.saveIdentity(newID); err != nil {
		return nil, fmt.Errorf("enrolled as %s but cannot store the identity: %w", er.HostID, err)
	}
	a.reEnrolled = true
	a.log.Info("enrolled", "host", er.HostID, "groups", er.Groups, "server", a.server)
	return newID, nil
}

// sameMachine refuses an identity made on another machine or for another
// server.
func (a *Agent) sameMachine(id *identity, machineID string, fromOS bool, hostname string) error {
	howTo := "re-enrol this host with an enrolment token and the re-enrol option (patchgate agent --re-enroll), which discards the copied identity"
	if id.Server != a.server {
		return patchgate.Errorf(patchgate.CodeConflict, "state dir %s is enrolled with server %s, not %s: %s",
			a.cfg.StateDir, id.Server, a.server, howTo)
	}
	if (fromOS && id.MachineID != machineID) || (!fromOS && id.Hostname != hostname) {
		return patchgate.Errorf(patchgate.CodeConflict,
			"state dir %s looks cloned from host %s (%s, machine id %s, enrolled %s), but this machine is %s (machine id %s): "+
				"two machines must not share one identity; %s",
			a.cfg.StateDir, id.HostID, id.Hostname, id.MachineID, id.EnrolledAt.Format(time.RFC3339), hostname, machineID, howTo)
	}
	return nil
}

// inventory describes the host as it is now.
func (a *Agent) inventory(st *state) (patchgate.Inventory, error) {
	hostname, err := a.hostname()
	if err != nil {
		return patchgate.Inventory{}, err
	}
	inv := patchgate.Inventory{
		Hostname:      hostname,
		OS:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		Mode:          a.cfg.Mode,
		Products:      a.products(),
		Installed:     slices.Clone(st.Installed),
		RebootPending: slices.Clone(st.RebootPending),
		Agent:         a.cfg.Version,
		Interval:      a.cfg.Interval,
	}
	if inv.Installed == nil {
		inv.Installed = []string{}
	}
	if err := agentapi.ValidateInventory(&inv); err != nil {
		return inv, fmt.Errorf("inventory: %w", err)
	}
	return inv, nil
}

// products merges declared products with those dpkg lists.
func (a *Agent) products() []patchgate.InstalledProduct {
	products := slices.Clone(a.cfg.Products)
	dir := a.cfg.DpkgAdminDir
	explicit := dir != ""
	if dir == "" {
		dir = a.cfg.Installer.DpkgAdminDir
		explicit = dir != ""
	}
	if dir == "" {
		dir = filepath.Join(cmp.Or(a.cfg.Installer.DpkgRoot, "/"), "var/lib/dpkg")
	}
	detected, err := installer.DpkgProducts(dir)
	if err != nil && (explicit || !errors.Is(err, os.ErrNotExist)) {
		a.log.Warn("cannot detect dpkg packages", "admindir", dir, "err", err)
	}
	for _, p := range detected {
		if slices.ContainsFunc(a.cfg.Products, func(d patchgate.InstalledProduct) bool { return d.Name == p.Name }) {
			continue
		}
		if len(products) >= agentapi.MaxProducts {
			a.log.Warn("too many products: reporting only the first ones", "max", agentapi.MaxProducts, "detected", len(detected))
			break
		}
		products = append(products, p)
	}
	slices.SortFunc(products, func(x, y patchgate.InstalledProduct) int { return strings.Compare(x.Name, y.Name) })
	if products == nil {
		products = []patchgate.InstalledProduct{}
	}
	return products
}

// Run checks in every Interval (±Jitter) until ctx is cancelled; errors
// are logged and the loop goes on. With LongPoll, it keeps a long-poll
// check-in open in between: a plan change ends it with the new plan, which
// is carried out at once, and the next long poll starts right after; a
// failed long poll, or one the server did not hold, backs off. It returns
// nil when ctx is cancelled.
func (a *Agent) Run(ctx context.Context) error {
	sleep := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	backoff := holdBackoffMin
	for {
		sum, err := a.RunOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		a.logCycle(sum, err, 0)
		next := time.Now().Add(a.nextDelay())
		for a.cfg.LongPoll > 0 {
			wait := min(a.cfg.LongPoll, time.Until(next))
			if wait < time.Second {
				break
			}
			t0 := time.Now()
			sum, err := a.runOnce(ctx, wait)
			if ctx.Err() != nil {
				return nil
			}
			a.logCycle(sum, err, wait)
			if err != nil || (sum.NotModified && time.Since(t0) < wait/2) {
				if !sleep(min(backoff, max(time.Until(next), 0))) {
					return nil
				}
				backoff = min(2*backoff, holdBackoffMax)
				continue
			}
			backoff = holdBackoffMin
			if sum.NotModified && a.askAgain {
				// Ask for a fresh decision, at most once per long poll.
				break
			}
		}
		if a.cfg.LongPoll > 0 && a.askAgain && time.Until(next) >= time.Second {
			continue
		}
		if !sleep(max(time.Until(next), 0)) {
			return nil
		}
	}
}

// Backoff after a failed long poll, or one that came back "not modified"
// long before its wait was over (a server that does not hold check-ins).
const (
	holdBackoffMin = time.Second
	holdBackoffMax = 5 * time.Minute
)

func (a *Agent) logCycle(sum Summary, err error, wait time.Duration) {
	if err != nil {
		a.log.Error("check-in cycle failed", "err", err, "installed", sum.Installed, "failed", sum.Failed, "long_poll", wait)
		return
	}
	a.log.Debug("check-in cycle done", "not_modified", sum.NotModified, "installed", sum.Installed,
		"uninstalled", sum.Uninstalled, "skipped", sum.Skipped, "long_poll", wait)
}

func (a *Agent) nextDelay() time.Duration {
	f := 1 + a.cfg.Jitter*(2*rand.Float64()-1)
	return time.Duration(float64(a.cfg.Interval) * f)
}
