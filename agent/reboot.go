package agent

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/patchgate/patchgate"
)

// DefaultRebootTimeout bounds the reboot command when
// Config.RebootTimeout is 0. A reboot command normally only schedules the
// reboot (systemctl reboot, shutdown -r +1) and returns.
const DefaultRebootTimeout = 2 * time.Minute

// afterCycle ends a check-in cycle that reached the server: it keeps the
// plan's reboot policy, forgets the reboot attempts of updates that
// settled, and reboots when patchgate.DecideReboot says so. plan is nil
// when the server answered "not modified"; failed and done are the
// updates that failed and succeeded this cycle.
func (a *Agent) afterCycle(ctx context.Context, id *identity, st *state, sum *Summary, plan *patchgate.Plan, failed, done []string) error {
	dirty := false // state.json is written only when this changed it
	if plan != nil && st.RebootPolicy != plan.RebootPolicy {
		st.RebootPolicy, dirty = plan.RebootPolicy, true
	}
	// An update settles, and its attempts are forgotten, when it is
	// neither pending nor failed nor (re)installed this cycle, and it is
	// installed or no longer planned.
	for u := range st.RebootAttempts {
		if slices.Contains(st.RebootPending, u) || slices.Contains(failed, u) || slices.Contains(done, u) {
			continue
		}
		planned := plan != nil && slices.ContainsFunc(plan.Items, func(it patchgate.PlanItem) bool { return it.UpdateID == u })
		if slices.Contains(st.Installed, u) || (plan != nil && !planned) {
			delete(st.RebootAttempts, u)
			st.RebootGuarded = slices.DeleteFunc(st.RebootGuarded, func(x string) bool { return x == u })
			dirty = true
		}
	}
	if boot := a.bootID(); st.RebootBootID != "" && len(st.RebootPending) > 0 && boot == st.RebootBootID {
		a.log.Warn("the reboot command ran but the host did not reboot", "boot_id", boot, "pending", st.RebootPending)
	}
	d := patchgate.DecideReboot(patchgate.RebootInput{
		Policy:   st.RebootPolicy,
		Pending:  st.RebootPending,
		Changed:  sum.Installed+sum.Uninstalled > 0,
		Failed:   failed,
		Attempts: st.RebootAttempts,
		Command:  a.cfg.RebootCommand != "",
		Manual:   plan != nil && plan.Manual,
	})
	sum.RebootReason = d.Reason
	for _, u := range d.Guarded {
		if slices.Contains(st.RebootGuarded, u) {
			continue // said once
		}
		a.log.Error("reboot loop guard: not rebooting again", "update", u, "reason", d.Reason)
		if err := a.queue(u, patchgate.StateFailed, -1, d.Reason); err != nil {
			return err
		}
		st.RebootGuarded = append(st.RebootGuarded, u)
		dirty = true
	}
	if !d.Reboot {
		if len(st.RebootPending) > 0 && len(d.Guarded) == 0 {
			a.log.Info("not rebooting", "reason", d.Reason)
		}
		if !dirty {
			return nil
		}
		if err := a.saveState(st); err != nil {
			return err
		}
		if len(d.Guarded) > 0 {
			n, err := a.flush(ctx, id)
			sum.EventsSent += n
			return err
		}
		return nil
	}

	// Count the attempt durably before the side effect: a reboot that
	// does not come back as expected must not be retried for ever.
	counted := slices.Clone(st.RebootPending)
	if len(counted) == 0 {
		counted = done // policy always: the updates that changed the host
	}
	if st.RebootAttempts == nil {
		st.RebootAttempts = map[string]int{}
	}
	for _, u := range counted {
		st.RebootAttempts[u]++
	}
	st.RebootBootID = a.bootID()
	if err := a.saveState(st); err != nil {
		return err
	}
	// The server hears of reboot-pending updates before the host goes.
	n, err := a.flush(ctx, id)
	sum.EventsSent += n
	if err != nil {
		a.log.Warn("rebooting with events still queued", "err", err)
	}
	a.log.Warn("rebooting", "reason", d.Reason, "command", a.cfg.RebootCommand)
	if out, err := a.runRebootCommand(ctx); err != nil {
		detail := fmt.Sprintf("reboot command failed: %v", err)
		if out != "" {
			detail += "\n" + out
		}
		a.log.Error("reboot command failed", "err", err, "output", out)
		for _, u := range counted {
			if qerr := a.queue(u, patchgate.StateRebootPending, -1, detail); qerr != nil {
				return qerr
			}
		}
		n, _ := a.flush(ctx, id)
		sum.EventsSent += n
		return fmt.Errorf("reboot: %s", detail)
	}
	sum.Rebooted = true
	return nil
}

// runRebootCommand runs the configured command through /bin/sh: it is
// the host operator's own configuration, like a cron line, never
// something the server sends.
func (a *Agent) runRebootCommand(ctx context.Context) (string, error) {
	timeout := a.cfg.RebootTimeout
	if timeout == 0 {
		timeout = DefaultRebootTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", a.cfg.RebootCommand)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	text := strings.TrimSpace(string(out))
	if len(text) > 2048 {
		text = text[len(text)-2048:]
	}
	return text, err
}
