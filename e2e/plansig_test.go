package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchgate/patchgate/adminapi"
)

// TestSignedPlans: the real server creates its plan key on first start
// (0600), shows it in keys status, delivers it at enrolment; the real
// agent pins it and installs normally through signed plans; an agent
// whose identity predates signed plans learns the key once and goes on.
func TestSignedPlans(t *testing.T) {
	s := startServer(t)
	work := t.TempDir()
	if fi, err := os.Stat(filepath.Join(s.data, "plan-key.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("plan key file: %v %v", fi, err)
	}
	var status adminapi.TrustStatus
	s.runJSON(t, &status, "keys", "status")
	if len(status.PlanKey) != 44 {
		t.Fatalf("keys status plan_key %q", status.PlanKey)
	}
	if out := s.run(t, false, "keys", "status"); !strings.Contains(out, "plan key: "+status.PlanKey) {
		t.Fatalf("keys status table:\n%s", out)
	}

	marker := filepath.Join(work, "marker")
	writeFile(t, filepath.Join(work, "fix.sh"), "#!/bin/sh\necho \"$@\" >> "+marker+"\n", 0o755)
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
	s.run(t, false, "update", "post", "ucce-7.2.1-hf1", "--force", "--reason", "e2e")

	var tok adminapi.CreateTokenResponse
	s.runJSON(t, &tok, "token", "create", "--enroll", "--group", "all", "--uses", "1")
	emptyDpkg := filepath.Join(work, "dpkg")
	os.MkdirAll(emptyDpkg, 0o755)
	writeFile(t, filepath.Join(emptyDpkg, "status"), "", 0o644)
	idFile := filepath.Join(work, "machine-id")
	writeFile(t, idFile, "machine-plansig\n", 0o600)
	state := filepath.Join(work, "state")
	agent := []string{"agent", "--enroll-token", tok.Secret, "--state", state, "--product", "cisco.ucce=7.2(1)",
		"--hostname", "sig1", "--machine-id-file", idFile, "--dpkg-admindir", emptyDpkg, "--once", "--log-level", "warn"}
	s.run(t, false, agent...)
	identity := func() map[string]any {
		var id map[string]any
		if err := json.Unmarshal([]byte(mustRead(t, filepath.Join(state, "identity.json"))), &id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	if id := identity(); id["plan_key"] != status.PlanKey {
		t.Fatalf("the agent pinned plan key %v, want %s", id["plan_key"], status.PlanKey)
	}

	s.run(t, false, "approve", "ucce-7.2.1-hf1", "--group", "all")
	s.run(t, false, agent...)
	if got := mustRead(t, marker); got != "--component router\n" {
		t.Fatalf("marker %q: the update did not install through a signed plan", got)
	}
	// Up to date now: the next cycles are signed "not modified" answers.
	s.run(t, false, agent...)

	// An identity from before signed plans (no plan_key): the agent
	// learns the key over its pinned channel and pins it again.
	id := identity()
	delete(id, "plan_key")
	data, _ := json.Marshal(id)
	writeFile(t, filepath.Join(state, "identity.json"), string(data), 0o600)
	s.run(t, false, agent...)
	if id := identity(); id["plan_key"] != status.PlanKey {
		t.Fatalf("after learning, plan key %v, want %s", id["plan_key"], status.PlanKey)
	}
	if got := mustRead(t, marker); got != "--component router\n" {
		t.Fatalf("marker %q: something ran twice", got)
	}
}
