package server

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

// The publisher's release lifecycle: posting, withdrawal, test groups, the
// verdict of tests from agent reports, and the SLA.

func (s *Server) releaseHandlers() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /api/v1/updates/{id}/history":                    s.updateHistory,
		"POST /api/v1/updates/{id}/post":                      s.postUpdate,
		"POST /api/v1/updates/{id}/withdraw":                  s.withdrawUpdate,
		"GET /api/v1/release/test-groups":                     s.listTestGroups,
		"PUT /api/v1/release/test-groups/{group}":             s.addTestGroup,
		"DELETE /api/v1/release/test-groups/{group}":          s.removeTestGroup,
		"GET /api/v1/release/sla":                             s.getSLA,
		"PUT /api/v1/release/sla/{severity}":                  s.setSLA,
		"GET /api/v1/reports/sla":                             s.reportSLA,
		"POST /api/v1/release/consolidate":                    s.consolidate,
		"GET /api/v1/release/test-policy":                     s.testPolicy,
		"PUT /api/v1/release/test-groups/{group}/min-success": s.setMinSuccess,
		"POST /api/v1/release/cleanup":                        s.cleanupHandler,
	}
}

// lifecycleEvents are the event types an update's history shows.
var lifecycleEvents = []string{
	patchgate.EventUpdateAdded, patchgate.EventUpdateRevised,
	patchgate.EventUpdateTesting, patchgate.EventUpdateTested, patchgate.EventUpdateFailed,
	patchgate.EventUpdatePosted, patchgate.EventUpdateWithdrawn, patchgate.EventUpdateSuperseded,
	patchgate.EventSLABreached, patchgate.EventSLAApproaching,
}

func (s *Server) updateHistory(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	st, err := s.store.ReleaseState(ctx, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	evs, err := s.store.ListEvents(ctx, patchgate.EventFilter{UpdateID: id, Limit: 10000})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := adminapi.UpdateHistory{Release: st, Events: []patchgate.Event{}}
	for _, ev := range evs {
		if slices.Contains(lifecycleEvents, ev.Type) {
			h.Events = append(h.Events, ev)
		}
	}
	writeJSON(w, http.StatusOK, h)
}

func checkReason(field, reason string) error {
	if len(reason) > adminapi.MaxReasonBytes {
		return patchgate.Invalid(field, "longer than %d bytes", adminapi.MaxReasonBytes)
	}
	if strings.ContainsFunc(reason, func(r rune) bool { return r < 0x20 && r != '\t' }) {
		return patchgate.Invalid(field, "contains control characters")
	}
	return nil
}

// post moves update id to posted under the rules of patchgate.CheckPost.
func (s *Server) post(ctx context.Context, r *http.Request, id string, req patchgate.PostRequest) (patchgate.ReleaseState, error) {
	st, err := s.store.ReleaseState(ctx, id)
	if err != nil {
		return st, err
	}
	if err := patchgate.CheckPost(id, st.Status, req); err != nil {
		return st, err
	}
	from := []patchgate.UpdateStatus{patchgate.StatusTested}
	forced := st.Status != patchgate.StatusTested
	ev := s.event(r, patchgate.EventUpdatePosted)
	if forced {
		from = []patchgate.UpdateStatus{st.Status}
		ev.Detail = "forced, untested; reason: " + req.Reason
	} else if req.Reason != "" {
		ev.Detail = "reason: " + req.Reason
	}
	if _, err := s.store.TransitionUpdate(ctx, id, from, patchgate.StatusPosted, forced, ev.Time, ev); err != nil {
		return st, err
	}
	s.invalidate()
	if err := s.supersede(ctx, r, id); err != nil {
		return st, err
	}
	// Rules act on what was just posted (a failure is logged; the
	// periodic run catches up).
	s.runRulesJob(ctx, "posted "+id)
	return s.store.ReleaseState(ctx, id)
}

// supersede marks the posted updates that a newly posted update
// supersedes (a Service Release's constituents) superseded. They stay in
// plans, where supersedence already steers hosts to the new update.
func (s *Server) supersede(ctx context.Context, r *http.Request, id string) error {
	u, err := s.store.GetUpdate(ctx, id)
	if err != nil {
		return err
	}
	for _, old := range u.Supersedes {
		ev := s.event(r, patchgate.EventUpdateSuperseded)
		ev.Detail = "by " + id
		_, err := s.store.TransitionUpdate(ctx, old, []patchgate.UpdateStatus{patchgate.StatusPosted}, patchgate.StatusSuperseded, false, ev.Time, ev)
		if err != nil && patchgate.ErrorCode(err) != patchgate.CodeConflict && !patchgate.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// checkGraph refuses an update whose supersedes or requires would close
// a cycle in the catalog (patchgate.CheckUpdateGraph).
func (s *Server) checkGraph(ctx context.Context, u patchgate.Update) error {
	if len(u.Supersedes) == 0 && len(u.Requires) == 0 {
		return nil
	}
	us, err := s.store.ListUpdates(ctx, patchgate.UpdateFilter{})
	if err != nil {
		return err
	}
	return patchgate.CheckUpdateGraph(us, u)
}

func (s *Server) consolidate(w http.ResponseWriter, r *http.Request) {
	var req adminapi.ConsolidateRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	resp, err := s.consolidateProduct(r.Context(), req.Product, req.DryRun, actor(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if resp.Created {
		status = http.StatusCreated
	}
	writeJSON(w, status, resp)
}

// releaseStates returns the release state of every update by id.
func (s *Server) releaseStates(ctx context.Context) (map[string]patchgate.ReleaseState, error) {
	states, err := s.store.ReleaseStates(ctx)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]patchgate.ReleaseState, len(states))
	for _, st := range states {
		byID[st.UpdateID] = st
	}
	return byID, nil
}

// consolidateProduct builds (or, dry, shows) the next Service Release of a
// product line; who is recorded as its author.
func (s *Server) consolidateProduct(ctx context.Context, product string, dryRun bool, who string) (adminapi.ConsolidateResponse, error) {
	us, err := s.store.ListUpdates(ctx, patchgate.UpdateFilter{})
	if err != nil {
		return adminapi.ConsolidateResponse{}, err
	}
	byID, err := s.releaseStates(ctx)
	if err != nil {
		return adminapi.ConsolidateResponse{}, err
	}
	now := s.now().UTC()
	c, err := patchgate.ConsolidateServiceRelease(product, us, byID, now)
	if err != nil {
		return adminapi.ConsolidateResponse{}, err
	}
	resp := adminapi.ConsolidateResponse{Consolidation: c, DryRun: dryRun}
	if c.Update == nil {
		return resp, nil
	}
	if err := patchgate.CheckUpdateGraph(us, *c.Update); err != nil {
		return resp, err
	}
	if dryRun {
		return resp, nil
	}
	sr := *c.Update
	sr.CreatedAt, sr.CreatedBy = now, who
	ev := patchgate.Event{ID: "adm-" + randomHex(10), Time: now, Type: patchgate.EventUpdateAdded, Actor: who, UpdateID: sr.ID,
		Detail: fmt.Sprintf("service release consolidating %v", c.Constituents)}
	stored, created, err := s.store.PutUpdate(ctx, sr, ev)
	if err != nil {
		return resp, err
	}
	s.invalidate()
	st, err := s.store.ReleaseState(ctx, stored.ID)
	if err != nil {
		return resp, err
	}
	resp.Update, resp.Created, resp.Release = &stored, created, &st
	return resp, nil
}

// consolidateAll runs the scheduled consolidation: the next Service
// Release of every product line that has posted fixes not yet in one. A
// product with nothing new builds nothing.
func (s *Server) consolidateAll(ctx context.Context) (built []string, err error) {
	us, err := s.store.ListUpdates(ctx, patchgate.UpdateFilter{})
	if err != nil {
		return nil, err
	}
	products := map[string]bool{}
	for _, u := range us {
		if u.Kind == patchgate.KindServiceRelease {
			continue
		}
		for _, p := range u.Products {
			products[p.Name] = true
		}
	}
	names := make([]string, 0, len(products))
	for p := range products {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		resp, err := s.consolidateProduct(ctx, p, false, "system:schedule")
		if err != nil {
			return built, fmt.Errorf("consolidating %s: %w", p, err)
		}
		if resp.Created && resp.Update != nil {
			built = append(built, resp.Update.ID)
		}
	}
	return built, nil
}

func (s *Server) postUpdate(w http.ResponseWriter, r *http.Request) {
	var req adminapi.PostUpdateRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := checkReason("reason", req.Reason); err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.post(r.Context(), r, r.PathValue("id"), patchgate.PostRequest{Force: req.Force, Reason: req.Reason})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) withdrawUpdate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req adminapi.WithdrawUpdateRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if strings.TrimSpace(req.Reason) == "" {
		s.writeError(w, r, patchgate.Invalid("reason", "is required: say why the update is withdrawn"))
		return
	}
	if err := checkReason("reason", req.Reason); err != nil {
		s.writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	ev := s.event(r, patchgate.EventUpdateWithdrawn)
	ev.Detail = "reason: " + req.Reason
	from := slices.DeleteFunc(slices.Clone(patchgate.Statuses), func(st patchgate.UpdateStatus) bool { return st == patchgate.StatusWithdrawn })
	if _, err := s.store.TransitionUpdate(ctx, id, from, patchgate.StatusWithdrawn, false, ev.Time, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.invalidate()
	st, err := s.store.ReleaseState(ctx, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) listTestGroups(w http.ResponseWriter, r *http.Request) {
	gs, err := s.store.TestGroups(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, gs)
}

func (s *Server) addTestGroup(w http.ResponseWriter, r *http.Request) {
	group := r.PathValue("group")
	if err := validGroup("group", group); err != nil {
		s.writeError(w, r, err)
		return
	}
	ev := s.event(r, patchgate.EventTestGroupChanged)
	ev.Detail = "test group added: " + group
	if err := s.store.AddTestGroup(r.Context(), group, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.invalidate()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) removeTestGroup(w http.ResponseWriter, r *http.Request) {
	group := r.PathValue("group")
	ev := s.event(r, patchgate.EventTestGroupChanged)
	ev.Detail = "test group removed: " + group
	if err := s.store.RemoveTestGroup(r.Context(), group, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.invalidate()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) testPolicy(w http.ResponseWriter, r *http.Request) {
	gs, err := s.store.TestGroupPolicies(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, adminapi.TestPolicy{Groups: gs})
}

func (s *Server) setMinSuccess(w http.ResponseWriter, r *http.Request) {
	group := r.PathValue("group")
	if err := validGroup("group", group); err != nil {
		s.writeError(w, r, err)
		return
	}
	var req adminapi.SetMinSuccessRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.MinSuccess < 0 || req.MinSuccess > patchgate.MaxMinSuccess {
		s.writeError(w, r, patchgate.Invalid("min_success", "must be between 0 (every test host that needs the update) and %d, not %d", patchgate.MaxMinSuccess, req.MinSuccess))
		return
	}
	ev := s.event(r, patchgate.EventTestGroupChanged)
	if req.MinSuccess == 0 {
		ev.Detail = fmt.Sprintf("test group %s: tested when every host that needs an update installed it", group)
	} else {
		ev.Detail = fmt.Sprintf("test group %s: tested when %d host(s) that need an update installed it", group, req.MinSuccess)
	}
	if err := s.store.SetTestGroupMinSuccess(r.Context(), group, req.MinSuccess, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.invalidate()
	// A lower count may decide updates in test now, without waiting for
	// the next report.
	if err := s.reevaluateTests(r.Context()); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, patchgate.TestGroup{Name: group, MinSuccess: req.MinSuccess})
}

func (s *Server) slaInfo(ctx context.Context) (adminapi.SLAPolicyInfo, error) {
	p, err := s.store.SLAPolicy(ctx)
	if err != nil {
		return adminapi.SLAPolicyInfo{}, err
	}
	info := adminapi.SLAPolicyInfo{Max: map[patchgate.Severity]string{}, Warn: s.slaWarn.String()}
	for sev, d := range p.Max {
		info.Max[sev] = d.String()
	}
	return info, nil
}

func (s *Server) getSLA(w http.ResponseWriter, r *http.Request) {
	info, err := s.slaInfo(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// maxSLA bounds an SLA: a year is already no SLA at all.
const maxSLA = 366 * 24 * time.Hour

func (s *Server) setSLA(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sev := patchgate.Severity(r.PathValue("severity"))
	if !sev.Valid() {
		s.writeError(w, r, patchgate.Invalid("severity", "must be one of %v, not %q", patchgate.Severities, sev))
		return
	}
	var req adminapi.SetSLARequest
	if err := decodeBody(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	var max time.Duration
	if req.Max != "none" && req.Max != "0" {
		d, err := time.ParseDuration(req.Max)
		if err != nil || d <= 0 || d > maxSLA {
			s.writeError(w, r, patchgate.Invalid("max", "%q is not a duration between 1m and 8784h like 24h, or none", req.Max))
			return
		}
		max = d
	}
	ev := s.event(r, patchgate.EventSLAChanged)
	if max == 0 {
		ev.Detail = fmt.Sprintf("%s: no SLA", sev)
	} else {
		ev.Detail = fmt.Sprintf("%s: posted within %s of received", sev, max)
	}
	if err := s.store.SetSLA(ctx, sev, max, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	info, err := s.slaInfo(ctx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// slaRows evaluates the SLA of every update at now.
func (s *Server) slaRows(ctx context.Context, now time.Time) ([]patchgate.SLARow, map[string]patchgate.ReleaseState, error) {
	states, err := s.store.ReleaseStates(ctx)
	if err != nil {
		return nil, nil, err
	}
	p, err := s.store.SLAPolicy(ctx)
	if err != nil {
		return nil, nil, err
	}
	// Only unposted and recently posted updates are in the report: read
	// those alone, unless they are many (a freshly seeded catalog).
	byID := make(map[string]patchgate.ReleaseState)
	var cand []patchgate.ReleaseState
	for _, st := range states {
		switch {
		case st.Status == patchgate.StatusWithdrawn || st.Status == patchgate.StatusSuperseded:
		case st.Status == patchgate.StatusPosted && (st.PostedAt.IsZero() || now.Sub(st.PostedAt) > patchgate.SLARecent):
		default:
			cand = append(cand, st)
			byID[st.UpdateID] = st
		}
	}
	var us []patchgate.Update
	if len(cand) > 200 {
		if us, err = s.store.ListUpdates(ctx, patchgate.UpdateFilter{}); err != nil {
			return nil, nil, err
		}
	} else {
		for _, st := range cand {
			u, err := s.store.GetUpdate(ctx, st.UpdateID)
			if err != nil {
				return nil, nil, err
			}
			us = append(us, u)
		}
	}
	return patchgate.EvaluateSLA(us, cand, p, s.slaWarn, now), byID, nil
}

func (s *Server) reportSLA(w http.ResponseWriter, r *http.Request) {
	now := s.now().UTC()
	rows, _, err := s.slaRows(r.Context(), now)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if rows == nil {
		rows = []patchgate.SLARow{}
	}
	writeJSON(w, http.StatusOK, adminapi.SLAReport{GeneratedAt: now, Rows: rows})
}

// checkSLA appends sla.breached and sla.approaching events for updates
// whose SLA state calls for one. Each event's ID is derived from the
// update's SLA clock (patchgate.SLAEventID), so running the check again
// appends nothing new: the store refuses a second event with that ID.
func (s *Server) checkSLA(ctx context.Context) (int, error) {
	now := s.now().UTC()
	rows, states, err := s.slaRows(ctx, now)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, row := range rows {
		var typ, detail string
		switch {
		case row.State == patchgate.SLABreached:
			typ = patchgate.EventSLABreached
			detail = fmt.Sprintf("%s update %s not posted by its deadline %s", row.Severity, row.UpdateID, row.Deadline.Format(time.RFC3339))
		case row.State == patchgate.SLAApproaching:
			typ = patchgate.EventSLAApproaching
			detail = fmt.Sprintf("%s update %s must be posted by %s (%s left)", row.Severity, row.UpdateID, row.Deadline.Format(time.RFC3339), row.Remaining.Round(time.Minute))
		default:
			continue
		}
		ev := patchgate.Event{ID: patchgate.SLAEventID(typ, states[row.UpdateID]), Time: now, Type: typ,
			Actor: "system:sla", UpdateID: row.UpdateID, Detail: detail}
		switch err := s.store.AppendEvent(ctx, ev); {
		case err == nil:
			n++
		case patchgate.ErrorCode(err) == patchgate.CodeConflict:
			// Already told.
		default:
			return n, err
		}
	}
	return n, nil
}

func (s *Server) runSLACheck(ctx context.Context) {
	if _, err := s.checkSLA(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("SLA check failed", "err", err)
	}
}

// checkApprovals refuses approvals that the release lifecycle forbids
// (patchgate.CheckApproval) and returns the updates that an install
// approval for a test group sends from received to testing.
func (s *Server) checkApprovals(ctx context.Context, ids []string, action patchgate.Action, group string) ([]string, error) {
	tgs, err := s.store.TestGroups(ctx)
	if err != nil {
		return nil, err
	}
	var toTesting []string
	for i, id := range ids {
		st, err := s.store.ReleaseState(ctx, id)
		if err != nil {
			if patchgate.IsNotFound(err) {
				err = patchgate.Invalid(fmt.Sprintf("updates[%d]", i), "no update %q", id)
			}
			return nil, err
		}
		if err := patchgate.CheckApproval(id, st.Status, action, group, tgs); err != nil {
			return nil, err
		}
		if st.Status == patchgate.StatusReceived {
			toTesting = append(toTesting, id)
		}
	}
	return toTesting, nil
}

// startTesting moves updates approved for a test group from received to
// testing; one that has moved on meanwhile is left as it is.
func (s *Server) startTesting(ctx context.Context, r *http.Request, ids []string, group string) error {
	for _, id := range ids {
		ev := s.event(r, patchgate.EventUpdateTesting)
		ev.Detail = "approved for test group " + group
		_, err := s.store.TransitionUpdate(ctx, id, []patchgate.UpdateStatus{patchgate.StatusReceived}, patchgate.StatusTesting, false, ev.Time, ev)
		if err != nil && patchgate.ErrorCode(err) != patchgate.CodeConflict {
			return err
		}
	}
	if len(ids) > 0 {
		s.invalidate()
	}
	return nil
}

// evaluateTests re-decides the test verdict of the updates that agent
// events just moved, if they are in testing (or tested, which a late
// failure turns to failed). Updates out of test cost a map lookup.
func (s *Server) evaluateTests(ctx context.Context, evs []patchgate.Event) {
	var ids []string
	for _, e := range evs {
		if (e.State == patchgate.StateInstalled || e.State == patchgate.StateFailed) && !slices.Contains(ids, e.UpdateID) {
			ids = append(ids, e.UpdateID)
		}
	}
	if len(ids) == 0 {
		return
	}
	snap, err := s.snapshot(ctx)
	if err != nil {
		s.log.Error("test verdict: snapshot failed", "err", err)
		return
	}
	for _, id := range ids {
		if st := snap.release[id]; st != patchgate.StatusTesting && st != patchgate.StatusTested {
			continue
		}
		if err := s.evaluateTest(ctx, snap, id); err != nil {
			// The agent's report is stored; the next report re-decides.
			s.log.Error("test verdict failed", "update", id, "err", err)
		}
	}
}

// reevaluateTests re-decides the verdict of every update in testing.
func (s *Server) reevaluateTests(ctx context.Context) error {
	snap, err := s.snapshot(ctx)
	if err != nil {
		return err
	}
	ids := make([]string, 0)
	for id, st := range snap.release {
		if st == patchgate.StatusTesting {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		if err := s.evaluateTest(ctx, snap, id); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) evaluateTest(ctx context.Context, snap *snapshot, id string) error {
	st, err := s.store.ReleaseState(ctx, id)
	if err != nil {
		return err
	}
	if st.Status != patchgate.StatusTesting && st.Status != patchgate.StatusTested {
		return nil
	}
	u, err := s.store.GetUpdate(ctx, id)
	if err != nil {
		return err
	}
	// The store's memberships, not the snapshot's: hosts enrolled since
	// the snapshot was built are missing from it. Only reports about
	// updates in test get here, and those come from test hosts.
	members, err := s.store.Memberships(ctx)
	if err != nil {
		return err
	}
	var hosts []patchgate.TestHost
	var deps []patchgate.Deployment
	for hostID, groups := range members {
		if !slices.ContainsFunc(groups, func(g string) bool { return slices.Contains(snap.testGroups, g) }) {
			continue
		}
		h, err := s.store.GetHost(ctx, hostID)
		if err != nil {
			return err
		}
		hosts = append(hosts, patchgate.TestHost{ID: h.ID, Groups: groups, Products: h.Products, Installed: h.Installed})
		ds, err := s.store.ListDeployments(ctx, hostID)
		if err != nil {
			return err
		}
		deps = append(deps, ds...)
	}
	policies, err := s.store.TestGroupPolicies(ctx)
	if err != nil {
		return err
	}
	verdict, why := patchgate.TestVerdict(u, hosts, deps, policies)
	if verdict == st.Status || verdict == patchgate.StatusTesting {
		return nil
	}
	ev := patchgate.Event{ID: "sys-" + randomHex(10), Time: s.now().UTC(), Type: patchgate.StatusEvent(verdict),
		Actor: "system:testing", Detail: why}
	_, err = s.store.TransitionUpdate(ctx, id, []patchgate.UpdateStatus{st.Status}, verdict, false, ev.Time, ev)
	if err != nil && patchgate.ErrorCode(err) != patchgate.CodeConflict {
		return err
	}
	s.invalidate()
	return nil
}

// checkAddPost checks the post part of an add request before anything is
// stored: an added update is received (untested), so posting it at once
// takes force and a reason.
func checkAddPost(req adminapi.AddUpdateRequest) error {
	if !req.Post {
		if req.Force || req.Reason != "" {
			return patchgate.Invalid("force", "force and reason apply only with post")
		}
		return nil
	}
	if !req.Force {
		return patchgate.Invalid("force", "an added update is untested: posting it at once needs force and a reason")
	}
	if strings.TrimSpace(req.Reason) == "" {
		return patchgate.Invalid("reason", "posting an untested update needs a reason (it goes to the audit log)")
	}
	return checkReason("reason", req.Reason)
}
