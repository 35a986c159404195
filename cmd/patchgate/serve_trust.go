//go:build !agentonly

package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/patchgate/patchgate/trust"
)

// Root keys serve creates on first start when there is no root yet.
const (
	firstStartRootKeys      = 3
	firstStartRootThreshold = 2
)

// openTrust opens the local TUF repository under data; without a root
// (first start, no "patchgate keys init"), it creates root keys in
// <data>/tuf-root-keys/ and signs root v1, returning the key files.
func openTrust(data string) (*trust.Repo, []string, error) {
	repo, err := trust.Open(data, trust.RepoLocal, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("opening the TUF repository: %w", err)
	}
	if repo.HasRoot() {
		return repo, nil, nil
	}
	files, err := repo.InitRoot(filepath.Join(data, "tuf-root-keys"), firstStartRootKeys, firstStartRootThreshold)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the TUF root: %w", err)
	}
	return repo, files, nil
}

func printTrust(out io.Writer, repo *trust.Repo, created []string) {
	if _, fp, err := repo.Root1(); err == nil {
		fmt.Fprintf(out, "  TUF root:       %s (fingerprint of /tuf/%s/1.root.json)\n", fp, repo.Name())
	}
	if len(created) == 0 {
		return
	}
	dir := filepath.Dir(created[0])
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	fmt.Fprintln(out, "  ******************************************************************")
	fmt.Fprintf(out, "  WARNING: created %d TUF root keys (%d needed to sign) in\n", len(created), firstStartRootThreshold)
	fmt.Fprintf(out, "           %s\n", dir)
	fmt.Fprintln(out, "           MOVE THIS DIRECTORY OFFLINE NOW. Whoever holds these keys can")
	fmt.Fprintln(out, "           make every agent trust new signing keys. The server needs them")
	fmt.Fprintln(out, "           only for `patchgate keys rotate`.")
	fmt.Fprintln(out, "  ******************************************************************")
}
