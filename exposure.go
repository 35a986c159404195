package patchgate

import (
	"slices"
	"sort"
	"strings"
)

// ExposureInput is what Exposure decides on: the advisories, the hosts with
// their last inventories, the catalog with release states, approvals and
// deployment records. CVE and AdvisoryID narrow the answer.
type ExposureInput struct {
	Advisories  []Advisory
	Hosts       []Host
	Updates     []Update
	Release     map[string]ReleaseState // by update id
	Approvals   []Approval
	Deployments []Deployment
	CVE         string
	AdvisoryID  string
	// Tree nests the groups (nil = flat), for approvals inherited from
	// parent groups.
	Tree *GroupTree
}

// ExposureRow is one host running a product version an advisory says is
// affected, and where its fix stands for that host.
type ExposureRow struct {
	Advisory string   `json:"advisory"`
	Title    string   `json:"title"`
	Severity Severity `json:"severity,omitempty"`
	CVEs     []string `json:"cves"`
	HostID   string   `json:"host_id"`
	Hostname string   `json:"hostname,omitempty"`
	Product  string   `json:"product"`
	Version  string   `json:"version"`
	// FixedIn lists the versions of the product the advisory says are
	// fixed, newer than the host's.
	FixedIn []string `json:"fixed_in,omitempty"`
	// Fix is the update that fixes it for this host ("" if none is
	// known): one linked to the advisory by a remediation or by the
	// update's manifest (advisories), applicable to the host's product.
	Fix       string       `json:"fix,omitempty"`
	FixStatus UpdateStatus `json:"fix_status,omitempty"`
	Posted    bool         `json:"posted"`
	Approved  bool         `json:"approved"`
	Installed bool         `json:"installed"`
}

// Exposure answers the question a security officer asks the morning an
// advisory lands: which hosts run an affected product version, and for
// each whether a fix is posted, approved (an install approval that applies
// to the host under Resolve) and installed (the host reports it, or an
// update superseding it; for manual hosts also an operator's record).
//
// A host's product is affected when an affected entry of the advisory
// for that product matches its version and no fixed entry does (a vendor
// may list a range as affected and a version inside it as fixed). Rows
// are ordered by advisory, host and product.
func Exposure(in ExposureInput) []ExposureRow {
	cat := NewCatalog(in.Updates)
	approvals := map[string][]Approval{}
	for _, a := range in.Approvals {
		approvals[a.UpdateID] = append(approvals[a.UpdateID], a)
	}
	manualInstalled := map[string][]string{}
	for _, d := range in.Deployments {
		if d.State == StateInstalled {
			manualInstalled[d.HostID] = append(manualInstalled[d.HostID], d.UpdateID)
		}
	}
	var rows []ExposureRow
	for _, a := range in.Advisories {
		if in.AdvisoryID != "" && a.ID != in.AdvisoryID {
			continue
		}
		if in.CVE != "" && !a.HasCVE(in.CVE) {
			continue
		}
		ca := compileAdvisory(a)
		fixes := advisoryFixes(a, in.Updates)
		for _, h := range in.Hosts {
			var installed []string
			for _, hp := range h.Products {
				if _, ok := ca.affected[hp.Name]; !ok {
					continue
				}
				cves := ca.affectedCVEs(hp, in.CVE)
				if cves == nil {
					continue
				}
				if installed == nil {
					installed = h.Installed
					if h.Mode == ModeManual {
						installed = append(slices.Clone(h.Installed), manualInstalled[h.ID]...)
					}
				}
				row := ExposureRow{
					Advisory: a.ID, Title: a.Title, Severity: a.Severity, CVEs: cves,
					HostID: h.ID, Hostname: h.Hostname, Product: hp.Name, Version: hp.Version,
					FixedIn: fixedVersions(a, hp.Name, hp.Version),
				}
				best := -1
				for _, u := range fixes {
					if !cat.Applicable(u.ID, []InstalledProduct{hp}) {
						continue
					}
					c := ExposureRow{Fix: u.ID}
					st, ok := in.Release[u.ID]
					if ok {
						c.FixStatus = st.Status
						c.Posted = st.Status.Released()
					}
					c.Approved = ResolveScoped(approvals[u.ID], in.Tree.Scopes(h.Groups)).Action == ActionInstall
					c.Installed = installedOrSuperseded(cat, u.ID, installed)
					if score := fixScore(c); score > best {
						best = score
						row.Fix, row.FixStatus, row.Posted, row.Approved, row.Installed = c.Fix, c.FixStatus, c.Posted, c.Approved, c.Installed
					}
				}
				rows = append(rows, row)
			}
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Advisory != b.Advisory {
			return a.Advisory < b.Advisory
		}
		if a.HostID != b.HostID {
			return a.HostID < b.HostID
		}
		return a.Product < b.Product
	})
	return rows
}

// ExposedHosts counts the distinct hosts in rows.
func ExposedHosts(rows []ExposureRow) int {
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r.HostID] = true
	}
	return len(seen)
}

// fixScore ranks candidate fixes for one host: the one furthest along
// (installed, then approved, then posted) is shown.
func fixScore(r ExposureRow) int {
	s := 0
	if r.Installed {
		s += 4
	}
	if r.Approved {
		s += 2
	}
	if r.Posted {
		s++
	}
	return s
}

// advisoryFixes are the updates linked to a: named by its remediations
// (when imported) or naming it in their manifest, ordered by id.
func advisoryFixes(a Advisory, updates []Update) []Update {
	var out []Update
	for _, u := range updates {
		if slices.Contains(a.Updates, u.ID) || slices.Contains(u.Advisories, a.ID) {
			out = append(out, u)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func installedOrSuperseded(cat *Catalog, id string, installed []string) bool {
	seen := map[string]bool{id: true}
	for next := []string{id}; len(next) > 0; {
		cur := next[len(next)-1]
		next = next[:len(next)-1]
		if slices.Contains(installed, cur) {
			return true
		}
		for _, s := range cat.SupersededBy(cur) {
			if !seen[s] {
				seen[s] = true
				next = append(next, s)
			}
		}
	}
	return false
}

// compiledAdvisory is an advisory's affected and fixed entries by
// product, their constraints parsed once.
type compiledAdvisory struct {
	affected, fixed map[string][]compiledEntry
}

type compiledEntry struct {
	cves []string
	c    Constraint
	ok   bool // the constraint parsed; one that does not matches nothing
}

func compileAdvisory(a Advisory) compiledAdvisory {
	ca := compiledAdvisory{affected: map[string][]compiledEntry{}, fixed: map[string][]compiledEntry{}}
	for _, list := range []struct {
		ps []AdvisoryProduct
		m  map[string][]compiledEntry
	}{{a.Affected, ca.affected}, {a.Fixed, ca.fixed}} {
		for _, p := range list.ps {
			c, err := ParseConstraint(p.Versions)
			list.m[p.Product] = append(list.m[p.Product], compiledEntry{cves: p.CVEs, c: c, ok: err == nil})
		}
	}
	return ca
}

// affectedCVEs returns the CVEs for which the advisory says hp is
// affected (nil: it is not), narrowed to cve if set.
func (ca compiledAdvisory) affectedCVEs(hp InstalledProduct, cve string) []string {
	for _, f := range ca.fixed[hp.Name] {
		if f.ok && f.c.Matches(hp.Version) {
			return nil
		}
	}
	var cves []string
	hit := false
	for _, e := range ca.affected[hp.Name] {
		if !e.ok || !e.c.Matches(hp.Version) {
			continue
		}
		if cve != "" && len(e.cves) > 0 && !slices.Contains(e.cves, cve) {
			continue
		}
		hit = true
		for _, c := range e.cves {
			if (cve == "" || c == cve) && !slices.Contains(cves, c) {
				cves = append(cves, c)
			}
		}
	}
	if !hit {
		return nil
	}
	sort.Strings(cves)
	if cves == nil {
		cves = []string{}
	}
	return cves
}

// fixedVersions lists the fixed versions of product that are upgrades
// from version (and fixed ranges as they are).
func fixedVersions(a Advisory, product, version string) []string {
	var out []string
	for _, f := range a.Fixed {
		if f.Product != product || f.Versions == "" {
			continue
		}
		v, exact := strings.CutPrefix(f.Versions, "=")
		if exact && CompareVersions(v, version) <= 0 {
			continue
		}
		if !exact {
			v = f.Versions
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
