package storetest

import (
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

func testSaveInventories(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	enroll(t, s, "h1", "")
	enroll(t, s, "h2", "")
	inv := func(name string, installed ...string) patchgate.Inventory {
		return patchgate.Inventory{Hostname: name, OS: "linux", Arch: "amd64", Mode: patchgate.ModeAutomatic, Interval: time.Hour,
			Products: []patchgate.InstalledProduct{{Name: "cisco.ucce", Version: "7.2(1)"}}, Installed: installed}
	}
	later := t0.Add(time.Hour)
	err := s.SaveInventories(ctx, []patchgate.InventoryRecord{
		{HostID: "h1", Inventory: inv("one", "HF-1"), Digest: "d1", At: later},
		{HostID: "gone", Inventory: inv("ghost"), Digest: "dx", At: later}, // deleted meanwhile: skipped
		{HostID: "h2", Inventory: inv("two", "HF-1", "HF-2"), Digest: "d2", At: later},
	})
	must(t, err, "SaveInventories")
	h1, err := s.GetHost(ctx, "h1")
	must(t, err, "GetHost")
	h2, err := s.GetHost(ctx, "h2")
	must(t, err, "GetHost")
	if h1.Hostname != "one" || h1.InventoryDigest != "d1" || len(h1.Installed) != 1 || !h1.LastCheckin.Equal(later) {
		t.Errorf("h1 after SaveInventories: %+v", h1)
	}
	if h2.Hostname != "two" || len(h2.Installed) != 2 {
		t.Errorf("h2 after SaveInventories: %+v", h2)
	}
	// An older record (a delayed group) does not move the check-in time back.
	must(t, s.SaveInventories(ctx, []patchgate.InventoryRecord{{HostID: "h1", Inventory: inv("one"), Digest: "d3", At: t0}}), "SaveInventories")
	h1, _ = s.GetHost(ctx, "h1")
	if !h1.LastCheckin.Equal(later) {
		t.Errorf("check-in time moved back to %v", h1.LastCheckin)
	}
	must(t, s.SaveInventories(ctx, nil), "SaveInventories of nothing")
}
