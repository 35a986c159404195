package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

func testRolloutPolicies(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	createGroup(t, s, "prod")
	createGroup(t, s, "test")
	ps, err := s.ListRolloutPolicies(ctx)
	must(t, err, "ListRolloutPolicies")
	if len(ps) != 0 {
		t.Errorf("a new store has policies: %+v", ps)
	}
	prod := patchgate.RolloutPolicy{Group: "prod", MaxConcurrent: 5, MaxConcurrentPercent: 10, MaxFailures: 2, MaxFailuresPercent: 5, Canary: 1, UpdatedAt: t0, UpdatedBy: "alice"}
	test := patchgate.RolloutPolicy{Group: "test", MaxConcurrent: 1, UpdatedAt: t0.In(elsewhere), UpdatedBy: "alice"}
	ev := newEvent(patchgate.EventRolloutSet)
	must(t, s.SetRolloutPolicy(ctx, test, ev), "SetRolloutPolicy test")
	findEvent(t, s, ev.ID)
	must(t, s.SetRolloutPolicy(ctx, prod, newEvent(patchgate.EventRolloutSet)), "SetRolloutPolicy prod")
	ps, err = s.ListRolloutPolicies(ctx)
	must(t, err, "ListRolloutPolicies")
	same(t, "policies by group", ps, []patchgate.RolloutPolicy{prod, test})
	prod.MaxConcurrent, prod.Canary = 0, 0
	must(t, s.SetRolloutPolicy(ctx, prod, newEvent(patchgate.EventRolloutSet)), "SetRolloutPolicy again")
	ps, _ = s.ListRolloutPolicies(ctx)
	same(t, "policies after replace", ps, []patchgate.RolloutPolicy{prod, test})

	wantNotFound(t, s.SetRolloutPolicy(ctx, patchgate.RolloutPolicy{Group: "nope"}, newEvent(patchgate.EventRolloutSet)), "policy of a missing group")
	wantCode(t, s.SetRolloutPolicy(ctx, patchgate.RolloutPolicy{Group: "prod", Canary: -1}, newEvent(patchgate.EventRolloutSet)), patchgate.CodeInvalid, "negative canary")
	must(t, s.DeleteRolloutPolicy(ctx, "test", newEvent(patchgate.EventRolloutRemoved)), "DeleteRolloutPolicy")
	wantNotFound(t, s.DeleteRolloutPolicy(ctx, "test", newEvent(patchgate.EventRolloutRemoved)), "delete it again")
	ps, _ = s.ListRolloutPolicies(ctx)
	same(t, "policies after delete", ps, []patchgate.RolloutPolicy{prod})
}

// testRolloutStarts: limits hold, a failure halts with an event, a resume
// forgets earlier failures, and a host that started is let through again.
func testRolloutStarts(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	for i := 1; i <= 4; i++ {
		enroll(t, s, fmt.Sprintf("h%d", i), "prod")
	}
	p := patchgate.RolloutPolicy{Group: "prod", MaxConcurrent: 1, MaxFailures: 1}
	must(t, s.SetRolloutPolicy(ctx, p, newEvent(patchgate.EventRolloutSet)), "SetRolloutPolicy")
	ttl := time.Hour
	start := func(host string, now time.Time) patchgate.RolloutDecision {
		t.Helper()
		d, _, err := s.StartRollout(ctx, p, "HF-1", host, now, ttl, newEvent(patchgate.EventRolloutHalted))
		must(t, err, "StartRollout "+host)
		return d
	}
	if d := start("h1", t0); !d.Start {
		t.Fatalf("first host: %+v", d)
	}
	if d := start("h2", t0); d.Start {
		t.Fatalf("second host started past the limit of 1: %+v", d)
	}
	if d := start("h1", t0.Add(time.Minute)); !d.Start {
		t.Fatalf("the host that started is refused: %+v", d)
	}
	// h1 succeeds: the slot frees.
	record(t, s, []patchgate.Event{agentEvent("r1", "h1", "HF-1", patchgate.StateInstalled, t0.Add(2*time.Minute))}, 1)
	if d := start("h2", t0.Add(3*time.Minute)); !d.Start {
		t.Fatalf("after h1 succeeded: %+v", d)
	}
	// h2 fails: the next start halts the group.
	record(t, s, []patchgate.Event{agentEvent("r2", "h2", "HF-1", patchgate.StateFailed, t0.Add(4*time.Minute))}, 1)
	halted := newEvent(patchgate.EventRolloutHalted)
	d, c, err := s.StartRollout(ctx, p, "HF-1", "h3", t0.Add(5*time.Minute), ttl, halted)
	must(t, err, "StartRollout h3")
	if d.Start || !d.Halt || c.Failed != 1 || c.Succeeded != 1 || c.Hosts != 4 {
		t.Fatalf("after a failure: %+v %+v", d, c)
	}
	if ev := findEvent(t, s, halted.ID); ev.Detail == "" {
		t.Errorf("halt event without a reason: %+v", ev)
	}
	h, err := s.GetRolloutHalt(ctx, "prod")
	must(t, err, "GetRolloutHalt")
	if !h.Halted || h.UpdateID != "HF-1" || !h.At.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("halt %+v", h)
	}
	if d := start("h4", t0.Add(6*time.Minute)); d.Start || d.Halt {
		t.Errorf("halted group: %+v", d)
	}
	// The admin's policy is untouched.
	ps, _ := s.ListRolloutPolicies(ctx)
	if len(ps) != 1 || ps[0].MaxFailures != 1 {
		t.Errorf("the halt changed the policy: %+v", ps)
	}
	// Resume: earlier failures no longer count.
	ev := newEvent(patchgate.EventRolloutResumed)
	must(t, s.ResumeRollout(ctx, "prod", t0.Add(7*time.Minute), ev), "ResumeRollout")
	findEvent(t, s, ev.ID)
	wantNotFound(t, s.ResumeRollout(ctx, "prod", t0.Add(8*time.Minute), newEvent(patchgate.EventRolloutResumed)), "resume a running rollout")
	if d := start("h3", t0.Add(8*time.Minute)); !d.Start {
		t.Fatalf("after resume: %+v", d)
	}
	// A start that is never followed by a report expires.
	if d := start("h4", t0.Add(8*time.Minute+ttl)); !d.Start {
		t.Fatalf("an expired start still counts: %+v", d)
	}
}

// testRolloutConcurrentStarts: simultaneous check-ins never exceed the
// limit.
func testRolloutConcurrentStarts(t *testing.T, s patchgate.Store) {
	ctx := t.Context()
	const hosts, limit = 12, 3
	for i := range hosts {
		enroll(t, s, fmt.Sprintf("c%d", i), "prod")
	}
	p := patchgate.RolloutPolicy{Group: "prod", MaxConcurrent: limit}
	must(t, s.SetRolloutPolicy(ctx, p, newEvent(patchgate.EventRolloutSet)), "SetRolloutPolicy")
	var wg sync.WaitGroup
	var mu sync.Mutex
	started := 0
	for i := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, _, err := s.StartRollout(ctx, p, "HF-1", fmt.Sprintf("c%d", i), t0, time.Hour, newEvent(patchgate.EventRolloutHalted))
			if err != nil {
				t.Errorf("StartRollout: %v", err)
				return
			}
			if d.Start {
				mu.Lock()
				started++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if started != limit {
		t.Errorf("%d hosts started at once, the limit is %d", started, limit)
	}
}
