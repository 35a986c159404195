//go:build !agentonly

package main

import (
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

func (a *adminCLI) subscribeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "subscribe",
		Short: "Manage who is mailed about new fixes and failed installs",
	}
	cmd.AddCommand(a.subscribeAddCmd(), a.subscribeListCmd(), a.subscribeRemoveCmd())
	return cmd
}

func (a *adminCLI) subscribeAddCmd() *cobra.Command {
	var req adminapi.SubscribeRequest
	var kinds []string
	var minSev, mode string
	cmd := &cobra.Command{
		Use:   "add ADDRESS [--product P...] [--min-severity S] [--kind K...] [--mode immediate|daily|weekly] [--alerts]",
		Short: "Subscribe a mail address to new and revised fixes (and, with --alerts, failed installs)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Address = strings.TrimSpace(args[0])
			if err := patchgate.ValidAddress("ADDRESS", req.Address); err != nil {
				return err
			}
			if err := checkSeverityFlag("--min-severity", minSev); err != nil {
				return err
			}
			req.MinSeverity = patchgate.Severity(minSev)
			for _, k := range kinds {
				if err := checkKindFlag("--kind", k); err != nil {
					return err
				}
				req.Kinds = append(req.Kinds, patchgate.Kind(k))
			}
			if req.TimeZone != "" {
				if _, err := time.LoadLocation(req.TimeZone); err != nil {
					return patchgate.Invalid("--timezone", "%q is not a known IANA time zone like Europe/Paris", req.TimeZone)
				}
			}
			req.Mode = patchgate.SubscriptionMode(mode)
			if !req.Mode.Valid() {
				return patchgate.Invalid("--mode", "must be immediate, daily or weekly, not %q", mode)
			}
			return send(cmd, a, "POST", "/api/v1/subscriptions", nil, req, func(out io.Writer, s patchgate.Subscription) error {
				_, err := fmt.Fprintf(out, "subscribed %s as %s (%s)\n", s.Address, s.ID, s.Mode)
				return err
			})
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&req.Products, "product", nil, "only updates for this product (repeatable; default every product)")
	f.StringVar(&minSev, "min-severity", "", "only updates at least this severe: "+joinSeverities())
	f.StringSliceVar(&kinds, "kind", nil, "only updates of this kind (repeatable): "+joinKinds())
	f.StringVar(&mode, "mode", "immediate", "immediate (batched per dispatch round), daily or weekly digest")
	f.BoolVar(&req.Alerts, "alerts", false, "also mail admin alerts: failed installs, SLA breaches, halted rollouts, install failures over the threshold, advisories exposing hosts, passed approval deadlines")
	f.BoolVar(&req.Reports, "status-report", false, "also mail the periodic status report (serve --status-report)")
	f.StringVar(&req.TimeZone, "timezone", "", "IANA time zone of daily and weekly digests, e.g. Europe/Paris (default: the server's --timezone)")
	return cmd
}

func (a *adminCLI) subscribeListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List subscriptions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := a.get(cmd.Context(), "/api/v1/subscriptions", nil)
			if err != nil {
				return err
			}
			var ss []patchgate.Subscription
			if err := decodeList(raw, "subscriptions", &ss); err != nil {
				return err
			}
			ss = slices.DeleteFunc(ss, func(s patchgate.Subscription) bool { return s.Channel == patchgate.ChannelWebhook })
			out := cmd.OutOrStdout()
			if a.g.JSON {
				return emitJSON(out, ss)
			}
			return a.show(out, raw, func() error {
				t := newTextTable(out, "ID", "ADDRESS", "MODE", "PRODUCTS", "MIN SEVERITY", "KINDS", "ALERTS", "REPORTS")
				for _, s := range ss {
					var kinds []string
					for _, k := range s.Kinds {
						kinds = append(kinds, string(k))
					}
					alerts := "no"
					if s.Alerts {
						alerts = "yes"
					}
					sev := string(s.MinSeverity)
					if sev == "" {
						sev = "any"
					}
					reports := "no"
					if s.Reports {
						reports = "yes"
					}
					mode := string(s.Mode)
					if s.TimeZone != "" {
						mode += " (" + s.TimeZone + ")"
					}
					t.row(s.ID, cleanCell(s.Address), mode, cleanCell(joinOr(s.Products, "all")), sev, joinOr(kinds, "all"), alerts, reports)
				}
				return t.flush()
			})
		},
	}
}

func (a *adminCLI) subscribeRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a subscription",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkNameArg("ID", args[0]); err != nil {
				return err
			}
			return a.deleteOne(cmd, "/api/v1/subscriptions/"+pathEscape(args[0]), "removed", args[0], "removed subscription "+args[0])
		},
	}
}

func (a *adminCLI) notifyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "notify",
		Short: "Inspect and steer mail delivery: dead letters, retries, test mails",
	}
	cmd.AddCommand(a.notifyDeadCmd(), a.notifyRetryCmd(), a.notifyTestCmd(), a.notifySendDigestsCmd(), a.notifyQueueCmd())
	return cmd
}

func (a *adminCLI) notifyDeadCmd() *cobra.Command {
	return a.deliveriesCmd("dead [--limit N]", "List dead letters: deliveries that failed for good, newest first", false)
}

// notifyQueueCmd lists deliveries in any status: what waits (pending, with
// its attempts and last error while the relay is down), what went out.
func (a *adminCLI) notifyQueueCmd() *cobra.Command {
	return a.deliveriesCmd("queue [--status pending|sent|dead] [--limit N]", "List outbox deliveries by status (default pending), newest first", true)
}

func (a *adminCLI) deliveriesCmd(use, short string, withStatus bool) *cobra.Command {
	var limit int
	status := string(patchgate.DeliveryDead)
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > 10000 {
				return patchgate.Invalid("--limit", "must be between 1 and 10000, not %d", limit)
			}
			switch patchgate.DeliveryStatus(status) {
			case patchgate.DeliveryPending, patchgate.DeliverySent, patchgate.DeliveryDead:
			default:
				return patchgate.Invalid("--status", "must be pending, sent or dead, not %q", status)
			}
			q := url.Values{"status": {status}, "limit": {strconv.Itoa(limit)}}
			raw, err := a.get(cmd.Context(), "/api/v1/notify/deliveries", q)
			if err != nil {
				return err
			}
			var ds []patchgate.Delivery
			if err := decodeList(raw, "deliveries", &ds); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error {
				t := newTextTable(out, "ID", "ADDRESS", "EVENTS", "ATTEMPTS", "CREATED", "LAST ERROR")
				for _, d := range ds {
					t.row(d.ID, cleanCell(d.Address), strconv.Itoa(len(d.Events)), strconv.Itoa(d.Attempts),
						stampText(d.CreatedAt), truncateText(cleanCell(d.LastError), 80))
				}
				return t.flush()
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many")
	if withStatus {
		status = string(patchgate.DeliveryPending)
		cmd.Flags().StringVar(&status, "status", status, "pending, sent or dead")
	}
	return cmd
}

func (a *adminCLI) notifyRetryCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "retry ID...|--all",
		Short: "Requeue dead letters for delivery",
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return patchgate.Invalid("ID", "name dead letters or pass --all, not both or neither")
			}
			for _, id := range args {
				if err := checkNameArg("ID", id); err != nil {
					return err
				}
			}
			return send(cmd, a, "POST", "/api/v1/notify/retry", nil, adminapi.RetryRequest{IDs: args, All: all}, func(out io.Writer, rr adminapi.RetryResponse) error {
				_, err := fmt.Fprintf(out, "requeued %d dead letter(s)\n", rr.Requeued)
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "requeue every dead letter")
	return cmd
}

func (a *adminCLI) notifySendDigestsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "send-digests",
		Short: "Send every pending daily and weekly digest now, not at the digest hour",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return send(cmd, a, "POST", "/api/v1/notify/digests/send", nil, nil, func(out io.Writer, fr adminapi.FlushDigestsResponse) error {
				_, err := fmt.Fprintf(out, "%d digest(s) due now; the dispatcher sends them at its next round\n", fr.Flushed)
				return err
			})
		},
	}
}

func (a *adminCLI) notifyTestCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "test ADDRESS",
		Short: "Send a test mail through the server and report the SMTP outcome",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr := strings.TrimSpace(args[0])
			if err := patchgate.ValidAddress("ADDRESS", addr); err != nil {
				return err
			}
			return send(cmd, a, "POST", "/api/v1/notify/test", nil, adminapi.NotifyTestRequest{Address: addr}, func(out io.Writer, res adminapi.NotifyTestResponse) error {
				_, err := fmt.Fprintf(out, "test mail %s\n", res.Result)
				return err
			})
		},
	}
}

func (a *adminCLI) webhookCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Manage webhooks: signed JSON POSTs of new fixes and failed installs",
	}
	cmd.AddCommand(a.webhookAddCmd(), a.webhookListCmd(), a.subscribeRemoveCmd())
	return cmd
}

func (a *adminCLI) webhookAddCmd() *cobra.Command {
	var req adminapi.SubscribeRequest
	var kinds []string
	var minSev string
	cmd := &cobra.Command{
		Use:   "add URL [--event E...] [--product P...] [--min-severity S] [--kind K...]",
		Short: "Add a webhook; prints the key its payloads are signed with (shown once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Channel = patchgate.ChannelWebhook
			req.Mode = patchgate.ModeImmediate
			req.Address = strings.TrimSpace(args[0])
			if err := patchgate.ValidWebhookURL("URL", req.Address); err != nil {
				return err
			}
			for _, e := range req.Events {
				if !slices.Contains(patchgate.NotifyEvents, e) {
					return patchgate.Invalid("--event", "must be one of %s, not %q", strings.Join(patchgate.NotifyEvents, ", "), e)
				}
			}
			if err := checkSeverityFlag("--min-severity", minSev); err != nil {
				return err
			}
			req.MinSeverity = patchgate.Severity(minSev)
			for _, k := range kinds {
				if err := checkKindFlag("--kind", k); err != nil {
					return err
				}
				req.Kinds = append(req.Kinds, patchgate.Kind(k))
			}
			return send(cmd, a, "POST", "/api/v1/subscriptions", nil, req, func(out io.Writer, resp adminapi.SubscribeResponse) error {
				_, err := fmt.Fprintf(out, "added webhook %s for %s\nsigning key (shown once): %s\n"+
					"each POST carries %s: sha256=HEX, the HMAC-SHA256 of the body under this key\n",
					resp.ID, resp.Address, resp.WebhookSecret, "X-Patchgate-Signature")
				return err
			})
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&req.Events, "event", nil, "what to post (repeatable): "+strings.Join(patchgate.NotifyEvents, ", ")+"; default all")
	f.StringSliceVar(&req.Products, "product", nil, "only updates for this product (repeatable)")
	f.StringVar(&minSev, "min-severity", "", "only updates at least this severe: "+joinSeverities())
	f.StringSliceVar(&kinds, "kind", nil, "only updates of this kind (repeatable): "+joinKinds())
	return cmd
}

func (a *adminCLI) webhookListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List webhooks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := a.get(cmd.Context(), "/api/v1/subscriptions", nil)
			if err != nil {
				return err
			}
			var ss []patchgate.Subscription
			if err := decodeList(raw, "subscriptions", &ss); err != nil {
				return err
			}
			ss = slices.DeleteFunc(ss, func(s patchgate.Subscription) bool { return s.Channel != patchgate.ChannelWebhook })
			out := cmd.OutOrStdout()
			if a.g.JSON {
				return emitJSON(out, ss)
			}
			t := newTextTable(out, "ID", "URL", "EVENTS", "PRODUCTS", "MIN SEVERITY")
			for _, s := range ss {
				sev := string(s.MinSeverity)
				if sev == "" {
					sev = "any"
				}
				t.row(s.ID, cleanCell(s.Address), joinOr(s.Events, "all"), cleanCell(joinOr(s.Products, "all")), sev)
			}
			return t.flush()
		},
	}
}
