package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

// testRolloutFailedHostRetries: a host whose install failed asks to start
// again at its next check-in; its own failure counts, so with a failure
// limit of 1 the group halts instead of letting it retry for ever (the
// other hosts may never see the failure when they check in while it holds
// a fresh start). After a resume it may retry.
func testRolloutFailedHostRetries(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	for i := 1; i <= 3; i++ {
		enroll(t, s, fmt.Sprintf("h%d", i), "prod")
	}
	p := patchgate.RolloutPolicy{Group: "prod", MaxFailures: 1, Canary: 1}
	must(t, s.SetRolloutPolicy(ctx, p, newEvent(patchgate.EventRolloutSet)), "SetRolloutPolicy")
	d, _, err := s.StartRollout(ctx, p, "HF-1", "h1", t0, time.Hour, newEvent(patchgate.EventRolloutHalted))
	must(t, err, "StartRollout h1")
	if !d.Start {
		t.Fatalf("the canary may not start: %+v", d)
	}
	record(t, s, []patchgate.Event{agentEvent("f1", "h1", "HF-1", patchgate.StateFailed, t0.Add(time.Minute))}, 1)
	halted := newEvent(patchgate.EventRolloutHalted)
	d, c, err := s.StartRollout(ctx, p, "HF-1", "h1", t0.Add(2*time.Minute), time.Hour, halted)
	must(t, err, "StartRollout h1 again")
	if d.Start || !d.Halt || c.Failed != 1 {
		t.Fatalf("the failed canary asking again: %+v %+v, want a halt", d, c)
	}
	findEvent(t, s, halted.ID)
	must(t, s.ResumeRollout(ctx, "prod", t0.Add(3*time.Minute), newEvent(patchgate.EventRolloutResumed)), "ResumeRollout")
	d, _, err = s.StartRollout(ctx, p, "HF-1", "h1", t0.Add(4*time.Minute), time.Hour, newEvent(patchgate.EventRolloutHalted))
	must(t, err, "StartRollout h1 after resume")
	if !d.Start {
		t.Fatalf("after resume the failed host may not retry: %+v", d)
	}
}
