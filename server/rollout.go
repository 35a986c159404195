package server

import (
	"context"
	"fmt"
	"net/http"
	"sort"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"time"
)

// rolloutStartTTL is how long a permission to start counts as an install
// in progress when the host reports nothing newer: an agent that died
// after check-in must not hold a slot for ever.
const rolloutStartTTL = 2 * time.Hour

func (s *Server) loadRollouts(ctx context.Context) (map[string]patchgate.RolloutPolicy, error) {
	ps, err := s.store.ListRolloutPolicies(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[string]patchgate.RolloutPolicy, len(ps))
	for _, p := range ps {
		m[p.Group] = p
	}
	return m, nil
}

// applyRollouts decides, for each install an automatic host may carry out
// now (its window allows it), whether the rollout policies of its groups
// let it start: the store counts and hands out starts atomically, so
// simultaneous check-ins, even on several servers sharing the store, cannot
// exceed a limit. Items refused wait (InstallAllowed false, with the
// reason); the agent then keeps no ETag and asks again. Emergency approvals
// skip windows, not rollouts: a halt still protects the group.
//
// It writes only for hosts that have something to install in a group with
// a policy; every other check-in is untouched.
func (s *Server) applyRollouts(ctx context.Context, snap *snapshot, hostID string, mode patchgate.Mode, groups []string, p *patchgate.Plan, now time.Time) error {
	if len(snap.rollouts) == 0 || mode == patchgate.ModeManual || p.Manual {
		return nil
	}
	var policies []patchgate.RolloutPolicy
	for _, g := range groups {
		if pol, ok := snap.rollouts[g]; ok {
			policies = append(policies, pol)
		}
	}
	if len(policies) == 0 {
		return nil
	}
	sort.Slice(policies, func(i, j int) bool { return policies[i].Group < policies[j].Group })
	for i := range p.Items {
		it := &p.Items[i]
		if it.Action != patchgate.ActionInstall || !it.MayInstall() {
			continue
		}
		for _, pol := range policies {
			ev := patchgate.Event{ID: "rollout-" + randomHex(10), Time: now, Type: patchgate.EventRolloutHalted,
				Actor: "system", HostID: hostID, UpdateID: it.UpdateID}
			d, _, err := s.store.StartRollout(ctx, pol, it.UpdateID, hostID, now, rolloutStartTTL, ev)
			if err != nil {
				return err
			}
			if d.Halt {
				s.log.Warn("rollout halted", "group", pol.Group, "update", it.UpdateID, "reason", d.Reason)
			}
			if !d.Start {
				no := false
				it.InstallAllowed, it.WindowClosesAt, it.InstallReason = &no, nil, d.Reason
				break
			}
		}
	}
	return nil
}

func (s *Server) rolloutStatus(ctx context.Context, p patchgate.RolloutPolicy) (adminapi.RolloutStatus, error) {
	h, err := s.store.GetRolloutHalt(ctx, p.Group)
	return adminapi.RolloutStatus{Policy: p, Halt: h}, err
}

func (s *Server) findRollout(ctx context.Context, group string) (patchgate.RolloutPolicy, error) {
	ps, err := s.store.ListRolloutPolicies(ctx)
	if err != nil {
		return patchgate.RolloutPolicy{}, err
	}
	for _, p := range ps {
		if p.Group == group {
			return p, nil
		}
	}
	return patchgate.RolloutPolicy{}, patchgate.NotFound("group %q has no rollout policy", group)
}

func (s *Server) listRollouts(w http.ResponseWriter, r *http.Request) {
	ps, err := s.store.ListRolloutPolicies(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]adminapi.RolloutStatus, 0, len(ps))
	for _, p := range ps {
		st, err := s.rolloutStatus(r.Context(), p)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out = append(out, st)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getRollout(w http.ResponseWriter, r *http.Request) {
	p, err := s.findRollout(r.Context(), r.PathValue("group"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.rolloutStatus(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) setRollout(w http.ResponseWriter, r *http.Request) {
	var req adminapi.SetRolloutRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	group := r.PathValue("group")
	if err := validGroup("group", group); err != nil {
		s.writeError(w, r, err)
		return
	}
	p := patchgate.RolloutPolicy{Group: group, Canary: req.Canary, UpdatedAt: s.now().UTC(), UpdatedBy: actor(r)}
	var err error
	if p.MaxConcurrent, p.MaxConcurrentPercent, err = patchgate.ParseRolloutLimit("max_concurrent", req.MaxConcurrent); err != nil {
		s.writeError(w, r, err)
		return
	}
	if p.MaxFailures, p.MaxFailuresPercent, err = patchgate.ParseRolloutLimit("max_failures", req.MaxFailures); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := p.Validate(); err != nil {
		s.writeError(w, r, err)
		return
	}
	ev := s.event(r, patchgate.EventRolloutSet)
	ev.Detail = fmt.Sprintf("rollout of group %s: max concurrent %s, max failures %s, canary %d", group,
		patchgate.LimitText(p.MaxConcurrent, p.MaxConcurrentPercent), patchgate.LimitText(p.MaxFailures, p.MaxFailuresPercent), p.Canary)
	if err := s.store.SetRolloutPolicy(r.Context(), p, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.invalidate()
	st, err := s.rolloutStatus(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) deleteRollout(w http.ResponseWriter, r *http.Request) {
	group := r.PathValue("group")
	ev := s.event(r, patchgate.EventRolloutRemoved)
	ev.Detail = "removed the rollout policy of group " + group
	if err := s.store.DeleteRolloutPolicy(r.Context(), group, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.invalidate()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) resumeRollout(w http.ResponseWriter, r *http.Request) {
	group := r.PathValue("group")
	p, err := s.findRollout(r.Context(), group)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ev := s.event(r, patchgate.EventRolloutResumed)
	ev.Detail = "resumed the rollout of group " + group
	if err := s.store.ResumeRollout(r.Context(), group, s.now().UTC(), ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.rolloutStatus(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}
