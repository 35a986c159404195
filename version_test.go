package patchgate

import (
	"math/rand"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// cmpName renders a CompareVersions result for messages.
func cmpName(c int) string {
	switch c {
	case -1:
		return "<"
	case 0:
		return "="
	case 1:
		return ">"
	}
	return "invalid result"
}

// versionPairs are (a, b, want) with want = CompareVersions(a, b), as dpkg
// orders them. TestCompareVersionsAgainstDpkg checks the same list against
// the real dpkg when it is installed.
var versionPairs = []struct {
	a, b string
	want int
}{
	// tilde sorts before everything, even the end of the string
	{"1.0~rc1", "1.0", -1},
	{"1.0~rc1", "1.0~rc2", -1},
	{"1.0~~", "1.0~", -1},
	{"1.0~", "1.0", -1},
	{"1.0~beta", "1.0~~", 1},
	// epochs dominate
	{"1:0.9", "2.0", 1},
	{"2:1.0", "1:9.9", 1},
	{"0:1.0", "1.0", 0},
	{"01:1.0", "1:1.0", 0},
	{"10:1", "9:1", 1},
	// revisions
	{"1.0-1", "1.0-2", -1},
	{"1.0-10", "1.0-9", 1},
	{"1.0", "1.0-0", 0},
	{"1.2-3-4", "1.2-3-5", -1},
	{"2.36-9+deb12u4", "2.36-9", 1},
	{"2.36-9+deb12u4", "2.36-9+deb12u10", -1},
	{"2.36-10", "2.36-9+deb12u4", 1},
	// Cisco-style versions
	{"7.2(1)", "7.2(2)", -1},
	{"7.2(2)", "7.2(10)", -1},
	{"7.2(10)", "7.3", -1},
	{"7.2(1)", "7.3", -1},
	{"7.2(1)", "7.2(1)", 0},
	{"12.5(1)SU3", "12.5(1)SU10", -1},
	{"12.5(1)", "12.5(1)SU1", -1},
	// leading zeros do not count
	{"1.01", "1.1", 0},
	{"1.001", "1.1", 0},
	{"1.0010", "1.10", 0},
	{"007", "7", 0},
	// numeric, not lexical
	{"2.0", "10.0", -1},
	{"1.9", "1.10", -1},
	{"1.0", "1.0.0", -1},
	{"99999999999999999999", "99999999999999999998", 1},
	{"123456789012345678901234567890", "9", 1},
	// letters sort before other characters, end of string before letters
	{"1.0", "1.0a", -1},
	{"1.0a", "1.0b", -1},
	{"1.0a", "1.0+", -1},
	{"1.0-a", "1.0-+", -1},
	{"1.0Z", "1.0a", -1},
	{"1.0+1", "1.0.1", -1},
	{"1.0", "1.0", 0},
	{"3.0.2", "3.0.10", -1},
	{"openssl-1.1.1w", "openssl-1.1.1t", 1},
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range versionPairs {
		if got := CompareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d (%s), want %d (%s)", tc.a, tc.b, got, cmpName(got), tc.want, cmpName(tc.want))
		}
		if got := CompareVersions(tc.b, tc.a); got != -tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d (antisymmetry)", tc.b, tc.a, got, -tc.want)
		}
	}
}

func TestCompareVersionsChain(t *testing.T) {
	// Each version is strictly newer than the one before it.
	chain := []string{"1.0~rc1", "1.0", "1.0-1", "1.0-2", "1.0a", "1.0.1", "1.1", "1.10", "2.0", "7.2(1)", "7.2(2)", "7.2(10)", "7.3", "1:0.1"}
	for i := range chain {
		for j := range chain {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := CompareVersions(chain[i], chain[j]); got != want {
				t.Errorf("CompareVersions(%q, %q) = %d, want %d", chain[i], chain[j], got, want)
			}
		}
	}
}

// randomVersion builds versions from the characters that make the
// comparison interesting.
func randomVersion(r *rand.Rand) string {
	const alphabet = "0123456789001.~-:+aZ()"
	n := 1 + r.Intn(8)
	var b strings.Builder
	for range n {
		b.WriteByte(alphabet[r.Intn(len(alphabet))])
	}
	return b.String()
}

func TestCompareVersionsIsATotalOrder(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	vs := make([]string, 300)
	for i := range vs {
		vs[i] = randomVersion(r)
	}
	for _, a := range vs {
		if c := CompareVersions(a, a); c != 0 {
			t.Fatalf("CompareVersions(%q, %q) = %d, want 0", a, a, c)
		}
		for _, b := range vs {
			ab, ba := CompareVersions(a, b), CompareVersions(b, a)
			if ab < -1 || ab > 1 {
				t.Fatalf("CompareVersions(%q, %q) = %d, want -1, 0 or 1", a, b, ab)
			}
			if ab != -ba {
				t.Fatalf("antisymmetry: CompareVersions(%q, %q) = %d but CompareVersions(%q, %q) = %d", a, b, ab, b, a, ba)
			}
		}
	}
	// Transitivity: after sorting, every earlier element is <= every later one.
	sort.SliceStable(vs, func(i, j int) bool { return CompareVersions(vs[i], vs[j]) < 0 })
	for i := range vs {
		for j := i + 1; j < len(vs); j++ {
			if CompareVersions(vs[i], vs[j]) > 0 {
				t.Fatalf("not transitive: %q sorted before %q but compares greater", vs[i], vs[j])
			}
		}
	}
}

// TestCompareVersionsAgainstDpkg asks the real dpkg about every pair, when
// dpkg is installed.
func TestCompareVersionsAgainstDpkg(t *testing.T) {
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		t.Skip("dpkg not on PATH")
	}
	if testing.Short() {
		t.Skip("runs dpkg once per pair")
	}
	extra := []struct{ a, b string }{
		{"1.0", "1.0+b1"}, {"1.0+b1", "1.0.1"}, {"0.9~", "0.9"}, {"5:1", "4:99"},
		{"1.2.3-1ubuntu1", "1.2.3-1"}, {"1.2.3-1ubuntu1", "1.2.3-1build1"},
		{"2.7.4-0ubuntu1.6", "2.7.4-0ubuntu1.10"}, {"1.0-1~bpo1", "1.0-1"},
	}
	pairs := make([][2]string, 0, len(versionPairs)+len(extra))
	for _, p := range versionPairs {
		pairs = append(pairs, [2]string{p.a, p.b})
	}
	for _, p := range extra {
		pairs = append(pairs, [2]string{p.a, p.b})
	}
	// dpkg refuses versions that do not start with a digit; skip those.
	startsWithDigit := func(v string) bool {
		if i := strings.IndexByte(v, ':'); i >= 0 {
			v = v[i+1:]
		}
		return v != "" && v[0] >= '0' && v[0] <= '9'
	}
	dpkgCompare := func(a, op, b string) bool {
		return exec.Command(dpkg, "--compare-versions", a, op, b).Run() == nil
	}
	n := 0
	for _, p := range pairs {
		a, b := p[0], p[1]
		if !startsWithDigit(a) || !startsWithDigit(b) {
			continue
		}
		n++
		var want int
		switch {
		case dpkgCompare(a, "lt", b):
			want = -1
		case dpkgCompare(a, "eq", b):
			want = 0
		case dpkgCompare(a, "gt", b):
			want = 1
		default:
			t.Errorf("dpkg gives no answer for %q vs %q", a, b)
			continue
		}
		if got := CompareVersions(a, b); got != want {
			t.Errorf("CompareVersions(%q, %q) = %d, dpkg says %d", a, b, got, want)
		}
	}
	if n < 40 {
		t.Errorf("compared only %d pairs with dpkg, want at least 40", n)
	}

	// Random versions in the syntax dpkg accepts: [epoch:]digit..., with
	// upstream characters from "0-9 . + ~ a z" and an optional revision.
	r := rand.New(rand.NewSource(7))
	gen := func() string {
		const chars = "0123456789.+~az0"
		var b strings.Builder
		if r.Intn(5) == 0 {
			b.WriteString([]string{"0:", "1:", "2:", "01:"}[r.Intn(4)])
		}
		b.WriteByte('0' + byte(r.Intn(10)))
		for range r.Intn(6) {
			b.WriteByte(chars[r.Intn(len(chars))])
		}
		if r.Intn(3) == 0 {
			b.WriteByte('-')
			b.WriteByte('0' + byte(r.Intn(10)))
			for range r.Intn(3) {
				b.WriteByte(chars[r.Intn(len(chars))])
			}
		}
		return b.String()
	}
	for range 100 {
		a, b := gen(), gen()
		if r.Intn(4) == 0 {
			b = a + string("~.+a0"[r.Intn(5)])
		}
		var want int
		switch {
		case dpkgCompare(a, "lt", b):
			want = -1
		case dpkgCompare(a, "eq", b):
			want = 0
		case dpkgCompare(a, "gt", b):
			want = 1
		default:
			t.Errorf("dpkg gives no answer for %q vs %q", a, b)
			continue
		}
		if got := CompareVersions(a, b); got != want {
			t.Errorf("CompareVersions(%q, %q) = %d, dpkg says %d", a, b, got, want)
		}
	}
}

func TestValidVersion(t *testing.T) {
	valid := []string{"1", "7.2(1)", "2.36-9+deb12u4", "1:1.2.3", "1.0~rc1", strings.Repeat("9", 128)}
	for _, v := range valid {
		if err := ValidVersion(v); err != nil {
			t.Errorf("ValidVersion(%q) = %v, want nil", v, err)
		}
	}
	invalid := []string{"", " ", "1.0 ", "1 0", "1,0", "1|0", "<1", ">1", "=1", "!1", "1\t", "1\n", "1.0\x00", "1.0é", "1.0\x7f", strings.Repeat("9", 129)}
	for _, v := range invalid {
		if err := ValidVersion(v); err == nil {
			t.Errorf("ValidVersion(%q) = nil, want an error", v)
		}
	}
}

func TestValidProductName(t *testing.T) {
	valid := []string{"a", "cisco.ucce", "openssl", "libc6", "g++", "python3.12", "my_app-server", "0day", strings.Repeat("a", 128)}
	for _, s := range valid {
		if !ValidProductName(s) {
			t.Errorf("ValidProductName(%q) = false, want true", s)
		}
	}
	invalid := []string{"", "Cisco", "a b", ".hidden", "-x", "_x", "a/b", "a:b", "ä", "a\n", strings.Repeat("a", 129)}
	for _, s := range invalid {
		if ValidProductName(s) {
			t.Errorf("ValidProductName(%q) = true, want false", s)
		}
	}
}

func TestConstraintMatches(t *testing.T) {
	tests := []struct {
		constraint string
		matches    []string
		rejects    []string
	}{
		{"", []string{"0", "1.0", "7.2(1)", "1:0"}, nil},
		{"*", []string{"0", "99.9", "1.0~rc1"}, nil},
		{"  *  ", []string{"0"}, nil},
		{"7.2(1)", []string{"7.2(1)", "7.2(01)", "0:7.2(1)"}, []string{"7.2(2)", "7.2", "7.2(1)-1"}},
		{"=7.2(1)", []string{"7.2(1)"}, []string{"7.2(10)"}},
		{"!=7.2(1)", []string{"7.2(2)", "7.1"}, []string{"7.2(1)", "7.2(001)"}},
		{">7.2(1)", []string{"7.2(2)", "7.2(10)", "8"}, []string{"7.2(1)", "7.2", "7.2(1)~rc1"}},
		{">=7.2(1)", []string{"7.2(1)", "7.2(10)"}, []string{"7.2(0)", "7.1"}},
		{"<7.2(10)", []string{"7.2(2)", "7.2(9)"}, []string{"7.2(10)", "7.3"}},
		{"<=7.2(10)", []string{"7.2(10)", "7.2(2)"}, []string{"7.2(11)", "7.3"}},
		{">=7.2(1), <8.0", []string{"7.2(1)", "7.9", "8.0~rc1"}, []string{"7.1", "8.0", "8.1"}},
		{" >= 7.2(1) ,  < 8.0 ", []string{"7.5"}, []string{"8.0"}},
		{">=1.0, <2.0, !=1.5", []string{"1.0", "1.4", "1.6"}, []string{"1.5", "2.0", "0.9"}},
		{">=7.2(1), <8.0 || =9.0(1)", []string{"7.2(1)", "9.0(1)"}, []string{"8.5", "9.0(2)", "7.1"}},
		{"<1.0 || >2.0", []string{"0.9", "2.1"}, []string{"1.0", "1.5", "2.0"}},
		{"1.0 || 2.0 || 3.0", []string{"1.0", "2.0", "3.0"}, []string{"1.5", "4.0"}},
		{"*, <2.0", []string{"1.0"}, []string{"2.0"}},
		{"<1.0 || *", []string{"5.0"}, nil},
		{">=1:0", []string{"1:0", "2:0"}, []string{"99.0"}},
		{"<2.36-9+deb12u4", []string{"2.36-9", "2.36-9+deb12u3"}, []string{"2.36-9+deb12u4", "2.36-10"}},
	}
	for _, tc := range tests {
		c, err := ParseConstraint(tc.constraint)
		if err != nil {
			t.Errorf("ParseConstraint(%q) error: %v", tc.constraint, err)
			continue
		}
		for _, v := range tc.matches {
			if !c.Matches(v) {
				t.Errorf("%q should match %q", tc.constraint, v)
			}
		}
		for _, v := range tc.rejects {
			if c.Matches(v) {
				t.Errorf("%q should not match %q", tc.constraint, v)
			}
		}
	}
}

func TestParseConstraintInvalid(t *testing.T) {
	invalid := []string{
		">=",
		"<",
		"!=",
		"1.0,",
		",1.0",
		"1.0,,2.0",
		"|| 1.0",
		"1.0 ||",
		"1.0 || || 2.0",
		">=1.0 <2.0", // missing comma
		"=>1.0",
		"==1.0",
		"1.0|2.0",
		"!1.0",
		"><1.0",
		">=1.0 || <",
		"1.0é",
		">=" + strings.Repeat("9", 129),
		strings.Repeat("1.0 || ", 80) + "1.0", // longer than 512 bytes
	}
	for _, s := range invalid {
		c, err := ParseConstraint(s)
		if err == nil {
			t.Errorf("ParseConstraint(%q) = %+v, want an error", s, c)
			continue
		}
		if len(c.alts) != 0 {
			t.Errorf("ParseConstraint(%q) returned a partial constraint with an error", s)
		}
	}
}

func TestParseConstraintLengthLimit(t *testing.T) {
	// Three 128-byte versions and one of n bytes, joined by "||".
	build := func(n int) string {
		v := strings.Repeat("1", 128)
		return v + "||" + v + "||" + v + "||" + strings.Repeat("2", n)
	}
	ok, long := build(122), build(123)
	if len(ok) != 512 || len(long) != 513 {
		t.Fatalf("test constraints have %d and %d bytes", len(ok), len(long))
	}
	c, err := ParseConstraint(ok)
	if err != nil {
		t.Fatalf("512-byte constraint: %v", err)
	}
	if !c.Matches(strings.Repeat("2", 122)) || c.Matches("3") {
		t.Errorf("512-byte constraint does not match as expected")
	}
	if _, err := ParseConstraint(long); err == nil || !strings.Contains(err.Error(), "512") {
		t.Errorf("513-byte constraint: err = %v, want the length error", err)
	}
	// Surrounding spaces do not count.
	if _, err := ParseConstraint("   " + ok + "   "); err != nil {
		t.Errorf("512-byte constraint with spaces around it: %v", err)
	}
}
