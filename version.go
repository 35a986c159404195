package patchgate

import (
	"fmt"
	"strings"
)

// Product versions come from many vendors ("7.2(1)", "2.36-9+deb12u4",
// "1:1.2.3"). They are compared with dpkg's algorithm, which orders all of
// these the way their vendors mean: optional epoch, then alternating
// non-digit runs (compared character by character, '~' before anything,
// letters before other characters) and digit runs (compared numerically).

var productNamePattern = MustBoundedPattern(`^[a-z0-9][a-z0-9._+-]*$`, 1, 128)

// ValidProductName reports whether s is a valid product name: lowercase
// letters, digits and ". _ + -", e.g. "cisco.ucce" or "openssl".
func ValidProductName(s string) bool { return productNamePattern.MatchString(s) }

// ValidVersion checks a product version string.
func ValidVersion(v string) error {
	if v == "" {
		return fmt.Errorf("version is empty")
	}
	if len(v) > 128 {
		return fmt.Errorf("version longer than 128 bytes")
	}
	for _, r := range v {
		if r <= ' ' || r > '~' || strings.ContainsRune(`,|<>=!`, r) {
			return fmt.Errorf("version %q contains %q", v, r)
		}
	}
	return nil
}

// CompareVersions returns -1, 0 or +1 as a is older than, equal to or newer
// than b.
func CompareVersions(a, b string) int {
	ea, ra := splitEpoch(a)
	eb, rb := splitEpoch(b)
	if c := compareDigits(ea, eb); c != 0 {
		return c
	}
	ua, va := splitRevision(ra)
	ub, vb := splitRevision(rb)
	if c := verrevcmp(ua, ub); c != 0 {
		return c
	}
	return verrevcmp(va, vb)
}

func splitEpoch(v string) (epoch, rest string) {
	if i := strings.IndexByte(v, ':'); i > 0 && isDigits(v[:i]) {
		return v[:i], v[i+1:]
	}
	return "0", v
}

func splitRevision(v string) (upstream, revision string) {
	if i := strings.LastIndexByte(v, '-'); i > 0 {
		return v[:i], v[i+1:]
	}
	return v, ""
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

func order(c byte) int {
	switch {
	case isDigit(c):
		return 0
	case isAlpha(c):
		return int(c)
	case c == '~':
		return -1
	case c == 0:
		return 0
	}
	return int(c) + 256
}

// verrevcmp is dpkg's comparison of an upstream version or revision.
func verrevcmp(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		firstDiff := 0
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			var ac, bc int
			if i < len(a) {
				ac = order(a[i])
			}
			if j < len(b) {
				bc = order(b[j])
			}
			if ac != bc {
				return sign(ac - bc)
			}
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		for i < len(a) && isDigit(a[i]) && j < len(b) && isDigit(b[j]) {
			if firstDiff == 0 {
				firstDiff = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if firstDiff != 0 {
			return sign(firstDiff)
		}
	}
	return 0
}

func compareDigits(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return sign(len(a) - len(b))
	}
	return sign(strings.Compare(a, b))
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// Constraint is a parsed version constraint: alternatives separated by
// "||", each a comma-separated list of clauses that must all hold, each
// clause an operator (=, !=, <, <=, >, >=) and a version, or "*" for any
// version. A bare version means "=". Example: ">=7.2(1), <8.0 || =9.0(1)".
type Constraint struct {
	alts [][]clause
}

type clause struct {
	op      string
	version string
}

// ParseConstraint parses s; the empty string matches every version.
func ParseConstraint(s string) (Constraint, error) {
	var c Constraint
	s = strings.TrimSpace(s)
	if s == "" || s == "*" {
		return c, nil
	}
	if len(s) > 512 {
		return c, fmt.Errorf("constraint longer than 512 bytes")
	}
	for _, alt := range strings.Split(s, "||") {
		var clauses []clause
		for _, part := range strings.Split(alt, ",") {
			part = strings.TrimSpace(part)
			if part == "*" {
				clauses = append(clauses, clause{op: "*"})
				continue
			}
			op := ""
			for _, o := range []string{">=", "<=", "!=", ">", "<", "="} {
				if strings.HasPrefix(part, o) {
					op = o
					break
				}
			}
			v := strings.TrimSpace(part[len(op):])
			if op == "" {
				op = "="
			}
			if err := ValidVersion(v); err != nil {
				return Constraint{}, fmt.Errorf("clause %q: %v", part, err)
			}
			clauses = append(clauses, clause{op: op, version: v})
		}
		c.alts = append(c.alts, clauses)
	}
	return c, nil
}

// Matches reports whether version v satisfies the constraint.
func (c Constraint) Matches(v string) bool {
	if len(c.alts) == 0 {
		return true
	}
	for _, alt := range c.alts {
		ok := true
		for _, cl := range alt {
			if !cl.matches(v) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (cl clause) matches(v string) bool {
	if cl.op == "*" {
		return true
	}
	c := CompareVersions(v, cl.version)
	switch cl.op {
	case "=":
		return c == 0
	case "!=":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	return false
}
