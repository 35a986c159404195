package patchgate

import (
	"testing"
	"time"
)

func TestValidateReplicaPolicy(t *testing.T) {
	ok := func() ReplicaPolicy {
		return ReplicaPolicy{
			Groups:    []Group{{Name: "tills"}},
			Approvals: []Approval{{UpdateID: "hf1", Group: "tills", Action: ActionInstall}, {UpdateID: "hf2", Group: "all", Action: ActionDecline}},
			Windows:   []Window{{Group: "tills", Schedule: "second tuesday +3d 22:00", Duration: 4 * time.Hour, TimeZone: "UTC"}},
		}
	}
	if err := ValidateReplicaPolicy(ok()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		field string
		edit  func(p *ReplicaPolicy)
	}{
		{"groups[0].name", func(p *ReplicaPolicy) { p.Groups[0].Name = "Tills!" }},
		{"groups[1].name", func(p *ReplicaPolicy) { p.Groups = append(p.Groups, Group{Name: "tills"}) }},
		{"approvals[0].update_id", func(p *ReplicaPolicy) { p.Approvals[0].UpdateID = "../x" }},
		{"approvals[0].group", func(p *ReplicaPolicy) { p.Approvals[0].Group = "elsewhere" }},
		{"approvals[1].action", func(p *ReplicaPolicy) { p.Approvals[1].Action = "maybe" }},
		{"approvals[1].emergency", func(p *ReplicaPolicy) { p.Approvals[1].Emergency = true }},
		{"windows[0].group", func(p *ReplicaPolicy) { p.Windows[0].Group = "elsewhere" }},
		{"windows[0].duration", func(p *ReplicaPolicy) { p.Windows[0].Duration = 0 }},
		{"windows[0].schedule", func(p *ReplicaPolicy) { p.Windows[0].Schedule = "whenever" }},
	} {
		p := ok()
		tc.edit(&p)
		err := ValidateReplicaPolicy(p)
		pe, _ := err.(*Error)
		if pe == nil || pe.Field != tc.field {
			t.Errorf("%s: %v", tc.field, err)
		}
	}
}
