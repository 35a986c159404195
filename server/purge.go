package server

import (
	"context"
	"net/http"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

// cleanup removes updates nobody installs any more and the content only
// they referenced: the catalog first, then the content the catalog no
// longer names (read again after the removal, so content an update added
// meanwhile references stays).
func (s *Server) purge(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req adminapi.PurgeRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	age := patchgate.PurgeDefaultAge
	if req.OlderThan != "" {
		d, err := time.ParseDuration(req.OlderThan)
		if err != nil || d < 0 {
			s.writeError(w, r, patchgate.Invalid("older_than", "%q is not a duration like 720h", req.OlderThan))
			return
		}
		age = d
	}
	plan, err := s.planPurge(ctx, age)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.DryRun || len(plan.Updates) == 0 {
		writeJSON(w, http.StatusOK, adminapi.PurgeResponse{PurgePlan: plan, DryRun: req.DryRun})
		return
	}
	ids := make([]string, len(plan.Updates))
	for i, it := range plan.Updates {
		ids[i] = it.UpdateID
	}
	removed, err := s.store.DeleteUpdates(ctx, ids, s.event(r, patchgate.EventPurge))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.invalidate()
	plan.Updates = keepItems(plan.Updates, removed)
	// Content: only what no stored revision references now.
	still, err := s.store.RevisionPayloads(ctx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	used := map[string]bool{}
	for _, p := range still {
		used[p.SHA256] = true
	}
	var content []patchgate.RevisionPayload
	plan.Bytes = 0
	for _, c := range plan.Content {
		if used[c.SHA256] {
			continue
		}
		if _, ok, err := s.content.Has(c.SHA256); err != nil || !ok {
			continue // never fetched (a synced update's payload)
		}
		if err := s.content.Remove(c.SHA256); err != nil {
			s.writeError(w, r, err)
			return
		}
		content = append(content, c)
		plan.Bytes += c.Size
	}
	plan.Content = content
	if plan.Content == nil {
		plan.Content = []patchgate.RevisionPayload{}
	}
	writeJSON(w, http.StatusOK, adminapi.PurgeResponse{PurgePlan: plan})
}

func (s *Server) planPurge(ctx context.Context, age time.Duration) (patchgate.PurgePlan, error) {
	states, err := s.store.ReleaseStates(ctx)
	if err != nil {
		return patchgate.PurgePlan{}, err
	}
	updates, err := s.store.ListUpdates(ctx, patchgate.UpdateFilter{})
	if err != nil {
		return patchgate.PurgePlan{}, err
	}
	approvals, err := s.store.ListApprovals(ctx)
	if err != nil {
		return patchgate.PurgePlan{}, err
	}
	payloads, err := s.store.RevisionPayloads(ctx)
	if err != nil {
		return patchgate.PurgePlan{}, err
	}
	return patchgate.PlanPurge(states, updates, approvals, payloads, s.now(), age), nil
}

func keepItems(items []patchgate.PurgeItem, ids []string) []patchgate.PurgeItem {
	in := map[string]bool{}
	for _, id := range ids {
		in[id] = true
	}
	out := []patchgate.PurgeItem{}
	for _, it := range items {
		if in[it.UpdateID] {
			out = append(out, it)
		}
	}
	return out
}
