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
