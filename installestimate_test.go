package patchgate

import (
	"strings"
	"testing"
	"time"
)

func TestEstimateInstallDurations(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	s := func(update string, d time.Duration) InstallSample {
		return InstallSample{UpdateID: update, HostID: "h", Started: t0, Finished: t0.Add(d)}
	}
	installers := func(id string) []InstallerType {
		switch id {
		case "A", "B", "C":
			return []InstallerType{InstallerExec}
		case "D":
			return []InstallerType{InstallerDpkg}
		case "MIX":
			return []InstallerType{InstallerExec, InstallerDpkg}
		}
		return nil
	}
	var ten []InstallSample
	for i := 1; i <= 10; i++ {
		ten = append(ten, s("A", time.Duration(i)*time.Minute))
	}
	for _, c := range []struct {
		name        string
		samples     []InstallSample
		byUpdate    map[string]InstallEstimate
		byInstaller map[InstallerType]InstallEstimate
	}{
		{"none", nil, map[string]InstallEstimate{}, map[InstallerType]InstallEstimate{}},
		{"too few for an estimate", []InstallSample{s("A", time.Minute), s("A", 2*time.Minute)},
			map[string]InstallEstimate{}, map[InstallerType]InstallEstimate{}},
		{"p90 is the nearest rank: 9th of 10", ten,
			map[string]InstallEstimate{"A": {9 * time.Minute, 10}}, map[InstallerType]InstallEstimate{InstallerExec: {9 * time.Minute, 10}}},
		{"three samples: the largest", []InstallSample{s("B", time.Minute), s("B", 3*time.Minute), s("B", 2*time.Minute)},
			map[string]InstallEstimate{"B": {3 * time.Minute, 3}}, map[InstallerType]InstallEstimate{InstallerExec: {3 * time.Minute, 3}}},
		{"installer type pools updates with too few each",
			[]InstallSample{s("A", time.Minute), s("B", 2*time.Minute), s("C", 4*time.Minute)},
			map[string]InstallEstimate{}, map[InstallerType]InstallEstimate{InstallerExec: {4 * time.Minute, 3}}},
		{"negative and day-long samples dropped, rounded up to seconds",
			[]InstallSample{s("D", -time.Minute), s("D", 25*time.Hour), s("D", 1500*time.Millisecond), s("D", time.Second), s("D", 2*time.Second)},
			map[string]InstallEstimate{"D": {2 * time.Second, 3}}, map[InstallerType]InstallEstimate{InstallerDpkg: {2 * time.Second, 3}}},
		{"mixed installers and unknown updates count only for themselves",
			[]InstallSample{s("MIX", time.Hour), s("MIX", time.Hour), s("MIX", time.Hour), s("GONE", time.Hour), s("GONE", time.Hour), s("GONE", time.Hour)},
			map[string]InstallEstimate{"MIX": {time.Hour, 3}, "GONE": {time.Hour, 3}}, map[InstallerType]InstallEstimate{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := EstimateInstallDurations(c.samples, installers)
			want := InstallEstimates{ByUpdate: c.byUpdate, ByInstaller: c.byInstaller}
			if !got.Equal(want) {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestInstallEstimatesFor(t *testing.T) {
	est := InstallEstimates{
		ByUpdate:    map[string]InstallEstimate{"A": {10 * time.Minute, 5}},
		ByInstaller: map[InstallerType]InstallEstimate{InstallerExec: {time.Minute, 7}, InstallerDpkg: {3 * time.Minute, 4}},
	}
	item := func(id string, types ...InstallerType) PlanItem {
		it := PlanItem{UpdateID: id, Action: ActionInstall}
		for _, ty := range types {
			it.Payloads = append(it.Payloads, Payload{Installer: ty})
		}
		return it
	}
	for _, c := range []struct {
		it    PlanItem
		want  time.Duration
		basis string
		ok    bool
	}{
		{item("A", InstallerExec), 10 * time.Minute, "p90 of 5 past installs of A", true},
		{item("B", InstallerExec), time.Minute, "p90 of 7 past exec installs", true},
		{item("B", InstallerExec, InstallerDpkg), 3 * time.Minute, "p90 of 4 past dpkg installs", true},
		{item("B", InstallerType("other")), 0, "", false},
		{item("B"), 0, "", false},
	} {
		got, basis, ok := est.For(c.it)
		if got.Duration != c.want || basis != c.basis || ok != c.ok {
			t.Errorf("%s %v: got %v %q %v, want %v %q %v", c.it.UpdateID, c.it.Payloads, got.Duration, basis, ok, c.want, c.basis, c.ok)
		}
	}
}

// TestFitWindow: an install allowed by an open window waits when it would
// overrun the window's close; other reasons to install are not affected.
func TestFitWindow(t *testing.T) {
	w, err := Window{Group: "web", Schedule: "0 22 * * sat", Duration: 4 * time.Hour, TimeZone: "Europe/Paris"}.Compile()
	if err != nil {
		t.Fatal(err)
	}
	windows := []CompiledWindow{w}
	// Saturday 5 Dec 2026, 22:00 Paris = 21:00 UTC; closes 01:00 UTC.
	closes := time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)
	next := time.Date(2026, 12, 12, 21, 0, 0, 0, time.UTC)
	yes, no := true, false
	past := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	future := time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC)
	open := PlanItem{UpdateID: "A", Action: ActionInstall, InstallAllowed: &yes, WindowClosesAt: &closes}
	with := func(f func(*PlanItem)) PlanItem { it := open; f(&it); return it }
	for _, c := range []struct {
		name    string
		now     string
		it      PlanItem
		took    time.Duration
		allowed bool
	}{
		{"fits with time to spare", "2026-12-05T21:00:00Z", open, time.Hour, true},
		{"ends exactly at the close", "2026-12-06T00:00:00Z", open, time.Hour, true},
		{"a second too long", "2026-12-06T00:00:01Z", open, time.Hour, false},
		{"longer than the whole window", "2026-12-05T21:00:00Z", open, 5 * time.Hour, false},
		{"no estimate", "2026-12-06T00:59:00Z", open, 0, true},
		{"emergency ignores the window", "2026-12-06T00:59:00Z", with(func(it *PlanItem) { it.Emergency = true }), time.Hour, true},
		{"deadline passed", "2026-12-06T00:59:00Z", with(func(it *PlanItem) { it.Deadline = &past }), time.Hour, true},
		{"deadline ahead", "2026-12-06T00:59:00Z", with(func(it *PlanItem) { it.Deadline = &future }), time.Hour, false},
		{"allowed without a window", "2026-12-06T00:59:00Z", with(func(it *PlanItem) { it.WindowClosesAt = nil }), time.Hour, true},
		{"already refused stays refused", "2026-12-05T21:00:00Z", with(func(it *PlanItem) { it.InstallAllowed = &no }), time.Minute, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			now, _ := time.Parse(time.RFC3339, c.now)
			d := FitWindow(now, c.it, c.took, windows)
			if d.Allowed != c.allowed {
				t.Fatalf("allowed %v, want %v (%+v)", d.Allowed, c.allowed, d)
			}
			if !c.allowed && c.it.MayInstall() {
				if d.ClosesAt == nil || !d.ClosesAt.Equal(closes) || d.NextWindow == nil || !d.NextWindow.Equal(next) {
					t.Errorf("refusal says closes %v, next %v; want %v, %v", d.ClosesAt, d.NextWindow, closes, next)
				}
			}
		})
	}
}

func TestApplyInstallEstimates(t *testing.T) {
	w, err := Window{Group: "web", Schedule: "0 22 * * sat", Duration: 4 * time.Hour, TimeZone: "UTC"}.Compile()
	if err != nil {
		t.Fatal(err)
	}
	windows := []CompiledWindow{w}
	est := InstallEstimates{ByUpdate: map[string]InstallEstimate{"LONG": {90 * time.Minute, 12}, "SHORT": {5 * time.Minute, 4}}}
	exec := []Payload{{Installer: InstallerExec}}
	plan := func() Plan {
		return Plan{HostID: "h1", Items: []PlanItem{
			{UpdateID: "LONG", Action: ActionInstall, Payloads: exec},
			{UpdateID: "SHORT", Action: ActionInstall, Payloads: exec},
			{UpdateID: "UNKNOWN", Action: ActionInstall, Payloads: exec},
			{UpdateID: "LONG", Action: ActionUninstall, Payloads: exec},
		}}
	}
	now := time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC) // an hour before the close at 02:00
	p := plan()
	ApplyWindows(&p, now, windows)
	ApplyInstallEstimates(&p, now, windows, est)
	long, short, unknown, uninstall := p.Items[0], p.Items[1], p.Items[2], p.Items[3]
	if long.MayInstall() || long.EstimatedSeconds != 5400 || long.WindowClosesAt != nil || long.NextWindow == nil ||
		!long.NextWindow.Equal(time.Date(2026, 12, 12, 22, 0, 0, 0, time.UTC)) ||
		!strings.Contains(long.InstallReason, "1h30m0s (p90 of 12 past installs of LONG)") || !strings.Contains(long.InstallReason, "2026-12-06T02:00:00Z") {
		t.Errorf("long install: %+v", long)
	}
	if !short.MayInstall() || short.EstimatedSeconds != 300 || short.WindowClosesAt == nil {
		t.Errorf("short install: %+v", short)
	}
	if !unknown.MayInstall() || unknown.EstimatedSeconds != 0 {
		t.Errorf("install without an estimate: %+v", unknown)
	}
	if !uninstall.MayInstall() || uninstall.EstimatedSeconds != 0 {
		t.Errorf("uninstalls are not estimated: %+v", uninstall)
	}
	// Manual plans are people's business.
	p = plan()
	p.Manual = true
	ApplyInstallEstimates(&p, now, windows, est)
	if p.Items[0].InstallAllowed != nil || p.Items[0].EstimatedSeconds != 0 {
		t.Errorf("manual plan changed: %+v", p.Items[0])
	}
}
