//go:build !agentonly

package main

import (
	"strings"
	"testing"
)

func TestParseTrustRoots(t *testing.T) {
	fp := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		in   []string
		want map[string]string
		err  string
	}{
		{in: nil, want: nil},
		{in: []string{"local=" + fp}, want: map[string]string{"local": fp}},
		{in: []string{"local=" + strings.ToUpper(fp), "vendor.a=" + fp}, want: map[string]string{"local": fp, "vendor.a": fp}},
		{in: []string{"local=" + fp, "local=" + fp}, want: map[string]string{"local": fp}},
		{in: []string{"local=" + fp, "local=" + strings.Repeat("cd", 32)}, err: "pinned twice"},
		{in: []string{"local"}, err: "REPO=FINGERPRINT"},
		{in: []string{"local=abc"}, err: "REPO=FINGERPRINT"},
		{in: []string{"../x=" + fp}, err: "REPO=FINGERPRINT"},
		{in: []string{"=" + fp}, err: "--trust-root"},
	} {
		got, err := parseTrustRoots(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("%q: %v, %v", tc.in, got, err)
			continue
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%q: %v", tc.in, got)
			}
		}
	}
}
