package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/agentapi"
	"github.com/patchgate/patchgate/installer"
	"github.com/patchgate/patchgate/trust"
)

// detailInterrupted is reported for an install a crash or restart cut
// short.
const detailInterrupted = "interrupted (agent restarted during install)"

// RunOnce is one check-in cycle: resolve what a crash left in the
// journal, deliver queued events, check in, carry out the plan (unless it
// is manual), report, and check in again when the inventory changed. It
// returns an error if enrolment, the check-in or any install failed; the
// Summary is valid either way.
func (a *Agent) RunOnce(ctx context.Context) (Summary, error) {
	return a.runOnce(ctx, 0)
}

// runOnce is RunOnce whose first check-in is a long poll held up to wait
// on the last plan the server sent (wait 0: an ordinary check-in with the
// ETag of the last plan carried out in full).
func (a *Agent) runOnce(ctx context.Context, wait time.Duration) (Summary, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	// Signed metadata is refreshed once per repository per cycle, however
	// many items the plan has.
	a.cycleTrust = a.verifier()
	a.cycleTrust.RefreshOnce = true
	var sum Summary
	unlock, err := a.lockStateDir()
	if err != nil {
		return sum, err
	}
	defer unlock()
	id, err := a.enrolled(ctx)
	if err != nil {
		return sum, err
	}
	st, err := a.loadState()
	if err != nil {
		return sum, err
	}
	changed, interrupted, err := a.recover(st)
	if err != nil {
		return sum, err
	}

	// Events queued earlier go first, so the server reads them before
	// the inventory they led to.
	n, flushErr := a.flush(ctx, id)
	sum.EventsSent += n
	if patchgate.ErrorCode(flushErr) == patchgate.CodeUnauthorized {
		return sum, flushErr
	} else if flushErr != nil {
		a.log.Warn("cannot deliver queued events yet", "err", flushErr)
	}

	plan, etag, notModified, err := a.checkin(ctx, id, st, wait)
	if err != nil {
		sum.PlanRefused = errors.Is(err, agentapi.ErrPlanSignature)
		return sum, err
	}
	if notModified {
		sum.NotModified = true
		if changed {
			err = a.report(ctx, id, st, &sum)
		} else {
			err = flushErr
		}
		// A reboot still pending (one that did not happen) is retried.
		return sum, errors.Join(err, a.afterCycle(ctx, id, st, &sum, nil, nil, nil))
	}

	a.askAgain = false
	if plan.Manual {
		sum.Manual = true
		sum.Skipped = len(plan.Items)
		if len(plan.Items) > 0 {
			items := make([]string, len(plan.Items))
			for i, it := range plan.Items {
				items[i] = fmt.Sprintf("%s %s (%s, %s)", it.Action, it.UpdateID, it.Severity, it.Title)
			}
			a.log.Warn("manual action required: this host is patched by hand", "host", id.HostID, "items", items)
		}
		st.LastETag = etag
		return sum, errors.Join(a.saveState(st), flushErr)
	}

	var failures, failedIDs, doneIDs []string
	for _, item := range plan.Items {
		if ctx.Err() != nil {
			break
		}
		if interrupted[item.UpdateID] {
			// Not re-run blindly right after a crash in it: the next
			// cycle's plan offers it again.
			sum.Skipped++
			continue
		}
		if !item.MayInstall() {
			// Outside the maintenance window: skipped, and the ETag is
			// not kept, so the next check-in asks again.
			a.log.Info("not installing now", "update", item.UpdateID, "reason", item.InstallReason)
			sum.Skipped++
			// Held back with no window to wait for (a rollout limit, say):
			// the answer may change without the plan's ETag changing, so
			// long polls give way to an ordinary check-in (see Run).
			if item.NextWindow == nil {
				a.askAgain = true
			}
			continue
		}
		changed = true
		if err := a.apply(ctx, id, st, item, &sum); err != nil {
			var fatal fatalError
			if errors.As(err, &fatal) {
				return sum, fatal.err
			}
			failures = append(failures, fmt.Sprintf("%s: %v", item.UpdateID, err))
			failedIDs = append(failedIDs, item.UpdateID)
		} else {
			doneIDs = append(doneIDs, item.UpdateID)
		}
	}
	a.cleanStaging(plan)

	// Only a plan carried out in full is "seen": otherwise the next
	// check-in must get the whole plan again to retry.
	if len(failures) == 0 && sum.Skipped == 0 && ctx.Err() == nil {
		st.LastETag = etag
	} else {
		st.LastETag = ""
	}
	if err := a.saveState(st); err != nil {
		return sum, err
	}
	var errs []error
	if len(failures) > 0 {
		errs = append(errs, fmt.Errorf("%d of %d updates failed: %s", len(failures), len(plan.Items), strings.Join(failures, "; ")))
	}
	if changed {
		errs = append(errs, a.report(ctx, id, st, &sum))
	} else {
		n, err := a.flush(ctx, id)
		sum.EventsSent += n
		errs = append(errs, err)
	}
	if ctx.Err() == nil {
		errs = append(errs, a.afterCycle(ctx, id, st, &sum, &plan, failedIDs, doneIDs))
	}
	errs = append(errs, ctx.Err())
	return sum, errors.Join(errs...)
}

// recover resolves what the last run left unfinished: a journal entry (a
// crash mid-install) and reboot-pending updates whose reboot happened.
// interrupted holds updates whose installer a crash cut short.
func (a *Agent) recover(st *state) (changed bool, interrupted map[string]bool, err error) {
	interrupted = map[string]bool{}
	if j := st.Journal; j != nil {
		changed = true
		switch j.Step {
		case stepInstalling:
			a.log.Warn("an install was interrupted; reporting it failed", "update", j.UpdateID, "action", j.Action, "started", j.Started)
			if err := a.queue(j.UpdateID, patchgate.StateFailed, -1, detailInterrupted); err != nil {
				return changed, nil, err
			}
			interrupted[j.UpdateID] = true
		default:
			// Nothing ran; the download resumes from its .part file.
			a.log.Info("a download was interrupted; it will resume", "update", j.UpdateID)
		}
		st.Journal = nil
		st.LastETag = ""
	}
	if boot := a.bootID(); len(st.RebootPending) > 0 && st.BootID != "" && boot != "" && boot != st.BootID {
		changed = true
		for _, u := range st.RebootPending {
			if err := a.queue(u, patchgate.StateInstalled, 0, "reboot completed"); err != nil {
				return changed, nil, err
			}
		}
		a.log.Info("reboot completed", "updates", st.RebootPending)
		// After a reboot the whole plan is asked for again.
		st.RebootPending, st.BootID, st.LastETag = nil, "", ""
	}
	if changed {
		if err := a.saveState(st); err != nil {
			return changed, nil, err
		}
	}
	return changed, interrupted, nil
}

// report delivers queued events and checks in again so that the server
// sees the new inventory. Its plan is carried out next cycle: its ETag is
// kept only when it asks for nothing.
func (a *Agent) report(ctx context.Context, id *identity, st *state, sum *Summary) error {
	n, flushErr := a.flush(ctx, id)
	sum.EventsSent += n
	plan, etag, notModified, err := a.checkin(ctx, id, st, 0)
	if err != nil {
		sum.PlanRefused = sum.PlanRefused || errors.Is(err, agentapi.ErrPlanSignature)
		return errors.Join(flushErr, err)
	}
	if !notModified {
		if st.LastETag != "" && (plan.Manual || len(plan.Items) == 0) {
			st.LastETag = etag
		} else {
			st.LastETag = ""
		}
		if err := a.saveState(st); err != nil {
			return err
		}
	}
	return flushErr
}

// checkin sends the inventory and returns the plan, or notModified. With
// wait > 0 it is a long poll on the last plan the server sent.
func (a *Agent) checkin(ctx context.Context, id *identity, st *state, wait time.Duration) (plan patchgate.Plan, etag string, notModified bool, err error) {
	inv, err := a.inventory(st)
	if err != nil {
		return plan, "", false, err
	}
	etag = st.LastETag
	if wait > 0 {
		etag = cmp.Or(a.planETag, st.LastETag)
	}
	key, err := a.planKey(ctx, id)
	if err != nil {
		return plan, "", false, err
	}
	req := agentapi.CheckinRequest{Inventory: inv}
	var cr agentapi.CheckinResponse
	if key != nil {
		cr, etag, notModified, err = a.api.CheckinVerified(ctx, id.Credential, id.HostID, key, etag, wait, req)
	} else {
		cr, etag, notModified, err = a.api.CheckinWait(ctx, id.Credential, etag, wait, req)
	}
	if errors.Is(err, agentapi.ErrPlanSignature) {
		return plan, "", false, a.refusedPlan(err)
	}
	if err != nil {
		return plan, "", false, a.serverError(err, "check-in", true)
	}
	if etag != "" {
		a.planETag = etag
	}
	if notModified {
		return plan, etag, true, nil
	}
	if cr.Plan.HostID != "" && cr.Plan.HostID != id.HostID {
		return plan, "", false, fmt.Errorf("check-in: the server sent the plan of host %s to host %s", cr.Plan.HostID, id.HostID)
	}
	if !cr.ServerTime.IsZero() {
		if skew := cr.ServerTime.Sub(a.now()); skew > 5*time.Minute || skew < -5*time.Minute {
			a.log.Warn("clock skew with the server", "skew", skew.Round(time.Second))
		}
	}
	return cr.Plan, etag, false, nil
}

// fatalError stops the cycle: the agent cannot record its steps.
type fatalError struct{ err error }

func (e fatalError) Error() string { return e.err.Error() }

// apply carries out one plan item, recording each step durably before its
// side effect and queueing an event for it. It returns an error if the
// item failed (reported as a failed event), or a fatalError.
func (a *Agent) apply(ctx context.Context, id *identity, st *state, item patchgate.PlanItem, sum *Summary) error {
	if err := agentapi.CheckPlanItem(item, MaxPayloadSize); err != nil {
		sum.Failed++
		if !agentapi.ValidID(item.UpdateID) {
			a.log.Error("plan item refused", "update", item.UpdateID, "err", err)
			return err
		}
		return a.fail(item, -1, err, "")
	}
	log := a.log.With("update", item.UpdateID, "action", item.Action)
	// A Service Release installs only the constituents this host lacks;
	// with all of them, nothing runs and the SR is only recorded.
	payloads, skipped := patchgate.PayloadsToRun(item, st.Installed)
	note := ""
	if len(skipped) > 0 {
		note = fmt.Sprintf("constituents already installed, skipped: %s", strings.Join(skipped, ", "))
		log.Info("skipping installed constituents", "constituents", skipped, "payloads", len(payloads))
	}
	if len(payloads) == 0 {
		st.Journal = nil
		st.setInstalled(item.UpdateID, true)
		sum.Installed++
		if err := a.saveState(st); err != nil {
			return fatalError{err}
		}
		log.Info("done: every constituent was installed", "state", patchgate.StateInstalled)
		if err := a.queue(item.UpdateID, patchgate.StateInstalled, 0, "nothing to run, "+note); err != nil {
			return fatalError{err}
		}
		return nil
	}
	step := func(s string, ev patchgate.DeploymentState) error {
		st.Journal = &journal{UpdateID: item.UpdateID, Action: item.Action, Step: s, Started: a.now().UTC()}
		if err := a.saveState(st); err != nil {
			return fatalError{err}
		}
		if err := a.queue(item.UpdateID, ev, 0, ""); err != nil {
			return fatalError{err}
		}
		a.sendSoon(ctx, id)
		return nil
	}
	done := func() error {
		st.Journal = nil
		if err := a.saveState(st); err != nil {
			return fatalError{err}
		}
		return nil
	}

	// Nothing is downloaded, let alone run, that the item's repository
	// does not sign exactly as planned (trust.go).
	signed, err := a.checkSigned(ctx, item, payloads)
	if err != nil {
		sum.Failed++
		a.removeStaged(payloads)
		return a.fail(item, -1, err, "")
	}
	if err := step(stepDownloading, patchgate.StateDownloading); err != nil {
		return err
	}
	log.Info("downloading", "payloads", len(payloads))
	paths := make([]string, len(payloads))
	for i, p := range payloads {
		path, err := a.fetch(ctx, id, p)
		if err == nil && signed != nil {
			// fetch verified size and sha256 as the bytes streamed in.
			if verr := trust.MatchesTarget(p, signed[i]); verr != nil {
				err = signatureError(fmt.Errorf("payload %s: %w", p.Name, verr))
			}
		} else if signed != nil && isMismatch(err) {
			err = signatureError(err)
		}
		if err != nil {
			sum.Failed++
			if signed != nil {
				a.removeStaged(payloads)
			}
			if err := done(); err != nil {
				return err
			}
			return a.fail(item, -1, err, "")
		}
		paths[i] = path
	}
	defer func() {
		for _, p := range paths {
			os.Remove(p)
		}
	}()

	if err := step(stepInstalling, patchgate.StateInstalling); err != nil {
		return err
	}
	log.Info("installing")
	var out []string
	reboot := item.Reboot == patchgate.RebootRequired
	lastCode := 0
	for i, p := range payloads {
		res, err := a.runInstaller(ctx, item.Action, p, paths[i])
		if res.Output != "" {
			out = append(out, res.Output)
		}
		if err != nil {
			sum.Failed++
			if err := done(); err != nil {
				return err
			}
			return a.fail(item, res.ExitCode, fmt.Errorf("payload %s: %w", p.Name, err), strings.Join(out, "\n"))
		}
		reboot = reboot || res.RebootRequired
		lastCode = res.ExitCode
	}

	// Record the outcome and clear the journal in one write.
	st.Journal = nil
	var state patchgate.DeploymentState
	if note != "" {
		out = append([]string{note}, out...)
	}
	detail := strings.Join(out, "\n")
	if item.Action == patchgate.ActionUninstall {
		st.setInstalled(item.UpdateID, false)
		sum.Uninstalled++
		state = patchgate.StateNotApplicable
		detail = "uninstalled" + rebootNote(reboot) + "\n" + detail
	} else {
		st.setInstalled(item.UpdateID, true)
		sum.Installed++
		state = patchgate.StateInstalled
		if reboot {
			st.setRebootPending(item.UpdateID, a.bootID())
			state = patchgate.StateRebootPending
		}
	}
	sum.RebootRequired = sum.RebootRequired || reboot
	if err := a.saveState(st); err != nil {
		return fatalError{err}
	}
	log.Info("done", "state", state)
	if err := a.queue(item.UpdateID, state, lastCode, strings.TrimSpace(detail)); err != nil {
		return fatalError{err}
	}
	return nil
}

func rebootNote(reboot bool) string {
	if reboot {
		return "; reboot required"
	}
	return ""
}

// fail queues a failed event for item.
func (a *Agent) fail(item patchgate.PlanItem, exitCode int, cause error, output string) error {
	a.log.Error("update failed", "update", item.UpdateID, "action", item.Action, "exit_code", exitCode, "err", cause)
	detail := cause.Error()
	if output != "" {
		// Keep the output's tail: it says why.
		room := agentapi.MaxDetailLen - len(detail) - 1
		if room > 0 {
			if len(output) > room {
				output = output[len(output)-room:]
			}
			detail += "\n" + output
		}
	}
	if err := a.queue(item.UpdateID, patchgate.StateFailed, exitCode, detail); err != nil {
		return fatalError{err}
	}
	return cause
}

func (a *Agent) runInstaller(ctx context.Context, action patchgate.Action, p patchgate.Payload, path string) (installer.Result, error) {
	inst, err := installer.For(p.Installer, a.cfg.Installer)
	if err != nil {
		return installer.Result{ExitCode: -1}, err
	}
	work := a.path(workDir)
	if err := os.RemoveAll(work); err != nil {
		return installer.Result{ExitCode: -1}, err
	}
	if err := os.Mkdir(work, 0o700); err != nil {
		return installer.Result{ExitCode: -1}, err
	}
	defer os.RemoveAll(work)
	req := installer.Request{Payload: p, Path: path, Dir: work, Timeout: a.cfg.InstallTimeout}
	if action == patchgate.ActionUninstall {
		return inst.Uninstall(ctx, req)
	}
	return inst.Install(ctx, req)
}

// sendSoon delivers queued events now if it can; whatever fails stays
// queued for the end of the cycle.
func (a *Agent) sendSoon(ctx context.Context, id *identity) {
	if _, err := a.flush(ctx, id); err != nil {
		a.log.Debug("events stay queued", "err", err)
	}
}

// cleanStaging removes downloads of payloads the plan no longer names.
func (a *Agent) cleanStaging(plan patchgate.Plan) {
	keep := map[string]bool{}
	for _, it := range plan.Items {
		for _, p := range it.Payloads {
			keep[p.SHA256] = true
			keep[p.SHA256+".part"] = true
		}
	}
	entries, err := os.ReadDir(a.path(stagingDir))
	if err != nil {
		return
	}
	for _, e := range entries {
		if !keep[e.Name()] {
			os.RemoveAll(a.path(stagingDir, e.Name()))
		}
	}
}
