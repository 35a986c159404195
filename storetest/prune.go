package storetest

import (
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

func testPruneEvents(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	enroll(t, s, "h1", "")
	before := len(allEvents(t, s)) // enrolment events, dated t0
	var evs []patchgate.Event
	for i := range 5 {
		evs = append(evs, agentEvent("old"+string(rune('a'+i)), "h1", "HF-1", patchgate.StateDownloading, t0.Add(time.Duration(i)*time.Minute)))
	}
	for i := range 3 {
		evs = append(evs, agentEvent("new"+string(rune('a'+i)), "h1", "HF-1", patchgate.StateInstalled, t0.Add(48*time.Hour+time.Duration(i)*time.Minute)))
	}
	record(t, s, evs, len(evs))
	cutoff := t0.Add(24 * time.Hour)

	// A limit bounds one call; calls add up to the whole cut.
	n, err := s.PruneEvents(ctx, cutoff, 2)
	must(t, err, "PruneEvents")
	if n != 2 {
		t.Fatalf("pruned %d with limit 2", n)
	}
	n, err = s.PruneEvents(ctx, cutoff, 1000)
	must(t, err, "PruneEvents")
	if want := before + 5 - 2; n != want {
		t.Fatalf("pruned %d, want %d", n, want)
	}
	left := allEvents(t, s)
	if len(left) != 3 {
		t.Fatalf("%d events left, want the 3 recent ones: %+v", len(left), left)
	}
	for _, e := range left {
		if e.Time.Before(cutoff) {
			t.Errorf("an old event survived: %+v", e)
		}
	}
	// Deployment states are not events: they stay.
	if ds := deployments(t, s, "h1"); len(ds) != 1 || ds[0].State != patchgate.StateInstalled {
		t.Errorf("deployments after pruning: %+v", ds)
	}
	n, err = s.PruneEvents(ctx, cutoff, 1000)
	must(t, err, "PruneEvents")
	if n != 0 {
		t.Errorf("a second prune deleted %d", n)
	}
}
