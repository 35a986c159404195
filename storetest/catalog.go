package storetest

import (
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

func testPutUpdateRevisions(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	u := newUpdate("HF-100")

	ev1 := newEvent("")
	got, created, err := s.PutUpdate(ctx, u, ev1)
	must(t, err, "PutUpdate new")
	if !created || got.Revision != 1 {
		t.Errorf("new update: created=%v revision=%d, want true, 1", created, got.Revision)
	}
	if e := findEvent(t, s, ev1.ID); e.Type != patchgate.EventUpdateAdded || e.UpdateID != u.ID {
		t.Errorf("event of a new update: type %q update %q, want %q, %q", e.Type, e.UpdateID, patchgate.EventUpdateAdded, u.ID)
	}

	// The same metadata, whatever the fields a store sets say and in
	// whichever zone the release date is written, is no new revision.
	again := u
	again.Revision = 7
	again.CreatedAt = t0.Add(time.Hour)
	again.CreatedBy = "someone else"
	again.ReleaseDate = u.ReleaseDate.In(elsewhere)
	ev2 := newEvent(patchgate.EventUpdateRevised)
	got, created, err = s.PutUpdate(ctx, again, ev2)
	must(t, err, "PutUpdate same")
	if created || got.Revision != 1 {
		t.Errorf("same metadata: created=%v revision=%d, want false, 1", created, got.Revision)
	}
	if got.CreatedBy != u.CreatedBy {
		t.Errorf("same metadata: CreatedBy = %q, want the stored %q", got.CreatedBy, u.CreatedBy)
	}
	if hasEvent(allEvents(t, s), ev2.ID) {
		t.Errorf("an unchanged update appended event %s", ev2.ID)
	}

	changed := u
	changed.Title = "Fix for HF-100, second attempt"
	ev3 := newEvent("")
	got, created, err = s.PutUpdate(ctx, changed, ev3)
	must(t, err, "PutUpdate changed")
	if !created || got.Revision != 2 {
		t.Errorf("changed metadata: created=%v revision=%d, want true, 2", created, got.Revision)
	}
	if e := findEvent(t, s, ev3.ID); e.Type != patchgate.EventUpdateRevised || e.UpdateID != u.ID {
		t.Errorf("event of a revision: type %q update %q, want %q, %q", e.Type, e.UpdateID, patchgate.EventUpdateRevised, u.ID)
	}
	latest, err := s.GetUpdate(ctx, u.ID)
	must(t, err, "GetUpdate")
	if latest.Revision != 2 || latest.Title != changed.Title {
		t.Errorf("GetUpdate: revision %d title %q, want 2, %q", latest.Revision, latest.Title, changed.Title)
	}

	// Going back to the first metadata is a change from the latest.
	got, created, err = s.PutUpdate(ctx, u, newEvent(""))
	must(t, err, "PutUpdate reverted")
	if !created || got.Revision != 3 {
		t.Errorf("reverted metadata: created=%v revision=%d, want true, 3", created, got.Revision)
	}

	// Every change of metadata counts, not only the title.
	cur := u
	for i, mutate := range []func(*patchgate.Update){
		func(u *patchgate.Update) { u.Severity = patchgate.SeverityCritical },
		func(u *patchgate.Update) { u.Payloads[0].Args = []string{"--loud"} },
		func(u *patchgate.Update) { u.Products = u.Products[:1] },
		func(u *patchgate.Update) { u.ReleaseDate = u.ReleaseDate.Add(time.Microsecond) },
	} {
		// Copied so that mutating cur leaves what was stored alone.
		cur.Payloads = append([]patchgate.Payload(nil), cur.Payloads...)
		cur.Products = append([]patchgate.ProductConstraint(nil), cur.Products...)
		mutate(&cur)
		got, created, err := s.PutUpdate(ctx, cur, newEvent(""))
		must(t, err, "PutUpdate mutated")
		if want := 4 + i; !created || got.Revision != want {
			t.Errorf("mutation %d: created=%v revision=%d, want true, %d", i, created, got.Revision, want)
		}
	}

	list, err := s.ListUpdates(ctx, patchgate.UpdateFilter{})
	must(t, err, "ListUpdates")
	if len(list) != 1 || list[0].Revision != 7 {
		t.Errorf("ListUpdates: %d updates, want 1 at revision 7: %+v", len(list), list)
	}

	_, err = s.GetUpdate(ctx, "NOPE")
	wantNotFound(t, err, "GetUpdate of an unknown id")
}

func testPutUpdateRoundTrip(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	u := newUpdate("SR-7")
	u.Kind = patchgate.KindServiceRelease
	u.CreatedAt = t0.In(elsewhere)
	u.ReleaseDate = t0.Add(-time.Hour).In(elsewhere)
	stored, _, err := s.PutUpdate(ctx, u, newEvent(""))
	must(t, err, "PutUpdate")

	want := u
	want.Revision = 1
	same(t, "PutUpdate result", stored, want)
	got, err := s.GetUpdate(ctx, u.ID)
	must(t, err, "GetUpdate")
	same(t, "GetUpdate", got, want)
	if !got.CreatedAt.Equal(t0) || !got.ReleaseDate.Equal(u.ReleaseDate) {
		t.Errorf("times: created %v release %v, want %v, %v", got.CreatedAt, got.ReleaseDate, t0, u.ReleaseDate)
	}

	// Without a creation time the store records one.
	bare := patchgate.Update{ID: "BARE-1", Title: "bare", Kind: patchgate.KindFeature, Severity: patchgate.SeverityLow, Reboot: patchgate.RebootNever}
	stored, _, err = s.PutUpdate(ctx, bare, newEvent(""))
	must(t, err, "PutUpdate bare")
	if stored.CreatedAt.IsZero() {
		t.Error("PutUpdate left CreatedAt zero")
	}
	got, err = s.GetUpdate(ctx, bare.ID)
	must(t, err, "GetUpdate bare")
	same(t, "bare update", got, stored)
}

func testListUpdates(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	mk := func(id string, k patchgate.Kind, sev patchgate.Severity, products ...string) patchgate.Update {
		u := newUpdate(id)
		u.Kind, u.Severity, u.Products = k, sev, nil
		for _, p := range products {
			u.Products = append(u.Products, patchgate.ProductConstraint{Name: p})
		}
		return u
	}
	// Put out of order: the list is ordered by id.
	for _, u := range []patchgate.Update{
		mk("C-3", patchgate.KindSecurity, patchgate.SeverityCritical, "openssl"),
		mk("A-1", patchgate.KindHotfix, patchgate.SeverityHigh, "cisco.ucce", "openssl"),
		mk("B-2", patchgate.KindHotfix, patchgate.SeverityLow, "cisco.ucce"),
		mk("D-4", patchgate.KindServiceRelease, patchgate.SeverityHigh, "cisco.cvp"),
	} {
		putUpdate(t, s, u)
	}
	// A revision changes what the filters see: only the latest counts.
	putUpdate(t, s, mk("D-4", patchgate.KindServiceRelease, patchgate.SeverityMedium, "cisco.ucce"))

	ids := func(us []patchgate.Update) []string {
		out := []string{}
		for _, u := range us {
			out = append(out, u.ID)
		}
		return out
	}
	for _, tc := range []struct {
		f    patchgate.UpdateFilter
		want []string
	}{
		{patchgate.UpdateFilter{}, []string{"A-1", "B-2", "C-3", "D-4"}},
		{patchgate.UpdateFilter{Kind: patchgate.KindHotfix}, []string{"A-1", "B-2"}},
		{patchgate.UpdateFilter{Severity: patchgate.SeverityHigh}, []string{"A-1"}},
		{patchgate.UpdateFilter{Severity: patchgate.SeverityMedium}, []string{"D-4"}},
		{patchgate.UpdateFilter{Product: "cisco.ucce"}, []string{"A-1", "B-2", "D-4"}},
		{patchgate.UpdateFilter{Product: "cisco.cvp"}, []string{}},
		{patchgate.UpdateFilter{Product: "openssl", Kind: patchgate.KindSecurity}, []string{"C-3"}},
		{patchgate.UpdateFilter{Product: "cisco.ucce", Kind: patchgate.KindHotfix, Severity: patchgate.SeverityLow}, []string{"B-2"}},
		{patchgate.UpdateFilter{Kind: patchgate.KindFeature}, []string{}},
	} {
		us, err := s.ListUpdates(ctx, tc.f)
		must(t, err, "ListUpdates")
		same(t, "ListUpdates "+describe(tc.f), ids(us), tc.want)
	}
	us, err := s.ListUpdates(ctx, patchgate.UpdateFilter{Product: "cisco.ucce"})
	must(t, err, "ListUpdates")
	for _, u := range us {
		if u.ID == "D-4" && (u.Revision != 2 || u.Severity != patchgate.SeverityMedium) {
			t.Errorf("ListUpdates returned D-4 at revision %d, severity %s; want the latest, 2, medium", u.Revision, u.Severity)
		}
	}
}

func describe(f patchgate.UpdateFilter) string {
	return "kind=" + string(f.Kind) + " severity=" + string(f.Severity) + " product=" + f.Product
}
