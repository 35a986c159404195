package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

// The cleanup of superseded updates: decline, for every host, those that
// no host needs any more (patchgate.DecideCleanup).

// maxCleanupAge bounds the age a cleanup takes.
const maxCleanupAge = 10 * 365 * 24 * time.Hour

func (s *Server) cleanupHandler(w http.ResponseWriter, r *http.Request) {
	var req adminapi.CleanupRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	age := s.cleanupAge
	if req.Age != "" {
		d, err := adminapi.ParseAge(req.Age)
		if err != nil || d < 0 || d > maxCleanupAge {
			s.writeError(w, r, patchgate.Invalid("age", "%q is not a duration between 0 and 3650d like 30d or 720h", req.Age))
			return
		}
		age = d
	}
	rep, err := s.cleanup(r.Context(), age, req.DryRun)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// cleanup decides which superseded updates no host needs after age and,
// unless dry, declines them for GroupAll as the cleanup actor, in one
// transaction with one release.cleanup event.
func (s *Server) cleanup(ctx context.Context, age time.Duration, dry bool) (adminapi.CleanupReport, error) {
	now := s.now().UTC()
	rep := adminapi.CleanupReport{GeneratedAt: now, Age: age.String(), DryRun: dry, Items: []patchgate.CleanupItem{}}
	snap, err := s.snapshot(ctx)
	if err != nil {
		return rep, err
	}
	states, err := s.store.ReleaseStates(ctx)
	if err != nil {
		return rep, err
	}
	var candidates []patchgate.ReleaseState
	for _, st := range states {
		if st.Status == patchgate.StatusSuperseded {
			candidates = append(candidates, st)
		}
	}
	if len(candidates) == 0 {
		return rep, nil
	}
	hosts, err := s.store.ListHosts(ctx)
	if err != nil {
		return rep, err
	}
	phs := make([]patchgate.PlanHost, 0, len(hosts))
	for _, h := range hosts {
		inv, err := s.manualInventory(ctx, h)
		if err != nil {
			return rep, err
		}
		phs = append(phs, planHost(snap, h.ID, h.Groups, inv))
	}
	rep.Items = patchgate.DecideCleanup(snap.catalog, snap.approvals, candidates, phs, age, now)
	var as []patchgate.Approval
	var ids []string
	for _, it := range rep.Items {
		if it.Decline {
			as = append(as, patchgate.Approval{UpdateID: it.UpdateID, Group: patchgate.GroupAll, Action: patchgate.ActionDecline,
				CreatedBy: patchgate.CleanupActor, CreatedAt: now})
			ids = append(ids, it.UpdateID)
		}
	}
	rep.Declined = len(ids)
	if dry || len(as) == 0 {
		return rep, nil
	}
	ev := patchgate.Event{ID: "sys-" + randomHex(10), Time: now, Type: patchgate.EventCleanup, Actor: patchgate.CleanupActor,
		Detail: fmt.Sprintf("declined for %s superseded updates no host needs after %s: %s", patchgate.GroupAll, age, strings.Join(ids, ", "))}
	if len(ids) == 1 {
		ev.UpdateID = ids[0]
	}
	if err := s.store.SetApprovals(ctx, as, ev); err != nil {
		return rep, err
	}
	s.invalidate()
	return rep, nil
}

// runCleanup is the scheduled cleanup job.
func (s *Server) runCleanup(ctx context.Context) {
	rep, err := s.cleanup(ctx, s.cleanupAge, false)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("scheduled cleanup failed", "err", err)
		}
		return
	}
	s.log.Info("scheduled cleanup", "declined", rep.Declined, "kept", len(rep.Items)-rep.Declined)
}
