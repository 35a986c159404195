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

func (a *adminCLI) approveCmd() *cobra.Command {
	var group, deadline string
	var uninstall, emergency bool
	cmd := &cobra.Command{
		Use:   "approve UPDATE... --group G [--deadline 72h|RFC3339] [--uninstall] [--emergency]",
		Short: "Approve updates for a group: its hosts install them (or, with --uninstall, remove them)",
		Long: `Approve updates for the hosts of a group.

With --deadline the hosts must install by then (a duration from now such as
72h or 3d, or an RFC 3339 time). With --uninstall the hosts remove the updates
instead. With --emergency the hosts install at their next check-in, outside
their maintenance windows. An approval replaces any earlier one of the same
update for the group.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			action := patchgate.ActionInstall
			if uninstall {
				action = patchgate.ActionUninstall
			}
			if emergency && uninstall {
				return patchgate.Invalid("--emergency", "applies to installs only, not with --uninstall")
			}
			return a.setApprovals(cmd, args, group, action, deadline, emergency)
		},
	}
	f := cmd.Flags()
	f.StringVar(&group, "group", "", "the group whose hosts the approval is for (required)")
	f.StringVar(&deadline, "deadline", "", "install by: a duration from now (72h, 3d) or an RFC 3339 time")
	f.BoolVar(&uninstall, "uninstall", false, "approve removal instead of installation")
	f.BoolVar(&emergency, "emergency", false, "install outside maintenance windows, at the next check-in")
	return cmd
}

func (a *adminCLI) declineCmd() *cobra.Command {
	var group string
	cmd := &cobra.Command{
		Use:   "decline UPDATE... [--group G]",
		Short: "Decline updates: they are never offered to the group's hosts (default group: all)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.setApprovals(cmd, args, group, patchgate.ActionDecline, "", false)
		},
	}
	cmd.Flags().StringVar(&group, "group", patchgate.GroupAll, "the group to decline for")
	return cmd
}

func (a *adminCLI) setApprovals(cmd *cobra.Command, updates []string, group string, action patchgate.Action, deadline string, emergency bool) error {
	if err := checkUpdateIDs(updates); err != nil {
		return err
	}
	if group == "" {
		return patchgate.Invalid("--group", "is required: name the group the approval is for (%q is every host)", patchgate.GroupAll)
	}
	if err := checkNameArg("--group", group); err != nil {
		return err
	}
	dl, err := parseDeadlineFlag(deadline, a.now())
	if err != nil {
		return err
	}
	if dl != "" && action == patchgate.ActionDecline {
		return patchgate.Invalid("--deadline", "does not apply to declines")
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	req := adminapi.ApproveRequest{Updates: updates, Group: group, Action: action, Deadline: dl, Emergency: emergency}
	var raw json.RawMessage
	if err := c.do(cmd.Context(), "POST", "/api/v1/approvals", nil, req, &raw); err != nil {
		return err
	}
	var resp adminapi.ApproveResponse
	if err := json.Unmarshal(raw, &resp); err != nil {
		return unexpectedAnswer(err)
	}
	out := cmd.OutOrStdout()
	return a.show(out, raw, func() error {
		now := a.now()
		for _, ap := range resp.Approvals {
			writeApprovalLine(out, ap, now)
		}
		return nil
	})
}

func writeApprovalLine(w io.Writer, ap patchgate.Approval, now time.Time) {
	switch ap.Action {
	case patchgate.ActionDecline:
		fmt.Fprintf(w, "declined %s for group %s\n", ap.UpdateID, ap.Group)
	case patchgate.ActionUninstall:
		fmt.Fprintf(w, "approved %s for removal in group %s%s\n", ap.UpdateID, ap.Group, deadlineSuffix(ap.Deadline, now))
	default:
		emergency := ""
		if ap.Emergency {
			emergency = " (emergency: outside maintenance windows)"
		}
		fmt.Fprintf(w, "approved %s for group %s%s%s\n", ap.UpdateID, ap.Group, deadlineSuffix(ap.Deadline, now), emergency)
	}
}

func deadlineSuffix(d *time.Time, now time.Time) string {
	if d == nil {
		return ""
	}
	return ", deadline " + deadlineText(d, now)
}

func (a *adminCLI) unapproveCmd() *cobra.Command {
	var group string
	cmd := &cobra.Command{
		Use:   "unapprove UPDATE... --group G",
		Short: "Remove the approvals (or declines) of updates for a group",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkUpdateIDs(args); err != nil {
				return err
			}
			if group == "" {
				return patchgate.Invalid("--group", "is required")
			}
			if err := checkNameArg("--group", group); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, id := range args {
				path := "/api/v1/approvals/" + pathEscape(group) + "/" + pathEscape(id)
				if err := c.do(cmd.Context(), "DELETE", path, nil, nil, nil); err != nil {
					return err
				}
				if !a.g.JSON {
					fmt.Fprintf(out, "removed the approval of %s for group %s\n", id, group)
				}
			}
			if a.g.JSON {
				return emitJSON(out, map[string]any{"group": group, "removed": args})
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&group, "group", "", "the group (required)")
	return cmd
}

func (a *adminCLI) approvalCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "approval",
		Short: "List approvals",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List approvals and declines per update and group",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := a.get(cmd.Context(), "/api/v1/approvals", nil)
			if err != nil {
				return err
			}
			var approvals []patchgate.Approval
			if err := decodeList(raw, "approvals", &approvals); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			now := a.now()
			return a.show(out, raw, func() error {
				t := newTextTable(out, "UPDATE", "GROUP", "ACTION", "DEADLINE", "BY")
				for _, ap := range approvals {
					t.row(ap.UpdateID, ap.Group, string(ap.Action), deadlineText(ap.Deadline, now), truncateText(ap.CreatedBy, 30))
				}
				return t.flush()
			})
		},
	})
	return cmd
}
