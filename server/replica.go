package server

import (
	"context"
	"net/http"
	"slices"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

// replicaManaged are the admin routes a replica refuses: its groups,
// approvals and windows come from its upstream. Hosts are still assigned
// to groups locally.
var replicaManaged = []string{
	"POST /api/v1/groups",
	"DELETE /api/v1/groups/{name}",
	"POST /api/v1/approvals",
	"DELETE /api/v1/approvals/{group}/{update}",
	"PUT /api/v1/windows/{group}",
	"DELETE /api/v1/windows/{group}",
	"PUT /api/v1/groups/{name}/parent",
	"PUT /api/v1/groups/{name}/reboot-policy",
	// The upstream's rules act here through the approvals it hands down;
	// local rules would make approvals the next sync replaces.
	"POST /api/v1/rules",
	"DELETE /api/v1/rules/{name}",
	"POST /api/v1/rules/{name}/disable",
	"POST /api/v1/rules/{name}/enable",
	"POST /api/v1/rules/run",
}

// replicaOf returns the upstream this server is a replica of ("" for an
// autonomous server): its groups, approvals, rules and windows come from
// there.
func (s *Server) replicaOf(ctx context.Context) (string, error) {
	ups, err := s.store.Upstreams(ctx)
	if err != nil {
		return "", err
	}
	for _, u := range ups {
		if u.Mode == patchgate.ModeReplica {
			return u.Name, nil
		}
	}
	return "", nil
}

// replicaGuard refuses the routes of replicaManaged while this server is a
// replica of an upstream.
func (s *Server) replicaGuard(key string, h http.HandlerFunc) http.HandlerFunc {
	if !slices.Contains(replicaManaged, key) {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		upstream, err := s.replicaOf(r.Context())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if upstream != "" {
			s.writeError(w, r, patchgate.Errorf(patchgate.CodeConflict,
				"this server is a replica of upstream %s: groups, approvals, rules and windows are managed there (hosts are assigned to groups here)", upstream))
			return
		}
		h(w, r)
	}
}

// feedPolicy serves replicas this server's groups, the approvals of its
// released updates and its windows.
func (s *Server) feedPolicy(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	self, _, ok := s.feedChain(w, r)
	if !ok {
		return
	}
	groups, err := s.store.ListGroups(ctx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	groups = slices.DeleteFunc(groups, func(g patchgate.Group) bool { return g.Name == patchgate.GroupAll })
	for i := range groups {
		groups[i].Hosts = 0 // hosts are each server's own
	}
	approvals, err := s.store.ListApprovals(ctx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	states, err := s.store.ReleaseStates(ctx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	released := map[string]bool{}
	for _, st := range states {
		released[st.UpdateID] = st.Status.Released()
	}
	approvals = slices.DeleteFunc(approvals, func(a patchgate.Approval) bool { return !released[a.UpdateID] })
	windows, err := s.store.ListWindows(ctx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, adminapi.ReplicaPolicyPage{ServerID: self,
		ReplicaPolicy: patchgate.ReplicaPolicy{Groups: groups, Approvals: approvals, Windows: windows}})
}
