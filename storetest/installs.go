package storetest

import (
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

// testRecentInstalls: completed installs with their download start, newest
// first; reboots completing, manual records, failures and installs without
// a download are not samples.
func testRecentInstalls(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	for _, h := range []string{"h1", "h2", "h3"} {
		enroll(t, s, h, "")
	}
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	got, err := s.RecentInstalls(ctx, 10)
	must(t, err, "RecentInstalls")
	if len(got) != 0 {
		t.Fatalf("a new store has installs: %+v", got)
	}
	ev := agentEvent
	record(t, s, []patchgate.Event{
		// h1 installs A (download 10 s, install 20 s), retries are not
		// samples until they complete.
		ev("a1", "h1", "A", patchgate.StateDownloading, at(0)),
		ev("a2", "h1", "A", patchgate.StateInstalling, at(10)),
		ev("a3", "h1", "A", patchgate.StateInstalled, at(30).In(elsewhere)),
		// h2 fails A once, then installs it: the sample starts at the
		// last download.
		ev("b1", "h2", "A", patchgate.StateDownloading, at(0)),
		ev("b2", "h2", "A", patchgate.StateInstalling, at(5)),
		ev("b3", "h2", "A", patchgate.StateFailed, at(6)),
		ev("b4", "h2", "A", patchgate.StateDownloading, at(100)),
		ev("b5", "h2", "A", patchgate.StateInstalling, at(101)),
		ev("b6", "h2", "A", patchgate.StateRebootPending, at(160)),
		// ... and the reboot completing is no install.
		ev("b7", "h2", "A", patchgate.StateInstalled, at(900)),
		// h3: an install reported without a download, and a download of
		// another update does not count for B.
		ev("c1", "h3", "C", patchgate.StateDownloading, at(0)),
		ev("c2", "h3", "B", patchgate.StateInstalling, at(1)),
		ev("c3", "h3", "B", patchgate.StateInstalled, at(2)),
	}, 13)
	// An operator's record of a manual install is no sample either.
	manual := newEvent(patchgate.EventMarkedInstalled)
	manual.HostID, manual.UpdateID, manual.State = "h3", "C", patchgate.StateInstalled
	record(t, s, []patchgate.Event{manual}, 1)

	got, err = s.RecentInstalls(ctx, 10)
	must(t, err, "RecentInstalls")
	want := []patchgate.InstallSample{
		{UpdateID: "A", HostID: "h2", Started: at(100), Finished: at(160)},
		{UpdateID: "A", HostID: "h1", Started: at(0), Finished: at(30)},
	}
	if len(got) != len(want) {
		t.Fatalf("RecentInstalls = %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.UpdateID != w.UpdateID || g.HostID != w.HostID || !g.Started.Equal(w.Started) || !g.Finished.Equal(w.Finished) {
			t.Errorf("RecentInstalls[%d] = %+v, want %+v", i, g, w)
		}
	}
	got, err = s.RecentInstalls(ctx, 1)
	must(t, err, "RecentInstalls")
	if len(got) != 1 || got[0].HostID != "h2" {
		t.Errorf("RecentInstalls(1) = %+v, want the newest only", got)
	}
}
