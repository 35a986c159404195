//go:build !agentonly

package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

func TestReleaseFlagsCheckedBeforeRequests(t *testing.T) {
	ts, f := newFakeServer(t, func(w http.ResponseWriter, r recorded) { w.WriteHeader(500) })
	dir := t.TempDir()
	manifest := filepath.Join(dir, "m.yaml")
	os.WriteFile(manifest, []byte("id: PG-1\ntitle: t\nkind: hotfix\nseverity: low\nproducts: [{name: app}]\npayloads: [{name: fix.sh, installer: exec}]\n"), 0o644)
	payload := filepath.Join(dir, "fix.sh")
	os.WriteFile(payload, []byte("#!/bin/sh\n"), 0o755)
	cases := []struct {
		args  []string
		field string
	}{
		{[]string{"update", "post", "bad id!"}, "UPDATE"},
		{[]string{"update", "post", "PG-1", "--force"}, "--reason"},
		{[]string{"update", "post", "PG-1", "--force", "--reason", "a\x07b"}, "--reason"},
		{[]string{"update", "post", "PG-1", "--force", "--reason", strings.Repeat("x", 1025)}, "--reason"},
		{[]string{"update", "withdraw", "PG-1"}, "--reason"},
		{[]string{"update", "withdraw", "PG-1", "--reason", "  "}, "--reason"},
		{[]string{"update", "status", "bad id!"}, "UPDATE"},
		{[]string{"update", "list", "--status", "live"}, "--status"},
		{[]string{"update", "add", manifest, "--payload", payload, "--post"}, "--force"},
		{[]string{"update", "add", manifest, "--payload", payload, "--post", "--force"}, "--reason"},
		{[]string{"update", "add", manifest, "--payload", payload, "--force"}, "--force"},
		{[]string{"update", "add", manifest, "--payload", payload, "--reason", "x"}, "--reason"},
		{[]string{"release", "test-group", "add", "bad group!"}, "GROUP"},
		{[]string{"release", "test-group", "remove", "bad group!"}, "GROUP"},
		{[]string{"release", "sla", "set", "--max", "24h"}, "--severity"},
		{[]string{"release", "sla", "set", "--severity", "urgent", "--max", "24h"}, "--severity"},
		{[]string{"release", "sla", "set", "--severity", "high"}, "--max"},
		{[]string{"release", "sla", "set", "--severity", "high", "--max", "soon"}, "--max"},
		{[]string{"release", "sla", "set", "--severity", "high", "--max", "30s"}, "--max"},
		{[]string{"release", "sla", "set", "--severity", "high", "--max", "400d"}, "--max"},
		{[]string{"release", "consolidate"}, "--product"},
		{[]string{"release", "consolidate", "--product", "Bad Name"}, "--product"},
	}
	for _, tc := range cases {
		_, _, err := runCLI(t, append([]string{"--server", ts.URL, "--token", "t"}, tc.args...)...)
		var pe *patchgate.Error
		if !errors.As(err, &pe) || pe.Field != tc.field {
			t.Errorf("%v: %v, want an error naming %s", tc.args, err, tc.field)
		}
	}
	if n := len(f.all()); n != 0 {
		t.Errorf("%d requests sent despite bad flags", n)
	}
}

func TestReleaseCommands(t *testing.T) {
	now := time.Now().UTC()
	ts, f := newFakeServer(t, func(w http.ResponseWriter, r recorded) {
		switch {
		case r.Method == "POST" && strings.HasSuffix(r.Path, "/post"):
			answerJSON(w, 200, patchgate.ReleaseState{UpdateID: "PG-1", Status: patchgate.StatusPosted, Revision: 2, Forced: true})
		case r.Method == "PUT" && strings.HasPrefix(r.Path, "/api/v1/release/sla/"):
			answerJSON(w, 200, adminapi.SLAPolicyInfo{Max: map[patchgate.Severity]string{"critical": "24h0m0s", "high": "72h0m0s"}, Warn: "4h0m0s"})
		case r.Method == "PUT":
			w.WriteHeader(http.StatusNoContent)
		case r.Path == "/api/v1/reports/sla":
			answerJSON(w, 200, adminapi.SLAReport{GeneratedAt: now, Rows: []patchgate.SLARow{
				{UpdateID: "PG-1", Severity: "critical", Status: "testing", ReceivedAt: now.Add(-25 * time.Hour), Deadline: now.Add(-time.Hour), Overdue: time.Hour, State: patchgate.SLABreached},
				{UpdateID: "PG-2", Severity: "high", Status: "received", ReceivedAt: now, Deadline: now.Add(72 * time.Hour), Remaining: 72 * time.Hour, State: patchgate.SLAOK},
			}})
		default:
			w.WriteHeader(404)
		}
	})
	base := []string{"--server", ts.URL, "--token", "t"}
	out, _, err := runCLI(t, append(base, "update", "post", "PG-1", "--force", "--reason", "site fix")...)
	if err != nil || out != "posted PG-1 revision 2 (forced: untested)\n" {
		t.Errorf("update post: %q %v", out, err)
	}
	var req adminapi.PostUpdateRequest
	json.Unmarshal(f.all()[0].Body, &req)
	if !req.Force || req.Reason != "site fix" {
		t.Errorf("post request %+v", req)
	}
	out, _, err = runCLI(t, append(base, "release", "sla", "set", "--severity", "high", "--max", "3d")...)
	if err != nil || !strings.Contains(out, "high      72h") || !strings.Contains(out, "low       no SLA") {
		t.Errorf("sla set: %q %v", out, err)
	}
	var sla adminapi.SetSLARequest
	reqs := f.all()
	json.Unmarshal(reqs[len(reqs)-1].Body, &sla)
	if reqs[len(reqs)-1].Path != "/api/v1/release/sla/high" || sla.Max != "72h0m0s" {
		t.Errorf("sla request %s %+v", reqs[len(reqs)-1].Path, sla)
	}
	out, _, err = runCLI(t, append(base, "release", "test-group", "add", "lab")...)
	if err != nil || out != "lab is now a test group\n" {
		t.Errorf("test-group add: %q %v", out, err)
	}
	out, _, err = runCLI(t, append(base, "report", "sla")...)
	if err != nil || !strings.Contains(out, "breached") || !strings.Contains(out, "late by 1h") || !strings.Contains(out, "72h left") {
		t.Errorf("report sla:\n%s %v", out, err)
	}
	out, _, err = runCLI(t, append(base, "--json", "report", "sla")...)
	var rep adminapi.SLAReport
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Rows) != 2 {
		t.Errorf("report sla --json: %q %v", out, err)
	}
}
