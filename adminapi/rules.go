package adminapi

import (
	"time"

	"github.com/patchgate/patchgate"
)

// CreateRuleRequest is POST /api/v1/rules. Durations are Go syntax
// ("24h", "90m") or whole days ("7d"); empty = none.
type CreateRuleRequest struct {
	Name       string               `json:"name"`
	Kinds      []patchgate.Kind     `json:"kinds,omitempty"`
	Severities []patchgate.Severity `json:"severities,omitempty"`
	Products   []string             `json:"products,omitempty"`
	Groups     []string             `json:"groups"`
	Delay      string               `json:"delay,omitempty"`
	Deadline   string               `json:"deadline,omitempty"`
	AfterGroup string               `json:"after_group,omitempty"`
	MinSuccess int                  `json:"min_success,omitempty"`
	Soak       string               `json:"soak,omitempty"`
	// Disabled creates the rule switched off.
	Disabled bool `json:"disabled,omitempty"`
}

// RuleResponse is a rule after a change, with the approvals the rules
// made at once as a result (a new or re-enabled rule acts immediately).
type RuleResponse struct {
	Rule     patchgate.Rule           `json:"rule"`
	Approved []patchgate.RuleDecision `json:"approved"`
}

// RulesDryRun is GET /api/v1/rules/dry-run: what the enabled rules would
// do now, per (rule, update, group) still undecided, with the reason.
type RulesDryRun struct {
	GeneratedAt time.Time                `json:"generated_at"`
	Decisions   []patchgate.RuleDecision `json:"decisions"`
}

// RulesRun is POST /api/v1/rules/run: the approvals the rules made.
type RulesRun struct {
	Approved []patchgate.RuleDecision `json:"approved"`
}

func init() {
	for k, d := range map[string]doc{
		"GET /api/v1/rules":                 {summary: "List automatic approval rules", response: []patchgate.Rule{}},
		"POST /api/v1/rules":                {summary: "Add an automatic approval rule; it runs at once", request: CreateRuleRequest{}, response: RuleResponse{}},
		"DELETE /api/v1/rules/{name}":       {summary: "Remove a rule; the approvals it made stay"},
		"POST /api/v1/rules/{name}/disable": {summary: "Disable a rule: it approves nothing until enabled", response: RuleResponse{}},
		"POST /api/v1/rules/{name}/enable":  {summary: "Enable a rule; it runs at once", response: RuleResponse{}},
		"GET /api/v1/rules/dry-run":         {summary: "What the rules would approve now, and why the others wait", response: RulesDryRun{}},
		"POST /api/v1/rules/run":            {summary: "Run the rules now (they also run when updates are posted and periodically)", response: RulesRun{}},
	} {
		docs[k] = d
	}
}
