//go:build !agentonly

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

// The publisher's release lifecycle: update post/withdraw/status, the
// release noun (test groups, SLA policy) and report sla.

// checkReasonFlag checks a --reason: required when required, printable,
// bounded.
func checkReasonFlag(reason string, required bool) error {
	if required && strings.TrimSpace(reason) == "" {
		return patchgate.Invalid("--reason", "is required")
	}
	if len(reason) > adminapi.MaxReasonBytes {
		return patchgate.Invalid("--reason", "longer than %d bytes", adminapi.MaxReasonBytes)
	}
	if strings.ContainsFunc(reason, func(r rune) bool { return unicode.IsControl(r) && r != '\t' }) {
		return patchgate.Invalid("--reason", "contains control characters")
	}
	return nil
}

func (a *adminCLI) updatePostCmd() *cobra.Command {
	var force bool
	var reason string
	cmd := &cobra.Command{
		Use:   "post ID [--force --reason TEXT]",
		Short: "Post an update: it becomes approvable by every group",
		Long: `Post an update. A tested update posts as it is; a received, testing or
failed one only with --force and a --reason, which go to the audit log.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkUpdateIDs(args); err != nil {
				return err
			}
			if err := checkReasonFlag(reason, force); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), "POST", "/api/v1/updates/"+pathEscape(args[0])+"/post", nil,
				adminapi.PostUpdateRequest{Force: force, Reason: reason}, &raw); err != nil {
				return err
			}
			var st patchgate.ReleaseState
			if err := json.Unmarshal(raw, &st); err != nil {
				return unexpectedAnswer(err)
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error {
				suffix := ""
				if st.Forced {
					suffix = " (forced: untested)"
				}
				_, err := fmt.Fprintf(out, "posted %s revision %d%s\n", st.UpdateID, st.Revision, suffix)
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "post an update that has not passed its tests (needs --reason)")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the audit log")
	return cmd
}

func (a *adminCLI) updateWithdrawCmd() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "withdraw ID --reason TEXT",
		Short: "Withdraw an update: it leaves every plan; a new revision can bring it back",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkUpdateIDs(args); err != nil {
				return err
			}
			if err := checkReasonFlag(reason, true); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), "POST", "/api/v1/updates/"+pathEscape(args[0])+"/withdraw", nil,
				adminapi.WithdrawUpdateRequest{Reason: reason}, &raw); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error {
				_, err := fmt.Fprintf(out, "withdrew %s\n", args[0])
				return err
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; goes to the audit log)")
	return cmd
}

func (a *adminCLI) updateStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status ID",
		Short: "Show an update's release status and its history: who moved it, when, why",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkUpdateIDs(args); err != nil {
				return err
			}
			raw, err := a.get(cmd.Context(), "/api/v1/updates/"+pathEscape(args[0])+"/history", nil)
			if err != nil {
				return err
			}
			var h adminapi.UpdateHistory
			if err := json.Unmarshal(raw, &h); err != nil {
				return unexpectedAnswer(err)
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error { return writeUpdateHistory(out, h) })
		},
	}
}

func writeUpdateHistory(w io.Writer, h adminapi.UpdateHistory) error {
	kv := newTextTable(w)
	kv.row("Update:", h.Release.UpdateID)
	status := string(h.Release.Status)
	if h.Release.Forced {
		status += " (forced: untested)"
	}
	kv.row("Status:", status+" since "+stampText(h.Release.Since))
	kv.row("Received:", stampText(h.Release.ReceivedAt)+" (revision "+itoaCell(h.Release.Revision)+")")
	if !h.Release.PostedAt.IsZero() {
		kv.row("Posted:", stampText(h.Release.PostedAt))
	}
	if err := kv.flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nHistory (%d):\n", len(h.Events))
	t := newIndentedTable(w, "  ", "TIME", "EVENT", "BY", "DETAIL")
	for _, ev := range h.Events {
		t.row(stampText(ev.Time), ev.Type, ev.Actor, truncateText(ev.Detail, 100))
	}
	return t.flush()
}

func checkStatusFlag(flag, s string) error {
	if s != "" && !patchgate.UpdateStatus(s).Valid() {
		var names []string
		for _, st := range patchgate.Statuses {
			names = append(names, string(st))
		}
		return patchgate.Invalid(flag, "must be one of %s, not %q", strings.Join(names, ", "), s)
	}
	return nil
}

func (a *adminCLI) releaseCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "release",
		Short: "The publisher's release policy: test groups, the SLA, Service Releases",
	}
	tg := &cobra.Command{Use: "test-group", Short: "The groups whose hosts test received updates"}
	tg.AddCommand(a.testGroupSetCmd("add"), a.testGroupSetCmd("remove"), a.testGroupListCmd(), a.testGroupMinSuccessCmd(), a.testPolicyCmd())
	sla := &cobra.Command{Use: "sla", Short: "The SLA policy: longest time from received to posted per severity"}
	sla.AddCommand(a.slaSetCmd(), a.slaShowCmd())
	cmd.AddCommand(tg, sla, a.consolidateCmd(), a.cleanupCmd())
	return cmd
}

func (a *adminCLI) consolidateCmd() *cobra.Command {
	var product string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "consolidate --product P [--dry-run]",
		Short: "Build the next Service Release of a product from the hotfixes posted since the previous one",
		Long: `Build <product>-SR<n>, an update of kind service-release that consolidates
every hotfix (kinds hotfix, security, critical) posted for the product and
not yet in an earlier SR: it supersedes them, requires the previous SR, and
bundles their payloads in the order they were posted, with generated
release notes. It enters received, like any update. Running it again with
no new hotfix builds nothing and says why. --dry-run shows what it would
build.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if product == "" {
				return patchgate.Invalid("--product", "is required")
			}
			if !patchgate.ValidProductName(product) {
				return patchgate.Invalid("--product", "%q is not a product name (lowercase letters, digits and . _ + -)", product)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), "POST", "/api/v1/release/consolidate", nil,
				adminapi.ConsolidateRequest{Product: product, DryRun: dryRun}, &raw); err != nil {
				return err
			}
			var resp adminapi.ConsolidateResponse
			if err := json.Unmarshal(raw, &resp); err != nil {
				return unexpectedAnswer(err)
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error { return writeConsolidation(out, resp) })
		},
	}
	cmd.Flags().StringVar(&product, "product", "", "product line, e.g. cisco.ucce")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only show what would be built")
	return cmd
}

func writeConsolidation(w io.Writer, r adminapi.ConsolidateResponse) error {
	if r.Update == nil {
		_, err := fmt.Fprintln(w, r.Reason)
		return err
	}
	switch {
	case r.DryRun:
		fmt.Fprintf(w, "would build %s (dry run: nothing stored)\n", r.Update.ID)
	case r.Created:
		status := ""
		if r.Release != nil {
			status = ": " + string(r.Release.Status)
		}
		fmt.Fprintf(w, "built %s revision %d%s\n", r.Update.ID, r.Update.Revision, status)
	default:
		fmt.Fprintf(w, "%s unchanged\n", r.Update.ID)
	}
	kv := newTextTable(w)
	kv.row("Requires:", joinOr(r.Update.Requires, "none (first SR)"))
	kv.row("Supersedes:", joinOr(r.Update.Supersedes, "none"))
	kv.row("Severity:", string(r.Update.Severity))
	kv.row("Payloads:", itoaCell(len(r.Update.Payloads)))
	if err := kv.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nRelease notes:")
	for _, line := range strings.Split(r.Update.Description, "\n") {
		fmt.Fprintln(w, "  "+cleanCell(line))
	}
	return nil
}

func (a *adminCLI) testGroupSetCmd(verb string) *cobra.Command {
	short := "Designate a group as a test group: approving a received update for it starts its tests"
	method := "PUT"
	if verb == "remove" {
		short, method = "A group stops being a test group", "DELETE"
	}
	return &cobra.Command{
		Use:   verb + " GROUP",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkNameArg("GROUP", args[0]); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), method, "/api/v1/release/test-groups/"+pathEscape(args[0]), nil, nil, nil); err != nil {
				return err
			}
			if a.g.JSON {
				return emitJSON(cmd.OutOrStdout(), map[string]string{verb: args[0]})
			}
			what := "is now a test group"
			if verb == "remove" {
				what = "is no longer a test group"
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", args[0], what)
			return err
		},
	}
}

func (a *adminCLI) testGroupListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List test groups",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := a.get(cmd.Context(), "/api/v1/release/test-groups", nil)
			if err != nil {
				return err
			}
			var gs []string
			if err := decodeList(raw, "test groups", &gs); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error {
				if len(gs) == 0 {
					_, err := fmt.Fprintln(out, "no test groups: received updates cannot be tested (only posted with --force)")
					return err
				}
				for _, g := range gs {
					fmt.Fprintln(out, g)
				}
				return nil
			})
		},
	}
}

func (a *adminCLI) slaSetCmd() *cobra.Command {
	var severity, maxFlag string
	cmd := &cobra.Command{
		Use:   "set --severity S --max DURATION|none",
		Short: "Set the longest time from received to posted of a severity (none removes it)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if severity == "" {
				return patchgate.Invalid("--severity", "is required: one of %s", joinSeverities())
			}
			if err := checkSeverityFlag("--severity", severity); err != nil {
				return err
			}
			max := "none"
			switch maxFlag {
			case "":
				return patchgate.Invalid("--max", "is required: a duration like 24h or 3d, or none")
			case "none", "0":
			default:
				d, err := parseFlagDuration("--max", maxFlag)
				if err != nil {
					return err
				}
				if d < time.Minute || d > 366*24*time.Hour {
					return patchgate.Invalid("--max", "must be between 1m and 366d, not %s", maxFlag)
				}
				max = d.String()
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), "PUT", "/api/v1/release/sla/"+pathEscape(severity), nil, adminapi.SetSLARequest{Max: max}, &raw); err != nil {
				return err
			}
			return a.showSLA(cmd.OutOrStdout(), raw)
		},
	}
	cmd.Flags().StringVar(&severity, "severity", "", "severity: "+joinSeverities())
	cmd.Flags().StringVar(&maxFlag, "max", "", "longest time from received to posted, e.g. 24h or 3d; none = no SLA")
	return cmd
}

func (a *adminCLI) slaShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show",
		Short: "Show the SLA policy",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := a.get(cmd.Context(), "/api/v1/release/sla", nil)
			if err != nil {
				return err
			}
			return a.showSLA(cmd.OutOrStdout(), raw)
		},
	}
}

func (a *adminCLI) showSLA(out io.Writer, raw json.RawMessage) error {
	var info adminapi.SLAPolicyInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		return unexpectedAnswer(err)
	}
	return a.show(out, raw, func() error {
		t := newTextTable(out, "SEVERITY", "POST WITHIN")
		for _, sev := range patchgate.Severities {
			v := "no SLA"
			if d, err := time.ParseDuration(info.Max[sev]); err == nil {
				v = durationText(d)
			}
			t.row(string(sev), v)
		}
		if err := t.flush(); err != nil {
			return err
		}
		_, err := fmt.Fprintf(out, "warning (sla.approaching) when less than %s is left\n", info.Warn)
		return err
	})
}

func (a *adminCLI) reportSLACmd() *cobra.Command {
	return &cobra.Command{
		Use:   "sla [--json]",
		Short: "Time to post, remaining time or breach of each unposted or recently posted update",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := a.get(cmd.Context(), "/api/v1/reports/sla", nil)
			if err != nil {
				return err
			}
			var rep adminapi.SLAReport
			if err := json.Unmarshal(raw, &rep); err != nil {
				return unexpectedAnswer(err)
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error { return writeSLATable(out, rep.Rows) })
		},
	}
}

func writeSLATable(w io.Writer, rows []patchgate.SLARow) error {
	t := newTextTable(w, "UPDATE", "SEVERITY", "STATUS", "RECEIVED", "DEADLINE", "SLA", "TIME")
	for _, r := range rows {
		deadline, when := "-", ""
		if !r.Deadline.IsZero() {
			deadline = stampText(r.Deadline)
		}
		switch {
		case r.State == patchgate.SLABreached:
			when = "late by " + durationText(r.Overdue.Round(time.Minute))
		case !r.PostedAt.IsZero():
			when = "posted in " + durationText(r.TimeToPost.Round(time.Minute))
		case r.Remaining > 0:
			when = durationText(r.Remaining.Round(time.Minute)) + " left"
		}
		t.row(r.UpdateID, string(r.Severity), string(r.Status), stampText(r.ReceivedAt), deadline, string(r.State), when)
	}
	return t.flush()
}
