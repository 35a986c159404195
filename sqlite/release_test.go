package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

// TestMigrationPostsExistingUpdates: updates stored before the release
// lifecycle existed were visible to every group; after the upgrade they
// are posted, as of when they were added, so that nothing leaves a plan.
func TestMigrationPostsExistingUpdates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "patchgate.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	added := time.Date(2025, 11, 30, 23, 0, 0, 0, time.UTC)
	u := patchgate.Update{ID: "OLD-1", Title: "t", Kind: patchgate.KindHotfix, Severity: patchgate.SeverityCritical,
		Products: []patchgate.ProductConstraint{{Name: "app"}}, Reboot: patchgate.RebootNever, CreatedAt: added}
	if _, _, err := db.PutUpdate(ctx, u, patchgate.Event{Type: patchgate.EventUpdateAdded, Time: added}); err != nil {
		t.Fatal(err)
	}
	// Back to the schema before 0004, data kept: 0005 alters its tables
	// and 0010 puts triggers on them (0011 alters 0010's tables), so those are undone too.
	for _, q := range []string{`DROP TABLE update_status`, `DROP TABLE test_groups`, `DROP TABLE sla_policy`,
		`DROP TRIGGER feed_revision_update`, `DROP TRIGGER feed_update_delete`, `DROP TABLE feed_log`,
		`DROP TABLE server_identity`, `DROP TABLE downstream_chains`, `DROP TABLE upstreams`, `DROP TABLE update_origins`,
		`DROP TABLE synced_payloads`, `DROP TABLE sync_conflicts`, `DROP TABLE sync_runs`, `DROP TABLE site_compliance`,
		`DELETE FROM schema_migrations WHERE version IN (4, 5, 10, 11)`} {
		if _, err := db.w.ExecContext(ctx, q); err != nil {
			t.Fatal(q, err)
		}
	}
	db.Close()
	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := db.ReleaseState(ctx, "OLD-1")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != patchgate.StatusPosted || !st.PostedAt.Equal(added) || !st.ReceivedAt.Equal(added) || st.Revision != 1 {
		t.Errorf("after the upgrade: %+v, want posted at %s", st, added)
	}
}
