//go:build !agentonly

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

func (a *adminCLI) updateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Add, post, withdraw, list and show updates",
	}
	cmd.AddCommand(a.updateAddCmd(), a.updateListCmd(), a.updateShowCmd(),
		a.updatePostCmd(), a.updateWithdrawCmd(), a.updateStatusCmd())
	return cmd
}

func (a *adminCLI) updateAddCmd() *cobra.Command {
	var payloads []string
	var post postFlags
	cmd := &cobra.Command{
		Use:   "add MANIFEST --payload FILE [FILE...] [--post --force --reason TEXT]",
		Short: "Upload an update's payloads and add it (or a new revision of it)",
		Long: `Add an update described by MANIFEST (YAML or JSON).

Each payload the manifest names is read from the --payload file with the same
base name (--payload may be repeated; further arguments after MANIFEST are
payload files too). The CLI computes each file's sha256 and size, refuses a
file that differs from a sha256 or size stated in the manifest, uploads the
payloads, then adds the update. Adding the same manifest again changes
nothing; a changed one becomes a new revision.

A new update is received: only test groups may install it until it is
tested and posted (patchgate update post). A new revision that changes
what hosts run (payloads, installer arguments, products, prerequisites,
reboot) goes back to received and leaves production plans until posted
again; one that changes only words keeps its status.

--post --force --reason TEXT posts the update at once, untested (a site
server's own quick fix); the reason goes to the audit log.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := post.check(); err != nil {
				return err
			}
			files := append(append([]string(nil), payloads...), args[1:]...)
			return a.updateAdd(cmd, args[0], files, post)
		},
	}
	cmd.Flags().StringArrayVar(&payloads, "payload", nil, "payload `FILE` (repeatable)")
	cmd.Flags().BoolVar(&post.post, "post", false, "post the update at once (needs --force and --reason)")
	cmd.Flags().BoolVar(&post.force, "force", false, "with --post: post although untested")
	cmd.Flags().StringVar(&post.reason, "reason", "", "with --post --force: why, for the audit log")
	return cmd
}

// localPayload is a payload file matched to a manifest entry.
type localPayload struct {
	index  int // in Manifest.Payloads
	path   string
	sha256 string
	size   int64
}

// postFlags are update add's --post --force --reason.
type postFlags struct {
	post, force bool
	reason      string
}

func (p postFlags) check() error {
	if !p.post {
		if p.force {
			return patchgate.Invalid("--force", "only with --post")
		}
		if p.reason != "" {
			return patchgate.Invalid("--reason", "only with --post")
		}
		return nil
	}
	if !p.force {
		return patchgate.Invalid("--force", "an added update is untested: --post needs --force and --reason (or test it and run update post)")
	}
	return checkReasonFlag(p.reason, true)
}

func (a *adminCLI) updateAdd(cmd *cobra.Command, manifestPath string, files []string, post postFlags) error {
	m, err := readManifest(manifestPath)
	if err != nil {
		return err
	}
	local, err := matchPayloads(m, files)
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	for i := range local {
		if err := hashPayload(&m, &local[i]); err != nil {
			return err
		}
	}
	ctx := cmd.Context()
	for _, lp := range local {
		if err := uploadPayload(ctx, c, lp); err != nil {
			return err
		}
	}
	var raw json.RawMessage
	if err := c.do(ctx, "POST", "/api/v1/updates", nil, adminapi.AddUpdateRequest{Manifest: m, Post: post.post, Force: post.force, Reason: post.reason}, &raw); err != nil {
		return err
	}
	var resp adminapi.AddUpdateResponse
	if err := json.Unmarshal(raw, &resp); err != nil {
		return unexpectedAnswer(err)
	}
	out := cmd.OutOrStdout()
	return a.show(out, raw, func() error {
		id := resp.Update.ID
		if id == "" {
			id = m.ID
		}
		if resp.Created {
			_, err = fmt.Fprintf(out, "added %s revision %d: %s\n", id, resp.Update.Revision, resp.Release.Status)
		} else {
			_, err = fmt.Fprintf(out, "%s unchanged (revision %d): %s\n", id, resp.Update.Revision, resp.Release.Status)
		}
		return err
	})
}

// readManifest reads and validates a manifest file; an error names the file
// and the field at fault.
func readManifest(path string) (patchgate.Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return patchgate.Manifest{}, fmt.Errorf("manifest: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, patchgate.MaxManifestBytes+1))
	if err != nil {
		return patchgate.Manifest{}, fmt.Errorf("manifest: %w", err)
	}
	m, err := patchgate.ParseManifest(data)
	if err != nil {
		var pe *patchgate.Error
		if errors.As(err, &pe) {
			e := *pe
			if e.Field == "" || e.Field == "manifest" {
				e.Field = path
			} else {
				e.Field = path + ": " + e.Field
			}
			return m, &e
		}
		return m, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// matchPayloads pairs each manifest payload with the file of the same base
// name, and says which are missing or extra.
func matchPayloads(m patchgate.Manifest, files []string) ([]localPayload, error) {
	byName := map[string]string{}
	var dup []string
	for _, f := range files {
		base := filepath.Base(f)
		if prev, ok := byName[base]; ok {
			dup = append(dup, fmt.Sprintf("%s and %s", prev, f))
			continue
		}
		byName[base] = f
	}
	if len(dup) > 0 {
		return nil, patchgate.Invalid("--payload", "two files with the same name: %s", strings.Join(dup, "; "))
	}
	var local []localPayload
	var missing []string
	named := map[string]bool{}
	for i, p := range m.Payloads {
		named[p.Name] = true
		path, ok := byName[p.Name]
		if !ok {
			missing = append(missing, p.Name)
			continue
		}
		local = append(local, localPayload{index: i, path: path})
	}
	var extra []string
	for base, path := range byName {
		if !named[base] {
			extra = append(extra, path)
		}
	}
	sort.Strings(extra)
	if len(missing) == 0 && len(extra) == 0 {
		return local, nil
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "missing "+strings.Join(missing, ", ")+" (named in the manifest; pass --payload FILE)")
	}
	if len(extra) > 0 {
		parts = append(parts, "extra "+strings.Join(extra, ", ")+" (no manifest payload has that name)")
	}
	return nil, patchgate.Invalid("--payload", "payload files do not match the manifest: %s", strings.Join(parts, "; "))
}

// hashPayload computes a file's sha256 and size, checks them against what
// the manifest states, and fills them in.
func hashPayload(m *patchgate.Manifest, lp *localPayload) error {
	f, err := os.Open(lp.path)
	if err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return patchgate.Invalid("--payload", "%s is not a regular file", lp.path)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("payload %s: %w", lp.path, err)
	}
	lp.sha256, lp.size = hex.EncodeToString(h.Sum(nil)), n
	p := &m.Payloads[lp.index]
	if p.SHA256 != "" && p.SHA256 != lp.sha256 {
		return patchgate.Invalid(fmt.Sprintf("payloads[%d].sha256", lp.index), "the manifest says %s but %s has sha256 %s", p.SHA256, lp.path, lp.sha256)
	}
	if p.Size != 0 && p.Size != lp.size {
		return patchgate.Invalid(fmt.Sprintf("payloads[%d].size", lp.index), "the manifest says %d bytes but %s has %d", p.Size, lp.path, lp.size)
	}
	p.SHA256, p.Size = lp.sha256, lp.size
	return nil
}

func uploadPayload(ctx context.Context, c *apiClient, lp localPayload) error {
	f, err := os.Open(lp.path)
	if err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != lp.size {
		return fmt.Errorf("payload %s changed while being added; run the command again", lp.path)
	}
	return c.putContentLabeled(ctx, filepath.Base(lp.path), lp.sha256, f, lp.size)
}

func (a *adminCLI) updateListCmd() *cobra.Command {
	var kind, severity, product, status string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List updates (latest revision of each)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkKindFlag("--kind", kind); err != nil {
				return err
			}
			if err := checkSeverityFlag("--severity", severity); err != nil {
				return err
			}
			if err := checkStatusFlag("--status", status); err != nil {
				return err
			}
			if product != "" && !patchgate.ValidProductName(product) {
				return patchgate.Invalid("--product", "%q is not a product name (lowercase letters, digits and . _ + -)", product)
			}
			q := url.Values{}
			setQuery(q, "kind", kind)
			setQuery(q, "severity", severity)
			setQuery(q, "product", product)
			setQuery(q, "status", status)
			raw, err := a.get(cmd.Context(), "/api/v1/updates", q)
			if err != nil {
				return err
			}
			var updates []adminapi.UpdateInfo
			if err := decodeList(raw, "updates", &updates); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error {
				t := newTextTable(out, "ID", "REV", "STATUS", "KIND", "SEVERITY", "PRODUCTS", "TITLE")
				for _, u := range updates {
					t.row(u.ID, itoaCell(u.Revision), string(u.Release.Status), string(u.Kind), string(u.Severity),
						truncateText(productList(u.Products), 40), truncateText(u.Title, 60))
				}
				return t.flush()
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&kind, "kind", "", "only updates of this kind: "+joinKinds())
	f.StringVar(&severity, "severity", "", "only updates of this severity: "+joinSeverities())
	f.StringVar(&product, "product", "", "only updates that apply to this product")
	f.StringVar(&status, "status", "", "only updates in this release status: received, testing, tested, failed, posted, superseded, withdrawn")
	return cmd
}

func setQuery(q url.Values, key, value string) {
	if value != "" {
		q.Set(key, value)
	}
}

// productList shows products as "name versions, ...".
func productList(ps []patchgate.ProductConstraint) string {
	var s []string
	for _, p := range ps {
		if p.Versions != "" {
			s = append(s, p.Name+" "+p.Versions)
		} else {
			s = append(s, p.Name)
		}
	}
	return strings.Join(s, ", ")
}

func (a *adminCLI) updateShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show an update in detail",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkUpdateIDs(args); err != nil {
				return err
			}
			raw, err := a.get(cmd.Context(), "/api/v1/updates/"+pathEscape(args[0]), nil)
			if err != nil {
				return err
			}
			var u adminapi.UpdateInfo
			if err := json.Unmarshal(raw, &u); err != nil {
				return unexpectedAnswer(err)
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error { return writeUpdateDetail(out, u.Update, u.Release) })
		},
	}
}

func writeUpdateDetail(w io.Writer, u patchgate.Update, st patchgate.ReleaseState) error {
	kv := newTextTable(w)
	kv.row("ID:", u.ID)
	kv.row("Revision:", itoaCell(u.Revision))
	if st.Status != "" {
		status := string(st.Status) + " since " + stampText(st.Since)
		if st.Forced {
			status += " (forced: untested)"
		}
		kv.row("Status:", status)
	}
	kv.row("Title:", u.Title)
	kv.row("Kind:", string(u.Kind))
	kv.row("Severity:", string(u.Severity))
	kv.row("Products:", productList(u.Products))
	kv.row("CVEs:", joinOr(u.CVEs, "none"))
	if len(u.Advisories) > 0 {
		kv.row("Advisories:", strings.Join(u.Advisories, ", "))
	}
	kv.row("Supersedes:", joinOr(u.Supersedes, "none"))
	kv.row("Requires:", joinOr(u.Requires, "none"))
	kv.row("Reboot:", string(u.Reboot))
	if !u.ReleaseDate.IsZero() {
		kv.row("Released:", u.ReleaseDate.Format("2006-01-02"))
	}
	if !u.CreatedAt.IsZero() {
		by := ""
		if u.CreatedBy != "" {
			by = " by " + u.CreatedBy
		}
		kv.row("Added:", stampText(u.CreatedAt)+by)
	}
	if err := kv.flush(); err != nil {
		return err
	}
	if d := strings.TrimSpace(u.Description); d != "" {
		fmt.Fprintln(w, "\nDescription:")
		for _, line := range strings.Split(d, "\n") {
			fmt.Fprintln(w, "  "+cleanCell(line))
		}
	}
	fmt.Fprintf(w, "\nPayloads (%d):\n", len(u.Payloads))
	t := newIndentedTable(w, "  ", "NAME", "SIZE", "SHA256", "INSTALLER", "ARGS")
	for _, p := range u.Payloads {
		t.row(p.Name, byteSize(p.Size), shortSHA(p.SHA256), string(p.Installer), quoteArgs(p.Args))
	}
	return t.flush()
}

// quoteArgs shows installer arguments so that spaces inside one are visible.
func quoteArgs(args []string) string {
	var s []string
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'\\") {
			a = fmt.Sprintf("%q", a)
		}
		s = append(s, a)
	}
	return strings.Join(s, " ")
}
