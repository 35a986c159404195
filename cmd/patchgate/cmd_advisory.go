//go:build !agentonly

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/patchgate/patchgate/atomicfile"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/csaf"
)

// maxAdvisoryFiles bounds how many documents one import reads from
// directories.
const maxAdvisoryFiles = 100000

func (a *adminCLI) advisoryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "advisory",
		Short: "Security advisories: import CSAF 2.0 documents, list and show them",
	}
	cmd.AddCommand(a.advisoryImportCmd(), a.advisoryListCmd(), a.advisoryShowCmd())
	return cmd
}

// advisoryImportResult is one file's outcome.
type advisoryImportResult struct {
	File         string                    `json:"file"`
	Outcome      patchgate.AdvisoryOutcome `json:"outcome"`
	ID           string                    `json:"id,omitempty"`
	Revision     int                       `json:"revision,omitempty"`
	Severity     patchgate.Severity        `json:"severity,omitempty"`
	ExposedHosts int                       `json:"exposed_hosts"`
	Unmapped     int                       `json:"unmapped_products,omitempty"`
	Reason       string                    `json:"reason,omitempty"`
}

// advisoryImportReport is the --json output of advisory import.
type advisoryImportReport struct {
	Results []advisoryImportResult            `json:"results"`
	Summary map[patchgate.AdvisoryOutcome]int `json:"summary"`
}

func (a *adminCLI) advisoryImportCmd() *cobra.Command {
	var mapFile string
	cmd := &cobra.Command{
		Use:   "import FILE|DIR... [--map FILE] [--json]",
		Short: "Import CSAF 2.0 advisories; say per file: imported, updated, unchanged or rejected (and why)",
		Long: `Import CSAF 2.0 security advisories from files, or from every *.json file
under directories. The server validates each document against the CSAF 2.0
schema (offline) and answers, per file: imported, updated (a new revision:
its document.tracking.current_release_date changed), unchanged (the same
date), or rejected with the reason, naming the field as a JSON pointer.

--map FILE maps CSAF products to patchgate products (YAML):

  products:
    - name: "Cisco Unified Contact Center Enterprise"   # CSAF product name
      product: cisco.ucce
    - cpe: "cpe:2.3:h:examplecorp:plc_controller:"       # CPE prefix
      product: examplecorp.plc
    - name: "Example Gateway 2.1 LTS"                    # a name that is one
      product: examplecorp.gateway                       # version
      version: "2.1"

The version is the map entry's, else the CPE's or PURL's, else the
document's product_version (or product_version_range) branch.

Products with a PURL or CPE need no map entry. The command fails if any
file was rejected, after importing the others.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var m []patchgate.ProductMapEntry
			if mapFile != "" {
				data, err := atomicfile.ReadLimited(mapFile, csaf.MaxProductMapBytes)
				if err != nil {
					return patchgate.Invalid("--map", "%v", err)
				}
				if m, err = csaf.ParseProductMap(data); err != nil {
					return fmt.Errorf("--map %s: %w", mapFile, err)
				}
			}
			files, err := advisoryFiles(args)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			rep := advisoryImportReport{Results: []advisoryImportResult{}, Summary: map[patchgate.AdvisoryOutcome]int{}}
			for _, f := range files {
				res, err := importAdvisoryFile(cmd.Context(), c, f, m)
				if err != nil {
					return err
				}
				rep.Results = append(rep.Results, res)
				rep.Summary[res.Outcome]++
			}
			out := cmd.OutOrStdout()
			if a.g.JSON {
				if err := emitJSON(out, rep); err != nil {
					return err
				}
			} else if err := writeAdvisoryImportTable(out, rep); err != nil {
				return err
			}
			if n := rep.Summary[patchgate.AdvisoryRejected]; n > 0 {
				return &patchgate.Error{Code: patchgate.CodeInvalid, Message: fmt.Sprintf("%d of %d files rejected", n, len(files))}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&mapFile, "map", "", "product map file (YAML): CSAF product name, CPE or PURL prefix → patchgate product and version")
	return cmd
}

// advisoryFiles lists the files named and the *.json files under the
// directories named, each directory's in name order.
func advisoryFiles(args []string) ([]string, error) {
	var files []string
	for _, arg := range args {
		st, err := os.Stat(arg)
		if err != nil {
			return nil, patchgate.Invalid("FILE", "%v", err)
		}
		if !st.IsDir() {
			files = append(files, arg)
			continue
		}
		var found []string
		err = filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.EqualFold(filepath.Ext(p), ".json") {
				found = append(found, p)
			}
			if len(files)+len(found) > maxAdvisoryFiles {
				return fmt.Errorf("more than %d files", maxAdvisoryFiles)
			}
			return nil
		})
		if err != nil {
			return nil, patchgate.Invalid("DIR", "%s: %v", arg, err)
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	if len(files) == 0 {
		return nil, patchgate.Invalid("DIR", "no *.json files in %s", strings.Join(args, ", "))
	}
	return files, nil
}

// importAdvisoryFile sends one document, byte for byte, and turns the
// server's verdict into a result. Errors that are about the document are
// a rejection; others (authentication, the network) stop the import.
func importAdvisoryFile(ctx context.Context, c *apiClient, path string, m []patchgate.ProductMapEntry) (advisoryImportResult, error) {
	res := advisoryImportResult{File: path, Outcome: patchgate.AdvisoryRejected}
	data, err := atomicfile.ReadLimited(path, patchgate.MaxAdvisoryBytes)
	if err != nil {
		res.Reason = err.Error()
		return res, nil
	}
	body, err := json.Marshal(adminapi.ImportAdvisoryRequest{CSAFBase64: data, File: filepath.Base(path), Map: m})
	if err != nil {
		return res, err
	}
	req, err := c.newRequest(ctx, "POST", "/api/v1/advisories", nil, bytes.NewReader(body))
	if err != nil {
		return res, err
	}
	req.Header.Set("Content-Type", "application/json")
	var resp adminapi.ImportAdvisoryResponse
	if err := c.send(req, &resp); err != nil {
		var pe *patchgate.Error
		if errors.As(err, &pe) && (pe.Code == patchgate.CodeInvalid || pe.Code == patchgate.CodeConflict || pe.Code == patchgate.CodeTooLarge) {
			res.Reason = pe.Error()
			return res, nil
		}
		return res, fmt.Errorf("%s: %w", path, err)
	}
	res.Outcome, res.ID, res.Revision = resp.Outcome, resp.Advisory.ID, resp.Advisory.Revision
	res.Severity, res.ExposedHosts, res.Unmapped = resp.Advisory.Severity, resp.ExposedHosts, len(resp.Advisory.Unmapped)
	return res, nil
}

func writeAdvisoryImportTable(w io.Writer, rep advisoryImportReport) error {
	t := newTextTable(w, "FILE", "OUTCOME", "ADVISORY", "REV", "SEVERITY", "EXPOSED", "REASON")
	for _, r := range rep.Results {
		rev, exposed := "", ""
		if r.Outcome != patchgate.AdvisoryRejected {
			rev, exposed = strconv.Itoa(r.Revision), strconv.Itoa(r.ExposedHosts)
		}
		reason := r.Reason
		if r.Unmapped > 0 && reason == "" {
			reason = fmt.Sprintf("%d CSAF products not mapped (see advisory show)", r.Unmapped)
		}
		t.row(r.File, string(r.Outcome), r.ID, rev, string(r.Severity), exposed, truncateText(reason, 160))
	}
	if err := t.flush(); err != nil {
		return err
	}
	var parts []string
	for _, o := range []patchgate.AdvisoryOutcome{patchgate.AdvisoryImported, patchgate.AdvisoryUpdated, patchgate.AdvisoryUnchanged, patchgate.AdvisoryRejected} {
		parts = append(parts, fmt.Sprintf("%d %s", rep.Summary[o], o))
	}
	_, err := fmt.Fprintf(w, "%d files: %s\n", len(rep.Results), strings.Join(parts, ", "))
	return err
}

func checkCVEFlag(cve string) error {
	if cve != "" && !patchgate.ValidCVE(cve) {
		return patchgate.Invalid("--cve", "%q is not a CVE id like CVE-2026-12345", cve)
	}
	return nil
}

func (a *adminCLI) advisoryListCmd() *cobra.Command {
	var cve string
	cmd := &cobra.Command{
		Use:   "list [--cve CVE] [--json]",
		Short: "List security advisories, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkCVEFlag(cve); err != nil {
				return err
			}
			q := url.Values{}
			setQuery(q, "cve", cve)
			raw, err := a.get(cmd.Context(), "/api/v1/advisories", q)
			if err != nil {
				return err
			}
			var as []patchgate.Advisory
			if err := json.Unmarshal(raw, &as); err != nil {
				return unexpectedAnswer(err)
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error {
				t := newTextTable(out, "ADVISORY", "SEVERITY", "RELEASED", "REV", "CVES", "PUBLISHER", "TITLE")
				for _, adv := range as {
					t.row(adv.ID, string(adv.Severity), stampText(adv.CurrentReleaseDate), strconv.Itoa(adv.Revision),
						truncateText(joinOr(adv.CVEIDs(), ""), 60), truncateText(adv.Publisher, 30), truncateText(adv.Title, 70))
				}
				return t.flush()
			})
		},
	}
	cmd.Flags().StringVar(&cve, "cve", "", "only advisories about this CVE")
	return cmd
}

func (a *adminCLI) advisoryShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID [--json]",
		Short: "Show an advisory: CVEs, affected and fixed versions, vendor fixes, and the hosts it exposes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !patchgate.ValidAdvisoryID(args[0]) {
				return patchgate.Invalid("ID", "%q is not an advisory id", args[0])
			}
			raw, err := a.get(cmd.Context(), "/api/v1/advisories/"+pathEscape(args[0]), nil)
			if err != nil {
				return err
			}
			var d adminapi.AdvisoryDetail
			if err := json.Unmarshal(raw, &d); err != nil {
				return unexpectedAnswer(err)
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error { return writeAdvisoryDetail(out, d) })
		},
	}
}

func writeAdvisoryDetail(w io.Writer, d adminapi.AdvisoryDetail) error {
	adv := d.Advisory
	t := newTextTable(w)
	t.row("Advisory:", adv.ID)
	t.row("Title:", adv.Title)
	t.row("Publisher:", adv.Publisher)
	t.row("Severity:", string(adv.Severity))
	t.row("Released:", stampText(adv.InitialReleaseDate))
	t.row("Current release:", stampText(adv.CurrentReleaseDate)+" (version "+adv.Version+", "+adv.Status+")")
	t.row("Revision:", strconv.Itoa(adv.Revision))
	t.row("Imported:", stampText(adv.ImportedAt)+" by "+adv.ImportedBy)
	t.row("Fixed by:", joinOr(d.Fixes, "no update in the catalog"))
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nCVEs:")
	t = newIndentedTable(w, "  ", "CVE", "CVSS", "SEVERITY", "VECTOR", "TITLE")
	for _, c := range adv.CVEs {
		score := ""
		if c.CVSSScore > 0 {
			score = strconv.FormatFloat(c.CVSSScore, 'f', 1, 64)
		}
		t.row(c.ID, score, string(c.Severity), c.CVSSVector, truncateText(c.Title, 60))
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nProducts:")
	t = newIndentedTable(w, "  ", "STATUS", "PRODUCT", "VERSIONS", "CVES")
	for _, p := range adv.Affected {
		t.row("affected", p.Product, p.Versions, joinOr(p.CVEs, ""))
	}
	for _, p := range adv.Fixed {
		t.row("fixed", p.Product, p.Versions, joinOr(p.CVEs, ""))
	}
	for _, u := range adv.Unmapped {
		t.row("unmapped", truncateText(u.Name, 50), "", truncateText(u.Reason, 80))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(adv.Remediations) > 0 {
		fmt.Fprintln(w, "\nVendor fixes:")
		for _, r := range adv.Remediations {
			fmt.Fprintf(w, "  - %s\n", cleanCell(truncateText(r.Details, 300)))
			if r.URL != "" {
				fmt.Fprintf(w, "    %s\n", cleanCell(r.URL))
			}
			if len(r.UpdateIDs) > 0 {
				fmt.Fprintf(w, "    updates: %s\n", strings.Join(r.UpdateIDs, ", "))
			}
		}
	}
	fmt.Fprintf(w, "\nExposed hosts: %d\n", patchgate.ExposedHosts(d.Exposure))
	if len(d.Exposure) == 0 {
		return nil
	}
	return writeExposureTable(w, d.Exposure)
}

func (a *adminCLI) reportExposureCmd() *cobra.Command {
	var cve, advisory string
	cmd := &cobra.Command{
		Use:   "exposure [--cve CVE] [--advisory ID] [--json]",
		Short: "Hosts running a product version an advisory says is affected, and whether the fix is posted, approved, installed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkCVEFlag(cve); err != nil {
				return err
			}
			if advisory != "" && !patchgate.ValidAdvisoryID(advisory) {
				return patchgate.Invalid("--advisory", "%q is not an advisory id", advisory)
			}
			q := url.Values{}
			setQuery(q, "cve", cve)
			setQuery(q, "advisory", advisory)
			raw, err := a.get(cmd.Context(), "/api/v1/reports/exposure", q)
			if err != nil {
				return err
			}
			var rep adminapi.ExposureReport
			if err := json.Unmarshal(raw, &rep); err != nil {
				return unexpectedAnswer(err)
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error { return writeExposureTable(out, rep.Rows) })
		},
	}
	cmd.Flags().StringVar(&cve, "cve", "", "only this CVE")
	cmd.Flags().StringVar(&advisory, "advisory", "", "only this advisory")
	return cmd
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func writeExposureTable(w io.Writer, rows []patchgate.ExposureRow) error {
	t := newTextTable(w, "ADVISORY", "SEVERITY", "CVE", "HOST", "PRODUCT", "VERSION", "FIXED-IN", "FIX", "POSTED", "APPROVED", "INSTALLED")
	for _, r := range rows {
		host := r.HostID
		if r.Hostname != "" {
			host = r.Hostname
		}
		posted, approved, installed := "", "", ""
		if r.Fix != "" {
			posted, approved, installed = yesNo(r.Posted), yesNo(r.Approved), yesNo(r.Installed)
		}
		t.row(r.Advisory, string(r.Severity), truncateText(joinOr(r.CVEs, ""), 40), host, r.Product, r.Version,
			joinOr(r.FixedIn, ""), r.Fix, posted, approved, installed)
	}
	return t.flush()
}
