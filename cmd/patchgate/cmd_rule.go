//go:build !agentonly

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

func (a *adminCLI) ruleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rule",
		Short: "Automatic approval rules: approve matching posted updates for groups",
		Long: `An automatic approval rule approves, for install, the posted updates that
match its kinds, severities and products (an empty list matches everything)
for each of its groups, once --delay has passed since posting. With
--after-group it is a ring promotion (test → pilot → prod): an update is
approved for the rule's groups only once at least --min-success hosts of the
source group installed it, no host of it has it failed, and --soak has
passed since the --min-success-th success.

Rules run when an update is posted, when a rule is added or enabled, every
"serve --rules-interval" (default 1m), and with "rule run". Every approval a
rule makes is authored "rule:NAME" and logged as approval.set with that
actor. A rule never touches an (update, group) that has an approval of any
kind (an admin's decline stands), nor one a rule approved before and an
admin removed since. Durations take Go syntax (90m, 24h) or days (7d).`,
	}
	cmd.AddCommand(a.ruleAddCmd(), a.ruleListCmd(), a.ruleRemoveCmd(), a.ruleEnableCmd(true), a.ruleEnableCmd(false),
		a.ruleDryRunCmd(), a.ruleRunCmd())
	return cmd
}

// ruleFlagError renames the domain's field names to the flags that set
// them.
func ruleFlagError(err error) error {
	var pe *patchgate.Error
	if !errors.As(err, &pe) {
		return err
	}
	field, _, _ := strings.Cut(pe.Field, "[")
	flag := map[string]string{"name": "--name", "kinds": "--kind", "severities": "--severity", "products": "--product",
		"groups": "--group", "delay": "--delay", "deadline": "--deadline", "after_group": "--after-group",
		"min_success": "--min-success", "soak": "--soak"}[field]
	if flag == "" {
		return err
	}
	return patchgate.Invalid(flag, "%s", pe.Message)
}

func checkRuleName(s string) error {
	if !patchgate.ValidRuleName(s) {
		return patchgate.Invalid("NAME", "%q is not a rule name (lowercase letters, digits, . _ -; at most 64)", s)
	}
	return nil
}

func (a *adminCLI) ruleAddCmd() *cobra.Command {
	var req adminapi.CreateRuleRequest
	var kinds, sevs []string
	cmd := &cobra.Command{
		Use:   "add --name N [--kind K]... [--severity S]... [--product P]... --group G... [--delay 7d] [--deadline 14d] [--after-group test --min-success 5 --soak 24h]",
		Short: "Add an automatic approval rule; it runs at once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req.Kinds, req.Severities = nil, nil
			for _, k := range kinds {
				req.Kinds = append(req.Kinds, patchgate.Kind(k))
			}
			for _, s := range sevs {
				req.Severities = append(req.Severities, patchgate.Severity(s))
			}
			if req.AfterGroup != "" && req.MinSuccess == 0 {
				req.MinSuccess = 1
			}
			// Checked here as the server will, so a wrong flag sends nothing.
			r := patchgate.Rule{Name: req.Name, Kinds: req.Kinds, Severities: req.Severities, Products: req.Products,
				Groups: req.Groups, AfterGroup: req.AfterGroup, MinSuccess: req.MinSuccess}
			var err error
			for _, d := range []struct {
				field, text string
				into        *time.Duration
			}{{"delay", req.Delay, &r.Delay}, {"deadline", req.Deadline, &r.Deadline}, {"soak", req.Soak, &r.Soak}} {
				if *d.into, err = patchgate.ParseRuleDuration(d.field, d.text); err != nil {
					return ruleFlagError(err)
				}
			}
			if err := r.Validate(); err != nil {
				return ruleFlagError(err)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), "POST", "/api/v1/rules", nil, req, &raw); err != nil {
				return ruleFlagError(err)
			}
			var resp adminapi.RuleResponse
			if err := json.Unmarshal(raw, &resp); err != nil {
				return unexpectedAnswer(err)
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error {
				fmt.Fprintf(out, "added rule %s: %s\n", resp.Rule.Name, ruleSummary(resp.Rule))
				return writeApproved(out, resp.Approved)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Name, "name", "", "rule name (lowercase letters, digits, . _ -)")
	f.StringSliceVar(&kinds, "kind", nil, "match this kind (repeat or comma-separate; none = any): "+joinKinds())
	f.StringSliceVar(&sevs, "severity", nil, "match this severity (repeat; none = any): "+joinSeverities())
	f.StringSliceVar(&req.Products, "product", nil, "match updates for this product (repeat; none = any)")
	f.StringSliceVar(&req.Groups, "group", nil, "approve for this group (repeat)")
	f.StringVar(&req.Delay, "delay", "", "wait this long after posting (e.g. 7d, 24h)")
	f.StringVar(&req.Deadline, "deadline", "", "give each approval a deadline this long after it (e.g. 14d)")
	f.StringVar(&req.AfterGroup, "after-group", "", "ring promotion: approve only once the update succeeded on hosts of this group")
	f.IntVar(&req.MinSuccess, "min-success", 0, "with --after-group: hosts that must have installed it (default 1)")
	f.StringVar(&req.Soak, "soak", "", "with --after-group: time after the --min-success-th success (e.g. 24h)")
	f.BoolVar(&req.Disabled, "disabled", false, "add the rule switched off")
	return cmd
}

// ruleSummary is one line about what a rule matches and when it acts.
func ruleSummary(r patchgate.Rule) string {
	s := fmt.Sprintf("%s → %s", ruleMatchText(r), strings.Join(r.Groups, ", "))
	if r.Delay > 0 {
		s += ", " + patchgate.DurationText(r.Delay) + " after posting"
	}
	if r.AfterGroup != "" {
		s += ", " + ruleAfterText(r)
	}
	if r.Deadline > 0 {
		s += ", deadline " + patchgate.DurationText(r.Deadline)
	}
	return s
}

func ruleMatchText(r patchgate.Rule) string {
	var parts []string
	for _, k := range r.Kinds {
		parts = append(parts, string(k))
	}
	kinds := strings.Join(parts, "|")
	parts = parts[:0]
	for _, s := range r.Severities {
		parts = append(parts, string(s))
	}
	var m []string
	if kinds != "" {
		m = append(m, kinds)
	}
	if len(parts) > 0 {
		m = append(m, strings.Join(parts, "|"))
	}
	if len(r.Products) > 0 {
		m = append(m, "for "+strings.Join(r.Products, "|"))
	}
	if len(m) == 0 {
		return "any update"
	}
	return strings.Join(m, " ")
}

func ruleAfterText(r patchgate.Rule) string {
	if r.AfterGroup == "" {
		return "-"
	}
	s := fmt.Sprintf("%d in %s", r.MinSuccess, r.AfterGroup)
	if r.Soak > 0 {
		s += " + soak " + patchgate.DurationText(r.Soak)
	}
	return s
}

func writeApproved(w io.Writer, ds []patchgate.RuleDecision) error {
	if len(ds) == 0 {
		_, err := fmt.Fprintln(w, "approved nothing now")
		return err
	}
	fmt.Fprintf(w, "approved %d:\n", len(ds))
	t := newIndentedTable(w, "  ", "RULE", "UPDATE", "GROUP", "DEADLINE")
	for _, d := range ds {
		dl := "-"
		if d.Approval != nil && d.Approval.Deadline != nil {
			dl = stampText(*d.Approval.Deadline)
		}
		t.row(d.Rule, d.UpdateID, d.Group, dl)
	}
	return t.flush()
}

func (a *adminCLI) ruleListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List automatic approval rules",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := a.get(cmd.Context(), "/api/v1/rules", nil)
			if err != nil {
				return err
			}
			var rules []patchgate.Rule
			if err := decodeList(raw, "rules", &rules); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error {
				t := newTextTable(out, "NAME", "STATE", "MATCH", "GROUPS", "DELAY", "AFTER", "DEADLINE", "CREATED BY")
				for _, r := range rules {
					state := "enabled"
					if !r.Enabled {
						state = "disabled"
					}
					t.row(r.Name, state, cleanCell(ruleMatchText(r)), strings.Join(r.Groups, ","), patchgate.DurationText(r.Delay),
						ruleAfterText(r), patchgate.DurationText(r.Deadline), cleanCell(r.CreatedBy))
				}
				return t.flush()
			})
		},
	}
}

func (a *adminCLI) ruleRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a rule; the approvals it made stay",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkRuleName(args[0]); err != nil {
				return err
			}
			return a.deleteOne(cmd, "/api/v1/rules/"+pathEscape(args[0]), "removed", args[0], "removed rule "+args[0])
		},
	}
}

func (a *adminCLI) ruleEnableCmd(enable bool) *cobra.Command {
	verb, short := "disable", "Disable a rule: it approves nothing until enabled"
	if enable {
		verb, short = "enable", "Enable a rule; it runs at once"
	}
	return &cobra.Command{
		Use:   verb + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkRuleName(args[0]); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), "POST", "/api/v1/rules/"+pathEscape(args[0])+"/"+verb, nil, nil, &raw); err != nil {
				return err
			}
			var resp adminapi.RuleResponse
			if err := json.Unmarshal(raw, &resp); err != nil {
				return unexpectedAnswer(err)
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error {
				fmt.Fprintf(out, "%sd rule %s\n", verb, args[0])
				if enable {
					return writeApproved(out, resp.Approved)
				}
				return nil
			})
		},
	}
}

func (a *adminCLI) ruleDryRunCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "dry-run",
		Short: "Show what the rules would approve now, and why the others wait",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := a.get(cmd.Context(), "/api/v1/rules/dry-run", nil)
			if err != nil {
				return err
			}
			var d adminapi.RulesDryRun
			if err := json.Unmarshal(raw, &d); err != nil {
				return unexpectedAnswer(err)
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error {
				if len(d.Decisions) == 0 {
					_, err := fmt.Fprintln(out, "no rule has anything to decide")
					return err
				}
				t := newTextTable(out, "RULE", "UPDATE", "GROUP", "VERDICT", "REASON")
				for _, x := range d.Decisions {
					t.row(x.Rule, x.UpdateID, x.Group, string(x.Verdict), cleanCell(x.Reason))
				}
				return t.flush()
			})
		},
	}
}

func (a *adminCLI) ruleRunCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Run the rules now (they also run on posting and periodically)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), "POST", "/api/v1/rules/run", nil, nil, &raw); err != nil {
				return err
			}
			var resp adminapi.RulesRun
			if err := json.Unmarshal(raw, &resp); err != nil {
				return unexpectedAnswer(err)
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error { return writeApproved(out, resp.Approved) })
		},
	}
}
