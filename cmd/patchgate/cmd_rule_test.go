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

func TestRuleFlagsCheckedBeforeRequests(t *testing.T) {
	ts, f := newFakeServer(t, func(w http.ResponseWriter, r recorded) { w.WriteHeader(500) })
	add := []string{"rule", "add", "--name", "r1", "--group", "prod"}
	for _, tc := range []struct {
		args  []string
		field string
	}{
		{[]string{"rule", "add", "--group", "prod"}, "--name"},
		{[]string{"rule", "add", "--name", "r1"}, "--group"},
		{append(add, "--kind", "patch"), "--kind"},
		{append(add, "--severity", "urgent"), "--severity"},
		{append(add, "--product", "bad name"), "--product"},
		{append(add, "--delay", "soon"), "--delay"},
		{append(add, "--deadline", "400d"), "--deadline"},
		{append(add, "--soak", "1h"), "--after-group"},
		{append(add, "--after-group", "prod"), "--group"},
		{append(add, "--after-group", "test", "--min-success", "-1"), "--min-success"},
		{[]string{"rule", "remove", "Bad!"}, "NAME"},
		{[]string{"rule", "disable", "Bad!"}, "NAME"},
		{[]string{"rule", "enable", "Bad!"}, "NAME"},
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

func TestRuleCommands(t *testing.T) {
	dl := time.Date(2026, 12, 20, 12, 0, 0, 0, time.UTC)
	rule := patchgate.Rule{Name: "ring", Kinds: []patchgate.Kind{patchgate.KindHotfix}, Groups: []string{"prod"},
		AfterGroup: "test", MinSuccess: 1, Soak: 24 * time.Hour, Deadline: 14 * 24 * time.Hour, Enabled: true, CreatedBy: "token:admin"}
	approved := []patchgate.RuleDecision{{Rule: "ring", UpdateID: "hf1", Group: "prod", Verdict: patchgate.RuleApprove,
		Approval: &patchgate.Approval{UpdateID: "hf1", Group: "prod", Action: patchgate.ActionInstall, Deadline: &dl}}}
	ts, f := newFakeServer(t, func(w http.ResponseWriter, r recorded) {
		switch {
		case r.Method == "POST" && r.Path == "/api/v1/rules":
			answerJSON(w, 201, adminapi.RuleResponse{Rule: rule, Approved: approved})
		case r.Method == "GET" && r.Path == "/api/v1/rules":
			answerJSON(w, 200, []patchgate.Rule{rule})
		case r.Path == "/api/v1/rules/dry-run":
			answerJSON(w, 200, adminapi.RulesDryRun{Decisions: []patchgate.RuleDecision{{Rule: "ring", UpdateID: "hf2", Group: "prod",
				Verdict: patchgate.RuleWaiting, Reason: "waiting: 3/5 successes in test"}}})
		case r.Path == "/api/v1/rules/run":
			answerJSON(w, 200, adminapi.RulesRun{Approved: []patchgate.RuleDecision{}})
		case r.Method == "DELETE":
			w.WriteHeader(http.StatusNoContent)
		default:
			answerJSON(w, 200, adminapi.RuleResponse{Rule: rule, Approved: []patchgate.RuleDecision{}})
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
	out := run("rule", "add", "--name", "ring", "--kind", "hotfix", "--group", "prod", "--after-group", "test", "--soak", "24h", "--deadline", "14d")
	if !strings.Contains(out, "added rule ring") || !strings.Contains(out, "1 in test + soak 1d") || !strings.Contains(out, "hf1") {
		t.Errorf("rule add said:\n%s", out)
	}
	var req adminapi.CreateRuleRequest
	if err := json.Unmarshal(f.all()[0].Body, &req); err != nil {
		t.Fatal(err)
	}
	if req.MinSuccess != 1 || req.Soak != "24h" || req.Deadline != "14d" || len(req.Kinds) != 1 || req.Groups[0] != "prod" {
		t.Errorf("request %+v", req)
	}
	if out := run("rule", "list"); !strings.Contains(out, "ring") || !strings.Contains(out, "enabled") || !strings.Contains(out, "14d") {
		t.Errorf("rule list:\n%s", out)
	}
	var list []patchgate.Rule
	if err := json.Unmarshal([]byte(run("rule", "list", "--json")), &list); err != nil || len(list) != 1 || list[0].Soak != 24*time.Hour {
		t.Errorf("rule list --json: %v %+v", err, list)
	}
	if out := run("rule", "dry-run"); !strings.Contains(out, "waiting: 3/5 successes in test") {
		t.Errorf("rule dry-run:\n%s", out)
	}
	if out := run("rule", "run"); !strings.Contains(out, "approved nothing") {
		t.Errorf("rule run:\n%s", out)
	}
	if out := run("rule", "disable", "ring"); !strings.Contains(out, "disabled rule ring") {
		t.Errorf("rule disable:\n%s", out)
	}
	if out := run("rule", "enable", "ring"); !strings.Contains(out, "enabled rule ring") {
		t.Errorf("rule enable:\n%s", out)
	}
	if out := run("rule", "remove", "ring", "--json"); !strings.Contains(out, `"removed": "ring"`) && !strings.Contains(out, `"removed":"ring"`) {
		t.Errorf("rule remove --json:\n%s", out)
	}
	var paths []string
	for _, r := range f.all() {
		paths = append(paths, r.Method+" "+r.Path)
	}
	for _, want := range []string{"POST /api/v1/rules/ring/disable", "POST /api/v1/rules/ring/enable", "DELETE /api/v1/rules/ring", "POST /api/v1/rules/run"} {
		if !strings.Contains(strings.Join(paths, "\n"), want) {
			t.Errorf("no %s in %v", want, paths)
		}
	}
}

func TestServeRulesIntervalChecked(t *testing.T) {
	for _, iv := range []string{"-1m", "500ms"} {
		_, _, err := runCLI(t, "serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--rules-interval", iv)
		if err == nil || !strings.Contains(err.Error(), "--rules-interval") {
			t.Errorf("serve --rules-interval %s: %v, want an error naming the flag", iv, err)
		}
	}
}
