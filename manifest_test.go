package patchgate

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

var (
	sha1hex = strings.Repeat("0123456789abcdef", 4)
	sha2hex = strings.Repeat("fedcba9876543210", 4)
)

const exampleYAML = `# A hotfix for two products.
id: UCCE-7.2.1-ES12
title: Fix for call routing crash
description: |
  The router process crashes when a call variable is longer than 40 bytes.
  	Tabs are fine in descriptions.
kind: hotfix
severity: critical
products:
  - name: cisco.ucce
    versions: ">=7.2(1), <7.3"
  - name: cisco.cvp
cves: [CVE-2026-12345, CVE-2025-1234567]
release_date: 2026-02-03
supersedes: [UCCE-7.2.1-ES11, UCCE-7.2.1-ES10]
requires: [UCCE-7.2.1-SR1]
reboot: required
payloads:
  - name: ucce-es12.exe
    size: 1234
    sha256: ` + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + `
    installer: exec
    args: ["/quiet", "/norestart"]
  - name: cvp_es12+1.deb
    size: 99
    sha256: ` + "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210" + `
    installer: dpkg
`

const exampleJSON = `{
  "id": "openssl-3.0.13-1",
  "title": "OpenSSL security update",
  "kind": "security",
  "severity": "high",
  "products": [{"name": "openssl", "versions": "<3.0.13"}],
  "cves": ["CVE-2024-0727"],
  "release_date": "2024-01-30T10:00:00+02:00",
  "payloads": [
    {"name": "openssl_3.0.13-1_amd64.deb", "size": 2048, "sha256": "` + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + `", "installer": "dpkg"}
  ]
}`

func TestParseManifestYAMLExample(t *testing.T) {
	m, err := ParseManifest([]byte(exampleYAML))
	if err != nil {
		t.Fatalf("ParseManifest: %v", err)
	}
	u, err := m.Update()
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	want := Update{
		ID:          "UCCE-7.2.1-ES12",
		Title:       "Fix for call routing crash",
		Description: "The router process crashes when a call variable is longer than 40 bytes.\n\tTabs are fine in descriptions.\n",
		Kind:        KindHotfix,
		Severity:    SeverityCritical,
		Products:    []ProductConstraint{{Name: "cisco.ucce", Versions: ">=7.2(1), <7.3"}, {Name: "cisco.cvp"}},
		CVEs:        []string{"CVE-2026-12345", "CVE-2025-1234567"},
		ReleaseDate: time.Date(2026, 2, 3, 0, 0, 0, 0, time.UTC),
		Supersedes:  []string{"UCCE-7.2.1-ES11", "UCCE-7.2.1-ES10"},
		Requires:    []string{"UCCE-7.2.1-SR1"},
		Reboot:      RebootRequired,
		Payloads: []Payload{
			{Name: "ucce-es12.exe", Size: 1234, SHA256: sha1hex, Installer: InstallerExec, Args: []string{"/quiet", "/norestart"}},
			{Name: "cvp_es12+1.deb", Size: 99, SHA256: sha2hex, Installer: InstallerDpkg},
		},
	}
	if !reflect.DeepEqual(u, want) {
		t.Errorf("Update() =\n%+v\nwant\n%+v", u, want)
	}
}

func TestParseManifestJSONExample(t *testing.T) {
	m, err := ParseManifest([]byte(exampleJSON))
	if err != nil {
		t.Fatalf("ParseManifest: %v", err)
	}
	if m.Reboot != RebootMay {
		t.Errorf("Reboot = %q, want the default %q", m.Reboot, RebootMay)
	}
	u, err := m.Update()
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	want := Update{
		ID: "openssl-3.0.13-1", Title: "OpenSSL security update", Kind: KindSecurity, Severity: SeverityHigh,
		Products:    []ProductConstraint{{Name: "openssl", Versions: "<3.0.13"}},
		CVEs:        []string{"CVE-2024-0727"},
		ReleaseDate: time.Date(2024, 1, 30, 8, 0, 0, 0, time.UTC),
		Reboot:      RebootMay,
		Payloads:    []Payload{{Name: "openssl_3.0.13-1_amd64.deb", Size: 2048, SHA256: sha1hex, Installer: InstallerDpkg}},
	}
	if !reflect.DeepEqual(u, want) {
		t.Errorf("Update() =\n%+v\nwant\n%+v", u, want)
	}
	if u.ReleaseDate.Location() != time.UTC {
		t.Errorf("ReleaseDate location = %v, want UTC", u.ReleaseDate.Location())
	}
}

// TestParseManifestYAMLAndJSONAgree: the same document in both syntaxes
// gives the same manifest.
func TestParseManifestYAMLAndJSONAgree(t *testing.T) {
	fromYAML, err := ParseManifest([]byte(exampleYAML))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(fromYAML, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := ParseManifest(b)
	if err != nil {
		t.Fatalf("re-parsing %s: %v", b, err)
	}
	if !equalManifests(fromYAML, fromJSON) {
		t.Errorf("YAML and JSON differ:\n%+v\n%+v", fromYAML, fromJSON)
	}
}

// baseManifest is a valid manifest as a generic document, to be broken one
// field at a time and encoded as YAML and JSON.
func baseManifest() map[string]any {
	return map[string]any{
		"id":       "HF-1",
		"title":    "A fix",
		"kind":     "hotfix",
		"severity": "high",
		"products": []any{map[string]any{"name": "app", "versions": ">=1.0"}},
		"payloads": []any{map[string]any{"name": "fix.bin", "installer": "exec", "sha256": sha1hex, "size": 10}},
	}
}

func payload0(m map[string]any) map[string]any {
	return m["payloads"].([]any)[0].(map[string]any)
}

func manyStrings(n int, f func(i int) string) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

func TestParseManifestInvalid(t *testing.T) {
	tests := []struct {
		name   string
		mod    func(m map[string]any)
		field  string
		substr []string // the message mentions these
	}{
		{"unknown field", func(m map[string]any) { m["colour"] = "red" }, "colour", []string{"unknown field"}},
		{"unknown payload field", func(m map[string]any) { payload0(m)["checksum"] = "x" }, "checksum", []string{"unknown field"}},
		{"missing id", func(m map[string]any) { delete(m, "id") }, "id", []string{"required"}},
		{"empty id", func(m map[string]any) { m["id"] = "" }, "id", []string{"required"}},
		{"id with a space", func(m map[string]any) { m["id"] = "HF 1" }, "id", nil},
		{"id with a slash", func(m map[string]any) { m["id"] = "HF/1" }, "id", nil},
		{"id starting with a dot", func(m map[string]any) { m["id"] = ".HF" }, "id", nil},
		{"id too long", func(m map[string]any) { m["id"] = strings.Repeat("a", 129) }, "id", nil},
		{"missing title", func(m map[string]any) { delete(m, "title") }, "title", []string{"required"}},
		{"blank title", func(m map[string]any) { m["title"] = "   " }, "title", []string{"required"}},
		{"title with a newline", func(m map[string]any) { m["title"] = "a\nb" }, "title", []string{"control"}},
		{"title with DEL", func(m map[string]any) { m["title"] = "a\x7fb" }, "title", []string{"control"}},
		{"title too long", func(m map[string]any) { m["title"] = strings.Repeat("t", MaxTitleLen+1) }, "title", nil},
		{"description with NUL", func(m map[string]any) { m["description"] = "a\x00b" }, "description", []string{"control"}},
		{"description with escape", func(m map[string]any) { m["description"] = "a\x1b[31mred" }, "description", []string{"control"}},
		{"description too long", func(m map[string]any) { m["description"] = strings.Repeat("d", MaxDescriptionLen+1) }, "description", nil},
		{"missing kind", func(m map[string]any) { delete(m, "kind") }, "kind", []string{"hotfix", "service-release", "definition"}},
		{"bad kind", func(m map[string]any) { m["kind"] = "bugfix" }, "kind",
			[]string{"bugfix", "hotfix", "security", "critical", "service-release", "feature", "definition"}},
		{"kind in capitals", func(m map[string]any) { m["kind"] = "Hotfix" }, "kind", nil},
		{"bad severity", func(m map[string]any) { m["severity"] = "urgent" }, "severity", []string{"urgent", "critical", "high", "medium", "low"}},
		{"missing severity", func(m map[string]any) { delete(m, "severity") }, "severity", nil},
		{"no products", func(m map[string]any) { m["products"] = []any{} }, "products", []string{"at least one"}},
		{"missing products", func(m map[string]any) { delete(m, "products") }, "products", nil},
		{"bad product name", func(m map[string]any) { m["products"] = []any{map[string]any{"name": "Cisco UCCE"}} }, "products[0].name", []string{"Cisco UCCE"}},
		{"second product name bad", func(m map[string]any) {
			m["products"] = []any{map[string]any{"name": "app"}, map[string]any{"name": "../etc"}}
		}, "products[1].name", nil},
		{"empty product name", func(m map[string]any) { m["products"] = []any{map[string]any{"versions": "1.0"}} }, "products[0].name", nil},
		{"bad constraint", func(m map[string]any) { m["products"] = []any{map[string]any{"name": "app", "versions": ">="}} }, "products[0].versions", nil},
		{"constraint without comma", func(m map[string]any) {
			m["products"] = []any{map[string]any{"name": "app", "versions": ">=1.0 <2.0"}}
		}, "products[0].versions", nil},
		{"too many products", func(m map[string]any) {
			ps := make([]any, MaxListLen+1)
			for i := range ps {
				ps[i] = map[string]any{"name": fmt.Sprintf("p%d", i)}
			}
			m["products"] = ps
		}, "products", nil},
		{"bad CVE", func(m map[string]any) { m["cves"] = []any{"CVE-26-1"} }, "cves[0]", []string{"CVE-26-1"}},
		{"lowercase CVE", func(m map[string]any) { m["cves"] = []any{"CVE-2026-12345", "cve-2026-12345"} }, "cves[1]", nil},
		{"CVE with 8 digits", func(m map[string]any) { m["cves"] = []any{"CVE-2026-12345678"} }, "cves[0]", nil},
		{"CVE with 3 digits", func(m map[string]any) { m["cves"] = []any{"CVE-2026-123"} }, "cves[0]", nil},
		{"too many CVEs", func(m map[string]any) {
			m["cves"] = manyStrings(MaxListLen+1, func(i int) string { return fmt.Sprintf("CVE-2026-%05d", i) })
		}, "cves", nil},
		{"release date not a date", func(m map[string]any) { m["release_date"] = "03/02/2026" }, "release_date", []string{"03/02/2026"}},
		{"release date month 13", func(m map[string]any) { m["release_date"] = "2026-13-01" }, "release_date", nil},
		{"release date without zone", func(m map[string]any) { m["release_date"] = "2026-02-03T10:00:00" }, "release_date", nil},
		{"supersedes itself", func(m map[string]any) { m["supersedes"] = []any{"HF-0", "HF-1"} }, "supersedes[1]", []string{"itself"}},
		{"requires itself", func(m map[string]any) { m["requires"] = []any{"HF-1"} }, "requires[0]", []string{"itself"}},
		{"duplicate supersedes", func(m map[string]any) { m["supersedes"] = []any{"HF-0", "HF-0"} }, "supersedes[1]", []string{"duplicate"}},
		{"bad id in supersedes", func(m map[string]any) { m["supersedes"] = []any{"a b"} }, "supersedes[0]", nil},
		{"bad id in requires", func(m map[string]any) { m["requires"] = []any{"SR-1", ""} }, "requires[1]", nil},
		{"requires what it supersedes", func(m map[string]any) {
			m["supersedes"] = []any{"HF-0"}
			m["requires"] = []any{"SR-1", "HF-0"}
		}, "requires[1]", []string{"HF-0"}},
		{"too many supersedes", func(m map[string]any) {
			m["supersedes"] = manyStrings(MaxListLen+1, func(i int) string { return fmt.Sprintf("HF-X%d", i) })
		}, "supersedes", nil},
		{"bad reboot", func(m map[string]any) { m["reboot"] = "sometimes" }, "reboot", []string{"sometimes"}},
		{"no payloads", func(m map[string]any) { m["payloads"] = []any{} }, "payloads", []string{"at least one"}},
		{"missing payloads", func(m map[string]any) { delete(m, "payloads") }, "payloads", nil},
		{"too many payloads", func(m map[string]any) {
			ps := make([]any, MaxPayloads+1)
			for i := range ps {
				ps[i] = map[string]any{"name": fmt.Sprintf("f%d", i), "installer": "exec"}
			}
			m["payloads"] = ps
		}, "payloads", nil},
		{"duplicate payload name", func(m map[string]any) {
			m["payloads"] = []any{
				map[string]any{"name": "a.bin", "installer": "exec"},
				map[string]any{"name": "b.bin", "installer": "exec"},
				map[string]any{"name": "a.bin", "installer": "dpkg"},
			}
		}, "payloads[2].name", []string{"duplicate"}},
		{"installer powershell", func(m map[string]any) { payload0(m)["installer"] = "powershell" }, "payloads[0].installer",
			[]string{"powershell", "exec", "dpkg"}},
		{"missing installer", func(m map[string]any) { delete(payload0(m), "installer") }, "payloads[0].installer", nil},
		{"installer in capitals", func(m map[string]any) { payload0(m)["installer"] = "EXEC" }, "payloads[0].installer", nil},
		{"uppercase sha256", func(m map[string]any) { payload0(m)["sha256"] = strings.ToUpper(sha1hex) }, "payloads[0].sha256", nil},
		{"short sha256", func(m map[string]any) { payload0(m)["sha256"] = sha1hex[:63] }, "payloads[0].sha256", nil},
		{"long sha256", func(m map[string]any) { payload0(m)["sha256"] = sha1hex + "0" }, "payloads[0].sha256", nil},
		{"non-hex sha256", func(m map[string]any) { payload0(m)["sha256"] = "g" + sha1hex[1:] }, "payloads[0].sha256", nil},
		{"negative size", func(m map[string]any) { payload0(m)["size"] = -1 }, "payloads[0].size", nil},
		{"too many args", func(m map[string]any) {
			payload0(m)["args"] = manyStrings(MaxArgs+1, func(i int) string { return "-v" })
		}, "payloads[0].args", nil},
		{"arg with NUL", func(m map[string]any) { payload0(m)["args"] = []any{"ok", "a\x00b"} }, "payloads[0].args[1]", nil},
		{"arg too long", func(m map[string]any) { payload0(m)["args"] = []any{strings.Repeat("x", MaxArgLen+1)} }, "payloads[0].args[0]", nil},
	}
	for _, name := range []string{"../x", "/etc/passwd", "a/b", ".hidden", "..", ".", "a..b", "", "a b", `a\b`, "-rf", "x\x00", "ok/", strings.Repeat("n", 129), "ü.bin"} {
		tests = append(tests, struct {
			name   string
			mod    func(m map[string]any)
			field  string
			substr []string
		}{"payload name " + fmt.Sprintf("%q", name), func(m map[string]any) { payload0(m)["name"] = name }, "payloads[0].name", nil})
	}
	for _, tc := range tests {
		m := baseManifest()
		tc.mod(m)
		jsonDoc, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		yamlDoc, err := yaml.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range []struct {
			syntax string
			data   []byte
		}{{"JSON", jsonDoc}, {"YAML", yamlDoc}} {
			t.Run(doc.syntax+"/"+tc.name, func(t *testing.T) {
				_, err := ParseManifest(doc.data)
				e := asError(t, err)
				if e.Code != CodeInvalid {
					t.Errorf("code = %q, want %q", e.Code, CodeInvalid)
				}
				if e.Field != tc.field {
					t.Errorf("field = %q, want %q (error: %v)", e.Field, tc.field, err)
				}
				for _, s := range tc.substr {
					if !strings.Contains(e.Message, s) {
						t.Errorf("message %q does not mention %q", e.Message, s)
					}
				}
			})
		}
	}
}

// asError fails unless err is a *Error and returns it.
func asError(t *testing.T, err error) *Error {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *patchgate.Error", err, err)
	}
	return e
}

func TestParseManifestBaseIsValid(t *testing.T) {
	// The invalid cases above break a valid document; check it is valid.
	m := baseManifest()
	j, _ := json.Marshal(m)
	y, _ := yaml.Marshal(m)
	for _, doc := range [][]byte{j, y} {
		if _, err := ParseManifest(doc); err != nil {
			t.Errorf("base manifest %s: %v", doc, err)
		}
	}
}

func TestParseManifestValidEdgeCases(t *testing.T) {
	tests := []struct {
		name string
		mod  func(m map[string]any)
	}{
		{"no sha256 or size yet", func(m map[string]any) { delete(payload0(m), "sha256"); delete(payload0(m), "size") }},
		{"RFC 3339 release date", func(m map[string]any) { m["release_date"] = "2026-02-03T10:00:00Z" }},
		{"release date with offset", func(m map[string]any) { m["release_date"] = "2026-02-03T10:00:00-05:00" }},
		{"multi-line description", func(m map[string]any) { m["description"] = "line 1\r\nline 2\n\tindented" }},
		{"unicode title", func(m map[string]any) { m["title"] = "Correctif de sécurité — 日本語" }},
		{"title of max length", func(m map[string]any) { m["title"] = strings.Repeat("t", MaxTitleLen) }},
		{"id with every allowed character", func(m map[string]any) { m["id"] = "Ab0._:+-z" }},
		{"id of max length", func(m map[string]any) { m["id"] = strings.Repeat("a", 128) }},
		{"payload name of max length", func(m map[string]any) { payload0(m)["name"] = strings.Repeat("n", 128) }},
		{"every kind", nil},
		{"reboot never", func(m map[string]any) { m["reboot"] = "never" }},
		{"wildcard versions", func(m map[string]any) { m["products"] = []any{map[string]any{"name": "app", "versions": "*"}} }},
		{"max args", func(m map[string]any) {
			payload0(m)["args"] = manyStrings(MaxArgs, func(i int) string { return strings.Repeat("a", MaxArgLen) })
		}},
		{"max payloads", func(m map[string]any) {
			ps := make([]any, MaxPayloads)
			for i := range ps {
				ps[i] = map[string]any{"name": fmt.Sprintf("f%d", i), "installer": "dpkg"}
			}
			m["payloads"] = ps
		}},
	}
	for _, tc := range tests {
		kinds := []Kind{KindHotfix}
		if tc.mod == nil {
			kinds = Kinds
		}
		for _, k := range kinds {
			m := baseManifest()
			m["kind"] = string(k)
			if tc.mod != nil {
				tc.mod(m)
			}
			j, _ := json.Marshal(m)
			y, _ := yaml.Marshal(m)
			for _, doc := range [][]byte{j, y} {
				if _, err := ParseManifest(doc); err != nil {
					t.Errorf("%s (kind %s): %v\n%s", tc.name, k, err, doc)
				}
			}
		}
	}
}

func TestParseManifestDocumentErrors(t *testing.T) {
	valid := []byte(exampleJSON)
	tests := []struct {
		name  string
		data  []byte
		code  Code
		field string
		msg   string
	}{
		{"empty", nil, CodeInvalid, "manifest", "empty"},
		{"only whitespace", []byte(" \n\t "), CodeInvalid, "manifest", "empty"},
		{"oversized", append([]byte("# padding\n"), make([]byte, MaxManifestBytes)...), CodeTooLarge, "manifest", ""},
		{"oversized by one byte of whitespace", append(append([]byte{}, valid...), []byte(strings.Repeat(" ", MaxManifestBytes+1-len(valid)))...), CodeTooLarge, "manifest", ""},
		{"two YAML documents", []byte(exampleYAML + "---\n" + exampleYAML), CodeInvalid, "manifest", "more than one YAML document"},
		{"YAML document then garbage", []byte(exampleYAML + "---\nfoo\n"), CodeInvalid, "manifest", "more than one"},
		{"YAML syntax error", []byte("id: [\n"), CodeInvalid, "manifest", ""},
		{"YAML list", []byte("- a\n- b\n"), CodeInvalid, "manifest", ""},
		{"YAML wrong type", []byte(strings.Replace(exampleYAML, "size: 1234", "size: big", 1)), CodeInvalid, "manifest", "big"},
		{"malformed JSON", []byte(`{"id": "x",}`), CodeInvalid, "manifest", "malformed JSON"},
		{"truncated JSON", valid[:len(valid)/2], CodeInvalid, "manifest", ""},
		{"JSON wrong type", []byte(`{"id": 12}`), CodeInvalid, "id", "string"},
		{"JSON wrong nested type", []byte(`{"payloads": [{"size": "big"}]}`), CodeInvalid, "payloads.size", "int64"},
		{"two JSON objects", append(append([]byte{}, valid...), valid...), CodeInvalid, "manifest", "after the JSON object"},
		{"JSON then garbage", append(append([]byte{}, valid...), " x"...), CodeInvalid, "manifest", ""},
		{"JSON then closing bracket", append(append([]byte{}, valid...), ']'), CodeInvalid, "manifest", ""},
		{"JSON then closing brace", append(append([]byte{}, valid...), '}'), CodeInvalid, "manifest", ""},
		{"JSON null", []byte(`null`), CodeInvalid, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseManifest(tc.data)
			e := asError(t, err)
			if e.Code != tc.code {
				t.Errorf("code = %q, want %q (%v)", e.Code, tc.code, err)
			}
			if tc.field != "" && e.Field != tc.field {
				t.Errorf("field = %q, want %q (%v)", e.Field, tc.field, err)
			}
			if !strings.Contains(e.Message, tc.msg) {
				t.Errorf("message %q does not mention %q", e.Message, tc.msg)
			}
		})
	}
}

func TestParseManifestSizeLimit(t *testing.T) {
	// Exactly MaxManifestBytes is accepted, whitespace included.
	doc := []byte(exampleJSON)
	doc = append(doc, strings.Repeat("\n", MaxManifestBytes-len(doc))...)
	if len(doc) != MaxManifestBytes {
		t.Fatalf("doc has %d bytes", len(doc))
	}
	if _, err := ParseManifest(doc); err != nil {
		t.Errorf("manifest of exactly %d bytes: %v", MaxManifestBytes, err)
	}
	_, err := ParseManifest(append(doc, '\n'))
	if e := asError(t, err); e.Code != CodeTooLarge {
		t.Errorf("manifest of %d bytes: %v", MaxManifestBytes+1, err)
	}
}

func TestParseManifestDefaultsReboot(t *testing.T) {
	m, err := ParseManifest([]byte(strings.Replace(exampleYAML, "reboot: required\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if m.Reboot != RebootMay {
		t.Errorf("Reboot = %q, want %q", m.Reboot, RebootMay)
	}
}

func TestManifestUpdateRequiresSHA256(t *testing.T) {
	doc := strings.Replace(exampleYAML, "    sha256: "+sha2hex+"\n", "", 1)
	m, err := ParseManifest([]byte(doc))
	if err != nil {
		t.Fatalf("a manifest without sha256 parses (the CLI fills it in): %v", err)
	}
	_, err = m.Update()
	e := asError(t, err)
	if e.Field != "payloads[1].sha256" || e.Code != CodeInvalid {
		t.Errorf("Update() error = %#v, want invalid payloads[1].sha256", e)
	}
	// Once filled in, it converts.
	m.Payloads[1].SHA256 = sha2hex
	if _, err := m.Update(); err != nil {
		t.Errorf("Update() after filling in sha256: %v", err)
	}
}

func TestManifestUpdateValidates(t *testing.T) {
	m := Manifest{ID: "HF-1", Title: "t", Kind: "nope", Severity: SeverityLow,
		Products: []ProductConstraint{{Name: "app"}}, Payloads: []ManifestPayload{{Name: "a", SHA256: sha1hex, Installer: InstallerExec}}}
	_, err := m.Update()
	if e := asError(t, err); e.Field != "kind" {
		t.Errorf("Update() of an invalid manifest: %v, want a kind error", err)
	}
	m.Kind = KindFeature
	u, err := m.Update()
	if err != nil {
		t.Fatal(err)
	}
	if u.Reboot != RebootMay || !u.ReleaseDate.IsZero() || u.Revision != 0 {
		t.Errorf("Update() = %+v: want default reboot, no release date, revision 0", u)
	}
}

func TestValidPayloadName(t *testing.T) {
	for _, s := range []string{"a", "fix.bin", "openssl_3.0.13-1_amd64.deb", "A+B", "0"} {
		if !ValidPayloadName(s) {
			t.Errorf("ValidPayloadName(%q) = false", s)
		}
	}
	for _, s := range []string{"", ".", "..", "../x", "x/..", "/x", "a/b", `a\b`, ".hidden", "a..b", "-x", "a b", "a:b", "a\x00"} {
		if ValidPayloadName(s) {
			t.Errorf("ValidPayloadName(%q) = true", s)
		}
	}
}

func TestValidUpdateID(t *testing.T) {
	for _, s := range []string{"A", "HF-1", "UCCE-7.2.1-ES12", "pkg:deb.openssl+1.0_2", "0"} {
		if !ValidUpdateID(s) {
			t.Errorf("ValidUpdateID(%q) = false", s)
		}
	}
	for _, s := range []string{"", "-A", ".A", "A B", "A/B", "A\n", strings.Repeat("a", 129), "é"} {
		if ValidUpdateID(s) {
			t.Errorf("ValidUpdateID(%q) = true", s)
		}
	}
}

func TestSeverityRankAndKinds(t *testing.T) {
	want := map[Severity]int{SeverityCritical: 4, SeverityHigh: 3, SeverityMedium: 2, SeverityLow: 1, "": 0, "Critical": 0, "urgent": 0}
	for s, r := range want {
		if got := s.Rank(); got != r {
			t.Errorf("%q.Rank() = %d, want %d", s, got, r)
		}
		if s.Valid() != (r > 0) {
			t.Errorf("%q.Valid() = %v", s, s.Valid())
		}
	}
	for _, k := range Kinds {
		if !k.Valid() {
			t.Errorf("%q.Valid() = false", k)
		}
	}
	for _, k := range []Kind{"", "Hotfix", "sr"} {
		if k.Valid() {
			t.Errorf("%q.Valid() = true", k)
		}
	}
	for _, i := range []InstallerType{"", "msi", "powershell", "sh", "EXEC"} {
		if i.Valid() {
			t.Errorf("installer %q.Valid() = true", i)
		}
	}
}

func TestErrorFormatting(t *testing.T) {
	cause := errors.New("disk on fire")
	tests := []struct {
		err  error
		want string
		code Code
	}{
		{Invalid("title", "is %s", "required"), "title: is required", CodeInvalid},
		{Errorf(CodeConflict, "already %d", 2), "already 2", CodeConflict},
		{NotFound("update %q", "A"), `update "A"`, CodeNotFound},
		{Internal(cause, "saving"), "saving: disk on fire", CodeInternal},
		{&Error{Code: CodeInvalid, Message: "bad", Err: cause}, "bad", CodeInvalid}, // cause not shown
		{fmt.Errorf("wrapped: %w", Invalid("x", "y")), "wrapped: x: y", CodeInvalid},
		{cause, "disk on fire", CodeInternal},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
		if got := ErrorCode(tc.err); got != tc.code {
			t.Errorf("ErrorCode(%v) = %q, want %q", tc.err, got, tc.code)
		}
	}
	if !errors.Is(Internal(cause, "x"), cause) {
		t.Error("Internal does not unwrap to its cause")
	}
	if !IsNotFound(fmt.Errorf("ctx: %w", NotFound("x"))) || IsNotFound(nil) || IsNotFound(cause) {
		t.Error("IsNotFound misclassifies")
	}
}

// equalManifests compares manifests, treating nil and empty lists alike
// (JSON omits empty lists).
func equalManifests(a, b Manifest) bool {
	return reflect.DeepEqual(normManifest(a), normManifest(b))
}

func normManifest(m Manifest) Manifest {
	nilIfEmpty := func(s []string) []string {
		if len(s) == 0 {
			return nil
		}
		return s
	}
	m.CVEs = nilIfEmpty(m.CVEs)
	m.Supersedes = nilIfEmpty(m.Supersedes)
	m.Requires = nilIfEmpty(m.Requires)
	if len(m.Products) == 0 {
		m.Products = nil
	}
	ps := make([]ManifestPayload, len(m.Payloads))
	for i, p := range m.Payloads {
		p.Args = nilIfEmpty(p.Args)
		ps[i] = p
	}
	if len(ps) == 0 {
		ps = nil
	}
	m.Payloads = ps
	return m
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(exampleYAML))
	f.Add([]byte(exampleJSON))
	j, _ := json.Marshal(baseManifest())
	f.Add(j)
	y, _ := yaml.Marshal(baseManifest())
	f.Add(y)
	f.Add([]byte("id: A\ntitle: t\nkind: hotfix\nseverity: low\nproducts: [{name: x, versions: '>=1 || <0.5'}]\npayloads: [{name: a, installer: exec, args: []}]\nreboot: never\n"))
	f.Add([]byte(`{"id":"A","title":"t","kind":"feature","severity":"medium","products":[{"name":"x"}],"payloads":[{"name":"a","installer":"dpkg"}],"cves":[]}`))
	f.Add([]byte("a: &a [1,2]\nb: *a\n"))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte(`{"id":"A"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not a *patchgate.Error", err, err)
			}
			if e.Code != CodeInvalid && e.Code != CodeTooLarge {
				t.Fatalf("error code %q for %v", e.Code, err)
			}
			if e.Field == "" {
				t.Fatalf("error names no field: %v", err)
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("parsed manifest does not validate: %v", err)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		m2, err := ParseManifest(b)
		if err != nil {
			t.Fatalf("re-parsing %s: %v", b, err)
		}
		if !equalManifests(m, m2) {
			t.Fatalf("round trip changed the manifest:\n%#v\n%#v", m, m2)
		}
		// Update either succeeds or asks for a missing sha256.
		u, err := m.Update()
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !strings.HasSuffix(e.Field, ".sha256") {
				t.Fatalf("Update: %v", err)
			}
			return
		}
		if u.ID != m.ID || len(u.Payloads) != len(m.Payloads) || u.Reboot == "" {
			t.Fatalf("Update() = %+v from %+v", u, m)
		}
	})
}

// TestParseManifestHugeYAMLMapping: the YAML decoder compares the keys of a
// mapping pairwise and formats an error for each duplicate pair (again for
// every alias of the mapping), so a manifest of a few thousand repeated
// keys used to take minutes and gigabytes. It must be refused quickly, in
// either document.
func TestParseManifestHugeYAMLMapping(t *testing.T) {
	const n = 50000
	first := strings.Repeat("id: a\n", n)
	var distinct strings.Builder
	for i := range n {
		fmt.Fprintf(&distinct, "k%d: a\n", i)
	}
	nested := "id: A\nproducts:\n  - name: x\n" + strings.Repeat("    name: x\n", n)
	docs := map[string]string{
		"duplicate keys":            first,
		"duplicate keys, 2nd doc":   exampleYAML + "---\n" + first,
		"distinct keys":             distinct.String(),
		"duplicate keys, nested":    nested,
		"flow mapping":              "{" + strings.Repeat("id: a, ", n) + "}",
		"duplicate keys, 2nd of 3":  "id: A\n---\n" + first + "---\nid: C\n",
		"flow mapping in a product": "id: A\nproducts: [{" + strings.Repeat("name: x, ", n) + "}]\n",
		// Each alias is decoded again, with its duplicate pairs.
		"aliased duplicate keys": "id: A\ntitle: t\nkind: hotfix\nseverity: low\nproducts: [&a {" + strings.Repeat("name: x, ", 64) + "}" + strings.Repeat(", *a", n) + "]\n",
		"aliased, 2nd doc":       "id: A\n---\na: &a {" + strings.Repeat("name: x, ", 64) + "}\nb: [" + strings.Repeat("*a, ", n) + "]\n",
	}
	for name, doc := range docs {
		if len(doc) > MaxManifestBytes {
			t.Fatalf("%s: test document too large (%d bytes)", name, len(doc))
		}
		done := make(chan error, 1)
		go func() { _, err := ParseManifest([]byte(doc)); done <- err }()
		select {
		case err := <-done:
			if e := asError(t, err); e.Code != CodeInvalid || e.Field != "manifest" {
				t.Errorf("%s: error = %#v, want invalid manifest", name, e)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: ParseManifest takes more than 10s on a %d-byte manifest", name, len(doc))
		}
	}
}
