package adminapi

import "github.com/patchgate/patchgate"

// SetRolloutRequest is PUT /api/v1/rollouts/{group}. Limits are a count
// ("5") or a percentage of the group's hosts ("10%"); empty = none.
type SetRolloutRequest struct {
	MaxConcurrent string `json:"max_concurrent,omitempty"`
	MaxFailures   string `json:"max_failures,omitempty"`
	Canary        int    `json:"canary,omitempty"`
}

// RolloutStatus is a group's policy and its halt override.
type RolloutStatus struct {
	Policy patchgate.RolloutPolicy `json:"policy"`
	Halt   patchgate.RolloutHalt   `json:"halt"`
}

func init() {
	for k, d := range map[string]doc{
		"GET /api/v1/rollouts":                 {summary: "List rollout policies with their halt state", response: []RolloutStatus{}},
		"GET /api/v1/rollouts/{group}":         {summary: "A group's rollout policy and halt state", response: RolloutStatus{}},
		"PUT /api/v1/rollouts/{group}":         {summary: "Set (or replace) the rollout policy of a group", request: SetRolloutRequest{}, response: RolloutStatus{}},
		"DELETE /api/v1/rollouts/{group}":      {summary: "Remove the rollout policy of a group"},
		"POST /api/v1/rollouts/{group}/resume": {summary: "Resume a halted rollout; earlier failures no longer count", response: RolloutStatus{}},
	} {
		docs[k] = d
	}
}
