package agentapi

import (
	"strings"
	"testing"

	"github.com/patchgate/patchgate"
)

func TestCheckPlanItem(t *testing.T) {
	good := func() patchgate.PlanItem {
		return patchgate.PlanItem{UpdateID: "hf-1", Action: patchgate.ActionInstall, Payloads: []patchgate.Payload{
			{Name: "fix.sh", Size: 10, SHA256: strings.Repeat("a", 64), Installer: patchgate.InstallerExec}}}
	}
	if err := CheckPlanItem(good(), 100); err != nil {
		t.Fatalf("a good item was refused: %v", err)
	}
	cases := map[string]func(*patchgate.PlanItem){
		"bad id":            func(i *patchgate.PlanItem) { i.UpdateID = "../x" },
		"decline action":    func(i *patchgate.PlanItem) { i.Action = patchgate.ActionDecline },
		"no payloads":       func(i *patchgate.PlanItem) { i.Payloads = nil },
		"path in sha":       func(i *patchgate.PlanItem) { i.Payloads[0].SHA256 = "../../etc/passwd" },
		"zero size":         func(i *patchgate.PlanItem) { i.Payloads[0].Size = 0 },
		"too large":         func(i *patchgate.PlanItem) { i.Payloads[0].Size = 101 },
		"unknown installer": func(i *patchgate.PlanItem) { i.Payloads[0].Installer = "powershell" },
	}
	for name, mutate := range cases {
		item := good()
		mutate(&item)
		if err := CheckPlanItem(item, 100); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
