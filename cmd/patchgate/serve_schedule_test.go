//go:build !agentonly

package main

import (
	"strings"
	"testing"
	"time"
)

func TestConsolidationSchedule(t *testing.T) {
	next, err := consolidationSchedule("0 2 1 * *", "Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	// From mid-March, across the spring DST change: 1 April 02:00 in Paris.
	got := next(time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC))
	if want := time.Date(2026, 4, 1, 2, 0, 0, 0, paris); !got.Equal(want) {
		t.Errorf("next = %v, want %v", got, want)
	}
	// From December: 1 January of the next year.
	got = next(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC))
	if want := time.Date(2027, 1, 1, 2, 0, 0, 0, paris); !got.Equal(want) {
		t.Errorf("next = %v, want %v", got, want)
	}
	if next, err := consolidationSchedule("", "UTC"); err != nil || next != nil {
		t.Errorf(`"" must disable the schedule: %v, %v`, next != nil, err)
	}
	for spec, zone := range map[string]string{"0 2 1 *": "UTC", "0 25 1 * *": "UTC", "0 2 1 * *": "Mars/Olympus"} {
		_, err := consolidationSchedule(spec, zone)
		if err == nil || !(strings.Contains(err.Error(), "--consolidate-schedule") || strings.Contains(err.Error(), "--timezone")) {
			t.Errorf("%q in %q: %v, want an error naming the flag", spec, zone, err)
		}
	}
}

func TestCleanupSchedule(t *testing.T) {
	next, err := cronSchedule("--cleanup-schedule", "30 3 * * *", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := next(time.Date(2026, 12, 4, 22, 0, 0, 0, time.UTC)), time.Date(2026, 12, 5, 3, 30, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("next = %v, want %v", got, want)
	}
	if _, err := cronSchedule("--cleanup-schedule", "daily", "UTC"); err == nil || !strings.Contains(err.Error(), "--cleanup-schedule") {
		t.Errorf("bad spec: %v, want an error naming --cleanup-schedule", err)
	}
}
