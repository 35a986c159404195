package server_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/content"
	"github.com/patchgate/patchgate/server"
	"github.com/patchgate/patchgate/sqlite"
)

func TestEventRetention(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlite.Open(filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cs, err := content.Open(filepath.Join(dir, "content"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	ctx := context.Background()
	for i, at := range []time.Time{now.AddDate(-2, 0, 0), now.AddDate(-1, 0, -1), now.AddDate(0, -1, 0), now} {
		ev := patchgate.Event{ID: "ev" + string(rune('a'+i)), Time: at, Type: patchgate.EventGroupChanged, Actor: "test"}
		if err := db.AppendEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	keep := server.New(server.Config{Store: db, Content: cs, Clock: func() time.Time { return now }})
	defer keep.Close()
	keep.PruneEvents(ctx) // retention 0: keeps everything
	if evs, _ := db.ListEvents(ctx, patchgate.EventFilter{}); len(evs) != 4 {
		t.Fatalf("retention 0 pruned: %d events left", len(evs))
	}
	srv := server.New(server.Config{Store: db, Content: cs, Clock: func() time.Time { return now }, EventRetention: 365 * 24 * time.Hour})
	defer srv.Close()
	srv.PruneEvents(ctx)
	evs, err := db.ListEvents(ctx, patchgate.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].ID != "evc" || evs[1].ID != "evd" {
		t.Fatalf("after a year's retention: %+v", evs)
	}
}
