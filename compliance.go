package patchgate

import (
	"sort"
	"time"
)

// DefaultCheckinInterval is assumed for hosts that did not report theirs.
const DefaultCheckinInterval = time.Hour

// Silent reports whether a host has missed two check-in intervals: its
// states are unknown.
func Silent(h Host, now time.Time) bool {
	iv := h.Interval
	if iv <= 0 {
		iv = DefaultCheckinInterval
	}
	last := h.LastCheckin
	if last.IsZero() {
		last = h.EnrolledAt
	}
	return now.Sub(last) > 2*iv
}

// HostState derives the deployment state of update id on host h from what
// the host last reported (inventory) and its last deployment report (dep,
// nil if none). It is derived, never stored by hand, so it cannot drift:
//
//   - unknown: the host has been silent for two intervals;
//   - installed / reboot-pending: as the inventory says, or, for a manual
//     host, installed as its last deployment record says (an operator
//     recorded a manual install);
//   - not-applicable: the update does not apply to the host's products, or
//     an update superseding it (directly or not) is installed;
//   - failed / downloading / installing: the last report about it;
//   - needed: otherwise.
func HostState(cat *Catalog, h Host, id string, dep *Deployment, now time.Time) DeploymentState {
	if Silent(h, now) {
		return StateUnknown
	}
	if contains(h.RebootPending, id) {
		return StateRebootPending
	}
	if contains(h.Installed, id) {
		return StateInstalled
	}
	// An operator recorded a manual install (host mark-installed): the
	// agent of a manual host does not report it. For automatic hosts the
	// inventory alone says what is installed.
	if h.Mode == ModeManual && dep != nil && dep.State == StateInstalled {
		return StateInstalled
	}
	if !cat.Applicable(id, h.Products) {
		return StateNotApplicable
	}
	// Superseded by an installed update, directly or not (as in ComputePlan).
	if len(cat.SupersededBy(id)) > 0 {
		seen := map[string]bool{id: true}
		for next := []string{id}; len(next) > 0; {
			cur := next[len(next)-1]
			next = next[:len(next)-1]
			for _, s := range cat.SupersededBy(cur) {
				if contains(h.Installed, s) || contains(h.RebootPending, s) {
					return StateNotApplicable
				}
				if !seen[s] {
					seen[s] = true
					next = append(next, s)
				}
			}
		}
	}
	if dep != nil {
		switch dep.State {
		case StateFailed, StateDownloading, StateInstalling:
			return dep.State
		}
	}
	return StateNeeded
}

// ComplianceRow counts the states of one update over one group's hosts.
type ComplianceRow struct {
	UpdateID      string   `json:"update_id"`
	Title         string   `json:"title"`
	Severity      Severity `json:"severity"`
	Group         string   `json:"group"`
	Approval      Action   `json:"approval,omitempty"`
	Hosts         int      `json:"hosts"`
	Installed     int      `json:"installed"`
	Needed        int      `json:"needed"`
	InProgress    int      `json:"in_progress"` // downloading or installing
	Failed        int      `json:"failed"`
	NotApplicable int      `json:"not_applicable"`
	RebootPending int      `json:"reboot_pending"`
	Unknown       int      `json:"unknown"`
	// ManualActionRequired counts manual-mode hosts that need it.
	ManualActionRequired int `json:"manual_action_required"`
}

// Compliant is the share of applicable, known hosts that have the update.
func (r ComplianceRow) Compliant() float64 {
	n := r.Installed + r.Needed + r.InProgress + r.Failed + r.RebootPending
	if n == 0 {
		return 1
	}
	return float64(r.Installed) / float64(n)
}

// ComplianceInput is what a compliance report is computed from.
type ComplianceInput struct {
	Catalog     *Catalog
	Approvals   []Approval
	Hosts       []Host
	Deployments []Deployment
	Now         time.Time
	// Tree nests the groups (nil = flat).
	Tree *GroupTree
	// Filters; empty = all.
	Group    string
	UpdateID string
}

// Compliance counts, per update × group, the derived state of every host in
// the group. Rows are ordered by update id, then group name.
func Compliance(in ComplianceInput) []ComplianceRow {
	deps := make(map[[2]string]*Deployment, len(in.Deployments))
	for i := range in.Deployments {
		d := &in.Deployments[i]
		deps[[2]string{d.HostID, d.UpdateID}] = d
	}
	approvals := NewApprovalIndex(in.Approvals)
	members := make(map[string][]*Host)
	for i := range in.Hosts {
		h := &in.Hosts[i]
		for _, g := range h.Groups {
			if in.Group == "" || g == in.Group {
				members[g] = append(members[g], h)
			}
		}
	}
	groups := make([]string, 0, len(members))
	for g := range members {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	ids := make([]string, 0, in.Catalog.Len())
	for id := range in.Catalog.updates {
		if in.UpdateID == "" || id == in.UpdateID {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)

	var rows []ComplianceRow
	for _, id := range ids {
		u := in.Catalog.updates[id]
		for _, g := range groups {
			row := ComplianceRow{UpdateID: id, Title: u.Title, Severity: u.Severity, Group: g,
				// What applies to the group's hosts through the group and
				// its ancestors, e.g. a decline made for all.
				Approval: ResolveScoped(approvals[id], in.Tree.Scopes([]string{g})).Action}
			for _, h := range members[g] {
				row.Hosts++
				st := HostState(in.Catalog, *h, id, deps[[2]string{h.ID, id}], in.Now)
				switch st {
				case StateInstalled:
					row.Installed++
				case StateNeeded:
					row.Needed++
					if h.Mode == ModeManual {
						row.ManualActionRequired++
					}
				case StateDownloading, StateInstalling:
					row.InProgress++
				case StateFailed:
					row.Failed++
				case StateNotApplicable:
					row.NotApplicable++
				case StateRebootPending:
					row.RebootPending++
				case StateUnknown:
					row.Unknown++
				}
			}
			rows = append(rows, row)
		}
	}
	return rows
}
