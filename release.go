package patchgate

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"
)

// UpdateStatus is where an update stands in the publisher's release
// lifecycle:
//
//	received ─► testing ─► tested ─► posted ─► superseded
//	               │                   │
//	               └─► failed          └─► withdrawn (from any status)
//
// Only posted (and superseded) updates reach plans, approvals of
// production groups and compliance. Received, testing and tested updates
// may only be approved for install in the publisher's test groups.
type UpdateStatus string

const (
	StatusReceived   UpdateStatus = "received"
	StatusTesting    UpdateStatus = "testing"
	StatusTested     UpdateStatus = "tested"
	StatusFailed     UpdateStatus = "failed"
	StatusPosted     UpdateStatus = "posted"
	StatusSuperseded UpdateStatus = "superseded"
	StatusWithdrawn  UpdateStatus = "withdrawn"
)

// Statuses lists every status in lifecycle order.
var Statuses = []UpdateStatus{StatusReceived, StatusTesting, StatusTested, StatusFailed, StatusPosted, StatusSuperseded, StatusWithdrawn}

// Valid reports whether s is one of Statuses.
func (s UpdateStatus) Valid() bool { return slices.Contains(Statuses, s) }

// Released reports whether an update in status s is visible to every
// group: posted, or posted and later superseded.
func (s UpdateStatus) Released() bool { return s == StatusPosted || s == StatusSuperseded }

// InTest reports whether an update in status s may be approved for (and
// planned on) the hosts of test groups.
func (s UpdateStatus) InTest() bool {
	return s == StatusReceived || s == StatusTesting || s == StatusTested
}

// Event types of the release lifecycle. Each status an update enters has
// its own type; the detail says from which status, and why.
const (
	EventUpdateTesting    = "update.testing"
	EventUpdateTested     = "update.tested"
	EventUpdateFailed     = "update.failed"
	EventUpdatePosted     = "update.posted"
	EventUpdateWithdrawn  = "update.withdrawn"
	EventUpdateSuperseded = "update.superseded"
	EventTestGroupChanged = "release.test-group"
	EventSLAChanged       = "release.sla"
	EventSLABreached      = "sla.breached"
	EventSLAApproaching   = "sla.approaching"
)

// StatusEvent returns the event type of entering status s.
func StatusEvent(s UpdateStatus) string {
	switch s {
	case StatusTesting:
		return EventUpdateTesting
	case StatusTested:
		return EventUpdateTested
	case StatusFailed:
		return EventUpdateFailed
	case StatusPosted:
		return EventUpdatePosted
	case StatusWithdrawn:
		return EventUpdateWithdrawn
	case StatusSuperseded:
		return EventUpdateSuperseded
	}
	return EventUpdateRevised
}

// ReleaseState is an update's current place in the lifecycle.
type ReleaseState struct {
	UpdateID string       `json:"update_id"`
	Status   UpdateStatus `json:"status"`
	// Revision is the revision that entered received last: the SLA clock
	// and the tests are about it.
	Revision int `json:"revision"`
	// Since is the time of the last transition.
	Since time.Time `json:"since"`
	// ReceivedAt starts the SLA clock; PostedAt stops it.
	ReceivedAt time.Time `json:"received_at"`
	PostedAt   time.Time `json:"posted_at,omitzero"`
	// Forced: the update was posted without having passed its tests.
	Forced bool `json:"forced,omitempty"`
}

// NeedsRetest reports whether storing revision next of an update whose
// latest revision is prev sends it back to received: when what a host
// runs changes (payloads, their installer arguments, the products they
// apply to, prerequisites), or when the update had been withdrawn.
// Changes to words only (title, description, CVEs, severity) keep the
// status: they change nothing a test ran.
func NeedsRetest(st UpdateStatus, prev, next Update) bool {
	if st == StatusWithdrawn {
		return true
	}
	return !slices.EqualFunc(prev.Payloads, next.Payloads, func(a, b Payload) bool {
		return a.Name == b.Name && a.SHA256 == b.SHA256 && a.Size == b.Size && a.Installer == b.Installer && slices.Equal(a.Args, b.Args)
	}) || !slices.Equal(prev.Products, next.Products) || !slices.Equal(prev.Requires, next.Requires) ||
		prev.Reboot != next.Reboot
}

// PostRequest is a request to post an update.
type PostRequest struct {
	Force  bool
	Reason string
}

// CheckPost decides whether an update in status st may be posted: tested
// ones may; received, testing and failed ones only with force and a
// reason; posted, superseded and withdrawn ones not at all.
func CheckPost(id string, st UpdateStatus, req PostRequest) error {
	switch st {
	case StatusTested:
		return nil
	case StatusReceived, StatusTesting, StatusFailed:
		if !req.Force {
			return &Error{Code: CodeConflict, Field: "force", Message: fmt.Sprintf("update %s is %s, not tested: posting it needs force and a reason", id, st)}
		}
		if req.Reason == "" {
			return Invalid("reason", "posting an untested update needs a reason (it goes to the audit log)")
		}
		return nil
	case StatusWithdrawn:
		return Errorf(CodeConflict, "update %s is withdrawn: add a new revision to post it again", id)
	}
	return Errorf(CodeConflict, "update %s is already %s", id, st)
}

// CheckApproval decides whether an update in status st may be approved
// with action for group: released updates for any group; received,
// testing and tested ones only for install in a test group.
func CheckApproval(id string, st UpdateStatus, action Action, group string, testGroups []string) error {
	if st.Released() {
		return nil
	}
	if st.InTest() && action == ActionInstall && slices.Contains(testGroups, group) {
		return nil
	}
	if st.InTest() && slices.Contains(testGroups, group) {
		return Errorf(CodeConflict, "update %s is %s, not posted: test group %s may only install it", id, st, group)
	}
	return Errorf(CodeConflict, "update %s is %s, not posted: only posted updates may be approved (test groups may install received and testing ones)", id, st)
}

// TestHost is what the test verdict needs of a host of a test group.
type TestHost struct {
	ID        string
	Groups    []string
	Products  []InstalledProduct
	Installed []string
}

// TestGroup is a test group and how many of its hosts must install an
// update before it counts as tested there.
type TestGroup struct {
	Name string `json:"name"`
	// MinSuccess is how many of the group's hosts that need an update
	// must have installed it; 0, the default, means every one of them.
	// A group where fewer hosts need it than MinSuccess needs them all.
	MinSuccess int `json:"min_success"`
}

// MaxMinSuccess bounds TestGroup.MinSuccess.
const MaxMinSuccess = 100000

// TestVerdict decides the outcome of testing u from the deployment states
// on the hosts of the test groups: failed if any of them that needs it
// failed to install it; tested if, in every test group where some host
// needs it, enough of those hosts have it installed (groups[i].MinSuccess,
// by default all of them), and at least one host has; otherwise still
// testing. Without groups, every host is in one group of the default
// policy. The reason says which hosts or which group decided it.
func TestVerdict(u Update, hosts []TestHost, deps []Deployment, groups []TestGroup) (UpdateStatus, string) {
	cat := NewCatalog([]Update{u})
	state := map[string]DeploymentState{}
	for _, d := range deps {
		if d.UpdateID == u.ID {
			state[d.HostID] = d.State
		}
	}
	done := map[string]bool{}
	var needing []TestHost
	var failed []string
	for _, h := range hosts {
		if !cat.Applicable(u.ID, h.Products) {
			continue
		}
		needing = append(needing, h)
		switch {
		case state[h.ID] == StateFailed:
			failed = append(failed, h.ID)
		case state[h.ID] == StateInstalled || slices.Contains(h.Installed, u.ID):
			done[h.ID] = true
		}
	}
	sort.Strings(failed)
	if len(failed) > 0 {
		return StatusFailed, fmt.Sprintf("install failed on test host(s) %v", failed)
	}
	if len(done) == 0 {
		return StatusTesting, fmt.Sprintf("0 of %d test host(s) installed", len(needing))
	}
	if len(groups) == 0 {
		groups = []TestGroup{{}}
	}
	for _, g := range groups {
		members, installed := 0, 0
		for _, h := range needing {
			if g.Name != "" && !slices.Contains(h.Groups, g.Name) {
				continue
			}
			members++
			if done[h.ID] {
				installed++
			}
		}
		if members == 0 {
			continue
		}
		need := members
		if g.MinSuccess > 0 && g.MinSuccess < members {
			need = g.MinSuccess
		}
		if installed < need {
			where := "test hosts"
			if g.Name != "" {
				where = "test group " + g.Name
			}
			return StatusTesting, fmt.Sprintf("%s: %d of %d host(s) that need it installed, %d needed", where, installed, members, need)
		}
	}
	return StatusTested, fmt.Sprintf("installed on %d of %d test host(s) that need it, none failed", len(done), len(needing))
}

// SLAPolicy maps a severity to the longest time an update of it may take
// from received to posted; a severity without an entry has no SLA.
type SLAPolicy struct {
	Max map[Severity]time.Duration `json:"max"`
}

// DefaultSLAPolicy is the vendor policy: critical fixes within 24 hours.
func DefaultSLAPolicy() SLAPolicy {
	return SLAPolicy{Max: map[Severity]time.Duration{SeverityCritical: 24 * time.Hour}}
}

// SLAWarnDefault is how long before its deadline an update is reported
// as approaching it.
const SLAWarnDefault = 4 * time.Hour

// SLARecent is how long a posted update stays in the SLA report.
const SLARecent = 30 * 24 * time.Hour

// SLAState classifies an SLA row.
type SLAState string

const (
	SLANone        SLAState = "none"        // its severity has no SLA
	SLAOK          SLAState = "ok"          // time left, or posted in time
	SLAApproaching SLAState = "approaching" // less than the warning time left
	SLABreached    SLAState = "breached"    // not posted in time
)

// SLARow is one update in the SLA report.
type SLARow struct {
	UpdateID   string        `json:"update_id"`
	Title      string        `json:"title"`
	Severity   Severity      `json:"severity"`
	Status     UpdateStatus  `json:"status"`
	ReceivedAt time.Time     `json:"received_at"`
	PostedAt   time.Time     `json:"posted_at,omitzero"`
	Deadline   time.Time     `json:"deadline,omitzero"`
	TimeToPost time.Duration `json:"time_to_post,omitempty"` // posted ones
	Remaining  time.Duration `json:"remaining,omitempty"`    // not posted, before the deadline
	Overdue    time.Duration `json:"overdue,omitempty"`      // breached: by how much
	State      SLAState      `json:"state"`
}

// EvaluateSLA reports, for each update not posted yet (withdrawn ones
// aside) and each posted in the SLARecent before now, its time to post,
// remaining time or breach under policy, ordered by deadline (updates
// without one last), then id.
func EvaluateSLA(updates []Update, states []ReleaseState, p SLAPolicy, warn time.Duration, now time.Time) []SLARow {
	byID := make(map[string]Update, len(updates))
	for _, u := range updates {
		byID[u.ID] = u
	}
	var rows []SLARow
	for _, st := range states {
		u, ok := byID[st.UpdateID]
		if !ok || st.Status == StatusWithdrawn || st.Status == StatusSuperseded {
			continue
		}
		posted := st.Status == StatusPosted
		if posted && (st.PostedAt.IsZero() || now.Sub(st.PostedAt) > SLARecent) {
			continue
		}
		r := SLARow{UpdateID: u.ID, Title: u.Title, Severity: u.Severity, Status: st.Status, ReceivedAt: st.ReceivedAt, State: SLANone}
		if posted {
			r.PostedAt = st.PostedAt
			r.TimeToPost = st.PostedAt.Sub(st.ReceivedAt)
		}
		if max, ok := p.Max[u.Severity]; ok && max > 0 {
			r.Deadline = st.ReceivedAt.Add(max)
			end := now
			if posted {
				end = st.PostedAt
			}
			switch left := r.Deadline.Sub(end); {
			case left < 0:
				r.State, r.Overdue = SLABreached, -left
			case !posted && left <= warn:
				r.State, r.Remaining = SLAApproaching, left
			default:
				r.State = SLAOK
				if !posted {
					r.Remaining = left
				}
			}
		}
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Deadline.IsZero() != b.Deadline.IsZero() {
			return b.Deadline.IsZero()
		}
		if !a.Deadline.Equal(b.Deadline) {
			return a.Deadline.Before(b.Deadline)
		}
		return a.UpdateID < b.UpdateID
	})
	return rows
}

// SLAEventID names the one sla.breached or sla.approaching event of an
// update's SLA clock, so that a periodic check emits each once: the clock
// restarts (and may alert again) when a new revision goes back to
// received.
func SLAEventID(typ string, st ReleaseState) string {
	return fmt.Sprintf("%s-%s-%d", typ, st.UpdateID, st.ReceivedAt.UnixMicro())
}

// ReleaseStore holds the publisher's release lifecycle: update statuses,
// test groups and the SLA policy. PutUpdate (CatalogStore) creates an
// update's state as received and resets it when NeedsRetest says so.
type ReleaseStore interface {
	// ReleaseState returns the state of update id, or not_found.
	ReleaseState(ctx context.Context, id string) (ReleaseState, error)
	// ReleaseStates returns the state of every update, ordered by id.
	ReleaseStates(ctx context.Context) ([]ReleaseState, error)
	// TransitionUpdate moves update id to status to at time at, if its
	// current status is one of from (else a conflict naming the status),
	// in one transaction with ev. Entering posted sets PostedAt and
	// Forced. It returns the state before the change.
	TransitionUpdate(ctx context.Context, id string, from []UpdateStatus, to UpdateStatus, forced bool, at time.Time, ev Event) (ReleaseState, error)

	// TestGroups lists the publisher's test groups, by name.
	TestGroups(ctx context.Context) ([]string, error)
	// AddTestGroup designates an existing group (else not_found) as a
	// test group; adding one twice is not an error.
	AddTestGroup(ctx context.Context, group string, ev Event) error
	// RemoveTestGroup ends it; not_found if it was not one.
	RemoveTestGroup(ctx context.Context, group string, ev Event) error
	// TestGroupPolicies lists the test groups with their success count,
	// by name.
	TestGroupPolicies(ctx context.Context) ([]TestGroup, error)
	// SetTestGroupMinSuccess sets a test group's MinSuccess (0: every
	// host that needs the update); not_found if it is not a test group.
	// Adding a group again keeps its count.
	SetTestGroupMinSuccess(ctx context.Context, group string, n int, ev Event) error

	// SLAPolicy returns the stored policy; a new store has
	// DefaultSLAPolicy.
	SLAPolicy(ctx context.Context) (SLAPolicy, error)
	// SetSLA sets the maximum time of a severity; 0 removes its SLA.
	SetSLA(ctx context.Context, sev Severity, max time.Duration, ev Event) error
}

// ReleasedView is what plans and compliance may see of the catalog: the
// updates that are released (posted or superseded) or in test (received,
// testing, tested), and the approvals of released updates plus the
// install approvals of updates in test for test groups. Failed and
// withdrawn updates, and approvals of updates that went back to received
// for groups other than test groups, are left out.
func ReleasedView(updates []Update, approvals []Approval, status map[string]UpdateStatus, testGroups []string) ([]Update, []Approval) {
	us := make([]Update, 0, len(updates))
	for _, u := range updates {
		if st := status[u.ID]; st.Released() || st.InTest() {
			us = append(us, u)
		}
	}
	as := make([]Approval, 0, len(approvals))
	for _, a := range approvals {
		st := status[a.UpdateID]
		if st.Released() || (st.InTest() && a.Action == ActionInstall && slices.Contains(testGroups, a.Group)) {
			as = append(as, a)
		}
	}
	return us, as
}
