//go:build !agentonly

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

func (a *adminCLI) rolloutCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "Pace installs in a group: concurrency, failure halt, canary",
		Long: `A group's rollout policy paces the installs of each update, decided at
check-in: at most --max-concurrent hosts install at once; --max-failures
failed hosts halt the group's rollout (an override shown by "rollout status",
never a change to the policy) until "rollout resume"; with --canary N the
first N hosts must succeed before any other starts. Limits are a count (5)
or a percentage of the group's hosts (10%).`,
	}
	cmd.AddCommand(a.rolloutSetCmd(), a.rolloutListCmd(), a.rolloutStatusCmd(), a.rolloutResumeCmd(), a.rolloutRemoveCmd())
	return cmd
}

func (a *adminCLI) rolloutSetCmd() *cobra.Command {
	var maxConcurrent, maxFailures string
	var canary int
	cmd := &cobra.Command{
		Use:   "set GROUP [--max-concurrent N|P%] [--max-failures N|P%] [--canary N]",
		Short: "Set (or replace) the rollout policy of a group",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := args[0]
			if err := checkNameArg("GROUP", group); err != nil {
				return err
			}
			if _, _, err := patchgate.ParseRolloutLimit("--max-concurrent", maxConcurrent); err != nil {
				return err
			}
			if _, _, err := patchgate.ParseRolloutLimit("--max-failures", maxFailures); err != nil {
				return err
			}
			if canary < 0 || canary > 1<<20 {
				return patchgate.Invalid("--canary", "must be 0 or more")
			}
			if maxConcurrent == "" && maxFailures == "" && canary == 0 {
				return patchgate.Invalid("--max-concurrent", "give at least one of --max-concurrent, --max-failures, --canary")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			req := adminapi.SetRolloutRequest{MaxConcurrent: maxConcurrent, MaxFailures: maxFailures, Canary: canary}
			if err := c.do(cmd.Context(), "PUT", "/api/v1/rollouts/"+pathEscape(group), nil, req, &raw); err != nil {
				return err
			}
			var st adminapi.RolloutStatus
			if err := json.Unmarshal(raw, &st); err != nil {
				return unexpectedAnswer(err)
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error { return writeRolloutStatus(out, st, a.now()) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&maxConcurrent, "max-concurrent", "", "hosts installing at once: a count (5) or a percentage (10%)")
	f.StringVar(&maxFailures, "max-failures", "", "failed hosts that halt the rollout: a count or a percentage")
	f.IntVar(&canary, "canary", 0, "the first N hosts must succeed before others start")
	return cmd
}

func writeRolloutStatus(w io.Writer, st adminapi.RolloutStatus, now time.Time) error {
	p := st.Policy
	kv := newTextTable(w)
	kv.row("Group:", p.Group)
	kv.row("Max concurrent:", patchgate.LimitText(p.MaxConcurrent, p.MaxConcurrentPercent))
	kv.row("Max failures:", patchgate.LimitText(p.MaxFailures, p.MaxFailuresPercent))
	kv.row("Canary:", itoaCell(p.Canary))
	kv.row("State:", rolloutStateText(st.Halt, now))
	return kv.flush()
}

func rolloutStateText(h patchgate.RolloutHalt, now time.Time) string {
	if h.Halted {
		return fmt.Sprintf("HALTED %s (%s): %s", stampText(h.At), relativeTime(h.At, now), cleanCell(h.Reason))
	}
	if !h.ResumedAt.IsZero() {
		return "running (resumed " + relativeTime(h.ResumedAt, now) + ")"
	}
	return "running"
}

func (a *adminCLI) rolloutListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List rollout policies and whether they are halted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := a.get(cmd.Context(), "/api/v1/rollouts", nil)
			if err != nil {
				return err
			}
			var list []adminapi.RolloutStatus
			if err := decodeList(raw, "rollouts", &list); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error {
				t := newTextTable(out, "GROUP", "MAX CONCURRENT", "MAX FAILURES", "CANARY", "STATE")
				for _, st := range list {
					p := st.Policy
					t.row(p.Group, patchgate.LimitText(p.MaxConcurrent, p.MaxConcurrentPercent),
						patchgate.LimitText(p.MaxFailures, p.MaxFailuresPercent), itoaCell(p.Canary), rolloutStateText(st.Halt, a.now()))
				}
				return t.flush()
			})
		},
	}
}

func (a *adminCLI) rolloutStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status GROUP",
		Short: "Show a group's rollout policy and whether it is halted",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkNameArg("GROUP", args[0]); err != nil {
				return err
			}
			raw, err := a.get(cmd.Context(), "/api/v1/rollouts/"+pathEscape(args[0]), nil)
			if err != nil {
				return err
			}
			var st adminapi.RolloutStatus
			if err := json.Unmarshal(raw, &st); err != nil {
				return unexpectedAnswer(err)
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error { return writeRolloutStatus(out, st, a.now()) })
		},
	}
}

func (a *adminCLI) rolloutResumeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "resume GROUP",
		Short: "Resume a halted rollout: failures before now no longer count",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkNameArg("GROUP", args[0]); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), "POST", "/api/v1/rollouts/"+pathEscape(args[0])+"/resume", nil, nil, &raw); err != nil {
				return err
			}
			if a.g.JSON {
				return emitRawJSON(cmd.OutOrStdout(), raw)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "resumed the rollout of group %s\n", args[0])
			return err
		},
	}
}

func (a *adminCLI) rolloutRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove GROUP",
		Short: "Remove the rollout policy of a group: its hosts install without pacing",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkNameArg("GROUP", args[0]); err != nil {
				return err
			}
			return a.deleteOne(cmd, "/api/v1/rollouts/"+pathEscape(args[0]), "removed", args[0], "removed the rollout policy of group "+args[0])
		},
	}
}
