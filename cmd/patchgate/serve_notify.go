//go:build !agentonly

package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/notify"
	"github.com/patchgate/patchgate/server"
	"github.com/patchgate/patchgate/sqlite"
)

// notifyOptions are the mail flags of serve.
type notifyOptions struct {
	SMTPHost         string
	SMTPPort         int
	SMTPTLS          string
	SMTPUser         string
	SMTPPasswordFile string
	SMTPCAFile       string
	MailFrom         string
	PublicURL        string
	ServerName       string
	DigestHour       int
	QuietHours       string
	Poll             time.Duration
	BatchDelay       time.Duration
	Backoff          time.Duration
	// Alerts and the status report.
	StatusReport       string
	AlertFailures      int
	AlertFailurePeriod time.Duration
	JobsInterval       time.Duration
	// TimeZone is serve's --timezone: digests, quiet hours and the status
	// report are in it.
	TimeZone string
}

func addNotifyFlags(f *pflag.FlagSet, o *notifyOptions) {
	f.StringVar(&o.SMTPHost, "smtp-host", "", "SMTP relay for notification mail; empty = no mail")
	f.IntVar(&o.SMTPPort, "smtp-port", 587, "SMTP relay port")
	f.StringVar(&o.SMTPTLS, "smtp-tls", notify.TLSStartTLS, "SMTP transport security: none, starttls (required) or implicit (SMTPS)")
	f.StringVar(&o.SMTPUser, "smtp-user", "", "SMTP user name; empty = no authentication")
	f.StringVar(&o.SMTPPasswordFile, "smtp-password-file", "", "file holding the SMTP password")
	f.StringVar(&o.SMTPCAFile, "smtp-ca-file", "", "PEM file of the CA that signed the SMTP relay's certificate (default: system roots)")
	f.StringVar(&o.MailFrom, "mail-from", "", "sender address of notification mail")
	f.StringVar(&o.PublicURL, "public-url", "", "base URL people reach this server at, for unsubscribe links (default: the listen URL)")
	f.StringVar(&o.ServerName, "server-name", "", "name of this server in mails and the feed (default: the host name)")
	f.IntVar(&o.DigestHour, "digest-hour", 7, "hour of the day (in --timezone, or the subscription's own) daily and weekly (Monday) digests go out")
	f.StringVar(&o.QuietHours, "quiet-hours", "", "hours (in --timezone) immediate mail is held back and then sent together, e.g. 22-06; webhooks and alerts are not held")
	f.StringVar(&o.StatusReport, "status-report", "", "when to mail the status report to subscriptions with --status-report, in --timezone: daily@HH:MM, weekly@HH:MM (Monday) or weekly@DAY@HH:MM; empty = never")
	f.IntVar(&o.AlertFailures, "alert-failures", 5, "alert when this many hosts fail to install one update within --alert-failure-period; 0 = never")
	f.DurationVar(&o.AlertFailurePeriod, "alert-failure-period", time.Hour, "the period of --alert-failures")
	f.DurationVar(&o.JobsInterval, "alert-interval", time.Minute, "how often alerts, manual action mail and the status report schedule are checked")
	f.DurationVar(&o.Poll, "notify-poll", 5*time.Second, "how often the mail dispatcher looks for new events and due mail")
	f.DurationVar(&o.BatchDelay, "notify-batch-delay", time.Minute, "how long an immediate mail waits for more events to go with it")
	f.DurationVar(&o.Backoff, "notify-backoff", time.Minute, "wait after a failed delivery before the next attempt; it doubles per attempt up to 6h")
}

// notifySetup holds what serve needs for notifications.
type notifySetup struct {
	server     server.NotifyConfig
	jobs       server.NotifyJobsConfig
	cfg        notify.Config
	dispatcher *notify.Dispatcher
}

// setupNotify checks the mail flags and loads (or creates) the secret that
// signs unsubscribe links, kept in the data directory.
func setupNotify(o notifyOptions, data string, db *sqlite.DB, log *slog.Logger) (*notifySetup, error) {
	secret, err := loadOrCreateSecret(filepath.Join(data, "notify.key"))
	if err != nil {
		return nil, fmt.Errorf("notification secret: %w", err)
	}
	name := o.ServerName
	if name == "" {
		name, _ = os.Hostname()
	}
	ns := &notifySetup{server: server.NotifyConfig{Secret: secret, ServerName: name}}
	if o.DigestHour < 0 || o.DigestHour > 23 {
		return nil, errors.New("--digest-hour: must be between 0 and 23")
	}
	if o.Poll < 10*time.Millisecond || o.BatchDelay < 0 {
		return nil, errors.New("--notify-poll must be at least 10ms and --notify-batch-delay not negative")
	}
	if o.Backoff == 0 {
		o.Backoff = time.Minute
	}
	if o.Backoff < 100*time.Millisecond {
		return nil, errors.New("--notify-backoff: must be at least 100ms")
	}
	var quietStart, quietEnd int
	if o.QuietHours != "" {
		a, b, ok := strings.Cut(o.QuietHours, "-")
		var err1, err2 error
		quietStart, err1 = strconv.Atoi(a)
		quietEnd, err2 = strconv.Atoi(b)
		if !ok || err1 != nil || err2 != nil || quietStart < 0 || quietStart > 23 || quietEnd < 0 || quietEnd > 23 {
			return nil, fmt.Errorf("--quiet-hours: %q is not START-END in whole hours, like 22-06", o.QuietHours)
		}
	}
	loc := time.UTC
	if o.TimeZone != "" {
		if loc, err = time.LoadLocation(o.TimeZone); err != nil {
			return nil, fmt.Errorf("--timezone: %v", err)
		}
	}
	if o.AlertFailures < 0 || (o.AlertFailures > 0 && o.AlertFailurePeriod < time.Minute) {
		return nil, errors.New("--alert-failures may not be negative and --alert-failure-period must be at least 1m")
	}
	if o.JobsInterval != 0 && o.JobsInterval < 10*time.Millisecond {
		return nil, errors.New("--alert-interval must be at least 10ms")
	}
	ns.jobs = server.NotifyJobsConfig{FailureThreshold: o.AlertFailures, FailurePeriod: o.AlertFailurePeriod, Location: loc, Interval: o.JobsInterval}
	if o.StatusReport != "" {
		r, err := patchgate.ParseReportSchedule("--status-report", o.StatusReport)
		if err != nil {
			return nil, err
		}
		ns.jobs.Report = &r
	}
	// The dispatcher runs without SMTP too: webhooks need none, and mail
	// waits in the outbox (retrying) until a relay is configured.
	ns.cfg = notify.Config{Store: db, ServerName: name, PublicURL: o.PublicURL, Secret: secret,
		Logger: log, DigestHour: o.DigestHour, DigestWeekday: time.Monday, DigestLocation: loc, PollInterval: o.Poll, BatchDelay: o.BatchDelay,
		BaseBackoff: o.Backoff, MaxBackoff: max(o.Backoff, 6*time.Hour),
		QuietStart: quietStart, QuietEnd: quietEnd}
	if o.SMTPHost == "" {
		if o.MailFrom != "" || o.SMTPUser != "" || o.SMTPPasswordFile != "" {
			return nil, errors.New("--smtp-host is required with the other --smtp-* and --mail-from flags")
		}
		return ns, nil
	}
	smtp := notify.SMTPConfig{Host: o.SMTPHost, Port: o.SMTPPort, TLS: o.SMTPTLS, User: o.SMTPUser, From: o.MailFrom}
	if o.SMTPPasswordFile != "" {
		pw, err := os.ReadFile(o.SMTPPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("--smtp-password-file: %v", err)
		}
		smtp.Password = strings.TrimRight(string(pw), "\r\n")
	}
	if o.SMTPCAFile != "" {
		pem, err := os.ReadFile(o.SMTPCAFile)
		if err != nil {
			return nil, fmt.Errorf("--smtp-ca-file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--smtp-ca-file: %s holds no PEM certificate", o.SMTPCAFile)
		}
		smtp.TLSConfig = &tls.Config{RootCAs: pool, ServerName: o.SMTPHost, MinVersion: tls.VersionTLS12}
	}
	if err := smtp.Validate(); err != nil {
		return nil, err
	}
	ns.cfg.SMTP = smtp
	ns.server.SendTest = func(ctx context.Context, addr string) (string, error) {
		if ns.dispatcher == nil {
			return "", errors.New("notification dispatcher not started yet")
		}
		return ns.dispatcher.SendTest(ctx, addr)
	}
	return ns, nil
}

// start runs the dispatcher until ctx ends; the returned channel closes
// when it has stopped. url is the listen URL, the default public URL.
func (ns *notifySetup) start(ctx context.Context, url string) <-chan struct{} {
	done := make(chan struct{})
	if ns.cfg.PublicURL == "" {
		ns.cfg.PublicURL = url
	}
	ns.dispatcher = notify.New(ns.cfg)
	go func() {
		defer close(done)
		ns.dispatcher.Run(ctx)
	}()
	return done
}

// loadOrCreateSecret reads a 32-byte secret from path, creating it (0600)
// on first start.
func loadOrCreateSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) < 32 {
			return nil, fmt.Errorf("%s is shorter than 32 bytes", path)
		}
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	return b, nil
}
