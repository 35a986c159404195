//go:build !agentonly

package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

func (a *adminCLI) purgeCmd() *cobra.Command {
	var dryRun bool
	var olderThan time.Duration
	cmd := &cobra.Command{
		Use:   "cleanup [--dry-run] [--older-than 720h]",
		Short: "Remove withdrawn and superseded-and-declined updates, and the content only they used",
		Long: `Remove updates withdrawn, or superseded and declined (and approved for
install or uninstall in no group), for longer than --older-than, with their
revisions and approvals, and the payload content no remaining update
references. Updates that a remaining update requires stay. --dry-run only
lists what would go.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if olderThan < 0 {
				return patchgate.Invalid("--older-than", "must not be negative")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			req := adminapi.PurgeRequest{DryRun: dryRun, OlderThan: olderThan.String()}
			if err := c.do(cmd.Context(), "POST", "/api/v1/cleanup", nil, req, &raw); err != nil {
				return err
			}
			var res adminapi.PurgeResponse
			if err := json.Unmarshal(raw, &res); err != nil {
				return unexpectedAnswer(err)
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error {
				verb := "removed"
				if res.DryRun {
					verb = "would remove"
				}
				if len(res.Updates) == 0 {
					_, err := fmt.Fprintf(out, "nothing to remove (no update withdrawn, or superseded and declined, for more than %s)\n", olderThan)
					return err
				}
				t := newTextTable(out, "UPDATE", "STATUS", "SINCE", "REASON")
				for _, it := range res.Updates {
					t.row(it.UpdateID, string(it.Status), relativeTime(it.Since, a.now()), it.Reason)
				}
				if err := t.flush(); err != nil {
					return err
				}
				_, err := fmt.Fprintf(out, "%s %d update(s) and %d content object(s), %s\n", verb, len(res.Updates), len(res.Content), byteSize(res.Bytes))
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only list what would be removed")
	cmd.Flags().DurationVar(&olderThan, "older-than", patchgate.PurgeDefaultAge, "remove only updates in their status for longer than this")
	return cmd
}
