package patchgate

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// A security advisory is what a vendor publishes about vulnerabilities in
// its products (CSAF 2.0: Cisco, Red Hat, Siemens, CISA). patchgate keeps
// the part a security officer asks about: which CVEs, which product
// versions are affected and which are fixed, and which updates fix them.
// Package csaf turns CSAF documents into Advisory values.

// Advisory is one security advisory, at its latest imported revision.
type Advisory struct {
	// ID is the document's document.tracking.id.
	ID        string `json:"id"`
	Title     string `json:"title"`
	Publisher string `json:"publisher"`
	// Category is the CSAF profile, e.g. csaf_security_advisory.
	Category string `json:"category,omitempty"`
	// Status and Version are document.tracking.status and .version.
	Status             string    `json:"status,omitempty"`
	Version            string    `json:"version,omitempty"`
	InitialReleaseDate time.Time `json:"initial_release_date"`
	CurrentReleaseDate time.Time `json:"current_release_date"`
	// Revision counts the revisions patchgate stored: 1 on import, +1 each
	// time a document with a new current_release_date is imported.
	Revision int `json:"revision"`
	// Severity is document.aggregate_severity mapped to a Severity, or
	// else derived from the highest CVSS base score; "" if neither says.
	Severity     Severity          `json:"severity,omitempty"`
	CVEs         []AdvisoryCVE     `json:"cves"`
	Affected     []AdvisoryProduct `json:"affected"`
	Fixed        []AdvisoryProduct `json:"fixed"`
	Remediations []Remediation     `json:"remediations"`
	Unmapped     []UnmappedProduct `json:"unmapped,omitempty"`
	Digest       string            `json:"digest"` // sha256 of the document as imported
	ImportedAt   time.Time         `json:"imported_at,omitzero"`
	ImportedBy   string            `json:"imported_by,omitempty"`
	Updates      []string          `json:"updates,omitempty"` // linked updates (remediations naming them)
}

// AdvisoryCVE is one vulnerability of an advisory with its highest CVSS
// score.
type AdvisoryCVE struct {
	ID         string   `json:"id"`
	Title      string   `json:"title,omitempty"`
	CVSSScore  float64  `json:"cvss_score,omitempty"`
	CVSSVector string   `json:"cvss_vector,omitempty"`
	Severity   Severity `json:"severity,omitempty"`
}

// AdvisoryProduct is a patchgate product at the versions (a Constraint
// expression) an advisory says are affected or fixed, with the CVEs it
// says so for and the CSAF product it was mapped from.
type AdvisoryProduct struct {
	Product     string   `json:"product"`
	Versions    string   `json:"versions"`
	CVEs        []string `json:"cves"`
	CSAFProduct string   `json:"csaf_product,omitempty"` // product_id: full name
}

// Remediation is a vendor fix (CSAF remediation of category vendor_fix).
// UpdateIDs are the updates of the catalog that its details or URL name,
// found when the advisory was imported.
type Remediation struct {
	Category  string   `json:"category"`
	Details   string   `json:"details,omitempty"`
	URL       string   `json:"url,omitempty"`
	CVEs      []string `json:"cves"`
	Products  []string `json:"products"` // "product versions"
	UpdateIDs []string `json:"update_ids,omitempty"`
	// Named are the ids in the details or URL that could name an update;
	// LinkUpdates keeps those that do.
	Named []string `json:"-"`
}

// UnmappedProduct is a CSAF product that no mapping turned into a
// patchgate product: the advisory is stored, but hosts cannot be matched
// against it.
type UnmappedProduct struct {
	ProductID string `json:"product_id"`
	Name      string `json:"name"`
	Reason    string `json:"reason"`
}

// Advisory limits.
const (
	// MaxAdvisoryBytes limits one CSAF document. The largest real
	// advisories (Red Hat's kernel ones, listing every product stream)
	// are a few MB.
	MaxAdvisoryBytes    = 16 << 20
	MaxAdvisoryCVEs     = 2000
	MaxAdvisoryProducts = 20000
	MaxProductMap       = 10000
)

var advisoryIDPattern = MustBoundedPattern(`^[A-Za-z0-9][A-Za-z0-9._:+-]*$`, 1, 128)

// ValidAdvisoryID reports whether s can be an advisory id: letters, digits
// and . _ : + -, at most 128 (every major vendor's ids fit: cisco-sa-…,
// RHSA-2024:1234, SSA-123456, ICSA-24-123-01).
func ValidAdvisoryID(s string) bool { return advisoryIDPattern.MatchString(s) }

// ValidCVE reports whether s is a CVE id like CVE-2026-12345.
func ValidCVE(s string) bool { return cvePattern.MatchString(s) }

// SeverityFromText maps a vendor's severity word (CSAF
// aggregate_severity.text: "Critical", "Important", "Moderate", ...) to a
// Severity; "" if it names none.
func SeverityFromText(s string) Severity {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case strings.Contains(s, "critical"):
		return SeverityCritical
	case strings.Contains(s, "important"), strings.Contains(s, "high"):
		return SeverityHigh
	case strings.Contains(s, "moderate"), strings.Contains(s, "medium"):
		return SeverityMedium
	case strings.Contains(s, "low"):
		return SeverityLow
	}
	return ""
}

// SeverityFromCVSS maps a CVSS base score to a Severity by the CVSS v3
// qualitative scale (9.0 critical, 7.0 high, 4.0 medium, above 0 low).
func SeverityFromCVSS(score float64) Severity {
	switch {
	case score >= 9:
		return SeverityCritical
	case score >= 7:
		return SeverityHigh
	case score >= 4:
		return SeverityMedium
	case score > 0:
		return SeverityLow
	}
	return ""
}

// CVEIDs lists the ids of the advisory's CVEs.
func (a Advisory) CVEIDs() []string {
	out := make([]string, 0, len(a.CVEs))
	for _, c := range a.CVEs {
		out = append(out, c.ID)
	}
	return out
}

// HasCVE reports whether the advisory is about cve.
func (a Advisory) HasCVE(cve string) bool {
	return slices.ContainsFunc(a.CVEs, func(c AdvisoryCVE) bool { return c.ID == cve })
}

// LinkUpdates fills each remediation's UpdateIDs with the ids it names
// that are updates (exists), and a.Updates with all of them.
func (a *Advisory) LinkUpdates(exists func(id string) bool) {
	a.Updates = nil
	for i := range a.Remediations {
		r := &a.Remediations[i]
		r.UpdateIDs = nil
		for _, id := range r.Named {
			if exists(id) && !slices.Contains(r.UpdateIDs, id) {
				r.UpdateIDs = append(r.UpdateIDs, id)
			}
		}
		for _, id := range r.UpdateIDs {
			if !slices.Contains(a.Updates, id) {
				a.Updates = append(a.Updates, id)
			}
		}
	}
	sort.Strings(a.Updates)
}

// AdvisoryOutcome is what importing one document did.
type AdvisoryOutcome string

const (
	AdvisoryImported  AdvisoryOutcome = "imported"
	AdvisoryUpdated   AdvisoryOutcome = "updated"
	AdvisoryUnchanged AdvisoryOutcome = "unchanged"
	AdvisoryRejected  AdvisoryOutcome = "rejected"
)

// Advisory event types. The detail is JSON: AdvisoryEventDetail.
const (
	EventAdvisoryImported = "advisory.imported"
	EventAdvisoryUpdated  = "advisory.updated"
)

// AdvisoryEventDetail is the Detail of advisory.imported and
// advisory.updated events: the notification engine turns it into an
// alert about a new advisory exposing hosts.
type AdvisoryEventDetail struct {
	ID           string   `json:"id"`
	Title        string   `json:"title"`
	Severity     Severity `json:"severity"`
	CVEs         []string `json:"cves"`
	ExposedHosts int      `json:"exposed_hosts"`
}

// DecideAdvisoryImport says what storing next does when prev (nil: none)
// is stored: a new id is imported; a document whose
// document.tracking.current_release_date is later is a new revision
// (updated); the same date is unchanged (CSAF requires a new date for
// every new revision); an earlier one is refused, so that importing an
// old copy never undoes a newer revision.
func DecideAdvisoryImport(prev *Advisory, next Advisory) (AdvisoryOutcome, error) {
	if prev == nil {
		return AdvisoryImported, nil
	}
	switch {
	case next.CurrentReleaseDate.Equal(prev.CurrentReleaseDate):
		return AdvisoryUnchanged, nil
	case next.CurrentReleaseDate.After(prev.CurrentReleaseDate):
		return AdvisoryUpdated, nil
	}
	return AdvisoryRejected, &Error{Code: CodeConflict, Field: "/document/tracking/current_release_date",
		Message: fmt.Sprintf("%s is older than the stored revision %d of %s (%s)",
			next.CurrentReleaseDate.UTC().Format(time.RFC3339), prev.Revision, prev.ID, prev.CurrentReleaseDate.UTC().Format(time.RFC3339))}
}

// AdvisoryFilter narrows ListAdvisories; zero fields match everything.
type AdvisoryFilter struct {
	CVE string
}

// ProductMapEntry maps CSAF products to a patchgate product. Exactly one of
// Name (a CSAF product name: a full_product_name's name or a product_name
// branch's name, compared exactly), CPE (a prefix of the CPE in the
// product_identification_helper) and PURL (a prefix of its PURL) selects
// the CSAF products. Version (one version) or Versions (a Constraint)
// overrides the version the document gives, if any.
type ProductMapEntry struct {
	Name     string `json:"name,omitempty" yaml:"name"`
	CPE      string `json:"cpe,omitempty" yaml:"cpe"`
	PURL     string `json:"purl,omitempty" yaml:"purl"`
	Product  string `json:"product" yaml:"product"`
	Version  string `json:"version,omitempty" yaml:"version"`
	Versions string `json:"versions,omitempty" yaml:"versions"`
}

// ValidateProductMap checks every entry and names the first wrong field.
func ValidateProductMap(m []ProductMapEntry) error {
	if len(m) > MaxProductMap {
		return Invalid("products", "more than %d entries", MaxProductMap)
	}
	for i, e := range m {
		f := fmt.Sprintf("products[%d]", i)
		n := 0
		for _, s := range []string{e.Name, e.CPE, e.PURL} {
			if s != "" {
				n++
			}
		}
		if n != 1 {
			return Invalid(f, "needs exactly one of name, cpe and purl")
		}
		for k, s := range map[string]string{"name": e.Name, "cpe": e.CPE, "purl": e.PURL} {
			if err := validText(f+"."+k, s, 1024, false); err != nil {
				return err
			}
		}
		if !ValidProductName(e.Product) {
			return Invalid(f+".product", "invalid product name %q: lowercase letters, digits and . _ + -", e.Product)
		}
		if e.Version != "" && e.Versions != "" {
			return Invalid(f+".versions", "give version or versions, not both")
		}
		if e.Version != "" {
			if err := ValidVersion(e.Version); err != nil {
				return Invalid(f+".version", "%v", err)
			}
		}
		if _, err := ParseConstraint(e.Versions); err != nil {
			return Invalid(f+".versions", "%v", err)
		}
	}
	return nil
}
