package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/agentapi"
	"github.com/patchgate/patchgate/trust"
)

// Signed updates (issue #8). The agent trusts the TUF roots delivered at
// enrolment (kept in <state>/tuf/<repo>/, see trust.Verifier), confirmed
// by Config.TrustRoots fingerprints when given. Before a plan item's
// payloads are downloaded, the repository the item names (PlanItem.Repo)
// must have a trusted root, and its freshly refreshed metadata must sign
// every payload with exactly the plan's length, sha256, installer and
// arguments; the downloaded file is checked against the signed length and
// sha256 before anything runs. Any refusal is reported as a failed event
// whose detail starts with "signature:", and the item's staged files are
// removed.
//
// An item that names no repository (from a server that predates signed
// updates) is refused too, unless Config.AllowUnsigned: then it runs with
// only the size and sha256 check of the plan, and a warning.

const tufDir = "tuf"

// signatureError is a refusal of the signature check.
func signatureError(err error) error { return fmt.Errorf("signature: %w", err) }

func (a *Agent) verifier() *trust.Verifier {
	return &trust.Verifier{
		Dir:              a.path(tufDir),
		Server:           a.server,
		Client:           a.api.HTTP,
		Clock:            a.now,
		MetadataTimeout:  a.cfg.MetadataTimeout,
		MaxRootRotations: a.cfg.MaxRootRotations,
	}
}

// checkTrustRootPins refuses Config.TrustRoots entries that are not
// REPO -> fingerprint.
func checkTrustRootPins(pins map[string]string) error {
	for repo, fp := range pins {
		if err := trust.CheckRepoName(repo); err != nil {
			return patchgate.Invalid("trust_roots", "%v", err)
		}
		if err := trust.CheckRootFingerprint(fp); err != nil {
			return patchgate.Invalid("trust_roots", "repository %s: %v", repo, err)
		}
	}
	return nil
}

// acceptTrustRoots checks the roots an enrolment delivered against each
// other and against the pinned fingerprints, before anything is stored.
func (a *Agent) acceptTrustRoots(roots []agentapi.TrustRoot) error {
	seen := map[string]bool{}
	for i, r := range roots {
		if err := trust.CheckRepoName(r.Repo); err != nil {
			return fmt.Errorf("trust_roots[%d].repo: %v", i, err)
		}
		if seen[r.Repo] {
			return fmt.Errorf("trust_roots[%d].repo: repository %s delivered twice", i, r.Repo)
		}
		seen[r.Repo] = true
		if got := trust.RootFingerprintOf(r.Root); got != r.Fingerprint {
			return fmt.Errorf("trust_roots[%d].fingerprint: the root of %s has fingerprint %s, not the %q delivered with it", i, r.Repo, got, r.Fingerprint)
		}
		if want, ok := a.cfg.TrustRoots[r.Repo]; ok && want != r.Fingerprint {
			return fmt.Errorf("trust_roots[%d]: the server delivered a root for %s with fingerprint %s, but this agent is pinned to %s (--trust-root)", i, r.Repo, r.Fingerprint, want)
		}
	}
	for repo := range a.cfg.TrustRoots {
		if !seen[repo] {
			return fmt.Errorf("trust_roots: the server delivered no root for repository %s, which this agent is pinned to (--trust-root)", repo)
		}
	}
	return nil
}

// storeTrustRoots makes roots the only trusted ones.
func (a *Agent) storeTrustRoots(roots []agentapi.TrustRoot) error {
	v := a.verifier()
	keep := map[string]bool{}
	for _, r := range roots {
		if err := v.SaveRoot(r.Repo, r.Root, r.Fingerprint); err != nil {
			return fmt.Errorf("storing the trusted root: %w", err)
		}
		keep[r.Repo] = true
	}
	entries, err := os.ReadDir(v.Dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		if !keep[e.Name()] {
			if err := os.RemoveAll(a.path(tufDir, e.Name())); err != nil {
				return err
			}
		}
	}
	if len(roots) > 0 {
		repos := make([]string, 0, len(roots))
		for _, r := range roots {
			repos = append(repos, r.Repo+"="+r.Fingerprint)
		}
		a.log.Info("trusting signed update repositories", "roots", repos)
	}
	return nil
}

// checkPinnedRoots runs for an enrolled agent: a pinned repository whose
// root it has must have that fingerprint; one it has no root for (an
// agent enrolled before signed updates) gets its 1.root.json from the
// server, kept only if its fingerprint is the pinned one.
func (a *Agent) checkPinnedRoots(ctx context.Context) error {
	v := a.verifier()
	repos := make([]string, 0, len(a.cfg.TrustRoots))
	for repo := range a.cfg.TrustRoots {
		repos = append(repos, repo)
	}
	slices.Sort(repos)
	for _, repo := range repos {
		want := a.cfg.TrustRoots[repo]
		if v.HasRoot(repo) {
			have, err := v.Fingerprint(repo)
			if err != nil {
				return err
			}
			if have != want {
				return fmt.Errorf("the trusted root of repository %s has fingerprint %s, not %s (--trust-root): re-enrol (--re-enroll) to take the server's roots again", repo, have, want)
			}
			continue
		}
		root, err := a.fetchRootV1(ctx, repo)
		if err != nil {
			return fmt.Errorf("fetching the root of repository %s for --trust-root: %w", repo, err)
		}
		if err := v.SaveRoot(repo, root, want); err != nil {
			return fmt.Errorf("--trust-root %s: %w", repo, err)
		}
		a.log.Info("trusting signed update repository (pinned root fetched)", "repo", repo, "fingerprint", want)
	}
	return nil
}

func (a *Agent) fetchRootV1(ctx context.Context, repo string) ([]byte, error) {
	u, err := url.JoinPath(a.server, "tuf", repo, "1.root.json")
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.api.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 512<<10+1))
	if err != nil {
		return nil, err
	}
	if len(b) > 512<<10 {
		return nil, fmt.Errorf("GET %s: more than 512 KiB", u)
	}
	return b, nil
}

// checkSigned verifies, before anything is downloaded, that the
// repository item names signs each payload exactly as the plan has it. It
// returns the signed target info per payload, or nil for an unsigned item
// run under Config.AllowUnsigned. Its errors start with "signature:".
func (a *Agent) checkSigned(ctx context.Context, item patchgate.PlanItem, payloads []patchgate.Payload) ([]*metadata.TargetFiles, error) {
	if item.Repo == "" {
		if a.cfg.AllowUnsigned {
			a.log.Warn("running an unsigned update (--allow-unsigned): only the plan's size and sha256 are checked", "update", item.UpdateID)
			return nil, nil
		}
		return nil, signatureError(errors.New("the plan item names no signing repository: unsigned updates are refused (a server without signed updates needs --allow-unsigned on the agent)"))
	}
	paths := make([]string, len(payloads))
	for i, p := range payloads {
		tp, err := trust.TargetPathFor(item.UpdateID, item.Revision, p.Name)
		if err != nil {
			return nil, signatureError(err)
		}
		paths[i] = tp
	}
	v := a.cycleTrust
	if v == nil {
		v = a.verifier()
	}
	tfs, err := v.Targets(ctx, item.Repo, paths)
	if err != nil {
		return nil, signatureError(err)
	}
	// An update id belongs to the repository of its publisher: another
	// trusted repository signing it means the server points this item at
	// the wrong repository (a rogue site signing a vendor's update id).
	other, err := v.ClaimedBy(ctx, item.Repo, item.UpdateID)
	if err != nil {
		return nil, signatureError(err)
	}
	if other != "" {
		return nil, signatureError(fmt.Errorf("update %s is published in repository %s, but the plan says repository %s signs it: refused", item.UpdateID, other, item.Repo))
	}
	for i, p := range payloads {
		if err := trust.CheckSignedPayload(tfs[i], item.UpdateID, item.Revision, p); err != nil {
			return nil, signatureError(fmt.Errorf("repository %s, target %s: %w", item.Repo, paths[i], err))
		}
	}
	return tfs, nil
}

// removeStaged deletes the staged files of payloads (verified or partial).
func (a *Agent) removeStaged(payloads []patchgate.Payload) {
	for _, p := range payloads {
		if !agentapi.ValidSHA256(p.SHA256) {
			continue
		}
		os.Remove(a.path(stagingDir, p.SHA256))
		os.Remove(a.path(stagingDir, p.SHA256+".part"))
	}
}
