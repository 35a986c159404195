package patchgate

import (
	"fmt"
	"sort"
	"time"
)

// Catalog is an immutable, indexed view of the latest revision of every
// update, built once per catalog change and shared by every plan computed
// until the next change. Plans only look at the updates of the products a
// host has, so a plan costs little even with a large catalog.
type Catalog struct {
	updates   map[string]*catalogEntry
	byProduct map[string][]*catalogEntry
	// supersededBy maps an update to the updates that name it in
	// Supersedes.
	supersededBy map[string][]string
}

type catalogEntry struct {
	Update
	constraints []Constraint // parallel to Update.Products
}

// NewCatalog indexes updates. Constraints were validated when the updates
// were accepted; one that no longer parses makes the product not match.
func NewCatalog(updates []Update) *Catalog {
	c := &Catalog{
		updates:      make(map[string]*catalogEntry, len(updates)),
		byProduct:    make(map[string][]*catalogEntry),
		supersededBy: make(map[string][]string),
	}
	for _, u := range updates {
		e := &catalogEntry{Update: u}
		for _, p := range u.Products {
			con, err := ParseConstraint(p.Versions)
			if err != nil {
				// An unknown operator matches no version at all.
				con = Constraint{alts: [][]clause{{{op: "never"}}}}
			}
			e.constraints = append(e.constraints, con)
			list := c.byProduct[p.Name]
			if len(list) == 0 || list[len(list)-1] != e {
				c.byProduct[p.Name] = append(list, e)
			}
		}
		c.updates[u.ID] = e
		for _, s := range u.Supersedes {
			c.supersededBy[s] = append(c.supersededBy[s], u.ID)
		}
	}
	return c
}

// Len returns the number of updates in the catalog.
func (c *Catalog) Len() int { return len(c.updates) }

// Get returns an update by id.
func (c *Catalog) Get(id string) (Update, bool) {
	e, ok := c.updates[id]
	if !ok {
		return Update{}, false
	}
	return e.Update, true
}

// Applicable reports whether update id applies to a host with products.
func (c *Catalog) Applicable(id string, products []InstalledProduct) bool {
	e, ok := c.updates[id]
	return ok && e.applicable(products)
}

func (e *catalogEntry) applicable(products []InstalledProduct) bool {
	for i, p := range e.Products {
		for _, hp := range products {
			if hp.Name == p.Name && e.constraints[i].Matches(hp.Version) {
				return true
			}
		}
	}
	return false
}

// SupersededBy returns the ids of updates that supersede id directly.
func (c *Catalog) SupersededBy(id string) []string { return c.supersededBy[id] }

// ApprovalIndex groups approvals by update, for plan computation.
type ApprovalIndex map[string][]Approval

// NewApprovalIndex indexes approvals by update id.
func NewApprovalIndex(as []Approval) ApprovalIndex {
	idx := make(ApprovalIndex)
	for _, a := range as {
		idx[a.UpdateID] = append(idx[a.UpdateID], a)
	}
	return idx
}

// PlanHost is what a plan depends on of a host.
type PlanHost struct {
	ID            string
	Mode          Mode
	Groups        []string
	Products      []InstalledProduct
	Installed     []string
	RebootPending []string
	// Tree nests the groups (nil = flat: every group below GroupAll).
	Tree *GroupTree
}

// ComputePlan decides what a host should install and uninstall now:
//
//   - install: updates whose effective approval (ResolveScoped over the
//     host's nested groups, see grouptree.go) for the host is
//     install, that apply to one of its products at its version, that are not
//     installed (or waiting for a reboot), and that are not superseded by an
//     update that is installed, or approved and applicable for this host;
//   - each planned update's prerequisites (Requires) must be installed,
//     covered by an installed update that supersedes them, or planned first
//     (themselves, or an update that supersedes them); otherwise the update
//     is Blocked with the reason;
//   - uninstall: installed updates whose effective approval is uninstall;
//   - order: uninstalls first, then installs with prerequisites before the
//     updates that need them, otherwise by id.
//
// Manual hosts get the same plan with Manual set: nothing installs by
// itself, people are told what to do.
func ComputePlan(cat *Catalog, approvals ApprovalIndex, h PlanHost) Plan {
	scopes := h.Tree.Scopes(h.Groups)
	plan := Plan{HostID: h.ID, Manual: h.Mode == ModeManual, Items: []PlanItem{}, RebootPolicy: h.Tree.rebootPolicy(scopes)}
	have := make(map[string]bool, len(h.Installed)+len(h.RebootPending))
	for _, id := range h.Installed {
		have[id] = true
	}
	for _, id := range h.RebootPending {
		have[id] = true
	}

	// Approved and applicable install candidates, found through the host's
	// products only.
	approved := make(map[string]Effective)
	seen := make(map[string]bool)
	for _, p := range h.Products {
		for _, e := range cat.byProduct[p.Name] {
			if seen[e.ID] {
				continue
			}
			seen[e.ID] = true
			eff := ResolveScoped(approvals[e.ID], scopes)
			if eff.Action != ActionInstall || !e.applicable(h.Products) {
				continue
			}
			approved[e.ID] = eff
		}
	}

	// covered reports whether id is made unnecessary by an installed or
	// approved-applicable update that supersedes it, directly or not. It
	// walks the supersedence graph once, visiting each update at most once,
	// so cycles end and shared ancestors are not walked again.
	covered := func(id string) bool {
		var visited map[string]bool
		stack := []string{id}
		for len(stack) > 0 {
			cur := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, s := range cat.supersededBy[cur] {
				if have[s] {
					return true
				}
				if _, ok := approved[s]; ok {
					return true
				}
				if !visited[s] {
					if visited == nil {
						visited = make(map[string]bool)
					}
					visited[s] = true
					stack = append(stack, s)
				}
			}
		}
		return false
	}

	candidates := make(map[string]Effective)
	for id, eff := range approved {
		if have[id] || covered(id) {
			continue
		}
		candidates[id] = eff
	}

	// Uninstalls: installed updates approved for removal.
	var uninstalls []string
	for _, id := range h.Installed {
		e, ok := cat.updates[id]
		if !ok {
			continue
		}
		if ResolveScoped(approvals[id], scopes).Action == ActionUninstall {
			uninstalls = append(uninstalls, e.ID)
		}
	}
	sort.Strings(uninstalls)
	for _, id := range uninstalls {
		plan.Items = append(plan.Items, item(cat.updates[id], ActionUninstall, nil))
	}

	// Installs in prerequisite order; a candidate whose prerequisite can be
	// neither found nor planned is blocked.
	ids := make([]string, 0, len(candidates))
	for id := range candidates {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	const (
		visiting = 1
		done     = 2
		blocked  = 3
	)
	mark := make(map[string]int)
	reasons := make(map[string]string) // why a blocked update is blocked
	// standIns reports whether an installed update supersedes prerequisite
	// r, directly or not, and otherwise the candidates that do, by id.
	standIns := func(r string) (installed bool, cands []string) {
		if len(cat.supersededBy[r]) == 0 {
			return false, nil
		}
		visited := map[string]bool{r: true}
		for next := []string{r}; len(next) > 0; {
			cur := next[len(next)-1]
			next = next[:len(next)-1]
			for _, s := range cat.supersededBy[cur] {
				if visited[s] {
					continue
				}
				visited[s] = true
				if have[s] {
					return true, nil
				}
				if _, ok := candidates[s]; ok {
					cands = append(cands, s)
				}
				next = append(next, s)
			}
		}
		sort.Strings(cands)
		return false, cands
	}
	var visit func(id string) (ok bool, reason string)
	visit = func(id string) (bool, string) {
		switch mark[id] {
		case done:
			return true, ""
		case blocked:
			return false, reasons[id]
		case visiting:
			return false, "prerequisite cycle"
		}
		mark[id] = visiting
		e := cat.updates[id]
	requires:
		for _, r := range e.Requires {
			if have[r] {
				continue
			}
			// An update superseding r stands in for it: installed, or
			// planned first.
			installed, cands := standIns(r)
			if installed {
				continue
			}
			why := ""
			for _, c := range cands {
				if c == id {
					continue requires
				}
				ok, w := visit(c)
				if ok {
					continue requires
				}
				if why == "" {
					why = fmt.Sprintf("requires %s, superseded by %s: %s", r, c, w)
				}
			}
			if why != "" {
				mark[id] = blocked
				reasons[id] = why
				return false, why
			}
			if _, ok := candidates[r]; !ok {
				mark[id] = blocked
				reasons[id] = fmt.Sprintf("requires %s, which is neither installed nor approved for this host", r)
				return false, reasons[id]
			}
			if ok, why := visit(r); !ok {
				mark[id] = blocked
				reasons[id] = fmt.Sprintf("requires %s: %s", r, why)
				return false, reasons[id]
			}
		}
		mark[id] = done
		eff := candidates[id]
		plan.Items = append(plan.Items, item(e, ActionInstall, eff.Deadline))
		plan.Items[len(plan.Items)-1].Emergency = eff.Emergency
		return true, ""
	}
	for _, id := range ids {
		if ok, why := visit(id); !ok && mark[id] == blocked {
			plan.Blocked = append(plan.Blocked, BlockedItem{UpdateID: id, Reason: why})
		}
	}
	return plan
}

func item(e *catalogEntry, a Action, deadline *time.Time) PlanItem {
	return PlanItem{
		UpdateID: e.ID, Revision: e.Revision, Title: e.Title, Kind: e.Kind, Severity: e.Severity,
		Action: a, Deadline: deadline, Reboot: e.Reboot, Payloads: e.Payloads,
	}
}
