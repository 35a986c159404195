package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

// TestNestedGroupsAndReboot runs the real binary: an approval for a parent
// group reaches a host two levels down, cycles are refused naming them,
// the group list is a tree; the parent's reboot policy never keeps the
// host reboot-pending until the host's own group says if-required, then
// the agent's --reboot-command reboots it and the next start reports the
// update installed.
func TestNestedGroupsAndReboot(t *testing.T) {
	s := startServer(t)
	work := t.TempDir()
	s.run(t, false, "group", "create", "prod", "--reboot", "never")
	s.run(t, false, "group", "create", "prod-eu", "--parent", "prod")
	s.run(t, false, "group", "create", "paris", "--parent", "prod-eu")
	if out := s.run(t, true, "group", "set-parent", "prod", "paris"); !strings.Contains(out, "prod → paris → prod-eu → prod") {
		t.Fatalf("a cycle was not refused by name:\n%s", out)
	}
	if out := s.run(t, true, "group", "delete", "prod-eu"); !strings.Contains(out, "paris") {
		t.Fatalf("deleting a parent was not refused:\n%s", out)
	}
	list := s.run(t, false, "group", "list")
	if !strings.Contains(list, "│ └ paris") || !strings.Contains(list, "never (inherited)") {
		t.Fatalf("group list is not a tree:\n%s", list)
	}
	var groups []patchgate.Group
	s.runJSON(t, &groups, "group", "list")
	parents := map[string]string{}
	for _, g := range groups {
		parents[g.Name] = g.Parent
	}
	if parents["paris"] != "prod-eu" || parents["prod-eu"] != "prod" {
		t.Fatalf("group list --json: %+v", groups)
	}

	var tok adminapi.CreateTokenResponse
	s.runJSON(t, &tok, "token", "create", "--enroll", "--group", "paris", "--uses", "1")
	emptyDpkg := filepath.Join(work, "dpkg")
	os.MkdirAll(emptyDpkg, 0o755)
	writeFile(t, filepath.Join(emptyDpkg, "status"), "", 0o644)
	idFile, bootFile := filepath.Join(work, "machine-id"), filepath.Join(work, "boot_id")
	writeFile(t, idFile, "machine-p1\n", 0o600)
	writeFile(t, bootFile, "boot-1\n", 0o644)
	rebooted := filepath.Join(work, "rebooted")
	// The fake reboot: leaves a mark and a new boot id.
	rebootCmd := "echo reboot >> " + rebooted + " && echo boot-2 > " + bootFile
	agent := func() string {
		return s.run(t, false, "agent", "--enroll-token", tok.Secret, "--state", filepath.Join(work, "state"),
			"--product", "app=1.0", "--hostname", "p1", "--machine-id-file", idFile, "--boot-id-file", bootFile,
			"--dpkg-admindir", emptyDpkg, "--reboot-command", rebootCmd, "--once", "--log-level", "warn")
	}
	agent()

	marker := filepath.Join(work, "installed")
	writeFile(t, filepath.Join(work, "fix.sh"), "#!/bin/sh\ntouch "+marker+"\n", 0o755)
	writeFile(t, filepath.Join(work, "hf.json"), `{"id":"app-hf1","title":"app fix","kind":"hotfix","severity":"critical",
	"products":[{"name":"app"}],"reboot":"required","payloads":[{"name":"fix.sh","installer":"exec"}]}`, 0o644)
	s.run(t, false, "update", "add", filepath.Join(work, "hf.json"), "--payload", filepath.Join(work, "fix.sh"), "--post", "--force", "--reason", "e2e: local fix")
	s.run(t, false, "approve", "app-hf1", "--group", "prod") // two levels above the host's group

	out := agent()
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the approval for prod did not reach a paris host:\n%s", out)
	}
	if !strings.Contains(out, "reboot policy never") {
		t.Fatalf("agent output:\n%s", out)
	}
	if _, err := os.Stat(rebooted); err == nil {
		t.Fatal("rebooted under policy never")
	}
	var host adminapi.HostDetail
	s.runJSON(t, &host, "host", "show", "p1")
	if host.Plan.RebootPolicy != patchgate.RebootPolicyNever || len(host.Host.RebootPending) != 1 {
		t.Fatalf("host show: policy %q, reboot pending %v", host.Plan.RebootPolicy, host.Host.RebootPending)
	}

	s.run(t, false, "group", "set-reboot", "paris", "if-required")
	if out := agent(); !strings.Contains(out, "rebooting") {
		t.Fatalf("agent did not reboot under if-required:\n%s", out)
	}
	if data, _ := os.ReadFile(rebooted); strings.Count(string(data), "\n") != 1 {
		t.Fatalf("reboot command ran %q", data)
	}
	agent() // the next start, after the reboot
	var evs []patchgate.Event
	raw := s.run(t, false, "events", "--type", "deployment", "--json")
	if err := json.Unmarshal([]byte(raw), &evs); err != nil {
		t.Fatalf("events: %v\n%s", err, raw)
	}
	if last := evs[len(evs)-1]; last.State != patchgate.StateInstalled || last.Detail != "reboot completed" {
		t.Fatalf("last deployment event %+v", last)
	}
	if data, _ := os.ReadFile(rebooted); strings.Count(string(data), "\n") != 1 {
		t.Fatalf("rebooted again: %q", data)
	}
}
