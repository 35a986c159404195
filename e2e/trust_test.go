package e2e

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/pki"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// TestSignedUpdates runs the real binary: serve creates the TUF root on
// first start, a posted update is signed and served under /tuf/local/,
// keys status and verify report it, a root rotation is accepted and
// verify follows it from root v1.
func TestSignedUpdates(t *testing.T) {
	s := startServer(t)
	work := t.TempDir()
	rootKeys := filepath.Join(s.data, "tuf-root-keys")
	for _, f := range []string{"root-1.key", "root-2.key", "root-3.key"} {
		if fi, err := os.Stat(filepath.Join(rootKeys, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("first start did not create %s (0600): %v", f, err)
		}
	}
	writeFile(t, filepath.Join(work, "fix.sh"), "#!/bin/sh\necho fixed\n", 0o755)
	writeFile(t, filepath.Join(work, "hf1.yaml"), `
id: ucce-7.2.1-hf1
title: UCCE router fix
kind: hotfix
severity: critical
products:
  - name: cisco.ucce
    versions: ">=7.2(1), <7.3"
reboot: never
payloads:
  - name: fix.sh
    installer: exec
    args: ["--component", "router"]
`, 0o644)
	s.run(t, false, "update", "add", filepath.Join(work, "hf1.yaml"), "--payload", filepath.Join(work, "fix.sh"))
	// Received (in test): signed already, since test groups' hosts install it.
	s.run(t, false, "verify", "ucce-7.2.1-hf1")
	// Withdrawn: no longer signed.
	writeFile(t, filepath.Join(work, "hf0.yaml"), strings.Replace(mustRead(t, filepath.Join(work, "hf1.yaml")), "ucce-7.2.1-hf1", "ucce-7.2.1-hf0", 1), 0o644)
	s.run(t, false, "update", "add", filepath.Join(work, "hf0.yaml"), "--payload", filepath.Join(work, "fix.sh"))
	s.run(t, false, "update", "withdraw", "ucce-7.2.1-hf0", "--reason", "e2e: pulled")
	if out := s.run(t, true, "verify", "ucce-7.2.1-hf0"); !strings.Contains(out, "not signed") {
		t.Fatalf("verify of a withdrawn update:\n%s", out)
	}
	s.run(t, false, "update", "post", "ucce-7.2.1-hf1", "--force", "--reason", "e2e")

	hc, err := pki.NewHTTPClient(s.fingerprint, 0)
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(name string) (int, []byte) {
		resp, err := hc.Get(s.url + "/tuf/local/" + name)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, data
	}
	st, data := fetch("timestamp.json")
	if st != 200 {
		t.Fatalf("timestamp.json: %d", st)
	}
	ts, err := metadata.Timestamp().FromBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	st, data = fetch(itoa(ts.Signed.Meta["snapshot.json"].Version) + ".snapshot.json")
	if st != 200 {
		t.Fatalf("snapshot: %d", st)
	}
	if st, _ := fetch("targets.key"); st != 404 {
		t.Fatalf("targets.key: %d, want 404", st)
	}

	var status adminapi.TrustStatus
	s.runJSON(t, &status, "keys", "status")
	if len(status.Repos) != 1 || status.Repos[0].Targets != 1 || len(status.Repos[0].Roles) != 4 || len(status.Repos[0].RootFingerprint) != 64 {
		t.Fatalf("keys status %+v", status)
	}
	fp := status.Repos[0].RootFingerprint
	if out := s.run(t, false, "keys", "status"); !strings.Contains(out, "timestamp") || !strings.Contains(out, fp) {
		t.Fatalf("keys status table:\n%s", out)
	}

	// verify: the update's payloads and the file itself; a foreign file
	// is not signed.
	var res struct {
		Results []struct {
			Target string `json:"target"`
			OK     bool   `json:"ok"`
		} `json:"results"`
	}
	s.runJSON(t, &res, "verify", "ucce-7.2.1-hf1", "--root-fingerprint", fp)
	if len(res.Results) != 1 || !res.Results[0].OK || res.Results[0].Target != "ucce-7.2.1-hf1/r1/fix.sh" {
		t.Fatalf("verify update %+v", res)
	}
	if out := s.run(t, false, "verify", filepath.Join(work, "fix.sh")); !strings.Contains(out, "ucce-7.2.1-hf1/r1/fix.sh") || !strings.Contains(out, "ok") {
		t.Fatalf("verify file:\n%s", out)
	}
	writeFile(t, filepath.Join(work, "evil.sh"), "#!/bin/sh\nrm -rf /\n", 0o755)
	if out := s.run(t, true, "verify", filepath.Join(work, "evil.sh")); !strings.Contains(out, "not signed") {
		t.Fatalf("verify foreign file:\n%s", out)
	}
	if out := s.run(t, true, "verify", "ucce-7.2.1-hf1", "--root-fingerprint", strings.Repeat("0", 64)); !strings.Contains(out, "root-fingerprint") {
		t.Fatalf("verify with a wrong pin:\n%s", out)
	}

	// Rotation: one old key is below the threshold; two are enough.
	newDir := filepath.Join(work, "new-keys")
	var gen struct {
		Keys []string `json:"keys"`
	}
	s.runJSON(t, &gen, "keys", "generate", "--out", newDir, "--count", "3")
	if len(gen.Keys) != 3 {
		t.Fatalf("generated %v", gen)
	}
	args := []string{"keys", "rotate", "--root-key", filepath.Join(rootKeys, "root-1.key")}
	for _, k := range gen.Keys {
		args = append(args, "--new-root-key", k)
	}
	if out := s.run(t, true, args...); !strings.Contains(out, "threshold") {
		t.Fatalf("rotation with one old key:\n%s", out)
	}
	args = append(args, "--root-key", filepath.Join(rootKeys, "root-3.key"))
	s.run(t, false, args...)
	s.runJSON(t, &status, "keys", "status")
	if status.Repos[0].Roles[0].Version != 2 || status.Repos[0].RootFingerprint != fp {
		t.Fatalf("after rotation %+v", status.Repos[0])
	}
	// verify starts from 1.root.json and follows the chain to v2.
	s.runJSON(t, &res, "verify", "ucce-7.2.1-hf1", "--root-fingerprint", fp)
	if !res.Results[0].OK {
		t.Fatalf("verify after rotation %+v", res)
	}

	// Replacing the online keys with the new root keys' signatures.
	before := status.Repos[0].OnlineKeys["timestamp"]
	s.run(t, false, "keys", "rotate", "--root-key", gen.Keys[0], "--root-key", gen.Keys[1], "--new-online-keys")
	s.runJSON(t, &status, "keys", "status")
	if status.Repos[0].Roles[0].Version != 3 || status.Repos[0].OnlineKeys["timestamp"] == before ||
		status.Repos[0].Roles[3].KeyIDs[0] != status.Repos[0].OnlineKeys["timestamp"] {
		t.Fatalf("after rotating the online keys %+v", status.Repos[0])
	}
	s.runJSON(t, &res, "verify", "ucce-7.2.1-hf1", "--root-fingerprint", fp)
	if !res.Results[0].OK {
		t.Fatalf("verify after rotating the online keys %+v", res)
	}
	// Renewal needs the threshold too.
	if out := s.run(t, true, "keys", "rotate", "--root-key", gen.Keys[0]); !strings.Contains(out, "threshold") {
		t.Fatalf("renewal with one key:\n%s", out)
	}
	s.run(t, false, "keys", "rotate", "--root-key", gen.Keys[0], "--root-key", gen.Keys[2], "--expires", "400d")
	s.runJSON(t, &status, "keys", "status")
	if status.Repos[0].Roles[0].Version != 4 {
		t.Fatalf("after renewal %+v", status.Repos[0].Roles[0])
	}
}

// TestKeysInitBeforeFirstStart: keys init on a fresh data directory puts
// the root keys where the operator says; serve then creates none.
func TestKeysInitBeforeFirstStart(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	offline := filepath.Join(t.TempDir(), "offline")
	s := &server{}
	out := s.run(t, false, "keys", "init", "--data", data, "--out", offline, "--count", "2", "--threshold", "2", "--json")
	var init struct {
		RootKeys    []string `json:"root_keys"`
		Fingerprint string   `json:"root_fingerprint"`
	}
	if err := json.Unmarshal([]byte(out), &init); err != nil || len(init.RootKeys) != 2 || len(init.Fingerprint) != 64 {
		t.Fatalf("keys init: %v\n%s", err, out)
	}
	s.run(t, true, "keys", "init", "--data", data, "--out", offline)
	srv := startServer(t, "--data", data)
	if _, err := os.Stat(filepath.Join(data, "tuf-root-keys")); !os.IsNotExist(err) {
		t.Fatalf("serve created root keys over keys init: %v", err)
	}
	var status adminapi.TrustStatus
	srv.runJSON(t, &status, "keys", "status")
	if status.Repos[0].RootFingerprint != init.Fingerprint || status.Repos[0].Roles[0].Threshold != 2 {
		t.Fatalf("status %+v", status)
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
