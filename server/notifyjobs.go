package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/agentapi"
)

// NotifyJobsConfig configures the jobs that turn the state of the fleet
// into alert, manual action and status report events (the dispatcher
// mails them).
type NotifyJobsConfig struct {
	// FailureThreshold raises alert.failures when at least this many
	// distinct hosts fail to install one update within FailurePeriod
	// (0 = no failure alerts; default period 1h).
	FailureThreshold int
	FailurePeriod    time.Duration
	// Report, if set, appends report.status on its schedule, in Location.
	Report *patchgate.ReportSchedule
	// Location is the server's time zone: report schedule and the days of
	// compliance snapshots (default UTC).
	Location *time.Location
	// Interval is how often the jobs run (default 1m).
	Interval time.Duration
}

// notifyJobs is the jobs' state.
type notifyJobs struct {
	mu           sync.Mutex
	nextReport   time.Time
	lastSnapshot time.Time
}

func (s *Server) jobsConfig() NotifyJobsConfig {
	c := s.jobsCfg
	if c.FailurePeriod <= 0 {
		c.FailurePeriod = time.Hour
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.Interval <= 0 {
		c.Interval = time.Minute
	}
	return c
}

// runNotifyJobs runs every job once; a failing job is logged and the
// others still run.
func (s *Server) runNotifyJobs(ctx context.Context) {
	for _, j := range []struct {
		name string
		run  func(context.Context) (int, error)
	}{
		{"failure alerts", s.checkFailures},
		{"deadline alerts", s.checkDeadlines},
		{"manual action mail", s.checkManual},
		{"status report", s.checkReportSchedule},
		{"compliance snapshot", s.snapshotIfDue},
	} {
		if _, err := j.run(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("notification job failed", "job", j.name, "err", err)
		}
	}
}

// appendOnce appends ev and reports whether it is new: the IDs of job
// events are derived from what they tell, so the store refuses a repeat.
func (s *Server) appendOnce(ctx context.Context, ev patchgate.Event) (bool, error) {
	switch err := s.store.AppendEvent(ctx, ev); {
	case err == nil:
		return true, nil
	case patchgate.ErrorCode(err) == patchgate.CodeConflict:
		return false, nil
	default:
		return false, err
	}
}

// checkFailures raises alert.failures for updates that failed on too many
// hosts within a period (patchgate.FailureAlerts), once per update and
// period.
func (s *Server) checkFailures(ctx context.Context) (int, error) {
	cfg := s.jobsConfig()
	if cfg.FailureThreshold <= 0 {
		return 0, nil
	}
	now := s.now().UTC()
	// The newest deployment events: the current and the previous period
	// (in case the server was down when it ended).
	evs, err := s.store.ListEvents(ctx, patchgate.EventFilter{Type: patchgate.EventDeployment, Newest: true, Limit: 10000})
	if err != nil {
		return 0, err
	}
	since := now.Add(-2 * cfg.FailurePeriod)
	recent := evs[:0:0]
	for _, ev := range evs {
		if ev.Time.After(since) {
			recent = append(recent, ev)
		}
	}
	n := 0
	for _, a := range patchgate.FailureAlerts(recent, cfg.FailureThreshold, cfg.FailurePeriod) {
		detail, _ := json.Marshal(a)
		ok, err := s.appendOnce(ctx, patchgate.Event{ID: a.EventID(), Time: now, Type: patchgate.EventAlertFailures,
			Actor: "system:alerts", UpdateID: a.UpdateID, Detail: string(detail)})
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// complianceRows computes compliance of every update × group now, and
// returns the input it was computed from.
func (s *Server) complianceRows(ctx context.Context, now time.Time) ([]patchgate.ComplianceRow, patchgate.ComplianceInput, error) {
	in, err := s.complianceInput(ctx, now)
	if err != nil {
		return nil, in, err
	}
	return patchgate.Compliance(in), in, nil
}

// complianceInput loads what compliance is computed from, now.
func (s *Server) complianceInput(ctx context.Context, now time.Time) (patchgate.ComplianceInput, error) {
	hosts, err := s.store.ListHosts(ctx)
	if err != nil {
		return patchgate.ComplianceInput{}, err
	}
	for i := range hosts {
		s.lastCheckin(&hosts[i])
	}
	deps, err := s.store.ListDeployments(ctx, "")
	if err != nil {
		return patchgate.ComplianceInput{}, err
	}
	snap, err := s.snapshot(ctx)
	if err != nil {
		return patchgate.ComplianceInput{}, err
	}
	return patchgate.ComplianceInput{Catalog: snap.catalog, Approvals: snap.list, Hosts: hosts, Deployments: deps, Now: now, Tree: snap.tree}, nil
}

// checkDeadlines raises alert.deadline once per install approval whose
// deadline passed with hosts of its group not compliant.
func (s *Server) checkDeadlines(ctx context.Context) (int, error) {
	now := s.now().UTC()
	snap, err := s.snapshot(ctx)
	if err != nil {
		return 0, err
	}
	// Only the updates with an install deadline passed within the
	// horizon need their compliance computed: usually none.
	updates := map[string]bool{}
	for _, a := range snap.list {
		if a.Action == patchgate.ActionInstall && a.Deadline != nil && !a.Deadline.After(now) && now.Sub(*a.Deadline) <= patchgate.DeadlineAlertHorizon {
			updates[a.UpdateID] = true
		}
	}
	if len(updates) == 0 {
		return 0, nil
	}
	in, err := s.complianceInput(ctx, now)
	if err != nil {
		return 0, err
	}
	var rows []patchgate.ComplianceRow
	for id := range updates {
		in.UpdateID = id
		rows = append(rows, patchgate.Compliance(in)...)
	}
	n := 0
	for _, o := range patchgate.Overdue(in.Approvals, rows, now, patchgate.DeadlineAlertHorizon) {
		detail, _ := json.Marshal(o)
		ok, err := s.appendOnce(ctx, patchgate.Event{ID: o.EventID(), Time: now, Type: patchgate.EventAlertDeadline,
			Actor: "system:alerts", UpdateID: o.UpdateID, Detail: string(detail)})
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// maxManualItems bounds the items of one manual action notice.
const maxManualItems = 200

// checkManual appends manual.action for each manual host with an owner
// whose plan gained items since its last notice
// (patchgate.ManualNoticeDue).
func (s *Server) checkManual(ctx context.Context) (int, error) {
	hosts, err := s.store.ListHosts(ctx)
	if err != nil {
		return 0, err
	}
	owners, err := s.store.ListOwners(ctx)
	if err != nil {
		return 0, err
	}
	var snap *snapshot
	now := s.now().UTC()
	n := 0
	for _, h := range hosts {
		if h.Mode != patchgate.ModeManual {
			continue
		}
		to := patchgate.HostOwners(h.ID, h.Groups, owners)
		if len(to) == 0 {
			continue // nobody to tell: told once an owner is set
		}
		if snap == nil {
			if snap, err = s.snapshot(ctx); err != nil {
				return n, err
			}
		}
		inv, err := s.manualInventory(ctx, h)
		if err != nil {
			return n, err
		}
		plan := patchgate.ComputePlan(snap.catalog, snap.approvals, planHost(snap, h.ID, h.Groups, inv))
		items := patchgate.ManualItems(plan, func(sha string) string { return agentapi.PathContent + sha })
		if len(items) > maxManualItems {
			items = items[:maxManualItems]
		}
		keys := patchgate.ManualItemKeys(items)
		prev, err := s.store.ListEvents(ctx, patchgate.EventFilter{HostID: h.ID, Type: patchgate.EventManualAction, Newest: true, Limit: 1})
		if err != nil {
			return n, err
		}
		var prevKeys []string
		if len(prev) > 0 {
			var pn patchgate.ManualNotice
			if json.Unmarshal([]byte(prev[0].Detail), &pn) == nil {
				prevKeys = patchgate.ManualItemKeys(pn.Items)
			}
		}
		if !patchgate.ManualNoticeDue(prevKeys, keys) {
			continue
		}
		detail, _ := json.Marshal(patchgate.ManualNotice{HostID: h.ID, Hostname: h.Hostname, Owners: to, Items: items})
		ok, err := s.appendOnce(ctx, patchgate.Event{ID: patchgate.ManualNoticeID(h.ID, keys), Time: now, Type: patchgate.EventManualAction,
			Actor: "system:notify", HostID: h.ID, Detail: string(detail)})
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// snapshotIfDue records today's compliance per group at most hourly (the
// last of the day is the day's value).
func (s *Server) snapshotIfDue(ctx context.Context) (int, error) {
	now := s.now()
	s.jobs.mu.Lock()
	due := now.Sub(s.jobs.lastSnapshot) >= time.Hour || s.jobs.lastSnapshot.After(now)
	s.jobs.mu.Unlock()
	if !due {
		return 0, nil
	}
	return s.saveSnapshot(ctx, now)
}

func (s *Server) saveSnapshot(ctx context.Context, now time.Time) (int, error) {
	in, err := s.complianceInput(ctx, now.UTC())
	if err != nil {
		return 0, err
	}
	snaps := patchgate.GroupCompliance(in, now.In(s.jobsConfig().Location).Format(time.DateOnly))
	if err := s.store.SaveComplianceSnapshots(ctx, snaps); err != nil {
		return 0, err
	}
	s.jobs.mu.Lock()
	s.jobs.lastSnapshot = now
	s.jobs.mu.Unlock()
	return len(snaps), nil
}

// checkReportSchedule appends report.status when the schedule says, once
// per scheduled time; the first run only arms the schedule (no report for
// a time passed while the server was down).
func (s *Server) checkReportSchedule(ctx context.Context) (int, error) {
	cfg := s.jobsConfig()
	if cfg.Report == nil {
		return 0, nil
	}
	now := s.now()
	s.jobs.mu.Lock()
	next := s.jobs.nextReport
	if next.IsZero() {
		s.jobs.nextReport = cfg.Report.Next(now, cfg.Location)
	}
	s.jobs.mu.Unlock()
	if next.IsZero() || now.Before(next) {
		return 0, nil
	}
	// Today's snapshot first, so that the report's history has today.
	if _, err := s.saveSnapshot(ctx, now); err != nil {
		return 0, err
	}
	ev := patchgate.Event{ID: patchgate.EventStatusReport + "-" + next.In(cfg.Location).Format("2006-01-02T15:04"), Time: now.UTC(),
		Type: patchgate.EventStatusReport, Actor: "system:report", Detail: cfg.Report.String()}
	ok, err := s.appendOnce(ctx, ev)
	if err != nil {
		return 0, err
	}
	s.jobs.mu.Lock()
	s.jobs.nextReport = cfg.Report.Next(now, cfg.Location)
	s.jobs.mu.Unlock()
	if ok {
		return 1, nil
	}
	return 0, nil
}

// StatusReport computes the status report now: the dispatcher calls it
// when it renders a report mail.
func (s *Server) StatusReport(ctx context.Context) (patchgate.StatusReport, error) {
	now := s.now()
	loc := s.jobsConfig().Location
	rows, in, err := s.complianceRows(ctx, now.UTC())
	if err != nil {
		return patchgate.StatusReport{}, err
	}
	since := now.In(loc).AddDate(0, 0, -patchgate.ReportHistoryDays).Format(time.DateOnly)
	hist, err := s.store.ListComplianceSnapshots(ctx, since)
	if err != nil {
		return patchgate.StatusReport{}, err
	}
	return patchgate.BuildStatusReport(in, rows, hist, loc), nil
}

// notifyJobHandlers are the admin routes of owners and the status report.
func (s *Server) notifyJobHandlers() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /api/v1/owners":               s.listOwners,
		"PUT /api/v1/hosts/{id}/owner":     s.setOwner(patchgate.OwnerHost, "id"),
		"PUT /api/v1/groups/{name}/owner":  s.setOwner(patchgate.OwnerGroup, "name"),
		"GET /api/v1/reports/status":       s.reportStatus,
		"POST /api/v1/reports/status/send": s.sendStatusReport,
	}
}

func (s *Server) listOwners(w http.ResponseWriter, r *http.Request) {
	os, err := s.store.ListOwners(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, os)
}

func (s *Server) setOwner(scope, param string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req adminapi.SetOwnerRequest
		if err := decodeBody(r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		o := patchgate.Owner{Scope: scope, Name: r.PathValue(param), Address: strings.TrimSpace(req.Address), UpdatedAt: s.now().UTC()}
		if err := o.Validate(); err != nil {
			s.writeError(w, r, err)
			return
		}
		detail := scope + " " + o.Name + " owner " + o.Address
		if o.Address == "" {
			detail = scope + " " + o.Name + " owner removed"
		}
		ev := patchgate.Event{Time: o.UpdatedAt, Type: patchgate.EventOwnerSet, Actor: actor(r), Detail: detail}
		if scope == patchgate.OwnerHost {
			ev.HostID = o.Name
		}
		if err := s.store.SetOwner(r.Context(), o, ev); err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, o)
	}
}

func (s *Server) reportStatus(w http.ResponseWriter, r *http.Request) {
	rep, err := s.StatusReport(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// sendStatusReport appends a report.status event now: the dispatcher
// mails the report to every subscription with reports.
func (s *Server) sendStatusReport(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	if _, err := s.saveSnapshot(r.Context(), now); err != nil {
		s.writeError(w, r, err)
		return
	}
	ev := patchgate.Event{ID: patchgate.EventStatusReport + "-manual-" + randomHex(8), Time: now.UTC(), Type: patchgate.EventStatusReport,
		Actor: actor(r), Detail: "sent by hand"}
	if err := s.store.AppendEvent(r.Context(), ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	subs, err := s.store.ListSubscriptions(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	n := 0
	for _, sub := range subs {
		if sub.Channel == patchgate.ChannelEmail && sub.Wants(patchgate.EventStatusReport) {
			n++
		}
	}
	writeJSON(w, http.StatusAccepted, adminapi.SendReportResponse{EventID: ev.ID, Recipients: n})
}
