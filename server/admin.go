package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/agentapi"
)

var groupNamePattern = patchgate.MustBoundedPattern(`^[a-z0-9][a-z0-9._-]*$`, 1, 64)

func validGroup(field, name string) error {
	if !groupNamePattern.MatchString(name) {
		return patchgate.Invalid(field, "%q is not a group name (lowercase letters, digits, . _ -; at most 64)", name)
	}
	return nil
}

func (s *Server) event(r *http.Request, typ string) patchgate.Event {
	return patchgate.Event{ID: "adm-" + randomHex(10), Time: s.now().UTC(), Type: typ, Actor: actor(r)}
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request) {
	t := r.Context().Value(tokenKey).(patchgate.Token)
	writeJSON(w, http.StatusOK, adminapi.WhoAmI{TokenID: t.ID, Name: t.Name, Role: t.Role})
}

func (s *Server) listUpdates(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := patchgate.UpdateFilter{Kind: patchgate.Kind(q.Get("kind")), Severity: patchgate.Severity(q.Get("severity")), Product: q.Get("product")}
	if f.Kind != "" && !f.Kind.Valid() {
		s.writeError(w, r, patchgate.Invalid("kind", "must be one of %v", patchgate.Kinds))
		return
	}
	if f.Severity != "" && !f.Severity.Valid() {
		s.writeError(w, r, patchgate.Invalid("severity", "must be one of %v", patchgate.Severities))
		return
	}
	f.Status = patchgate.UpdateStatus(q.Get("status"))
	if f.Status != "" && !f.Status.Valid() {
		s.writeError(w, r, patchgate.Invalid("status", "must be one of %v", patchgate.Statuses))
		return
	}
	us, err := s.store.ListUpdates(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	byID, err := s.releaseStates(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]adminapi.UpdateInfo, 0, len(us))
	for _, u := range us {
		out = append(out, adminapi.UpdateInfo{Update: u, Release: byID[u.ID]})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getUpdate(w http.ResponseWriter, r *http.Request) {
	u, err := s.store.GetUpdate(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.store.ReleaseState(r.Context(), u.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, adminapi.UpdateInfo{Update: u, Release: st})
}

func (s *Server) putContent(w http.ResponseWriter, r *http.Request) {
	sha := r.PathValue("sha")
	if !agentapi.ValidSHA256(sha) {
		s.writeError(w, r, patchgate.Invalid("sha256", "must be 64 lowercase hex characters"))
		return
	}
	if r.ContentLength > s.maxBytes {
		s.writeError(w, r, &patchgate.Error{Code: patchgate.CodeTooLarge, Field: "payload", Message: fmt.Sprintf("larger than the limit of %d bytes", s.maxBytes)})
		return
	}
	got, size, err := s.content.Put(r.Body, sha, s.maxBytes)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, adminapi.PutContentResponse{SHA256: got, Size: size})
}

func (s *Server) addUpdate(w http.ResponseWriter, r *http.Request) {
	var req adminapi.AddUpdateRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := req.Manifest.Update()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := checkAddPost(req); err != nil {
		s.writeError(w, r, err)
		return
	}
	for i, p := range u.Payloads {
		size, ok, err := s.content.Has(p.SHA256)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if !ok {
			s.writeError(w, r, patchgate.Invalid(fmt.Sprintf("payloads[%d].sha256", i), "no content with sha256 %s was uploaded", p.SHA256))
			return
		}
		if size != p.Size {
			s.writeError(w, r, patchgate.Invalid(fmt.Sprintf("payloads[%d].size", i), "is %d but the uploaded content has %d bytes", p.Size, size))
			return
		}
	}
	if err := s.checkGraph(r.Context(), u); err != nil {
		s.writeError(w, r, err)
		return
	}
	now := s.now().UTC()
	u.CreatedAt, u.CreatedBy = now, actor(r)
	ev := s.event(r, patchgate.EventUpdateAdded)
	ev.UpdateID = u.ID
	stored, created, err := s.store.PutUpdate(r.Context(), u, ev)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if created {
		s.invalidate()
	}
	st, err := s.store.ReleaseState(r.Context(), stored.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Post && !st.Status.Released() {
		// Adding the same manifest with --post again posts nothing twice.
		if st, err = s.post(r.Context(), r, stored.ID, patchgate.PostRequest{Force: req.Force, Reason: req.Reason}); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, adminapi.AddUpdateResponse{Update: stored, Created: created, Release: st})
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := s.store.ListTokens(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if ts == nil {
		ts = []patchgate.Token{}
	}
	writeJSON(w, http.StatusOK, ts)
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var req adminapi.CreateTokenRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	now := s.now().UTC()
	t := patchgate.Token{ID: randomHex(6), Kind: req.Kind, Name: req.Name, CreatedAt: now, CreatedBy: actor(r)}
	if len(req.Name) > 64 {
		s.writeError(w, r, patchgate.Invalid("name", "longer than 64 bytes"))
		return
	}
	prefix := prefixAPI
	switch req.Kind {
	case patchgate.TokenAPI:
		if !req.Role.Valid() {
			s.writeError(w, r, patchgate.Invalid("role", "must be admin, approver, publisher, viewer or downstream, not %q", req.Role))
			return
		}
		if req.Group != "" || req.Mode != "" || req.Uses != nil {
			s.writeError(w, r, patchgate.Invalid("kind", "group, mode and uses apply to enroll tokens only"))
			return
		}
		t.Role = req.Role
	case patchgate.TokenEnroll:
		prefix = prefixEnroll
		if req.Role != "" {
			s.writeError(w, r, patchgate.Invalid("role", "enroll tokens have no role"))
			return
		}
		if req.Group != "" {
			if err := validGroup("group", req.Group); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		if req.Mode != "" && !req.Mode.Valid() {
			s.writeError(w, r, patchgate.Invalid("mode", "must be automatic or manual"))
			return
		}
		if req.Uses != nil && *req.Uses < 1 {
			s.writeError(w, r, patchgate.Invalid("uses", "must be at least 1"))
			return
		}
		t.Group, t.Mode, t.UsesLeft = req.Group, req.Mode, req.Uses
	default:
		s.writeError(w, r, patchgate.Invalid("kind", "must be api or enroll, not %q", req.Kind))
		return
	}
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			s.writeError(w, r, patchgate.Invalid("expires_in", "%q is not a positive duration like 24h", req.ExpiresIn))
			return
		}
		exp := now.Add(d)
		t.ExpiresAt = &exp
	}
	secret, hash := newSecret(prefix, t.ID)
	t.SecretHash = hash
	ev := s.event(r, patchgate.EventTokenCreated)
	ev.Detail = fmt.Sprintf("%s token %s (%s)", t.Kind, t.ID, t.Name)
	if err := s.store.CreateToken(r.Context(), t, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, adminapi.CreateTokenResponse{Token: t, Secret: secret})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	ev := s.event(r, patchgate.EventTokenRevoked)
	ev.Detail = "token " + r.PathValue("id")
	if err := s.store.RevokeToken(r.Context(), r.PathValue("id"), ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request) {
	gs, err := s.store.ListGroups(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if gs == nil {
		gs = []patchgate.Group{}
	}
	writeJSON(w, http.StatusOK, gs)
}

func (s *Server) createGroup(w http.ResponseWriter, r *http.Request) {
	var req adminapi.CreateGroupRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := validGroup("name", req.Name); err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(req.Description) > 512 {
		s.writeError(w, r, patchgate.Invalid("description", "longer than 512 bytes"))
		return
	}
	parent, err := parseParent("parent", req.Parent)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	policy, err := parseRebootPolicy("reboot_policy", req.RebootPolicy)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ev := s.event(r, patchgate.EventGroupChanged)
	ev.Detail = "created group " + req.Name
	if parent != "" {
		ev.Detail += " below " + parent
	}
	g := patchgate.Group{Name: req.Name, Description: req.Description, CreatedAt: s.now().UTC(), Parent: parent, RebootPolicy: policy}
	if err := s.store.CreateGroup(r.Context(), g, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.invalidate()
	writeJSON(w, http.StatusCreated, g)
}

func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ev := s.event(r, patchgate.EventGroupChanged)
	ev.Detail = "deleted group " + name
	if err := s.store.DeleteGroup(r.Context(), name, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.invalidate()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) addGroupHosts(w http.ResponseWriter, r *http.Request) {
	var req adminapi.GroupHostsRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(req.Hosts) == 0 || len(req.Hosts) > 10000 {
		s.writeError(w, r, patchgate.Invalid("hosts", "give between 1 and 10000 host ids"))
		return
	}
	name := r.PathValue("name")
	ev := s.event(r, patchgate.EventGroupChanged)
	ev.Detail = fmt.Sprintf("added %d host(s) to %s", len(req.Hosts), name)
	if err := s.store.AddToGroup(r.Context(), name, req.Hosts, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.invalidate()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) removeGroupHost(w http.ResponseWriter, r *http.Request) {
	name, host := r.PathValue("name"), r.PathValue("host")
	ev := s.event(r, patchgate.EventGroupChanged)
	ev.Detail = fmt.Sprintf("removed %s from %s", host, name)
	ev.HostID = host
	if err := s.store.RemoveFromGroup(r.Context(), name, []string{host}, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.invalidate()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listApprovals(w http.ResponseWriter, r *http.Request) {
	as, err := s.store.ListApprovals(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if as == nil {
		as = []patchgate.Approval{}
	}
	writeJSON(w, http.StatusOK, as)
}

func (s *Server) approve(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req adminapi.ApproveRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if !req.Action.Valid() {
		s.writeError(w, r, patchgate.Invalid("action", "must be install, uninstall or decline, not %q", req.Action))
		return
	}
	if len(req.Updates) == 0 || len(req.Updates) > 1000 {
		s.writeError(w, r, patchgate.Invalid("updates", "give between 1 and 1000 update ids"))
		return
	}
	if err := validGroup("group", req.Group); err != nil {
		s.writeError(w, r, err)
		return
	}
	if !s.groupExists(r, req.Group) {
		s.writeError(w, r, patchgate.NotFound("group %q does not exist", req.Group))
		return
	}
	now := s.now().UTC()
	deadline, err := parseDeadline(req.Deadline, now)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if deadline != nil && req.Action == patchgate.ActionDecline {
		s.writeError(w, r, patchgate.Invalid("deadline", "a decline has no deadline"))
		return
	}
	if req.Emergency && req.Action != patchgate.ActionInstall {
		s.writeError(w, r, patchgate.Invalid("emergency", "only an install can be an emergency"))
		return
	}
	toTesting, err := s.checkApprovals(ctx, req.Updates, req.Action, req.Group)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var as []patchgate.Approval
	for _, id := range req.Updates {
		as = append(as, patchgate.Approval{UpdateID: id, Group: req.Group, Action: req.Action, Deadline: deadline, Emergency: req.Emergency, CreatedBy: actor(r), CreatedAt: now})
	}
	ev := s.event(r, patchgate.EventApproved)
	ev.Detail = fmt.Sprintf("%s %v for group %s", req.Action, req.Updates, req.Group)
	if req.Emergency {
		ev.Detail += " (emergency: outside maintenance windows)"
	}
	if len(req.Updates) == 1 {
		ev.UpdateID = req.Updates[0]
	}
	if err := s.store.SetApprovals(ctx, as, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.invalidate()
	if s.sync != nil && req.Action == patchgate.ActionInstall {
		s.sync.Approved(req.Updates)
	}
	if err := s.startTesting(ctx, r, toTesting, req.Group); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, adminapi.ApproveResponse{Approvals: as})
}

func (s *Server) groupExists(r *http.Request, name string) bool {
	gs, err := s.store.ListGroups(r.Context())
	if err != nil {
		return false
	}
	for _, g := range gs {
		if g.Name == name {
			return true
		}
	}
	return false
}

func (s *Server) unapprove(w http.ResponseWriter, r *http.Request) {
	group, update := r.PathValue("group"), r.PathValue("update")
	ev := s.event(r, patchgate.EventUnapproved)
	ev.UpdateID = update
	ev.Detail = fmt.Sprintf("removed approval of %s for group %s", update, group)
	if err := s.store.DeleteApprovals(r.Context(), []string{update}, group, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.invalidate()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listHosts(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	hosts, err := s.store.ListHosts(ctx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	snap, err := s.snapshot(ctx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	now := s.now()
	out := make([]adminapi.HostSummary, 0, len(hosts))
	for _, h := range hosts {
		s.lastCheckin(&h)
		inv, err := s.manualInventory(ctx, h)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		p := patchgate.ComputePlan(snap.catalog, snap.approvals, planHost(snap, h.ID, h.Groups, inv))
		out = append(out, adminapi.HostSummary{Host: h, Pending: len(p.Items), Blocked: len(p.Blocked), Silent: patchgate.Silent(h, now)})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getHost(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	h, err := s.store.GetHost(ctx, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.lastCheckin(&h)
	snap, err := s.snapshot(ctx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	deps, err := s.store.ListDeployments(ctx, h.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if deps == nil {
		deps = []patchgate.Deployment{}
	}
	plan := patchgate.ComputePlan(snap.catalog, snap.approvals, planHost(snap, h.ID, h.Groups, markedInstalled(h, deps)))
	hostWindows := snap.tree.Windows(snap.windows, h.Groups)
	patchgate.ApplyWindows(&plan, s.now(), hostWindows)
	patchgate.ApplyInstallEstimates(&plan, s.now(), hostWindows, snap.estimates)
	writeJSON(w, http.StatusOK, adminapi.HostDetail{Host: h, Plan: plan, Deployments: deps, Silent: patchgate.Silent(h, s.now())})
}

func (s *Server) compliance(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rows, now, err := s.complianceReport(r.Context(), q.Get("group"), q.Get("update"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, adminapi.ComplianceReport{GeneratedAt: now, Rows: rows})
}

// complianceRows computes this server's compliance per update × group
// (filters: "" = all).
func (s *Server) complianceReport(ctx context.Context, group, update string) ([]patchgate.ComplianceRow, time.Time, error) {
	hosts, err := s.store.ListHosts(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	for i := range hosts {
		s.lastCheckin(&hosts[i])
	}
	deps, err := s.store.ListDeployments(ctx, "")
	if err != nil {
		return nil, time.Time{}, err
	}
	snap, err := s.snapshot(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	now := s.now().UTC()
	rows := patchgate.Compliance(patchgate.ComplianceInput{
		Catalog: snap.catalog, Approvals: snap.list, Hosts: hosts, Deployments: deps, Now: now, Tree: snap.tree,
		Group: group, UpdateID: update,
	})
	if rows == nil {
		rows = []patchgate.ComplianceRow{}
	}
	return rows, now, nil
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := patchgate.EventFilter{HostID: q.Get("host"), UpdateID: q.Get("update"), Type: q.Get("type")}
	switch q.Get("newest") {
	case "", "false":
	case "true":
		f.Newest = true
	default:
		s.writeError(w, r, patchgate.Invalid("newest", "must be true or false"))
		return
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			s.writeError(w, r, patchgate.Invalid("after", "must be a sequence number"))
			return
		}
		f.AfterSeq = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			s.writeError(w, r, patchgate.Invalid("limit", "must be between 1 and 10000"))
			return
		}
		f.Limit = n
	}
	evs, err := s.store.ListEvents(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if evs == nil {
		evs = []patchgate.Event{}
	}
	writeJSON(w, http.StatusOK, evs)
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, adminapi.OpenAPI(s.version))
}
