//go:build !agentonly

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // windows name IANA zones: the binary must know them everywhere

	"github.com/spf13/cobra"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

func (a *adminCLI) windowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "window",
		Short: "Manage maintenance windows: when the hosts of a group may install",
		Long: `A group's maintenance window says when its hosts may install. A host
installs only while one of its groups' windows is open, unless the approval's
deadline has passed or the approval is an emergency; a host none of whose
groups has a window installs at any time.

The schedule is a five-field cron expression ("0 22 * * sat": Saturdays at
22:00) or a monthly rule "ORDINAL WEEKDAY [+Nd|-Nd] [HH:MM]" ("second tuesday
+3d 22:00": three days after Patch Tuesday at 22:00; ORDINAL is first, second,
third, fourth or last). Both are read on the wall clock of --tz; --duration
is elapsed time.`,
	}
	cmd.AddCommand(a.windowSetCmd(), a.windowListCmd(), a.windowRemoveCmd(), a.windowNextCmd())
	return cmd
}

// windowFlagError renames the domain's field names to the flags that set
// them.
func windowFlagError(err error) error {
	var pe *patchgate.Error
	if errors.As(err, &pe) {
		flag := map[string]string{"schedule": "--schedule", "duration": "--duration", "time_zone": "--tz"}[pe.Field]
		if flag != "" {
			return patchgate.Invalid(flag, "%s", pe.Message)
		}
	}
	return err
}

func (a *adminCLI) windowSetCmd() *cobra.Command {
	var schedule, duration, tz string
	cmd := &cobra.Command{
		Use:   "set GROUP --schedule SPEC --duration 4h --tz ZONE",
		Short: "Set (or replace) the maintenance window of a group",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := args[0]
			if err := checkNameArg("GROUP", group); err != nil {
				return err
			}
			if strings.TrimSpace(schedule) == "" {
				return patchgate.Invalid("--schedule", "is required: a cron expression or a rule like \"second tuesday +3d 22:00\"")
			}
			if duration == "" {
				return patchgate.Invalid("--duration", "is required, like 4h or 90m")
			}
			d, err := parseFlagDuration("--duration", duration)
			if err != nil {
				return err
			}
			if tz == "" {
				return patchgate.Invalid("--tz", "is required: an IANA zone like Europe/Paris, or UTC")
			}
			w := patchgate.Window{Group: group, Schedule: strings.TrimSpace(schedule), Duration: d, TimeZone: tz}
			if _, err := w.Compile(); err != nil {
				return windowFlagError(err)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			req := adminapi.SetWindowRequest{Schedule: w.Schedule, Duration: d.String(), TimeZone: tz}
			if err := c.do(cmd.Context(), "PUT", "/api/v1/windows/"+pathEscape(group), nil, req, &raw); err != nil {
				return err
			}
			var info adminapi.WindowInfo
			if err := json.Unmarshal(raw, &info); err != nil {
				return unexpectedAnswer(err)
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error {
				_, err := fmt.Fprintf(out, "window of group %s: %s for %s (%s); %s\n",
					group, w.Schedule, durationText(d), tz, windowStateText(info, a.now()))
				return err
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&schedule, "schedule", "", "cron expression or monthly rule (required)")
	f.StringVar(&duration, "duration", "", "how long the window stays open: 4h, 90m, 1d (required)")
	f.StringVar(&tz, "tz", "", "IANA time zone of the schedule, e.g. Europe/Paris (required)")
	return cmd
}

func (a *adminCLI) windowListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List maintenance windows and whether they are open",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := a.get(cmd.Context(), "/api/v1/windows", nil)
			if err != nil {
				return err
			}
			var list []adminapi.WindowInfo
			if err := decodeList(raw, "windows", &list); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error { return writeWindowList(out, list, a.now()) })
		},
	}
}

func writeWindowList(w io.Writer, list []adminapi.WindowInfo, now time.Time) error {
	t := newTextTable(w, "GROUP", "SCHEDULE", "DURATION", "TIME ZONE", "STATE")
	for _, win := range list {
		t.row(win.Group, cleanCell(win.Schedule), durationText(win.Duration), cleanCell(win.TimeZone), windowStateText(win, now))
	}
	return t.flush()
}

// windowStateText says "open until ..." or "closed, opens ...", in the
// window's own zone.
func windowStateText(info adminapi.WindowInfo, now time.Time) string {
	loc, err := time.LoadLocation(info.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	switch {
	case info.Open && info.ClosesAt != nil:
		return "open until " + info.ClosesAt.In(loc).Format("2006-01-02 15:04 MST") + " (" + relativeTime(*info.ClosesAt, now) + ")"
	case info.NextOpening != nil:
		return "closed, opens " + info.NextOpening.In(loc).Format("2006-01-02 15:04 MST") + " (" + relativeTime(*info.NextOpening, now) + ")"
	}
	return "closed"
}

// durationText shows 4h0m0s as 4h and 90m as 1h30m.
func durationText(d time.Duration) string {
	s := d.String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
	}
	if t, ok := strings.CutSuffix(s, "h0m"); ok {
		s = t + "h"
	}
	return s
}

func (a *adminCLI) windowRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove GROUP",
		Short: "Remove the maintenance window of a group: its hosts install at any time",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkNameArg("GROUP", args[0]); err != nil {
				return err
			}
			return a.deleteOne(cmd, "/api/v1/windows/"+pathEscape(args[0]), "removed", args[0], "removed the window of group "+args[0]+": its hosts install at any time")
		},
	}
}

func (a *adminCLI) windowNextCmd() *cobra.Command {
	var count int
	cmd := &cobra.Command{
		Use:   "next GROUP [--count 5]",
		Short: "Show the next openings of a group's maintenance window",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkNameArg("GROUP", args[0]); err != nil {
				return err
			}
			if count < 1 || count > adminapi.MaxWindowOpenings {
				return patchgate.Invalid("--count", "must be between 1 and %d", adminapi.MaxWindowOpenings)
			}
			raw, err := a.get(cmd.Context(), "/api/v1/windows/"+pathEscape(args[0])+"/next", url.Values{"count": {strconv.Itoa(count)}})
			if err != nil {
				return err
			}
			var next adminapi.WindowNext
			if err := json.Unmarshal(raw, &next); err != nil {
				return unexpectedAnswer(err)
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error { return writeWindowNext(out, next) })
		},
	}
	cmd.Flags().IntVar(&count, "count", 5, "how many openings to show")
	return cmd
}

func writeWindowNext(w io.Writer, next adminapi.WindowNext) error {
	loc, err := time.LoadLocation(next.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	t := newTextTable(w, "OPENS", "CLOSES", "UTC")
	const layout = "Mon 2006-01-02 15:04 MST"
	for _, o := range next.Openings {
		t.row(o.Opens.In(loc).Format(layout), o.Closes.In(loc).Format(layout), o.Opens.UTC().Format("2006-01-02 15:04"))
	}
	return t.flush()
}

func (a *adminCLI) hostMarkInstalledCmd() *cobra.Command {
	var note string
	cmd := &cobra.Command{
		Use:   "mark-installed HOST UPDATE [--note TEXT]",
		Short: "Record that an update was installed by hand on a manual host (audited)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			host, update := args[0], args[1]
			if strings.TrimSpace(host) == "" {
				return patchgate.Invalid("HOST", "is empty")
			}
			if err := checkUpdateIDs([]string{update}); err != nil {
				return err
			}
			if err := checkText("--note", note, 1024); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ids, err := resolveHosts(cmd.Context(), c, []string{host})
			if err != nil {
				return err
			}
			var raw json.RawMessage
			req := adminapi.MarkInstalledRequest{Update: update, Note: strings.TrimSpace(note)}
			if err := c.do(cmd.Context(), "POST", "/api/v1/hosts/"+pathEscape(ids[0])+"/installed", nil, req, &raw); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error {
				_, err := fmt.Fprintf(out, "recorded %s as installed by hand on %s\n", update, ids[0])
				return err
			})
		},
	}
	cmd.Flags().StringVar(&note, "note", "", "why, or the change ticket (kept in the audit log)")
	return cmd
}

// planWhenText says when a plan item may be carried out, from the server's
// window decision.
func planWhenText(it patchgate.PlanItem, now time.Time) string {
	switch {
	case it.InstallAllowed == nil:
		return "now"
	case !*it.InstallAllowed && it.NextWindow != nil:
		return "window " + stampText(*it.NextWindow) + " (" + relativeTime(*it.NextWindow, now) + ")"
	case !*it.InstallAllowed:
		return "waits for a window"
	case it.Emergency:
		return "now (emergency)"
	case it.WindowClosesAt != nil:
		return "now, window until " + stampText(*it.WindowClosesAt)
	}
	return "now"
}
