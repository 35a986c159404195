//go:build !agentonly

package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/trust"
)

func (a *adminCLI) keysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "The TUF keys that sign this server's updates: init, status, rotate",
		Long: `Every update this server posts is signed in its TUF repository "local"
(served at /tuf/local/): the root keys (offline, a threshold of them) say
which keys sign targets, snapshot and timestamp (online, on the server).
Agents trust the root they got at enrolment and follow rotations.

"patchgate serve" creates root keys in <data>/tuf-root-keys/ on first start
if there is no root yet: move that directory offline. Or run "patchgate
keys init" on a fresh data directory before the first start.`,
	}
	cmd.AddCommand(a.keysInitCmd(), a.keysGenerateCmd(), a.keysStatusCmd(), a.keysRotateCmd())
	return cmd
}

func (a *adminCLI) keysInitCmd() *cobra.Command {
	var data, out string
	var count, threshold int
	cmd := &cobra.Command{
		Use:   "init --out DIR [--data DIR] [--count 3] [--threshold 2]",
		Short: "Create the offline root keys and root v1 for a fresh data directory (run before the first serve)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return patchgate.Invalid("--out", "is required: the directory for the root key files (move it offline)")
			}
			if count < 1 || count > 16 {
				return patchgate.Invalid("--count", "must be between 1 and 16")
			}
			if threshold < 1 || threshold > count {
				return patchgate.Invalid("--threshold", "must be between 1 and --count (%d)", count)
			}
			repo, err := trust.Open(data, trust.RepoLocal, nil)
			if err != nil {
				return err
			}
			if repo.HasRoot() {
				return patchgate.Invalid("--data", "%s already has a TUF root; use patchgate keys rotate", data)
			}
			files, err := repo.InitRoot(out, count, threshold)
			if err != nil {
				return err
			}
			_, fp, err := repo.Root1()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if a.g.JSON {
				return emitJSON(w, map[string]any{"root_keys": files, "threshold": threshold, "root_fingerprint": fp})
			}
			fmt.Fprintf(w, "root v1 signed by %d of %d root keys; root fingerprint %s\n", threshold, count, fp)
			for _, f := range files {
				fmt.Fprintf(w, "  %s\n", f)
			}
			fmt.Fprintf(w, "Move %s OFFLINE now (separate media, separate people): the server needs the root keys only to rotate.\n", out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&data, "data", envOr("PATCHGATE_DATA", "patchgate-data"), "the server's data directory (env PATCHGATE_DATA)")
	f.StringVar(&out, "out", "", "directory to write the root key files to")
	f.IntVar(&count, "count", 3, "how many root keys")
	f.IntVar(&threshold, "threshold", 2, "how many root keys must sign a root")
	return cmd
}

func (a *adminCLI) keysGenerateCmd() *cobra.Command {
	var out string
	var count int
	cmd := &cobra.Command{
		Use:   "generate --out DIR [--count 3]",
		Short: "Create new root key files (offline), e.g. for a rotation",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return patchgate.Invalid("--out", "is required")
			}
			if count < 1 || count > 16 {
				return patchgate.Invalid("--count", "must be between 1 and 16")
			}
			if err := os.MkdirAll(out, 0o700); err != nil {
				return err
			}
			var files []string
			for range count {
				k, err := trust.GenerateKey()
				if err != nil {
					return err
				}
				p := filepath.Join(out, "root-"+trust.KeyID(k)[:12]+".key")
				if err := trust.WriteKeyFile(p, k); err != nil {
					return err
				}
				files = append(files, p)
			}
			if a.g.JSON {
				return emitJSON(cmd.OutOrStdout(), map[string]any{"keys": files})
			}
			for _, f := range files {
				fmt.Fprintln(cmd.OutOrStdout(), f)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory for the key files")
	cmd.Flags().IntVar(&count, "count", 3, "how many keys")
	return cmd
}

func (a *adminCLI) keysStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Versions, expiries and key ids of the TUF roles, and the root fingerprint",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := a.get(cmd.Context(), "/api/v1/trust", nil)
			if err != nil {
				return err
			}
			var st adminapi.TrustStatus
			if err := json.Unmarshal(raw, &st); err != nil {
				return unexpectedAnswer(err)
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error { return writeTrustStatus(out, st, a.now()) })
		},
	}
}

func writeTrustStatus(out io.Writer, st adminapi.TrustStatus, now time.Time) error {
	if st.PlanKey != "" {
		fmt.Fprintf(out, "plan key: %s (signs each check-in answer, bound to the agent's nonce)\n", st.PlanKey)
	}
	if len(st.Repos) == 0 {
		_, err := fmt.Fprintln(out, "TUF signing is not enabled on this server")
		return err
	}
	for _, r := range st.Repos {
		mirrored := ""
		if r.Mirrored {
			mirrored = " (a verbatim mirror: its publisher holds the keys)"
		}
		fmt.Fprintf(out, "repository %s%s: root fingerprint %s, %d targets\n", r.Repo, mirrored, joinOr([]string{r.RootFingerprint}, "(no root)"), r.Targets)
		t := newTextTable(out, "ROLE", "VERSION", "EXPIRES", "THRESHOLD", "KEYS")
		for _, rs := range r.Roles {
			ids := make([]string, len(rs.KeyIDs))
			for i, id := range rs.KeyIDs {
				ids[i] = shortSHA(id)
			}
			t.row(rs.Role, strconv.FormatInt(rs.Version, 10), stampText(rs.Expires)+" ("+relativeTime(rs.Expires, now)+")",
				fmt.Sprintf("%d of %d", rs.Threshold, len(rs.KeyIDs)), strings.Join(ids, " "))
		}
		if err := t.flush(); err != nil {
			return err
		}
		for _, e := range r.Expiring {
			fmt.Fprintf(out, "WARNING: %s metadata (version %d) expires %s\n", e.Role, e.Version, stampText(e.Expires))
		}
	}
	return nil
}

func (a *adminCLI) keysRotateCmd() *cobra.Command {
	var oldFiles, newFiles []string
	var threshold int
	var expires string
	var newOnline bool
	cmd := &cobra.Command{
		Use:   "rotate --root-key FILE... [--new-root-key FILE...] [--new-online-keys] [--threshold 2] [--expires 365d]",
		Short: "Rotate the root keys and/or the online keys, or renew the root: the next root, signed offline, uploaded to the server",
		Long: `rotate builds the next root version from the server's current root.json:
--new-root-key replaces the root keys (the new root is signed by the old
threshold and the new keys, so agents that trust the old root follow it);
--new-online-keys has the server create new targets, snapshot and timestamp
keys and lists them in the new root: when it is accepted the server signs
everything again with them (after a compromise of the server's disk, or
to recover agents from a fast-forwarded timestamp). With neither, it
renews the root: same keys, a new expiry (do it before trust.expiring
turns into an outage). Run it where the root key files are, and move
them back offline.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(oldFiles) == 0 {
				return patchgate.Invalid("--root-key", "is required: the current root key files (at least the threshold)")
			}
			if len(newFiles) > 0 && (threshold < 1 || threshold > len(newFiles)) {
				return patchgate.Invalid("--threshold", "must be between 1 and the number of new keys (%d)", len(newFiles))
			}
			life, err := parseFlagDuration("--expires", expires)
			if err != nil {
				return err
			}
			oldKeys, err := readKeyFiles("--root-key", oldFiles)
			if err != nil {
				return err
			}
			newKeys, err := readKeyFiles("--new-root-key", newFiles)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			cur, err := fetchTUF(cmd.Context(), c, trust.RepoLocal, "root.json")
			if err != nil {
				return err
			}
			var online map[string]*metadata.Key
			if newOnline {
				var pk adminapi.PendingOnlineKeys
				if err := c.do(cmd.Context(), "POST", "/api/v1/trust/online-keys", nil, nil, &pk); err != nil {
					return err
				}
				online = pk.Keys
			}
			next, err := trust.RotateRoot(cur, oldKeys, newKeys, threshold, a.now().Add(life), online)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), "POST", "/api/v1/trust/root", nil, adminapi.SetRootRequest{Root: next}, &raw); err != nil {
				return err
			}
			var st adminapi.TrustStatus
			if err := json.Unmarshal(raw, &st); err != nil {
				return unexpectedAnswer(err)
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error {
				fmt.Fprintln(out, "root rotated; agents follow it at their next refresh. Move the new key files offline.")
				return writeTrustStatus(out, st, a.now())
			})
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&oldFiles, "root-key", nil, "a current root key file (repeatable; at least the current threshold)")
	f.StringSliceVar(&newFiles, "new-root-key", nil, "a new root key file (repeatable)")
	f.IntVar(&threshold, "threshold", 2, "how many of the new root keys must sign a root")
	f.StringVar(&expires, "expires", "365d", "how long the new root is valid")
	f.BoolVar(&newOnline, "new-online-keys", false, "replace the server's online keys (targets, snapshot, timestamp) too")
	return cmd
}

func readKeyFiles(flag string, files []string) ([]ed25519.PrivateKey, error) {
	var out []ed25519.PrivateKey
	for _, f := range files {
		k, err := trust.ReadKeyFile(f)
		if err != nil {
			return nil, patchgate.Invalid(flag, "%v", err)
		}
		out = append(out, k)
	}
	return out, nil
}

// fetchTUF reads a public metadata file of the server's repository.
func fetchTUF(ctx context.Context, c *apiClient, repo, name string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, apiRequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/tuf/"+url.PathEscape(repo)+"/"+url.PathEscape(name), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the server at %s: %w", c.base, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET /tuf/%s/%s: %s", repo, name, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, trust.MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > trust.MaxFileBytes {
		return nil, fmt.Errorf("GET /tuf/%s/%s: larger than %d bytes", repo, name, trust.MaxFileBytes)
	}
	return data, nil
}

// VerifyResult is one line of patchgate verify.
type VerifyResult struct {
	Target string `json:"target"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

func (a *adminCLI) verifyCmd() *cobra.Command {
	var rootFP string
	cmd := &cobra.Command{
		Use:   "verify FILE|UPDATE [--root-fingerprint FP]",
		Short: "Check a payload file, or an update's payloads, against the server's signed TUF targets",
		Long: `verify runs go-tuf's updater against the server's repository "local", as an
agent does, from the root whose fingerprint you pin with --root-fingerprint
(see "patchgate keys status"; without it the server's 1.root.json is
trusted as fetched and its fingerprint printed).

For a FILE it reports the signed targets with the file's length and
sha256; for an UPDATE id it checks each payload's length, sha256 and the
signed custom payload (installer, arguments) against the catalog.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			root1, err := fetchTUF(ctx, c, trust.RepoLocal, "1.root.json")
			if err != nil {
				return err
			}
			fp := trust.Fingerprint(root1)
			if rootFP != "" && !strings.EqualFold(strings.TrimSpace(rootFP), fp) {
				return patchgate.Invalid("--root-fingerprint", "the server's 1.root.json has fingerprint %s, not the one pinned", fp)
			}
			dir, err := os.MkdirTemp("", "patchgate-verify-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			cfg, err := config.New(c.base+"/tuf/local/", root1)
			if err != nil {
				return err
			}
			cfg.LocalMetadataDir = dir
			cfg.LocalTargetsDir = filepath.Join(dir, "targets")
			if err := cfg.SetDefaultFetcherHTTPClient(c.http); err != nil {
				return err
			}
			up, err := updater.New(cfg)
			if err != nil {
				return err
			}
			if err := up.Refresh(); err != nil {
				return fmt.Errorf("signature: refreshing the TUF metadata failed: %w", err)
			}
			var results []VerifyResult
			if st, err := os.Stat(args[0]); err == nil && st.Mode().IsRegular() {
				results, err = verifyFile(args[0], up)
				if err != nil {
					return err
				}
			} else {
				var u adminapi.UpdateInfo
				if err := c.do(ctx, "GET", "/api/v1/updates/"+url.PathEscape(args[0]), nil, nil, &u); err != nil {
					return err
				}
				results = verifyUpdate(u.Update, up)
			}
			out := cmd.OutOrStdout()
			bad := 0
			for _, r := range results {
				if !r.OK {
					bad++
				}
			}
			if a.g.JSON {
				if err := emitJSON(out, map[string]any{"root_fingerprint": fp, "results": results}); err != nil {
					return err
				}
			} else {
				if rootFP == "" {
					fmt.Fprintf(out, "root fingerprint %s (not pinned: pass --root-fingerprint)\n", fp)
				}
				t := newTextTable(out, "TARGET", "RESULT", "DETAIL")
				for _, r := range results {
					res := "ok"
					if !r.OK {
						res = "REFUSED"
					}
					t.row(r.Target, res, r.Detail)
				}
				if err := t.flush(); err != nil {
					return err
				}
			}
			if len(results) == 0 {
				return fmt.Errorf("verify: update %s has no payloads", args[0])
			}
			if bad > 0 {
				return fmt.Errorf("verify: %d of %d refused", bad, len(results))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&rootFP, "root-fingerprint", "", "pin the repository's root: sha256 of its 1.root.json")
	return cmd
}

// verifyFile hashes a file and finds the signed targets with its length
// and sha256.
func verifyFile(path string, up *updater.Updater) ([]VerifyResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return nil, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	var out []VerifyResult
	targets := up.GetTopLevelTargets()
	paths := make([]string, 0, len(targets))
	for p := range targets {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		tf := targets[p]
		if tf.Length == n && tf.Hashes["sha256"].String() == sum {
			out = append(out, VerifyResult{Target: p, OK: true, Detail: fmt.Sprintf("%d bytes, sha256 %s", n, shortSHA(sum))})
		}
	}
	if len(out) == 0 {
		out = append(out, VerifyResult{Target: filepath.Base(path), Detail: fmt.Sprintf("not signed: no target has %d bytes and sha256 %s", n, sum)})
	}
	return out, nil
}

// verifyUpdate checks each payload of u against its signed target.
func verifyUpdate(u patchgate.Update, up *updater.Updater) []VerifyResult {
	out := []VerifyResult{}
	for _, p := range u.Payloads {
		path := trust.TargetPath(u.ID, u.Revision, p.Name)
		r := VerifyResult{Target: path}
		tf, err := up.GetTargetInfo(path)
		switch {
		case err != nil:
			r.Detail = "not signed (is the update posted?)"
		case tf.Length != p.Size:
			r.Detail = fmt.Sprintf("length %d signed, %d in the catalog", tf.Length, p.Size)
		case tf.Hashes["sha256"].String() != p.SHA256:
			r.Detail = "sha256 differs from the signed one"
		case tf.Custom == nil:
			r.Detail = "no signed custom metadata"
		default:
			var cu trust.Custom
			if err := json.Unmarshal(*tf.Custom, &cu); err != nil {
				r.Detail = "signed custom metadata unreadable"
			} else if !reflect.DeepEqual(cu.Patchgate.Payload, p) || cu.Patchgate.UpdateID != u.ID || cu.Patchgate.Revision != u.Revision {
				r.Detail = "installer, arguments or payload fields differ from the signed ones"
			} else {
				r.OK = true
				r.Detail = fmt.Sprintf("%d bytes, sha256 %s, %s", p.Size, shortSHA(p.SHA256), p.Installer)
			}
		}
		out = append(out, r)
	}
	return out
}
