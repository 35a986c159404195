package server

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

// groupTreeHandlers are the routes of nested groups and reboot policies.
func (s *Server) groupTreeHandlers() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"PUT /api/v1/groups/{name}/parent":        s.setGroupParent,
		"PUT /api/v1/groups/{name}/reboot-policy": s.setGroupReboot,
	}
}

// parseRebootPolicy reads a reboot policy of a request: "" and "inherit"
// inherit from the parent.
func parseRebootPolicy(field, v string) (patchgate.RebootPolicy, error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "inherit" {
		return "", nil
	}
	p := patchgate.RebootPolicy(v)
	if !p.Valid() {
		return "", patchgate.Invalid(field, "must be never, if-required, always or inherit, not %q", v)
	}
	return p, nil
}

// parseParent reads the parent of a request: "" and "all" mean directly
// below all.
func parseParent(field, v string) (string, error) {
	v = patchgate.NormalizeParent(strings.TrimSpace(v))
	if v == "" {
		return "", nil
	}
	if err := validGroup(field, v); err != nil {
		return "", err
	}
	return v, nil
}

// groupByName returns the listing entry of one group.
func (s *Server) groupByName(r *http.Request, name string) (patchgate.Group, error) {
	gs, err := s.store.ListGroups(r.Context())
	if err != nil {
		return patchgate.Group{}, err
	}
	for _, g := range gs {
		if g.Name == name {
			return g, nil
		}
	}
	return patchgate.Group{}, patchgate.NotFound("group %q not found", name)
}

func (s *Server) setGroupParent(w http.ResponseWriter, r *http.Request) {
	var req adminapi.SetGroupParentRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	name := r.PathValue("name")
	if err := validGroup("name", name); err != nil {
		s.writeError(w, r, err)
		return
	}
	parent, err := parseParent("parent", req.Parent)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ev := s.event(r, patchgate.EventGroupParentSet)
	if parent == "" {
		ev.Detail = fmt.Sprintf("group %s moved directly below %s", name, patchgate.GroupAll)
	} else {
		ev.Detail = fmt.Sprintf("group %s moved below %s", name, parent)
	}
	if err := s.store.SetGroupParent(r.Context(), name, parent, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.invalidate()
	g, err := s.groupByName(r, name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

func (s *Server) setGroupReboot(w http.ResponseWriter, r *http.Request) {
	var req adminapi.SetGroupRebootRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	name := r.PathValue("name")
	p, err := parseRebootPolicy("reboot_policy", req.RebootPolicy)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ev := s.event(r, patchgate.EventGroupRebootSet)
	if p == "" {
		ev.Detail = fmt.Sprintf("group %s inherits its reboot policy", name)
	} else {
		ev.Detail = fmt.Sprintf("reboot policy of group %s set to %s", name, p)
	}
	if err := s.store.SetGroupRebootPolicy(r.Context(), name, p, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.invalidate()
	g, err := s.groupByName(r, name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}
