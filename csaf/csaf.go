// Package csaf imports CSAF 2.0 security advisories (the OASIS Common
// Security Advisory Framework used by Cisco, Red Hat, Siemens and CISA)
// into patchgate.Advisory values, offline.
//
// A document is checked in three steps: it must be one JSON object within
// MaxDocumentBytes with nothing after it; it must validate against the CSAF
// 2.0 JSON schema (embedded in github.com/gocsaf/csaf/v3, so nothing is
// fetched); then it is decoded into this package's own structs. The
// library's own loader is not used: it decodes strictly into structs that
// spell the document's "acknowledgments" as "acknowledgements", so it
// rejects valid documents that credit anyone. A rejection names the field
// as a JSON pointer (e.g. /document/tracking/id).
//
// It imports the domain package, the schema validator and YAML; never a
// store or the server.
package csaf

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	gocsaf "github.com/gocsaf/csaf/v3/csaf"

	"github.com/patchgate/patchgate"
)

// MaxDocumentBytes limits one CSAF document.
const MaxDocumentBytes = patchgate.MaxAdvisoryBytes

// maxBranchDepth bounds the product tree's nesting (real trees have 3 to
// 5 levels: vendor, product family, product name, version).
const maxBranchDepth = 32

// Parse checks one CSAF 2.0 document and turns it into an Advisory,
// mapping its products to patchgate products with m (see mapProduct). The
// Advisory's remediations carry the ids they name (Named); the caller
// links them to updates with Advisory.LinkUpdates. Any error is a
// *patchgate.Error whose Field is a JSON pointer into the document.
func Parse(data []byte, m []patchgate.ProductMapEntry) (patchgate.Advisory, error) {
	var a patchgate.Advisory
	if len(data) > MaxDocumentBytes {
		return a, &patchgate.Error{Code: patchgate.CodeTooLarge, Field: "/", Message: fmt.Sprintf("document larger than %d bytes", MaxDocumentBytes)}
	}
	if err := patchgate.ValidateProductMap(m); err != nil {
		return a, err
	}
	generic, err := decodeOne(data)
	if err != nil {
		return a, err
	}
	if _, ok := generic.(map[string]any); !ok {
		return a, patchgate.Invalid("/", "a CSAF document is a JSON object")
	}
	if err := validateSchema(generic); err != nil {
		return a, err
	}
	var d document
	if err := json.Unmarshal(data, &d); err != nil {
		// The schema passed, so this is a value our structs read
		// narrower than the schema (a number too large, say).
		return a, patchgate.Invalid("/", "cannot decode: %v", err)
	}
	sum := sha256.Sum256(data)
	return convert(d, m, hex.EncodeToString(sum[:]))
}

// decodeOne decodes exactly one JSON value, numbers kept exact (the schema
// validator wants json.Number), and refuses anything after it.
func decodeOne(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			return nil, patchgate.Invalid("/", "malformed JSON at byte %d: %v", se.Offset, err)
		case errors.Is(err, io.EOF):
			return nil, patchgate.Invalid("/", "empty document")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, patchgate.Invalid("/", "malformed JSON: unexpected end of input")
		}
		return nil, patchgate.Invalid("/", "malformed JSON: %v", err)
	}
	// More is false before a stray ']' or '}': ask for the next token.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, patchgate.Invalid("/", "unexpected data after the JSON object (at byte %d)", dec.InputOffset())
	}
	return v, nil
}

// validateSchema validates against the CSAF 2.0 schema and reports the
// most specific violation, with how many more there are.
func validateSchema(doc any) error {
	msgs, err := gocsaf.ValidateCSAF(doc)
	if err != nil {
		return patchgate.Internal(err, "csaf: schema validation")
	}
	if len(msgs) == 0 {
		return nil
	}
	// Each message is "JSON pointer: reason"; the deepest pointer says
	// most (its ancestors only say that a subschema failed). Under a
	// oneOf (CVSS 3.0 or 3.1) the reason may be the other branch's.
	best, bestLoc, bestMsg := -1, "", ""
	for _, m := range msgs {
		loc, msg, ok := strings.Cut(m, ": ")
		if !ok || !strings.HasPrefix(loc, "/") && loc != "" {
			loc, msg = "", m
		}
		depth := strings.Count(loc, "/")
		if msg == "validation failed" {
			depth = -1 // only says that a subschema failed
		}
		if depth > best {
			best, bestLoc, bestMsg = depth, loc, msg
		}
	}
	if bestLoc == "" {
		bestLoc = "/"
	}
	msg := "schema: " + truncate(bestMsg, 300)
	if n := len(msgs) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more)", n)
	}
	return patchgate.Invalid(bestLoc, "%s", msg)
}

// The parts of a CSAF 2.0 document patchgate reads. The schema has been
// checked before these are decoded, so they are lenient.
type document struct {
	Document struct {
		Category          string `json:"category"`
		Title             string `json:"title"`
		AggregateSeverity *struct {
			Text string `json:"text"`
		} `json:"aggregate_severity"`
		Publisher struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"publisher"`
		Tracking struct {
			ID                 string `json:"id"`
			Status             string `json:"status"`
			Version            string `json:"version"`
			InitialReleaseDate string `json:"initial_release_date"`
			CurrentReleaseDate string `json:"current_release_date"`
		} `json:"tracking"`
	} `json:"document"`
	ProductTree     *productTree    `json:"product_tree"`
	Vulnerabilities []vulnerability `json:"vulnerabilities"`
}

type productTree struct {
	Branches         []branch          `json:"branches"`
	FullProductNames []fullProductName `json:"full_product_names"`
	Relationships    []struct {
		FullProductName           fullProductName `json:"full_product_name"`
		ProductReference          string          `json:"product_reference"`
		RelatesToProductReference string          `json:"relates_to_product_reference"`
	} `json:"relationships"`
	ProductGroups []struct {
		GroupID    string   `json:"group_id"`
		ProductIDs []string `json:"product_ids"`
	} `json:"product_groups"`
}

type branch struct {
	Category string           `json:"category"`
	Name     string           `json:"name"`
	Branches []branch         `json:"branches"`
	Product  *fullProductName `json:"product"`
}

type fullProductName struct {
	Name      string `json:"name"`
	ProductID string `json:"product_id"`
	Helper    *struct {
		CPE  string `json:"cpe"`
		PURL string `json:"purl"`
	} `json:"product_identification_helper"`
}

type vulnerability struct {
	CVE    string `json:"cve"`
	Title  string `json:"title"`
	Scores []struct {
		Products []string `json:"products"`
		CVSSv3   *cvss    `json:"cvss_v3"`
		CVSSv2   *cvss    `json:"cvss_v2"`
	} `json:"scores"`
	ProductStatus *struct {
		KnownAffected []string `json:"known_affected"`
		FirstAffected []string `json:"first_affected"`
		LastAffected  []string `json:"last_affected"`
		Fixed         []string `json:"fixed"`
		FirstFixed    []string `json:"first_fixed"`
	} `json:"product_status"`
	Remediations []struct {
		Category   string   `json:"category"`
		Details    string   `json:"details"`
		URL        string   `json:"url"`
		ProductIDs []string `json:"product_ids"`
		GroupIDs   []string `json:"group_ids"`
	} `json:"remediations"`
}

type cvss struct {
	BaseScore    float64 `json:"baseScore"`
	VectorString string  `json:"vectorString"`
}

// mapped is a CSAF product as a patchgate product at versions.
type mapped struct {
	product, versions, name string
}

func convert(d document, m []patchgate.ProductMapEntry, digest string) (patchgate.Advisory, error) {
	doc := d.Document
	a := patchgate.Advisory{
		ID: doc.Tracking.ID, Title: strings.TrimSpace(doc.Title), Publisher: doc.Publisher.Name,
		Category: doc.Category, Status: doc.Tracking.Status, Version: doc.Tracking.Version, Digest: digest,
		CVEs: []patchgate.AdvisoryCVE{}, Affected: []patchgate.AdvisoryProduct{}, Fixed: []patchgate.AdvisoryProduct{},
		Remediations: []patchgate.Remediation{},
	}
	if !patchgate.ValidAdvisoryID(a.ID) {
		return a, patchgate.Invalid("/document/tracking/id", "%q: patchgate takes advisory ids of letters, digits and . _ : + - (at most 128)", truncate(a.ID, 80))
	}
	if len(a.Title) > patchgate.MaxTitleLen*5 {
		return a, patchgate.Invalid("/document/title", "longer than %d bytes", patchgate.MaxTitleLen*5)
	}
	var err error
	if a.InitialReleaseDate, err = parseDate(doc.Tracking.InitialReleaseDate); err != nil {
		return a, patchgate.Invalid("/document/tracking/initial_release_date", "%v", err)
	}
	if a.CurrentReleaseDate, err = parseDate(doc.Tracking.CurrentReleaseDate); err != nil {
		return a, patchgate.Invalid("/document/tracking/current_release_date", "%v", err)
	}
	if a.CurrentReleaseDate.Before(a.InitialReleaseDate) {
		return a, patchgate.Invalid("/document/tracking/current_release_date", "is before initial_release_date")
	}
	if len(d.Vulnerabilities) > patchgate.MaxAdvisoryCVEs {
		return a, patchgate.Invalid("/vulnerabilities", "more than %d vulnerabilities", patchgate.MaxAdvisoryCVEs)
	}

	products, unmapped, err := mapProducts(d.ProductTree, m)
	if err != nil {
		return a, err
	}
	a.Unmapped = unmapped
	groups := map[string][]string{}
	if d.ProductTree != nil {
		for _, g := range d.ProductTree.ProductGroups {
			groups[g.GroupID] = g.ProductIDs
		}
	}

	affected := newProductSet()
	fixed := newProductSet()
	maxScore := 0.0
	for i, v := range d.Vulnerabilities {
		ptr := fmt.Sprintf("/vulnerabilities/%d", i)
		if v.CVE != "" && !patchgate.ValidCVE(v.CVE) {
			return a, patchgate.Invalid(ptr+"/cve", "%q is not a CVE id like CVE-2026-12345", truncate(v.CVE, 40))
		}
		c := patchgate.AdvisoryCVE{ID: v.CVE, Title: v.Title}
		for _, s := range v.Scores {
			for _, sc := range []*cvss{s.CVSSv3, s.CVSSv2} {
				if sc != nil && sc.BaseScore > c.CVSSScore && !math.IsNaN(sc.BaseScore) {
					c.CVSSScore, c.CVSSVector = sc.BaseScore, sc.VectorString
				}
			}
		}
		c.Severity = patchgate.SeverityFromCVSS(c.CVSSScore)
		maxScore = max(maxScore, c.CVSSScore)
		if v.CVE != "" && !slices.ContainsFunc(a.CVEs, func(x patchgate.AdvisoryCVE) bool { return x.ID == v.CVE }) {
			a.CVEs = append(a.CVEs, c)
		}
		var cves []string
		if v.CVE != "" {
			cves = []string{v.CVE}
		}
		if ps := v.ProductStatus; ps != nil {
			for _, list := range [][]string{ps.KnownAffected, ps.FirstAffected, ps.LastAffected} {
				for _, id := range list {
					affected.add(products[id], cves)
				}
			}
			for _, list := range [][]string{ps.Fixed, ps.FirstFixed} {
				for _, id := range list {
					fixed.add(products[id], cves)
				}
			}
		}
		for _, r := range v.Remediations {
			if r.Category != "vendor_fix" {
				continue
			}
			ids := slices.Clone(r.ProductIDs)
			for _, g := range r.GroupIDs {
				ids = append(ids, groups[g]...)
			}
			addRemediation(&a, r.Category, r.Details, r.URL, cves, ids, products)
		}
		if affected.n+fixed.n > patchgate.MaxAdvisoryProducts {
			return a, patchgate.Invalid(ptr, "more than %d affected and fixed product versions", patchgate.MaxAdvisoryProducts)
		}
	}
	impliedAffected(affected, fixed)
	a.Affected, a.Fixed = affected.list(), fixed.list()
	if doc.AggregateSeverity != nil {
		a.Severity = patchgate.SeverityFromText(doc.AggregateSeverity.Text)
	}
	if a.Severity == "" {
		a.Severity = patchgate.SeverityFromCVSS(maxScore)
	}
	return a, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func parseDate(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, fmt.Errorf("%q is not an RFC 3339 date-time", truncate(s, 40))
	}
	return t.UTC(), nil
}

// addRemediation merges a vendor fix into a's remediations: CSAF repeats
// one fix under every vulnerability it fixes.
func addRemediation(a *patchgate.Advisory, category, details, u string, cves, ids []string, products map[string][]mapped) {
	var prods []string
	for _, id := range ids {
		for _, p := range products[id] {
			s := strings.TrimSpace(p.product + " " + strings.TrimPrefix(p.versions, "="))
			if !slices.Contains(prods, s) {
				prods = append(prods, s)
			}
		}
	}
	for i := range a.Remediations {
		r := &a.Remediations[i]
		if r.Details == details && r.URL == u {
			for _, c := range cves {
				if !slices.Contains(r.CVEs, c) {
					r.CVEs = append(r.CVEs, c)
				}
			}
			for _, p := range prods {
				if !slices.Contains(r.Products, p) {
					r.Products = append(r.Products, p)
				}
			}
			sort.Strings(r.CVEs)
			sort.Strings(r.Products)
			return
		}
	}
	r := patchgate.Remediation{Category: category, Details: details, URL: u, CVEs: slices.Clone(cves), Products: prods, Named: namedIDs(details, u)}
	if r.CVEs == nil {
		r.CVEs = []string{}
	}
	if r.Products == nil {
		r.Products = []string{}
	}
	sort.Strings(r.Products)
	a.Remediations = append(a.Remediations, r)
}

var idToken = regexp.MustCompile(`[A-Za-z0-9][A-Za-z0-9._:+-]*[A-Za-z0-9]`)

// namedIDs lists the words of a remediation's details and the last path
// segment of its URL that could be update ids ("RHSA-2024:1234",
// "HF-UCCE-12.6-001"): a letter and a digit, not a CVE id, not a URL
// scheme. Which of them are updates the catalog decides.
func namedIDs(details, u string) []string {
	var out []string
	add := func(s string) {
		s = strings.TrimRight(s, ".:")
		if !patchgate.ValidUpdateID(s) || patchgate.ValidCVE(s) || len(out) >= 64 {
			return
		}
		if !strings.ContainsAny(s, "0123456789") || !strings.ContainsFunc(s, func(r rune) bool { return r >= 'A' && r <= 'z' }) {
			return
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, w := range idToken.FindAllString(details, 256) {
		add(w)
	}
	if pu, err := url.Parse(u); err == nil && pu.Path != "" {
		seg := pu.Path[strings.LastIndexByte(pu.Path, '/')+1:]
		seg = strings.TrimSuffix(strings.TrimSuffix(seg, ".html"), ".json")
		add(seg)
	}
	return out
}

// productSet collects advisory products, merging CVEs of equal
// (product, versions).
type productSet struct {
	m map[[2]string]*patchgate.AdvisoryProduct
	n int
}

func newProductSet() *productSet {
	return &productSet{m: map[[2]string]*patchgate.AdvisoryProduct{}}
}

func (s *productSet) add(ps []mapped, cves []string) {
	for _, p := range ps {
		k := [2]string{p.product, p.versions}
		e, ok := s.m[k]
		if !ok {
			e = &patchgate.AdvisoryProduct{Product: p.product, Versions: p.versions, CVEs: []string{}, CSAFProduct: p.name}
			s.m[k] = e
			s.n++
		}
		for _, c := range cves {
			if !slices.Contains(e.CVEs, c) {
				e.CVEs = append(e.CVEs, c)
			}
		}
		sort.Strings(e.CVEs)
	}
}

func (s *productSet) list() []patchgate.AdvisoryProduct {
	out := make([]patchgate.AdvisoryProduct, 0, len(s.m))
	for _, e := range s.m {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Product != out[j].Product {
			return out[i].Product < out[j].Product
		}
		return out[i].Versions < out[j].Versions
	})
	return out
}

// impliedAffected completes advisories that list a product only as fixed
// at a version (Red Hat's style: "fixed in openssl 1:3.0.7-27.el9_4"):
// the versions before it are affected, for the same CVEs.
func impliedAffected(affected, fixed *productSet) {
	listed := map[string]bool{}
	for k := range affected.m {
		listed[k[0]] = true
	}
	for _, f := range fixed.list() {
		v, ok := strings.CutPrefix(f.Versions, "=")
		if listed[f.Product] || !ok || strings.ContainsAny(v, ",|<>!") {
			continue
		}
		affected.add([]mapped{{product: f.Product, versions: "<" + v, name: f.CSAFProduct}}, f.CVEs)
	}
}
