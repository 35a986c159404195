package adminapi

import (
	"encoding/json"
	"time"

	"github.com/patchgate/patchgate"
)

// POST /api/v1/advisories takes either a CSAF 2.0 document as the body
// (an object with "document") or an ImportAdvisoryRequest.

// ImportAdvisoryRequest wraps a CSAF document with a product map. Exactly
// one of CSAF (the document inline) and CSAFBase64 (its bytes, exactly as
// in the file, so that the server judges the file byte for byte) is set.
type ImportAdvisoryRequest struct {
	CSAF       json.RawMessage `json:"csaf,omitempty"`
	CSAFBase64 []byte          `json:"csaf_base64,omitempty"`
	// File names the document in answers (the CLI sends the file name).
	File string `json:"file,omitempty"`
	// Map maps CSAF products to patchgate products (see the README).
	Map []patchgate.ProductMapEntry `json:"map,omitempty"`
}

// MaxAdvisoryBodyBytes limits the body of POST /api/v1/advisories: a
// document base64-encoded, and a product map.
const MaxAdvisoryBodyBytes = patchgate.MaxAdvisoryBytes/3*4 + 4<<20

// ImportAdvisoryResponse is what importing one document did. A rejected
// document is answered with an error instead (invalid naming the JSON
// pointer, conflict for an older revision, too_large).
type ImportAdvisoryResponse struct {
	File    string                    `json:"file,omitempty"`
	Outcome patchgate.AdvisoryOutcome `json:"outcome"`
	// ExposedHosts counts the hosts running an affected product version.
	ExposedHosts int                `json:"exposed_hosts"`
	Advisory     patchgate.Advisory `json:"advisory"`
}

// AdvisoryDetail is GET /api/v1/advisories/{id}: the advisory, the
// updates that fix it (named by its remediations or naming it in their
// manifest), and its exposure.
type AdvisoryDetail struct {
	Advisory patchgate.Advisory      `json:"advisory"`
	Fixes    []string                `json:"fixes"`
	Exposure []patchgate.ExposureRow `json:"exposure"`
}

// ExposureReport is GET /api/v1/reports/exposure.
type ExposureReport struct {
	GeneratedAt time.Time               `json:"generated_at"`
	Rows        []patchgate.ExposureRow `json:"rows"`
}

func init() {
	for k, d := range map[string]doc{
		"POST /api/v1/advisories":      {summary: "Import a CSAF 2.0 advisory (the document as the body, or wrapped with a product map): imported, updated (new current_release_date) or unchanged; a rejected document is an error naming the JSON pointer", request: ImportAdvisoryRequest{}, response: ImportAdvisoryResponse{}},
		"GET /api/v1/advisories":       {summary: "List security advisories, newest first", query: []string{"cve"}, response: []patchgate.Advisory{}},
		"GET /api/v1/advisories/{id}":  {summary: "Show an advisory with its fixes and the hosts it exposes", response: AdvisoryDetail{}},
		"GET /api/v1/reports/exposure": {summary: "Hosts running a product version an advisory says is affected, and whether its fix is posted, approved, installed", query: []string{"cve", "advisory"}, response: ExposureReport{}},
	} {
		docs[k] = d
	}
}
