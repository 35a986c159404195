package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

func post(t *testing.T, s patchgate.Store, id string) {
	t.Helper()
	_, err := s.TransitionUpdate(t.Context(), id, []patchgate.UpdateStatus{patchgate.StatusReceived}, patchgate.StatusPosted, true, t0, newEvent(patchgate.EventUpdatePosted))
	must(t, err, "post "+id)
}

func feedIDs(es []patchgate.FeedEntry) string {
	var ids []string
	for _, e := range es {
		ids = append(ids, e.Update.ID+":"+string(e.Status))
	}
	return strings.Join(ids, ",")
}

// testServerID: every store has a valid id, the same on every call.
func testServerID(t *testing.T, s patchgate.Store) {
	id, err := s.ServerID(t.Context())
	must(t, err, "ServerID")
	if !patchgate.ValidServerID(id) {
		t.Fatalf("server id %q is not valid", id)
	}
	again, err := s.ServerID(t.Context())
	must(t, err, "ServerID")
	if again != id {
		t.Errorf("server id changed: %s then %s", id, again)
	}
}

// testFeedChanges: the feed shows released and withdrawn updates once
// each, at their latest change, in feed order; received ones are left out
// but skipped by the cursor; a page of limit entries continues from its
// last entry; a change moves the update to the end.
func testFeedChanges(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	es, next, rem, err := s.FeedChanges(ctx, 0, 10)
	must(t, err, "FeedChanges of an empty catalog")
	if len(es) != 0 || rem != 0 || next != 0 {
		t.Errorf("empty feed: %v next %d remaining %d", es, next, rem)
	}
	for _, id := range []string{"A", "B", "C", "D"} {
		putUpdate(t, s, newUpdate(id))
	}
	post(t, s, "B")
	post(t, s, "A")
	post(t, s, "C") // D stays received
	es, next, rem, err = s.FeedChanges(ctx, 0, 2)
	must(t, err, "FeedChanges")
	if got := feedIDs(es); got != "B:posted,A:posted" || rem != 1 || next != es[1].Seq {
		t.Errorf("first page %s next %d remaining %d, want B, A then 1 more", got, next, rem)
	}
	es2, next2, rem, err := s.FeedChanges(ctx, next, 2)
	must(t, err, "FeedChanges")
	if got := feedIDs(es2); got != "C:posted" || rem != 0 || next2 <= es2[0].Seq-1 {
		t.Errorf("second page %s next %d remaining %d", got, next2, rem)
	}
	es3, next3, _, err := s.FeedChanges(ctx, next2, 2)
	must(t, err, "FeedChanges")
	if len(es3) != 0 || next3 != next2 {
		t.Errorf("past the end: %s next %d (was %d)", feedIDs(es3), next3, next2)
	}
	// The entry carries the latest revision; a word-only revision of a
	// posted update is a change.
	u := newUpdate("A")
	u.Title = "Better title"
	putUpdate(t, s, u)
	_, err = s.TransitionUpdate(ctx, "C", []patchgate.UpdateStatus{patchgate.StatusPosted}, patchgate.StatusWithdrawn, false, t0, newEvent(patchgate.EventUpdateWithdrawn))
	must(t, err, "withdraw C")
	es, _, _, err = s.FeedChanges(ctx, next2, 10)
	must(t, err, "FeedChanges")
	if got := feedIDs(es); got != "A:posted,C:withdrawn" || es[0].Update.Revision != 2 || es[0].Update.Title != "Better title" {
		t.Errorf("after a revision and a withdrawal: %s %+v", got, es)
	}
	// From the start, each update once.
	es, _, _, err = s.FeedChanges(ctx, 0, 10)
	must(t, err, "FeedChanges")
	if got := feedIDs(es); got != "B:posted,A:posted,C:withdrawn" {
		t.Errorf("whole feed %s", got)
	}
	_, _, _, err = s.FeedChanges(ctx, 0, 0)
	wantCode(t, err, patchgate.CodeInvalid, "limit 0")
	_, _, _, err = s.FeedChanges(ctx, -1, 10)
	wantCode(t, err, patchgate.CodeInvalid, "negative cursor")
}

// testDownstreamChains: the latest chain of each downstream, recent ones.
func testDownstreamChains(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	a, b := "srv-00000000000000aa", "srv-00000000000000bb"
	must(t, s.RecordDownstream(ctx, a, []string{a}, t0), "RecordDownstream")
	must(t, s.RecordDownstream(ctx, a, []string{a, b}, t0.Add(time.Hour)), "RecordDownstream again")
	must(t, s.RecordDownstream(ctx, b, []string{b}, t0.Add(-48*time.Hour)), "RecordDownstream old")
	got, err := s.DownstreamChains(ctx, t0.Add(-time.Hour))
	must(t, err, "DownstreamChains")
	same(t, "recent chains", got, [][]string{{a, b}})
}

func newUpstream(name string) patchgate.Upstream {
	return patchgate.Upstream{Name: name, URL: "https://" + name + ".example.org:8443", CAFingerprint: strings.Repeat("ab", 32),
		Token: "pgt.0123456789ab.secret", Products: []string{"cisco.ucce"}, Kinds: []patchgate.Kind{patchgate.KindHotfix},
		Content: patchgate.ContentOnApproval, Mode: patchgate.ModeAutonomous, CreatedAt: t0, CreatedBy: "storetest"}
}

// testUpstreams: add, get (with the token), list, remove; a name twice
// is a conflict; unknown names are not found.
func testUpstreams(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	u := newUpstream("vendor")
	u.RootPins = map[string]string{"srv-0123456789abcdef": strings.Repeat("cd", 32)}
	must(t, s.AddUpstream(ctx, u, newEvent(patchgate.EventUpstreamChange)), "AddUpstream")
	wantCode(t, s.AddUpstream(ctx, u, newEvent(patchgate.EventUpstreamChange)), patchgate.CodeConflict, "AddUpstream twice")
	all := newUpstream("central")
	all.Products, all.Kinds, all.Content = nil, nil, patchgate.ContentImmediate
	must(t, s.AddUpstream(ctx, all, newEvent(patchgate.EventUpstreamChange)), "AddUpstream")
	got, err := s.GetUpstream(ctx, "vendor")
	must(t, err, "GetUpstream")
	same(t, "stored upstream", got, u)
	list, err := s.Upstreams(ctx)
	must(t, err, "Upstreams")
	all.Products, all.Kinds = []string{}, []patchgate.Kind{}
	same(t, "upstreams", list, []patchgate.Upstream{all, u})
	ev := newEvent(patchgate.EventUpstreamChange)
	must(t, s.RemoveUpstream(ctx, "vendor", ev), "RemoveUpstream")
	findEvent(t, s, ev.ID)
	wantNotFound(t, s.RemoveUpstream(ctx, "vendor", newEvent(patchgate.EventUpstreamChange)), "RemoveUpstream twice")
	_, err = s.GetUpstream(ctx, "vendor")
	wantNotFound(t, err, "GetUpstream after removal")
}

func entry(seq int64, u patchgate.Update, rev int, st patchgate.UpdateStatus) patchgate.FeedEntry {
	u.Revision = rev
	return patchgate.FeedEntry{Seq: seq, Update: u, Status: st}
}

// testApplySync: a page is stored as DecideSync says, with its events and
// the cursor, in one transaction; a page from a stale cursor is refused
// and stores nothing; conflicts are recorded once and reported; synced
// updates are released, carry the upstream's revision and appear in this
// store's own feed.
func testApplySync(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	must(t, s.AddUpstream(ctx, newUpstream("vendor"), newEvent(patchgate.EventUpstreamChange)), "AddUpstream")
	putUpdate(t, s, newUpdate("LOCAL-1"))
	other := newUpdate("OTHER-1")
	other.Products = []patchgate.ProductConstraint{{Name: "openssl"}}
	anc := []string{"srv-00000000000000aa", "srv-00000000000000bb"}
	b := patchgate.SyncBatch{Upstream: "vendor", Ancestors: anc, From: 0, Next: 10, At: t0, Actor: "upstream:vendor", Bytes: 100, Entries: []patchgate.FeedEntry{
		entry(3, newUpdate("HF-1"), 2, patchgate.StatusPosted),
		entry(4, newUpdate("HF-2"), 1, patchgate.StatusSuperseded),
		entry(5, other, 1, patchgate.StatusPosted),                  // filtered: product
		entry(6, newUpdate("LOCAL-1"), 1, patchgate.StatusPosted),   // conflict
		entry(7, newUpdate("GONE-1"), 1, patchgate.StatusWithdrawn), // never had it
	}}
	got, err := s.ApplySync(ctx, b)
	must(t, err, "ApplySync")
	same(t, "counts", got.Counts, patchgate.SyncCounts{New: 2, FilteredOut: 1, Conflicts: 1, Unchanged: 1, Bytes: 100})
	same(t, "changed", got.Changed, []string{"HF-1", "HF-2"})
	up, err := s.GetUpstream(ctx, "vendor")
	must(t, err, "GetUpstream")
	if up.Cursor != 10 {
		t.Errorf("cursor %d, want 10", up.Cursor)
	}
	same(t, "ancestors stored with the page", up.Ancestors, anc)
	u, err := s.GetUpdate(ctx, "HF-1")
	must(t, err, "GetUpdate")
	if u.Revision != 2 || u.Title != "Fix for HF-1" {
		t.Errorf("synced update %+v, want revision 2 as the upstream has it", u)
	}
	st, err := s.ReleaseState(ctx, "HF-2")
	must(t, err, "ReleaseState")
	if st.Status != patchgate.StatusSuperseded {
		t.Errorf("HF-2 is %s, want superseded as upstream", st.Status)
	}
	if _, err := s.GetUpdate(ctx, "OTHER-1"); !patchgate.IsNotFound(err) {
		t.Errorf("filtered update stored: %v", err)
	}
	if local, _ := s.GetUpdate(ctx, "LOCAL-1"); local.Revision != 1 {
		t.Errorf("local update overwritten: %+v", local)
	}
	if evs := eventsOfType(t, s, patchgate.EventUpdateSynced); len(evs) != 2 || evs[0].UpdateID != "HF-1" {
		t.Errorf("update.synced events %+v", evs)
	}
	if evs := eventsOfType(t, s, patchgate.EventSyncConflict); len(evs) != 1 || evs[0].UpdateID != "LOCAL-1" {
		t.Errorf("sync.conflict events %+v", evs)
	}
	cs, err := s.SyncConflicts(ctx)
	must(t, err, "SyncConflicts")
	if len(cs) != 1 || cs[0].UpdateID != "LOCAL-1" || cs[0].Held != "local" || cs[0].Upstream != "vendor" {
		t.Errorf("conflicts %+v", cs)
	}

	// The same page again, from the old cursor: refused, nothing stored.
	before := len(allEvents(t, s))
	_, err = s.ApplySync(ctx, b)
	wantCode(t, err, patchgate.CodeConflict, "ApplySync from a stale cursor")
	if after := len(allEvents(t, s)); after != before {
		t.Errorf("refused page appended %d events", after-before)
	}
	// An invalid entry refuses the whole page.
	bad := patchgate.SyncBatch{Upstream: "vendor", From: 10, Next: 12, At: t0, Entries: []patchgate.FeedEntry{
		entry(11, newUpdate("HF-9"), 1, patchgate.StatusPosted), entry(12, newUpdate("HF-10"), 1, patchgate.StatusReceived)}}
	_, err = s.ApplySync(ctx, bad)
	wantCode(t, err, patchgate.CodeInvalid, "ApplySync of a received update")
	if _, err := s.GetUpdate(ctx, "HF-9"); !patchgate.IsNotFound(err) {
		t.Errorf("part of a refused page stored: %v", err)
	}

	// Replayed entries change nothing; a newer revision, a withdrawal.
	rev := newUpdate("HF-2")
	rev.Description = "Now with notes."
	b2 := patchgate.SyncBatch{Upstream: "vendor", From: 10, Next: 20, At: t0.Add(time.Hour), Entries: []patchgate.FeedEntry{
		entry(11, newUpdate("HF-1"), 2, patchgate.StatusPosted),
		entry(12, rev, 3, patchgate.StatusSuperseded),
		entry(13, newUpdate("HF-1"), 2, patchgate.StatusWithdrawn),
	}}
	got, err = s.ApplySync(ctx, b2)
	must(t, err, "ApplySync")
	same(t, "counts", got.Counts, patchgate.SyncCounts{Revised: 1, Withdrawn: 1, Unchanged: 1})
	st, err = s.ReleaseState(ctx, "HF-1")
	must(t, err, "ReleaseState")
	if st.Status != patchgate.StatusWithdrawn {
		t.Errorf("HF-1 is %s, want withdrawn", st.Status)
	}
	if u, _ := s.GetUpdate(ctx, "HF-2"); u.Revision != 3 || u.Description != "Now with notes." {
		t.Errorf("revised update %+v", u)
	}

	// Payloads: where to fetch them, and whether they are approved.
	createGroup(t, s, "prod")
	must(t, s.SetApprovals(ctx, []patchgate.Approval{{UpdateID: "HF-2", Group: "prod", Action: patchgate.ActionInstall, CreatedAt: t0}}, newEvent(patchgate.EventApproved)), "SetApprovals")
	pays, err := s.SyncedPayloads(ctx, "")
	must(t, err, "SyncedPayloads")
	sha := newUpdate("HF-2").Payloads[0].SHA256
	same(t, "synced payloads", pays, []patchgate.SyncedPayload{{SHA256: sha, Size: 1234, Upstream: "vendor", Approved: true}})
	pays, err = s.SyncedPayloads(ctx, strings.Repeat("0", 64))
	must(t, err, "SyncedPayloads of another sha")
	if len(pays) != 0 {
		t.Errorf("payloads of an unknown sha: %+v", pays)
	}

	// This store's own feed offers what it synced, to its downstreams.
	es, _, _, err := s.FeedChanges(ctx, 0, 100)
	must(t, err, "FeedChanges")
	if got := feedIDs(es); got != "HF-2:superseded,HF-1:withdrawn" {
		t.Errorf("feed of synced updates %s", got)
	}
	_, err = s.ApplySync(ctx, patchgate.SyncBatch{Upstream: "nope", Next: 1})
	wantNotFound(t, err, "ApplySync of an unknown upstream")
}

// testSyncRuns: a run is recorded when it starts and finished with its
// event; runs list newest first, per upstream.
func testSyncRuns(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	r1 := patchgate.SyncRun{ID: "sync-1", Upstream: "vendor", Status: patchgate.SyncRunning, StartedAt: t0, Trigger: "manual"}
	r2 := patchgate.SyncRun{ID: "sync-2", Upstream: "central", Status: patchgate.SyncRunning, StartedAt: t0.Add(time.Minute), Trigger: "schedule"}
	must(t, s.StartSyncRun(ctx, r1), "StartSyncRun")
	must(t, s.StartSyncRun(ctx, r2), "StartSyncRun")
	r1.Status, r1.FinishedAt, r1.Cursor, r1.Error = patchgate.SyncFailed, t0.Add(2*time.Minute), 7, "upstream vendor answered 401"
	r1.Counts = patchgate.SyncCounts{New: 3, Bytes: 99}
	r1.Done, r1.Total = 5, 5
	r1.Policy = &patchgate.ReplicaApplied{Changed: true, Groups: 2}
	ev := newEvent(patchgate.EventSyncFailed)
	must(t, s.FinishSyncRun(ctx, r1, ev), "FinishSyncRun")
	findEvent(t, s, ev.ID)
	runs, err := s.SyncRuns(ctx, "", 10)
	must(t, err, "SyncRuns")
	same(t, "runs", runs, []patchgate.SyncRun{r2, r1})
	runs, err = s.SyncRuns(ctx, "vendor", 10)
	must(t, err, "SyncRuns of vendor")
	same(t, "vendor runs", runs, []patchgate.SyncRun{r1})
	wantNotFound(t, s.FinishSyncRun(ctx, patchgate.SyncRun{ID: "nope", FinishedAt: t0}, newEvent(patchgate.EventSyncFailed)), "FinishSyncRun of an unknown run")
}

// testSiteCompliance: summaries are replaced per sending downstream; a
// site moved under another downstream follows it.
func testSiteCompliance(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	b, c, d := "srv-00000000000000bb", "srv-00000000000000cc", "srv-00000000000000dd"
	row := patchgate.ComplianceRow{UpdateID: "HF-1", Title: "fix", Severity: patchgate.SeverityHigh, Group: "tills", Hosts: 3, Installed: 2, Needed: 1}
	siteB := patchgate.SiteCompliance{ServerID: b, Name: "branch-b", GeneratedAt: t0, Rows: []patchgate.ComplianceRow{row}}
	siteC := patchgate.SiteCompliance{ServerID: c, Name: "branch-c", GeneratedAt: t0.Add(-time.Hour), Rows: []patchgate.ComplianceRow{}}
	must(t, s.PutSiteCompliance(ctx, b, []patchgate.SiteCompliance{siteB, siteC}, t0.Add(time.Minute)), "PutSiteCompliance")
	got, err := s.SiteCompliances(ctx)
	must(t, err, "SiteCompliances")
	wantB, wantC := siteB, siteC
	wantB.Via, wantB.ReceivedAt = b, t0.Add(time.Minute)
	wantC.Via, wantC.ReceivedAt = b, t0.Add(time.Minute)
	same(t, "sites", got, []patchgate.SiteCompliance{wantB, wantC})
	// b reports again without c; d now reports c.
	must(t, s.PutSiteCompliance(ctx, b, []patchgate.SiteCompliance{siteB}, t0.Add(2*time.Minute)), "PutSiteCompliance")
	must(t, s.PutSiteCompliance(ctx, d, []patchgate.SiteCompliance{siteC}, t0.Add(3*time.Minute)), "PutSiteCompliance")
	got, err = s.SiteCompliances(ctx)
	must(t, err, "SiteCompliances")
	if len(got) != 2 || got[0].ServerID != b || got[1].ServerID != c || got[1].Via != d || !got[0].ReceivedAt.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("after the sites moved: %+v", got)
	}
}

// testDeleteUpdates: only withdrawn or superseded updates are removed,
// with their revisions, approvals and feed entry; the payloads of every
// revision are listed.
func testDeleteUpdates(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	putUpdate(t, s, newUpdate("HF-1"))
	rev := newUpdate("HF-1")
	rev.Payloads[0].SHA256 = strings.Repeat("b", 64)
	putUpdate(t, s, rev)
	putUpdate(t, s, newUpdate("HF-2"))
	post(t, s, "HF-1")
	post(t, s, "HF-2")
	_, err := s.TransitionUpdate(ctx, "HF-1", []patchgate.UpdateStatus{patchgate.StatusPosted}, patchgate.StatusWithdrawn, false, t0, newEvent(patchgate.EventUpdateWithdrawn))
	must(t, err, "withdraw")
	createGroup(t, s, "prod")
	must(t, s.SetApprovals(ctx, []patchgate.Approval{{UpdateID: "HF-1", Group: "prod", Action: patchgate.ActionDecline, CreatedAt: t0}}, newEvent(patchgate.EventApproved)), "SetApprovals")
	pays, err := s.RevisionPayloads(ctx)
	must(t, err, "RevisionPayloads")
	if len(pays) != 3 || pays[0].UpdateID != "HF-1" || pays[1].SHA256 != strings.Repeat("b", 64) || pays[1].Revision != 2 {
		t.Errorf("revision payloads %+v", pays)
	}
	ev := newEvent(patchgate.EventPurge)
	removed, err := s.DeleteUpdates(ctx, []string{"HF-1", "HF-2", "nope"}, ev)
	must(t, err, "DeleteUpdates")
	same(t, "removed", removed, []string{"HF-1"})
	if _, err := s.GetUpdate(ctx, "HF-1"); !patchgate.IsNotFound(err) {
		t.Errorf("removed update still there: %v", err)
	}
	if _, err := s.GetUpdate(ctx, "HF-2"); err != nil {
		t.Errorf("posted update removed: %v", err)
	}
	as, err := s.ListApprovals(ctx)
	must(t, err, "ListApprovals")
	if len(as) != 0 {
		t.Errorf("approvals of a removed update left: %+v", as)
	}
	es, _, _, err := s.FeedChanges(ctx, 0, 10)
	must(t, err, "FeedChanges")
	if got := feedIDs(es); got != "HF-2:posted" {
		t.Errorf("feed after removal %s", got)
	}
	pays, err = s.RevisionPayloads(ctx)
	must(t, err, "RevisionPayloads")
	if len(pays) != 1 || pays[0].UpdateID != "HF-2" {
		t.Errorf("payloads after removal %+v", pays)
	}
	findEvent(t, s, ev.ID)
	// Put again after removal: a fresh update, revision 1.
	if u := putUpdate(t, s, newUpdate("HF-1")); u.Revision != 1 {
		t.Errorf("re-added update at revision %d", u.Revision)
	}
}

// testApplyReplicaPolicy: groups, approvals and windows become the
// policy's (host memberships of kept groups stay; approvals of updates not
// held are skipped); the same digest again changes nothing.
func testApplyReplicaPolicy(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	must(t, s.AddUpstream(ctx, newUpstream("central"), newEvent(patchgate.EventUpstreamChange)), "AddUpstream")
	putUpdate(t, s, newUpdate("HF-1"))
	post(t, s, "HF-1")
	createGroup(t, s, "tills")
	createGroup(t, s, "local")
	enroll(t, s, "h1", "tills")
	must(t, s.SetApprovals(ctx, []patchgate.Approval{{UpdateID: "HF-1", Group: "local", Action: patchgate.ActionInstall, CreatedAt: t0}}, newEvent(patchgate.EventApproved)), "SetApprovals")
	p := patchgate.ReplicaPolicy{
		Groups:    []patchgate.Group{{Name: "tills", Description: "from central", CreatedAt: t0}, {Name: "kiosks", CreatedAt: t0}},
		Approvals: []patchgate.Approval{{UpdateID: "HF-1", Group: "tills", Action: patchgate.ActionInstall, CreatedBy: "token:central-admin", CreatedAt: t0}, {UpdateID: "NOT-HERE", Group: "all", Action: patchgate.ActionDecline, CreatedAt: t0}},
		Windows:   []patchgate.Window{{Group: "kiosks", Schedule: "0 22 * * *", Duration: 2 * time.Hour, TimeZone: "UTC", UpdatedAt: t0}},
	}
	ev := newEvent(patchgate.EventReplicaPolicy)
	got, err := s.ApplyReplicaPolicy(ctx, "central", p, "digest-1", ev)
	must(t, err, "ApplyReplicaPolicy")
	same(t, "applied", got, patchgate.ReplicaApplied{Changed: true, Groups: 2, Approvals: 1, Windows: 1, Skipped: 1})
	findEvent(t, s, ev.ID)
	groups, err := s.ListGroups(ctx)
	must(t, err, "ListGroups")
	var names []string
	for _, g := range groups {
		names = append(names, g.Name)
		if g.Name == "tills" && (g.Hosts != 1 || g.Description != "from central") {
			t.Errorf("kept group %+v: the host stays assigned", g)
		}
	}
	same(t, "groups", names, []string{"all", "kiosks", "tills"})
	as, err := s.ListApprovals(ctx)
	must(t, err, "ListApprovals")
	if len(as) != 1 || as[0].Group != "tills" || as[0].CreatedBy != "token:central-admin" {
		t.Errorf("approvals %+v", as)
	}
	ws, err := s.ListWindows(ctx)
	must(t, err, "ListWindows")
	if len(ws) != 1 || ws[0].Group != "kiosks" {
		t.Errorf("windows %+v", ws)
	}
	before := len(allEvents(t, s))
	got, err = s.ApplyReplicaPolicy(ctx, "central", p, "digest-1", newEvent(patchgate.EventReplicaPolicy))
	must(t, err, "ApplyReplicaPolicy again")
	if got.Changed || len(allEvents(t, s)) != before {
		t.Errorf("the same policy again: %+v", got)
	}
	_, err = s.ApplyReplicaPolicy(ctx, "nope", p, "d", newEvent(patchgate.EventReplicaPolicy))
	wantNotFound(t, err, "ApplyReplicaPolicy of an unknown upstream")
	// One replica upstream at most.
	r := newUpstream("r1")
	r.Mode = patchgate.ModeReplica
	must(t, s.AddUpstream(ctx, r, newEvent(patchgate.EventUpstreamChange)), "AddUpstream replica")
	r.Name = "r2"
	wantCode(t, s.AddUpstream(ctx, r, newEvent(patchgate.EventUpstreamChange)), patchgate.CodeConflict, "a second replica upstream")
}
