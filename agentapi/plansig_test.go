package agentapi

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/patchgate/patchgate"
)

func TestPlanMessage(t *testing.T) {
	sum := sha256.Sum256([]byte("{}\n"))
	base := PlanMessage(false, "00112233445566778899aabbccddeeff", "h1", `"e1"`, sum[:])
	// The layout is fixed: a verifier built elsewhere must produce it.
	want := "patchgate plan signature v1\x00" +
		"\x00\x00\x00\x04plan" +
		"\x00\x00\x00\x2000112233445566778899aabbccddeeff" +
		"\x00\x00\x00\x02h1" +
		"\x00\x00\x00\x04\"e1\"" +
		"\x00\x00\x00\x20" + string(sum[:])
	if string(base) != want {
		t.Fatalf("PlanMessage =\n%q\nwant\n%q", base, want)
	}
	nm := PlanMessage(true, "00112233445566778899aabbccddeeff", "h1", `"e1"`, sum[:])
	if want := "patchgate plan signature v1\x00\x00\x00\x00\x0cnot-modified\x00\x00\x00\x2000112233445566778899aabbccddeeff\x00\x00\x00\x02h1\x00\x00\x00\x04\"e1\"\x00\x00\x00\x00"; string(nm) != want {
		t.Fatalf("304 message =\n%q\nwant\n%q (no body hash)", nm, want)
	}
	other := sha256.Sum256([]byte("{ }\n"))
	// Every field changes the message, and moving bytes between fields
	// (length prefixes) does too.
	cases := []struct {
		name string
		msg  []byte
	}{
		{"304 instead of 200", nm},
		{"nonce", PlanMessage(false, "00112233445566778899aabbccddeef0", "h1", `"e1"`, sum[:])},
		{"host", PlanMessage(false, "00112233445566778899aabbccddeeff", "h2", `"e1"`, sum[:])},
		{"etag", PlanMessage(false, "00112233445566778899aabbccddeeff", "h1", `"e2"`, sum[:])},
		{"body", PlanMessage(false, "00112233445566778899aabbccddeeff", "h1", `"e1"`, other[:])},
		{"host/etag boundary", PlanMessage(false, "00112233445566778899aabbccddeeff", "h1\"", `e1"`, sum[:])},
		{"nonce/host boundary", PlanMessage(false, "00112233445566778899aabbccddeef", "fh1", `"e1"`, sum[:])},
		{"empty etag", PlanMessage(false, "00112233445566778899aabbccddeeff", "h1", "", sum[:])},
	}
	seen := map[string]string{string(base): "base"}
	for _, c := range cases {
		if prev, ok := seen[string(c.msg)]; ok {
			t.Errorf("%s: same message as %s", c.name, prev)
		}
		seen[string(c.msg)] = c.name
	}
	// A 304's message ignores any body hash given.
	if !bytes.Equal(nm, PlanMessage(true, "00112233445566778899aabbccddeeff", "h1", `"e1"`, nil)) {
		t.Error("304 message depends on the body hash")
	}
}

func TestSignVerifyPlan(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	otherPub, _, _ := ed25519.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{8}, 64)))
	nonce, body := NewNonce(), []byte(`{"plan":{}}`+"\n")
	sig := SignPlan(key, false, nonce, "h1", `"e"`, body)
	sig304 := SignPlan(key, true, nonce, "h1", `"e"`, nil)
	cases := []struct {
		name        string
		key         ed25519.PublicKey
		sig         string
		notModified bool
		nonce, host string
		etag        string
		body        []byte
		want        string // "" = verifies
	}{
		{"plan", pub, sig, false, nonce, "h1", `"e"`, body, ""},
		{"304", pub, sig304, true, nonce, "h1", `"e"`, nil, ""},
		{"other nonce", pub, sig, false, NewNonce(), "h1", `"e"`, body, "plan does not verify"},
		{"other host", pub, sig, false, nonce, "h2", `"e"`, body, "plan does not verify"},
		{"other etag", pub, sig, false, nonce, "h1", `"f"`, body, "plan does not verify"},
		{"altered body", pub, sig, false, nonce, "h1", `"e"`, []byte(`{"plan":{} }` + "\n"), "plan does not verify"},
		{"plan signature on a 304", pub, sig, true, nonce, "h1", `"e"`, nil, "not-modified answer does not verify"},
		{"304 signature on a plan", pub, sig304, false, nonce, "h1", `"e"`, body, "plan does not verify"},
		{"304 other nonce", pub, sig304, true, NewNonce(), "h1", `"e"`, nil, "not-modified answer does not verify"},
		{"wrong key", otherPub, sig, false, nonce, "h1", `"e"`, body, "plan does not verify"},
		{"no key", nil, sig, false, nonce, "h1", `"e"`, body, "no valid plan key"},
		{"missing", pub, "", false, nonce, "h1", `"e"`, body, "not signed"},
		{"not base64", pub, "***", false, nonce, "h1", `"e"`, body, "not a base64"},
		{"short", pub, sig[:40], false, nonce, "h1", `"e"`, body, "not a base64"},
	}
	for _, c := range cases {
		err := VerifyPlan(c.key, c.sig, c.notModified, c.nonce, c.host, c.etag, c.body)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !errors.Is(err, ErrPlanSignature) || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want an ErrPlanSignature saying %q", c.name, err, c.want)
		}
	}
}

func TestValidNonce(t *testing.T) {
	for _, c := range []struct {
		nonce string
		ok    bool
	}{
		{strings.Repeat("a", 16), true},
		{strings.Repeat("0", 64), true},
		{NewNonce(), true},
		{strings.Repeat("a", 15), false},
		{strings.Repeat("a", 65), false},
		{strings.Repeat("A", 32), false},
		{strings.Repeat("g", 32), false},
		{strings.Repeat("a", 31) + "\n", false},
		{"", false},
	} {
		err := ValidNonce(c.nonce)
		if (err == nil) != c.ok {
			t.Errorf("ValidNonce(%q) = %v, want ok %v", c.nonce, err, c.ok)
		}
		if err != nil && (patchgate.ErrorCode(err) != patchgate.CodeInvalid || !strings.Contains(err.Error(), HeaderNonce)) {
			t.Errorf("ValidNonce(%q) = %v: want an invalid error naming %s", c.nonce, err, HeaderNonce)
		}
	}
	if a, b := NewNonce(), NewNonce(); a == b || len(a) != 32 {
		t.Errorf("NewNonce gave %q and %q", a, b)
	}
}

func FuzzValidNonce(f *testing.F) {
	f.Add("00112233445566778899aabbccddeeff")
	f.Add("zz")
	f.Fuzz(func(t *testing.T, s string) {
		if ValidNonce(s) != nil {
			return
		}
		if _, err := hex.DecodeString(s + strings.Repeat("0", len(s)%2)); err != nil || len(s) < MinNonceLen || len(s) > MaxNonceLen || strings.ToLower(s) != s {
			t.Fatalf("accepted %q", s)
		}
	})
}

func FuzzParsePlanKey(f *testing.F) {
	f.Add(EncodePlanKey(make([]byte, 32)))
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParsePlanKey("plan_key", s)
		if err != nil {
			if !strings.Contains(err.Error(), "plan_key") {
				t.Fatalf("error %v does not name the field", err)
			}
			return
		}
		if len(k) != ed25519.PublicKeySize || EncodePlanKey(k) != s {
			t.Fatalf("accepted %q as %x", s, k)
		}
	})
}

// The client sends a fresh nonce with every check-in and, with a key,
// verifies the answer; without one (the simulator) it does not.
func TestClientCheckinNonceAndVerify(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	var nonces []string
	tamper := false
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nonce := r.Header.Get(HeaderNonce)
		nonces = append(nonces, nonce)
		body := []byte(`{"plan":{"host_id":"h1","items":[]},"server_time":"2026-12-04T12:00:00Z"}`)
		w.Header().Set("ETag", `"e"`)
		w.Header().Set(HeaderPlanSignature, SignPlan(key, false, nonce, "h1", `"e"`, body))
		if tamper {
			body = bytes.Replace(body, []byte("h1"), []byte("h2"), 1)
		}
		w.Write(body)
	}))
	defer ts.Close()
	c := &Client{BaseURL: ts.URL, HTTP: ts.Client()}
	ctx := context.Background()
	if _, _, _, err := c.CheckinVerified(ctx, "cred", "h1", pub, "", 0, CheckinRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := c.Checkin(ctx, "cred", "", CheckinRequest{}); err != nil {
		t.Fatal(err)
	}
	if len(nonces) != 2 || nonces[0] == nonces[1] || ValidNonce(nonces[0]) != nil || ValidNonce(nonces[1]) != nil {
		t.Fatalf("nonces %q: want two fresh valid ones", nonces)
	}
	tamper = true
	if _, _, _, err := c.CheckinVerified(ctx, "cred", "h1", pub, "", 0, CheckinRequest{}); !errors.Is(err, ErrPlanSignature) {
		t.Fatalf("tampered answer: %v", err)
	}
	if _, _, _, err := c.Checkin(ctx, "cred", "", CheckinRequest{}); err != nil {
		t.Fatalf("unverified check-in: %v", err)
	}
	if _, _, _, err := c.CheckinVerified(ctx, "cred", "h1", nil, "", 0, CheckinRequest{}); !errors.Is(err, ErrPlanSignature) {
		t.Fatalf("no key: %v", err)
	}
}

// BenchmarkSignPlan is the server's added cost per 304 (a 200 adds the
// sha256 of its body).
func BenchmarkSignPlan(b *testing.B) {
	_, key, _ := ed25519.GenerateKey(nil)
	nonce := NewNonce()
	for b.Loop() {
		SignPlan(key, true, nonce, "h0123456789abcdef", `"0123456789abcdef01234567"`, nil)
	}
}

// BenchmarkVerifyPlan is the agent's cost per check-in.
func BenchmarkVerifyPlan(b *testing.B) {
	pub, key, _ := ed25519.GenerateKey(nil)
	nonce := NewNonce()
	sig := SignPlan(key, true, nonce, "h0123456789abcdef", `"0123456789abcdef01234567"`, nil)
	for b.Loop() {
		if err := VerifyPlan(pub, sig, true, nonce, "h0123456789abcdef", `"0123456789abcdef01234567"`, nil); err != nil {
			b.Fatal(err)
		}
	}
}
