package notify

import (
	"context"
	"fmt"
	"mime"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/notify/mailsink"
	"github.com/patchgate/patchgate/sqlite"
)

// clock is a fake clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	db    *sqlite.DB
	path  string
	sink  *mailsink.Sink
	clock *clock
	cfg   Config
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "patchgate.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sink, err := mailsink.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	host, port, _ := net.SplitHostPort(sink.Addr)
	p, _ := strconv.Atoi(port)
	c := &clock{t: time.Date(2026, 5, 4, 10, 30, 0, 0, time.UTC)} // a Monday
	f := &fixture{db: db, path: path, sink: sink, clock: c}
	f.cfg = Config{
		Store:       db,
		SMTP:        SMTPConfig{Host: host, Port: p, TLS: TLSNone, From: "patchgate@example.org", Timeout: 5 * time.Second},
		ServerName:  "site-1.example.org",
		PublicURL:   "https://site-1.example.org:8443",
		Secret:      []byte("0123456789abcdef0123456789abcdef"),
		Clock:       c.Now,
		BatchDelay:  0,
		BaseBackoff: time.Minute,
		MaxBackoff:  time.Hour,
		Lease:       5 * time.Minute,
		MaxAttempts: 4,
		DigestHour:  7,
	}
	return f
}

func (f *fixture) subscribe(t *testing.T, s patchgate.Subscription) {
	t.Helper()
	if s.Mode == "" {
		s.Mode = patchgate.ModeImmediate
	}
	if s.Channel == "" {
		s.Channel = patchgate.ChannelEmail
	}
	s.CreatedAt = f.clock.Now()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := f.db.CreateSubscription(t.Context(), s, patchgate.Event{Type: patchgate.EventSubscriptionAdded}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) publish(t *testing.T, id string, sev patchgate.Severity, kind patchgate.Kind, product string) {
	t.Helper()
	u := patchgate.Update{
		ID: id, Title: "Fix " + id, Kind: kind, Severity: sev, Reboot: patchgate.RebootNever,
		Products:  []patchgate.ProductConstraint{{Name: product}},
		Payloads:  []patchgate.Payload{{Name: "p.sh", Size: 1, SHA256: strings.Repeat("a", 64), Installer: patchgate.InstallerExec}},
		CreatedAt: f.clock.Now(),
	}
	_, _, err := f.db.PutUpdate(t.Context(), u, patchgate.Event{Type: patchgate.EventUpdateAdded, UpdateID: id, Time: f.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	// Posted: only posted fixes are news.
	_, err = f.db.TransitionUpdate(t.Context(), id, []patchgate.UpdateStatus{patchgate.StatusReceived}, patchgate.StatusPosted, true, f.clock.Now(),
		patchgate.Event{Type: patchgate.EventUpdatePosted, Time: f.clock.Now(), Detail: "test fixture"})
	if err != nil {
		t.Fatal(err)
	}
}

func round(t *testing.T, d *Dispatcher) {
	t.Helper()
	if err := d.Round(t.Context()); err != nil {
		t.Fatalf("Round: %v", err)
	}
}

func TestSubscriptionsGetMatchingMail(t *testing.T) {
	f := newFixture(t)
	f.subscribe(t, patchgate.Subscription{ID: "s-crit", Address: "crit@example.org", MinSeverity: patchgate.SeverityCritical})
	f.subscribe(t, patchgate.Subscription{ID: "s-ucce", Address: "ucce@example.org", Products: []string{"cisco.ucce"}, Kinds: []patchgate.Kind{patchgate.KindHotfix}})
	f.subscribe(t, patchgate.Subscription{ID: "s-daily", Address: "daily@example.org", Mode: patchgate.ModeDaily})
	d := New(f.cfg)

	f.publish(t, "KB-1", patchgate.SeverityCritical, patchgate.KindHotfix, "cisco.ucce")
	round(t, d)
	f.publish(t, "KB-2", patchgate.SeverityLow, patchgate.KindHotfix, "openssl")
	round(t, d)

	crit := f.sink.To("crit@example.org")
	if len(crit) != 1 || !strings.Contains(crit[0].Header.Get("Subject"), "KB-1") {
		t.Fatalf("critical subscriber got %d mails, want 1 about KB-1", len(crit))
	}
	m := crit[0]
	if !strings.Contains(m.Header.Get("Subject"), "site-1.example.org") || !strings.Contains(string(m.Data), "site-1.example.org") {
		t.Error("mail does not name the server")
	}
	if !strings.Contains(m.Header.Get("Content-Type"), "multipart/alternative") {
		t.Errorf("Content-Type %q, want multipart/alternative", m.Header.Get("Content-Type"))
	}
	for _, part := range []string{"text/plain", "text/html"} {
		if !strings.Contains(string(m.Body), part) {
			t.Errorf("no %s part", part)
		}
	}
	lu := m.Header.Get("List-Unsubscribe")
	if !strings.Contains(lu, "https://site-1.example.org:8443/unsubscribe?token=") {
		t.Errorf("List-Unsubscribe = %q", lu)
	}
	if m.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post = %q", m.Header.Get("List-Unsubscribe-Post"))
	}
	tok := lu[strings.Index(lu, "token=")+6 : strings.Index(lu, ">")]
	if id, ok := patchgate.VerifyUnsubscribeToken(f.cfg.Secret, tok); !ok || id != "s-crit" {
		t.Errorf("unsubscribe token names %q, %v", id, ok)
	}

	if got := f.sink.To("ucce@example.org"); len(got) != 1 {
		t.Errorf("ucce subscriber got %d mails, want 1 (KB-1 only)", len(got))
	}
	if got := f.sink.To("daily@example.org"); len(got) != 0 {
		t.Errorf("daily subscriber got %d mails before the digest", len(got))
	}
	// The digest goes out at 07:00 the next day, with both fixes in one mail.
	f.clock.Add(21 * time.Hour)
	round(t, d)
	daily := f.sink.To("daily@example.org")
	if len(daily) != 1 {
		t.Fatalf("daily subscriber got %d mails after the digest time, want 1", len(daily))
	}
	for _, id := range []string{"KB-1", "KB-2"} {
		if !strings.Contains(string(daily[0].Body), id) {
			t.Errorf("digest does not list %s", id)
		}
	}
	if !strings.Contains(daily[0].Header.Get("Subject"), "daily digest") {
		t.Errorf("digest subject %q", daily[0].Header.Get("Subject"))
	}
	if n := len(f.sink.Messages()); n != 3 {
		t.Errorf("%d mails in all, want 3", n)
	}
}

func TestManyUpdatesOneMail(t *testing.T) {
	f := newFixture(t)
	f.subscribe(t, patchgate.Subscription{ID: "s", Address: "all@example.org"})
	d := New(f.cfg)
	for i := range 500 {
		f.publish(t, fmt.Sprintf("KB-%03d", i), patchgate.SeverityHigh, patchgate.KindSecurity, "openssl")
	}
	round(t, d)
	got := f.sink.To("all@example.org")
	if len(got) != 1 {
		t.Fatalf("got %d mails for 500 updates, want 1", len(got))
	}
	if !strings.Contains(got[0].Header.Get("Subject"), "500 new or revised") {
		t.Errorf("subject %q", got[0].Header.Get("Subject"))
	}
}

func TestTemporaryFailuresRetryWithBackoff(t *testing.T) {
	f := newFixture(t)
	f.subscribe(t, patchgate.Subscription{ID: "s", Address: "ops@example.org"})
	d := New(f.cfg)
	f.sink.FailNext(mailsink.Temporary, mailsink.Temporary)
	f.publish(t, "KB-1", patchgate.SeverityHigh, patchgate.KindHotfix, "openssl")

	round(t, d) // attempt 1: 451
	pending, err := f.db.ListDeliveries(t.Context(), patchgate.DeliveryPending, 10)
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending = %v, %v", pending, err)
	}
	p := pending[0]
	if p.Attempts != 1 || !strings.Contains(p.LastError, "451") || !p.NextAttemptAt.Equal(f.clock.Now().Add(time.Minute)) {
		t.Errorf("after one failure: attempts %d, last error %q, next %v", p.Attempts, p.LastError, p.NextAttemptAt)
	}
	round(t, d) // not due yet
	f.clock.Add(time.Minute)
	round(t, d) // attempt 2: 451, next in 2m
	pending, _ = f.db.ListDeliveries(t.Context(), patchgate.DeliveryPending, 10)
	if len(pending) != 1 || pending[0].Attempts != 2 || !pending[0].NextAttemptAt.Equal(f.clock.Now().Add(2*time.Minute)) {
		t.Fatalf("after two failures: %+v", pending)
	}
	f.clock.Add(time.Minute)
	round(t, d)
	if n := len(f.sink.Messages()); n != 0 {
		t.Fatalf("sent %d before the backoff ended", n)
	}
	f.clock.Add(time.Minute)
	round(t, d) // attempt 3: accepted
	if got := f.sink.To("ops@example.org"); len(got) != 1 {
		t.Fatalf("got %d mails, want 1", len(got))
	}
	sent, _ := f.db.ListDeliveries(t.Context(), patchgate.DeliverySent, 10)
	if len(sent) != 1 || sent[0].Attempts != 3 {
		t.Errorf("sent = %+v", sent)
	}
}

func TestPermanentFailureIsDeadLetterAndRetryable(t *testing.T) {
	f := newFixture(t)
	f.subscribe(t, patchgate.Subscription{ID: "s", Address: "gone@example.org"})
	d := New(f.cfg)
	f.sink.RejectRecipient("gone@example.org", mailsink.Permanent)
	f.publish(t, "KB-1", patchgate.SeverityHigh, patchgate.KindHotfix, "openssl")
	round(t, d)
	dead, err := f.db.ListDeliveries(t.Context(), patchgate.DeliveryDead, 10)
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead = %v, %v", dead, err)
	}
	if !strings.Contains(dead[0].LastError, "550") {
		t.Errorf("last error %q", dead[0].LastError)
	}
	f.clock.Add(24 * time.Hour)
	round(t, d)
	if n := len(f.sink.Messages()); n != 0 {
		t.Fatalf("a dead letter was resent on its own")
	}
	f.sink.RejectRecipient("gone@example.org", nil)
	n, err := f.db.RetryDeliveries(t.Context(), []string{dead[0].ID}, false, f.clock.Now(), patchgate.Event{Type: patchgate.EventDeliveryRetried})
	if err != nil || n != 1 {
		t.Fatalf("RetryDeliveries = %d, %v", n, err)
	}
	round(t, d)
	got := f.sink.To("gone@example.org")
	if len(got) != 1 || got[0].MessageID() != "<"+dead[0].ID+"@example.org>" {
		t.Fatalf("after retry: %d mails", len(got))
	}
}

func TestTooManyTemporaryFailuresEndDead(t *testing.T) {
	f := newFixture(t)
	f.subscribe(t, patchgate.Subscription{ID: "s", Address: "ops@example.org"})
	d := New(f.cfg)
	f.sink.RejectRecipient("ops@example.org", mailsink.Temporary)
	f.publish(t, "KB-1", patchgate.SeverityHigh, patchgate.KindHotfix, "openssl")
	for range 10 {
		round(t, d)
		f.clock.Add(time.Hour)
	}
	dead, _ := f.db.ListDeliveries(t.Context(), patchgate.DeliveryDead, 10)
	if len(dead) != 1 || dead[0].Attempts != f.cfg.MaxAttempts {
		t.Fatalf("dead = %+v", dead)
	}
}

func TestAlertsOnFailedInstalls(t *testing.T) {
	f := newFixture(t)
	f.subscribe(t, patchgate.Subscription{ID: "a", Address: "admin@example.org", Alerts: true, Kinds: []patchgate.Kind{patchgate.KindFeature}})
	f.subscribe(t, patchgate.Subscription{ID: "n", Address: "news@example.org"})
	d := New(f.cfg)
	tok := patchgate.Token{ID: "tok-h1", Kind: patchgate.TokenEnroll, SecretHash: []byte("x"), CreatedAt: f.clock.Now()}
	if err := f.db.CreateToken(t.Context(), tok, patchgate.Event{Type: patchgate.EventTokenCreated}); err != nil {
		t.Fatal(err)
	}
	h := patchgate.Host{ID: "h1", Inventory: patchgate.Inventory{Hostname: "h1", Mode: patchgate.ModeAutomatic}}
	if _, err := f.db.Enroll(t.Context(), tok.ID, f.clock.Now(), h, []byte("cred"), patchgate.Event{Type: patchgate.EventHostEnrolled}); err != nil {
		t.Fatal(err)
	}
	ev := patchgate.Event{ID: "e1", Time: f.clock.Now(), Type: patchgate.EventDeployment, HostID: "h1", UpdateID: "KB-1",
		State: patchgate.StateFailed, ExitCode: 3, Detail: "installer failed"}
	ok := patchgate.Event{ID: "e2", Time: f.clock.Now(), Type: patchgate.EventDeployment, HostID: "h1", UpdateID: "KB-2", State: patchgate.StateInstalled}
	if _, err := f.db.RecordDeploymentEvents(t.Context(), []patchgate.Event{ev, ok}); err != nil {
		t.Fatal(err)
	}
	round(t, d)
	got := f.sink.To("admin@example.org")
	if len(got) != 1 || !strings.Contains(got[0].Header.Get("Subject"), "1 failed install") || !strings.Contains(string(got[0].Body), "h1") {
		t.Fatalf("admin got %d alert mails", len(got))
	}
	if n := len(f.sink.To("news@example.org")); n != 0 {
		t.Errorf("a subscriber without --alerts got %d alert mails", n)
	}
}

// TestCrashMidDispatch kills the dispatcher after the relay accepted a mail
// and before the outcome was recorded, several times, each time starting a
// fresh dispatcher on a fresh connection to the same SQLite file. Every
// delivery must arrive, and a mail that arrives twice must carry the same
// Message-ID and the same content both times.
func TestCrashMidDispatch(t *testing.T) {
	f := newFixture(t)
	const subs = 6
	for i := range subs {
		f.subscribe(t, patchgate.Subscription{ID: fmt.Sprintf("s%d", i), Address: fmt.Sprintf("u%d@example.org", i)})
	}
	for i := range 5 {
		f.publish(t, fmt.Sprintf("KB-%d", i), patchgate.SeverityHigh, patchgate.KindHotfix, "openssl")
	}
	f.db.Close()

	for crash := 0; crash < 20; crash++ {
		db, err := sqlite.Open(f.path)
		if err != nil {
			t.Fatal(err)
		}
		cfg := f.cfg
		cfg.Store = db
		d := New(cfg)
		ctx, cancel := context.WithCancel(t.Context())
		// Die after the second accepted mail of this life.
		n := 0
		d.afterSend = func(patchgate.Delivery) {
			if n++; n == 2 {
				cancel()
			}
		}
		err = d.Round(ctx)
		cancel()
		db.Close()
		if err == nil {
			break // a life without a crash: everything is recorded
		}
		f.clock.Add(f.cfg.Lease) // the lease of the unrecorded send ends
	}
	checkAfterCrashes(t, f, subs)
}

// checkAfterCrashes checks that every delivery of subs subscribers (u0..,
// each told of KB-0..KB-4) was sent and recorded, that at least one was
// sent twice, and that copies of a delivery are one mail: same Message-ID,
// same content.
func checkAfterCrashes(t *testing.T, f *fixture, subs int) {
	t.Helper()
	db, err := sqlite.Open(f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pending, _ := db.ListDeliveries(t.Context(), patchgate.DeliveryPending, 100)
	sent, _ := db.ListDeliveries(t.Context(), patchgate.DeliverySent, 100)
	if len(pending) != 0 || len(sent) != subs {
		t.Fatalf("%d pending, %d sent deliveries; want 0 and %d", len(pending), len(sent), subs)
	}
	msgs := f.sink.Messages()
	if len(msgs) <= subs {
		t.Fatalf("only %d mails for %d deliveries: the test never crashed between send and record", len(msgs), subs)
	}
	byAddr := map[string]map[string]string{} // address -> Message-ID -> body
	for _, m := range msgs {
		addr := m.To[0]
		if byAddr[addr] == nil {
			byAddr[addr] = map[string]string{}
		}
		// MIME boundaries are random per rendering; the content is not.
		_, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
		body := m.Header.Get("Subject") + "\n" + strings.ReplaceAll(string(m.Body), params["boundary"], "BOUNDARY")
		if prev, ok := byAddr[addr][m.MessageID()]; ok && prev != body {
			t.Errorf("%s: resend of %s differs:\n%s\n----\n%s", addr, m.MessageID(), prev, body)
		}
		byAddr[addr][m.MessageID()] = body
	}
	for i := range subs {
		addr := fmt.Sprintf("u%d@example.org", i)
		ids := byAddr[addr]
		if len(ids) != 1 {
			t.Errorf("%s got mails with %d different Message-IDs, want 1", addr, len(ids))
		}
		for _, body := range ids {
			for k := range 5 {
				if !strings.Contains(body, fmt.Sprintf("KB-%d", k)) {
					t.Errorf("%s: mail misses KB-%d", addr, k)
				}
			}
		}
	}
}

func TestNextDigest(t *testing.T) {
	mon := time.Date(2026, 5, 4, 10, 30, 0, 0, time.UTC) // Monday
	cases := []struct {
		mode patchgate.SubscriptionMode
		now  time.Time
		want time.Time
	}{
		{patchgate.ModeDaily, mon, time.Date(2026, 5, 5, 7, 0, 0, 0, time.UTC)},
		{patchgate.ModeDaily, time.Date(2026, 5, 4, 6, 0, 0, 0, time.UTC), time.Date(2026, 5, 4, 7, 0, 0, 0, time.UTC)},
		{patchgate.ModeWeekly, mon, time.Date(2026, 5, 11, 7, 0, 0, 0, time.UTC)},
		{patchgate.ModeWeekly, time.Date(2026, 5, 4, 6, 0, 0, 0, time.UTC), time.Date(2026, 5, 4, 7, 0, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		if got := NextDigest(c.mode, c.now, 7, time.Monday, time.UTC); !got.Equal(c.want) {
			t.Errorf("NextDigest(%s, %v) = %v, want %v", c.mode, c.now, got, c.want)
		}
	}
}

func TestSendTest(t *testing.T) {
	f := newFixture(t)
	d := New(f.cfg)
	out, err := d.SendTest(t.Context(), "me@example.org")
	if err != nil || !strings.Contains(out, "accepted") {
		t.Fatalf("SendTest = %q, %v", out, err)
	}
	if len(f.sink.To("me@example.org")) != 1 {
		t.Fatal("no test mail arrived")
	}
	f.sink.RejectRecipient("no@example.org", mailsink.Permanent)
	if _, err := d.SendTest(t.Context(), "no@example.org"); err == nil || !strings.Contains(err.Error(), "550") {
		t.Errorf("SendTest to a refused address: %v", err)
	}
	if _, err := d.SendTest(t.Context(), "not an address"); patchgate.ErrorCode(err) != patchgate.CodeInvalid {
		t.Errorf("SendTest to a bad address: %v", err)
	}
}

func TestAfterQuietHours(t *testing.T) {
	at := func(d, h, m int) time.Time { return time.Date(2026, 5, d, h, m, 0, 0, time.UTC) }
	cases := []struct {
		t          time.Time
		start, end int
		want       time.Time
	}{
		{at(4, 23, 10), 22, 6, at(5, 6, 0)},
		{at(5, 3, 0), 22, 6, at(5, 6, 0)},
		{at(5, 6, 0), 22, 6, at(5, 6, 0)},
		{at(5, 12, 0), 22, 6, at(5, 12, 0)},
		{at(5, 12, 30), 12, 14, at(5, 14, 0)},
		{at(5, 14, 0), 12, 14, at(5, 14, 0)},
		{at(5, 3, 0), 0, 0, at(5, 3, 0)},
	}
	for _, c := range cases {
		if got := AfterQuietHours(c.t, c.start, c.end, time.UTC); !got.Equal(c.want) {
			t.Errorf("AfterQuietHours(%v, %d, %d) = %v, want %v", c.t, c.start, c.end, got, c.want)
		}
	}
}

func TestQuietHoursHoldMailNotWebhooks(t *testing.T) {
	f := newFixture(t)
	f.cfg.QuietStart, f.cfg.QuietEnd = 10, 12 // the fixture's clock is 10:30
	srv, calls := hookServer(t)
	f.subscribe(t, patchgate.Subscription{ID: "m", Address: "ops@example.org"})
	f.subscribe(t, patchgate.Subscription{ID: "w", Channel: patchgate.ChannelWebhook, Address: srv.URL})
	d := New(f.cfg)
	f.publish(t, "KB-1", patchgate.SeverityCritical, patchgate.KindHotfix, "openssl")
	round(t, d)
	if len(f.sink.Messages()) != 0 || len(calls()) != 1 {
		t.Fatalf("in quiet hours: %d mails, %d webhook calls; want 0 and 1", len(f.sink.Messages()), len(calls()))
	}
	f.publish(t, "KB-2", patchgate.SeverityCritical, patchgate.KindHotfix, "openssl")
	f.clock.Add(90 * time.Minute)
	round(t, d)
	got := f.sink.To("ops@example.org")
	if len(got) != 1 || !strings.Contains(got[0].Header.Get("Subject"), "2 new or revised fixes") {
		t.Fatalf("after quiet hours: %d mails", len(got))
	}
}

// TestRelayDownThenBack stops the SMTP server, publishes, and starts it
// again on the same port: the mail arrives after a retry.
func TestRelayDownThenBack(t *testing.T) {
	f := newFixture(t)
	f.subscribe(t, patchgate.Subscription{ID: "s", Address: "ops@example.org"})
	d := New(f.cfg)
	addr := f.sink.Addr
	f.sink.Close()
	f.publish(t, "KB-1", patchgate.SeverityCritical, patchgate.KindHotfix, "openssl")
	round(t, d)
	pending, _ := f.db.ListDeliveries(t.Context(), patchgate.DeliveryPending, 10)
	if len(pending) != 1 || pending[0].Attempts != 1 || pending[0].LastError == "" {
		dead, _ := f.db.ListDeliveries(t.Context(), patchgate.DeliveryDead, 10)
		sent, _ := f.db.ListDeliveries(t.Context(), patchgate.DeliverySent, 10)
		t.Fatalf("with the relay down: pending %+v, dead %+v, sent %+v", pending, dead, sent)
	}
	var sink *mailsink.Sink
	for range 50 { // the port may take a moment to be free again
		var err error
		if sink, err = mailsink.StartWith(mailsink.Options{Addr: addr}); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if sink == nil {
		t.Skip("could not listen on the relay's port again")
	}
	defer sink.Close()
	f.clock.Add(time.Minute)
	round(t, d)
	if got := sink.To("ops@example.org"); len(got) != 1 || !strings.Contains(got[0].Header.Get("Subject"), "KB-1") {
		t.Fatalf("after the relay came back: %d mails", len(got))
	}
}
