package server_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

func readCSAF(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../testdata/csaf/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAdvisoryBodies: POST /api/v1/advisories takes the raw CSAF document
// or a wrapper (inline or base64, with a product map); roles are checked;
// refusals name the field and store nothing.
func TestAdvisoryBodies(t *testing.T) {
	e := newEnv(t)
	rhsa := readCSAF(t, "rhsa-2026_8123.json")

	// The raw document, as a publisher.
	var resp adminapi.ImportAdvisoryResponse
	if st := e.call("POST", "/api/v1/advisories", e.token(patchgate.RolePublisher), rhsa, &resp); st != 201 || resp.Outcome != patchgate.AdvisoryImported {
		t.Fatalf("raw document: %d %+v", st, resp)
	}
	// A viewer may read, not import.
	viewer := e.token(patchgate.RoleViewer)
	if st := e.call("POST", "/api/v1/advisories", viewer, rhsa, nil); st != 403 {
		t.Errorf("viewer import: %d", st)
	}
	var as []patchgate.Advisory
	if st := e.call("GET", "/api/v1/advisories?cve=CVE-2026-5535", viewer, nil, &as); st != 200 || len(as) != 1 || as[0].ID != "RHSA-2026:8123" {
		t.Errorf("list by CVE: %d %+v", st, as)
	}

	// Wrapped inline with a map, then as base64 (the same document again:
	// unchanged).
	cisco := readCSAF(t, "cisco-sa-ucce-rce.json")
	m := []patchgate.ProductMapEntry{{Name: "Cisco Unified Contact Center Enterprise", Product: "cisco.ucce"}}
	if st := e.call("POST", "/api/v1/advisories", e.admin, adminapi.ImportAdvisoryRequest{CSAF: cisco, Map: m, File: "cisco.json"}, &resp); st != 201 || resp.File != "cisco.json" || len(resp.Advisory.Affected) != 2 {
		t.Fatalf("wrapped inline: %d %+v", st, resp)
	}
	if st := e.call("POST", "/api/v1/advisories", e.admin, adminapi.ImportAdvisoryRequest{CSAFBase64: cisco, Map: m}, &resp); st != 200 || resp.Outcome != patchgate.AdvisoryUnchanged || resp.Advisory.Revision != 1 {
		t.Fatalf("wrapped base64: %d %+v", st, resp)
	}
	var d adminapi.AdvisoryDetail
	if st := e.call("GET", "/api/v1/advisories/cisco-sa-ucce-rce-7qJ4Wg8", viewer, nil, &d); st != 200 || d.Advisory.Title == "" || d.Exposure == nil || d.Fixes == nil {
		t.Errorf("detail: %d %+v", st, d)
	}

	// Refusals name the field (a JSON pointer for the document) and
	// store nothing.
	garbage := append(append([]byte{}, rhsa...), []byte("\n{}")...)
	e.wantError("POST", "/api/v1/advisories", garbage, 400, "/: unexpected data after the JSON object")
	e.wantError("POST", "/api/v1/advisories", adminapi.ImportAdvisoryRequest{CSAFBase64: garbage}, 400, "unexpected data after the JSON object")
	e.wantError("POST", "/api/v1/advisories", adminapi.ImportAdvisoryRequest{CSAF: cisco, CSAFBase64: cisco}, 400, "csaf")
	e.wantError("POST", "/api/v1/advisories", map[string]any{"hello": 1}, 400, "body")
	e.wantError("POST", "/api/v1/advisories", map[string]any{"csaf": json.RawMessage(cisco), "extra": 1}, 400, "extra")
	e.wantError("POST", "/api/v1/advisories", adminapi.ImportAdvisoryRequest{CSAF: cisco, Map: []patchgate.ProductMapEntry{{Name: "x", Product: "Not A Product"}}}, 400, "products[0].product")
	e.wantError("POST", "/api/v1/advisories", readCSAF(t, "invalid-bad-cve.json"), 400, "/vulnerabilities/0/cve")
	e.wantError("POST", "/api/v1/advisories", []byte(strings.Repeat(" ", adminapi.MaxAdvisoryBodyBytes+1)), 413, "body")
	e.wantError("GET", "/api/v1/advisories/SSA-1", nil, 404, "SSA-1")
	e.wantError("GET", "/api/v1/advisories?cve=CVE-1", nil, 400, "cve")
	e.wantError("GET", "/api/v1/reports/exposure?advisory=a/b", nil, 400, "advisory")
	e.wantError("GET", "/api/v1/reports/exposure?advisory=SSA-1", nil, 404, "SSA-1")
	if st := e.call("GET", "/api/v1/advisories", viewer, nil, &as); st != 200 || len(as) != 2 {
		t.Errorf("after refusals: %d advisories", len(as))
	}
	var evs []patchgate.Event
	e.call("GET", "/api/v1/events?type=advisory.imported", e.admin, nil, &evs)
	if len(evs) != 2 {
		t.Errorf("advisory.imported events: %+v", evs)
	}
}
