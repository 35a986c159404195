package csaf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/patchgate/patchgate"
)

// How CSAF products become patchgate products (documented in the README,
// "Security advisories (CSAF)"). For each product of the product tree, the
// first that applies wins:
//
//  1. an entry of the product map (--map FILE) whose name equals the
//     product's full name or its product_name branch, or whose cpe or purl
//     is a prefix of the product's CPE or PURL: its product, and its
//     version/versions or else the version the document gives;
//  2. a PURL in product_identification_helper: the package name
//     (lowercased) at the PURL's version or else the document's;
//  3. a CPE in product_identification_helper: "vendor.product"
//     (lowercased) at the CPE's version or else the document's.
//
// The version the document gives is the product_version branch above the
// product (an exact version) or the product_version_range branch (a vers
// range such as "vers:generic/>=12.0|<12.6(2)", or a plain constraint).
// A product of a relationship (Red Hat's "component in product stream")
// is the product its product_reference is. A product without a product
// name and a version that patchgate can compare is left unmapped, with
// the reason; the advisory is still imported.

// MaxProductMapBytes limits a product map file.
const MaxProductMapBytes = 1 << 20

// productMapFile is the --map file: {"products": [ProductMapEntry...]}.
type productMapFile struct {
	Products []patchgate.ProductMapEntry `json:"products" yaml:"products"`
}

// ParseProductMap reads a product map file (YAML or JSON) and validates
// it.
func ParseProductMap(data []byte) ([]patchgate.ProductMapEntry, error) {
	if len(data) > MaxProductMapBytes {
		return nil, &patchgate.Error{Code: patchgate.CodeTooLarge, Field: "map", Message: fmt.Sprintf("larger than %d bytes", MaxProductMapBytes)}
	}
	if err := checkMapKeys(data); err != nil {
		return nil, err
	}
	var f productMapFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, patchgate.Invalid("map", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, patchgate.Invalid("map", "holds more than one YAML document")
	}
	if err := patchgate.ValidateProductMap(f.Products); err != nil {
		return nil, err
	}
	return f.Products, nil
}

// checkMapKeys refuses mappings with more keys than a map file has (one
// at the top, six in an entry) before the YAML decoder sees them: it
// compares duplicate keys pairwise, so a file of repeated keys would take
// minutes.
func checkMapKeys(data []byte) error {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return nil // empty, or a syntax error the real decode reports
	}
	var walk func(n *yaml.Node) error
	walk = func(n *yaml.Node) error {
		if n.Kind == yaml.MappingNode && len(n.Content) > 2*16 {
			return patchgate.Invalid("map", "line %d: mapping with more than 16 keys", n.Line)
		}
		for _, c := range n.Content {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(&doc)
}

// branchContext is what the branches above a product say about it.
type branchContext struct {
	productName string
	version     string // product_version
	versRange   string // product_version_range
}

func mapProducts(t *productTree, m []patchgate.ProductMapEntry) (map[string][]mapped, []patchgate.UnmappedProduct, error) {
	out := map[string][]mapped{}
	var unmapped []patchgate.UnmappedProduct
	if t == nil {
		return out, nil, nil
	}
	add := func(fpn fullProductName, ctx branchContext) {
		p, reason := mapOne(fpn, ctx, m)
		if reason != "" {
			if len(unmapped) < 1000 {
				unmapped = append(unmapped, patchgate.UnmappedProduct{ProductID: fpn.ProductID, Name: truncate(fpn.Name, 200), Reason: reason})
			}
			return
		}
		out[fpn.ProductID] = append(out[fpn.ProductID], p)
	}
	var walk func(bs []branch, ctx branchContext, depth int, ptr string) error
	walk = func(bs []branch, ctx branchContext, depth int, ptr string) error {
		if depth > maxBranchDepth {
			return patchgate.Invalid(ptr, "product tree nested deeper than %d branches", maxBranchDepth)
		}
		for i, b := range bs {
			c := ctx
			switch b.Category {
			case "product_name":
				c.productName = b.Name
			case "product_version":
				c.version, c.versRange = b.Name, ""
			case "product_version_range":
				c.versRange, c.version = b.Name, ""
			}
			if b.Product != nil {
				add(*b.Product, c)
			}
			if err := walk(b.Branches, c, depth+1, fmt.Sprintf("%s/%d/branches", ptr, i)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(t.Branches, branchContext{}, 0, "/product_tree/branches"); err != nil {
		return nil, nil, err
	}
	for _, f := range t.FullProductNames {
		add(f, branchContext{})
	}
	for _, r := range t.Relationships {
		if ps, ok := out[r.ProductReference]; ok {
			out[r.FullProductName.ProductID] = append(out[r.FullProductName.ProductID], ps...)
			continue
		}
		add(r.FullProductName, branchContext{})
	}
	return out, unmapped, nil
}

// mapOne maps one CSAF product, or says why it cannot.
func mapOne(fpn fullProductName, ctx branchContext, m []patchgate.ProductMapEntry) (mapped, string) {
	var cpe, purl string
	if fpn.Helper != nil {
		cpe, purl = fpn.Helper.CPE, fpn.Helper.PURL
	}
	// versions: the version in the product's CPE or PURL (id) if any,
	// else the branch's.
	docVersions := func(id string) (string, string) {
		switch {
		case id != "":
			if err := patchgate.ValidVersion(id); err != nil {
				return "", err.Error()
			}
			return "=" + id, ""
		case ctx.version != "":
			if err := patchgate.ValidVersion(ctx.version); err != nil {
				return "", "product_version: " + err.Error()
			}
			return "=" + ctx.version, ""
		case ctx.versRange != "":
			v, err := versToConstraint(ctx.versRange)
			if err != nil {
				return "", "product_version_range: " + err.Error()
			}
			return v, ""
		}
		return "", "no version: no product_version branch, none in its CPE or PURL, none in the map"
	}
	for _, e := range m {
		hit := (e.Name != "" && (e.Name == fpn.Name || e.Name == ctx.productName)) ||
			(e.CPE != "" && cpe != "" && strings.HasPrefix(cpe, e.CPE)) ||
			(e.PURL != "" && purl != "" && strings.HasPrefix(purl, e.PURL))
		if !hit {
			continue
		}
		switch {
		case e.Version != "":
			return mapped{e.Product, "=" + e.Version, fpn.Name}, ""
		case e.Versions != "":
			return mapped{e.Product, strings.TrimSpace(e.Versions), fpn.Name}, ""
		}
		_, fromCPE := cpeProduct(cpe)
		if fromCPE == "" {
			_, fromCPE = purlProduct(purl)
		}
		v, why := docVersions(fromCPE)
		if why != "" {
			return mapped{}, why
		}
		return mapped{e.Product, v, fpn.Name}, ""
	}
	if name, ver := purlProduct(purl); name != "" {
		if !patchgate.ValidProductName(name) {
			return mapped{}, fmt.Sprintf("PURL name %q is not a patchgate product name", truncate(name, 80))
		}
		v, why := docVersions(ver)
		if why != "" {
			return mapped{}, why
		}
		return mapped{name, v, fpn.Name}, ""
	}
	if name, ver := cpeProduct(cpe); name != "" {
		if !patchgate.ValidProductName(name) {
			return mapped{}, fmt.Sprintf("CPE vendor.product %q is not a patchgate product name", truncate(name, 80))
		}
		v, why := docVersions(ver)
		if why != "" {
			return mapped{}, why
		}
		return mapped{name, v, fpn.Name}, ""
	}
	return mapped{}, "no CPE or PURL in product_identification_helper and no map entry for it"
}

// cpeProduct reads "vendor.product" and the version from a CPE 2.3
// formatted string (cpe:2.3:a:cisco:ucce:12.6\(1\):...) or a CPE 2.2 URI
// (cpe:/a:cisco:ucce:12.6(1)). A version of * or - is none.
func cpeProduct(cpe string) (name, version string) {
	var fields []string
	switch {
	case strings.HasPrefix(cpe, "cpe:2.3:"):
		fields = splitCPE23(cpe[len("cpe:2.3:"):])
	case strings.HasPrefix(cpe, "cpe:/"):
		fields = strings.Split(cpe[len("cpe:/"):], ":")
		for i, f := range fields {
			if u, err := url.PathUnescape(f); err == nil {
				fields[i] = u
			}
		}
	default:
		return "", ""
	}
	if len(fields) < 3 || fields[1] == "" || fields[1] == "*" || fields[2] == "" || fields[2] == "*" {
		return "", ""
	}
	name = strings.ToLower(fields[1] + "." + fields[2])
	if len(fields) > 3 && fields[3] != "*" && fields[3] != "-" {
		version = fields[3]
	}
	return name, version
}

// splitCPE23 splits the fields of a formatted string binding, removing the
// backslash quoting of its special characters.
func splitCPE23(s string) []string {
	var fields []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case c == ':':
			fields = append(fields, b.String())
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	return append(fields, b.String())
}

// purlProduct reads the name and version of a package URL
// (pkg:type/namespace/name@version?qualifiers#subpath), with the epoch
// qualifier of RPMs.
func purlProduct(purl string) (name, version string) {
	rest, ok := strings.CutPrefix(purl, "pkg:")
	if !ok {
		return "", ""
	}
	epoch := ""
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		if q, err := url.ParseQuery(strings.SplitN(rest[i+1:], "#", 2)[0]); err == nil && rest[i] == '?' {
			epoch = q.Get("epoch")
		}
		rest = rest[:i]
	}
	rest, version, _ = strings.Cut(rest, "@")
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		rest = rest[i+1:]
	} else {
		return "", "" // no type/name
	}
	name, err := url.PathUnescape(rest)
	if err != nil {
		return "", ""
	}
	if v, err := url.PathUnescape(version); err == nil {
		version = v
	}
	// An RPM's epoch is a qualifier of its PURL; hosts report it as
	// "epoch:version", as rpm -q --qf '%{EPOCHNUM}:...' does.
	if version != "" && epoch != "" && epoch != "0" {
		version = epoch + ":" + version
	}
	return strings.ToLower(name), version
}

// versToConstraint turns a product_version_range into a Constraint
// expression. A vers range (vers:SCHEME/c1|c2|...) lists comparators in
// version order; a lower bound (>, >=) followed by an upper bound (<, <=)
// is one interval, any other comparator stands alone, != excludes from
// all. Anything else is taken as a Constraint expression as it is.
func versToConstraint(r string) (string, error) {
	r = strings.TrimSpace(r)
	body, ok := strings.CutPrefix(r, "vers:")
	if !ok {
		if _, err := patchgate.ParseConstraint(r); err != nil {
			return "", fmt.Errorf("%q is neither a vers range nor a version constraint", truncate(r, 80))
		}
		return r, nil
	}
	_, cs, ok := strings.Cut(body, "/")
	if !ok || cs == "" {
		return "", fmt.Errorf("vers range %q has no constraints", truncate(r, 80))
	}
	if strings.TrimSpace(cs) == "*" {
		return "*", nil
	}
	var alts, excl []string
	pending := ""
	for _, part := range strings.Split(cs, "|") {
		part = strings.TrimSpace(part)
		op := "="
		for _, o := range []string{">=", "<=", "!=", ">", "<", "="} {
			if strings.HasPrefix(part, o) {
				op = o
				part = strings.TrimSpace(part[len(o):])
				break
			}
		}
		if err := patchgate.ValidVersion(part); err != nil {
			return "", fmt.Errorf("vers range %q: %v", truncate(r, 80), err)
		}
		c := op + part
		switch op {
		case ">", ">=":
			if pending != "" {
				alts = append(alts, pending)
			}
			pending = c
		case "<", "<=":
			if pending != "" {
				alts = append(alts, pending+", "+c)
				pending = ""
			} else {
				alts = append(alts, c)
			}
		case "!=":
			excl = append(excl, c)
		default:
			if pending != "" {
				alts = append(alts, pending)
				pending = ""
			}
			alts = append(alts, c)
		}
	}
	if pending != "" {
		alts = append(alts, pending)
	}
	if len(alts) == 0 {
		alts = []string{"*"}
	}
	if len(excl) > 0 {
		for i := range alts {
			alts[i] += ", " + strings.Join(excl, ", ")
		}
	}
	out := strings.Join(alts, " || ")
	if _, err := patchgate.ParseConstraint(out); err != nil {
		return "", fmt.Errorf("vers range %q: %v", truncate(r, 80), err)
	}
	return out, nil
}
