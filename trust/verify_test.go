package trust_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/pki"
	"github.com/patchgate/patchgate/trust"
	"github.com/patchgate/patchgate/trust/trusttest"
)

func TestTargetPathFor(t *testing.T) {
	for _, tc := range []struct {
		id   string
		rev  int
		name string
		want string // "" = refused
	}{
		{"ucce-7.2.1-hf3", 2, "fix.sh", "ucce-7.2.1-hf3/r2/fix.sh"},
		{"fix-1", 1, "openssl_3.0.15-1_amd64.deb", "fix-1/r1/openssl_3.0.15-1_amd64.deb"},
		{"fix-1", 0, "fix.sh", ""},
		{"fix-1", -1, "fix.sh", ""},
		{"../x", 1, "fix.sh", ""},
		{"fix..1", 1, "fix.sh", ""},
		{"fix-1", 1, "../fix.sh", ""},
		{"fix-1", 1, "/etc/passwd", ""},
		{"fix-1", 1, "a/b", ""},
		{"fix-1", 1, "..%2fx", ""},
		{"fix-1", 1, "%2e%2e", ""},
		{"fix-1", 1, `a\b`, ""},
		{"fix-1", 1, "", ""},
		{"fix-1", 1, "..", ""},
		{"fix-1", 1, "a..b", ""},
	} {
		got, err := trust.TargetPathFor(tc.id, tc.rev, tc.name)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("TargetPathFor(%q, %d, %q) = %q, %v; want %q", tc.id, tc.rev, tc.name, got, err, tc.want)
		}
	}
}

func signedTarget(t *testing.T, data []byte, custom *json.RawMessage) *metadata.TargetFiles {
	t.Helper()
	tf, err := metadata.TargetFile().FromBytes("fix-1/r1/fix.sh", data, "sha256")
	if err != nil {
		t.Fatal(err)
	}
	tf.Custom = custom
	return tf
}

func TestCheckSignedPayload(t *testing.T) {
	data := []byte("#!/bin/sh\necho fixed\n")
	sum := sha256.Sum256(data)
	p := patchgate.Payload{Name: "fix.sh", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), Installer: patchgate.InstallerExec, Args: []string{"--quiet"}}
	raw := func(s string) *json.RawMessage { r := json.RawMessage(s); return &r }
	for _, tc := range []struct {
		name   string
		tf     func() *metadata.TargetFiles
		plan   func(p patchgate.Payload) patchgate.Payload
		wantOK bool
		want   string
	}{
		{name: "genuine", wantOK: true},
		{name: "args differ", plan: func(p patchgate.Payload) patchgate.Payload { p.Args = []string{"--quiet", "--evil"}; return p }, want: "installer args"},
		{name: "installer differs", plan: func(p patchgate.Payload) patchgate.Payload { p.Installer = patchgate.InstallerDpkg; return p }, want: "installer"},
		{name: "name differs", plan: func(p patchgate.Payload) patchgate.Payload { p.Name = "other.sh"; return p }, want: "name"},
		{name: "constituent differs", plan: func(p patchgate.Payload) patchgate.Payload { p.Constituent = "x"; return p }, want: "constituent"},
		{name: "size differs", plan: func(p patchgate.Payload) patchgate.Payload { p.Size++; return p }, want: "signed length"},
		{name: "sha differs", plan: func(p patchgate.Payload) patchgate.Payload { p.SHA256 = strings.Repeat("0", 64); return p }, want: "signed sha256"},
		{name: "no custom", tf: func() *metadata.TargetFiles { return signedTarget(t, data, nil) }, want: "no patchgate metadata"},
		{name: "custom without patchgate", tf: func() *metadata.TargetFiles { return signedTarget(t, data, raw(`{"other":1}`)) }, want: "no valid patchgate metadata"},
		{name: "custom not JSON object", tf: func() *metadata.TargetFiles { return signedTarget(t, data, raw(`[1]`)) }, want: "no valid patchgate metadata"},
		{name: "other update", tf: func() *metadata.TargetFiles { return signedTarget(t, data, trusttest.Custom("fix-2", 1, p)) }, want: "signed for update fix-2"},
		{name: "other revision", tf: func() *metadata.TargetFiles { return signedTarget(t, data, trusttest.Custom("fix-1", 2, p)) }, want: "revision 2"},
		{name: "unknown signed field", tf: func() *metadata.TargetFiles {
			return signedTarget(t, data, raw(`{"patchgate":{"update_id":"fix-1","revision":1,"payload":{"name":"fix.sh","size":22,"sha256":"`+p.SHA256+`","installer":"exec","args":["--quiet"],"env":{"LD_PRELOAD":"x"}}}}`))
		}, want: "unknown field"},
		{name: "no sha256", tf: func() *metadata.TargetFiles {
			tf := signedTarget(t, data, trusttest.Custom("fix-1", 1, p))
			tf.Hashes = metadata.Hashes{"sha512": tf.Hashes["sha256"]}
			return tf
		}, want: "no sha256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tf := signedTarget(t, data, trusttest.Custom("fix-1", 1, p))
			if tc.tf != nil {
				tf = tc.tf()
			}
			plan := p
			if tc.plan != nil {
				plan = tc.plan(p)
			}
			err := trust.CheckSignedPayload(tf, "fix-1", 1, plan)
			if tc.wantOK != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("err %v, want ok=%v %q", err, tc.wantOK, tc.want)
			}
		})
	}
	// nil and empty args are the same.
	q := p
	q.Args = nil
	if err := trust.CheckSignedPayload(signedTarget(t, data, trusttest.Custom("fix-1", 1, patchgate.Payload{Name: q.Name, Size: q.Size, SHA256: q.SHA256, Installer: q.Installer, Args: []string{}})), "fix-1", 1, q); err != nil {
		t.Fatal(err)
	}
}

// endless is a body that never ends.
type endless struct{}

func (endless) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = 'x'
	}
	return len(b), nil
}

func TestCopyVerified(t *testing.T) {
	data := []byte("payload bytes")
	tf := signedTarget(t, data, nil)
	var out bytes.Buffer
	if n, err := trust.CopyVerified(&out, bytes.NewReader(data), tf); err != nil || n != int64(len(data)) || out.String() != string(data) {
		t.Fatalf("genuine: %d, %v", n, err)
	}
	for name, src := range map[string][]byte{
		"short":      data[:5],
		"long":       append(append([]byte{}, data...), '!'),
		"other hash": []byte("PAYLOAD BYTES"),
		"empty":      nil,
	} {
		if _, err := trust.CopyVerified(&bytes.Buffer{}, bytes.NewReader(src), tf); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// An endless body is read only to length+1.
	out.Reset()
	n, err := trust.CopyVerified(&out, endless{}, tf)
	if err == nil || n != int64(len(data))+1 || !strings.Contains(err.Error(), "more bytes than the signed length") {
		t.Fatalf("endless: read %d, %v", n, err)
	}
	// A staged file.
	path := filepath.Join(t.TempDir(), "staged")
	os.WriteFile(path, data, 0o600)
	if err := trust.VerifyStagedFile(path, tf); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, append(data, 'x'), 0o600)
	if err := trust.VerifyStagedFile(path, tf); err == nil {
		t.Fatal("longer staged file accepted")
	}
}

func TestSaveRoot(t *testing.T) {
	now := time.Now().UTC()
	repo := trusttest.NewRepo(t, now)
	root, fp := repo.RootBytes()
	v := &trust.Verifier{Dir: t.TempDir()}
	for _, tc := range []struct {
		name       string
		repo       string
		root       []byte
		fp         string
		want       string
		beforeSave func()
	}{
		{name: "bad repo name", repo: "../x", root: root, fp: fp, want: "invalid repository name"},
		{name: "bad repo name upper", repo: "Local", root: root, fp: fp, want: "invalid repository name"},
		{name: "bad fingerprint", repo: "local", root: root, fp: "ABC", want: "invalid root fingerprint"},
		{name: "other fingerprint", repo: "local", root: root, fp: strings.Repeat("ab", 32), want: "fingerprint is"},
		{name: "not a root", repo: "local", root: repo.File("timestamp.json"), fp: trust.RootFingerprintOf(repo.File("timestamp.json")), want: "not TUF root metadata"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := v.SaveRoot(tc.repo, tc.root, tc.fp)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	// Root v2 is not a 1.root.json.
	v2 := repo.Rotate(nil)
	if err := v.SaveRoot("local", v2, trust.RootFingerprintOf(v2)); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("v2: %v", err)
	}
	// Signed below its threshold.
	repo2 := trusttest.NewRepo(t, now)
	repo2.Root.Signed.Version = 1
	weak := repo2.WriteRoot(repo2.RootKeys[0])
	if err := v.SaveRoot("local", weak, trust.RootFingerprintOf(weak)); err == nil || !strings.Contains(err.Error(), "threshold") {
		t.Fatalf("weak: %v", err)
	}
	if v.HasRoot("local") {
		t.Fatal("a refused root was stored")
	}
	if err := v.SaveRoot("local", root, fp); err != nil {
		t.Fatal(err)
	}
	if got, err := v.Fingerprint("local"); err != nil || got != fp {
		t.Fatalf("fingerprint %s, %v", got, err)
	}
	if repos, _ := v.Repos(); len(repos) != 1 || repos[0] != "local" {
		t.Fatalf("repos %v", repos)
	}
	fi, err := os.Stat(filepath.Join(v.Dir, "local", "root.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("root.json: %v %v", fi, err)
	}
}

// TestVerifierTargets drives a Verifier directly (the agent's path is
// tested in agent/trust_test.go): a genuine target verifies through the
// pinned client; a fetch outside the repository or over another client is
// refused.
func TestVerifierTargets(t *testing.T) {
	now := time.Now().UTC()
	repo := trusttest.NewRepo(t, now)
	data := []byte("#!/bin/sh\n")
	sum := sha256.Sum256(data)
	p := patchgate.Payload{Name: "fix.sh", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), Installer: patchgate.InstallerExec}
	repo.AddTarget("fix-1/r1/fix.sh", data, "fix-1", 1, p)
	repo.Publish()
	mux := http.NewServeMux()
	mux.Handle("/tuf/local/", repo)
	ts := httptest.NewTLSServer(mux)
	defer ts.Close()
	client, err := pki.NewHTTPClient(pki.Fingerprint(ts.Certificate()), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	root, fp := repo.RootBytes()
	v := &trust.Verifier{Dir: t.TempDir(), Server: ts.URL, Client: client}
	if err := v.SaveRoot("local", root, fp); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tfs, err := v.Targets(ctx, "local", []string{"fix-1/r1/fix.sh"})
	if err != nil {
		t.Fatal(err)
	}
	if err := trust.CheckSignedPayload(tfs[0], "fix-1", 1, p); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Targets(ctx, "local", []string{"fix-1/r1/other.sh"}); err == nil || !strings.Contains(err.Error(), "does not sign target") {
		t.Fatalf("unsigned target: %v", err)
	}
	if _, err := v.Targets(ctx, "vendor", []string{"fix-1/r1/fix.sh"}); err == nil || !strings.Contains(err.Error(), "no trusted root") {
		t.Fatalf("unknown repo: %v", err)
	}
	// A new updater per refresh: a second call sees newly published
	// targets.
	repo.AddTarget("fix-2/r1/fix.sh", data, "fix-2", 1, p)
	repo.Publish()
	if _, err := v.Targets(ctx, "local", []string{"fix-2/r1/fix.sh"}); err != nil {
		t.Fatal(err)
	}
	// The system trust store's client (no pin) refuses the test server.
	plain := &trust.Verifier{Dir: v.Dir, Server: ts.URL, Client: &http.Client{Timeout: 5 * time.Second}}
	if _, err := plain.Targets(ctx, "local", []string{"fix-1/r1/fix.sh"}); err == nil {
		t.Fatal("an unpinned client verified")
	}
}

// FuzzCheckSignedPayload feeds arbitrary custom metadata: it must never
// panic, and only the exact plan payload may pass.
func FuzzCheckSignedPayload(f *testing.F) {
	data := []byte("#!/bin/sh\n")
	sum := sha256.Sum256(data)
	p := patchgate.Payload{Name: "fix.sh", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), Installer: patchgate.InstallerExec, Args: []string{"-q"}}
	genuine := *trusttest.Custom("fix-1", 1, p)
	f.Add([]byte(genuine))
	f.Add([]byte(`{"patchgate":null}`))
	f.Add([]byte(`{"patchgate":{"payload":{"args":["-q","x"]}}}`))
	f.Fuzz(func(t *testing.T, custom []byte) {
		tf, err := metadata.TargetFile().FromBytes("fix-1/r1/fix.sh", data, "sha256")
		if err != nil {
			t.Fatal(err)
		}
		raw := json.RawMessage(custom)
		tf.Custom = &raw
		if trust.CheckSignedPayload(tf, "fix-1", 1, p) != nil {
			return
		}
		// Accepted: it must describe exactly p.
		var c struct {
			Patchgate struct {
				UpdateID string            `json:"update_id"`
				Revision int               `json:"revision"`
				Payload  patchgate.Payload `json:"payload"`
			} `json:"patchgate"`
		}
		if err := json.Unmarshal(custom, &c); err != nil {
			t.Fatalf("accepted undecodable custom %q", custom)
		}
		got := c.Patchgate.Payload
		if c.Patchgate.UpdateID != "fix-1" || c.Patchgate.Revision != 1 || got.Name != p.Name || got.Size != p.Size || got.SHA256 != p.SHA256 ||
			got.Installer != p.Installer || strings.Join(got.Args, "\x00") != strings.Join(p.Args, "\x00") || len(got.Args) != len(p.Args) || got.Constituent != "" {
			t.Fatalf("accepted %q for %+v", custom, p)
		}
	})
}

func TestMatchesTarget(t *testing.T) {
	data := []byte("payload bytes")
	tf := signedTarget(t, data, nil)
	sum := sha256.Sum256(data)
	p := patchgate.Payload{Name: "fix.sh", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
	if err := trust.MatchesTarget(p, tf); err != nil {
		t.Fatalf("the signed payload: %v", err)
	}
	longer := p
	longer.Size++
	other := p
	other.SHA256 = strings.Repeat("0", 64)
	for name, q := range map[string]patchgate.Payload{"size": longer, "sha256": other} {
		if err := trust.MatchesTarget(q, tf); err == nil {
			t.Errorf("a payload with another %s matched the signed target", name)
		}
	}
}
