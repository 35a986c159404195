package patchgate

import (
	"strings"
	"testing"
	"time"
)

func mustWindow(t *testing.T, spec, tz string, d time.Duration) CompiledWindow {
	t.Helper()
	w, err := Window{Group: "g", Schedule: spec, Duration: d, TimeZone: tz}.Compile()
	if err != nil {
		t.Fatalf("Compile(%q, %s): %v", spec, tz, err)
	}
	return w
}

func rfc(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestWindowNext(t *testing.T) {
	tests := []struct {
		name, spec, tz, from string
		want                 []string // RFC 3339 with the zone's offset
	}{
		{"paris spring forward: 02:30 does not exist, opens 03:30", "30 2 * * *", "Europe/Paris", "2026-03-28T00:00:00Z",
			[]string{"2026-03-28T02:30:00+01:00", "2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00"}},
		{"paris fall back: 02:30 twice, opens once", "30 2 * * *", "Europe/Paris", "2026-10-24T00:00:00Z",
			[]string{"2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"}},
		{"new york spring forward", "30 2 * * *", "America/New_York", "2026-03-07T00:00:00Z",
			[]string{"2026-03-07T02:30:00-05:00", "2026-03-08T03:30:00-04:00", "2026-03-09T02:30:00-04:00"}},
		{"new york fall back", "30 1 * * *", "America/New_York", "2026-11-01T00:00:00Z",
			[]string{"2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00", "2026-11-03T01:30:00-05:00"}},
		{"sydney fall back (april)", "30 2 * * *", "Australia/Sydney", "2026-04-03T00:00:00Z",
			[]string{"2026-04-04T02:30:00+11:00", "2026-04-05T02:30:00+11:00", "2026-04-06T02:30:00+10:00"}},
		{"sydney spring forward (october)", "30 2 * * *", "Australia/Sydney", "2026-10-02T00:00:00Z",
			[]string{"2026-10-03T02:30:00+10:00", "2026-10-04T03:30:00+11:00", "2026-10-05T02:30:00+11:00"}},
		{"monthly rule in a DST gap", "last sunday 02:30", "Europe/Paris", "2026-03-01T00:00:00Z",
			[]string{"2026-03-29T03:30:00+02:00", "2026-04-26T02:30:00+02:00", "2026-05-31T02:30:00+02:00"}},
		{"patch tuesday +3d", "second tuesday +3d 22:00", "Europe/Paris", "2026-01-01T00:00:00Z",
			// Patch Tuesdays: Jan 13, Feb 10, Mar 10 2026.
			[]string{"2026-01-16T22:00:00+01:00", "2026-02-13T22:00:00+01:00", "2026-03-13T22:00:00+01:00"}},
		{"offset across a month end", "last friday +3d 01:00", "UTC", "2026-01-01T00:00:00Z",
			// Last Fridays: Jan 30, Feb 27, Mar 27 2026.
			[]string{"2026-02-02T01:00:00Z", "2026-03-02T01:00:00Z", "2026-03-30T01:00:00Z"}},
		{"negative offset into the previous month", "first monday -2d", "UTC", "2026-02-01T00:00:00Z",
			// First Mondays: Mar 2, Apr 6, May 4 2026 (Feb 2 -2d = Jan 31 is before from).
			[]string{"2026-02-28T00:00:00Z", "2026-04-04T00:00:00Z", "2026-05-02T00:00:00Z"}},
		{"leap day, cron", "0 22 29 2 *", "UTC", "2026-03-01T00:00:00Z",
			[]string{"2028-02-29T22:00:00Z", "2032-02-29T22:00:00Z"}},
		{"leap day, last tuesday of february 2028", "last tue 06:00", "America/New_York", "2028-02-01T00:00:00Z",
			[]string{"2028-02-29T06:00:00-05:00", "2028-03-28T06:00:00-04:00"}},
		{"month end, 31st only in long months", "0 23 31 * *", "Australia/Sydney", "2026-04-01T00:00:00Z",
			[]string{"2026-05-31T23:00:00+10:00", "2026-07-31T23:00:00+10:00", "2026-08-31T23:00:00+10:00"}},
		{"from is an opening: included", "0 22 * * sat", "UTC", "2026-12-05T22:00:00Z",
			[]string{"2026-12-05T22:00:00Z", "2026-12-12T22:00:00Z"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := mustWindow(t, tc.spec, tc.tz, time.Hour)
			got := w.Next(rfc(t, tc.from), len(tc.want))
			if len(got) != len(tc.want) {
				t.Fatalf("got %d openings %v, want %d", len(got), got, len(tc.want))
			}
			for i := range got {
				if s := got[i].Format(time.RFC3339); s != tc.want[i] {
					t.Errorf("opening %d = %s, want %s", i, s, tc.want[i])
				}
			}
		})
	}
}

func TestWindowIsOpen(t *testing.T) {
	tests := []struct {
		name, spec, tz string
		dur            time.Duration
		now            string
		open           bool
		closes         string
	}{
		{"before", "0 22 * * sat", "UTC", 4 * time.Hour, "2026-12-05T21:59:59Z", false, ""},
		{"at opening", "0 22 * * sat", "UTC", 4 * time.Hour, "2026-12-05T22:00:00Z", true, "2026-12-06T02:00:00Z"},
		{"inside, past midnight", "0 22 * * sat", "UTC", 4 * time.Hour, "2026-12-06T01:59:59Z", true, "2026-12-06T02:00:00Z"},
		{"at close: closed", "0 22 * * sat", "UTC", 4 * time.Hour, "2026-12-06T02:00:00Z", false, ""},
		// Clocks go back at 03:00 CEST on 2026-10-25: a 4h window opening at
		// 01:00 lasts four real hours and closes at 04:00 CET.
		{"duration is elapsed time across fall back", "0 1 * * *", "Europe/Paris", 4 * time.Hour, "2026-10-25T02:30:00Z", true, "2026-10-25T04:00:00+01:00"},
		{"and across spring forward", "0 1 * * *", "Europe/Paris", 4 * time.Hour, "2026-03-29T03:00:00Z", true, "2026-03-29T06:00:00+02:00"},
		{"overlapping openings merge", "0 10,11 * * *", "UTC", 90 * time.Minute, "2026-12-05T10:10:00Z", true, "2026-12-05T12:30:00Z"},
		{"always overlapping: open up to the horizon", "0 * * * *", "UTC", 90 * time.Minute, "2026-12-05T10:10:00Z", true, "2027-01-05T10:30:00Z"},
		{"patch tuesday window open", "second tuesday +3d 22:00", "Europe/Paris", 6 * time.Hour, "2026-01-17T01:00:00+01:00", true, "2026-01-17T04:00:00+01:00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := mustWindow(t, tc.spec, tc.tz, tc.dur)
			open, closes := w.IsOpen(rfc(t, tc.now))
			if open != tc.open {
				t.Fatalf("open = %v, want %v", open, tc.open)
			}
			if tc.open && !closes.Equal(rfc(t, tc.closes)) {
				t.Errorf("closes at %s, want %s", closes.Format(time.RFC3339), tc.closes)
			}
		})
	}
}

func TestWindowCompileErrors(t *testing.T) {
	tests := []struct {
		w     Window
		field string
	}{
		{Window{Schedule: "", Duration: time.Hour, TimeZone: "UTC"}, "schedule"},
		{Window{Schedule: "61 * * * *", Duration: time.Hour, TimeZone: "UTC"}, "schedule"},
		{Window{Schedule: "0 0 * *", Duration: time.Hour, TimeZone: "UTC"}, "schedule"},
		{Window{Schedule: "@daily", Duration: time.Hour, TimeZone: "UTC"}, "schedule"},
		{Window{Schedule: "CRON_TZ=UTC 0 0 * * *", Duration: time.Hour, TimeZone: "UTC"}, "schedule"},
		{Window{Schedule: "fifth tuesday", Duration: time.Hour, TimeZone: "UTC"}, "schedule"},
		{Window{Schedule: "second tuesdy", Duration: time.Hour, TimeZone: "UTC"}, "schedule"},
		{Window{Schedule: "second tuesday +30d", Duration: time.Hour, TimeZone: "UTC"}, "schedule"},
		{Window{Schedule: "second tuesday +3", Duration: time.Hour, TimeZone: "UTC"}, "schedule"},
		{Window{Schedule: "second tuesday 24:00", Duration: time.Hour, TimeZone: "UTC"}, "schedule"},
		{Window{Schedule: "second tuesday 22:0", Duration: time.Hour, TimeZone: "UTC"}, "schedule"},
		{Window{Schedule: "second tuesday 22:00 extra", Duration: time.Hour, TimeZone: "UTC"}, "schedule"},
		{Window{Schedule: "last", Duration: time.Hour, TimeZone: "UTC"}, "schedule"},
		{Window{Schedule: "0 0 * * *", Duration: 0, TimeZone: "UTC"}, "duration"},
		{Window{Schedule: "0 0 * * *", Duration: 32 * 24 * time.Hour, TimeZone: "UTC"}, "duration"},
		{Window{Schedule: "0 0 * * *", Duration: time.Hour, TimeZone: ""}, "time_zone"},
		{Window{Schedule: "0 0 * * *", Duration: time.Hour, TimeZone: "Mars/Olympus"}, "time_zone"},
		{Window{Schedule: "0 0 * * *", Duration: time.Hour, TimeZone: "Local"}, "time_zone"},
	}
	for _, tc := range tests {
		_, err := tc.w.Compile()
		var field string
		if e, ok := err.(*Error); ok {
			field = e.Field
		}
		if err == nil || ErrorCode(err) != CodeInvalid || field != tc.field {
			t.Errorf("Compile(%+v) = %v, want invalid %s", tc.w, err, tc.field)
		}
	}
	for _, ok := range []string{"0 22 * * sat", "*/15 1-3 * * mon-fri", "SECOND Tuesday +3d 22:00", "1st mon", "last sun -1d 03:15", "4th fri +0d"} {
		if err := ValidateSchedule("schedule", ok); err != nil {
			t.Errorf("ValidateSchedule(%q): %v", ok, err)
		}
	}
}

func TestDecideInstall(t *testing.T) {
	sat := mustWindow(t, "0 22 * * sat", "UTC", 4*time.Hour)
	sun := mustWindow(t, "0 10 * * sun", "Europe/Paris", 2*time.Hour)
	sun.Group = "h"
	inside := rfc(t, "2026-12-05T23:00:00Z")  // Saturday night
	outside := rfc(t, "2026-12-02T12:00:00Z") // Wednesday
	past := outside.Add(-time.Hour)
	future := outside.Add(time.Hour)
	tests := []struct {
		name      string
		now       time.Time
		windows   []CompiledWindow
		deadline  *time.Time
		emergency bool
		allowed   bool
		closes    string
		next      string
		reason    string
	}{
		{"no window: any time", outside, nil, nil, false, true, "", "", "no maintenance window"},
		{"inside a window", inside, []CompiledWindow{sat}, nil, false, true, "2026-12-06T02:00:00Z", "", "window of group g open"},
		{"outside: wait for the earliest opening", outside, []CompiledWindow{sat, sun}, nil, false, false, "", "2026-12-05T22:00:00Z", "next opens"},
		{"outside, deadline not yet passed", outside, []CompiledWindow{sat}, &future, false, false, "", "2026-12-05T22:00:00Z", "outside"},
		{"outside, deadline passed", outside, []CompiledWindow{sat}, &past, false, true, "", "", "deadline"},
		{"outside, deadline exactly now", outside, []CompiledWindow{sat}, &outside, false, true, "", "", "deadline"},
		{"outside, emergency", outside, []CompiledWindow{sat}, nil, true, true, "", "", "emergency"},
		{"one of two windows open", rfc(t, "2026-12-06T09:30:00Z"), []CompiledWindow{sat, sun}, nil, false, true, "2026-12-06T11:00:00Z", "", "group h"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := DecideInstall(tc.now, tc.windows, tc.deadline, tc.emergency)
			if d.Allowed != tc.allowed {
				t.Fatalf("allowed = %v, want %v (%s)", d.Allowed, tc.allowed, d.Reason)
			}
			checkTimePtr(t, "closes", d.ClosesAt, tc.closes)
			checkTimePtr(t, "next", d.NextWindow, tc.next)
			if !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("reason %q does not say %q", d.Reason, tc.reason)
			}
		})
	}
}

func checkTimePtr(t *testing.T, what string, got *time.Time, want string) {
	t.Helper()
	switch {
	case want == "" && got != nil:
		t.Errorf("%s = %v, want none", what, got)
	case want != "" && got == nil:
		t.Errorf("%s = none, want %s", what, want)
	case want != "" && !got.Equal(rfc(t, want)):
		t.Errorf("%s = %s, want %s", what, got.Format(time.RFC3339), want)
	}
}

func TestWindowStateChangesAtBoundaries(t *testing.T) {
	w := mustWindow(t, "0 22 * * sat", "UTC", 4*time.Hour)
	ws := []CompiledWindow{w}
	before := WindowState(rfc(t, "2026-12-05T21:00:00Z"), ws)
	if got := WindowState(rfc(t, "2026-12-01T00:00:00Z"), ws); got != before {
		t.Errorf("state changed while closed: %q vs %q", got, before)
	}
	open := WindowState(rfc(t, "2026-12-05T22:00:00Z"), ws)
	if open == before {
		t.Error("state did not change when the window opened")
	}
	if got := WindowState(rfc(t, "2026-12-06T01:00:00Z"), ws); got != open {
		t.Errorf("state changed while open: %q vs %q", got, open)
	}
	if after := WindowState(rfc(t, "2026-12-06T02:00:00Z"), ws); after == open || after == before {
		t.Error("state did not change when the window closed")
	}
}

func TestApplyWindows(t *testing.T) {
	w := mustWindow(t, "0 22 * * sat", "UTC", 4*time.Hour)
	now := rfc(t, "2026-12-02T12:00:00Z")
	p := Plan{Items: []PlanItem{{UpdateID: "A"}, {UpdateID: "B", Emergency: true}}}
	ApplyWindows(&p, now, []CompiledWindow{w})
	if p.Items[0].MayInstall() || p.Items[0].NextWindow == nil {
		t.Errorf("A may install outside its window: %+v", p.Items[0])
	}
	if !p.Items[1].MayInstall() {
		t.Errorf("emergency B may not install: %+v", p.Items[1])
	}
	m := Plan{Manual: true, Items: []PlanItem{{UpdateID: "A"}}}
	ApplyWindows(&m, now, []CompiledWindow{w})
	if m.Items[0].InstallAllowed != nil {
		t.Error("a manual plan got window decisions")
	}
	if !(PlanItem{}).MayInstall() {
		t.Error("an item from an older server (no decision) may not install")
	}
}

func TestResolveEmergency(t *testing.T) {
	as := []Approval{
		{UpdateID: "A", Group: "web", Action: ActionInstall},
		{UpdateID: "A", Group: "prod", Action: ActionInstall, Emergency: true},
	}
	if !Resolve(as, []string{"web", "prod"}).Emergency {
		t.Error("an emergency approval of one group does not make the install an emergency")
	}
	if Resolve(as, []string{"web"}).Emergency {
		t.Error("another group's emergency leaked")
	}
	as = append(as, Approval{UpdateID: "A", Group: "db", Action: ActionDecline})
	if Resolve(as, []string{"db", "prod"}).Emergency {
		t.Error("a declined update is an emergency")
	}
}

// FuzzWindow: no schedule text, zone or instant makes evaluation panic, and
// openings of a valid window strictly increase.
func FuzzWindow(f *testing.F) {
	for _, s := range []string{"0 22 * * sat", "second tuesday +3d 22:00", "last sun -27d 02:30", "*/7 1-3 29 2 *", "4th fri", "@daily", "first"} {
		f.Add(s, "Europe/Paris", int64(1798761600))
		f.Add(s, "Australia/Lord_Howe", int64(1775000000))
	}
	f.Fuzz(func(t *testing.T, spec, tz string, unix int64) {
		if tz == "Local" || len(tz) > 64 {
			return
		}
		w, err := Window{Group: "g", Schedule: spec, Duration: 3 * time.Hour, TimeZone: tz}.Compile()
		if err != nil {
			return
		}
		now := time.Unix(unix%(1<<33), 0)
		w.IsOpen(now)
		prev := now.Add(-time.Nanosecond)
		for _, s := range w.Next(now, 5) {
			if !s.After(prev) {
				t.Fatalf("%q in %s: opening %v not after %v", spec, tz, s, prev)
			}
			prev = s
		}
	})
}

// BenchmarkWindowState is what a 304 check-in of a host with windows adds.
func BenchmarkWindowState(b *testing.B) {
	ws := []CompiledWindow{}
	for _, spec := range []string{"0 22 * * sat", "second tuesday +3d 22:00"} {
		w, err := Window{Group: spec, Schedule: spec, Duration: 4 * time.Hour, TimeZone: "Europe/Paris"}.Compile()
		if err != nil {
			b.Fatal(err)
		}
		ws = append(ws, w)
	}
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for b.Loop() {
		WindowState(now, ws)
	}
}
