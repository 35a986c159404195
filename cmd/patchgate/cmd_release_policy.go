//go:build !agentonly

package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/spf13/cobra"
)

// The test success count of each test group, and the cleanup of
// superseded updates.

func (a *adminCLI) testGroupMinSuccessCmd() *cobra.Command {
	var n int
	cmd := &cobra.Command{
		Use:   "set GROUP --min-success N",
		Short: "Set how many of a test group's hosts that need an update must install it (0: every one)",
		Long: `An update in testing becomes tested when no test host failed it and, in
every test group where some host needs it, enough of those hosts have
installed it: --min-success of them, or every one with 0 (the default).
A group where fewer hosts need the update than the count needs them all.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkNameArg("GROUP", args[0]); err != nil {
				return err
			}
			if !cmd.Flags().Changed("min-success") {
				return patchgate.Invalid("--min-success", "is required (0: every test host that needs the update)")
			}
			if n < 0 || n > patchgate.MaxMinSuccess {
				return patchgate.Invalid("--min-success", "must be between 0 and %d", patchgate.MaxMinSuccess)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), "PUT", "/api/v1/release/test-groups/"+pathEscape(args[0])+"/min-success", nil,
				adminapi.SetMinSuccessRequest{MinSuccess: n}, &raw); err != nil {
				return err
			}
			var tg patchgate.TestGroup
			if err := json.Unmarshal(raw, &tg); err != nil {
				return unexpectedAnswer(err)
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error {
				_, err := fmt.Fprintf(out, "test group %s: an update is tested when %s\n", tg.Name, minSuccessText(tg.MinSuccess))
				return err
			})
		},
	}
	cmd.Flags().IntVar(&n, "min-success", 0, "hosts that must install an update (0: every test host of the group that needs it)")
	return cmd
}

func minSuccessText(n int) string {
	if n == 0 {
		return "every host that needs it installed it"
	}
	return fmt.Sprintf("%d host(s) that need it installed it", n)
}

func (a *adminCLI) testPolicyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "policy",
		Short: "Show each test group's success count",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := a.get(cmd.Context(), "/api/v1/release/test-policy", nil)
			if err != nil {
				return err
			}
			var p adminapi.TestPolicy
			if err := json.Unmarshal(raw, &p); err != nil {
				return unexpectedAnswer(err)
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error { return writeTestPolicy(out, p) })
		},
	}
}

func writeTestPolicy(w io.Writer, p adminapi.TestPolicy) error {
	if len(p.Groups) == 0 {
		_, err := fmt.Fprintln(w, "no test groups: received updates cannot be tested (only posted with --force)")
		return err
	}
	t := newTextTable(w, "GROUP", "TESTED WHEN")
	for _, g := range p.Groups {
		t.row(g.Name, minSuccessText(g.MinSuccess))
	}
	return t.flush()
}

func (a *adminCLI) cleanupCmd() *cobra.Command {
	var age string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "cleanup [--age 30d] [--dry-run]",
		Short: "Decline superseded updates that no host needs any more",
		Long: `Decline, for group all (as actor "cleanup"), every superseded update that
was superseded at least --age ago (default: the server's --cleanup-age,
30d) and that no host still needs. A host needs an update when it applies
to one of its products, it is not installed there, and no update that
supersedes it is installed there or approved for it and applicable. An
update some host needs is kept, whatever its age; the report says which
and why. --dry-run only reports. serve runs the same job on
--cleanup-schedule.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := adminapi.CleanupRequest{DryRun: dryRun}
			if age != "" {
				d, err := adminapi.ParseAge(age)
				if err != nil || d < 0 {
					return patchgate.Invalid("--age", "%q is not a duration like 30d or 720h", age)
				}
				req.Age = d.String()
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), "POST", "/api/v1/release/cleanup", nil, req, &raw); err != nil {
				return err
			}
			var rep adminapi.CleanupReport
			if err := json.Unmarshal(raw, &rep); err != nil {
				return unexpectedAnswer(err)
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error { return writeCleanup(out, rep) })
		},
	}
	cmd.Flags().StringVar(&age, "age", "", "decline only updates superseded at least this long ago (default: the server's, 30d)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only report what would be declined")
	return cmd
}

func writeCleanup(w io.Writer, rep adminapi.CleanupReport) error {
	verb := "declined"
	if rep.DryRun {
		verb = "would decline (dry run)"
	}
	if len(rep.Items) == 0 {
		_, err := fmt.Fprintln(w, "no superseded update left to decline")
		return err
	}
	fmt.Fprintf(w, "%s %d of %d superseded update(s) (age %s)\n", verb, rep.Declined, len(rep.Items), rep.Age)
	t := newTextTable(w, "UPDATE", "DECISION", "SUPERSEDED", "BY", "REASON")
	for _, it := range rep.Items {
		decision := "keep"
		if it.Decline {
			decision = "decline"
		}
		reason := it.Reason
		if len(it.Hosts) > 0 {
			reason += " (" + joinOr(it.Hosts, "") + ")"
		}
		t.row(it.UpdateID, decision, it.SupersededAt.Format("2006-01-02"), joinOr(it.SupersededBy, "-"), reason)
	}
	return t.flush()
}
