package agent

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/patchgate/patchgate"
)

// rebootCommand returns a fake reboot command that appends a line to a
// marker file and, if newBoot, writes a new boot id (as a real reboot
// would make the agent see on its next start), and a function counting
// how often it ran.
func (e *env) rebootCommand(newBoot bool) (string, func() int) {
	marker := filepath.Join(e.markers, "rebooted")
	cmd := "echo reboot >> '" + marker + "'"
	if newBoot {
		cmd += "; echo \"boot-$(wc -l < '" + marker + "' | tr -d ' ')-after\" > '" + e.bootID + "'"
	}
	return cmd, func() int {
		data, err := os.ReadFile(marker)
		if err != nil {
			return 0
		}
		return strings.Count(string(data), "\n")
	}
}

func lastEvent(t *testing.T, e *env, update string) patchgate.Event {
	t.Helper()
	evs := e.srv.eventList()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].UpdateID == update {
			return evs[i]
		}
	}
	t.Fatalf("no event for %s", update)
	return patchgate.Event{}
}

// TestRebootIfRequired: an install that asks for a reboot is reported
// reboot-pending, the reboot command runs, and after the reboot (a new
// boot id) the update is reported installed and the attempt forgotten.
func TestRebootIfRequired(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p, _ := e.scriptPayload("fix.sh", "exit 100")
	e.srv.setItems(installItem("PG-1", p))
	cmd, reboots := e.rebootCommand(true)
	a := e.agent(func(c *Config) { c.RebootCommand = cmd })
	sum, err := a.RunOnce(ctx)
	if err != nil || !sum.Rebooted || reboots() != 1 {
		t.Fatalf("summary %+v, %v, %d reboots", sum, err, reboots())
	}
	if !strings.Contains(sum.RebootReason, "if-required: PG-1 need a reboot") {
		t.Errorf("reason %q", sum.RebootReason)
	}
	// The server heard of reboot-pending before the reboot.
	if inv := e.srv.lastCheckin(); !slices.Equal(inv.RebootPending, []string{"PG-1"}) {
		t.Errorf("inventory before the reboot %+v", inv)
	}
	if ev := lastEvent(t, e, "PG-1"); ev.State != patchgate.StateRebootPending {
		t.Errorf("last event before the reboot %+v", ev)
	}
	if st := e.readState(); st.RebootAttempts["PG-1"] != 1 {
		t.Errorf("attempts %v", st.RebootAttempts)
	}
	// The agent starts again after the reboot.
	a = e.agent(func(c *Config) { c.RebootCommand = cmd })
	sum, err = a.RunOnce(ctx)
	if err != nil || sum.Rebooted || reboots() != 1 {
		t.Fatalf("after the reboot: %+v, %v, %d reboots", sum, err, reboots())
	}
	if ev := lastEvent(t, e, "PG-1"); ev.State != patchgate.StateInstalled || ev.Detail != "reboot completed" {
		t.Errorf("last event after the reboot %+v", ev)
	}
	if st := e.readState(); len(st.RebootPending) != 0 || len(st.RebootAttempts) != 0 {
		t.Errorf("state after the reboot %+v", st)
	}
}

func TestRebootHeld(t *testing.T) {
	for _, tc := range []struct {
		name    string
		policy  patchgate.RebootPolicy
		command bool
		reason  string
	}{
		{"policy never", patchgate.RebootPolicyNever, true, "reboot policy never: PG-1 stay reboot-pending"},
		{"no reboot command", patchgate.RebootPolicyIfRequired, false, "waiting for an operator"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			p, _ := e.scriptPayload("fix.sh", "exit 100")
			e.srv.setItems(installItem("PG-1", p))
			e.srv.set(func(s *fakeServer) { s.rebootPolicy = tc.policy })
			cmd, reboots := e.rebootCommand(true)
			if !tc.command {
				cmd = ""
			}
			a := e.agent(func(c *Config) { c.RebootCommand = cmd })
			for i := 0; i < 3; i++ {
				sum, err := a.RunOnce(ctx)
				if err != nil || sum.Rebooted {
					t.Fatalf("cycle %d: %+v, %v", i, sum, err)
				}
				if !strings.Contains(sum.RebootReason, tc.reason) {
					t.Errorf("cycle %d: reason %q", i, sum.RebootReason)
				}
			}
			if reboots() != 0 {
				t.Errorf("rebooted %d times", reboots())
			}
			if st := e.readState(); !slices.Equal(st.RebootPending, []string{"PG-1"}) || st.RebootPolicy != tc.policy {
				t.Errorf("state %+v", st)
			}
			if ev := lastEvent(t, e, "PG-1"); ev.State != patchgate.StateRebootPending {
				t.Errorf("last event %+v", ev)
			}
			// An operator reboots: installed.
			e.write(e.bootID, "boot-operator\n")
			if _, err := a.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			if ev := lastEvent(t, e, "PG-1"); ev.State != patchgate.StateInstalled {
				t.Errorf("after the operator's reboot %+v", ev)
			}
		})
	}
}

// TestRebootAlways: policy always reboots after a change even when no
// update asks for it, and not after a cycle that changed nothing.
func TestRebootAlways(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p, _ := e.scriptPayload("fix.sh", "exit 0")
	it := installItem("PG-1", p)
	it.Reboot = patchgate.RebootNever
	e.srv.setItems(it)
	e.srv.set(func(s *fakeServer) { s.rebootPolicy = patchgate.RebootPolicyAlways })
	cmd, reboots := e.rebootCommand(true)
	a := e.agent(func(c *Config) { c.RebootCommand = cmd })
	if sum, err := a.RunOnce(ctx); err != nil || !sum.Rebooted || reboots() != 1 {
		t.Fatalf("%+v, %v, %d reboots", sum, err, reboots())
	}
	if ev := lastEvent(t, e, "PG-1"); ev.State != patchgate.StateInstalled {
		t.Errorf("last event %+v", ev)
	}
	if sum, err := a.RunOnce(ctx); err != nil || sum.Rebooted || reboots() != 1 {
		t.Fatalf("a cycle without changes rebooted: %+v, %v, %d reboots", sum, err, reboots())
	}
	if st := e.readState(); len(st.RebootAttempts) != 0 {
		t.Errorf("attempts not forgotten: %v", st.RebootAttempts)
	}
}

// TestRebootLoopGuardRebootDoesNotHappen: the reboot command "works" but
// the host never comes back with a new boot: two attempts, then the guard
// stops rebooting and reports it once.
func TestRebootLoopGuardRebootDoesNotHappen(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p, _ := e.scriptPayload("fix.sh", "exit 100")
	e.srv.setItems(installItem("PG-1", p))
	cmd, reboots := e.rebootCommand(false)
	a := e.agent(func(c *Config) { c.RebootCommand = cmd })
	for i, want := range []int{1, 2, 2, 2} {
		sum, err := a.RunOnce(ctx)
		if err != nil || reboots() != want {
			t.Fatalf("cycle %d: %+v, %v, %d reboots, want %d", i, sum, err, reboots(), want)
		}
	}
	var guard []patchgate.Event
	for _, ev := range e.srv.eventList() {
		if strings.Contains(ev.Detail, "reboot loop guard") {
			guard = append(guard, ev)
		}
	}
	if len(guard) != 1 || guard[0].State != patchgate.StateFailed || guard[0].UpdateID != "PG-1" ||
		!strings.Contains(guard[0].Detail, "rebooted 2 times in a row for PG-1") {
		t.Fatalf("guard events %+v", guard)
	}
}

// TestRebootLoopGuardFailureAfterReboot: the server keeps offering an
// update; it asks for a reboot twice, the host reboots twice, then its
// install fails: the guard stops further reboots for good.
func TestRebootLoopGuardFailureAfterReboot(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// The third run fails.
	p, marker := e.scriptPayload("fix.sh", `n=$(wc -l < "$1"); [ "$n" -ge 3 ] && exit 1; exit 100`)
	e.srv.setItems(installItem("PG-1", p))
	e.srv.set(func(s *fakeServer) { s.reoffer = true })
	cmd, reboots := e.rebootCommand(true)
	newAgent := func() *Agent { return e.agent(func(c *Config) { c.RebootCommand = cmd }) }
	for i := 1; i <= 2; i++ {
		sum, err := newAgent().RunOnce(ctx)
		if err != nil || !sum.Rebooted || reboots() != i {
			t.Fatalf("cycle %d: %+v, %v, %d reboots", i, sum, err, reboots())
		}
	}
	// After the second reboot the install fails: no third reboot.
	sum, err := newAgent().RunOnce(ctx)
	if err == nil || sum.Rebooted || reboots() != 2 || !strings.Contains(sum.RebootReason, "loop guard") {
		t.Fatalf("after the failure: %+v, %v, %d reboots", sum, err, reboots())
	}
	if data, _ := os.ReadFile(marker); strings.Count(string(data), "\n") != 3 {
		t.Errorf("installer ran %q", data)
	}
	if ev := lastEvent(t, e, "PG-1"); ev.State != patchgate.StateFailed || !strings.Contains(ev.Detail, "reboot loop guard") {
		t.Errorf("last event %+v", ev)
	}
	if st := e.readState(); st.RebootAttempts["PG-1"] != 2 || !slices.Equal(st.RebootGuarded, []string{"PG-1"}) {
		t.Errorf("state %+v", st)
	}
}

func TestRebootCommandFails(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p, _ := e.scriptPayload("fix.sh", "exit 100")
	e.srv.setItems(installItem("PG-1", p))
	a := e.agent(func(c *Config) { c.RebootCommand = "echo no permission >&2; exit 3" })
	sum, err := a.RunOnce(ctx)
	if err == nil || sum.Rebooted || !strings.Contains(err.Error(), "reboot command failed") {
		t.Fatalf("%+v, %v", sum, err)
	}
	if ev := lastEvent(t, e, "PG-1"); ev.State != patchgate.StateRebootPending || !strings.Contains(ev.Detail, "no permission") {
		t.Errorf("last event %+v", ev)
	}
	if st := e.readState(); st.RebootAttempts["PG-1"] != 1 {
		t.Errorf("attempts %v", st.RebootAttempts)
	}
}
