package patchgate

import "time"

// Effective is the approval that applies to one host for one update after
// the approvals of all its groups are combined.
type Effective struct {
	Action   Action // "" = not approved
	Deadline *time.Time
	Group    string // the group whose approval won (the first by name on ties)
	// Emergency: one of the approvals of the winning install action is an
	// emergency one.
	Emergency bool
}

// Resolve combines the approvals of one update for the groups a host is in,
// as if no group were nested in another. With nested groups ComputePlan
// uses ResolveScoped (grouptree.go), which picks the nearest approval per
// scope and then applies this rule across scopes.
//
// The rule, chosen to surprise a WSUS admin least:
//   - decline in any of the host's groups wins: a declined update is never
//     offered (in WSUS a decline is global; `decline --group all` is that);
//   - otherwise install beats uninstall, as in WSUS ("install takes
//     precedence over remove");
//   - the deadline is the earliest deadline among approvals of the winning
//     action (no deadline if none of them has one);
//   - approvals of groups the host is not in are ignored.
func Resolve(approvals []Approval, hostGroups []string) Effective {
	var eff Effective
	for _, a := range approvals {
		if contains(hostGroups, a.Group) {
			eff.add(a)
		}
	}
	return eff.finish()
}

func actionRank(a Action) int {
	switch a {
	case ActionDecline:
		return 3
	case ActionInstall:
		return 2
	case ActionUninstall:
		return 1
	}
	return 0
}

// add combines one more approval into eff (Resolve's rule); finish ends it.
func (eff *Effective) add(a Approval) {
	switch r, cur := actionRank(a.Action), actionRank(eff.Action); {
	case r > cur:
		*eff = Effective{Action: a.Action, Deadline: a.Deadline, Group: a.Group, Emergency: a.Emergency}
	case r == cur && r > 0:
		if a.Deadline != nil && (eff.Deadline == nil || a.Deadline.Before(*eff.Deadline)) {
			eff.Deadline = a.Deadline
		}
		eff.Emergency = eff.Emergency || a.Emergency
		if a.Group < eff.Group {
			eff.Group = a.Group
		}
	}
}

func (eff Effective) finish() Effective {
	if eff.Action != ActionInstall {
		eff.Emergency = false
	}
	if eff.Action == ActionDecline {
		eff.Deadline = nil
	}
	return eff
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
