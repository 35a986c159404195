package patchgate

import (
	"strings"
	"testing"
	"time"
)

func TestPlanPurge(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	old, recent := now.Add(-40*24*time.Hour), now.Add(-time.Hour)
	sha := func(c string) string { return strings.Repeat(c, 64) }
	upd := func(id string, requires ...string) Update { return Update{ID: id, Requires: requires} }
	st := func(id string, s UpdateStatus, since time.Time) ReleaseState {
		return ReleaseState{UpdateID: id, Status: s, Since: since}
	}
	ap := func(id, group string, a Action) Approval { return Approval{UpdateID: id, Group: group, Action: a} }
	pay := func(id string, rev int, c string) RevisionPayload {
		return RevisionPayload{UpdateID: id, Revision: rev, SHA256: sha(c), Size: 10}
	}
	updates := []Update{upd("W-OLD"), upd("W-NEW"), upd("S-DECL"), upd("S-DECL-INST"), upd("S-ONLY"), upd("P"), upd("W-REQ"), upd("KEEPER", "W-REQ")}
	states := []ReleaseState{
		st("W-OLD", StatusWithdrawn, old), st("W-NEW", StatusWithdrawn, recent),
		st("S-DECL", StatusSuperseded, old), st("S-DECL-INST", StatusSuperseded, old), st("S-ONLY", StatusSuperseded, old),
		st("P", StatusPosted, old), st("W-REQ", StatusWithdrawn, old), st("KEEPER", StatusPosted, old),
	}
	approvals := []Approval{ap("S-DECL", "all", ActionDecline), ap("S-DECL-INST", "all", ActionDecline), ap("S-DECL-INST", "prod", ActionInstall), ap("P", "prod", ActionInstall)}
	payloads := []RevisionPayload{
		pay("W-OLD", 1, "a"), pay("W-OLD", 2, "b"), // b is also P's: kept
		pay("S-DECL", 1, "c"), pay("S-DECL", 1, "a"), // a once
		pay("P", 1, "b"), pay("W-NEW", 1, "d"), pay("W-REQ", 1, "e"),
	}
	plan := PlanPurge(states, updates, approvals, payloads, now, 30*24*time.Hour)
	var ids []string
	for _, it := range plan.Updates {
		ids = append(ids, it.UpdateID)
	}
	if got := strings.Join(ids, ","); got != "S-DECL,W-OLD" {
		t.Errorf("updates removed %s, want S-DECL,W-OLD (not recent, not installed anywhere, not required, not posted)", got)
	}
	var shas []string
	for _, c := range plan.Content {
		shas = append(shas, c.SHA256[:1])
	}
	if got := strings.Join(shas, ","); got != "a,c" || plan.Bytes != 20 {
		t.Errorf("content removed %s (%d bytes), want a,c (20 bytes): b is still P's", got, plan.Bytes)
	}
	if plan.Updates[0].Reason == "" || !strings.Contains(plan.Updates[1].Reason, "withdrawn") {
		t.Errorf("reasons %+v", plan.Updates)
	}
	// Age 0 takes the recent withdrawal too.
	if plan := PlanPurge(states, updates, approvals, payloads, now, 0); len(plan.Updates) != 3 {
		t.Errorf("age 0: %+v", plan.Updates)
	}
}
