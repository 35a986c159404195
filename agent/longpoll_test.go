package agent

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

// TestRunLongPoll: between hourly check-ins the agent keeps a long poll
// open; an approval (a new plan item) ends it and is installed at once,
// and the agent holds again on the new plan.
func TestRunLongPoll(t *testing.T) {
	e := newEnv(t)
	e.srv.set(func(s *fakeServer) { s.holding = true })
	a := e.agent(func(c *Config) { c.Interval = time.Hour; c.LongPoll = 30 * time.Second })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	heldN := func(n int) {
		t.Helper()
		for range 1000 {
			e.srv.mu.Lock()
			h := e.srv.held
			e.srv.mu.Unlock()
			if h == n {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("the agent does not hold a check-in")
	}
	heldN(1)
	p, marker := e.scriptPayload("fix.sh", "")
	e.srv.setItems(installItem("PG-1", p))
	for i := 0; ; i++ {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if i == 1000 {
			t.Fatal("the approved update was not installed through the long poll")
		}
		time.Sleep(10 * time.Millisecond)
	}
	heldN(1) // holding again, on the plan with PG-1 installed
	e.srv.mu.Lock()
	waits := append([]string(nil), e.srv.waits...)
	e.srv.mu.Unlock()
	for _, w := range waits {
		if w != "30" {
			t.Errorf("long poll asked for wait=%s, want 30", w)
		}
	}
	if st := e.readState(); len(st.Installed) != 1 || st.Installed[0] != "PG-1" {
		t.Errorf("state %+v", st)
	}
}

// TestRunLongPollBacksOff: a server that answers long polls at once (it
// does not hold them) does not make the agent spin.
func TestRunLongPollBacksOff(t *testing.T) {
	e := newEnv(t)
	a := e.agent(func(c *Config) { c.Interval = time.Hour; c.LongPoll = 10 * time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
	e.srv.mu.Lock()
	n, w := len(e.srv.checkins), len(e.srv.waits)
	e.srv.mu.Unlock()
	// One ordinary check-in, then long polls at 0, 1 and 3 s (backoff 1 s,
	// 2 s, ...).
	if w < 1 || n > 4 {
		t.Errorf("%d check-ins (%d long polls) in 2.5 s against a server that does not hold", n, w)
	}
}

func TestNewValidatesLongPoll(t *testing.T) {
	e := newEnv(t)
	for _, d := range []time.Duration{-time.Second, time.Millisecond, 6 * time.Minute} {
		cfg := e.config()
		cfg.LongPoll = d
		if _, err := New(cfg); patchgate.ErrorCode(err) != patchgate.CodeInvalid {
			t.Errorf("LongPoll %v: %v", d, err)
		}
	}
}

// TestRunLongPollAsksAgain: an item held back with no window to wait for
// (a rollout limit) can be allowed without its plan's ETag changing, so
// after each long poll that changed nothing the agent checks in
// ordinarily for a fresh decision.
func TestRunLongPollAsksAgain(t *testing.T) {
	e := newEnv(t)
	p, marker := e.scriptPayload("fix.sh", "")
	refused := installItem("PG-1", p)
	no := false
	refused.InstallAllowed, refused.InstallReason = &no, "rollout: 1 of 1 concurrent installs in progress"
	e.srv.set(func(s *fakeServer) { s.holding = true; s.items = []patchgate.PlanItem{refused} })
	a := e.agent(func(c *Config) { c.Interval = time.Hour; c.LongPoll = time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 3500*time.Millisecond)
	defer cancel()
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
	e.srv.mu.Lock()
	n, w := len(e.srv.checkins), len(e.srv.waits)
	e.srv.mu.Unlock()
	// An ordinary check-in at 0, 1, 2 and 3 s, a long poll after each.
	if ordinary := n - w; ordinary < 3 || w < 2 {
		t.Errorf("%d ordinary check-ins and %d long polls in 3.5 s, want an ordinary one after each long poll", ordinary, w)
	}
	mustNotExist(t, marker)

	// A window to wait for changes the ETag when it opens: long polls only.
	e2 := newEnv(t)
	p2, _ := e2.scriptPayload("fix.sh", "")
	waiting := installItem("PG-1", p2)
	opens := time.Now().Add(time.Hour)
	waiting.InstallAllowed, waiting.NextWindow = &no, &opens
	e2.srv.set(func(s *fakeServer) { s.holding = true; s.items = []patchgate.PlanItem{waiting} })
	a2 := e2.agent(func(c *Config) { c.Interval = time.Hour; c.LongPoll = time.Second })
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel2()
	if err := a2.Run(ctx2); err != nil {
		t.Fatal(err)
	}
	e2.srv.mu.Lock()
	n, w = len(e2.srv.checkins), len(e2.srv.waits)
	e2.srv.mu.Unlock()
	if ordinary := n - w; ordinary != 1 || w < 2 {
		t.Errorf("waiting for a window: %d ordinary check-ins and %d long polls, want 1 and long polls", ordinary, w)
	}
}
