package patchgate

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ServiceReleaseID is the predictable id of the n-th Service Release of a
// product line: "<product>-SR<n>".
func ServiceReleaseID(product string, n int) string { return fmt.Sprintf("%s-SR%d", product, n) }

// serviceReleaseNumber returns n if id is ServiceReleaseID(product, n).
func serviceReleaseNumber(product, id string) (int, bool) {
	rest, ok := strings.CutPrefix(id, product+"-SR")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 1 || strconv.Itoa(n) != rest {
		return 0, false
	}
	return n, true
}

// Consolidation is what `release consolidate` builds, or why it builds
// nothing.
type Consolidation struct {
	Product string `json:"product"`
	// Previous is the latest Service Release of the product line, "" if
	// none: the new one requires it.
	Previous string `json:"previous,omitempty"`
	// Constituents are the hotfixes the new SR consolidates, in the order
	// they were posted.
	Constituents []string `json:"constituents"`
	// Update is the SR to add; nil when there is nothing to consolidate.
	Update *Update `json:"update,omitempty"`
	// Reason says why nothing is built.
	Reason string `json:"reason,omitempty"`
}

// consolidated are the kinds a Service Release takes in: fixes, not
// features or definitions.
var consolidated = []Kind{KindHotfix, KindSecurity, KindCritical}

var productPattern = MustBoundedPattern(`^[a-z0-9][a-z0-9._+-]*$`, 1, 64)

// ConsolidateServiceRelease decides the next incremental Service Release
// of product: every hotfix (kinds hotfix, security, critical) that applies
// to the product, is posted, and is not yet consolidated by an earlier SR
// of the line, in the order they were posted. The SR supersedes them,
// requires the previous SR, carries their payloads in that order (the same
// content, by sha256: nothing is copied) and generated release notes. With
// no such hotfix it builds nothing and says why, so running it twice for
// the same period creates one SR. Each bundled payload names its
// constituent, so that a host installs only the constituents it lacks.
func ConsolidateServiceRelease(product string, updates []Update, states map[string]ReleaseState, now time.Time) (Consolidation, error) {
	c := Consolidation{Product: product, Constituents: []string{}}
	if !productPattern.MatchString(product) {
		return c, Invalid("product", "%q is not a product name", product)
	}
	latest := 0
	done := map[string]bool{}
	for _, u := range updates {
		n, ok := serviceReleaseNumber(product, u.ID)
		if !ok || u.Kind != KindServiceRelease {
			continue
		}
		if n > latest {
			latest, c.Previous = n, u.ID
		}
		for _, id := range u.Supersedes {
			done[id] = true
		}
	}
	var fixes []Update
	for _, u := range updates {
		if !slices.Contains(consolidated, u.Kind) || done[u.ID] || states[u.ID].Status != StatusPosted {
			continue
		}
		if slices.ContainsFunc(u.Products, func(p ProductConstraint) bool { return p.Name == product }) {
			fixes = append(fixes, u)
		}
	}
	if len(fixes) == 0 {
		if c.Previous == "" {
			c.Reason = fmt.Sprintf("no hotfix for %s is posted: nothing to consolidate", product)
		} else {
			c.Reason = fmt.Sprintf("no hotfix for %s was posted since %s: nothing to consolidate", product, c.Previous)
		}
		return c, nil
	}
	sort.SliceStable(fixes, func(i, j int) bool {
		a, b := states[fixes[i].ID].PostedAt, states[fixes[j].ID].PostedAt
		if !a.Equal(b) {
			return a.Before(b)
		}
		return fixes[i].ID < fixes[j].ID
	})
	n := latest + 1
	sr := Update{
		ID:          ServiceReleaseID(product, n),
		Title:       fmt.Sprintf("%s Service Release %d", product, n),
		Kind:        KindServiceRelease,
		Severity:    SeverityLow,
		ReleaseDate: time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC),
		Reboot:      RebootNever,
		Products:    []ProductConstraint{},
		Payloads:    []Payload{},
	}
	if !ValidUpdateID(sr.ID) {
		return c, Invalid("product", "%q makes the invalid update id %q", product, sr.ID)
	}
	if c.Previous != "" {
		sr.Requires = []string{c.Previous}
	}
	var notes strings.Builder
	fmt.Fprintf(&notes, "Consolidates %d fix(es) posted for %s", len(fixes), product)
	if c.Previous != "" {
		fmt.Fprintf(&notes, " since %s", c.Previous)
	}
	notes.WriteString(":\n")
	for i, u := range fixes {
		c.Constituents = append(c.Constituents, u.ID)
		sr.Supersedes = append(sr.Supersedes, u.ID)
		if u.Severity.Rank() > sr.Severity.Rank() {
			sr.Severity = u.Severity
		}
		if rebootRank(u.Reboot) > rebootRank(sr.Reboot) {
			sr.Reboot = u.Reboot
		}
		for _, p := range u.Products {
			if p.Name == product && !slices.Contains(sr.Products, p) {
				sr.Products = append(sr.Products, p)
			}
		}
		for _, cve := range u.CVEs {
			if !slices.Contains(sr.CVEs, cve) {
				sr.CVEs = append(sr.CVEs, cve)
			}
		}
		for _, p := range u.Payloads {
			p.Name = fmt.Sprintf("%02d-%s", i+1, p.Name)
			p.Constituent = u.ID
			if !ValidPayloadName(p.Name) {
				return c, Invalid("payloads", "payload %s of %s is too long a name to bundle", p.Name, u.ID)
			}
			sr.Payloads = append(sr.Payloads, p)
		}
		fmt.Fprintf(&notes, "- %s (%s, %s): %s", u.ID, u.Kind, u.Severity, u.Title)
		if len(u.CVEs) > 0 {
			fmt.Fprintf(&notes, " [%s]", strings.Join(u.CVEs, ", "))
		}
		notes.WriteString("\n")
	}
	sr.Description = strings.TrimSuffix(notes.String(), "\n")
	c.Update = &sr
	return c, nil
}

func rebootRank(r Reboot) int {
	switch r {
	case RebootRequired:
		return 2
	case RebootMay:
		return 1
	}
	return 0
}

// PayloadsToRun decides which payloads of a plan item a host runs, in
// order. A Service Release's payloads name the constituent they come
// from; those of constituents in have (the host's installed updates,
// reboot-pending ones included) are skipped, and skipped lists those
// constituents in bundle order. A host that has every constituent runs
// nothing: installing the SR only records it. Payloads without a
// constituent always run, and so does every payload of an uninstall.
func PayloadsToRun(item PlanItem, have []string) (run []Payload, skipped []string) {
	if item.Action != ActionInstall {
		return item.Payloads, nil
	}
	run = make([]Payload, 0, len(item.Payloads))
	for _, p := range item.Payloads {
		if p.Constituent != "" && slices.Contains(have, p.Constituent) {
			if !slices.Contains(skipped, p.Constituent) {
				skipped = append(skipped, p.Constituent)
			}
			continue
		}
		run = append(run, p)
	}
	return run, skipped
}
