package agent

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/patchgate/patchgate"
)

// srEnv publishes three hotfix payloads and the Service Release bundling
// them, each SR payload naming its constituent as consolidation does.
func srEnv(t *testing.T) (e *env, hotfixes []patchgate.PlanItem, sr patchgate.PlanItem, markers []string) {
	e = newEnv(t)
	sr = installItem("app-SR1")
	sr.Kind, sr.Reboot = patchgate.KindServiceRelease, patchgate.RebootNever
	for i, id := range []string{"HF-1", "HF-2", "HF-3"} {
		p, marker := e.scriptPayload(strings.ToLower(id)+".sh", "")
		hf := installItem(id, p)
		hf.Reboot = patchgate.RebootNever
		hotfixes = append(hotfixes, hf)
		markers = append(markers, marker)
		p.Name = []string{"01-", "02-", "03-"}[i] + p.Name
		p.Constituent = id
		sr.Payloads = append(sr.Payloads, p)
	}
	return e, hotfixes, sr, markers
}

// TestServiceReleaseInstallsMissingConstituents: a host with HF-1 runs the
// payloads of HF-2 and HF-3, in order, and records the SR; HF-1 does not
// run again.
func TestServiceReleaseInstallsMissingConstituents(t *testing.T) {
	ctx := context.Background()
	e, hotfixes, sr, markers := srEnv(t)
	a := e.agent()
	e.srv.setItems(hotfixes[0])
	if _, err := a.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	e.srv.setItems(sr)
	before := len(e.srv.eventList())
	sum, err := a.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Installed != 1 || sum.Failed != 0 {
		t.Fatalf("summary %+v", sum)
	}
	for i, m := range markers {
		if got := strings.Count(mustExist(t, m), "\n"); got != 1 {
			t.Errorf("payload of %s ran %d times, want once", hotfixes[i].UpdateID, got)
		}
	}
	evs := e.srv.eventList()[before:]
	if got := states(evs); !slices.Equal(got, []string{"app-SR1:downloading", "app-SR1:installing", "app-SR1:installed"}) {
		t.Fatalf("events %v", got)
	}
	if d := evs[2].Detail; !strings.Contains(d, "skipped: HF-1") || !strings.Contains(d, "ran "+markers[1]) || !strings.Contains(d, "ran "+markers[2]) ||
		strings.Index(d, markers[1]) > strings.Index(d, markers[2]) {
		t.Errorf("installed detail %q: want HF-1 skipped, HF-2 then HF-3 run", d)
	}
	if inv := e.srv.lastCheckin(); !slices.Equal(inv.Installed, []string{"HF-1", "app-SR1"}) {
		t.Errorf("inventory %v, want HF-1 and app-SR1", inv.Installed)
	}
}

// TestServiceReleaseWithEveryConstituent: a host with all three hotfixes
// runs and downloads nothing, and is recorded on the SR.
func TestServiceReleaseWithEveryConstituent(t *testing.T) {
	ctx := context.Background()
	e, hotfixes, sr, markers := srEnv(t)
	a := e.agent()
	e.srv.setItems(hotfixes...)
	if _, err := a.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	e.srv.set(func(s *fakeServer) { s.contentReqs = nil })
	e.srv.setItems(sr)
	before := len(e.srv.eventList())
	sum, err := a.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Installed != 1 || sum.Failed != 0 || sum.RebootRequired {
		t.Fatalf("summary %+v", sum)
	}
	for i, m := range markers {
		if got := strings.Count(mustExist(t, m), "\n"); got != 1 {
			t.Errorf("payload of %s ran %d times, want once (before the SR)", hotfixes[i].UpdateID, got)
		}
	}
	e.srv.set(func(s *fakeServer) {
		if len(s.contentReqs) != 0 {
			t.Errorf("downloaded %d payloads for an SR whose constituents are all installed", len(s.contentReqs))
		}
	})
	evs := e.srv.eventList()[before:]
	if got := states(evs); !slices.Equal(got, []string{"app-SR1:installed"}) {
		t.Fatalf("events %v, want only installed", got)
	}
	if d := evs[0].Detail; !strings.Contains(d, "skipped: HF-1, HF-2, HF-3") {
		t.Errorf("detail %q", d)
	}
	if inv := e.srv.lastCheckin(); !slices.Contains(inv.Installed, "app-SR1") {
		t.Errorf("inventory %v lacks app-SR1", inv.Installed)
	}
	if st := e.readState(); st.Journal != nil {
		t.Errorf("journal left: %+v", st.Journal)
	}
}
