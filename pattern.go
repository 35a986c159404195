package patchgate

import "regexp"

// BoundedPattern is a regular expression with a length limit checked
// apart. A bounded repeat such as `{0,127}` compiles to that many copies of
// its character class — about 60 KB of program per pattern, built at start
// by every process, agents included — while `*` plus a length check
// matches the same strings for a few hundred bytes.
type BoundedPattern struct {
	re       *regexp.Regexp
	min, max int
}

// MustBoundedPattern compiles expr (which should use `*` or `+`, not a
// bounded repeat) for strings of min to max bytes.
func MustBoundedPattern(expr string, min, max int) BoundedPattern {
	return BoundedPattern{re: regexp.MustCompile(expr), min: min, max: max}
}

// MatchString reports whether s is min to max bytes long and matches.
func (p BoundedPattern) MatchString(s string) bool {
	return len(s) >= p.min && len(s) <= p.max && p.re.MatchString(s)
}
