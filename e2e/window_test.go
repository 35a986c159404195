package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

// TestWindowsAndManualInstall runs the real binary: an automatic host whose
// group's window is closed does not install an approved update until it is
// approved as an emergency; an operator records a manual install on a
// manual host, and compliance counts both.
func TestWindowsAndManualInstall(t *testing.T) {
	s := startServer(t)
	work := t.TempDir()
	s.run(t, false, "group", "create", "prod")
	var tok adminapi.CreateTokenResponse
	s.runJSON(t, &tok, "token", "create", "--enroll", "--group", "prod", "--uses", "2")
	emptyDpkg := filepath.Join(work, "dpkg")
	os.MkdirAll(emptyDpkg, 0o755)
	writeFile(t, filepath.Join(emptyDpkg, "status"), "", 0o644)
	agentArgs := func(name, mode string) []string {
		idFile := filepath.Join(work, name+".machine-id")
		if _, err := os.Stat(idFile); err != nil {
			writeFile(t, idFile, "machine-"+name+"\n", 0o600)
		}
		return []string{"agent", "--enroll-token", tok.Secret, "--state", filepath.Join(work, name),
			"--mode", mode, "--product", "app=1.0", "--hostname", name, "--machine-id-file", idFile,
			"--dpkg-admindir", emptyDpkg, "--once", "--log-level", "warn"}
	}
	s.run(t, false, agentArgs("auto1", "automatic")...)
	s.run(t, false, agentArgs("manual1", "manual")...)

	// A daily window twelve hours away: closed now.
	hour := (time.Now().UTC().Hour() + 12) % 24
	schedule := fmt.Sprintf("0 %d * * *", hour)
	s.run(t, true, "window", "set", "prod", "--schedule", "0 25 * * *", "--duration", "2h", "--tz", "UTC")
	out := s.run(t, false, "window", "set", "prod", "--schedule", schedule, "--duration", "2h", "--tz", "UTC")
	if !strings.Contains(out, "closed, opens") {
		t.Fatalf("window set said: %s", out)
	}
	if out := s.run(t, false, "window", "list"); !strings.Contains(out, schedule) || !strings.Contains(out, "closed") {
		t.Fatalf("window list:\n%s", out)
	}
	var next adminapi.WindowNext
	s.runJSON(t, &next, "window", "next", "prod", "--count", "3")
	if len(next.Openings) != 3 || next.Openings[1].Opens.Sub(next.Openings[0].Opens) != 24*time.Hour {
		t.Fatalf("window next: %+v", next)
	}

	marker := filepath.Join(work, "marker")
	writeFile(t, filepath.Join(work, "fix.sh"), "#!/bin/sh\ntouch "+marker+"\n", 0o755)
	writeFile(t, filepath.Join(work, "hf.json"), `{"id":"app-hf1","title":"app fix","kind":"hotfix","severity":"critical",
	"products":[{"name":"app"}],"reboot":"never","payloads":[{"name":"fix.sh","installer":"exec"}]}`, 0o644)
	s.run(t, false, "update", "add", filepath.Join(work, "hf.json"), "--payload", filepath.Join(work, "fix.sh"), "--post", "--force", "--reason", "e2e: local fix")
	s.run(t, false, "approve", "app-hf1", "--group", "prod")

	s.run(t, false, agentArgs("auto1", "automatic")...)
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the host installed outside its maintenance window")
	}
	if show := s.run(t, false, "host", "show", "auto1"); !strings.Contains(show, "window ") {
		t.Fatalf("host show does not say the item waits for the window:\n%s", show)
	}

	// An emergency approval installs at the next check-in.
	if out := s.run(t, false, "approve", "app-hf1", "--group", "prod", "--emergency"); !strings.Contains(out, "emergency") {
		t.Fatalf("approve --emergency said: %s", out)
	}
	s.run(t, false, agentArgs("auto1", "automatic")...)
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("the emergency approval did not install")
	}
	s.run(t, false, agentArgs("auto1", "automatic")...) // reports the new inventory

	// The manual host's owner installed it by hand.
	s.run(t, true, "host", "mark-installed", "auto1", "app-hf1")
	s.run(t, false, "host", "mark-installed", "manual1", "app-hf1", "--note", "CHG-42")
	var evs []patchgate.Event
	s.runJSON(t, &evs, "events", "--type", patchgate.EventMarkedInstalled)
	if len(evs) != 1 || !strings.Contains(evs[0].Detail, "CHG-42") {
		t.Fatalf("audit: %+v", evs)
	}
	var rep adminapi.ComplianceReport
	s.runJSON(t, &rep, "report", "compliance", "--group", "prod", "--update", "app-hf1")
	if len(rep.Rows) != 1 || rep.Rows[0].Installed != 2 || rep.Rows[0].ManualActionRequired != 0 {
		t.Fatalf("compliance: %+v", rep.Rows)
	}
	// A rollout policy: set, shown, resumed only when halted, removed.
	s.run(t, true, "rollout", "set", "prod", "--max-concurrent", "lots")
	if out := s.run(t, false, "rollout", "set", "prod", "--max-concurrent", "50%", "--max-failures", "1", "--canary", "1"); !strings.Contains(out, "50%") {
		t.Fatalf("rollout set said: %s", out)
	}
	if out := s.run(t, false, "rollout", "status", "prod"); !strings.Contains(out, "running") {
		t.Fatalf("rollout status:\n%s", out)
	}
	s.run(t, true, "rollout", "resume", "prod")
	s.run(t, false, "rollout", "remove", "prod")

	s.run(t, false, "window", "remove", "prod")
	if out := s.run(t, false, "window", "list"); strings.Contains(out, "prod") {
		t.Fatalf("window list after remove:\n%s", out)
	}
}
