// Package notify tells people what happened: it is the outbox dispatcher
// that turns events of the activity log into deliveries for matching
// subscriptions, and sends them as email over SMTP with retries,
// exponential backoff and dead letters.
//
// Delivery is durable in two steps. Turning events into deliveries stores
// the deliveries and the advanced event cursor in one transaction, so each
// event is considered exactly once. Sending claims a delivery (counting an
// attempt and leasing it until its next attempt time) before the SMTP
// conversation and records the outcome after; a crash in between resends
// the same mail, with the same Message-ID (derived from the delivery ID),
// once the lease ends — at least once, and recognisably so.
//
// It imports the domain package and go-mail; never a concrete store,
// server or cmd/.
package notify

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/patchgate/patchgate"
)

// Store is what the dispatcher needs of a patchgate.Store.
type Store interface {
	patchgate.NotifyStore
	ListEvents(ctx context.Context, f patchgate.EventFilter) ([]patchgate.Event, error)
	GetUpdate(ctx context.Context, id string) (patchgate.Update, error)
	// ReleaseState tells whether an update is posted: only posted fixes
	// are news to subscribers.
	ReleaseState(ctx context.Context, id string) (patchgate.ReleaseState, error)
}

// Config is what a Dispatcher is made of; cmd/ fills it.
type Config struct {
	Store Store
	SMTP  SMTPConfig
	// ServerName names this server in every mail (e.g. its host name).
	ServerName string
	// PublicURL is the base URL people reach this server at, for the
	// unsubscribe link ("" = no link).
	PublicURL string
	// Secret signs unsubscribe tokens.
	Secret []byte
	Logger *slog.Logger
	Clock  func() time.Time

	// PollInterval is how often Run looks for work (default 5s).
	PollInterval time.Duration
	// BatchDelay holds an immediate delivery open this long so that
	// events close together go out in one mail (default 1m).
	BatchDelay time.Duration
	// BaseBackoff is the wait after the first failed attempt; it doubles
	// each attempt up to MaxBackoff (defaults 1m and 6h).
	BaseBackoff, MaxBackoff time.Duration
	// Lease is how long a claimed delivery is held before it is due again
	// if its outcome is never recorded (default 5m).
	Lease time.Duration
	// MaxAttempts before a delivery becomes a dead letter (default 10).
	MaxAttempts int
	// DigestHour is the hour (0-23, in DigestLocation) daily and weekly
	// digests go out; weekly ones on DigestWeekday. Defaults 7, UTC,
	// Monday.
	DigestHour     int
	DigestLocation *time.Location
	DigestWeekday  time.Weekday
	// QuietStart and QuietEnd (hours 0-23 in DigestLocation) hold
	// immediate mail back overnight: mail due in [QuietStart, QuietEnd)
	// goes out at QuietEnd, together. Equal hours: no quiet hours.
	// Webhooks are machines and are never held.
	QuietStart, QuietEnd int
	// Retention of sent deliveries (default 30 days).
	Retention time.Duration
	// HTTPClient posts webhooks (default: 30s timeout, no redirects).
	HTTPClient *http.Client
	// StatusReport computes the periodic status report when its mail is
	// rendered (the server's compliance, overdue updates, failures and
	// history); nil: report mails fail until it is set.
	StatusReport func(ctx context.Context) (patchgate.StatusReport, error)
}

// Limits of one round.
const (
	eventPage      = 1000
	maxEventPages  = 20
	claimBatch     = 100
	maxClaimRounds = 20
)

// Dispatcher runs the outbox.
type Dispatcher struct {
	cfg    Config
	store  Store
	mail   mailer
	log    *slog.Logger
	now    func() time.Time
	domain string

	// afterSend, if set (tests), runs after a mail was accepted and
	// before the outcome is recorded.
	afterSend func(d patchgate.Delivery)
}

// New returns a dispatcher for cfg.
func New(cfg Config) *Dispatcher {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.PollInterval, 5*time.Second)
	def(&cfg.BaseBackoff, time.Minute)
	def(&cfg.MaxBackoff, 6*time.Hour)
	def(&cfg.Lease, 5*time.Minute)
	def(&cfg.Retention, 30*24*time.Hour)
	def(&cfg.SMTP.Timeout, 30*time.Second)
	if cfg.BatchDelay < 0 {
		cfg.BatchDelay = 0
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.DigestLocation == nil {
		cfg.DigestLocation = time.UTC
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{
			Timeout:       30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = "patchgate"
	}
	return &Dispatcher{
		cfg: cfg, store: cfg.Store, mail: mailer{cfg.SMTP}, log: cfg.Logger, now: cfg.Clock,
		domain: messageDomain(cfg.SMTP.From),
	}
}

// Run dispatches until ctx ends. Errors of a round are logged and the
// round is tried again at the next tick: the outbox keeps its state.
func (d *Dispatcher) Run(ctx context.Context) {
	t := time.NewTicker(d.cfg.PollInterval)
	defer t.Stop()
	lastPrune := time.Time{}
	for {
		if err := d.Round(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("notify: dispatch round failed", "err", err)
		}
		if now := d.now(); now.Sub(lastPrune) > time.Hour {
			lastPrune = now
			if _, err := d.store.PruneDeliveries(ctx, now.Add(-d.cfg.Retention)); err != nil && ctx.Err() == nil {
				d.log.Error("notify: prune deliveries", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Round turns new events into deliveries and sends the deliveries that
// are due.
func (d *Dispatcher) Round(ctx context.Context) error {
	if err := d.Enqueue(ctx); err != nil {
		return err
	}
	_, err := d.SendDue(ctx)
	return err
}

// Enqueue turns the events after the cursor into deliveries.
func (d *Dispatcher) Enqueue(ctx context.Context) error {
	for range maxEventPages {
		more, err := d.enqueuePage(ctx)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func (d *Dispatcher) enqueuePage(ctx context.Context) (more bool, err error) {
	cur, err := d.store.NotifyCursor(ctx)
	if err != nil {
		return false, err
	}
	evs, err := d.store.ListEvents(ctx, patchgate.EventFilter{AfterSeq: cur, Limit: eventPage})
	if err != nil || len(evs) == 0 {
		return false, err
	}
	subs, err := d.store.ListSubscriptions(ctx)
	if err != nil {
		return false, err
	}
	now := d.now()
	drafts := map[[2]string]*patchgate.DeliveryDraft{}
	var order [][2]string
	draft := func(key [2]string, mk func() patchgate.DeliveryDraft, ev patchgate.Event) {
		dr, ok := drafts[key]
		if !ok {
			v := mk()
			dr = &v
			drafts[key] = dr
			order = append(order, key)
		}
		dr.Events = append(dr.Events, ev)
	}
	addStream := func(s patchgate.Subscription, ev patchgate.Event, stream string) {
		if ev.Time.Before(s.CreatedAt) {
			return // it happened before the subscription: not news to it
		}
		draft([2]string{s.ID, stream}, func() patchgate.DeliveryDraft {
			dr := patchgate.DeliveryDraft{
				ID: newID(), SubscriptionID: s.ID, Channel: s.Channel, Address: s.Address, Mode: s.Mode, Stream: stream,
				DueAt: d.dueAt(s, now), CreatedAt: now,
			}
			switch stream {
			case patchgate.StreamAlert:
				dr.DueAt = now // alerts ask someone to act: never held
			case patchgate.StreamReport:
				// One report, one mail: the same ID if it is enqueued again.
				dr.ID, dr.DueAt = stableID(ev.ID, s.ID), now
			}
			return dr
		}, ev)
	}
	add := func(s patchgate.Subscription, ev patchgate.Event) { addStream(s, ev, patchgate.StreamFixes) }
	updates := map[string]*patchgate.Update{}
	if len(subs) > 0 {
		for _, ev := range evs {
			switch {
			case ev.Type == patchgate.EventUpdateRevised || ev.Type == patchgate.EventUpdatePosted || ev.Type == patchgate.EventUpdateSynced:
				// A fix is news when it is posted (update.posted: "added",
				// or "revised" for a later revision) and when a posted fix
				// is revised in words only (update.revised while it stays
				// posted). An added or revised fix that is not posted is
				// not news yet: its update.posted will be.
				u, ok := updates[ev.UpdateID]
				if !ok {
					got, err := d.store.GetUpdate(ctx, ev.UpdateID)
					switch {
					case patchgate.IsNotFound(err):
					case err != nil:
						return false, err
					default:
						u = &got
					}
					if u != nil {
						st, err := d.store.ReleaseState(ctx, ev.UpdateID)
						switch {
						case patchgate.IsNotFound(err):
							u = nil
						case err != nil:
							return false, err
						case !st.Status.Released():
							u = nil
						}
					}
					updates[ev.UpdateID] = u
				}
				if u == nil {
					continue
				}
				name := ev.Type
				if ev.Type == patchgate.EventUpdateSynced {
					// New on this server from its upstream: news as a post is.
					name = patchgate.NotifyUpdateAdded
				}
				if ev.Type == patchgate.EventUpdatePosted {
					name = patchgate.NotifyUpdateAdded
					if u.Revision > 1 {
						name = patchgate.NotifyUpdateRevised
					}
				}
				for _, s := range subs {
					if s.Wants(name) && s.MatchesUpdate(*u) {
						add(s, ev)
					}
				}
			case ev.Type == patchgate.EventDeployment && ev.State == patchgate.StateFailed:
				for _, s := range subs {
					if s.Wants(patchgate.NotifyDeploymentFailed) {
						add(s, ev)
					}
				}
			case patchgate.IsAlert(ev.Type):
				if ev.Type == patchgate.AlertAdvisoryImported || ev.Type == patchgate.AlertAdvisoryUpdated {
					if _, ok := patchgate.AdvisoryAlerts(ev); !ok {
						continue // no host exposed: not an alert
					}
				}
				for _, s := range subs {
					if s.Wants(ev.Type) {
						addStream(s, ev, patchgate.StreamAlert)
					}
				}
			case ev.Type == patchgate.EventStatusReport:
				for _, s := range subs {
					if s.Channel == patchgate.ChannelEmail && s.Wants(ev.Type) {
						addStream(s, ev, patchgate.StreamReport)
					}
				}
			}
		}
	}
	// Manual action mail goes to host owners, with or without
	// subscriptions.
	for _, ev := range evs {
		if ev.Type != patchgate.EventManualAction {
			continue
		}
		var n patchgate.ManualNotice
		if err := json.Unmarshal([]byte(ev.Detail), &n); err != nil {
			d.log.Warn("notify: unreadable manual action notice", "event", ev.ID, "err", err)
			continue
		}
		for _, addr := range n.Owners {
			if patchgate.ValidAddress("owner", addr) != nil {
				continue
			}
			sid := patchgate.OwnerSubscriptionID(addr)
			draft([2]string{sid, patchgate.StreamManual}, func() patchgate.DeliveryDraft {
				return patchgate.DeliveryDraft{
					ID: stableID(ev.ID+"\x00"+ev.HostID, sid), SubscriptionID: sid, Channel: patchgate.ChannelEmail, Address: addr,
					Mode: patchgate.ModeImmediate, Stream: patchgate.StreamManual, CreatedAt: now,
					DueAt: AfterQuietHours(now.Add(d.cfg.BatchDelay), d.cfg.QuietStart, d.cfg.QuietEnd, d.cfg.DigestLocation),
				}
			}, ev)
		}
	}
	list := make([]patchgate.DeliveryDraft, 0, len(order))
	for _, k := range order {
		list = append(list, *drafts[k])
	}
	err = d.store.EnqueueDeliveries(ctx, cur, evs[len(evs)-1].Seq, list)
	if patchgate.ErrorCode(err) == patchgate.CodeConflict {
		return true, nil // another dispatcher moved the cursor: read again
	}
	if err != nil {
		return false, err
	}
	return len(evs) == eventPage, nil
}

// dueAt is when a new delivery of s goes out.
func (d *Dispatcher) dueAt(s patchgate.Subscription, now time.Time) time.Time {
	switch s.Mode {
	case patchgate.ModeDaily, patchgate.ModeWeekly:
		return NextDigest(s.Mode, now, d.cfg.DigestHour, d.cfg.DigestWeekday, d.location(s))
	}
	due := now.Add(d.cfg.BatchDelay)
	if s.Channel == patchgate.ChannelWebhook {
		return due
	}
	return AfterQuietHours(due, d.cfg.QuietStart, d.cfg.QuietEnd, d.cfg.DigestLocation)
}

// location is the time zone of s's digests: its own, else the server's.
func (d *Dispatcher) location(s patchgate.Subscription) *time.Location {
	if s.TimeZone != "" {
		if loc, err := time.LoadLocation(s.TimeZone); err == nil {
			return loc
		}
	}
	return d.cfg.DigestLocation
}

// stableID derives a delivery ID from what the delivery is (an event and
// its recipient), so that the same mail keeps the same Message-ID however
// often it is enqueued.
func stableID(eventID, recipient string) string {
	h := sha256.Sum256([]byte(eventID + "\x00" + recipient))
	return "d" + hex.EncodeToString(h[:10])
}

// AfterQuietHours returns t, or the end of the quiet hours [start, end)
// (in loc, possibly across midnight) if t falls within them.
func AfterQuietHours(t time.Time, start, end int, loc *time.Location) time.Time {
	if start == end {
		return t
	}
	l := t.In(loc)
	h := l.Hour()
	quiet := (start < end && h >= start && h < end) || (start > end && (h >= start || h < end))
	if !quiet {
		return t
	}
	day := l.Day()
	if start > end && h >= start {
		day++ // the quiet hours end tomorrow morning
	}
	return time.Date(l.Year(), l.Month(), day, end, 0, 0, 0, loc)
}

// NextDigest is the first digest time of mode strictly after now: daily at
// hour, weekly at hour on weekday, in loc.
func NextDigest(mode patchgate.SubscriptionMode, now time.Time, hour int, weekday time.Weekday, loc *time.Location) time.Time {
	l := now.In(loc)
	t := time.Date(l.Year(), l.Month(), l.Day(), hour, 0, 0, 0, loc)
	for i := 0; i < 8 && (!t.After(now) || (mode == patchgate.ModeWeekly && t.Weekday() != weekday)); i++ {
		t = time.Date(t.Year(), t.Month(), t.Day()+1, hour, 0, 0, 0, loc)
	}
	return t
}

func (d *Dispatcher) backoff(attempts int) time.Duration {
	b := d.cfg.BaseBackoff
	for i := 1; i < attempts && b < d.cfg.MaxBackoff; i++ {
		b *= 2
	}
	return min(b, d.cfg.MaxBackoff)
}

// SendDue sends the deliveries that are due and returns how many went out.
func (d *Dispatcher) SendDue(ctx context.Context) (int, error) {
	sent := 0
	for range maxClaimRounds {
		now := d.now()
		ds, err := d.store.ClaimDeliveries(ctx, now, claimBatch, func(int) time.Time { return now.Add(d.cfg.Lease) })
		if err != nil {
			return sent, err
		}
		for _, dl := range ds {
			ok, err := d.deliver(ctx, dl)
			if err != nil {
				return sent, err
			}
			if ok {
				sent++
			}
		}
		if len(ds) < claimBatch {
			break
		}
	}
	return sent, nil
}

// deliver sends one claimed delivery and records the outcome; the error
// is the store's, a failed send is recorded and not returned.
func (d *Dispatcher) deliver(ctx context.Context, dl patchgate.Delivery) (bool, error) {
	var err error
	if dl.Channel == patchgate.ChannelWebhook {
		err = d.postWebhook(ctx, dl)
	} else {
		var msg message
		msg, err = d.render(ctx, dl)
		if err == nil {
			err = d.mail.send(ctx, msg)
		}
	}
	if ctx.Err() != nil {
		return false, ctx.Err() // shutting down: the lease brings it back
	}
	now := d.now()
	if err == nil {
		if d.afterSend != nil {
			d.afterSend(dl)
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
		}
		return true, ignoreNotFound(d.store.CompleteDelivery(ctx, dl.ID, now))
	}
	retry := now.Add(d.backoff(dl.Attempts))
	if IsPermanent(err) || dl.Attempts >= d.cfg.MaxAttempts {
		retry = time.Time{}
		d.log.Warn("notify: delivery failed for good", "delivery", dl.ID, "to", dl.Address, "attempts", dl.Attempts, "err", err)
	} else {
		d.log.Info("notify: delivery failed, will retry", "delivery", dl.ID, "to", dl.Address, "attempts", dl.Attempts, "retry_at", retry, "err", err)
	}
	return false, ignoreNotFound(d.store.FailDelivery(ctx, dl.ID, err.Error(), retry))
}

// ignoreNotFound drops the not_found of a delivery whose subscription was
// removed while it was being sent.
func ignoreNotFound(err error) error {
	if patchgate.IsNotFound(err) {
		return nil
	}
	return err
}

// SendTest sends a test mail to addr now, outside the outbox, and describes
// the outcome.
func (d *Dispatcher) SendTest(ctx context.Context, addr string) (string, error) {
	if err := patchgate.ValidAddress("address", addr); err != nil {
		return "", err
	}
	now := d.now()
	msg := message{
		ID:       "test-" + newID() + "@" + d.domain,
		To:       addr,
		Subject:  fmt.Sprintf("[%s] patchgate test mail", d.cfg.ServerName),
		Date:     now,
		ServerID: d.cfg.ServerName,
	}
	msg.Text = fmt.Sprintf("This is a test mail from the patchgate server %s, sent at %s.\nMail delivery works.\n",
		d.cfg.ServerName, now.UTC().Format(time.RFC1123))
	msg.HTML = fmt.Sprintf("<!DOCTYPE html><html><body><p>This is a test mail from the patchgate server <b>%s</b>, sent at %s.</p><p>Mail delivery works.</p></body></html>",
		htmlEscape(d.cfg.ServerName), now.UTC().Format(time.RFC1123))
	sctx, cancel := context.WithTimeout(ctx, d.cfg.SMTP.Timeout+5*time.Second)
	defer cancel()
	if err := d.mail.send(sctx, msg); err != nil {
		return "", patchgate.Errorf(patchgate.CodeInvalid, "SMTP %s:%d refused or failed: %v", d.cfg.SMTP.Host, d.cfg.SMTP.Port, err)
	}
	return fmt.Sprintf("accepted by %s:%d (tls %s) for %s, Message-ID <%s>", d.cfg.SMTP.Host, d.cfg.SMTP.Port, d.cfg.SMTP.TLS, addr, msg.ID), nil
}

func newID() string { return "d" + strings.ToLower(rand.Text()[:20]) }
