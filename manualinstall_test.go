package patchgate

import (
	"testing"
	"time"
)

func TestHostStateManualInstall(t *testing.T) {
	cat := NewCatalog([]Update{{ID: "A", Products: []ProductConstraint{{Name: "app"}}}})
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	dep := &Deployment{HostID: "h", UpdateID: "A", State: StateInstalled}
	for _, tc := range []struct {
		mode Mode
		want DeploymentState
	}{{ModeManual, StateInstalled}, {ModeAutomatic, StateNeeded}} {
		h := Host{ID: "h", Inventory: Inventory{Mode: tc.mode, Products: []InstalledProduct{{Name: "app", Version: "1"}}}, LastCheckin: now}
		if got := HostState(cat, h, "A", dep, now); got != tc.want {
			t.Errorf("%s host with an installed record: %s, want %s", tc.mode, got, tc.want)
		}
	}
}
