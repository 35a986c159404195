package storetest

import (
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

func newSubscription(id, addr string) patchgate.Subscription {
	return patchgate.Subscription{ID: id, Channel: patchgate.ChannelEmail, Address: addr, Mode: patchgate.ModeImmediate, CreatedAt: t0, CreatedBy: "storetest"}
}

func testSubscriptions(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	ss, err := s.ListSubscriptions(ctx)
	must(t, err, "ListSubscriptions")
	if len(ss) != 0 {
		t.Fatalf("a new store has %d subscriptions", len(ss))
	}
	full := patchgate.Subscription{ID: "s1", Channel: patchgate.ChannelWebhook, Address: "b@example.org", Events: []string{patchgate.NotifyUpdateAdded}, Products: []string{"cisco.ucce", "openssl"},
		MinSeverity: patchgate.SeverityHigh, Kinds: []patchgate.Kind{patchgate.KindHotfix}, Mode: patchgate.ModeWeekly,
		Alerts: true, CreatedAt: t0.In(elsewhere), CreatedBy: "admin"}
	ev := newEvent(patchgate.EventSubscriptionAdded)
	must(t, s.CreateSubscription(ctx, full, ev), "CreateSubscription")
	findEvent(t, s, ev.ID)
	must(t, s.CreateSubscription(ctx, newSubscription("s2", "a@example.org"), newEvent(patchgate.EventSubscriptionAdded)), "CreateSubscription s2")
	wantCode(t, s.CreateSubscription(ctx, newSubscription("s1", "c@example.org"), newEvent(patchgate.EventSubscriptionAdded)),
		patchgate.CodeConflict, "CreateSubscription with an existing ID")

	got, err := s.GetSubscription(ctx, "s1")
	must(t, err, "GetSubscription")
	same(t, "GetSubscription", got, full)
	_, err = s.GetSubscription(ctx, "nope")
	wantNotFound(t, err, "GetSubscription nope")

	ss, err = s.ListSubscriptions(ctx)
	must(t, err, "ListSubscriptions")
	if len(ss) != 2 || ss[0].ID != "s2" || ss[1].ID != "s1" {
		t.Errorf("ListSubscriptions not ordered by address: %+v", ss)
	}

	ev = newEvent(patchgate.EventSubscriptionRemoved)
	must(t, s.DeleteSubscription(ctx, "s1", ev), "DeleteSubscription")
	findEvent(t, s, ev.ID)
	ev = newEvent(patchgate.EventSubscriptionRemoved)
	wantNotFound(t, s.DeleteSubscription(ctx, "s1", ev), "DeleteSubscription again")
	if hasEvent(allEvents(t, s), ev.ID) {
		t.Error("a failed DeleteSubscription appended its event")
	}
}

func testOutbox(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	must(t, s.CreateSubscription(ctx, newSubscription("s1", "a@example.org"), newEvent(patchgate.EventSubscriptionAdded)), "CreateSubscription")
	cur, err := s.NotifyCursor(ctx)
	must(t, err, "NotifyCursor")
	if cur != 0 {
		t.Fatalf("a new store's cursor is %d", cur)
	}
	e1, e2, e3 := newEvent(patchgate.EventUpdateAdded), newEvent(patchgate.EventUpdateAdded), newEvent(patchgate.EventUpdateRevised)
	due := t0.Add(time.Minute)
	draft := func(id string, evs ...patchgate.Event) patchgate.DeliveryDraft {
		return patchgate.DeliveryDraft{ID: id, SubscriptionID: "s1", Channel: patchgate.ChannelEmail, Address: "a@example.org", Mode: patchgate.ModeImmediate,
			Events: evs, DueAt: due, CreatedAt: t0}
	}
	must(t, s.EnqueueDeliveries(ctx, 0, 5, []patchgate.DeliveryDraft{draft("d1", e1),
		{ID: "dx", SubscriptionID: "gone", Address: "x@example.org", Mode: patchgate.ModeImmediate, DueAt: due, CreatedAt: t0}}), "EnqueueDeliveries")
	// The same step again, from the old cursor: refused, nothing stored twice.
	wantCode(t, s.EnqueueDeliveries(ctx, 0, 5, []patchgate.DeliveryDraft{draft("d1b", e1)}), patchgate.CodeConflict, "EnqueueDeliveries from a stale cursor")
	wantCode(t, s.EnqueueDeliveries(ctx, 5, 4, nil), patchgate.CodeInvalid, "EnqueueDeliveries backwards")
	cur, _ = s.NotifyCursor(ctx)
	if cur != 5 {
		t.Fatalf("cursor %d, want 5", cur)
	}
	// An open delivery takes later events.
	must(t, s.EnqueueDeliveries(ctx, 5, 7, []patchgate.DeliveryDraft{draft("d2", e2)}), "EnqueueDeliveries 2")
	pending, err := s.ListDeliveries(ctx, patchgate.DeliveryPending, 10)
	must(t, err, "ListDeliveries")
	if len(pending) != 1 || pending[0].ID != "d1" || len(pending[0].Events) != 2 || pending[0].Events[1].ID != e2.ID {
		t.Fatalf("after two enqueues: %+v", pending)
	}
	if !pending[0].NextAttemptAt.Equal(due) || pending[0].Attempts != 0 || pending[0].Status != patchgate.DeliveryPending || pending[0].Channel != patchgate.ChannelEmail {
		t.Errorf("new delivery: %+v", pending[0])
	}

	// Not due yet.
	ds, err := s.ClaimDeliveries(ctx, t0, 10, func(int) time.Time { return t0.Add(time.Hour) })
	must(t, err, "ClaimDeliveries")
	if len(ds) != 0 {
		t.Fatalf("claimed %d deliveries before they were due", len(ds))
	}
	lease := due.Add(5 * time.Minute)
	ds, err = s.ClaimDeliveries(ctx, due, 10, func(a int) time.Time {
		if a != 1 {
			t.Errorf("retryAt(%d), want 1", a)
		}
		return lease
	})
	must(t, err, "ClaimDeliveries")
	if len(ds) != 1 || ds[0].Attempts != 1 || !ds[0].NextAttemptAt.Equal(lease) {
		t.Fatalf("claimed %+v", ds)
	}
	// A claimed delivery is sealed: a new event opens another one.
	must(t, s.EnqueueDeliveries(ctx, 7, 8, []patchgate.DeliveryDraft{draft("d3", e3)}), "EnqueueDeliveries 3")
	pending, _ = s.ListDeliveries(ctx, patchgate.DeliveryPending, 10)
	if len(pending) != 2 {
		t.Fatalf("%d pending, want d1 and d3", len(pending))
	}
	// While leased it is not claimed again.
	ds, _ = s.ClaimDeliveries(ctx, due, 10, func(int) time.Time { return lease })
	if len(ds) != 1 || ds[0].ID != "d3" {
		t.Fatalf("claimed during the lease: %+v", ds)
	}
	must(t, s.CompleteDelivery(ctx, "d3", due), "CompleteDelivery")
	wantNotFound(t, s.CompleteDelivery(ctx, "nope", due), "CompleteDelivery nope")

	retry := lease.Add(time.Minute)
	must(t, s.FailDelivery(ctx, "d1", "451 try later", retry), "FailDelivery")
	ds, _ = s.ClaimDeliveries(ctx, retry, 10, func(int) time.Time { return retry.Add(time.Hour) })
	if len(ds) != 1 || ds[0].ID != "d1" || ds[0].Attempts != 2 || ds[0].LastError != "451 try later" || len(ds[0].Events) != 2 {
		t.Fatalf("retry claim: %+v", ds)
	}
	must(t, s.FailDelivery(ctx, "d1", "550 no such user", time.Time{}), "FailDelivery dead")
	dead, err := s.ListDeliveries(ctx, patchgate.DeliveryDead, 10)
	must(t, err, "ListDeliveries dead")
	if len(dead) != 1 || dead[0].ID != "d1" || dead[0].LastError != "550 no such user" {
		t.Fatalf("dead = %+v", dead)
	}
	ds, _ = s.ClaimDeliveries(ctx, retry.Add(48*time.Hour), 10, func(int) time.Time { return retry })
	if len(ds) != 0 {
		t.Fatalf("a dead letter was claimed: %+v", ds)
	}

	_, err = s.RetryDeliveries(ctx, []string{"d3"}, false, retry, newEvent(patchgate.EventDeliveryRetried))
	wantNotFound(t, err, "RetryDeliveries of a sent delivery")
	ev := newEvent(patchgate.EventDeliveryRetried)
	n, err := s.RetryDeliveries(ctx, nil, true, retry, ev)
	must(t, err, "RetryDeliveries")
	if n != 1 {
		t.Fatalf("requeued %d, want 1", n)
	}
	findEvent(t, s, ev.ID)
	// A requeued delivery stays sealed: new events do not join it.
	must(t, s.EnqueueDeliveries(ctx, 8, 9, []patchgate.DeliveryDraft{draft("d4", e1)}), "EnqueueDeliveries 4")
	ds, _ = s.ClaimDeliveries(ctx, retry.Add(time.Minute), 10, func(int) time.Time { return retry.Add(time.Hour) })
	if len(ds) != 2 {
		t.Fatalf("claimed %d after retry, want d1 and d4", len(ds))
	}
	for _, d := range ds {
		if d.ID == "d1" && (d.Attempts != 1 || len(d.Events) != 2) {
			t.Errorf("requeued d1: %+v", d)
		}
	}

	sent, _ := s.ListDeliveries(ctx, patchgate.DeliverySent, 10)
	if len(sent) != 1 || !sent[0].SentAt.Equal(due) {
		t.Fatalf("sent = %+v", sent)
	}
	n, err = s.PruneDeliveries(ctx, due)
	must(t, err, "PruneDeliveries")
	if n != 0 {
		t.Errorf("pruned %d sent at the cut-off", n)
	}
	n, _ = s.PruneDeliveries(ctx, due.Add(time.Second))
	if n != 1 {
		t.Errorf("pruned %d, want 1", n)
	}

	// Removing a subscription drops its pending deliveries.
	must(t, s.DeleteSubscription(ctx, "s1", newEvent(patchgate.EventSubscriptionRemoved)), "DeleteSubscription")
	pending, _ = s.ListDeliveries(ctx, patchgate.DeliveryPending, 10)
	if len(pending) != 0 {
		t.Errorf("%d pending deliveries of a removed subscription", len(pending))
	}
}

// testFlushDigests: "send the digests now" makes pending digests that have
// not been tried due at once, and leaves immediate mail and retries alone.
func testFlushDigests(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	for _, id := range []string{"s1", "s2", "s3"} {
		must(t, s.CreateSubscription(ctx, newSubscription(id, id+"@example.org"), newEvent(patchgate.EventSubscriptionAdded)), "CreateSubscription")
	}
	tomorrow := t0.Add(20 * time.Hour)
	draft := func(id, sub string, mode patchgate.SubscriptionMode, due time.Time) patchgate.DeliveryDraft {
		return patchgate.DeliveryDraft{ID: id, SubscriptionID: sub, Channel: patchgate.ChannelEmail, Address: sub + "@example.org", Mode: mode,
			Events: []patchgate.Event{newEvent(patchgate.EventUpdateAdded)}, DueAt: due, CreatedAt: t0}
	}
	must(t, s.EnqueueDeliveries(ctx, 0, 3, []patchgate.DeliveryDraft{
		draft("daily", "s1", patchgate.ModeDaily, tomorrow),
		draft("weekly", "s2", patchgate.ModeWeekly, tomorrow.Add(72*time.Hour)),
		draft("imm", "s3", patchgate.ModeImmediate, t0.Add(time.Minute)),
	}), "EnqueueDeliveries")
	now := t0.Add(time.Second)
	ev := newEvent(patchgate.EventDigestsFlushed)
	n, err := s.FlushDigests(ctx, now, ev)
	must(t, err, "FlushDigests")
	if n != 2 {
		t.Fatalf("FlushDigests moved %d, want the daily and the weekly digest", n)
	}
	ds, err := s.ClaimDeliveries(ctx, now, 10, func(int) time.Time { return now.Add(time.Hour) })
	must(t, err, "ClaimDeliveries")
	got := map[string]bool{}
	for _, d := range ds {
		got[d.ID] = true
	}
	if len(ds) != 2 || !got["daily"] || !got["weekly"] {
		t.Fatalf("claimed after the flush: %v, want daily and weekly (immediate mail is not due yet)", got)
	}
	// Attempted digests are the dispatcher's business now: nothing moves.
	if n, err := s.FlushDigests(ctx, now, newEvent(patchgate.EventDigestsFlushed)); err != nil || n != 0 {
		t.Fatalf("second FlushDigests: %d, %v; want 0", n, err)
	}
	evs, err := s.ListEvents(ctx, patchgate.EventFilter{Type: patchgate.EventDigestsFlushed})
	must(t, err, "ListEvents")
	if len(evs) != 1 || evs[0].ID != ev.ID {
		t.Fatalf("events: %+v, want the one flush that moved something", evs)
	}
}
