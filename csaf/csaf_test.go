package csaf

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	gocsaf "github.com/gocsaf/csaf/v3/csaf"

	"github.com/patchgate/patchgate"
)

const testdata = "../testdata/csaf/"

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(testdata + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testMap(t testing.TB) []patchgate.ProductMapEntry {
	t.Helper()
	m, err := ParseProductMap(readTestdata(t, "map.yaml"))
	if err != nil {
		t.Fatalf("ParseProductMap: %v", err)
	}
	return m
}

// TestImportOutcomes imports the testdata documents one after the other,
// as `advisory import` does, and checks each file's outcome: imported,
// updated (a later current_release_date), unchanged (the same), or
// rejected with the field that is wrong.
func TestImportOutcomes(t *testing.T) {
	m := testMap(t)
	stored := map[string]patchgate.Advisory{}
	for _, tc := range []struct {
		file    string
		outcome patchgate.AdvisoryOutcome
		field   string // rejected: the JSON pointer named
		msg     string // rejected: part of the reason
	}{
		{"cisco-sa-ucce-rce.json", patchgate.AdvisoryImported, "", ""},
		{"rhsa-2026_8123.json", patchgate.AdvisoryImported, "", ""}, // document acknowledgments
		{"ssa-412309.json", patchgate.AdvisoryImported, "", ""},     // vulnerability acknowledgments
		{"icsa-26-310-01.json", patchgate.AdvisoryImported, "", ""},
		{"cisco-sa-ucce-rce.json", patchgate.AdvisoryUnchanged, "", ""},
		{"cisco-sa-ucce-rce-rev2.json", patchgate.AdvisoryUpdated, "", ""},
		{"cisco-sa-ucce-rce-rev2.json", patchgate.AdvisoryUnchanged, "", ""},
		{"cisco-sa-ucce-rce.json", patchgate.AdvisoryRejected, "/document/tracking/current_release_date", "older than the stored revision 2"},
		{"invalid-no-tracking-id.json", patchgate.AdvisoryRejected, "/document/tracking", "missing property 'id'"},
		{"invalid-bad-cve.json", patchgate.AdvisoryRejected, "/vulnerabilities/0/cve", "does not match pattern"},
		{"invalid-csaf-version.json", patchgate.AdvisoryRejected, "/document/csaf_version", "must be '2.0'"},
		{"invalid-cvss-vector.json", patchgate.AdvisoryRejected, "/vulnerabilities/0/scores/0/cvss_v3/vectorString", "does not match pattern"},
		{"trailing-garbage.json", patchgate.AdvisoryRejected, "/", "unexpected data after the JSON object"},
		{"truncated.json", patchgate.AdvisoryRejected, "/", "unexpected end of input"},
	} {
		a, err := Parse(readTestdata(t, tc.file), m)
		outcome := patchgate.AdvisoryRejected
		if err == nil {
			var prev *patchgate.Advisory
			if p, ok := stored[a.ID]; ok {
				prev = &p
			}
			outcome, err = patchgate.DecideAdvisoryImport(prev, a)
			switch outcome {
			case patchgate.AdvisoryImported:
				a.Revision = 1
				stored[a.ID] = a
			case patchgate.AdvisoryUpdated:
				a.Revision = prev.Revision + 1
				stored[a.ID] = a
			}
		}
		if outcome != tc.outcome {
			t.Errorf("%s: outcome %s (%v), want %s", tc.file, outcome, err, tc.outcome)
			continue
		}
		if tc.outcome != patchgate.AdvisoryRejected {
			continue
		}
		var pe *patchgate.Error
		if !asError(err, &pe) || pe.Field != tc.field || !strings.Contains(pe.Message, tc.msg) {
			t.Errorf("%s: error %v, want field %s and %q", tc.file, err, tc.field, tc.msg)
		}
	}
}

func asError(err error, pe **patchgate.Error) bool {
	e, ok := err.(*patchgate.Error)
	*pe = e
	return ok
}

// TestLibraryLoaderRejectsAcknowledgments shows why Parse does not use the
// library's loader: it refuses a valid document that credits someone,
// which the schema accepts.
func TestLibraryLoaderRejectsAcknowledgments(t *testing.T) {
	path := filepath.Join(testdata, "rhsa-2026_8123.json")
	if _, err := gocsaf.LoadAdvisory(path); err == nil || !strings.Contains(err.Error(), "acknowledgments") {
		t.Errorf("gocsaf.LoadAdvisory: %v; want it to refuse the field acknowledgments (if it now accepts it, Parse could use it)", err)
	}
	a, err := Parse(readTestdata(t, "rhsa-2026_8123.json"), nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if a.ID != "RHSA-2026:8123" {
		t.Errorf("id %q", a.ID)
	}
}

func TestParseCisco(t *testing.T) {
	a, err := Parse(readTestdata(t, "cisco-sa-ucce-rce-rev2.json"), testMap(t))
	if err != nil {
		t.Fatal(err)
	}
	if a.Severity != patchgate.SeverityCritical || a.Publisher != "Cisco" || a.Version != "1.1.0" {
		t.Errorf("severity %s publisher %s version %s", a.Severity, a.Publisher, a.Version)
	}
	if len(a.CVEs) != 1 || a.CVEs[0].ID != "CVE-2026-20101" || a.CVEs[0].CVSSScore != 9.8 || !strings.HasPrefix(a.CVEs[0].CVSSVector, "CVSS:3.1/") {
		t.Errorf("cves %+v", a.CVEs)
	}
	want := []string{"cisco.ucce =12.5(1)", "cisco.ucce =12.6(1)"}
	if got := productStrings(a.Affected); !slices.Equal(got, want) {
		t.Errorf("affected %v, want %v", got, want)
	}
	want = []string{"cisco.ucce =12.5(2)", "cisco.ucce =12.6(2)"}
	if got := productStrings(a.Fixed); !slices.Equal(got, want) {
		t.Errorf("fixed %v, want %v", got, want)
	}
	if len(a.Remediations) != 2 || !slices.Contains(a.Remediations[0].Named, "HF-UCCE-1261-ES5") || !slices.Contains(a.Remediations[1].Named, "HF-UCCE-1251-ES9") {
		t.Fatalf("remediations %+v", a.Remediations)
	}
	a.LinkUpdates(func(id string) bool { return id == "HF-UCCE-1261-ES5" })
	if !slices.Equal(a.Updates, []string{"HF-UCCE-1261-ES5"}) || !slices.Equal(a.Remediations[0].UpdateIDs, []string{"HF-UCCE-1261-ES5"}) || a.Remediations[1].UpdateIDs != nil {
		t.Errorf("linked %v / %+v", a.Updates, a.Remediations)
	}
}

func TestParseWithoutMap(t *testing.T) {
	// Without the map, the Cisco and Siemens products (no CPE, no PURL)
	// stay unmapped, with the reason, and the advisory still imports.
	a, err := Parse(readTestdata(t, "ssa-412309.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Affected) != 0 || len(a.Unmapped) != 1 || !strings.Contains(a.Unmapped[0].Reason, "no CPE or PURL") {
		t.Errorf("affected %v unmapped %+v", a.Affected, a.Unmapped)
	}
	if a.Severity != patchgate.SeverityHigh { // from CVSS 7.5: no aggregate_severity
		t.Errorf("severity %s", a.Severity)
	}
}

func TestParseRedHat(t *testing.T) {
	a, err := Parse(readTestdata(t, "rhsa-2026_8123.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Fixed only, via a relationship to a PURL with an epoch: the
	// versions before the fix are affected.
	if got := productStrings(a.Fixed); !slices.Equal(got, []string{"openssl =1:3.0.7-27.el9_4"}) {
		t.Errorf("fixed %v", got)
	}
	if got := productStrings(a.Affected); !slices.Equal(got, []string{"openssl <1:3.0.7-27.el9_4"}) {
		t.Errorf("affected %v", got)
	}
	if a.Severity != patchgate.SeverityHigh { // "Important"
		t.Errorf("severity %s", a.Severity)
	}
	if !slices.Contains(a.Remediations[0].Named, "RHSA-2026:8123") {
		t.Errorf("named %v", a.Remediations[0].Named)
	}
}

func TestParseCISA(t *testing.T) {
	a, err := Parse(readTestdata(t, "icsa-26-310-01.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"examplecorp.plc_controller <=4.1", "examplecorp.plc_controller =4.2"}
	if got := productStrings(a.Affected); !slices.Equal(got, want) {
		t.Errorf("affected %v, want %v", got, want)
	}
	if len(a.CVEs) != 2 || a.Severity != patchgate.SeverityCritical {
		t.Errorf("cves %v severity %s", a.CVEs, a.Severity)
	}
}

func productStrings(ps []patchgate.AdvisoryProduct) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Product+" "+p.Versions)
	}
	return out
}

func TestParseLimits(t *testing.T) {
	big := append(readTestdata(t, "ssa-412309.json"), bytes.Repeat([]byte(" "), MaxDocumentBytes)...)
	_, err := Parse(big, nil)
	if patchgate.ErrorCode(err) != patchgate.CodeTooLarge {
		t.Errorf("oversized document: %v", err)
	}
	for _, tc := range []struct{ doc, field string }{
		{``, "/"},
		{`[]`, "/"},
		{`{"document":{}} x`, "/"},
		{`{"document":{}}`, "/document"},
	} {
		_, err := Parse([]byte(tc.doc), nil)
		var pe *patchgate.Error
		if !asError(err, &pe) || pe.Field != tc.field {
			t.Errorf("Parse(%q): %v, want field %s", tc.doc, err, tc.field)
		}
	}
	// An id patchgate cannot use in a URL path is refused by name.
	doc := strings.Replace(string(readTestdata(t, "ssa-412309.json")), `"id": "SSA-412309"`, `"id": "SSA 412309/x"`, 1)
	if _, err := Parse([]byte(doc), nil); err == nil || !strings.Contains(err.Error(), "/document/tracking/id") {
		t.Errorf("bad id: %v", err)
	}
}

func TestVersToConstraint(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"vers:generic/>=12.0|<12.6(2)", ">=12.0, <12.6(2)"},
		{"vers:intdot/<5.5.2", "<5.5.2"},
		{"vers:all/*", "*"},
		{"vers:generic/1.0|>=2.0|<2.5|>=3.0", "=1.0 || >=2.0, <2.5 || >=3.0"},
		{"vers:generic/>=1.0|!=1.2|<2.0", ">=1.0, <2.0, !=1.2"},
		{"<=4.1", "<=4.1"},
		{">=7.2(1), <8.0", ">=7.2(1), <8.0"},
	} {
		got, err := versToConstraint(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("versToConstraint(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"vers:generic/", "all versions", "vers:generic/>=1 0"} {
		if got, err := versToConstraint(bad); err == nil {
			t.Errorf("versToConstraint(%q) = %q, want an error", bad, got)
		}
	}
}

func TestIdentifiers(t *testing.T) {
	for _, tc := range []struct{ cpe, name, version string }{
		{"cpe:2.3:a:cisco:unified_contact_center_enterprise:12.6\\(1\\):*:*:*:*:*:*:*", "cisco.unified_contact_center_enterprise", "12.6(1)"},
		{"cpe:2.3:h:examplecorp:plc_controller:*:*:*:*:*:*:*:*", "examplecorp.plc_controller", ""},
		{"cpe:/a:redhat:enterprise_linux:9::appstream", "redhat.enterprise_linux", "9"},
		{"cpe:2.3:a:*:x:1", "", ""},
		{"nonsense", "", ""},
	} {
		n, v := cpeProduct(tc.cpe)
		if n != tc.name || v != tc.version {
			t.Errorf("cpeProduct(%q) = %q, %q", tc.cpe, n, v)
		}
	}
	for _, tc := range []struct{ purl, name, version string }{
		{"pkg:rpm/redhat/openssl@3.0.7-27.el9_4?arch=x86_64&epoch=1", "openssl", "1:3.0.7-27.el9_4"},
		{"pkg:deb/debian/OpenSSL@3.0.11-1~deb12u2?arch=amd64", "openssl", "3.0.11-1~deb12u2"},
		{"pkg:generic/acme%2Dtool", "acme-tool", ""},
		{"pkg:nothing", "", ""},
	} {
		n, v := purlProduct(tc.purl)
		if n != tc.name || v != tc.version {
			t.Errorf("purlProduct(%q) = %q, %q", tc.purl, n, v)
		}
	}
}

func TestParseProductMap(t *testing.T) {
	for _, tc := range []struct{ doc, field string }{
		{"products:\n  - name: X\n    product: Bad Name\n", "products[0].product"},
		{"products:\n  - product: x\n", "products[0]"},
		{"products:\n  - name: X\n    cpe: cpe:2.3:a\n    product: x\n", "products[0]"},
		{"products:\n  - name: X\n    product: x\n    versions: '>=1 2'\n", "products[0].versions"},
		{"products:\n  - name: X\n    product: x\n    colour: red\n", "map"},
	} {
		_, err := ParseProductMap([]byte(tc.doc))
		var pe *patchgate.Error
		if !asError(err, &pe) || pe.Field != tc.field {
			t.Errorf("ParseProductMap(%q): %v, want field %s", tc.doc, err, tc.field)
		}
	}
}

// FuzzParse feeds the parser arbitrary documents, seeded with the
// testdata advisories: it must never panic, must answer a
// *patchgate.Error naming a field when it refuses, and what it accepts
// must be an advisory patchgate can store.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(testdata + "*.json")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"document":{"csaf_version":"2.0"}}`))
	m, err := ParseProductMap(readTestdata(f, "map.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Parse(data, m)
		if err != nil {
			var pe *patchgate.Error
			if !asError(err, &pe) || pe.Field == "" || pe.Code == patchgate.CodeInternal {
				t.Fatalf("error %#v does not name a field", err)
			}
			return
		}
		if !patchgate.ValidAdvisoryID(a.ID) || a.CurrentReleaseDate.Before(a.InitialReleaseDate) {
			t.Fatalf("accepted id %q dates %v %v", a.ID, a.InitialReleaseDate, a.CurrentReleaseDate)
		}
		if a.Severity != "" && !a.Severity.Valid() {
			t.Fatalf("severity %q", a.Severity)
		}
		for _, p := range append(slices.Clone(a.Affected), a.Fixed...) {
			if !patchgate.ValidProductName(p.Product) {
				t.Fatalf("product %q", p.Product)
			}
			if _, err := patchgate.ParseConstraint(p.Versions); err != nil {
				t.Fatalf("versions %q: %v", p.Versions, err)
			}
		}
		if !utf8.ValidString(a.Title) {
			t.Fatalf("title not UTF-8")
		}
	})
}

// FuzzParseProductMap: a map file is refused with a field named, or is a
// valid map, and never takes long.
func FuzzParseProductMap(f *testing.F) {
	f.Add(readTestdata(f, "map.yaml"))
	f.Add([]byte("products:\n  - cpe: 'cpe:2.3:a:x:y:'\n    product: x.y\n    versions: '>=1, <2'\n"))
	f.Add([]byte("products: [{purl: 'pkg:deb/debian/openssl', product: openssl, version: 3.0.11}]"))
	f.Add([]byte("products:\n  - name: a\n    name: b\n    product: x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseProductMap(data)
		if err != nil {
			var pe *patchgate.Error
			if !asError(err, &pe) || pe.Field == "" {
				t.Fatalf("error %#v does not name a field", err)
			}
			return
		}
		if err := patchgate.ValidateProductMap(m); err != nil {
			t.Fatalf("accepted an invalid map: %v", err)
		}
	})
}

func TestProductMapManyKeys(t *testing.T) {
	var b strings.Builder
	b.WriteString("products:\n  - product: x\n")
	for range 20000 {
		b.WriteString("    name: a\n")
	}
	_, err := ParseProductMap([]byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "more than 16 keys") {
		t.Errorf("repeated keys: %v", err)
	}
}
