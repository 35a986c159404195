//go:build !agentonly

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/pki"
)

func (a *adminCLI) upstreamCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "upstream",
		Short: "The upstream servers this server syncs its catalog from",
		Long: `An upstream is another patchgate server (a vendor's publisher, or your
central server) whose released catalog this server syncs: posted updates,
revisions, supersedence and withdrawals. The upstream gives you a token of
the downstream role ("patchgate token create --role downstream --name
branch-paris" on the upstream); it is stored on this server and never
shown again. The upstream's CA is pinned by fingerprint, as the agent does.`,
	}
	cmd.AddCommand(a.upstreamAddCmd(), a.upstreamListCmd(), a.upstreamRemoveCmd())
	return cmd
}

func (a *adminCLI) upstreamAddCmd() *cobra.Command {
	var req adminapi.AddUpstreamRequest
	var kinds []string
	var content, mode string
	var rootPins []string
	cmd := &cobra.Command{
		Use:   "add NAME --url URL --token T --ca-fingerprint FP [--product P...] [--kind K...] [--content on-approval|immediate] [--mode autonomous|replica] [--root-fingerprint REPO=FP...]",
		Short: "Add an upstream to sync from",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Name = args[0]
			if req.URL == "" {
				return patchgate.Invalid("--url", "is required")
			}
			if req.Token == "" {
				return patchgate.Invalid("--token", "is required: a downstream-role token of the upstream")
			}
			if req.CAFingerprint != "" {
				fp, err := pki.NormalizeFingerprint(req.CAFingerprint)
				if err != nil {
					return patchgate.Invalid("--ca-fingerprint", "%v", strings.TrimPrefix(err.Error(), "pki: "))
				}
				req.CAFingerprint = fp
			}
			for _, k := range kinds {
				if err := checkKindFlag("--kind", k); err != nil {
					return err
				}
				req.Kinds = append(req.Kinds, patchgate.Kind(k))
			}
			req.Mode = patchgate.UpstreamMode(mode)
			if !req.Mode.Valid() {
				return patchgate.Invalid("--mode", "must be autonomous or replica, not %q", mode)
			}
			req.Content = patchgate.ContentPolicy(content)
			if !req.Content.Valid() {
				return patchgate.Invalid("--content", "must be on-approval or immediate, not %q", content)
			}
			for _, kv := range rootPins {
				repo, fp, ok := strings.Cut(kv, "=")
				if !ok {
					return patchgate.Invalid("--root-fingerprint", "%q is not REPO=FINGERPRINT", kv)
				}
				if req.RootFingerprints == nil {
					req.RootFingerprints = map[string]string{}
				}
				req.RootFingerprints[strings.TrimSpace(repo)] = strings.ToLower(strings.TrimSpace(fp))
			}
			u := patchgate.Upstream{Name: req.Name, URL: req.URL, Token: req.Token, CAFingerprint: req.CAFingerprint, Products: req.Products, Kinds: req.Kinds, Content: req.Content, Mode: req.Mode, RootPins: req.RootFingerprints}
			if err := u.Validate(); err != nil {
				return flagError(err)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), "POST", "/api/v1/upstreams", nil, req, &raw); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error {
				_, err := fmt.Fprintf(out, "upstream %s added (%s); the token is stored on the server and will not be shown again\nsync it: patchgate sync now --upstream %s\n", req.Name, req.URL, req.Name)
				return err
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.URL, "url", "", "the upstream server's URL, e.g. https://central.example.org:8443")
	f.StringVar(&req.Token, "token", "", "a downstream-role API token of the upstream")
	// Here --ca-fingerprint is the upstream's: it shadows the global flag,
	// so this command pins the local server with PATCHGATE_CA_FINGERPRINT.
	f.StringVar(&req.CAFingerprint, "ca-fingerprint", "", "SHA-256 fingerprint of the UPSTREAM's CA to pin (required for https); this command pins the local server with PATCHGATE_CA_FINGERPRINT")
	f.StringSliceVar(&req.Products, "product", nil, "sync only updates for these products (repeatable)")
	f.StringSliceVar(&kinds, "kind", nil, "sync only updates of these kinds (repeatable): "+joinKinds())
	f.StringVar(&content, "content", string(patchgate.ContentOnApproval), "when to fetch payloads: on-approval or immediate")
	f.StringArrayVar(&rootPins, "root-fingerprint", nil, "REPO=FP: the TUF repository REPO (the id of the server that publishes it) mirrored from this upstream must have this root fingerprint (repeatable; default: trusted on the first sync)")
	f.StringVar(&mode, "mode", string(patchgate.ModeAutonomous), "autonomous (own groups, approvals, windows) or replica (the upstream's, read-only here; hosts assigned here)")
	return cmd
}

// flagError names the CLI flag of an upstream field.
func flagError(err error) error {
	pe, ok := err.(*patchgate.Error)
	if !ok || pe.Field == "" {
		return err
	}
	f := pe.Field
	if i := strings.IndexByte(f, '['); i >= 0 {
		f = f[:i]
	}
	switch f {
	case "ca_fingerprint":
		f = "ca-fingerprint"
	case "products":
		f = "product"
	case "kinds":
		f = "kind"
	case "root_pins":
		f = "root-fingerprint"
	case "name":
		return patchgate.Invalid("NAME", "%s", pe.Message)
	}
	return patchgate.Invalid("--"+f, "%s", pe.Message)
}

func (a *adminCLI) upstreamListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the upstreams (never their tokens) and their last sync",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := a.get(cmd.Context(), "/api/v1/upstreams", nil)
			if err != nil {
				return err
			}
			var list []adminapi.UpstreamInfo
			if err := decodeList(raw, "upstreams", &list); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error {
				t := newTextTable(out, "NAME", "URL", "MODE", "FILTERS", "CONTENT", "CURSOR", "LAST SYNC")
				for _, u := range list {
					var filters []string
					if len(u.Products) > 0 {
						filters = append(filters, "products "+strings.Join(u.Products, ","))
					}
					if len(u.Kinds) > 0 {
						var ks []string
						for _, k := range u.Kinds {
							ks = append(ks, string(k))
						}
						filters = append(filters, "kinds "+strings.Join(ks, ","))
					}
					last := "never"
					if u.LastRun != nil {
						last = string(u.LastRun.Status) + " " + relativeTime(u.LastRun.StartedAt, a.now())
					}
					t.row(u.Name, u.URL, string(u.Mode), joinOr(filters, "all"), string(u.Content), strconv.FormatInt(u.Cursor, 10), last)
				}
				return t.flush()
			})
		},
	}
}

func (a *adminCLI) upstreamRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove an upstream (the updates synced from it stay)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkNameArg("NAME", args[0]); err != nil {
				return err
			}
			return a.deleteOne(cmd, "/api/v1/upstreams/"+pathEscape(args[0]), "removed", args[0], "upstream "+args[0]+" removed")
		},
	}
}

func (a *adminCLI) syncCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Sync the catalog from the upstreams now, or show the sync history",
	}
	cmd.AddCommand(a.syncNowCmd(), a.syncStatusCmd())
	return cmd
}

// syncPoll is how often "sync now" asks for progress.
const syncPoll = 250 * time.Millisecond

func (a *adminCLI) syncNowCmd() *cobra.Command {
	var upstream string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "now [--upstream NAME]",
		Short: "Sync every upstream (or one) now; a progress bar on stderr, then a summary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if upstream != "" {
				if err := checkNameArg("--upstream", upstream); err != nil {
					return err
				}
			}
			if timeout <= 0 {
				return patchgate.Invalid("--timeout", "must be positive")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			var started adminapi.SyncStarted
			if err := c.do(ctx, "POST", "/api/v1/sync", nil, adminapi.SyncRequest{Upstream: upstream}, &started); err != nil {
				return err
			}
			var bar io.Writer
			if stderrIsTerminal() && !a.g.JSON {
				bar = os.Stderr
			}
			runs := make([]patchgate.SyncRun, len(started.Runs))
			for i, r := range started.Runs {
				runs[i] = r
				var pb *progressBar
				if bar != nil {
					pb = newProgressBar(bar, "sync "+r.Upstream, 0)
				}
				for {
					var cur patchgate.SyncRun
					if err := c.do(ctx, "GET", "/api/v1/sync/runs/"+pathEscape(r.ID), nil, nil, &cur); err != nil {
						return err
					}
					runs[i] = cur
					if pb != nil {
						pb.total, pb.done = int64(max(cur.Total, 1)), int64(cur.Done)
						if cur.Status != patchgate.SyncRunning {
							pb.total = max(pb.done, 1)
							pb.done = pb.total
						}
						pb.drawCount()
					}
					if cur.Status != patchgate.SyncRunning {
						break
					}
					select {
					case <-ctx.Done():
						return fmt.Errorf("sync of %s still running after --timeout %s (it goes on on the server; see `patchgate sync status`)", r.Upstream, timeout)
					case <-time.After(syncPoll):
					}
				}
				if pb != nil {
					fmt.Fprintln(bar)
				}
			}
			out := cmd.OutOrStdout()
			if a.g.JSON {
				if err := emitJSON(out, adminapi.SyncStarted{Runs: runs}); err != nil {
					return err
				}
			} else if err := writeSyncRuns(out, runs, a.now(), false); err != nil {
				return err
			}
			for _, r := range runs {
				if r.Status == patchgate.SyncFailed {
					return fmt.Errorf("sync of upstream %s failed: %s", r.Upstream, r.Error)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&upstream, "upstream", "", "sync only this upstream")
	cmd.Flags().DurationVar(&timeout, "timeout", time.Hour, "stop waiting after this long")
	return cmd
}

// drawCount draws the bar in entries rather than bytes.
func (p *progressBar) drawCount() {
	p.drawAmount(fmt.Sprintf("%d / %d updates", p.done, p.total))
}

func writeSyncRuns(w io.Writer, runs []patchgate.SyncRun, now time.Time, history bool) error {
	headers := []string{"UPSTREAM", "STATUS", "NEW", "REVISED", "WITHDRAWN", "FILTERED OUT", "CONFLICTS", "BYTES"}
	if history {
		headers = append([]string{"STARTED", "TRIGGER"}, headers...)
		headers = append(headers, "ERROR")
	}
	t := newTextTable(w, headers...)
	for _, r := range runs {
		c := r.Counts
		status := string(r.Status)
		if r.Status == patchgate.SyncRunning && r.Total > 0 {
			status += fmt.Sprintf(" %d/%d", r.Done, r.Total)
		}
		cells := []string{r.Upstream, status, itoaCell(c.New), itoaCell(c.Revised), itoaCell(c.Withdrawn), itoaCell(c.FilteredOut), itoaCell(c.Conflicts), byteSize(c.Bytes)}
		if history {
			cells = append([]string{relativeTime(r.StartedAt, now), r.Trigger}, cells...)
			cells = append(cells, truncateText(r.Error, 60))
		}
		t.row(cells...)
	}
	if err := t.flush(); err != nil {
		return err
	}
	for _, r := range runs {
		if p := r.Policy; p != nil && !history {
			what := "unchanged"
			if p.Changed {
				what = fmt.Sprintf("%d groups, %d approvals (%d for updates not held here skipped), %d windows", p.Groups, p.Approvals, p.Skipped, p.Windows)
			}
			if _, err := fmt.Fprintf(w, "replica policy from %s: %s\n", r.Upstream, what); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *adminCLI) syncStatusCmd() *cobra.Command {
	var upstream string
	var limit int
	cmd := &cobra.Command{
		Use:   "status [--upstream NAME] [--limit N]",
		Short: "Show the upstreams, the sync history (newest first) with the last error, and conflicts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if upstream != "" {
				if err := checkNameArg("--upstream", upstream); err != nil {
					return err
				}
				q.Set("upstream", upstream)
			}
			if limit < 1 || limit > 1000 {
				return patchgate.Invalid("--limit", "must be from 1 to 1000")
			}
			q.Set("limit", strconv.Itoa(limit))
			raw, err := a.get(cmd.Context(), "/api/v1/sync/status", q)
			if err != nil {
				return err
			}
			var st adminapi.SyncStatus
			if err := json.Unmarshal(raw, &st); err != nil {
				return unexpectedAnswer(err)
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error {
				fmt.Fprintf(out, "server id: %s\n", st.ServerID)
				if len(st.Upstreams) == 0 {
					fmt.Fprintln(out, "no upstreams: add one with `patchgate upstream add`")
				}
				for _, u := range st.Upstreams {
					line := fmt.Sprintf("upstream %s (%s): cursor %d", u.Name, u.URL, u.Cursor)
					if u.LastRun != nil && u.LastRun.Error != "" {
						line += ", last error: " + u.LastRun.Error
					}
					fmt.Fprintln(out, line)
				}
				fmt.Fprintln(out)
				if err := writeSyncRuns(out, st.Runs, a.now(), true); err != nil {
					return err
				}
				if len(st.Conflicts) > 0 {
					fmt.Fprintln(out, "\nconflicts (the same update id from two origins; not overwritten):")
					t := newTextTable(out, "UPDATE", "OFFERED BY", "HELD FROM", "REVISION", "LAST SEEN")
					for _, c := range st.Conflicts {
						t.row(c.UpdateID, c.Upstream, c.Held, itoaCell(c.Revision), relativeTime(c.LastSeen, a.now()))
					}
					return t.flush()
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&upstream, "upstream", "", "only this upstream's runs")
	cmd.Flags().IntVar(&limit, "limit", 20, "how many runs")
	return cmd
}

// allSitesCompliance prints report compliance --all-sites: one table per
// site, this server first.
func (a *adminCLI) allSitesCompliance(cmd *cobra.Command, q url.Values) error {
	raw, err := a.get(cmd.Context(), "/api/v1/reports/compliance/sites", q)
	if err != nil {
		return err
	}
	var rep adminapi.SitesComplianceReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		return unexpectedAnswer(err)
	}
	out := cmd.OutOrStdout()
	return a.show(out, raw, func() error {
		for i, sc := range rep.Sites {
			if i > 0 {
				fmt.Fprintln(out)
			}
			line := fmt.Sprintf("site %s (%s), computed %s", cleanCell(sc.Name), sc.ServerID, relativeTime(sc.GeneratedAt, a.now()))
			if i == 0 {
				line += ", this server"
			} else if sc.Via != "" {
				line += ", via " + sc.Via
			}
			fmt.Fprintln(out, line)
			if len(sc.Rows) == 0 {
				fmt.Fprintln(out, "  no approved updates")
				continue
			}
			if err := writeComplianceTable(out, sc.Rows); err != nil {
				return err
			}
		}
		return nil
	})
}
