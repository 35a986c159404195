package adminapi

import "github.com/patchgate/patchgate"

// SetGroupParentRequest is PUT /api/v1/groups/{name}/parent. Parent ""
// (or "all") puts the group directly below all.
type SetGroupParentRequest struct {
	Parent string `json:"parent"`
}

// SetGroupRebootRequest is PUT /api/v1/groups/{name}/reboot-policy:
// never, if-required or always; "" (or "inherit") inherits from the parent.
type SetGroupRebootRequest struct {
	RebootPolicy string `json:"reboot_policy"`
}

func init() {
	for k, d := range map[string]doc{
		"PUT /api/v1/groups/{name}/parent":        {summary: "Nest a group below another (or below all); refuses cycles", request: SetGroupParentRequest{}, response: patchgate.Group{}},
		"PUT /api/v1/groups/{name}/reboot-policy": {summary: "Set a group's reboot policy (never, if-required, always, inherit)", request: SetGroupRebootRequest{}, response: patchgate.Group{}},
	} {
		docs[k] = d
	}
}
