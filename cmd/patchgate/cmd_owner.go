//go:build !agentonly

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/spf13/cobra"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

// setOwnerCmd is host set-owner and group set-owner.
func (a *adminCLI) setOwnerCmd(scope string) *cobra.Command {
	var remove bool
	what := strings.ToUpper(scope)
	short := "Set the address mailed when this manual host needs installs by hand (wins over its groups' owners)"
	if scope == patchgate.OwnerGroup {
		short = "Set the address mailed when a manual host of this group needs installs by hand (all its groups' owners, unless the host has its own)"
	}
	cmd := &cobra.Command{
		Use:   "set-owner " + what + " ADDRESS|--remove",
		Short: short,
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := strings.TrimSpace(args[0])
			if name == "" {
				return patchgate.Invalid(what, "is empty")
			}
			var addr string
			switch {
			case remove && len(args) == 2:
				return patchgate.Invalid("ADDRESS", "give an address or --remove, not both")
			case !remove && len(args) == 1:
				return patchgate.Invalid("ADDRESS", "is required (or --remove)")
			case !remove:
				addr = strings.TrimSpace(args[1])
				if err := patchgate.ValidAddress("ADDRESS", addr); err != nil {
					return err
				}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			path := "/api/v1/groups/" + pathEscape(name) + "/owner"
			if scope == patchgate.OwnerHost {
				ids, err := resolveHosts(cmd.Context(), c, []string{name})
				if err != nil {
					return err
				}
				name = ids[0]
				path = "/api/v1/hosts/" + pathEscape(name) + "/owner"
			} else if err := checkNameArg(what, name); err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), "PUT", path, nil, adminapi.SetOwnerRequest{Address: addr}, &raw); err != nil {
				return err
			}
			if a.g.JSON {
				return emitRawJSON(cmd.OutOrStdout(), raw)
			}
			if addr == "" {
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "removed the owner of %s %s\n", scope, name)
			} else {
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s %s is owned by %s\n", scope, name, addr)
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&remove, "remove", false, "remove the owner")
	return cmd
}

// ownersCmd is host owners: every host and group owner.
func (a *adminCLI) ownersCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "owners",
		Short: "List the owners of hosts and groups (mailed when a manual host needs installs by hand)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := a.get(cmd.Context(), "/api/v1/owners", nil)
			if err != nil {
				return err
			}
			var os []patchgate.Owner
			if err := decodeList(raw, "owners", &os); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error {
				t := newTextTable(out, "SCOPE", "NAME", "OWNER", "SET")
				for _, o := range os {
					t.row(o.Scope, cleanCell(o.Name), cleanCell(o.Address), stampText(o.UpdatedAt))
				}
				return t.flush()
			})
		},
	}
}

func (a *adminCLI) reportStatusCmd() *cobra.Command {
	var send bool
	cmd := &cobra.Command{
		Use:   "status [--send] [--json]",
		Short: "Preview the periodic status report (compliance per group, overdue updates, failures), or mail it now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if send {
				c, err := a.client()
				if err != nil {
					return err
				}
				var raw json.RawMessage
				if err := c.do(cmd.Context(), "POST", "/api/v1/reports/status/send", nil, nil, &raw); err != nil {
					return err
				}
				if a.g.JSON {
					return emitRawJSON(out, raw)
				}
				var r adminapi.SendReportResponse
				if err := json.Unmarshal(raw, &r); err != nil {
					return unexpectedAnswer(err)
				}
				_, err = fmt.Fprintf(out, "status report queued (event %s) for %s\n", r.EventID, pluralize(r.Recipients, "subscription"))
				return err
			}
			raw, err := a.get(cmd.Context(), "/api/v1/reports/status", nil)
			if err != nil {
				return err
			}
			var r patchgate.StatusReport
			if err := json.Unmarshal(raw, &r); err != nil {
				return unexpectedAnswer(err)
			}
			return a.show(out, raw, func() error { return writeStatusReport(out, r) })
		},
	}
	cmd.Flags().BoolVar(&send, "send", false, "mail the report now to every subscription with --status-report")
	return cmd
}

func pctText(f float64) string { return fmt.Sprintf("%.1f%%", math.Floor(f*1000)/10) }

func writeStatusReport(w io.Writer, r patchgate.StatusReport) error {
	fmt.Fprintf(w, "Status report of %s (%s)\n\nCOMPLIANCE PER GROUP\n", r.Day, r.TimeZone)
	t := newIndentedTable(w, "  ", "GROUP", "HOSTS", "INSTALLED", "TO INSTALL", "COMPLIANT")
	for _, g := range r.Groups {
		t.row(cleanCell(g.Group), fmt.Sprint(g.Hosts), fmt.Sprint(g.Installed), fmt.Sprint(g.Applicable), pctText(g.Compliant))
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nOVERDUE UPDATES")
	if len(r.Overdue) == 0 {
		fmt.Fprintln(w, "  none")
	} else {
		t = newIndentedTable(w, "  ", "UPDATE", "SEVERITY", "GROUP", "DEADLINE", "NOT COMPLIANT", "TITLE")
		for _, o := range r.Overdue {
			t.row(o.UpdateID, string(o.Severity), cleanCell(o.Group), stampText(o.Deadline), fmt.Sprintf("%d of %d", o.NonCompliant, o.Hosts), cleanCell(o.Title))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\nFAILED INSTALLS")
	if len(r.Failed) == 0 {
		fmt.Fprintln(w, "  none")
	} else {
		t = newIndentedTable(w, "  ", "UPDATE", "SEVERITY", "HOSTS", "TITLE")
		for _, f := range r.Failed {
			t.row(f.UpdateID, string(f.Severity), fmt.Sprint(f.Hosts), cleanCell(f.Title))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\nCOMPLIANCE OF ALL HOSTS (days with a snapshot)")
	for _, p := range r.History {
		if !p.Missing {
			fmt.Fprintf(w, "  %s  %s\n", p.Day, pctText(p.Compliant))
		}
	}
	return nil
}
