package patchgate

import (
	"fmt"
	"slices"
	"strings"
)

// MaxRebootAttempts is the reboot loop guard: once the agent has rebooted
// this many times in a row for an update that then still waits for a
// reboot or fails, it stops rebooting the host and says so.
const MaxRebootAttempts = 2

// RebootInput is what an agent knows when it decides whether to reboot,
// at the end of a check-in cycle.
type RebootInput struct {
	// Policy is the host's reboot policy from its plan ("" = default).
	Policy RebootPolicy
	// Pending lists the updates installed and waiting for a reboot.
	Pending []string
	// Changed: this cycle installed or uninstalled something.
	Changed bool
	// Failed lists the updates that failed this cycle.
	Failed []string
	// Attempts counts, per update, the reboots already made for it in a
	// row (the agent forgets an update once it settles: installed without
	// needing a reboot, or no longer planned nor pending).
	Attempts map[string]int
	// Command: a reboot command is configured. Without one the agent
	// only reports reboot-pending and an operator reboots.
	Command bool
	// Manual: the host is patched by hand; the agent never reboots it.
	Manual bool
}

// RebootDecision is whether to reboot now, and why.
type RebootDecision struct {
	Reboot bool
	// Guarded lists the updates the loop guard stopped rebooting for
	// (pending or failed after MaxRebootAttempts reboots), sorted.
	Guarded []string
	Reason  string
}

// DecideReboot decides whether the agent reboots the host now:
//
//   - a manual host, or the policy never: no; pending updates stay
//     reboot-pending until an operator reboots;
//   - the loop guard: an update pending or failed after MaxRebootAttempts
//     reboots made for it stops every further reboot of the host (and is
//     reported, even when no reboot is wanted right now);
//   - nothing pending, and not (policy always and something changed): no;
//   - no reboot command configured: no, an operator reboots;
//   - otherwise yes: if-required reboots for pending updates, always also
//     after any change.
func DecideReboot(in RebootInput) RebootDecision {
	policy := in.Policy
	if policy == "" || !policy.Valid() {
		policy = DefaultRebootPolicy
	}
	pending := slices.Clone(in.Pending)
	slices.Sort(pending)
	if in.Manual {
		return RebootDecision{Reason: "manual host: an operator reboots it"}
	}
	if policy == RebootPolicyNever {
		if len(pending) == 0 {
			return RebootDecision{Reason: "reboot policy never"}
		}
		return RebootDecision{Reason: fmt.Sprintf("reboot policy never: %s stay reboot-pending until an operator reboots the host", strings.Join(pending, ", "))}
	}
	var guarded []string
	for _, list := range [][]string{pending, in.Failed} {
		for _, u := range list {
			if in.Attempts[u] >= MaxRebootAttempts && !slices.Contains(guarded, u) {
				guarded = append(guarded, u)
			}
		}
	}
	if len(guarded) > 0 {
		slices.Sort(guarded)
		return RebootDecision{Guarded: guarded, Reason: fmt.Sprintf(
			"reboot loop guard: rebooted %d times in a row for %s, which still fails or waits for a reboot; not rebooting again until an operator looks",
			MaxRebootAttempts, strings.Join(guarded, ", "))}
	}
	wanted := len(pending) > 0 || (policy == RebootPolicyAlways && in.Changed)
	if !wanted {
		return RebootDecision{Reason: "no reboot needed"}
	}
	why := "reboot policy always: this cycle changed the host"
	if len(pending) > 0 {
		why = fmt.Sprintf("reboot policy %s: %s need a reboot", policy, strings.Join(pending, ", "))
	}
	if !in.Command {
		if len(pending) == 0 {
			return RebootDecision{Reason: why + ", but no reboot command is configured"}
		}
		return RebootDecision{Reason: why + "; no reboot command configured, waiting for an operator"}
	}
	return RebootDecision{Reboot: true, Reason: why}
}
