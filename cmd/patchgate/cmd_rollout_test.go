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

func TestRolloutFlagsCheckedBeforeRequests(t *testing.T) {
	ts, f := newFakeServer(t, func(w http.ResponseWriter, r recorded) { w.WriteHeader(500) })
	for _, tc := range []struct {
		args  []string
		field string
	}{
		{[]string{"rollout", "set", "prod"}, "--max-concurrent"},
		{[]string{"rollout", "set", "prod", "--max-concurrent", "lots"}, "--max-concurrent"},
		{[]string{"rollout", "set", "prod", "--max-concurrent", "150%"}, "--max-concurrent"},
		{[]string{"rollout", "set", "prod", "--max-failures", "-2"}, "--max-failures"},
		{[]string{"rollout", "set", "prod", "--canary", "-1"}, "--canary"},
		{[]string{"rollout", "set", "bad group!", "--canary", "1"}, "GROUP"},
		{[]string{"rollout", "status", "bad group!"}, "GROUP"},
		{[]string{"rollout", "resume", "bad group!"}, "GROUP"},
		{[]string{"rollout", "remove", "bad group!"}, "GROUP"},
	} {
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

func TestRolloutCommands(t *testing.T) {
	halted := time.Now().Add(-time.Hour)
	ts, f := newFakeServer(t, func(w http.ResponseWriter, r recorded) {
		switch r.Method {
		case "PUT":
			answerJSON(w, 200, adminapi.RolloutStatus{Policy: patchgate.RolloutPolicy{Group: "prod", MaxConcurrentPercent: 10, MaxFailures: 2, Canary: 1}})
		case "DELETE":
			w.WriteHeader(http.StatusNoContent)
		default:
			answerJSON(w, 200, adminapi.RolloutStatus{Policy: patchgate.RolloutPolicy{Group: "prod", MaxConcurrent: 3},
				Halt: patchgate.RolloutHalt{Group: "prod", Halted: true, At: halted, Reason: "1 failed, the limit is 1"}})
		}
	})
	run := func(args ...string) string {
		t.Helper()
		out, _, err := runCLI(t, append([]string{"--server", ts.URL, "--token", "t"}, args...)...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out
	}
	out := run("rollout", "set", "prod", "--max-concurrent", "10%", "--max-failures", "2", "--canary", "1")
	if !strings.Contains(out, "10%") || !strings.Contains(out, "running") {
		t.Errorf("set: %q", out)
	}
	var req adminapi.SetRolloutRequest
	json.Unmarshal(f.all()[0].Body, &req)
	if req.MaxConcurrent != "10%" || req.MaxFailures != "2" || req.Canary != 1 || f.all()[0].Path != "/api/v1/rollouts/prod" {
		t.Errorf("set request %+v", req)
	}
	if out := run("rollout", "status", "prod"); !strings.Contains(out, "HALTED") || !strings.Contains(out, "1 failed") {
		t.Errorf("status: %q", out)
	}
	if out := run("rollout", "resume", "prod"); out != "resumed the rollout of group prod\n" || f.all()[2].Path != "/api/v1/rollouts/prod/resume" || f.all()[2].Method != "POST" {
		t.Errorf("resume: %q %+v", out, f.all()[2])
	}
	if out := run("rollout", "remove", "prod"); !strings.Contains(out, "removed") {
		t.Errorf("remove: %q", out)
	}
}
