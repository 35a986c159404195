package server_test

import (
	"context"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/notify"
	"github.com/patchgate/patchgate/notify/mailsink"
	"github.com/patchgate/patchgate/server"
)

type notifyEnv struct {
	*env
	sink *mailsink.Sink
	d    *notify.Dispatcher
}

func newNotifyEnv(t *testing.T) *notifyEnv {
	t.Helper()
	sink, err := mailsink.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	secret := []byte("server-secret-server-secret-1234")
	var d *notify.Dispatcher
	e := newEnvWith(t, func(cfg *server.Config, _ string) {
		cfg.Notify = server.NotifyConfig{
			Secret: secret, ServerName: "site-1",
			SendTest: func(ctx context.Context, addr string) (string, error) { return d.SendTest(ctx, addr) },
		}
	})
	host, port, _ := net.SplitHostPort(sink.Addr)
	p, _ := strconv.Atoi(port)
	d = notify.New(notify.Config{
		Store: e.store, ServerName: "site-1", PublicURL: e.http.URL, Secret: secret,
		SMTP: notify.SMTPConfig{Host: host, Port: p, TLS: notify.TLSNone, From: "patchgate@site-1.example", Timeout: 5 * time.Second},
	})
	return &notifyEnv{env: e, sink: sink, d: d}
}

func TestSubscribeMailUnsubscribe(t *testing.T) {
	e := newNotifyEnv(t)
	var eb struct{ Code, Field string }
	if st := e.call("POST", "/api/v1/subscriptions", e.admin, adminapi.SubscribeRequest{Address: "Ops <ops@example.org>"}, &eb); st != 400 || eb.Code != "invalid" {
		t.Errorf("bad address: %d %+v", st, eb)
	}
	if st := e.call("POST", "/api/v1/subscriptions", e.admin, adminapi.SubscribeRequest{Address: "ops@example.org", Mode: "hourly"}, nil); st != 400 {
		t.Errorf("bad mode: %d", st)
	}
	var sub patchgate.Subscription
	if st := e.call("POST", "/api/v1/subscriptions", e.admin, adminapi.SubscribeRequest{Address: "ops@example.org", MinSeverity: "high"}, &sub); st != 201 {
		t.Fatalf("subscribe: %d", st)
	}
	var low patchgate.Subscription
	e.call("POST", "/api/v1/subscriptions", e.admin, adminapi.SubscribeRequest{Address: "low@example.org", Products: []string{"other"}}, &low)

	e.publish("KB-1", "cisco.ucce", "", []byte("#!/bin/sh\nexit 0\n"), nil)
	if err := e.d.Round(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := e.sink.To("ops@example.org")
	if len(got) != 1 || !strings.Contains(got[0].Header.Get("Subject"), "KB-1") {
		t.Fatalf("ops got %d mails", len(got))
	}
	if n := len(e.sink.To("low@example.org")); n != 0 {
		t.Errorf("a subscriber of another product got %d mails", n)
	}
	lu := got[0].Header.Get("List-Unsubscribe")
	link, err := url.Parse(strings.Trim(lu, "<>"))
	if err != nil || !strings.HasPrefix(lu, "<"+e.http.URL+"/unsubscribe?token=") {
		t.Fatalf("List-Unsubscribe %q", lu)
	}

	// GET only shows the page; POST (one-click) unsubscribes.
	resp, err := http.Get(link.String())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "ops@example.org") {
		t.Fatalf("unsubscribe page: %d %s", resp.StatusCode, page)
	}
	var subs []patchgate.Subscription
	e.call("GET", "/api/v1/subscriptions", e.admin, nil, &subs)
	if len(subs) != 2 {
		t.Fatalf("GET unsubscribed: %d subscriptions left", len(subs))
	}
	resp, err = http.Post(link.String(), "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("one-click POST: %d", resp.StatusCode)
	}
	e.call("GET", "/api/v1/subscriptions", e.admin, nil, &subs)
	if len(subs) != 1 || subs[0].ID != low.ID {
		t.Fatalf("after unsubscribe: %+v", subs)
	}
	// A forged token is refused.
	bad := strings.Replace(link.String(), "token=", "token=x", 1)
	resp, _ = http.Post(bad, "text/plain", nil)
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("forged token: %d", resp.StatusCode)
	}
	if st := e.call("DELETE", "/api/v1/subscriptions/"+low.ID, e.admin, nil, nil); st != 204 {
		t.Errorf("remove: %d", st)
	}
	if st := e.call("DELETE", "/api/v1/subscriptions/"+low.ID, e.admin, nil, nil); st != 404 {
		t.Errorf("remove again: %d", st)
	}
}

func TestDeadLettersAndNotifyTest(t *testing.T) {
	e := newNotifyEnv(t)
	e.call("POST", "/api/v1/subscriptions", e.admin, adminapi.SubscribeRequest{Address: "gone@example.org"}, nil)
	e.sink.RejectRecipient("gone@example.org", mailsink.Permanent)
	e.publish("KB-1", "cisco.ucce", "", []byte("#!/bin/sh\nexit 0\n"), nil)
	if err := e.d.Round(t.Context()); err != nil {
		t.Fatal(err)
	}
	var dead []patchgate.Delivery
	if st := e.call("GET", "/api/v1/notify/deliveries?status=dead", e.admin, nil, &dead); st != 200 || len(dead) != 1 {
		t.Fatalf("dead letters: %d %v", st, dead)
	}
	if st := e.call("POST", "/api/v1/notify/retry", e.admin, adminapi.RetryRequest{}, nil); st != 400 {
		t.Errorf("retry of nothing: %d", st)
	}
	if st := e.call("POST", "/api/v1/notify/retry", e.admin, adminapi.RetryRequest{IDs: []string{"nope"}}, nil); st != 404 {
		t.Errorf("retry of an unknown delivery: %d", st)
	}
	e.sink.RejectRecipient("gone@example.org", nil)
	var rr adminapi.RetryResponse
	if st := e.call("POST", "/api/v1/notify/retry", e.admin, adminapi.RetryRequest{All: true}, &rr); st != 200 || rr.Requeued != 1 {
		t.Fatalf("retry all: %d %+v", st, rr)
	}
	if err := e.d.Round(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(e.sink.To("gone@example.org")); n != 1 {
		t.Fatalf("after retry: %d mails", n)
	}

	var res adminapi.NotifyTestResponse
	if st := e.call("POST", "/api/v1/notify/test", e.admin, adminapi.NotifyTestRequest{Address: "me@example.org"}, &res); st != 200 || !strings.Contains(res.Result, "accepted") {
		t.Fatalf("notify test: %d %+v", st, res)
	}
	if n := len(e.sink.To("me@example.org")); n != 1 {
		t.Errorf("test mail: %d arrived", n)
	}
	e.sink.RejectRecipient("no@example.org", mailsink.Permanent)
	var eb struct{ Code, Message string }
	if st := e.call("POST", "/api/v1/notify/test", e.admin, adminapi.NotifyTestRequest{Address: "no@example.org"}, &eb); st != 400 || !strings.Contains(eb.Message, "550") {
		t.Errorf("refused test mail: %d %+v", st, eb)
	}
}

func TestAtomFeed(t *testing.T) {
	e := newNotifyEnv(t)
	e.publish("KB-1", "cisco.ucce", "", []byte("one"), func(m *patchgate.Manifest) { m.CVEs = []string{"CVE-2026-0001"} })
	e.publish("KB-2", "openssl", "", []byte("two"), func(m *patchgate.Manifest) { m.Severity = patchgate.SeverityLow; m.Title = "fix <b>&amp; more" })

	type entry struct {
		Title      string `xml:"title"`
		ID         string `xml:"id"`
		Updated    string `xml:"updated"`
		Categories []struct {
			Term string `xml:"term,attr"`
		} `xml:"category"`
	}
	type feed struct {
		XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
		Title   string   `xml:"title"`
		ID      string   `xml:"id"`
		Updated string   `xml:"updated"`
		Author  string   `xml:"author>name"`
		Entries []entry  `xml:"entry"`
	}
	get := func(q string) feed {
		t.Helper()
		resp, err := http.Get(e.http.URL + "/feed.atom" + q) // no token: public
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/atom+xml") {
			t.Fatalf("feed: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var f feed
		if err := xml.NewDecoder(resp.Body).Decode(&f); err != nil {
			t.Fatalf("feed does not parse: %v", err)
		}
		return f
	}
	f := get("")
	if f.ID == "" || f.Title == "" || f.Author == "" || len(f.Entries) != 2 {
		t.Fatalf("feed: %+v", f)
	}
	if _, err := time.Parse(time.RFC3339, f.Updated); err != nil {
		t.Errorf("feed updated %q: %v", f.Updated, err)
	}
	for _, en := range f.Entries {
		if !strings.HasPrefix(en.ID, "urn:uuid:") || en.Title == "" {
			t.Errorf("entry %+v", en)
		}
		if _, err := time.Parse(time.RFC3339, en.Updated); err != nil {
			t.Errorf("entry updated %q: %v", en.Updated, err)
		}
	}
	if !strings.Contains(f.Entries[0].Title+f.Entries[1].Title, "fix <b>&amp; more") {
		t.Errorf("titles not escaped and unescaped faithfully: %+v", f.Entries)
	}
	if f := get("?min_severity=critical"); len(f.Entries) != 1 || !strings.Contains(f.Entries[0].Title, "KB-1") {
		t.Errorf("min_severity filter: %+v", f.Entries)
	}
	if f := get("?product=openssl"); len(f.Entries) != 1 || !strings.Contains(f.Entries[0].Title, "KB-2") {
		t.Errorf("product filter: %+v", f.Entries)
	}
	// Only posted updates are news: a received one is not in the feed.
	e.add("KB-3", "openssl", []byte("three"), nil)
	if f := get(""); len(f.Entries) != 2 {
		t.Errorf("a received update is in the feed: %+v", f.Entries)
	}
	resp, _ := http.Get(e.http.URL + "/feed.atom?kind=nope")
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("bad kind: %d", resp.StatusCode)
	}
}

func TestWebhookSubscription(t *testing.T) {
	e := newNotifyEnv(t)
	var resp adminapi.SubscribeResponse
	req := adminapi.SubscribeRequest{Channel: patchgate.ChannelWebhook, Address: "https://hooks.example.org/patchgate", Events: []string{"update.added"}}
	if st := e.call("POST", "/api/v1/subscriptions", e.admin, req, &resp); st != 201 || resp.WebhookSecret == "" || resp.Channel != patchgate.ChannelWebhook {
		t.Fatalf("webhook: %d %+v", st, resp)
	}
	if resp.WebhookSecret != patchgate.WebhookSecret([]byte("server-secret-server-secret-1234"), resp.ID) {
		t.Error("the returned key is not the one payloads are signed with")
	}
	var mail adminapi.SubscribeResponse
	e.call("POST", "/api/v1/subscriptions", e.admin, adminapi.SubscribeRequest{Address: "a@example.org"}, &mail)
	if mail.WebhookSecret != "" || mail.Channel != patchgate.ChannelEmail {
		t.Errorf("mail subscription: %+v", mail)
	}
	for _, bad := range []adminapi.SubscribeRequest{
		{Channel: patchgate.ChannelWebhook, Address: "ftp://x.example.org/"},
		{Channel: patchgate.ChannelWebhook, Address: "https://x.example.org/", Mode: patchgate.ModeDaily},
		{Channel: patchgate.ChannelWebhook, Address: "https://x.example.org/", Events: []string{"token.created"}},
		{Channel: "pigeon", Address: "a@example.org"},
	} {
		if st := e.call("POST", "/api/v1/subscriptions", e.admin, bad, nil); st != 400 {
			t.Errorf("%+v: %d, want 400", bad, st)
		}
	}
}
