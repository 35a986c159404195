//go:build !agentonly

package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

func TestReleasePolicyFlagsCheckedBeforeRequests(t *testing.T) {
	ts, f := newFakeServer(t, func(w http.ResponseWriter, r recorded) { w.WriteHeader(500) })
	cases := []struct {
		args  []string
		field string
	}{
		{[]string{"release", "test-group", "set", "lab"}, "--min-success"},
		{[]string{"release", "test-group", "set", "lab", "--min-success", "-1"}, "--min-success"},
		{[]string{"release", "test-group", "set", "lab", "--min-success", "100001"}, "--min-success"},
		{[]string{"release", "test-group", "set", "bad group!", "--min-success", "1"}, "GROUP"},
		{[]string{"release", "cleanup", "--age", "soon"}, "--age"},
		{[]string{"release", "cleanup", "--age", "-3d"}, "--age"},
		{[]string{"release", "cleanup", "--age", "-3h"}, "--age"},
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

func TestReleasePolicyCommands(t *testing.T) {
	at := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	ts, f := newFakeServer(t, func(w http.ResponseWriter, r recorded) {
		switch {
		case r.Method == "PUT" && r.Path == "/api/v1/release/test-groups/lab/min-success":
			var req adminapi.SetMinSuccessRequest
			json.Unmarshal(r.Body, &req)
			answerJSON(w, 200, patchgate.TestGroup{Name: "lab", MinSuccess: req.MinSuccess})
		case r.Path == "/api/v1/release/test-policy":
			answerJSON(w, 200, adminapi.TestPolicy{Groups: []patchgate.TestGroup{{Name: "canary"}, {Name: "lab", MinSuccess: 2}}})
		case r.Path == "/api/v1/release/cleanup":
			var req adminapi.CleanupRequest
			json.Unmarshal(r.Body, &req)
			answerJSON(w, 200, adminapi.CleanupReport{Age: req.Age, DryRun: req.DryRun, Declined: 1, Items: []patchgate.CleanupItem{
				{UpdateID: "HF-1", SupersededAt: at, SupersededBy: []string{"app-SR1"}, Decline: true, Reason: "superseded by app-SR1 33d ago; no host needs it"},
				{UpdateID: "HF-2", SupersededAt: at, SupersededBy: []string{"app-SR1"}, Reason: "still needed by 1 host(s)", NeededBy: 1, Hosts: []string{"h-7"}},
			}})
		default:
			w.WriteHeader(404)
		}
	})
	base := []string{"--server", ts.URL, "--token", "t"}
	out, _, err := runCLI(t, append(base, "release", "test-group", "set", "lab", "--min-success", "2")...)
	if err != nil || out != "test group lab: an update is tested when 2 host(s) that need it installed it\n" {
		t.Errorf("test-group set: %q %v", out, err)
	}
	out, _, err = runCLI(t, append(base, "release", "test-group", "policy")...)
	if err != nil || !strings.Contains(out, "canary  every host that needs it installed it") || !strings.Contains(out, "lab     2 host(s)") {
		t.Errorf("test-group policy:\n%s %v", out, err)
	}
	out, _, err = runCLI(t, append(base, "release", "cleanup", "--age", "45d", "--dry-run")...)
	if err != nil || !strings.Contains(out, "would decline (dry run) 1 of 2 superseded update(s) (age 1080h0m0s)") ||
		!strings.Contains(out, "HF-1    decline") || !strings.Contains(out, "HF-2    keep") || !strings.Contains(out, "(h-7)") {
		t.Errorf("cleanup:\n%s %v", out, err)
	}
	reqs := f.all()
	var req adminapi.CleanupRequest
	json.Unmarshal(reqs[len(reqs)-1].Body, &req)
	if req.Age != "1080h0m0s" || !req.DryRun {
		t.Errorf("cleanup request %+v", req)
	}
	out, _, err = runCLI(t, append(base, "--json", "release", "cleanup")...)
	var rep adminapi.CleanupReport
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Items) != 2 || rep.Items[1].Hosts[0] != "h-7" {
		t.Errorf("cleanup --json: %q %v", out, err)
	}
	req = adminapi.CleanupRequest{}
	json.Unmarshal(f.all()[len(f.all())-1].Body, &req)
	if req.Age != "" || req.DryRun {
		t.Errorf("cleanup without flags sent %+v: the server's age applies", req)
	}
}
