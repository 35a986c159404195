package notify

import (
	"strings"
	"testing"

	"github.com/patchgate/patchgate"
)

// TestOnlyPostedFixesAreNews: an added (received) fix sends nothing; its
// posting does; a words-only revision of a posted fix is news as revised;
// a revision back in received is not, until it is posted again.
func TestOnlyPostedFixesAreNews(t *testing.T) {
	f := newFixture(t)
	f.subscribe(t, patchgate.Subscription{ID: "s-all", Address: "all@example.org"})
	f.subscribe(t, patchgate.Subscription{ID: "s-new", Address: "new@example.org", Events: []string{patchgate.NotifyUpdateAdded}})
	d := New(f.cfg)
	ctx := t.Context()
	u := patchgate.Update{ID: "KB-1", Title: "Fix KB-1", Kind: patchgate.KindHotfix, Severity: patchgate.SeverityHigh, Reboot: patchgate.RebootNever,
		Products: []patchgate.ProductConstraint{{Name: "openssl"}},
		Payloads: []patchgate.Payload{{Name: "p.sh", Size: 1, SHA256: strings.Repeat("a", 64), Installer: patchgate.InstallerExec}}}
	put := func(u patchgate.Update) {
		t.Helper()
		if _, _, err := f.db.PutUpdate(ctx, u, patchgate.Event{Type: patchgate.EventUpdateAdded, Time: f.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	post := func() {
		t.Helper()
		_, err := f.db.TransitionUpdate(ctx, "KB-1", []patchgate.UpdateStatus{patchgate.StatusReceived}, patchgate.StatusPosted, true, f.clock.Now(),
			patchgate.Event{Type: patchgate.EventUpdatePosted, Time: f.clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
	}
	count := func(addr string) int { return len(f.sink.To(addr)) }

	put(u)
	round(t, d)
	if n := count("all@example.org"); n != 0 {
		t.Fatalf("a received fix sent %d mails", n)
	}
	post()
	round(t, d)
	if count("all@example.org") != 1 || count("new@example.org") != 1 {
		t.Fatalf("posting sent %d and %d mails, want 1 each", count("all@example.org"), count("new@example.org"))
	}
	u.Title = "Fix KB-1, better worded"
	put(u) // words only: stays posted
	round(t, d)
	if count("all@example.org") != 2 || count("new@example.org") != 1 {
		t.Fatalf("a words-only revision: %d and %d mails, want 2 and 1", count("all@example.org"), count("new@example.org"))
	}
	if m := f.sink.To("all@example.org")[1]; !strings.Contains(string(m.Data), "revised") {
		t.Error("the revision mail does not say revised")
	}
	u.Payloads[0].SHA256 = strings.Repeat("b", 64)
	put(u) // new payload: back to received
	round(t, d)
	if n := count("all@example.org"); n != 2 {
		t.Fatalf("a revision back in received sent mail (%d in all)", n)
	}
	post()
	round(t, d)
	if count("all@example.org") != 3 || count("new@example.org") != 1 {
		t.Fatalf("reposting a revision: %d and %d mails, want 3 and 1 (it is revised, not new)", count("all@example.org"), count("new@example.org"))
	}
}

// TestSyncedFixesAreNews: a fix a site server synced from its upstream
// arrives posted (update.synced) and is news as "new", even at a later
// upstream revision.
func TestSyncedFixesAreNews(t *testing.T) {
	f := newFixture(t)
	f.subscribe(t, patchgate.Subscription{ID: "s-new", Address: "new@example.org", Events: []string{patchgate.NotifyUpdateAdded}})
	f.subscribe(t, patchgate.Subscription{ID: "s-db", Address: "db@example.org", Products: []string{"postgres"}})
	d := New(f.cfg)
	ctx := t.Context()
	u := patchgate.Update{ID: "VEN-7", Title: "Vendor fix 7", Kind: patchgate.KindHotfix, Severity: patchgate.SeverityCritical, Reboot: patchgate.RebootNever,
		Products: []patchgate.ProductConstraint{{Name: "openssl"}},
		Payloads: []patchgate.Payload{{Name: "p.sh", Size: 1, SHA256: strings.Repeat("a", 64), Installer: patchgate.InstallerExec}}}
	if _, _, err := f.db.PutUpdate(ctx, u, patchgate.Event{Type: patchgate.EventUpdateAdded, Time: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.TransitionUpdate(ctx, "VEN-7", []patchgate.UpdateStatus{patchgate.StatusReceived}, patchgate.StatusPosted, true, f.clock.Now(),
		patchgate.Event{Type: patchgate.EventUpdateSynced, Time: f.clock.Now(), Detail: "revision 1 from upstream vendor (posted)"}); err != nil {
		t.Fatal(err)
	}
	round(t, d)
	ms := f.sink.To("new@example.org")
	if len(ms) != 1 || !strings.Contains(ms[0].Header.Get("Subject"), "new critical hotfix VEN-7") {
		t.Fatalf("new@ got %d mail(s) for a synced fix", len(ms))
	}
	if n := len(f.sink.To("db@example.org")); n != 0 {
		t.Fatalf("a postgres subscriber got %d mail(s) about openssl", n)
	}
}
