package notify

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image/png"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/notify/mailsink"
)

func (f *fixture) appendEvent(t *testing.T, ev patchgate.Event) patchgate.Event {
	t.Helper()
	if ev.Time.IsZero() {
		ev.Time = f.clock.Now()
	}
	if ev.ID == "" {
		ev.ID = ev.Type + "-" + newID()
	}
	if err := f.db.AppendEvent(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// part is one leaf of a parsed MIME tree.
type part struct {
	contentType string
	header      map[string][]string
	body        []byte
}

// parseMIME walks a mail and returns the content types of its multipart
// containers (depth first) and its leaves, decoded.
func parseMIME(t *testing.T, m mailsink.Message) (containers []string, leaves []part) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(ct string, hdr map[string][]string, body io.Reader)
	walk = func(ct string, hdr map[string][]string, body io.Reader) {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil {
			t.Fatalf("Content-Type %q: %v", ct, err)
		}
		if strings.HasPrefix(mt, "multipart/") {
			containers = append(containers, mt)
			r := multipart.NewReader(body, params["boundary"])
			for {
				p, err := r.NextRawPart()
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				walk(p.Header.Get("Content-Type"), p.Header, p)
			}
		}
		data, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		switch strings.ToLower(first(hdr["Content-Transfer-Encoding"])) {
		case "base64":
			data, err = io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(data)))
			if err != nil {
				t.Fatal(err)
			}
		case "quoted-printable":
			data, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(data)))
			if err != nil {
				t.Fatal(err)
			}
		}
		leaves = append(leaves, part{contentType: mt, header: hdr, body: data})
	}
	walk(msg.Header.Get("Content-Type"), msg.Header, msg.Body)
	return containers, leaves
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func leaf(leaves []part, ct string) *part {
	for i := range leaves {
		if leaves[i].contentType == ct {
			return &leaves[i]
		}
	}
	return nil
}

func TestAdminAlertMails(t *testing.T) {
	f := newFixture(t)
	f.cfg.QuietStart, f.cfg.QuietEnd = 0, 23 // quiet all day: alerts are never held
	f.subscribe(t, patchgate.Subscription{ID: "s-admin", Address: "admin@example.org", Alerts: true})
	f.subscribe(t, patchgate.Subscription{ID: "s-weekly", Address: "weekly@example.org", Alerts: true, Mode: patchgate.ModeWeekly})
	f.subscribe(t, patchgate.Subscription{ID: "s-news", Address: "news@example.org"})
	f.subscribe(t, patchgate.Subscription{ID: "s-sla", Address: "sla@example.org", Events: []string{patchgate.EventSLABreached}})
	d := New(f.cfg)

	f.appendEvent(t, patchgate.Event{Type: patchgate.EventSLABreached, UpdateID: "KB-1", Detail: "critical update KB-1 not posted by its deadline"})
	f.appendEvent(t, patchgate.Event{Type: patchgate.EventSLAApproaching, UpdateID: "KB-2", Detail: "high update KB-2 must be posted soon"})
	f.appendEvent(t, patchgate.Event{Type: patchgate.EventRolloutHalted, UpdateID: "KB-3", Detail: "rollout of KB-3 in web halted: 3 of 10 failed"})
	fa, _ := json.Marshal(patchgate.FailureAlert{UpdateID: "KB-4", PeriodStart: f.clock.Now().Truncate(time.Hour), Period: time.Hour, Hosts: []string{"h1", "h2"}, Failures: 2})
	f.appendEvent(t, patchgate.Event{Type: patchgate.EventAlertFailures, UpdateID: "KB-4", Detail: string(fa)})
	f.appendEvent(t, patchgate.Event{Type: patchgate.AlertAdvisoryImported, Detail: `{"id":"RHSA-2026:0001","title":"openssl flaw","severity":"critical","cves":["CVE-2026-1111"],"exposed_hosts":7}`})
	f.appendEvent(t, patchgate.Event{Type: patchgate.AlertAdvisoryImported, Detail: `{"id":"RHSA-2026:0002","title":"harmless","severity":"low","cves":[],"exposed_hosts":0}`})
	dl := f.clock.Now().Add(-time.Hour)
	od, _ := json.Marshal(patchgate.OverdueUpdate{UpdateID: "KB-5", Title: "fix five", Severity: patchgate.SeverityHigh, Group: "web", Deadline: dl, Hosts: 10, NonCompliant: 4})
	f.appendEvent(t, patchgate.Event{Type: patchgate.EventAlertDeadline, UpdateID: "KB-5", Detail: string(od)})
	round(t, d)

	for _, addr := range []string{"admin@example.org", "weekly@example.org"} {
		got := f.sink.To(addr)
		if len(got) != 1 {
			t.Fatalf("%s got %d alert mails, want 1 with every alert", addr, len(got))
		}
		m := got[0]
		if s := m.Header.Get("Subject"); !strings.Contains(s, "[site-1.example.org] 6 alerts") {
			t.Errorf("subject %q", s)
		}
		if !strings.Contains(m.Header.Get("List-Unsubscribe"), "/unsubscribe?token=") {
			t.Errorf("no List-Unsubscribe: %q", m.Header.Get("List-Unsubscribe"))
		}
		_, leaves := parseMIME(t, m)
		text, html := leaf(leaves, "text/plain"), leaf(leaves, "text/html")
		if text == nil || html == nil {
			t.Fatalf("parts %+v", leaves)
		}
		for _, want := range []string{"SLA BREACHED", "KB-1 not posted", "SLA APPROACHING", "ROLLOUT HALTED", "3 of 10 failed",
			"KB-4 failed to install on 2 hosts within 1h0m0s", "h1, h2", "RHSA-2026:0001 (critical): openssl flaw exposes 7 hosts [CVE-2026-1111]",
			"the deadline", "KB-5 (fix five, high) for group web passed with 4 of 10 hosts not compliant"} {
			if !strings.Contains(string(text.body), want) {
				t.Errorf("%s: text part lacks %q:\n%s", addr, want, text.body)
			}
		}
		if strings.Contains(string(text.body), "RHSA-2026:0002") {
			t.Error("an advisory exposing no host is an alert")
		}
		if !strings.Contains(string(html.body), "openssl flaw exposes 7 hosts") {
			t.Error("HTML part lacks the advisory")
		}
	}
	if n := len(f.sink.To("news@example.org")); n != 0 {
		t.Errorf("a subscription without alerts got %d mails", n)
	}
	sla := f.sink.To("sla@example.org")
	if len(sla) != 1 || !strings.Contains(sla[0].Header.Get("Subject"), "alert: SLA breached: critical update KB-1") {
		t.Errorf("the sla.breached-only subscription got %d mails", len(sla))
	}
	// Nothing new: nothing sent again.
	f.clock.Add(time.Hour)
	round(t, d)
	if n := len(f.sink.Messages()); n != 3 {
		t.Errorf("%d mails after a quiet round, want 3", n)
	}
}

func TestManualActionMail(t *testing.T) {
	f := newFixture(t)
	d := New(f.cfg)
	dl := time.Date(2026, 5, 8, 18, 0, 0, 0, time.UTC)
	notice := patchgate.ManualNotice{HostID: "h-manual", Hostname: "db1.example.org", Owners: []string{"dba@example.org", "ops@example.org"},
		Items: []patchgate.ManualItem{{UpdateID: "KB-9", Revision: 2, Title: "Database fix", Severity: patchgate.SeverityCritical,
			Action: patchgate.ActionInstall, Deadline: &dl, URLs: []string{"/content/sha256/" + strings.Repeat("b", 64)}}}}
	detail, _ := json.Marshal(notice)
	ev := f.appendEvent(t, patchgate.Event{ID: "manual.action-1", Type: patchgate.EventManualAction, HostID: "h-manual", Detail: string(detail)})
	// The first attempt fails (temporary): the retry carries the same
	// Message-ID.
	f.sink.FailNext(&smtp.SMTPError{Code: 451, Message: "try later"})
	round(t, d)
	f.clock.Add(2 * time.Minute)
	round(t, d)
	for _, addr := range notice.Owners {
		got := f.sink.To(addr)
		if len(got) != 1 {
			t.Fatalf("owner %s got %d mails, want 1", addr, len(got))
		}
		m := got[0]
		wantID := "<" + stableID(ev.ID+"\x00"+ev.HostID, patchgate.OwnerSubscriptionID(addr)) + "@example.org>"
		if m.MessageID() != wantID {
			t.Errorf("Message-ID %q, want the stable %q", m.MessageID(), wantID)
		}
		if s := m.Header.Get("Subject"); s != "[site-1.example.org] manual action required: 1 update to install by hand on h-manual" {
			t.Errorf("subject %q", s)
		}
		if m.Header.Get("List-Unsubscribe") != "" {
			t.Error("an owner mail has an unsubscribe link; owners are set by admins")
		}
		_, leaves := parseMIME(t, m)
		text := string(leaf(leaves, "text/plain").body)
		for _, want := range []string{"Host h-manual (db1.example.org)", "KB-9", "critical", "install", "2026-05-08 18:00 UTC", "Database fix",
			"https://site-1.example.org:8443/content/sha256/" + strings.Repeat("b", 64), "patchgate host mark-installed"} {
			if !strings.Contains(text, want) {
				t.Errorf("text lacks %q:\n%s", want, text)
			}
		}
		html := string(leaf(leaves, "text/html").body)
		if !strings.Contains(html, `href="https://site-1.example.org:8443/content/sha256/`) {
			t.Error("HTML has no download link")
		}
	}
	// A bad owner address in a notice is skipped, not a dead letter.
	detail, _ = json.Marshal(patchgate.ManualNotice{HostID: "h2", Owners: []string{"not an address"}, Items: notice.Items})
	f.appendEvent(t, patchgate.Event{Type: patchgate.EventManualAction, HostID: "h2", Detail: string(detail)})
	round(t, d)
	if n := len(f.sink.Messages()); n != 2 {
		t.Errorf("%d mails, want 2", n)
	}
}

func TestStatusReportMail(t *testing.T) {
	f := newFixture(t)
	dl := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var history []patchgate.ChartPoint
	for i := range 30 {
		day := time.Date(2026, 4, 5+i, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
		history = append(history, patchgate.ChartPoint{Day: day, Compliant: float64(i) / 29, Missing: i == 3})
	}
	report := patchgate.StatusReport{
		GeneratedAt: f.clock.Now(), Day: "2026-05-04", TimeZone: "Europe/Paris",
		Groups: []patchgate.ComplianceSnapshot{{Group: "all", Hosts: 12, Applicable: 20, Installed: 19, Compliant: 0.95},
			{Group: "web", Hosts: 4, Applicable: 8, Installed: 4, Compliant: 0.5}},
		Overdue: []patchgate.OverdueUpdate{{UpdateID: "KB-7", Title: "late fix", Severity: patchgate.SeverityHigh, Group: "web", Deadline: dl, Hosts: 4, NonCompliant: 4}},
		Failed:  []patchgate.FailedUpdate{{UpdateID: "KB-8", Title: "broken fix", Severity: patchgate.SeverityMedium, Hosts: 1}},
		History: history,
	}
	f.cfg.StatusReport = func(ctx context.Context) (patchgate.StatusReport, error) { return report, nil }
	f.subscribe(t, patchgate.Subscription{ID: "s-report", Address: "boss@example.org", Reports: true, Mode: patchgate.ModeWeekly})
	f.subscribe(t, patchgate.Subscription{ID: "s-news", Address: "news@example.org"})
	f.subscribe(t, patchgate.Subscription{ID: "s-alerts", Address: "admin@example.org", Alerts: true})
	d := New(f.cfg)
	ev := f.appendEvent(t, patchgate.Event{ID: "report.status-2026-05-04T08:00", Type: patchgate.EventStatusReport, Detail: "daily@08:00"})
	round(t, d)

	if n := len(f.sink.Messages()); n != 1 {
		t.Fatalf("%d mails, want 1 (only the subscription with reports)", n)
	}
	got := f.sink.To("boss@example.org")
	if len(got) != 1 {
		t.Fatalf("report subscriber got %d mails (weekly digests do not hold reports)", len(got))
	}
	m := got[0]
	if want := "<" + stableID(ev.ID, "s-report") + "@example.org>"; m.MessageID() != want {
		t.Errorf("Message-ID %q, want %q", m.MessageID(), want)
	}
	if s := m.Header.Get("Subject"); s != "[site-1.example.org] status report 2026-05-04: 95.0% compliant, 1 overdue, 1 failing" {
		t.Errorf("subject %q", s)
	}
	if !strings.Contains(m.Header.Get("List-Unsubscribe"), "/unsubscribe?token=") || m.Header.Get("List-Unsubscribe-Post") == "" {
		t.Errorf("List-Unsubscribe %q", m.Header.Get("List-Unsubscribe"))
	}
	containers, leaves := parseMIME(t, m)
	if len(containers) != 2 || containers[0] != "multipart/related" || containers[1] != "multipart/alternative" {
		t.Errorf("MIME structure %v, want multipart/related around multipart/alternative", containers)
	}
	text, html, img := leaf(leaves, "text/plain"), leaf(leaves, "text/html"), leaf(leaves, "image/png")
	if text == nil || html == nil || img == nil {
		t.Fatalf("leaves %v", leaves)
	}
	for _, want := range []string{"COMPLIANCE PER GROUP", "web", "50.0%", "KB-7 (high) group web: deadline 2026-05-01 12:00 UTC, 4 of 4 hosts not compliant - late fix",
		"KB-8 (medium): failed on 1 hosts - broken fix", "2026-05-04  100.0%", "Sent by the patchgate server site-1.example.org"} {
		if !strings.Contains(string(text.body), want) {
			t.Errorf("text lacks %q:\n%s", want, text.body)
		}
	}
	for _, want := range []string{`src="cid:compliance.png"`, "late fix", "broken fix", "Compliance per group", "2026-04-05 to 2026-05-04"} {
		if !strings.Contains(string(html.body), want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if cid := first(img.header["Content-Id"]); cid != "<compliance.png>" {
		t.Errorf("image Content-ID %q", cid)
	}
	pic, err := png.Decode(bytes.NewReader(img.body))
	if err != nil {
		t.Fatalf("the chart does not decode as PNG: %v", err)
	}
	if b := pic.Bounds(); b.Dx() != 600 || b.Dy() != 160 {
		t.Errorf("chart %v", b)
	}

	// Without a report source the mail waits (temporary failure).
	f.cfg.StatusReport = nil
	d2 := New(f.cfg)
	f.appendEvent(t, patchgate.Event{Type: patchgate.EventStatusReport})
	round(t, d2)
	if n := len(f.sink.Messages()); n != 1 {
		t.Errorf("%d mails without a report source", n)
	}
	pending, err := f.db.ListDeliveries(t.Context(), patchgate.DeliveryPending, 10)
	if err != nil || len(pending) != 1 || pending[0].Stream != patchgate.StreamReport || pending[0].LastError == "" {
		t.Errorf("pending %+v, %v", pending, err)
	}
}

func TestOneLine(t *testing.T) {
	for _, tt := range []struct {
		in   string
		max  int
		want string
	}{
		{"plain", 10, "plain"},
		{"two\r\nlines", 20, "two  lines"},
		{"0123456789abc", 10, "0123456..."},
		{"ééééé", 8, "éé..."}, // never cuts a rune
	} {
		if got := oneLine(tt.in, tt.max); got != tt.want {
			t.Errorf("oneLine(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func TestDrawChart(t *testing.T) {
	points := []patchgate.ChartPoint{{Day: "d1", Compliant: 1}, {Day: "d2", Compliant: 0.85}, {Day: "d3", Compliant: 0.2}, {Day: "d4", Missing: true}}
	for _, tt := range []struct {
		p    patchgate.ChartPoint
		want string
	}{
		{points[0], "good"}, {patchgate.ChartPoint{Compliant: 0.95}, "good"}, {points[1], "warn"}, {points[2], "bad"}, {points[3], "empty"},
	} {
		want := map[string]any{"good": chartGood, "warn": chartWarn, "bad": chartBad, "empty": chartEmpty}[tt.want]
		if got := BarColor(tt.p); got != want {
			t.Errorf("BarColor(%+v) = %v, want %s", tt.p, got, tt.want)
		}
	}
	data, err := DrawChart(points)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	// Each bar is drawn in its slot: sample the middle of each, just above
	// the axis, and the top of the full bar.
	slot := (chartW - 2*chartLeft) / len(points)
	base := chartH - chartBottom
	for i, p := range points {
		x := chartLeft + i*slot + slot/2
		r, g, b, _ := img.At(x, base-1).RGBA()
		want := BarColor(p)
		if uint8(r>>8) != want.R || uint8(g>>8) != want.G || uint8(b>>8) != want.B {
			t.Errorf("bar %d at (%d,%d) is %d,%d,%d, want %v", i, x, base-1, r>>8, g>>8, b>>8, want)
		}
	}
	if r, _, _, _ := img.At(chartLeft+slot/2, chartTop+1).RGBA(); uint8(r>>8) != chartGood.R {
		t.Error("the 100% bar does not reach the top")
	}
	if r, g, b, _ := img.At(chartLeft+2*slot+slot/2, chartTop+10).RGBA(); uint8(r>>8) != 255 || uint8(g>>8) != 255 || uint8(b>>8) != 255 {
		t.Error("the 20% bar reaches the top")
	}
	if _, err := DrawChart(nil); err != nil {
		t.Errorf("empty chart: %v", err)
	}
}

// TestDigestTimeZones: a subscription's digest goes out at the digest hour
// of its own time zone, the server's otherwise, across DST changes.
func TestDigestTimeZones(t *testing.T) {
	paris, err1 := time.LoadLocation("Europe/Paris")
	ny, err2 := time.LoadLocation("America/New_York")
	if err := errors.Join(err1, err2); err != nil {
		t.Skip("no tzdata:", err)
	}
	tests := []struct {
		name string
		mode patchgate.SubscriptionMode
		now  time.Time
		loc  *time.Location
		want time.Time
	}{
		// Paris: spring change on Sunday 29 March 2026 (CET UTC+1 -> CEST UTC+2).
		{"daily, Paris, before spring change", patchgate.ModeDaily, time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC), paris, time.Date(2026, 3, 29, 5, 0, 0, 0, time.UTC)},
		{"daily, Paris, day of spring change", patchgate.ModeDaily, time.Date(2026, 3, 29, 5, 30, 0, 0, time.UTC), paris, time.Date(2026, 3, 30, 5, 0, 0, 0, time.UTC)},
		{"weekly, Paris, across spring change", patchgate.ModeWeekly, time.Date(2026, 3, 27, 12, 0, 0, 0, time.UTC), paris, time.Date(2026, 3, 30, 5, 0, 0, 0, time.UTC)},
		{"daily, Paris, autumn change", patchgate.ModeDaily, time.Date(2026, 10, 24, 12, 0, 0, 0, time.UTC), paris, time.Date(2026, 10, 25, 6, 0, 0, 0, time.UTC)},
		// New York: spring change on Sunday 8 March 2026 (EST UTC-5 -> EDT UTC-4).
		{"daily, New York, spring change", patchgate.ModeDaily, time.Date(2026, 3, 8, 3, 0, 0, 0, time.UTC), ny, time.Date(2026, 3, 8, 11, 0, 0, 0, time.UTC)},
		{"weekly, New York, Monday after", patchgate.ModeWeekly, time.Date(2026, 3, 6, 20, 0, 0, 0, time.UTC), ny, time.Date(2026, 3, 9, 11, 0, 0, 0, time.UTC)},
		{"daily, local evening is UTC next day", patchgate.ModeDaily, time.Date(2026, 5, 5, 1, 0, 0, 0, time.UTC), ny, time.Date(2026, 5, 5, 11, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NextDigest(tt.mode, tt.now, 7, time.Monday, tt.loc); !got.Equal(tt.want) {
				t.Errorf("got %v (%v), want %v", got.UTC(), got, tt.want)
			}
		})
	}

	// End to end: two daily subscribers, one in Paris, one on the
	// server's zone (New York); a fix posted on the Paris spring-change
	// day reaches each at 07:00 local.
	f := newFixture(t)
	f.cfg.DigestLocation = ny
	f.clock = &clock{t: time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC)}
	f.cfg.Clock = f.clock.Now
	f.subscribe(t, patchgate.Subscription{ID: "s-paris", Address: "paris@example.org", Mode: patchgate.ModeDaily, TimeZone: "Europe/Paris"})
	f.subscribe(t, patchgate.Subscription{ID: "s-ny", Address: "ny@example.org", Mode: patchgate.ModeDaily})
	d := New(f.cfg)
	f.publish(t, "KB-1", patchgate.SeverityHigh, patchgate.KindSecurity, "openssl")
	round(t, d)
	pending, err := f.db.ListDeliveries(t.Context(), patchgate.DeliveryPending, 10)
	if err != nil || len(pending) != 2 {
		t.Fatalf("pending %+v, %v", pending, err)
	}
	due := map[string]time.Time{}
	for _, p := range pending {
		due[p.Address] = p.NextAttemptAt
	}
	if want := time.Date(2026, 3, 29, 5, 0, 0, 0, time.UTC); !due["paris@example.org"].Equal(want) { // 07:00 CEST
		t.Errorf("Paris digest due %v, want %v", due["paris@example.org"], want)
	}
	if want := time.Date(2026, 3, 29, 11, 0, 0, 0, time.UTC); !due["ny@example.org"].Equal(want) { // 07:00 EDT
		t.Errorf("New York digest due %v, want %v", due["ny@example.org"], want)
	}
	f.clock.Add(4*time.Hour + 30*time.Minute) // 05:00 UTC
	round(t, d)
	if len(f.sink.To("paris@example.org")) != 1 || len(f.sink.To("ny@example.org")) != 0 {
		t.Errorf("at 07:00 Paris: paris %d, ny %d mails", len(f.sink.To("paris@example.org")), len(f.sink.To("ny@example.org")))
	}
	f.clock.Add(6 * time.Hour)
	round(t, d)
	if len(f.sink.To("ny@example.org")) != 1 {
		t.Errorf("at 07:00 New York: %d mails", len(f.sink.To("ny@example.org")))
	}
}
