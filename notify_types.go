package patchgate

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
)

// SubscriptionMode says when a subscriber is told: as soon as the
// dispatcher runs (immediate, batched per round), or once a day or week in a
// digest.
type SubscriptionMode string

const (
	ModeImmediate SubscriptionMode = "immediate"
	ModeDaily     SubscriptionMode = "daily"
	ModeWeekly    SubscriptionMode = "weekly"
)

// Valid reports whether m is a known subscription mode.
func (m SubscriptionMode) Valid() bool {
	return m == ModeImmediate || m == ModeDaily || m == ModeWeekly
}

// Channel is how a subscription is told: by mail or by webhook.
type Channel string

const (
	ChannelEmail   Channel = "email"
	ChannelWebhook Channel = "webhook"
)

// Notification event names a subscription may choose with Events. Only
// posted fixes are news (see UpdateStatus): NotifyUpdateAdded is sent when
// an update is first posted, NotifyUpdateRevised when a posted update is
// revised in words or a later revision of it is posted.
const (
	NotifyUpdateAdded      = EventUpdateAdded
	NotifyUpdateRevised    = EventUpdateRevised
	NotifyDeploymentFailed = "deployment.failed"
)

// NotifyEvents lists the names Subscription.Events may hold.
// Admin alerts (AlertEvents) and the status report (EventStatusReport)
// may be named too.
var NotifyEvents = append([]string{NotifyUpdateAdded, NotifyUpdateRevised, NotifyDeploymentFailed, EventStatusReport}, AlertEvents...)

// Subscription is who gets told what: an address (or, for a webhook, a
// URL) and filters on the updates it hears of. Alerts adds failed installs
// and admin alerts (AlertEvents); Reports the periodic status report.
type Subscription struct {
	ID      string  `json:"id"`
	Channel Channel `json:"channel"`
	Address string  `json:"address"`
	// Events, if set, names what is sent (NotifyEvents) instead of "new
	// and revised fixes, and failed installs with Alerts".
	Events      []string         `json:"events,omitempty"`
	Products    []string         `json:"products,omitempty"` // empty = every product
	MinSeverity Severity         `json:"min_severity,omitempty"`
	Kinds       []Kind           `json:"kinds,omitempty"` // empty = every kind
	Mode        SubscriptionMode `json:"mode"`
	Alerts      bool             `json:"alerts,omitempty"`
	// Reports asks for the periodic status report.
	Reports bool `json:"reports,omitempty"`
	// TimeZone (IANA name) daily and weekly digests are computed in; ""
	// = the server's.
	TimeZone  string    `json:"time_zone,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by,omitempty"`
}

// Limits of a subscription.
const (
	MaxAddressLen       = 254
	MaxSubscriptionList = 32
)

// ValidAddress checks a mail address: a bare addr-spec (no display name),
// as net/mail parses it.
func ValidAddress(field, s string) error {
	if s == "" {
		return Invalid(field, "is required")
	}
	if len(s) > MaxAddressLen {
		return Invalid(field, "longer than %d bytes", MaxAddressLen)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return Invalid(field, "%q is not a mail address like ops@example.com", s)
	}
	return nil
}

// ValidWebhookURL checks a webhook target: an absolute http or https URL.
func ValidWebhookURL(field, s string) error {
	if len(s) > 2048 {
		return Invalid(field, "longer than 2048 bytes")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return Invalid(field, "%q is not an http:// or https:// URL", s)
	}
	return nil
}

// Validate checks a subscription as a client sent it.
func (s Subscription) Validate() error {
	switch s.Channel {
	case ChannelEmail:
		if err := ValidAddress("address", s.Address); err != nil {
			return err
		}
	case ChannelWebhook:
		if err := ValidWebhookURL("address", s.Address); err != nil {
			return err
		}
		if s.Mode != ModeImmediate {
			return Invalid("mode", "webhooks are immediate")
		}
	default:
		return Invalid("channel", "must be email or webhook, not %q", s.Channel)
	}
	if !s.Mode.Valid() {
		return Invalid("mode", "must be immediate, daily or weekly, not %q", s.Mode)
	}
	for _, e := range s.Events {
		if !slices.Contains(NotifyEvents, e) {
			return Invalid("events", "%q is not one of %v", e, NotifyEvents)
		}
	}
	if s.TimeZone != "" {
		if len(s.TimeZone) > 64 {
			return Invalid("time_zone", "longer than 64 bytes")
		}
		if _, err := time.LoadLocation(s.TimeZone); err != nil {
			return Invalid("time_zone", "%q is not a known IANA time zone like Europe/Paris", s.TimeZone)
		}
	}
	if s.MinSeverity != "" && !s.MinSeverity.Valid() {
		return Invalid("min_severity", "must be one of %v", Severities)
	}
	if len(s.Products) > MaxSubscriptionList || len(s.Kinds) > MaxSubscriptionList {
		return Invalid("products", "at most %d products and kinds", MaxSubscriptionList)
	}
	for _, p := range s.Products {
		if p == "" || len(p) > 128 || strings.ContainsAny(p, " \t\r\n") {
			return Invalid("products", "%q is not a product name", p)
		}
	}
	for _, k := range s.Kinds {
		if !k.Valid() {
			return Invalid("kinds", "%q is not one of %v", k, Kinds)
		}
	}
	return nil
}

// Wants reports whether the subscription is told of events named name
// (one of NotifyEvents), before the update filters apply.
func (s Subscription) Wants(name string) bool {
	if len(s.Events) > 0 {
		return slices.Contains(s.Events, name)
	}
	if name == NotifyDeploymentFailed || IsAlert(name) {
		return s.Alerts
	}
	if name == EventStatusReport {
		return s.Reports
	}
	return true
}

// MatchesUpdate reports whether u passes the subscription's filters.
func (s Subscription) MatchesUpdate(u Update) bool {
	if s.MinSeverity != "" && u.Severity.Rank() < s.MinSeverity.Rank() {
		return false
	}
	if len(s.Kinds) > 0 && !slices.Contains(s.Kinds, u.Kind) {
		return false
	}
	if len(s.Products) > 0 && !slices.ContainsFunc(u.Products, func(p ProductConstraint) bool {
		return slices.Contains(s.Products, p.Name)
	}) {
		return false
	}
	return true
}

// DeliveryStatus is where a delivery is in the outbox.
type DeliveryStatus string

const (
	DeliveryPending DeliveryStatus = "pending"
	DeliverySent    DeliveryStatus = "sent"
	DeliveryDead    DeliveryStatus = "dead" // permanent failure: retry by hand
)

// Delivery is one mail to one subscription: the events it tells of. Until
// its first attempt it is open and later events for the same subscription
// join it (that is the batching: 500 new updates, one mail); from the first
// attempt on it is sealed, so that a resend carries the same content under
// the same Message-ID.
type Delivery struct {
	ID             string           `json:"id"`
	SubscriptionID string           `json:"subscription_id"`
	Channel        Channel          `json:"channel"`
	Address        string           `json:"address"`
	Mode           SubscriptionMode `json:"mode"`
	Stream         string           `json:"stream,omitempty"` // StreamFixes, StreamAlert, ...
	Events         []Event          `json:"events"`
	Status         DeliveryStatus   `json:"status"`
	Attempts       int              `json:"attempts"`
	NextAttemptAt  time.Time        `json:"next_attempt_at,omitzero"`
	LastError      string           `json:"last_error,omitempty"`
	CreatedAt      time.Time        `json:"created_at"`
	SentAt         time.Time        `json:"sent_at,omitzero"`
}

// DeliveryDraft is what the dispatcher turns events into: events for a
// subscription, due at DueAt. The store appends them to the subscription's
// open delivery, or opens one with ID.
type DeliveryDraft struct {
	ID             string
	SubscriptionID string
	Channel        Channel
	Address        string
	Mode           SubscriptionMode
	// Stream keeps mails apart: a draft joins only an open delivery of
	// the same subscription and stream. StreamManual drafts have no
	// subscription (OwnerSubscriptionID).
	Stream    string
	Events    []Event
	DueAt     time.Time
	CreatedAt time.Time
}

// Event types of notifications.
const (
	EventSubscriptionAdded   = "subscription.added"
	EventSubscriptionRemoved = "subscription.removed"
	EventDeliveryRetried     = "notify.retried"
	EventDigestsFlushed      = "notify.digests_flushed"
)

// NotifyStore holds subscriptions and the outbox of deliveries.
type NotifyStore interface {
	CreateSubscription(ctx context.Context, s Subscription, ev Event) error
	ListSubscriptions(ctx context.Context) ([]Subscription, error)
	GetSubscription(ctx context.Context, id string) (Subscription, error)
	// DeleteSubscription removes a subscription and its pending
	// deliveries; not_found if there is none.
	DeleteSubscription(ctx context.Context, id string, ev Event) error

	// NotifyCursor returns the seq of the last event turned into
	// deliveries (0 at first).
	NotifyCursor(ctx context.Context) (int64, error)
	// EnqueueDeliveries stores drafts and moves the cursor from from to to,
	// in one transaction: conflict if the cursor is no longer at from
	// (another dispatcher got there first), so each event is turned into
	// deliveries exactly once. A draft joins the subscription's open
	// delivery if there is one; a draft whose subscription is gone is
	// dropped.
	EnqueueDeliveries(ctx context.Context, from, to int64, drafts []DeliveryDraft) error
	// ClaimDeliveries seals and returns up to limit pending deliveries due
	// at now, counting an attempt and moving each one's next attempt to
	// retryAt(attempts) — the lease: if the sender dies before recording
	// the outcome, the delivery is due again then.
	ClaimDeliveries(ctx context.Context, now time.Time, limit int, retryAt func(attempts int) time.Time) ([]Delivery, error)
	// CompleteDelivery marks a delivery sent.
	CompleteDelivery(ctx context.Context, id string, at time.Time) error
	// FailDelivery records a failed attempt: due again at retryAt, or, if
	// retryAt is zero, a dead letter.
	FailDelivery(ctx context.Context, id string, errText string, retryAt time.Time) error
	// ListDeliveries returns deliveries with status, newest first.
	ListDeliveries(ctx context.Context, status DeliveryStatus, limit int) ([]Delivery, error)
	// RetryDeliveries moves dead letters (the given IDs, or all) back to
	// pending, due at now with no attempts counted, and appends ev. It
	// returns how many moved; not_found if a named one is not dead.
	RetryDeliveries(ctx context.Context, ids []string, all bool, now time.Time, ev Event) (int, error)
	// PruneDeliveries deletes sent deliveries sent before before.
	PruneDeliveries(ctx context.Context, before time.Time) (int, error)
	// FlushDigests makes every pending daily or weekly digest that has not
	// been attempted yet due at now (an admin's "send the digests now"),
	// and appends ev if any moved. It returns how many moved.
	FlushDigests(ctx context.Context, now time.Time, ev Event) (int, error)
}

// UnsubscribeToken signs a subscription ID with secret, for the one-click
// unsubscribe link of every mail.
func UnsubscribeToken(secret []byte, subscriptionID string) string {
	id := base64.RawURLEncoding.EncodeToString([]byte(subscriptionID))
	return id + "." + base64.RawURLEncoding.EncodeToString(unsubscribeMAC(secret, subscriptionID))
}

// VerifyUnsubscribeToken returns the subscription ID token was signed for.
func VerifyUnsubscribeToken(secret []byte, token string) (string, bool) {
	if len(secret) == 0 || len(token) > 512 {
		return "", false
	}
	a, b, ok := strings.Cut(token, ".")
	if !ok {
		return "", false
	}
	id, err1 := base64.RawURLEncoding.DecodeString(a)
	mac, err2 := base64.RawURLEncoding.DecodeString(b)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, unsubscribeMAC(secret, string(id))) {
		return "", false
	}
	return string(id), true
}

// WebhookSecret is the key a webhook's payloads are signed with
// (HMAC-SHA256), derived from the server secret so it need not be stored.
func WebhookSecret(secret []byte, subscriptionID string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("patchgate-webhook\x00" + subscriptionID))
	return hex.EncodeToString(m.Sum(nil))
}

func unsubscribeMAC(secret []byte, id string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("patchgate-unsubscribe\x00" + id))
	return m.Sum(nil)
}
