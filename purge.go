package patchgate

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"
)

// Retention of the catalog: `patchgate cleanup` removes updates nobody
// will install again, with the content no other update needs.

// PurgeDefaultAge is how long a withdrawn or superseded-and-declined
// update stays before cleanup removes it.
const PurgeDefaultAge = 30 * 24 * time.Hour

// PurgeItem is an update cleanup removes, and why.
type PurgeItem struct {
	UpdateID string       `json:"update_id"`
	Status   UpdateStatus `json:"status"`
	Since    time.Time    `json:"since"`
	Reason   string       `json:"reason"`
}

// RevisionPayload is one payload of one stored revision of an update.
type RevisionPayload struct {
	UpdateID string `json:"update_id"`
	Revision int    `json:"revision"`
	SHA256   string `json:"sha256"`
	Size     int64  `json:"size"`
}

// PurgePlan is what cleanup removes: updates, then the content only
// they referenced.
type PurgePlan struct {
	Updates []PurgeItem       `json:"updates"`
	Content []RevisionPayload `json:"content"` // one per sha256, by sha256 (UpdateID: the first that had it)
	Bytes   int64             `json:"bytes"`
}

// PlanPurge decides what cleanup removes at now: updates withdrawn, or
// superseded and declined (declined in some group, approved for install
// or uninstall in none), for longer than age, unless an update that stays
// requires them; and the content of their revisions that no revision of
// an update that stays references. Content an approved update or a
// pending plan needs is therefore never removed: such updates stay.
func PlanPurge(states []ReleaseState, updates []Update, approvals []Approval, payloads []RevisionPayload, now time.Time, age time.Duration) PurgePlan {
	byID := make(map[string]Update, len(updates))
	for _, u := range updates {
		byID[u.ID] = u
	}
	acts := map[string][]Action{}
	for _, a := range approvals {
		acts[a.UpdateID] = append(acts[a.UpdateID], a.Action)
	}
	cutoff := now.Add(-age)
	remove := map[string]PurgeItem{}
	for _, st := range states {
		if st.Since.After(cutoff) {
			continue
		}
		switch {
		case st.Status == StatusWithdrawn:
			remove[st.UpdateID] = PurgeItem{UpdateID: st.UpdateID, Status: st.Status, Since: st.Since,
				Reason: fmt.Sprintf("withdrawn for more than %s", age)}
		case st.Status == StatusSuperseded && slices.Contains(acts[st.UpdateID], ActionDecline) &&
			!slices.Contains(acts[st.UpdateID], ActionInstall) && !slices.Contains(acts[st.UpdateID], ActionUninstall):
			remove[st.UpdateID] = PurgeItem{UpdateID: st.UpdateID, Status: st.Status, Since: st.Since,
				Reason: fmt.Sprintf("superseded and declined for more than %s", age)}
		}
	}
	// An update that stays keeps its prerequisites, transitively.
	for changed := true; changed; {
		changed = false
		for _, u := range updates {
			if _, gone := remove[u.ID]; gone {
				continue
			}
			for _, r := range u.Requires {
				if _, ok := remove[r]; ok {
					delete(remove, r)
					changed = true
				}
			}
		}
	}
	plan := PurgePlan{Updates: []PurgeItem{}, Content: []RevisionPayload{}}
	for _, it := range remove {
		plan.Updates = append(plan.Updates, it)
	}
	sort.Slice(plan.Updates, func(i, j int) bool { return plan.Updates[i].UpdateID < plan.Updates[j].UpdateID })
	kept := map[string]bool{}
	for _, p := range payloads {
		if _, gone := remove[p.UpdateID]; !gone {
			kept[p.SHA256] = true
		}
	}
	seen := map[string]bool{}
	payloads = slices.Clone(payloads)
	sort.Slice(payloads, func(i, j int) bool {
		if payloads[i].UpdateID != payloads[j].UpdateID {
			return payloads[i].UpdateID < payloads[j].UpdateID
		}
		return payloads[i].Revision < payloads[j].Revision
	})
	for _, p := range payloads {
		if _, gone := remove[p.UpdateID]; !gone || kept[p.SHA256] || seen[p.SHA256] {
			continue
		}
		seen[p.SHA256] = true
		plan.Content = append(plan.Content, p)
		plan.Bytes += p.Size
	}
	sort.Slice(plan.Content, func(i, j int) bool { return plan.Content[i].SHA256 < plan.Content[j].SHA256 })
	return plan
}

// EventPurge records a cleanup.
const EventPurge = "catalog.cleanup"

// PurgeStore removes updates.
type PurgeStore interface {
	// RevisionPayloads lists the payloads of every stored revision.
	RevisionPayloads(ctx context.Context) ([]RevisionPayload, error)
	// DeleteUpdates removes the updates ids with their revisions,
	// approvals, release state and origin, in one transaction with ev,
	// those still withdrawn or superseded only; it returns the ids it
	// removed.
	DeleteUpdates(ctx context.Context, ids []string, ev Event) ([]string, error)
}
