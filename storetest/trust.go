package storetest

import (
	"testing"

	"github.com/patchgate/patchgate"
)

// testUpdateOrigins: synced updates map to their upstream, local ones are
// absent.
func testUpdateOrigins(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	putUpdate(t, s, newUpdate("LOCAL-1"))
	got, err := s.UpdateOrigins(ctx)
	must(t, err, "UpdateOrigins")
	same(t, "origins before a sync", got, map[string]string{})
	must(t, s.AddUpstream(ctx, newUpstream("vendor"), newEvent(patchgate.EventUpstreamChange)), "AddUpstream")
	_, err = s.ApplySync(ctx, patchgate.SyncBatch{Upstream: "vendor", From: 0, Next: 2, At: t0, Actor: "upstream:vendor", Entries: []patchgate.FeedEntry{
		entry(1, newUpdate("HF-1"), 1, patchgate.StatusPosted),
		entry(2, newUpdate("HF-2"), 3, patchgate.StatusSuperseded),
	}})
	must(t, err, "ApplySync")
	got, err = s.UpdateOrigins(ctx)
	must(t, err, "UpdateOrigins")
	same(t, "origins", got, map[string]string{"HF-1": "vendor", "HF-2": "vendor"})
}

// testUpdateRepos: a synced update keeps the repository its upstream's
// feed said signs it, and the feed passes it on; this server's own
// updates are signed by its own repository (its server id).
func testUpdateRepos(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	putUpdate(t, s, newUpdate("LOCAL-1"))
	post(t, s, "LOCAL-1")
	must(t, s.AddUpstream(ctx, newUpstream("vendor"), newEvent(patchgate.EventUpstreamChange)), "AddUpstream")
	e1 := entry(1, newUpdate("HF-1"), 1, patchgate.StatusPosted)
	e1.Repo = "srv-0123456789abcdef"
	e2 := entry(2, newUpdate("HF-2"), 1, patchgate.StatusPosted) // from a server without signed updates
	_, err := s.ApplySync(ctx, patchgate.SyncBatch{Upstream: "vendor", From: 0, Next: 2, At: t0, Actor: "upstream:vendor", Entries: []patchgate.FeedEntry{e1, e2}})
	must(t, err, "ApplySync")
	got, err := s.UpdateRepos(ctx)
	must(t, err, "UpdateRepos")
	same(t, "repos", got, map[string]string{"HF-1": "srv-0123456789abcdef"})
	self, err := s.ServerID(ctx)
	must(t, err, "ServerID")
	es, _, _, err := s.FeedChanges(ctx, 0, 10)
	must(t, err, "FeedChanges")
	repos := map[string]string{}
	for _, e := range es {
		repos[e.Update.ID] = e.Repo
	}
	same(t, "feed repos", repos, map[string]string{"LOCAL-1": self, "HF-1": "srv-0123456789abcdef", "HF-2": ""})
}
