package adminapi

import (
	"testing"
	"time"
)

func TestParseAge(t *testing.T) {
	for in, want := range map[string]time.Duration{"30d": 30 * 24 * time.Hour, "0d": 0, "720h": 720 * time.Hour, "90m": 90 * time.Minute, "0": 0} {
		if got, err := ParseAge(in); err != nil || got != want {
			t.Errorf("ParseAge(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "-3d", "1.5d", "30 d", "soon", "36501d"} {
		if _, err := ParseAge(in); err == nil {
			t.Errorf("ParseAge(%q) accepted", in)
		}
	}
}

// FuzzParseAge: never panics; a day count comes back as whole days.
func FuzzParseAge(f *testing.F) {
	for _, s := range []string{"30d", "720h", "0d", "90m", "-3d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseAge(s)
		if err != nil {
			return
		}
		if len(s) > 0 && s[len(s)-1] == 'd' && (d < 0 || d%(24*time.Hour) != 0) {
			t.Fatalf("ParseAge(%q) = %v: days must be whole and not negative", s, d)
		}
	})
}
