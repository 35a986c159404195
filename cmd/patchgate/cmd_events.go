//go:build !agentonly

package main

import (
	"net/url"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/agentapi"
)

// maxEventsLimit bounds --limit.
const maxEventsLimit = 10000

func (a *adminCLI) eventsCmd() *cobra.Command {
	var host, update, typ string
	var limit int
	var after int64
	cmd := &cobra.Command{
		Use:   "events [--host H] [--update U] [--type T] [--after SEQ] [--limit N]",
		Short: "Show the activity log: the newest events, or those after a sequence number (--after)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if host != "" && !agentapi.ValidID(host) {
				return patchgate.Invalid("--host", "%q is not a host ID", host)
			}
			if update != "" && !patchgate.ValidUpdateID(update) {
				return patchgate.Invalid("--update", "%q is not an update id", update)
			}
			if typ != "" && !agentapi.ValidID(typ) {
				return patchgate.Invalid("--type", "%q is not an event type like %s or %s", typ, patchgate.EventDeployment, patchgate.EventApproved)
			}
			if limit < 1 || limit > maxEventsLimit {
				return patchgate.Invalid("--limit", "must be between 1 and %d, not %d", maxEventsLimit, limit)
			}
			if after < 0 {
				return patchgate.Invalid("--after", "must not be negative")
			}
			q := url.Values{}
			if after > 0 {
				q.Set("after", strconv.FormatInt(after, 10))
			} else {
				q.Set("newest", "true")
			}
			setQuery(q, "host", host)
			setQuery(q, "update", update)
			setQuery(q, "type", typ)
			q.Set("limit", strconv.Itoa(limit))
			raw, err := a.get(cmd.Context(), "/api/v1/events", q)
			if err != nil {
				return err
			}
			var events []patchgate.Event
			if err := decodeList(raw, "events", &events); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error {
				t := newTextTable(out, "SEQ", "TIME", "TYPE", "ACTOR", "HOST", "UPDATE", "STATE", "DETAIL")
				for _, e := range events {
					t.row(strconv.FormatInt(e.Seq, 10), e.Time.Local().Format("2006-01-02 15:04:05"), e.Type,
						truncateText(e.Actor, 24), e.HostID, e.UpdateID, string(e.State), truncateText(cleanCell(e.Detail), 60))
				}
				return t.flush()
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&host, "host", "", "only events of this host ID")
	f.StringVar(&update, "update", "", "only events of this update")
	f.StringVar(&typ, "type", "", "only events of this type (e.g. deployment, approval.set, update.added)")
	f.Int64Var(&after, "after", 0, "the events after this sequence number, oldest first (default: the newest --limit events)")
	f.IntVar(&limit, "limit", 100, "at most this many events")
	return cmd
}
