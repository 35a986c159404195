package patchgate

import (
	"strings"
	"testing"
)

// TestBoundedPatterns: the patterns without bounded repeats accept and
// refuse exactly what the bounded ones did, at the length edges too.
func TestBoundedPatterns(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    BoundedPattern
		ok   []string
		bad  []string
	}{
		{"update id", updateIDPattern, []string{"a", "KB5034441", "ucce-7.2.1-hf3", "a:b+c", strings.Repeat("a", 128)},
			[]string{"", "-a", ".a", "a b", "a/b", strings.Repeat("a", 129), "é"}},
		{"cve", cvePattern, []string{"CVE-2024-1234", "CVE-2024-1234567"},
			[]string{"CVE-2024-123", "CVE-2024-12345678", "CVE-24-1234", "cve-2024-1234", "CVE-2024-1234x"}},
		{"sha256", sha256Pattern, []string{strings.Repeat("a", 64)},
			[]string{strings.Repeat("a", 63), strings.Repeat("a", 65), strings.Repeat("A", 64), ""}},
		{"product", productNamePattern, []string{"cisco.ucce", "a", strings.Repeat("a", 128)},
			[]string{"Cisco", "", strings.Repeat("a", 129), ".a"}},
		{"group", groupPattern, []string{"prod", "prod-eu", strings.Repeat("a", 64)},
			[]string{"Prod", "", strings.Repeat("a", 65), "_x"}},
		{"server id", serverIDPattern, []string{"srv-0123456789abcdef"},
			[]string{"srv-0123456789abcde", "srv-0123456789abcdef0", "srv-0123456789ABCDEF"}},
	} {
		for _, s := range tc.ok {
			if !tc.p.MatchString(s) {
				t.Errorf("%s: %q refused", tc.name, s)
			}
		}
		for _, s := range tc.bad {
			if tc.p.MatchString(s) {
				t.Errorf("%s: %q accepted", tc.name, s)
			}
		}
	}
}
