package server

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

// windowSnapshot is what check-ins need of maintenance windows, built with
// the rest of the snapshot so that the hot path reads no table.
type windowSnapshot struct {
	windows map[string]patchgate.CompiledWindow // by group
	// deadlines are the approvals' deadlines, sorted: a plan of a host with
	// windows changes when one passes.
	deadlines []time.Time
	// rollouts are the groups' rollout policies.
	rollouts map[string]patchgate.RolloutPolicy
	// states caches each window's state key between its boundaries, so a
	// 304 costs no schedule evaluation. The map is fixed once built.
	states map[string]*atomic.Pointer[windowState]
}

// windowState is a window's state key, valid for from <= now < until.
type windowState struct {
	key         string
	from, until time.Time
}

// windowKey returns the ETag part of a host's windows at now.
func (ws *windowSnapshot) windowKey(now time.Time, windows []patchgate.CompiledWindow) string {
	var b strings.Builder
	for _, w := range windows {
		slot := ws.states[w.Group]
		if st := slot.Load(); st != nil && !now.Before(st.from) && now.Before(st.until) {
			b.WriteString(st.key)
			continue
		}
		key, until := w.State(now)
		slot.Store(&windowState{key: key, from: now, until: until})
		b.WriteString(key)
	}
	return b.String()
}

func (s *Server) loadWindows(ctx context.Context, approvals []patchgate.Approval) (windowSnapshot, error) {
	list, err := s.store.ListWindows(ctx)
	if err != nil {
		return windowSnapshot{}, err
	}
	ws := windowSnapshot{windows: make(map[string]patchgate.CompiledWindow, len(list)),
		states: make(map[string]*atomic.Pointer[windowState], len(list))}
	if ws.rollouts, err = s.loadRollouts(ctx); err != nil {
		return windowSnapshot{}, err
	}
	for _, w := range list {
		c, err := w.Compile()
		if err != nil {
			// Validated when set; a zone missing from this machine's tzdata
			// leaves the group without a window rather than without plans.
			s.log.Error("maintenance window ignored", "group", w.Group, "err", err)
			continue
		}
		ws.windows[w.Group] = c
		ws.states[w.Group] = new(atomic.Pointer[windowState])
	}
	if len(ws.windows) > 0 {
		for _, a := range approvals {
			if a.Deadline != nil {
				ws.deadlines = append(ws.deadlines, *a.Deadline)
			}
		}
		sort.Slice(ws.deadlines, func(i, j int) bool { return ws.deadlines[i].Before(ws.deadlines[j]) })
	}
	return ws, nil
}

// hostWindows returns the windows of an automatic host's groups and a key
// for the plan's ETag that changes when one of them opens or closes or a
// deadline passes, so that an agent holding an old plan gets the new one.
// Hosts without windows get an empty key: their ETag is as before.
func (s *Server) hostWindows(snap *snapshot, groups []string, mode patchgate.Mode, now time.Time) ([]patchgate.CompiledWindow, string) {
	if len(snap.windows) == 0 || mode == patchgate.ModeManual {
		return nil, ""
	}
	ws := snap.tree.Windows(snap.windows, groups)
	if len(ws) == 0 {
		return nil, ""
	}
	passed := sort.Search(len(snap.deadlines), func(i int) bool { return snap.deadlines[i].After(now) })
	return ws, "|w:" + snap.windowKey(now, ws) + "d:" + strconv.Itoa(passed)
}

func windowInfo(c patchgate.CompiledWindow, now time.Time) adminapi.WindowInfo {
	info := adminapi.WindowInfo{Window: c.Window}
	if open, closes := c.IsOpen(now); open {
		info.Open, info.ClosesAt = true, &closes
	} else if next := c.Next(now, 1); len(next) == 1 {
		info.NextOpening = &next[0]
	}
	return info
}

func (s *Server) listWindows(w http.ResponseWriter, r *http.Request) {
	list, err := s.store.ListWindows(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	now := s.now()
	out := make([]adminapi.WindowInfo, 0, len(list))
	for _, win := range list {
		c, err := win.Compile()
		if err != nil {
			out = append(out, adminapi.WindowInfo{Window: win})
			continue
		}
		out = append(out, windowInfo(c, now))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) setWindow(w http.ResponseWriter, r *http.Request) {
	var req adminapi.SetWindowRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	group := r.PathValue("group")
	if err := validGroup("group", group); err != nil {
		s.writeError(w, r, err)
		return
	}
	d, err := time.ParseDuration(strings.TrimSpace(req.Duration))
	if err != nil {
		s.writeError(w, r, patchgate.Invalid("duration", "%q is not a duration like 4h or 90m", req.Duration))
		return
	}
	now := s.now().UTC()
	win := patchgate.Window{Group: group, Schedule: strings.TrimSpace(req.Schedule), Duration: d,
		TimeZone: strings.TrimSpace(req.TimeZone), UpdatedAt: now, UpdatedBy: actor(r)}
	c, err := win.Compile()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(c.Next(now, 1)) == 0 {
		s.writeError(w, r, patchgate.Invalid("schedule", "%q never opens in the next five years", win.Schedule))
		return
	}
	ev := s.event(r, patchgate.EventWindowSet)
	ev.Detail = fmt.Sprintf("window of group %s: %q for %s in %s", group, win.Schedule, d, win.TimeZone)
	if err := s.store.SetWindow(r.Context(), win, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.invalidate()
	writeJSON(w, http.StatusOK, windowInfo(c, now))
}

func (s *Server) deleteWindow(w http.ResponseWriter, r *http.Request) {
	group := r.PathValue("group")
	ev := s.event(r, patchgate.EventWindowRemoved)
	ev.Detail = "removed the window of group " + group
	if err := s.store.DeleteWindow(r.Context(), group, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.invalidate()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) windowNext(w http.ResponseWriter, r *http.Request) {
	group := r.PathValue("group")
	count := 5
	if v := r.URL.Query().Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > adminapi.MaxWindowOpenings {
			s.writeError(w, r, patchgate.Invalid("count", "must be between 1 and %d", adminapi.MaxWindowOpenings))
			return
		}
		count = n
	}
	list, err := s.store.ListWindows(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, win := range list {
		if win.Group != group {
			continue
		}
		c, err := win.Compile()
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out := adminapi.WindowNext{Group: group, TimeZone: win.TimeZone, Openings: []adminapi.WindowOpening{}}
		for _, o := range c.Next(s.now(), count) {
			out.Openings = append(out.Openings, adminapi.WindowOpening{Opens: o, Closes: o.Add(win.Duration)})
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	s.writeError(w, r, patchgate.NotFound("group %q has no maintenance window", group))
}

// markInstalled records an operator's manual install: an audited event that
// moves the host's deployment of the update to installed, which compliance
// counts as installed.
func (s *Server) markInstalled(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req adminapi.MarkInstalledRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(req.Note) > 1024 {
		s.writeError(w, r, patchgate.Invalid("note", "longer than 1024 bytes"))
		return
	}
	h, err := s.store.GetHost(ctx, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if h.Mode != patchgate.ModeManual {
		s.writeError(w, r, patchgate.Errorf(patchgate.CodeConflict,
			"host %s is in %s mode: its agent installs and reports what is installed; mark-installed is for manual hosts", h.ID, h.Mode))
		return
	}
	if _, err := s.store.GetUpdate(ctx, req.Update); err != nil {
		if patchgate.IsNotFound(err) {
			err = patchgate.Invalid("update", "no update %q", req.Update)
		}
		s.writeError(w, r, err)
		return
	}
	ev := s.event(r, patchgate.EventMarkedInstalled)
	ev.HostID, ev.UpdateID, ev.State = h.ID, req.Update, patchgate.StateInstalled
	ev.Detail = "installed by hand, recorded by " + actor(r)
	if req.Note != "" {
		ev.Detail += ": " + req.Note
	}
	if _, err := s.store.RecordDeploymentEvents(ctx, []patchgate.Event{ev}); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ev)
}

// markedInstalled returns the inventory of a manual host with the updates
// operators recorded as installed added: its agent does not know of them,
// and the plan shown to people must not ask for them again.
func markedInstalled(h patchgate.Host, deps []patchgate.Deployment) patchgate.Inventory {
	inv := h.Inventory
	if inv.Mode != patchgate.ModeManual {
		return inv
	}
	inv.Installed = append([]string(nil), inv.Installed...)
	for _, d := range deps {
		if d.State == patchgate.StateInstalled && !slices.Contains(inv.Installed, d.UpdateID) {
			inv.Installed = append(inv.Installed, d.UpdateID)
		}
	}
	return inv
}

// manualInventory is markedInstalled for listings: only manual hosts can
// have manual installs recorded, so only theirs are read.
func (s *Server) manualInventory(ctx context.Context, h patchgate.Host) (patchgate.Inventory, error) {
	if h.Mode != patchgate.ModeManual {
		return h.Inventory, nil
	}
	deps, err := s.store.ListDeployments(ctx, h.ID)
	if err != nil {
		return patchgate.Inventory{}, err
	}
	return markedInstalled(h, deps), nil
}
