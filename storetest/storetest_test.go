package storetest

import (
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

// The suite's comparisons rest on utc: check that it hides only what it
// should.
func TestUTC(t *testing.T) {
	local := t0.In(elsewhere)
	a := patchgate.Approval{UpdateID: "u", Deadline: &local, CreatedAt: local}
	b := patchgate.Approval{UpdateID: "u", Deadline: &t0, CreatedAt: t0}
	if !equal(a, b) {
		t.Error("the same instants in two zones differ")
	}
	if a.Deadline.Location() != elsewhere {
		t.Error("utc changed its argument")
	}
	later := t0.Add(time.Microsecond)
	b.Deadline = &later
	if equal(a, b) {
		t.Error("different deadlines are equal")
	}
	b.Deadline = nil
	if equal(a, b) {
		t.Error("a deadline equals none")
	}

	if !equal(patchgate.Host{}, patchgate.Host{Groups: []string{}, Inventory: patchgate.Inventory{Products: []patchgate.InstalledProduct{}}}) {
		t.Error("nil and empty slices differ")
	}
	if equal(patchgate.Token{SecretHash: []byte{1}}, patchgate.Token{SecretHash: []byte{2}}) {
		t.Error("different byte slices are equal")
	}
	if equal(map[string][]string{"h": {"all"}}, map[string][]string{"h": {"all", "web"}}) {
		t.Error("different maps are equal")
	}
}
