package notify

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

type hookCall struct {
	delivery, signature string
	body                []byte
}

// hookServer answers each POST with the next status of statuses (then
// 204) and records what it got.
func hookServer(t *testing.T, statuses ...int) (*httptest.Server, func() []hookCall) {
	var mu sync.Mutex
	var calls []hookCall
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		calls = append(calls, hookCall{r.Header.Get(HeaderDelivery), r.Header.Get(HeaderSignature), body})
		st := http.StatusNoContent
		if len(statuses) > 0 {
			st, statuses = statuses[0], statuses[1:]
		}
		mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []hookCall { mu.Lock(); defer mu.Unlock(); return append([]hookCall(nil), calls...) }
}

func TestWebhookSignedAndRetried(t *testing.T) {
	f := newFixture(t)
	srv, calls := hookServer(t, http.StatusServiceUnavailable)
	f.subscribe(t, patchgate.Subscription{ID: "w", Channel: patchgate.ChannelWebhook, Address: srv.URL + "/hook",
		Events: []string{patchgate.NotifyUpdateAdded, patchgate.NotifyDeploymentFailed}, MinSeverity: patchgate.SeverityHigh})
	d := New(f.cfg)
	f.publish(t, "KB-1", patchgate.SeverityCritical, patchgate.KindHotfix, "openssl")
	f.publish(t, "KB-2", patchgate.SeverityLow, patchgate.KindHotfix, "openssl")
	round(t, d) // 503
	f.clock.Add(time.Minute)
	round(t, d) // 204
	cs := calls()
	if len(cs) != 2 {
		t.Fatalf("%d webhook calls, want 2", len(cs))
	}
	if cs[0].delivery == "" || cs[0].delivery != cs[1].delivery || string(cs[0].body) != string(cs[1].body) {
		t.Errorf("a retry is not the same delivery: %q %q", cs[0].delivery, cs[1].delivery)
	}
	key := patchgate.WebhookSecret(f.cfg.Secret, "w")
	if cs[1].signature != Sign(key, cs[1].body) {
		t.Errorf("signature %q does not verify", cs[1].signature)
	}
	var p WebhookPayload
	if err := json.Unmarshal(cs[1].body, &p); err != nil {
		t.Fatal(err)
	}
	if p.DeliveryID != cs[1].delivery || len(p.Events) != 1 || p.Events[0].UpdateID != "KB-1" || len(p.Updates) != 1 || p.Updates[0].Title != "Fix KB-1" {
		t.Errorf("payload %+v", p)
	}
	if len(f.sink.Messages()) != 0 {
		t.Error("a webhook subscription sent mail")
	}
	sent, _ := f.db.ListDeliveries(t.Context(), patchgate.DeliverySent, 10)
	if len(sent) != 1 || sent[0].Attempts != 2 || sent[0].Channel != patchgate.ChannelWebhook {
		t.Errorf("sent = %+v", sent)
	}
}

func TestWebhookGoneIsDeadLetter(t *testing.T) {
	f := newFixture(t)
	srv, calls := hookServer(t, http.StatusGone)
	f.subscribe(t, patchgate.Subscription{ID: "w", Channel: patchgate.ChannelWebhook, Address: srv.URL})
	d := New(f.cfg)
	f.publish(t, "KB-1", patchgate.SeverityCritical, patchgate.KindHotfix, "openssl")
	round(t, d)
	dead, _ := f.db.ListDeliveries(t.Context(), patchgate.DeliveryDead, 10)
	if len(dead) != 1 || len(calls()) != 1 {
		t.Fatalf("dead = %+v, %d calls", dead, len(calls()))
	}
	if _, err := f.db.RetryDeliveries(t.Context(), nil, true, f.clock.Now(), patchgate.Event{Type: patchgate.EventDeliveryRetried}); err != nil {
		t.Fatal(err)
	}
	round(t, d)
	if sent, _ := f.db.ListDeliveries(t.Context(), patchgate.DeliverySent, 10); len(sent) != 1 || len(calls()) != 2 {
		t.Fatalf("after retry: sent %d, %d calls", len(sent), len(calls()))
	}
}

func TestEventsBeforeSubscribingAreNotNews(t *testing.T) {
	f := newFixture(t)
	f.publish(t, "KB-OLD", patchgate.SeverityCritical, patchgate.KindHotfix, "openssl")
	f.clock.Add(time.Second)
	f.subscribe(t, patchgate.Subscription{ID: "s", Address: "new@example.org"})
	d := New(f.cfg)
	round(t, d)
	if n := len(f.sink.Messages()); n != 0 {
		t.Fatalf("a new subscriber got %d mails about older fixes", n)
	}
	f.publish(t, "KB-NEW", patchgate.SeverityCritical, patchgate.KindHotfix, "openssl")
	round(t, d)
	if got := f.sink.To("new@example.org"); len(got) != 1 {
		t.Fatalf("got %d mails", len(got))
	}
}
