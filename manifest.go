package patchgate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// Manifest limits.
const (
	MaxManifestBytes  = 1 << 20
	MaxPayloads       = 64
	MaxArgs           = 64
	MaxArgLen         = 1024
	MaxTitleLen       = 200
	MaxDescriptionLen = 64 << 10
	MaxListLen        = 256
)

// Manifest is the document a publisher writes to describe an update
// (`patchgate update add MANIFEST`), in YAML or JSON.
type Manifest struct {
	ID          string              `json:"id" yaml:"id"`
	Title       string              `json:"title" yaml:"title"`
	Description string              `json:"description,omitempty" yaml:"description"`
	Kind        Kind                `json:"kind" yaml:"kind"`
	Severity    Severity            `json:"severity" yaml:"severity"`
	Products    []ProductConstraint `json:"products" yaml:"products"`
	CVEs        []string            `json:"cves,omitempty" yaml:"cves"`
	ReleaseDate string              `json:"release_date,omitempty" yaml:"release_date"`
	Supersedes  []string            `json:"supersedes,omitempty" yaml:"supersedes"`
	Requires    []string            `json:"requires,omitempty" yaml:"requires"`
	Reboot      Reboot              `json:"reboot,omitempty" yaml:"reboot"`
	Payloads    []ManifestPayload   `json:"payloads" yaml:"payloads"`
	// Advisories names the security advisories the update fixes.
	Advisories []string `json:"advisories,omitempty" yaml:"advisories"`
}

// ManifestPayload describes one payload file. Size and SHA256 may be left
// out in the file: the CLI fills them in from the payload it uploads, and
// the server refuses a payload whose content does not match.
type ManifestPayload struct {
	Name      string        `json:"name" yaml:"name"`
	Size      int64         `json:"size,omitempty" yaml:"size"`
	SHA256    string        `json:"sha256,omitempty" yaml:"sha256"`
	Installer InstallerType `json:"installer" yaml:"installer"`
	Args      []string      `json:"args,omitempty" yaml:"args"`
}

var (
	updateIDPattern    = MustBoundedPattern(`^[A-Za-z0-9][A-Za-z0-9._:+-]*$`, 1, 128)
	cvePattern         = MustBoundedPattern(`^CVE-[0-9][0-9][0-9][0-9]-[0-9][0-9][0-9][0-9]+$`, 13, 16)
	payloadNamePattern = MustBoundedPattern(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`, 1, 128)
	sha256Pattern      = MustBoundedPattern(`^[0-9a-f]+$`, 64, 64)
)

// ValidUpdateID reports whether s can be an update id.
func ValidUpdateID(s string) bool { return updateIDPattern.MatchString(s) }

// ValidPayloadName reports whether s is a safe payload file name: it cannot
// name a directory or escape the staging directory.
func ValidPayloadName(s string) bool {
	return payloadNamePattern.MatchString(s) && path.Base(s) == s && !strings.Contains(s, "..")
}

// ParseManifest decodes a manifest (JSON if it starts with '{', else
// YAML), refusing unknown fields, and validates it.
func ParseManifest(data []byte) (Manifest, error) {
	var m Manifest
	if len(data) > MaxManifestBytes {
		return m, &Error{Code: CodeTooLarge, Field: "manifest", Message: fmt.Sprintf("larger than %d bytes", MaxManifestBytes)}
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return m, Invalid("manifest", "is empty")
	}
	if trimmed[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			return m, manifestJSONError(err)
		}
		// More is false before a stray ']' or '}': ask for the next token.
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return m, Invalid("manifest", "unexpected data after the JSON object")
		}
	} else {
		if err := checkYAMLMappings(trimmed); err != nil {
			return m, err
		}
		dec := yaml.NewDecoder(bytes.NewReader(trimmed))
		dec.KnownFields(true)
		if err := dec.Decode(&m); err != nil {
			return m, manifestYAMLError(err)
		}
		var extra any
		if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
			return m, Invalid("manifest", "holds more than one YAML document")
		}
	}
	err := m.Validate() // fills defaults: call before returning m
	return m, err
}

func manifestJSONError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return Invalid("manifest", "malformed JSON at byte %d: %v", se.Offset, err)
	case errors.As(err, &te):
		return Invalid(te.Field, "expected %s, got JSON %s", te.Type, te.Value)
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if name := strings.Trim(f, `"`); name != "" {
			return Invalid(name, "unknown field")
		}
		return Invalid("manifest", "unknown field %s", f)
	}
	return Invalid("manifest", "%v", err)
}

// maxYAMLMappingKeys bounds the keys of any mapping in a YAML manifest (a
// manifest has 13 fields, a payload 5).
const maxYAMLMappingKeys = 64

// checkYAMLMappings refuses mappings larger than a manifest can have, and
// duplicate keys, before the YAML decoder sees them: it compares the keys
// of a mapping pairwise and formats an error for each duplicate pair, once
// per alias of the mapping, so a few thousand repeated keys would take
// minutes and gigabytes. Parsing into yaml.Node skips that check. Only the
// first two documents are looked at: ParseManifest decodes no more.
func checkYAMLMappings(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for range 2 {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			return nil // end of input, or a syntax error the real decode reports
		}
		if err := checkYAMLMapping(&doc); err != nil {
			return err
		}
	}
	return nil
}

func checkYAMLMapping(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		if len(n.Content) > 2*maxYAMLMappingKeys {
			return Invalid("manifest", "line %d: mapping with more than %d keys", n.Line, maxYAMLMappingKeys)
		}
		seen := make(map[[2]string]int, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			key := [2]string{fmt.Sprint(k.Kind), k.Value}
			if line, dup := seen[key]; dup {
				return Invalid("manifest", "line %d: mapping key %q already defined at line %d", k.Line, k.Value, line)
			}
			seen[key] = k.Line
		}
	}
	for _, c := range n.Content {
		if err := checkYAMLMapping(c); err != nil {
			return err
		}
	}
	return nil
}

var yamlUnknownField = regexp.MustCompile(`^line ([0-9]+): field (.+) not found in type \S+$`)

// manifestYAMLError names the unknown field, as manifestJSONError does.
func manifestYAMLError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		if f := yamlUnknownField.FindStringSubmatch(te.Errors[0]); f != nil {
			return Invalid(f[2], "unknown field (line %s)", f[1])
		}
	}
	return Invalid("manifest", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
}

func validText(field, s string, max int, multiline bool) error {
	if len(s) > max {
		return Invalid(field, "longer than %d bytes", max)
	}
	for _, r := range s {
		if r == 0x7f || (r < 0x20 && !(multiline && (r == '\n' || r == '\t' || r == '\r'))) {
			return Invalid(field, "contains a control character")
		}
	}
	return nil
}

func validIDList(field string, ids []string, self string) error {
	if len(ids) > MaxListLen {
		return Invalid(field, "more than %d entries", MaxListLen)
	}
	seen := map[string]bool{}
	for i, id := range ids {
		f := fmt.Sprintf("%s[%d]", field, i)
		if !ValidUpdateID(id) {
			return Invalid(f, "invalid update id %q", id)
		}
		if id == self {
			return Invalid(f, "an update cannot name itself")
		}
		if seen[id] {
			return Invalid(f, "duplicate %q", id)
		}
		seen[id] = true
	}
	return nil
}

// Validate checks every field and names the first wrong one.
func (m *Manifest) Validate() error {
	if m.ID == "" {
		return Invalid("id", "is required")
	}
	if !ValidUpdateID(m.ID) {
		return Invalid("id", "%q: use letters, digits and . _ : + - (at most 128)", m.ID)
	}
	if strings.TrimSpace(m.Title) == "" {
		return Invalid("title", "is required")
	}
	if err := validText("title", m.Title, MaxTitleLen, false); err != nil {
		return err
	}
	if err := validText("description", m.Description, MaxDescriptionLen, true); err != nil {
		return err
	}
	if !m.Kind.Valid() {
		return Invalid("kind", "must be one of %v, not %q", Kinds, m.Kind)
	}
	if !m.Severity.Valid() {
		return Invalid("severity", "must be one of %v, not %q", Severities, m.Severity)
	}
	if len(m.Products) == 0 {
		return Invalid("products", "at least one product is required")
	}
	if len(m.Products) > MaxListLen {
		return Invalid("products", "more than %d entries", MaxListLen)
	}
	for i, p := range m.Products {
		f := fmt.Sprintf("products[%d]", i)
		if !ValidProductName(p.Name) {
			return Invalid(f+".name", "invalid product name %q: lowercase letters, digits and . _ + -", p.Name)
		}
		if _, err := ParseConstraint(p.Versions); err != nil {
			return Invalid(f+".versions", "%v", err)
		}
	}
	if len(m.CVEs) > MaxListLen {
		return Invalid("cves", "more than %d entries", MaxListLen)
	}
	for i, c := range m.CVEs {
		if !cvePattern.MatchString(c) {
			return Invalid(fmt.Sprintf("cves[%d]", i), "%q is not a CVE id like CVE-2026-12345", c)
		}
	}
	if m.ReleaseDate != "" {
		if _, err := m.releaseDate(); err != nil {
			return Invalid("release_date", "%q is neither YYYY-MM-DD nor RFC 3339", m.ReleaseDate)
		}
	}
	if err := validIDList("supersedes", m.Supersedes, m.ID); err != nil {
		return err
	}
	if err := validIDList("requires", m.Requires, m.ID); err != nil {
		return err
	}
	for i, r := range m.Requires {
		if contains(m.Supersedes, r) {
			return Invalid(fmt.Sprintf("requires[%d]", i), "%q is also superseded by this update", r)
		}
	}
	if err := validAdvisoryIDs("advisories", m.Advisories); err != nil {
		return err
	}
	if m.Reboot == "" {
		m.Reboot = RebootMay
	}
	if !m.Reboot.Valid() {
		return Invalid("reboot", "must be never, may or required, not %q", m.Reboot)
	}
	if len(m.Payloads) == 0 {
		return Invalid("payloads", "at least one payload is required")
	}
	if len(m.Payloads) > MaxPayloads {
		return Invalid("payloads", "more than %d payloads", MaxPayloads)
	}
	names := map[string]bool{}
	for i, p := range m.Payloads {
		f := fmt.Sprintf("payloads[%d]", i)
		if !ValidPayloadName(p.Name) {
			return Invalid(f+".name", "%q is not a plain file name (letters, digits, . _ + -; no paths)", p.Name)
		}
		if names[p.Name] {
			return Invalid(f+".name", "duplicate payload name %q", p.Name)
		}
		names[p.Name] = true
		if !p.Installer.Valid() {
			return Invalid(f+".installer", "must be one of %v, not %q", Installers, p.Installer)
		}
		if p.SHA256 != "" && !sha256Pattern.MatchString(p.SHA256) {
			return Invalid(f+".sha256", "must be 64 lowercase hex characters")
		}
		if p.Size < 0 {
			return Invalid(f+".size", "must not be negative")
		}
		if len(p.Args) > MaxArgs {
			return Invalid(f+".args", "more than %d arguments", MaxArgs)
		}
		for j, a := range p.Args {
			if len(a) > MaxArgLen || strings.ContainsRune(a, 0) {
				return Invalid(fmt.Sprintf("%s.args[%d]", f, j), "longer than %d bytes or contains NUL", MaxArgLen)
			}
		}
	}
	return nil
}

func (m *Manifest) releaseDate() (time.Time, error) {
	if t, err := time.Parse("2006-01-02", m.ReleaseDate); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, m.ReleaseDate)
}

// Update turns a validated manifest into an Update. Every payload must have
// its SHA256 and Size set by then.
func (m *Manifest) Update() (Update, error) {
	if err := m.Validate(); err != nil {
		return Update{}, err
	}
	u := Update{
		ID: m.ID, Title: m.Title, Description: m.Description, Kind: m.Kind, Severity: m.Severity,
		Products: m.Products, CVEs: m.CVEs, Supersedes: m.Supersedes, Requires: m.Requires, Reboot: m.Reboot,
		Advisories: m.Advisories,
	}
	if m.ReleaseDate != "" {
		t, _ := m.releaseDate()
		u.ReleaseDate = t.UTC()
	}
	for i, p := range m.Payloads {
		if p.SHA256 == "" {
			return Update{}, Invalid(fmt.Sprintf("payloads[%d].sha256", i), "is required")
		}
		u.Payloads = append(u.Payloads, Payload{Name: p.Name, Size: p.Size, SHA256: p.SHA256, Installer: p.Installer, Args: p.Args})
	}
	return u, nil
}

func validAdvisoryIDs(field string, ids []string) error {
	if len(ids) > MaxListLen {
		return Invalid(field, "more than %d entries", MaxListLen)
	}
	for i, id := range ids {
		f := fmt.Sprintf("%s[%d]", field, i)
		if !ValidAdvisoryID(id) {
			return Invalid(f, "%q is not an advisory id (letters, digits and . _ : + -, at most 128)", id)
		}
		if slices.Contains(ids[:i], id) {
			return Invalid(f, "duplicate %q", id)
		}
	}
	return nil
}
