package agentapi

import "encoding/json"

// TrustRoot is a TUF root delivered at enrolment: the agent keeps Root as
// the trusted root of repository Repo (<state>/tuf/<repo>/root.json).
// Fingerprint is the lowercase hex sha256 of Root's exact bytes (the
// repository's 1.root.json); `patchgate agent --trust-root REPO=FP` makes
// enrolment fail unless it matches.
type TrustRoot struct {
	Repo        string          `json:"repo"`
	Root        json.RawMessage `json:"root"`
	Fingerprint string          `json:"fingerprint"`
}

// PathTUF is the prefix of the public, read-only TUF metadata:
// GET /tuf/<repo>/<file>.
const PathTUF = "/tuf/"
