package patchgate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Event types of admin alerts, manual action notices and status reports.
// sla.breached, sla.approaching (EventSLABreached, EventSLAApproaching) and
// rollout.halted (EventRolloutHalted) are alerts too; advisory.imported and
// advisory.updated come from the advisory import and alert only when the
// advisory exposes hosts (AdvisoryDetail).
const (
	EventAlertFailures    = "alert.failures"
	EventAlertDeadline    = "alert.deadline"
	EventManualAction     = "manual.action"
	EventStatusReport     = "report.status"
	EventOwnerSet         = "owner.set"
	AlertAdvisoryImported = "advisory.imported"
	AlertAdvisoryUpdated  = "advisory.updated"
	// EventTrustExpiring: TUF metadata (and so the keys it lists) expires
	// soon; raised once per (repository, role, version).
	EventTrustExpiring = "trust.expiring"
	// EventPlanRefused: an agent refused a check-in answer whose plan
	// signature did not verify (replayed, altered, unsigned): someone may
	// be between the host and its server. Reported by the agent.
	EventPlanRefused = "agent.plan_refused"
)

// AlertEvents are the admin alerts a subscription with Alerts receives,
// as their own mail, sent at once (never held for a digest or quiet
// hours): they ask someone to act.
var AlertEvents = []string{EventSLABreached, EventSLAApproaching, EventRolloutHalted, EventAlertFailures,
	AlertAdvisoryImported, AlertAdvisoryUpdated, EventAlertDeadline, EventTrustExpiring, EventPlanRefused}

// IsAlert reports whether events of type typ are admin alerts.
func IsAlert(typ string) bool { return slices.Contains(AlertEvents, typ) }

// Delivery streams: the mails of one subscription that do not go together.
const (
	StreamFixes  = ""       // new and revised fixes, failed installs: immediate or digest
	StreamAlert  = "alert"  // admin alerts, at once
	StreamReport = "report" // the periodic status report
	StreamManual = "manual" // manual action required, to a host owner
)

// OwnerSubscriptionID is the subscription ID of manual action mail to an
// owner address: owners are not subscriptions (an admin sets them), so it
// names the address.
func OwnerSubscriptionID(address string) string { return "owner:" + address }

// ---- install failures over a threshold ----

// FailureAlert is an update whose installs failed on at least a threshold
// of distinct hosts within one period.
type FailureAlert struct {
	UpdateID    string        `json:"update_id"`
	PeriodStart time.Time     `json:"period_start"`
	Period      time.Duration `json:"period"`
	Hosts       []string      `json:"hosts"` // sorted, at most MaxAlertHosts
	Failures    int           `json:"failures"`
}

// MaxAlertHosts bounds the host names an alert carries.
const MaxAlertHosts = 20

// EventID names the one alert.failures event of the update and period.
func (a FailureAlert) EventID() string {
	return fmt.Sprintf("%s-%s-%d", EventAlertFailures, a.UpdateID, a.PeriodStart.Unix())
}

// FailureAlerts counts failed installs (deployment events in state failed)
// per update and period — periods are consecutive spans of length period
// from the Unix epoch, so each failure falls in exactly one — and returns
// the (update, period) pairs where at least threshold distinct hosts
// failed, ordered by period then update. A host that fails the same update
// again counts once.
func FailureAlerts(evs []Event, threshold int, period time.Duration) []FailureAlert {
	if threshold <= 0 || period <= 0 {
		return nil
	}
	type key struct {
		update string
		start  int64
	}
	hosts := map[key]map[string]bool{}
	for _, ev := range evs {
		if ev.Type != EventDeployment || ev.State != StateFailed || ev.UpdateID == "" {
			continue
		}
		ns := ev.Time.UnixNano()
		start := ns - ((ns%int64(period))+int64(period))%int64(period)
		k := key{ev.UpdateID, start}
		if hosts[k] == nil {
			hosts[k] = map[string]bool{}
		}
		hosts[k][ev.HostID] = true
	}
	var out []FailureAlert
	for k, hs := range hosts {
		if len(hs) < threshold {
			continue
		}
		names := make([]string, 0, len(hs))
		for h := range hs {
			names = append(names, h)
		}
		sort.Strings(names)
		if len(names) > MaxAlertHosts {
			names = names[:MaxAlertHosts]
		}
		out = append(out, FailureAlert{UpdateID: k.update, PeriodStart: time.Unix(0, k.start).UTC(), Period: period, Hosts: names, Failures: len(hs)})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].PeriodStart.Equal(out[j].PeriodStart) {
			return out[i].PeriodStart.Before(out[j].PeriodStart)
		}
		return out[i].UpdateID < out[j].UpdateID
	})
	return out
}

// ---- approval deadlines passed with hosts not compliant ----

// OverdueUpdate is an install approval whose deadline has passed while
// hosts of its group still do not have the update.
type OverdueUpdate struct {
	UpdateID string    `json:"update_id"`
	Title    string    `json:"title"`
	Severity Severity  `json:"severity"`
	Group    string    `json:"group"`
	Deadline time.Time `json:"deadline"`
	Hosts    int       `json:"hosts"`
	// NonCompliant counts the group's hosts the update applies to that do
	// not have it installed (needed, in progress, failed or reboot
	// pending); Unknown the silent ones.
	NonCompliant int `json:"non_compliant"`
	Unknown      int `json:"unknown"`
}

// EventID names the one alert.deadline event of the approval deadline.
func (o OverdueUpdate) EventID() string {
	return fmt.Sprintf("%s-%s-%s-%d", EventAlertDeadline, o.UpdateID, o.Group, o.Deadline.Unix())
}

// Overdue returns the install approvals whose deadline is at or before now
// (and, if horizon > 0, not more than horizon before it) with hosts of the
// group not compliant, per the compliance rows, ordered by deadline, update
// and group.
func Overdue(approvals []Approval, rows []ComplianceRow, now time.Time, horizon time.Duration) []OverdueUpdate {
	byKey := make(map[[2]string]ComplianceRow, len(rows))
	for _, r := range rows {
		byKey[[2]string{r.UpdateID, r.Group}] = r
	}
	var out []OverdueUpdate
	for _, a := range approvals {
		if a.Action != ActionInstall || a.Deadline == nil || a.Deadline.After(now) {
			continue
		}
		if horizon > 0 && now.Sub(*a.Deadline) > horizon {
			continue
		}
		r, ok := byKey[[2]string{a.UpdateID, a.Group}]
		if !ok {
			continue
		}
		n := r.Needed + r.InProgress + r.Failed + r.RebootPending
		if n == 0 {
			continue
		}
		out = append(out, OverdueUpdate{UpdateID: a.UpdateID, Title: r.Title, Severity: r.Severity, Group: a.Group,
			Deadline: a.Deadline.UTC(), Hosts: r.Hosts, NonCompliant: n, Unknown: r.Unknown})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.Deadline.Equal(b.Deadline) {
			return a.Deadline.Before(b.Deadline)
		}
		if a.UpdateID != b.UpdateID {
			return a.UpdateID < b.UpdateID
		}
		return a.Group < b.Group
	})
	return out
}

// DeadlineAlertHorizon bounds how old a passed deadline may be to raise
// alert.deadline: a server started after a long stop, or an activity log
// pruned of the first alert, does not alert on old deadlines again.
const DeadlineAlertHorizon = 7 * 24 * time.Hour

// ---- new advisories exposing hosts ----

// AdvisoryDetail is the Detail (JSON) of advisory.imported and
// advisory.updated events.
type AdvisoryDetail struct {
	ID           string   `json:"id"`
	Title        string   `json:"title"`
	Severity     Severity `json:"severity"`
	CVEs         []string `json:"cves"`
	ExposedHosts int      `json:"exposed_hosts"`
}

// MaxAdvisoryDetail bounds the advisory detail an alert reads.
const MaxAdvisoryDetail = 64 << 10

// ParseAdvisoryDetail reads and checks the detail of an advisory event.
func ParseAdvisoryDetail(s string) (AdvisoryDetail, error) {
	var a AdvisoryDetail
	if len(s) > MaxAdvisoryDetail {
		return a, Invalid("detail", "longer than %d bytes", MaxAdvisoryDetail)
	}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return a, Invalid("detail", "is not an advisory JSON object: %v", err)
	}
	if a.ID == "" || len(a.ID) > 256 {
		return a, Invalid("detail.id", "is required, at most 256 bytes")
	}
	if len(a.Title) > 1024 {
		return a, Invalid("detail.title", "longer than 1024 bytes")
	}
	if a.Severity != "" && !a.Severity.Valid() {
		return a, Invalid("detail.severity", "must be one of %v", Severities)
	}
	if a.ExposedHosts < 0 {
		return a, Invalid("detail.exposed_hosts", "may not be negative")
	}
	if len(a.CVEs) > 1000 {
		return a, Invalid("detail.cves", "more than 1000 CVEs")
	}
	return a, nil
}

// AdvisoryAlerts reports whether an advisory event is an alert: a readable
// detail with exposed hosts.
func AdvisoryAlerts(ev Event) (AdvisoryDetail, bool) {
	if ev.Type != AlertAdvisoryImported && ev.Type != AlertAdvisoryUpdated {
		return AdvisoryDetail{}, false
	}
	a, err := ParseAdvisoryDetail(ev.Detail)
	return a, err == nil && a.ExposedHosts > 0
}

// ---- manual action required ----

// Owner is who is told that a manual host needs installs by hand: an
// address set for a host or for a group.
type Owner struct {
	Scope     string    `json:"scope"` // host or group
	Name      string    `json:"name"`  // host ID or group name
	Address   string    `json:"address"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Owner scopes.
const (
	OwnerHost  = "host"
	OwnerGroup = "group"
)

// Validate checks an owner as a client sent it; an empty address removes
// the owner.
func (o Owner) Validate() error {
	if o.Scope != OwnerHost && o.Scope != OwnerGroup {
		return Invalid("scope", "must be host or group, not %q", o.Scope)
	}
	if o.Name == "" || len(o.Name) > 256 {
		return Invalid("name", "is required, at most 256 bytes")
	}
	if o.Address == "" {
		return nil
	}
	return ValidAddress("address", o.Address)
}

// HostOwners returns who owns host hostID in groups: the host's own owner
// if set (it wins), else the owners of all its groups, deduplicated and
// sorted; none if nobody is set.
func HostOwners(hostID string, groups []string, owners []Owner) []string {
	var out []string
	for _, o := range owners {
		if o.Scope == OwnerHost && o.Name == hostID && o.Address != "" {
			return []string{o.Address}
		}
	}
	for _, o := range owners {
		if o.Scope == OwnerGroup && o.Address != "" && slices.Contains(groups, o.Name) && !slices.Contains(out, o.Address) {
			out = append(out, o.Address)
		}
	}
	sort.Strings(out)
	return out
}

// ManualItem is one update to install (or remove) by hand.
type ManualItem struct {
	UpdateID string     `json:"update_id"`
	Revision int        `json:"revision"`
	Title    string     `json:"title"`
	Severity Severity   `json:"severity"`
	Action   Action     `json:"action"`
	Deadline *time.Time `json:"deadline,omitempty"`
	// URLs are where the payloads are fetched (the server's content URLs).
	URLs []string `json:"urls,omitempty"`
}

// ManualNotice is the Detail (JSON) of a manual.action event: what a
// manual host's owners are asked to do.
type ManualNotice struct {
	HostID   string       `json:"host_id"`
	Hostname string       `json:"hostname,omitempty"`
	Owners   []string     `json:"owners"`
	Items    []ManualItem `json:"items"`
}

// ManualItems turns a manual host's plan into what its owner is asked to
// do; contentURL gives the download URL of a payload's sha256.
func ManualItems(p Plan, contentURL func(sha string) string) []ManualItem {
	items := make([]ManualItem, 0, len(p.Items))
	for _, it := range p.Items {
		mi := ManualItem{UpdateID: it.UpdateID, Revision: it.Revision, Title: it.Title, Severity: it.Severity,
			Action: it.Action, Deadline: it.Deadline}
		if it.Action == ActionInstall && contentURL != nil {
			for _, pl := range it.Payloads {
				mi.URLs = append(mi.URLs, contentURL(pl.SHA256))
			}
		}
		items = append(items, mi)
	}
	return items
}

// ManualItemKeys names the items of a notice (update@revision:action),
// sorted: what "the same plan" means.
func ManualItemKeys(items []ManualItem) []string {
	keys := make([]string, 0, len(items))
	for _, it := range items {
		keys = append(keys, it.UpdateID+"@"+strconv.Itoa(it.Revision)+":"+string(it.Action))
	}
	sort.Strings(keys)
	return keys
}

// ManualNoticeDue decides whether a manual host's owners are mailed: when
// its plan holds an item the last notice (prev, nil if none) did not. A
// plan that only shrank (the owner installed something) or stayed the
// same is not mailed again.
func ManualNoticeDue(prev, cur []string) bool {
	for _, k := range cur {
		if !slices.Contains(prev, k) {
			return true
		}
	}
	return false
}

// ManualNoticeID names the manual.action event of a host's plan: the same
// plan always gets the same ID, so the store records it once.
func ManualNoticeID(hostID string, keys []string) string {
	h := sha256.Sum256([]byte(strings.Join(keys, "\n")))
	return EventManualAction + "-" + hex.EncodeToString(h[:12])
}

// ---- periodic status report ----

// ReportSchedule is when the status report goes out: daily, or weekly on
// Weekday, at Hour:Minute in the server's time zone.
type ReportSchedule struct {
	Mode    SubscriptionMode `json:"mode"` // daily or weekly
	Weekday time.Weekday     `json:"weekday"`
	Hour    int              `json:"hour"`
	Minute  int              `json:"minute"`
}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// ParseReportSchedule reads "daily@HH:MM", "weekly@HH:MM" (Monday) or
// "weekly@DAY@HH:MM" (DAY: mon..sun); field names the flag in errors.
func ParseReportSchedule(field, s string) (ReportSchedule, error) {
	bad := func() (ReportSchedule, error) {
		return ReportSchedule{}, Invalid(field, "%q is not daily@HH:MM, weekly@HH:MM or weekly@DAY@HH:MM (DAY mon..sun)", s)
	}
	if len(s) > 32 {
		return bad()
	}
	parts := strings.Split(s, "@")
	var r ReportSchedule
	var clock string
	switch {
	case len(parts) == 2 && parts[0] == "daily":
		r.Mode, clock = ModeDaily, parts[1]
	case len(parts) == 2 && parts[0] == "weekly":
		r.Mode, r.Weekday, clock = ModeWeekly, time.Monday, parts[1]
	case len(parts) == 3 && parts[0] == "weekly":
		d, ok := weekdays[strings.ToLower(parts[1])]
		if !ok {
			return bad()
		}
		r.Mode, r.Weekday, clock = ModeWeekly, d, parts[2]
	default:
		return bad()
	}
	hh, mm, ok := strings.Cut(clock, ":")
	digits := func(s string) bool { return len(s) == 2 && s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' }
	if !ok || !digits(hh) || !digits(mm) {
		return bad()
	}
	var err1, err2 error
	r.Hour, err1 = strconv.Atoi(hh)
	r.Minute, err2 = strconv.Atoi(mm)
	if err1 != nil || err2 != nil || r.Hour < 0 || r.Hour > 23 || r.Minute < 0 || r.Minute > 59 {
		return bad()
	}
	return r, nil
}

// String is the schedule as ParseReportSchedule reads it.
func (r ReportSchedule) String() string {
	if r.Mode == ModeWeekly {
		return fmt.Sprintf("weekly@%s@%02d:%02d", strings.ToLower(r.Weekday.String()[:3]), r.Hour, r.Minute)
	}
	return fmt.Sprintf("daily@%02d:%02d", r.Hour, r.Minute)
}

// Next is the first report time strictly after now, in loc. A wall time
// that does not exist that day (a DST gap) moves forward as time.Date
// normalises it; one that exists twice is taken once.
func (r ReportSchedule) Next(now time.Time, loc *time.Location) time.Time {
	return nextLocal(now, loc, r.Hour, r.Minute, r.Mode == ModeWeekly, r.Weekday)
}

// nextLocal is the first day at hour:minute in loc strictly after now (on
// weekday if weekly).
func nextLocal(now time.Time, loc *time.Location, hour, minute int, weekly bool, weekday time.Weekday) time.Time {
	l := now.In(loc)
	for i := 0; i < 9; i++ {
		t := time.Date(l.Year(), l.Month(), l.Day()+i, hour, minute, 0, 0, loc)
		if t.After(now) && (!weekly || t.Weekday() == weekday) {
			return t
		}
	}
	return time.Date(l.Year(), l.Month(), l.Day()+9, hour, minute, 0, 0, loc) // not reached
}

// ComplianceSnapshot is one group's compliance on one day: of the hosts an
// install-approved update applies to, the share that have it.
type ComplianceSnapshot struct {
	Day        string    `json:"day"` // YYYY-MM-DD in the server's time zone
	Group      string    `json:"group"`
	Hosts      int       `json:"hosts"`
	Applicable int       `json:"applicable"` // (host, update) pairs to have
	Installed  int       `json:"installed"`
	Compliant  float64   `json:"compliant"` // Installed / Applicable, 1 if none
	TakenAt    time.Time `json:"taken_at"`
}

// GroupCompliance is the snapshot of day: per group (all included), of
// the (host, update) pairs where the host's effective approval (over all
// its groups, as its plan resolves it) is install and the update applies,
// the share installed. Silent hosts are left out, as in Compliant. Ordered
// by group.
func GroupCompliance(in ComplianceInput, day string) []ComplianceSnapshot {
	deps := make(map[[2]string]*Deployment, len(in.Deployments))
	for i := range in.Deployments {
		d := &in.Deployments[i]
		deps[[2]string{d.HostID, d.UpdateID}] = d
	}
	approvals := NewApprovalIndex(in.Approvals)
	ids := make([]string, 0, len(approvals))
	for id := range approvals {
		if _, ok := in.Catalog.Get(id); ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	by := map[string]*ComplianceSnapshot{}
	for i := range in.Hosts {
		h := &in.Hosts[i]
		installed, applicable := 0, 0
		scopes := in.Tree.Scopes(h.Groups)
		for _, id := range ids {
			if ResolveScoped(approvals[id], scopes).Action != ActionInstall {
				continue
			}
			switch HostState(in.Catalog, *h, id, deps[[2]string{h.ID, id}], in.Now) {
			case StateInstalled:
				installed++
				applicable++
			case StateNeeded, StateDownloading, StateInstalling, StateFailed, StateRebootPending:
				applicable++
			}
		}
		for _, g := range h.Groups {
			s, ok := by[g]
			if !ok {
				s = &ComplianceSnapshot{Day: day, Group: g, TakenAt: in.Now.UTC()}
				by[g] = s
			}
			s.Hosts++
			s.Installed += installed
			s.Applicable += applicable
		}
	}
	out := make([]ComplianceSnapshot, 0, len(by))
	for _, s := range by {
		s.Compliant = 1
		if s.Applicable > 0 {
			s.Compliant = float64(s.Installed) / float64(s.Applicable)
		}
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// ChartPoint is one day of the compliance chart; Missing if no snapshot
// was taken that day.
type ChartPoint struct {
	Day       string  `json:"day"`
	Compliant float64 `json:"compliant"`
	Missing   bool    `json:"missing,omitempty"`
}

// ChartSeries is the compliance of group over the days days ending with
// today (YYYY-MM-DD), oldest first, from the snapshots.
func ChartSeries(snaps []ComplianceSnapshot, group, today string, days int) []ChartPoint {
	end, err := time.Parse(time.DateOnly, today)
	if err != nil || days <= 0 {
		return nil
	}
	by := map[string]float64{}
	for _, s := range snaps {
		if s.Group == group {
			by[s.Day] = s.Compliant
		}
	}
	out := make([]ChartPoint, 0, days)
	for i := days - 1; i >= 0; i-- {
		d := end.AddDate(0, 0, -i).Format(time.DateOnly)
		v, ok := by[d]
		out = append(out, ChartPoint{Day: d, Compliant: v, Missing: !ok})
	}
	return out
}

// FailedUpdate is an update whose last install failed on hosts.
type FailedUpdate struct {
	UpdateID string   `json:"update_id"`
	Title    string   `json:"title"`
	Severity Severity `json:"severity"`
	Hosts    int      `json:"hosts"`
}

// StatusReport is the periodic status report: compliance per group,
// overdue updates, failures and the compliance history of the fleet.
type StatusReport struct {
	GeneratedAt time.Time            `json:"generated_at"`
	Day         string               `json:"day"`
	TimeZone    string               `json:"time_zone"`
	Groups      []ComplianceSnapshot `json:"groups"`
	Overdue     []OverdueUpdate      `json:"overdue"`
	Failed      []FailedUpdate       `json:"failed"`
	History     []ChartPoint         `json:"history"` // group all
}

// ReportHistoryDays is how many days the report charts.
const ReportHistoryDays = 30

// BuildStatusReport computes the report from the compliance input (rows
// are Compliance(in): every update × group) and the stored snapshots;
// today's snapshot is the one computed now.
func BuildStatusReport(in ComplianceInput, rows []ComplianceRow, history []ComplianceSnapshot, loc *time.Location) StatusReport {
	now := in.Now
	day := now.In(loc).Format(time.DateOnly)
	r := StatusReport{GeneratedAt: now.UTC(), Day: day, TimeZone: loc.String(),
		Groups: GroupCompliance(in, day), Overdue: Overdue(in.Approvals, rows, now, 0)}
	if r.Overdue == nil {
		r.Overdue = []OverdueUpdate{}
	}
	r.Failed = []FailedUpdate{}
	for _, row := range rows {
		if row.Group == GroupAll && row.Failed > 0 {
			r.Failed = append(r.Failed, FailedUpdate{UpdateID: row.UpdateID, Title: row.Title, Severity: row.Severity, Hosts: row.Failed})
		}
	}
	snaps := slices.DeleteFunc(slices.Clone(history), func(s ComplianceSnapshot) bool { return s.Day == day })
	snaps = append(snaps, r.Groups...)
	r.History = ChartSeries(snaps, GroupAll, day, ReportHistoryDays)
	return r
}

// OwnerStore holds host and group owners and the compliance history.
type OwnerStore interface {
	// SetOwner sets (or, with an empty address, removes) the owner of a
	// host or group, in one transaction with ev; not_found if the host or
	// group does not exist.
	SetOwner(ctx context.Context, o Owner, ev Event) error
	// ListOwners returns every owner, ordered by scope and name.
	ListOwners(ctx context.Context) ([]Owner, error)
	// SaveComplianceSnapshots stores snapshots, replacing those of the
	// same day and group.
	SaveComplianceSnapshots(ctx context.Context, snaps []ComplianceSnapshot) error
	// ListComplianceSnapshots returns the snapshots of days from since
	// (YYYY-MM-DD) on, ordered by day and group.
	ListComplianceSnapshots(ctx context.Context, since string) ([]ComplianceSnapshot, error)
}
