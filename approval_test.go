package patchgate

import (
	"math/rand"
	"testing"
	"time"
)

var (
	t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	d1 = t0.Add(24 * time.Hour)
	d2 = t0.Add(48 * time.Hour)
	d3 = t0.Add(72 * time.Hour)
)

func at(t time.Time) *time.Time { return &t }

func appr(group string, a Action, deadline *time.Time) Approval {
	return Approval{UpdateID: "U1", Group: group, Action: a, Deadline: deadline}
}

func TestResolve(t *testing.T) {
	hostGroups := []string{"all", "prod", "web"}
	tests := []struct {
		name      string
		approvals []Approval
		want      Effective
	}{
		{"no approvals", nil, Effective{}},
		{"only groups the host is not in", []Approval{
			appr("test", ActionInstall, at(d1)),
			appr("db", ActionDecline, nil),
		}, Effective{}},
		{"install", []Approval{appr("prod", ActionInstall, nil)},
			Effective{Action: ActionInstall, Group: "prod"}},
		{"install with deadline", []Approval{appr("prod", ActionInstall, at(d2))},
			Effective{Action: ActionInstall, Group: "prod", Deadline: at(d2)}},
		{"uninstall", []Approval{appr("web", ActionUninstall, at(d1))},
			Effective{Action: ActionUninstall, Group: "web", Deadline: at(d1)}},
		{"decline", []Approval{appr("all", ActionDecline, nil)},
			Effective{Action: ActionDecline, Group: "all"}},
		{"decline in all beats install in prod", []Approval{
			appr("prod", ActionInstall, at(d1)),
			appr("all", ActionDecline, nil),
		}, Effective{Action: ActionDecline, Group: "all"}},
		{"decline beats install whatever the order", []Approval{
			appr("all", ActionDecline, nil),
			appr("prod", ActionInstall, at(d1)),
		}, Effective{Action: ActionDecline, Group: "all"}},
		{"decline beats uninstall", []Approval{
			appr("web", ActionUninstall, nil),
			appr("prod", ActionDecline, nil),
		}, Effective{Action: ActionDecline, Group: "prod"}},
		{"decline carries no deadline", []Approval{
			appr("prod", ActionDecline, at(d1)),
			appr("web", ActionInstall, at(d2)),
		}, Effective{Action: ActionDecline, Group: "prod"}},
		{"decline in a group the host is not in is ignored", []Approval{
			appr("test", ActionDecline, nil),
			appr("prod", ActionInstall, nil),
		}, Effective{Action: ActionInstall, Group: "prod"}},
		{"install beats uninstall", []Approval{
			appr("web", ActionUninstall, at(d1)),
			appr("prod", ActionInstall, at(d3)),
		}, Effective{Action: ActionInstall, Group: "prod", Deadline: at(d3)}},
		{"install beats uninstall, uninstall last", []Approval{
			appr("prod", ActionInstall, nil),
			appr("web", ActionUninstall, at(d1)),
		}, Effective{Action: ActionInstall, Group: "prod"}},
		{"earliest deadline among installs", []Approval{
			appr("web", ActionInstall, at(d3)),
			appr("all", ActionInstall, at(d1)),
			appr("prod", ActionInstall, at(d2)),
		}, Effective{Action: ActionInstall, Group: "all", Deadline: at(d1)}},
		{"deadline only from the winning action", []Approval{
			appr("web", ActionUninstall, at(d1)),
			appr("prod", ActionInstall, at(d3)),
			appr("all", ActionInstall, nil),
		}, Effective{Action: ActionInstall, Group: "all", Deadline: at(d3)}},
		{"an install without deadline does not erase another's", []Approval{
			appr("prod", ActionInstall, at(d2)),
			appr("web", ActionInstall, nil),
		}, Effective{Action: ActionInstall, Group: "prod", Deadline: at(d2)}},
		{"deadline of a group the host is not in is ignored", []Approval{
			appr("test", ActionInstall, at(d1)),
			appr("prod", ActionInstall, at(d2)),
		}, Effective{Action: ActionInstall, Group: "prod", Deadline: at(d2)}},
		{"first group by name wins ties", []Approval{
			appr("web", ActionInstall, nil),
			appr("prod", ActionInstall, nil),
		}, Effective{Action: ActionInstall, Group: "prod"}},
		{"earliest deadline among uninstalls", []Approval{
			appr("web", ActionUninstall, at(d2)),
			appr("prod", ActionUninstall, at(d1)),
		}, Effective{Action: ActionUninstall, Group: "prod", Deadline: at(d1)}},
		{"unknown action is ignored", []Approval{
			appr("prod", Action("bogus"), at(d1)),
			appr("web", ActionUninstall, nil),
		}, Effective{Action: ActionUninstall, Group: "web"}},
		{"only unknown actions", []Approval{appr("prod", Action(""), at(d1))}, Effective{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Resolve(tc.approvals, hostGroups)
			checkEffective(t, got, tc.want)
			// The result must not depend on the order of approvals.
			r := rand.New(rand.NewSource(int64(len(tc.name))))
			for range 10 {
				shuffled := append([]Approval(nil), tc.approvals...)
				r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				checkEffective(t, Resolve(shuffled, hostGroups), tc.want)
			}
		})
	}
}

func checkEffective(t *testing.T, got, want Effective) {
	t.Helper()
	if got.Action != want.Action || got.Group != want.Group {
		t.Errorf("Resolve = {%q %q}, want {%q %q}", got.Action, got.Group, want.Action, want.Group)
	}
	switch {
	case got.Deadline == nil && want.Deadline == nil:
	case got.Deadline == nil || want.Deadline == nil:
		t.Errorf("Resolve deadline = %v, want %v", got.Deadline, want.Deadline)
	case !got.Deadline.Equal(*want.Deadline):
		t.Errorf("Resolve deadline = %v, want %v", *got.Deadline, *want.Deadline)
	}
}

func TestResolveHostWithoutGroups(t *testing.T) {
	as := []Approval{appr("all", ActionInstall, nil), appr("prod", ActionDecline, nil)}
	if got := Resolve(as, nil); got.Action != "" {
		t.Errorf("host in no group: Resolve = %+v, want no action", got)
	}
}

func TestResolveDoesNotModifyApprovals(t *testing.T) {
	as := []Approval{appr("prod", ActionInstall, at(d2)), appr("web", ActionInstall, at(d1))}
	Resolve(as, []string{"prod", "web"})
	if !as[0].Deadline.Equal(d2) || !as[1].Deadline.Equal(d1) {
		t.Errorf("Resolve changed its input: %v %v", *as[0].Deadline, *as[1].Deadline)
	}
}

func TestActionValid(t *testing.T) {
	for _, a := range []Action{ActionInstall, ActionUninstall, ActionDecline} {
		if !a.Valid() {
			t.Errorf("%q.Valid() = false", a)
		}
	}
	for _, a := range []Action{"", "Install", "approve", "remove"} {
		if a.Valid() {
			t.Errorf("%q.Valid() = true", a)
		}
	}
}
