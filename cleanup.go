package patchgate

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// CleanupAgeDefault is how long a superseded update stays approvable
// before cleanup may decline it.
const CleanupAgeDefault = 30 * 24 * time.Hour

// CleanupActor is the actor of the declines cleanup makes.
const CleanupActor = "cleanup"

// EventCleanup is the event of a cleanup run that declined something.
const EventCleanup = "release.cleanup"

// Needs reports whether host h still needs update id: id applies to one
// of its products, it is neither installed nor waiting for a reboot there,
// and no update that supersedes it (directly or through a chain) is
// installed on h, or approved for install for h and applicable to it.
// This is the rule by which ComputePlan leaves a superseded update out,
// without the approval of id itself: a host needs a fix it has not been
// approved yet.
func (c *Catalog) Needs(approvals ApprovalIndex, h PlanHost, id string) bool {
	e, ok := c.updates[id]
	if !ok || !e.applicable(h.Products) || slices.Contains(h.Installed, id) || slices.Contains(h.RebootPending, id) {
		return false
	}
	visited := map[string]bool{id: true}
	for stack := []string{id}; len(stack) > 0; {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, s := range c.supersededBy[cur] {
			if visited[s] {
				continue
			}
			visited[s] = true
			if slices.Contains(h.Installed, s) || slices.Contains(h.RebootPending, s) {
				return false
			}
			if se, ok := c.updates[s]; ok && se.applicable(h.Products) && ResolveScoped(approvals[s], h.Tree.Scopes(h.Groups)).Action == ActionInstall {
				return false
			}
			stack = append(stack, s)
		}
	}
	return true
}

// CleanupItem is one superseded update in a cleanup report: declined, or
// kept and why.
type CleanupItem struct {
	UpdateID     string    `json:"update_id"`
	Title        string    `json:"title"`
	SupersededAt time.Time `json:"superseded_at"`
	SupersededBy []string  `json:"superseded_by"`
	Decline      bool      `json:"decline"`
	Reason       string    `json:"reason"`
	// NeededBy counts the hosts that still need a kept update; Hosts
	// names the first of them, by id.
	NeededBy int      `json:"needed_by,omitempty"`
	Hosts    []string `json:"hosts,omitempty"`
}

// cleanupHostsShown bounds CleanupItem.Hosts.
const cleanupHostsShown = 10

// DecideCleanup decides, for each superseded update not yet declined for
// every host (a decline approval for GroupAll), whether cleanup declines
// it: only when it was superseded at least age before now and no host
// Needs it. The catalog and approvals are what plans see (ReleasedView):
// a withdrawn superseding update covers nobody. Items come in the order
// of superseded time, then id.
func DecideCleanup(cat *Catalog, approvals ApprovalIndex, states []ReleaseState, hosts []PlanHost, age time.Duration, now time.Time) []CleanupItem {
	var items []CleanupItem
	for _, st := range states {
		if st.Status != StatusSuperseded {
			continue
		}
		u, ok := cat.Get(st.UpdateID)
		if !ok || slices.ContainsFunc(approvals[u.ID], func(a Approval) bool { return a.Group == GroupAll && a.Action == ActionDecline }) {
			continue
		}
		it := CleanupItem{UpdateID: u.ID, Title: u.Title, SupersededAt: st.Since, SupersededBy: slices.Clone(cat.SupersededBy(u.ID))}
		sort.Strings(it.SupersededBy)
		if it.SupersededBy == nil {
			it.SupersededBy = []string{}
		}
		if since := now.Sub(st.Since); since < age {
			it.Reason = fmt.Sprintf("superseded %s ago, less than %s", roundDays(since), roundDays(age))
			items = append(items, it)
			continue
		}
		for _, h := range hosts {
			if cat.Needs(approvals, h, u.ID) {
				it.NeededBy++
				if len(it.Hosts) < cleanupHostsShown {
					it.Hosts = append(it.Hosts, h.ID)
				}
			}
		}
		if it.NeededBy > 0 {
			sort.Strings(it.Hosts)
			it.Reason = fmt.Sprintf("still needed by %d host(s): it applies there, and %s neither installed nor approved and applicable there", it.NeededBy, strings.Join(it.SupersededBy, ", "))
		} else {
			it.Decline = true
			it.Reason = fmt.Sprintf("superseded by %s %s ago; no host needs it", strings.Join(it.SupersededBy, ", "), roundDays(now.Sub(st.Since)))
		}
		items = append(items, it)
	}
	sort.Slice(items, func(i, j int) bool {
		if !items[i].SupersededAt.Equal(items[j].SupersededAt) {
			return items[i].SupersededAt.Before(items[j].SupersededAt)
		}
		return items[i].UpdateID < items[j].UpdateID
	})
	return items
}

// roundDays renders d in days when it is at least one, else in hours or
// minutes.
func roundDays(d time.Duration) string {
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	case d >= time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return d.Round(time.Minute).String()
}
