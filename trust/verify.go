package trust

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/patchgate/patchgate/atomicfile"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/patchgate/patchgate"
)

// Agent-side verification (the contract is /work/wt/TUF.md, summed up in
// the README): before anything runs, the agent refreshes the signed
// metadata of the repository a plan item names through go-tuf's updater
// (a new updater per refresh), looks up each payload's target
// <update-id>/r<revision>/<payload-name>, and refuses unless the signed
// length, sha256 and custom patchgate payload (installer, args, ...) are
// exactly the plan's. The payload is then streamed to the staging file and
// checked against the signed length and sha256 (CopyVerified).
//
// Layout under Verifier.Dir (the agent's <state>/tuf), one directory per
// trusted repository:
//
//	<repo>/1.root.json  the root delivered at enrolment (its sha256 is the fingerprint)
//	<repo>/root.json    the newest trusted root (go-tuf follows rotations)
//	<repo>/timestamp.json, snapshot.json, targets.json  the last trusted
//	                    metadata, kept by go-tuf to refuse rollbacks

// Defaults of a Verifier.
const (
	// DefaultMetadataTimeout bounds the fetch of one metadata file.
	DefaultMetadataTimeout = 30 * time.Second
	// DefaultMaxRootRotations is how many root versions one refresh
	// follows; a repository further ahead is refused (the agent stays on
	// the root it has, which cannot verify the newer metadata).
	DefaultMaxRootRotations = 32
	// MaxTrustedMetadataBytes bounds a metadata file the agent reads,
	// from the network or its state dir (the server's limit is the same).
	MaxTrustedMetadataBytes = 16 << 20
)

// Verifier checks plan items against the signed metadata of the
// repositories whose roots the agent trusts. The zero value is not usable:
// Dir, Server and Client are required.
type Verifier struct {
	// Dir holds one directory per trusted repository (the agent's
	// <state>/tuf).
	Dir string
	// Server is the base URL of the patchgate server; repository repo is
	// read from <Server>/tuf/<repo>/.
	Server string
	// Client fetches the metadata: the agent's pinned TLS client, with no
	// proxy and no system CA bundle.
	Client *http.Client
	// Clock is the time expiry is checked against; nil = time.Now.
	Clock func() time.Time
	// MetadataTimeout bounds each metadata file; 0 = DefaultMetadataTimeout.
	MetadataTimeout time.Duration
	// MaxRootRotations bounds the root versions followed per refresh;
	// 0 = DefaultMaxRootRotations.
	MaxRootRotations int
	// Fetched, if set, is told each metadata file fetched (by its name
	// under /tuf/<repo>/) with its exact bytes; a server mirroring an
	// upstream's repository keeps the root versions it followed.
	Fetched func(name string, data []byte)
	// RefreshOnce makes the Verifier refresh each repository at most once
	// and answer later lookups from that refresh: an agent makes one per
	// check-in cycle, so a plan of many items (each also asking whether
	// another trusted repository publishes its update id) costs one
	// metadata refresh per repository, not one per item and repository.
	RefreshOnce bool

	mu        sync.Mutex
	refreshed map[string]refreshResult
}

type refreshResult struct {
	up  *updater.Updater
	err error
}

// CheckRepoName refuses a repository name that is not `local` or a
// publishing server's id (ValidRepoName).
func CheckRepoName(repo string) error {
	if !ValidRepoName(repo) {
		return fmt.Errorf("invalid repository name %q", repo)
	}
	return nil
}

// RootFingerprintOf is a root's fingerprint: the lowercase hex sha256 of
// the exact bytes of its 1.root.json.
func RootFingerprintOf(root []byte) string {
	sum := sha256.Sum256(root)
	return hex.EncodeToString(sum[:])
}

var agentFingerprintPattern = patchgate.MustBoundedPattern(`^[0-9a-f]+$`, 64, 64)

// CheckRootFingerprint refuses a fingerprint that is not 64 lowercase hex
// characters.
func CheckRootFingerprint(fp string) error {
	if !agentFingerprintPattern.MatchString(fp) {
		return fmt.Errorf("invalid root fingerprint %q: must be 64 lowercase hex characters (sha256 of 1.root.json)", fp)
	}
	return nil
}

func (v *Verifier) repoDir(repo string) string { return filepath.Join(v.Dir, repo) }

// Repos lists the repositories with a trusted root, sorted.
func (v *Verifier) Repos() ([]string, error) {
	entries, err := os.ReadDir(v.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var repos []string
	for _, e := range entries {
		if e.IsDir() && CheckRepoName(e.Name()) == nil && v.HasRoot(e.Name()) {
			repos = append(repos, e.Name())
		}
	}
	slices.Sort(repos)
	return repos, nil
}

// HasRoot reports whether repo has a trusted root.
func (v *Verifier) HasRoot(repo string) bool {
	if CheckRepoName(repo) != nil {
		return false
	}
	fi, err := os.Stat(filepath.Join(v.repoDir(repo), "root.json"))
	return err == nil && fi.Mode().IsRegular()
}

// Fingerprint returns the fingerprint of repo's trusted root (of the
// 1.root.json kept at enrolment).
func (v *Verifier) Fingerprint(repo string) (string, error) {
	if err := CheckRepoName(repo); err != nil {
		return "", err
	}
	b, err := atomicfile.ReadLimited(filepath.Join(v.repoDir(repo), "1.root.json"), MaxTrustedMetadataBytes)
	if err != nil {
		return "", fmt.Errorf("repository %s: %w", repo, err)
	}
	return RootFingerprintOf(b), nil
}

// SaveRoot makes root (the exact bytes of 1.root.json) the trusted root of
// repo. It refuses a root whose fingerprint is not fingerprint, that is not
// version 1, or that its own threshold of root keys did not sign. A repo
// that already has this root keeps its state (and the rotations it
// followed); one with another root is replaced.
func (v *Verifier) SaveRoot(repo string, root []byte, fingerprint string) error {
	if err := CheckRepoName(repo); err != nil {
		return err
	}
	if err := CheckRootFingerprint(fingerprint); err != nil {
		return fmt.Errorf("repository %s: %w", repo, err)
	}
	if got := RootFingerprintOf(root); got != fingerprint {
		return fmt.Errorf("repository %s: the root's fingerprint is %s, not %s", repo, got, fingerprint)
	}
	if len(root) > MaxTrustedMetadataBytes {
		return fmt.Errorf("repository %s: the root has more than %d bytes", repo, MaxTrustedMetadataBytes)
	}
	md, err := metadata.Root().FromBytes(root)
	if err != nil {
		return fmt.Errorf("repository %s: the root is not TUF root metadata: %w", repo, err)
	}
	if md.Signed.Version != 1 {
		return fmt.Errorf("repository %s: the root is version %d, not 1 (1.root.json)", repo, md.Signed.Version)
	}
	if err := md.VerifyDelegate(metadata.ROOT, md); err != nil {
		return fmt.Errorf("repository %s: the root is not signed by its own threshold of root keys: %w", repo, err)
	}
	if have, err := v.Fingerprint(repo); err == nil && have == fingerprint && v.HasRoot(repo) {
		return nil
	}
	dir := v.repoDir(repo)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, "1.root.json"), root, 0o600); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, "root.json"), root, 0o600)
}

// TargetPathFor is the target path of a payload: <update-id>/r<revision>/<name>.
// It refuses anything that is not a plain update id, a positive revision
// and a plain payload name: no '/', '..', '%', '\', or absolute path can
// reach go-tuf or a file name.
func TargetPathFor(updateID string, revision int, name string) (string, error) {
	if !patchgate.ValidUpdateID(updateID) || strings.Contains(updateID, "..") {
		return "", fmt.Errorf("invalid update id %q for a target path", updateID)
	}
	if revision < 1 {
		return "", fmt.Errorf("invalid revision %d for a target path", revision)
	}
	if !patchgate.ValidPayloadName(name) {
		return "", fmt.Errorf("invalid payload name %q for a target path: it must be a plain file name", name)
	}
	return updateID + "/r" + strconv.Itoa(revision) + "/" + name, nil
}

// Targets refreshes repo's metadata with a new go-tuf updater and returns
// the signed target file info of each path, in order. Any failure of the
// refresh (signature, threshold, rollback, freeze, mix-and-match, size,
// timeout) or a path that is not signed is an error.
func (v *Verifier) Targets(ctx context.Context, repo string, paths []string) ([]*metadata.TargetFiles, error) {
	up, err := v.Refresh(ctx, repo)
	if err != nil {
		return nil, err
	}
	out := make([]*metadata.TargetFiles, len(paths))
	for i, p := range paths {
		tf, err := up.GetTargetInfo(p)
		if err != nil || tf == nil {
			return nil, fmt.Errorf("repository %s does not sign target %s", repo, p)
		}
		out[i] = tf
	}
	return out, nil
}

// Refresh refreshes repo's metadata with a new go-tuf updater and returns
// it, refreshed.
func (v *Verifier) Refresh(ctx context.Context, repo string) (*updater.Updater, error) {
	if !v.RefreshOnce {
		return v.refresh(ctx, repo)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if r, ok := v.refreshed[repo]; ok {
		return r.up, r.err
	}
	up, err := v.refresh(ctx, repo)
	if v.refreshed == nil {
		v.refreshed = map[string]refreshResult{}
	}
	v.refreshed[repo] = refreshResult{up, err}
	return up, err
}

func (v *Verifier) refresh(ctx context.Context, repo string) (*updater.Updater, error) {
	if err := CheckRepoName(repo); err != nil {
		return nil, err
	}
	if !v.HasRoot(repo) {
		return nil, fmt.Errorf("no trusted root for repository %s (roots are delivered at enrolment; trusted: %s)", repo, v.reposList())
	}
	dir := v.repoDir(repo)
	root, err := atomicfile.ReadLimited(filepath.Join(dir, "root.json"), MaxTrustedMetadataBytes)
	if err != nil {
		return nil, fmt.Errorf("repository %s: trusted root: %w", repo, err)
	}
	base, err := url.JoinPath(v.Server, "tuf", repo)
	if err != nil {
		return nil, err
	}
	base += "/"
	cfg, err := config.New(base, root)
	if err != nil {
		return nil, err
	}
	cfg.LocalMetadataDir = dir
	cfg.LocalTargetsDir = dir // unused: targets are streamed by the agent, never by go-tuf
	cfg.RemoteTargetsURL = base + "targets/"
	cfg.MaxRootRotations = int64(cmp.Or(v.MaxRootRotations, DefaultMaxRootRotations))
	cfg.MaxDelegations = 0 // patchgate's targets role delegates nothing
	cfg.RootMaxLength = 512 << 10
	cfg.TimestampMaxLength = 16 << 10
	cfg.SnapshotMaxLength = MaxTrustedMetadataBytes
	cfg.TargetsMaxLength = MaxTrustedMetadataBytes
	cfg.Fetcher = &pinnedFetcher{ctx: ctx, client: v.Client, base: base, timeout: cmp.Or(v.MetadataTimeout, DefaultMetadataTimeout), fetched: v.Fetched}
	up, err := updater.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", repo, err)
	}
	if v.Clock != nil {
		up.UnsafeSetRefTime(v.Clock().UTC())
	}
	if err := up.Refresh(); err != nil {
		return nil, fmt.Errorf("repository %s: refreshing the signed metadata: %w", repo, err)
	}
	return up, nil
}

func (v *Verifier) reposList() string {
	repos, _ := v.Repos()
	if len(repos) == 0 {
		return "none"
	}
	return strings.Join(repos, ", ")
}

// verifiedCustom is the custom metadata of a patchgate target.
type verifiedCustom struct {
	Patchgate *struct {
		UpdateID string          `json:"update_id"`
		Revision int             `json:"revision"`
		Payload  json.RawMessage `json:"payload"`
	} `json:"patchgate"`
}

// CheckSignedPayload refuses a payload whose signed target info differs
// from the plan's: length, sha256, the update id and revision, and every
// field of the payload (name, size, sha256, installer, args, constituent).
// A signed payload with a field this agent does not know is refused too.
func CheckSignedPayload(tf *metadata.TargetFiles, updateID string, revision int, p patchgate.Payload) error {
	if tf == nil {
		return errors.New("no signed target info")
	}
	if tf.Length != p.Size {
		return fmt.Errorf("payload %s: signed length %d, the plan says %d", p.Name, tf.Length, p.Size)
	}
	signedSHA, ok := tf.Hashes["sha256"]
	if !ok {
		return fmt.Errorf("payload %s: the signed target has no sha256", p.Name)
	}
	if got := hex.EncodeToString(signedSHA); got != p.SHA256 {
		return fmt.Errorf("payload %s: signed sha256 %s, the plan says %s", p.Name, got, p.SHA256)
	}
	if tf.Custom == nil {
		return fmt.Errorf("payload %s: the signed target has no patchgate metadata", p.Name)
	}
	var c verifiedCustom
	if err := json.Unmarshal(*tf.Custom, &c); err != nil || c.Patchgate == nil {
		return fmt.Errorf("payload %s: the signed target has no valid patchgate metadata", p.Name)
	}
	if c.Patchgate.UpdateID != updateID || c.Patchgate.Revision != revision {
		return fmt.Errorf("payload %s: signed for update %s revision %d, the plan says %s revision %d",
			p.Name, c.Patchgate.UpdateID, c.Patchgate.Revision, updateID, revision)
	}
	var signed patchgate.Payload
	dec := json.NewDecoder(bytes.NewReader(c.Patchgate.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&signed); err != nil {
		return fmt.Errorf("payload %s: the signed payload does not decode: %v", p.Name, err)
	}
	if d := agentPayloadDiff(signed, p); d != "" {
		return fmt.Errorf("payload %s: the plan differs from what the publisher signed: %s", p.Name, d)
	}
	return nil
}

// agentPayloadDiff names the first field where the plan's payload differs from
// the signed one, or returns "".
func agentPayloadDiff(signed, plan patchgate.Payload) string {
	switch {
	case signed.Name != plan.Name:
		return fmt.Sprintf("name %q, signed %q", plan.Name, signed.Name)
	case signed.Size != plan.Size:
		return fmt.Sprintf("size %d, signed %d", plan.Size, signed.Size)
	case signed.SHA256 != plan.SHA256:
		return fmt.Sprintf("sha256 %s, signed %s", plan.SHA256, signed.SHA256)
	case signed.Installer != plan.Installer:
		return fmt.Sprintf("installer %q, signed %q", plan.Installer, signed.Installer)
	case !slices.Equal(signed.Args, plan.Args):
		return fmt.Sprintf("installer args %q, signed %q", plan.Args, signed.Args)
	case signed.Constituent != plan.Constituent:
		return fmt.Sprintf("constituent %q, signed %q", plan.Constituent, signed.Constituent)
	}
	return ""
}

// CopyVerified streams src to dst, hashing as it goes, and refuses unless
// it is exactly the signed target: it reads at most length+1 bytes, so an
// endless body stops there. dst has then received bytes that did not
// verify: the caller deletes it.
func CopyVerified(dst io.Writer, src io.Reader, tf *metadata.TargetFiles) (int64, error) {
	want, ok := tf.Hashes["sha256"]
	if !ok {
		return 0, errors.New("the signed target has no sha256")
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(dst, h), io.LimitReader(src, tf.Length+1))
	if err != nil {
		return n, err
	}
	return n, agentCheckSum(n, h, tf.Length, want)
}

func agentCheckSum(n int64, h hash.Hash, length int64, want []byte) error {
	switch {
	case n > length:
		return fmt.Errorf("more bytes than the signed length %d", length)
	case n < length:
		return fmt.Errorf("%d bytes, fewer than the signed length %d", n, length)
	case !bytes.Equal(h.Sum(nil), want):
		return fmt.Errorf("sha256 %x does not match the signed %x", h.Sum(nil), []byte(want))
	}
	return nil
}

// MatchesTarget checks that a payload whose size and sha256 the agent
// verified while it streamed to the staging file is the signed target tf:
// the same length and sha256, so the staged bytes are what was signed
// without reading them again.
func MatchesTarget(p patchgate.Payload, tf *metadata.TargetFiles) error {
	want, ok := tf.Hashes["sha256"]
	switch {
	case !ok:
		return errors.New("the signed target has no sha256")
	case tf.Length != p.Size:
		return fmt.Errorf("%d bytes, not the signed length %d", p.Size, tf.Length)
	case hex.EncodeToString(want) != p.SHA256:
		return fmt.Errorf("sha256 %s does not match the signed %x", p.SHA256, []byte(want))
	}
	return nil
}

// VerifyStagedFile checks a staged file against the signed target,
// streaming it.
func VerifyStagedFile(path string, tf *metadata.TargetFiles) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = CopyVerified(io.Discard, f, tf)
	return err
}

// ClaimedBy returns the first trusted repository other than repo that
// signs any target of updateID (a path <update-id>/...), or "". This is
// patchgate's TAP 4 map: an update id belongs to the repository of the
// server that publishes it, so a site that signs, in its own repository,
// content under the id of an update its upstream's publisher signs (or
// points a plan item of that update at its own repository) is refused.
// Each other repository is refreshed; one that cannot be refreshed is
// checked against the last metadata this agent verified of it.
func (v *Verifier) ClaimedBy(ctx context.Context, repo, updateID string) (string, error) {
	repos, err := v.Repos()
	if err != nil {
		return "", err
	}
	prefix := updateID + "/"
	for _, other := range repos {
		if other == repo {
			continue
		}
		var targets map[string]*metadata.TargetFiles
		if up, err := v.Refresh(ctx, other); err == nil {
			targets = up.GetTopLevelTargets()
		} else if data, rerr := atomicfile.ReadLimited(filepath.Join(v.repoDir(other), "targets.json"), MaxTrustedMetadataBytes); rerr == nil {
			if md, perr := metadata.Targets().FromBytes(data); perr == nil {
				targets = md.Signed.Targets
			}
		}
		for p := range targets {
			if strings.HasPrefix(p, prefix) {
				return other, nil
			}
		}
	}
	return "", nil
}
