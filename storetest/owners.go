package storetest

import (
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

func testOwners(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	enroll(t, s, "h1", "web")
	createGroup(t, s, "db")
	os, err := s.ListOwners(ctx)
	must(t, err, "ListOwners")
	if len(os) != 0 {
		t.Fatalf("a new store has owners: %+v", os)
	}
	set := func(scope, name, addr string) (patchgate.Event, error) {
		ev := newEvent(patchgate.EventOwnerSet)
		return ev, s.SetOwner(ctx, patchgate.Owner{Scope: scope, Name: name, Address: addr, UpdatedAt: t0.In(elsewhere)}, ev)
	}
	ev, err := set(patchgate.OwnerHost, "h1", "alice@example.org")
	must(t, err, "SetOwner host")
	findEvent(t, s, ev.ID)
	_, err = set(patchgate.OwnerGroup, "web", "web@example.org")
	must(t, err, "SetOwner group")
	_, err = set(patchgate.OwnerGroup, "db", "dba@example.org")
	must(t, err, "SetOwner group db")
	_, err = set(patchgate.OwnerHost, "h1", "bob@example.org") // replaces
	must(t, err, "SetOwner host again")
	ev, err = set(patchgate.OwnerHost, "nope", "x@example.org")
	wantNotFound(t, err, "SetOwner of an unknown host")
	if hasEvent(allEvents(t, s), ev.ID) {
		t.Error("a failed SetOwner appended its event")
	}
	_, err = set(patchgate.OwnerGroup, "nope", "x@example.org")
	wantNotFound(t, err, "SetOwner of an unknown group")
	_, err = set(patchgate.OwnerHost, "h1", "not an address")
	wantCode(t, err, patchgate.CodeInvalid, "SetOwner with a bad address")

	os, err = s.ListOwners(ctx)
	must(t, err, "ListOwners")
	want := []patchgate.Owner{
		{Scope: patchgate.OwnerGroup, Name: "db", Address: "dba@example.org", UpdatedAt: t0},
		{Scope: patchgate.OwnerGroup, Name: "web", Address: "web@example.org", UpdatedAt: t0},
		{Scope: patchgate.OwnerHost, Name: "h1", Address: "bob@example.org", UpdatedAt: t0},
	}
	same(t, "ListOwners", os, want)

	// An empty address removes; deleting a group drops its owner.
	_, err = set(patchgate.OwnerGroup, "web", "")
	must(t, err, "SetOwner remove")
	must(t, s.DeleteGroup(ctx, "db", newEvent(patchgate.EventGroupChanged)), "DeleteGroup")
	os, err = s.ListOwners(ctx)
	must(t, err, "ListOwners")
	same(t, "ListOwners after removals", os, want[2:])
}

func testComplianceSnapshots(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	snap := func(day, group string, compliant float64) patchgate.ComplianceSnapshot {
		return patchgate.ComplianceSnapshot{Day: day, Group: group, Hosts: 4, Applicable: 8, Installed: int(compliant * 8), Compliant: compliant, TakenAt: t0}
	}
	must(t, s.SaveComplianceSnapshots(ctx, []patchgate.ComplianceSnapshot{snap("2025-03-13", "all", 0.5), snap("2025-03-14", "all", 0.25), snap("2025-03-14", "web", 1)}), "Save")
	// The last of the day wins.
	must(t, s.SaveComplianceSnapshots(ctx, []patchgate.ComplianceSnapshot{snap("2025-03-14", "all", 0.75)}), "Save again")
	wantCode(t, s.SaveComplianceSnapshots(ctx, []patchgate.ComplianceSnapshot{snap("14/03", "all", 1)}), patchgate.CodeInvalid, "Save with a bad day")
	got, err := s.ListComplianceSnapshots(ctx, "2025-03-14")
	must(t, err, "List")
	same(t, "ListComplianceSnapshots", got, []patchgate.ComplianceSnapshot{snap("2025-03-14", "all", 0.75), snap("2025-03-14", "web", 1)})
	got, err = s.ListComplianceSnapshots(ctx, "2000-01-01")
	must(t, err, "List all")
	if len(got) != 3 || got[0].Day != "2025-03-13" {
		t.Errorf("all snapshots: %+v", got)
	}
}

// testOutboxStreams: mails of one subscription in different streams stay
// apart; manual action mail needs no subscription; a stable delivery ID
// enqueued twice is stored once.
func testOutboxStreams(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	sub := newSubscription("s1", "a@example.org")
	sub.Reports, sub.TimeZone = true, "Europe/Paris"
	must(t, s.CreateSubscription(ctx, sub, newEvent(patchgate.EventSubscriptionAdded)), "CreateSubscription")
	got, err := s.GetSubscription(ctx, "s1")
	must(t, err, "GetSubscription")
	same(t, "subscription with reports and a time zone", got, sub)

	due := t0.Add(time.Minute)
	draft := func(id, sid, stream string, evs ...patchgate.Event) patchgate.DeliveryDraft {
		return patchgate.DeliveryDraft{ID: id, SubscriptionID: sid, Channel: patchgate.ChannelEmail, Address: "a@example.org",
			Mode: patchgate.ModeImmediate, Stream: stream, Events: evs, DueAt: due, CreatedAt: t0}
	}
	e1, e2, e3, e4 := newEvent(patchgate.EventUpdateAdded), newEvent(patchgate.EventSLABreached), newEvent(patchgate.EventStatusReport), newEvent(patchgate.EventManualAction)
	owner := patchgate.OwnerSubscriptionID("owner@example.org")
	must(t, s.EnqueueDeliveries(ctx, 0, 1, []patchgate.DeliveryDraft{
		draft("d-fix", "s1", patchgate.StreamFixes, e1),
		draft("d-alert", "s1", patchgate.StreamAlert, e2),
		draft("d-report", "s1", patchgate.StreamReport, e3),
		draft("d-manual", owner, patchgate.StreamManual, e4),
		draft("d-gone", "gone", patchgate.StreamAlert, e2), // no subscription: dropped
	}), "EnqueueDeliveries")
	// Later alerts join the open alert delivery, not the fixes one; the
	// same stable ID again is not stored twice.
	e5 := newEvent(patchgate.EventRolloutHalted)
	must(t, s.EnqueueDeliveries(ctx, 1, 2, []patchgate.DeliveryDraft{draft("d-alert2", "s1", patchgate.StreamAlert, e5)}), "EnqueueDeliveries 2")
	ds, err := s.ClaimDeliveries(ctx, due, 10, func(int) time.Time { return due.Add(time.Hour) })
	must(t, err, "ClaimDeliveries")
	by := map[string]patchgate.Delivery{}
	for _, d := range ds {
		by[d.ID] = d
	}
	if len(ds) != 4 || len(by["d-fix"].Events) != 1 || len(by["d-alert"].Events) != 2 || by["d-alert"].Stream != patchgate.StreamAlert ||
		by["d-report"].Stream != patchgate.StreamReport || by["d-manual"].SubscriptionID != owner || by["d-manual"].Stream != patchgate.StreamManual {
		t.Fatalf("deliveries by stream: %+v", ds)
	}
	must(t, s.CompleteDelivery(ctx, "d-manual", due), "CompleteDelivery manual")
	must(t, s.EnqueueDeliveries(ctx, 2, 3, []patchgate.DeliveryDraft{draft("d-manual", owner, patchgate.StreamManual, e4)}), "EnqueueDeliveries same ID")
	sent, err := s.ListDeliveries(ctx, patchgate.DeliverySent, 10)
	must(t, err, "ListDeliveries")
	pending, err := s.ListDeliveries(ctx, patchgate.DeliveryPending, 10)
	must(t, err, "ListDeliveries")
	if len(sent) != 1 || sent[0].ID != "d-manual" || len(pending) != 3 {
		t.Errorf("a stable ID enqueued again: sent %+v, pending %d", sent, len(pending))
	}
}
