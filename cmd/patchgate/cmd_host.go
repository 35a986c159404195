//go:build !agentonly

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/agentapi"
)

// manualActionRequired marks hosts whose owners must install by hand.
const manualActionRequired = "manual action required"

func (a *adminCLI) hostCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "host",
		Short: "List and inspect managed hosts",
	}
	cmd.AddCommand(a.hostListCmd(), a.hostShowCmd(), a.hostMarkInstalledCmd(), a.setOwnerCmd(patchgate.OwnerHost), a.ownersCmd())
	return cmd
}

func (a *adminCLI) hostListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List hosts with their last check-in and pending items",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := a.get(cmd.Context(), "/api/v1/hosts", nil)
			if err != nil {
				return err
			}
			var hosts []adminapi.HostSummary
			if err := decodeList(raw, "hosts", &hosts); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error { return writeHostList(out, hosts, a.now()) })
		},
	}
}

func writeHostList(w io.Writer, hosts []adminapi.HostSummary, now time.Time) error {
	t := newTextTable(w, "ID", "HOSTNAME", "OS", "MODE", "GROUPS", "LAST CHECK-IN", "PENDING")
	for _, h := range hosts {
		t.row(h.ID, truncateText(h.Hostname, 40), osArch(h.Host), string(h.Mode),
			truncateText(strings.Join(h.Groups, ","), 40), checkinText(h.Host, h.Silent, now), pendingText(h))
	}
	return t.flush()
}

func osArch(h patchgate.Host) string {
	switch {
	case h.OS == "":
		return h.Arch
	case h.Arch == "":
		return h.OS
	}
	return h.OS + "/" + h.Arch
}

// checkinText says when a host last checked in, "(silent)" when it missed
// two intervals.
func checkinText(h patchgate.Host, silent bool, now time.Time) string {
	s := relativeTime(h.LastCheckin, now)
	if silent {
		s += " (silent)"
	}
	return s
}

func pendingText(h adminapi.HostSummary) string {
	s := itoaCell(h.Pending)
	if h.Blocked > 0 {
		s += fmt.Sprintf(" (+%d blocked)", h.Blocked)
	}
	if h.Mode == patchgate.ModeManual && h.Pending > 0 {
		s += " " + manualActionRequired
	}
	return s
}

func (a *adminCLI) hostShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show HOST",
		Short: "Show a host (by ID or hostname): inventory, plan, blocked items, recent deployments",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(args[0]) == "" {
				return patchgate.Invalid("HOST", "is empty")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			raw, err := getHost(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			var d adminapi.HostDetail
			if err := json.Unmarshal(raw, &d); err != nil {
				return unexpectedAnswer(err)
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error { return writeHostDetail(out, d, c.base, a.now()) })
		},
	}
}

// getHost fetches a host by ID, or else by hostname.
func getHost(ctx context.Context, c *apiClient, arg string) (json.RawMessage, error) {
	var raw json.RawMessage
	if agentapi.ValidID(arg) {
		err := c.do(ctx, "GET", "/api/v1/hosts/"+pathEscape(arg), nil, nil, &raw)
		if !patchgate.IsNotFound(err) {
			return raw, err
		}
	}
	ids, err := resolveHosts(ctx, c, []string{arg})
	if err != nil {
		return nil, err
	}
	if ids[0] == arg {
		return nil, patchgate.NotFound("no host has the ID or hostname %q", arg)
	}
	raw = nil
	err = c.do(ctx, "GET", "/api/v1/hosts/"+pathEscape(ids[0]), nil, nil, &raw)
	return raw, err
}

func writeHostDetail(w io.Writer, d adminapi.HostDetail, server string, now time.Time) error {
	h := d.Host
	kv := newTextTable(w)
	kv.row("ID:", h.ID)
	kv.row("Hostname:", h.Hostname)
	kv.row("OS:", osArch(h))
	kv.row("Mode:", string(h.Mode))
	kv.row("Agent:", h.Agent)
	kv.row("Groups:", joinOr(h.Groups, "none"))
	if d.Plan.RebootPolicy != "" {
		kv.row("Reboot policy:", string(d.Plan.RebootPolicy))
	}
	if len(h.RebootPending) > 0 {
		kv.row("Reboot pending:", strings.Join(h.RebootPending, ", "))
	}
	kv.row("Enrolled:", stampText(h.EnrolledAt))
	last := checkinText(h, d.Silent, now)
	if !h.LastCheckin.IsZero() {
		last = stampText(h.LastCheckin) + " (" + last + ")"
	}
	kv.row("Last check-in:", last)
	if h.Interval > 0 {
		kv.row("Check-in interval:", h.Interval.String())
	}
	if err := kv.flush(); err != nil {
		return err
	}
	if d.Silent {
		fmt.Fprintln(w, "\nThis host is silent: it has missed two check-ins, its states are unknown.")
	}

	fmt.Fprintf(w, "\nProducts (%d):\n", len(h.Products))
	if len(h.Products) > 0 {
		// Hosts with dpkg report every package: show the first ones only.
		const maxShown = 20
		t := newIndentedTable(w, "  ", "NAME", "VERSION")
		for i, p := range h.Products {
			if i == maxShown {
				break
			}
			t.row(p.Name, p.Version)
		}
		t.flush()
		if len(h.Products) > maxShown {
			fmt.Fprintf(w, "  ... and %d more (--json lists all)\n", len(h.Products)-maxShown)
		}
	}
	fmt.Fprintf(w, "\nInstalled (%d): %s\n", len(h.Installed), cleanCell(joinOr(h.Installed, "none")))
	if len(h.RebootPending) > 0 {
		fmt.Fprintf(w, "Waiting for a reboot: %s\n", cleanCell(strings.Join(h.RebootPending, ", ")))
	}

	manual := d.Plan.Manual || h.Mode == patchgate.ModeManual
	fmt.Fprintf(w, "\nPlan (%d):\n", len(d.Plan.Items))
	if len(d.Plan.Items) == 0 {
		fmt.Fprintln(w, "  nothing to do")
	} else {
		t := newIndentedTable(w, "  ", "UPDATE", "REV", "ACTION", "SEVERITY", "DEADLINE", "REBOOT", "WHEN", "TITLE")
		for _, it := range d.Plan.Items {
			t.row(it.UpdateID, itoaCell(it.Revision), string(it.Action), string(it.Severity),
				deadlineText(it.Deadline, now), string(it.Reboot), planWhenText(it, now), truncateText(it.Title, 50))
		}
		t.flush()
	}
	if len(d.Plan.Blocked) > 0 {
		fmt.Fprintf(w, "\nBlocked (%d):\n", len(d.Plan.Blocked))
		t := newIndentedTable(w, "  ", "UPDATE", "REASON")
		for _, b := range d.Plan.Blocked {
			t.row(b.UpdateID, b.Reason)
		}
		t.flush()
	}
	if manual && len(d.Plan.Items) > 0 {
		writeManualSection(w, d.Plan.Items, server, now)
	}

	deps := recentDeployments(d.Deployments, 20)
	fmt.Fprintf(w, "\nRecent deployments (%d of %d):\n", len(deps), len(d.Deployments))
	if len(deps) == 0 {
		fmt.Fprintln(w, "  none reported")
		return nil
	}
	t := newIndentedTable(w, "  ", "UPDATE", "STATE", "EXIT", "WHEN", "DETAIL")
	for _, dep := range deps {
		exit := ""
		if dep.ExitCode != 0 || dep.State == patchgate.StateFailed {
			exit = itoaCell(dep.ExitCode)
		}
		t.row(dep.UpdateID, string(dep.State), exit, relativeTime(dep.UpdatedAt, now), truncateText(dep.Detail, 60))
	}
	return t.flush()
}

// writeManualSection tells the owner of a manual host what to install by
// hand, in plan order (prerequisites first), and where to get each file.
func writeManualSection(w io.Writer, items []patchgate.PlanItem, server string, now time.Time) {
	fmt.Fprintf(w, "\nManual action required: this host is patched by hand. In this order:\n")
	defer fmt.Fprintln(w, "  Downloads need an API token (header Authorization: Bearer <token>); check each file's sha256 before running it.")
	for i, it := range items {
		verb := "install"
		if it.Action == patchgate.ActionUninstall {
			verb = "uninstall"
		}
		fmt.Fprintf(w, "  %d. %s %s (revision %d, %s) %s\n", i+1, verb, it.UpdateID, it.Revision, it.Severity, cleanCell(it.Title))
		if it.Deadline != nil {
			fmt.Fprintf(w, "     deadline: %s\n", deadlineText(it.Deadline, now))
		}
		if it.Reboot == patchgate.RebootRequired {
			fmt.Fprintln(w, "     a reboot is required afterwards")
		}
		if it.Action == patchgate.ActionUninstall {
			continue
		}
		for _, p := range it.Payloads {
			fmt.Fprintf(w, "     %s  %s  %s  sha256 %s\n", cleanCell(p.Name), byteSize(p.Size), p.Installer, p.SHA256)
			if len(p.Args) > 0 {
				fmt.Fprintf(w, "       arguments: %s\n", cleanCell(quoteArgs(p.Args)))
			}
			fmt.Fprintf(w, "       %s\n", contentURL(server, p.SHA256))
		}
	}
}

// contentURL is where a payload can be downloaded from the server.
func contentURL(server, sha string) string {
	return strings.TrimRight(server, "/") + agentapi.PathContent + sha
}

// recentDeployments returns the n most recently updated deployments, newest
// first.
func recentDeployments(deps []patchgate.Deployment, n int) []patchgate.Deployment {
	s := slices.Clone(deps)
	slices.SortStableFunc(s, func(a, b patchgate.Deployment) int { return b.UpdatedAt.Compare(a.UpdatedAt) })
	if len(s) > n {
		s = s[:n]
	}
	return s
}
