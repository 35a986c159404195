package trust

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/patchgate/patchgate"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// RepoLocal names the repository of the updates a server publishes itself.
const RepoLocal = "local"

// MaxFileBytes bounds one metadata file read from disk or a peer.
const MaxFileBytes = 16 << 20

// Custom is the custom metadata of a target: what patchgate signs beyond
// length and hashes. The agent compares the plan item's payload with
// Patchgate.Payload field by field.
type Custom struct {
	Patchgate CustomPatchgate `json:"patchgate"`
}

// CustomPatchgate identifies the update, revision and payload a target is.
type CustomPatchgate struct {
	UpdateID string            `json:"update_id"`
	Revision int               `json:"revision"`
	Payload  patchgate.Payload `json:"payload"`
}

// TargetPath is the target path of a payload:
// <update-id>/r<revision>/<payload-name>.
func TargetPath(updateID string, revision int, payloadName string) string {
	return fmt.Sprintf("%s/r%d/%s", updateID, revision, payloadName)
}

// safeSegment is one target path segment: no separators, no dot
// segments, no encoded or control characters.
func safeSegment(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 255 {
		return false
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f || c == '/' || c == '\\' || c == '%' || c == ':' {
			return false
		}
	}
	return true
}

// ValidTargetPath reports whether p is a well-formed target path: three
// safe segments, the middle one r<revision>.
func ValidTargetPath(p string) bool {
	parts := strings.Split(p, "/")
	if len(parts) != 3 || !revSegment.MatchString(parts[1]) {
		return false
	}
	return safeSegment(parts[0]) && safeSegment(parts[2])
}

var revSegment = patchgate.MustBoundedPattern(`^r[1-9][0-9]*$`, 2, 10)

// TargetFor is the signed description of one payload of u.
func TargetFor(u patchgate.Update, p patchgate.Payload) (string, *metadata.TargetFiles, error) {
	path := TargetPath(u.ID, u.Revision, p.Name)
	if !ValidTargetPath(path) {
		return "", nil, fmt.Errorf("update %s payload %q: not a valid target path %q", u.ID, p.Name, path)
	}
	sum, err := hex.DecodeString(p.SHA256)
	if err != nil || len(sum) != 32 {
		return "", nil, fmt.Errorf("update %s payload %q: sha256 is not 64 hex digits", u.ID, p.Name)
	}
	if p.Size < 0 {
		return "", nil, fmt.Errorf("update %s payload %q: negative size", u.ID, p.Name)
	}
	custom, err := json.Marshal(Custom{Patchgate: CustomPatchgate{UpdateID: u.ID, Revision: u.Revision, Payload: p}})
	if err != nil {
		return "", nil, err
	}
	raw := json.RawMessage(custom)
	return path, &metadata.TargetFiles{Length: p.Size, Hashes: metadata.Hashes{"sha256": sum}, Custom: &raw, Path: path}, nil
}

// Signs reports whether the local repository signs the payloads of an
// update in status st: everything a host may be given to install — posted
// and superseded updates, and updates in test (for the test groups'
// hosts). Failed and withdrawn updates are not signed.
func Signs(st patchgate.UpdateStatus) bool { return st.Released() || st.InTest() }

// CatalogTargets is the target set of a server's local repository: every
// payload of every update it publishes itself and Signs. Synced updates
// (those with an origin) are never signed here: their publisher's
// repository signs them, and this server only mirrors it verbatim. Updates
// that cannot be targets (a malformed payload) are returned in skipped,
// never signed.
func CatalogTargets(updates []patchgate.Update, status map[string]patchgate.UpdateStatus, origin map[string]string) (targets map[string]*metadata.TargetFiles, skipped []error) {
	targets = make(map[string]*metadata.TargetFiles)
	for _, u := range updates {
		if !Signs(status[u.ID]) || origin[u.ID] != "" {
			continue
		}
		for _, p := range u.Payloads {
			path, tf, err := TargetFor(u, p)
			if err != nil {
				skipped = append(skipped, err)
				continue
			}
			targets[path] = tf
		}
	}
	return targets, skipped
}

// SameTargets reports whether two target sets are equal, custom metadata
// included.
func SameTargets(a, b map[string]*metadata.TargetFiles) bool {
	if len(a) != len(b) {
		return false
	}
	for p, x := range a {
		y, ok := b[p]
		if !ok || !x.Equal(*y) || !sameCustom(x.Custom, y.Custom) {
			return false
		}
	}
	return true
}

func sameCustom(a, b *json.RawMessage) bool {
	if a == nil || b == nil {
		return a == b
	}
	var x, y Custom
	if json.Unmarshal(*a, &x) != nil || json.Unmarshal(*b, &y) != nil {
		return string(*a) == string(*b)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

// metaFile matches the names served under /tuf/<repo>/.
var metaFile = regexp.MustCompile(`^(?:(?:root|timestamp)\.json|[1-9][0-9]{0,9}\.(?:root|snapshot|targets)\.json)$`)

// ValidFileName reports whether name is a metadata file name a repository
// serves: root.json, timestamp.json, <N>.root.json, <N>.snapshot.json,
// <N>.targets.json. Anything else (paths, dot segments, encodings) is not.
func ValidFileName(name string) bool { return metaFile.MatchString(name) }

// ValidRepoName reports whether name can name a repository directory.
func ValidRepoName(name string) bool { return repoName.MatchString(name) }

var repoName = patchgate.MustBoundedPattern(`^[a-z0-9][a-z0-9._-]*$`, 1, 64)
