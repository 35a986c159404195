//go:build !agentonly

package main

import (
	"encoding/json"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

func (a *adminCLI) reportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Reports: compliance per update and group, the release SLA, exposure to security advisories",
	}
	cmd.AddCommand(a.reportComplianceCmd(), a.reportSLACmd(), a.reportExposureCmd(), a.reportStatusCmd())
	return cmd
}

func (a *adminCLI) reportComplianceCmd() *cobra.Command {
	var group, update string
	var asCSV, allSites bool
	cmd := &cobra.Command{
		Use:   "compliance [--group G] [--update U] [--all-sites] [--json|--csv]",
		Short: "Count, per update and group, the hosts in each deployment state",
		Long: `Count, per update and group, the hosts in each deployment state.

COMPLIANT% is the share of applicable hosts with a known state that have the
update installed (rounded down; hosts in N/A and UNKNOWN are left out).
MANUAL counts manual-mode hosts that need the update: their owners must
install it by hand.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asCSV && a.g.JSON {
				return patchgate.Invalid("--csv", "cannot be combined with --json")
			}
			if group != "" {
				if err := checkNameArg("--group", group); err != nil {
					return err
				}
			}
			if update != "" && !patchgate.ValidUpdateID(update) {
				return patchgate.Invalid("--update", "%q is not an update id", update)
			}
			q := url.Values{}
			setQuery(q, "group", group)
			setQuery(q, "update", update)
			if allSites {
				if asCSV {
					return patchgate.Invalid("--csv", "cannot be combined with --all-sites")
				}
				return a.allSitesCompliance(cmd, q)
			}
			raw, err := a.get(cmd.Context(), "/api/v1/reports/compliance", q)
			if err != nil {
				return err
			}
			var rep adminapi.ComplianceReport
			if err := json.Unmarshal(raw, &rep); err != nil {
				return unexpectedAnswer(err)
			}
			out := cmd.OutOrStdout()
			if asCSV {
				return writeComplianceCSV(out, rep)
			}
			return a.show(out, raw, func() error { return writeComplianceTable(out, rep.Rows) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&group, "group", "", "only this group")
	f.StringVar(&update, "update", "", "only this update")
	f.BoolVar(&asCSV, "csv", false, "print CSV with a header row")
	f.BoolVar(&allSites, "all-sites", false, "every site: this server, then the summaries its downstream servers rolled up")
	return cmd
}
