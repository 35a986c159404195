//go:build !agentonly

package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

func TestGroupTreeFlagsCheckedBeforeRequests(t *testing.T) {
	ts, f := newFakeServer(t, func(w http.ResponseWriter, r recorded) { w.WriteHeader(500) })
	cases := []struct {
		args  []string
		field string
	}{
		{[]string{"group", "create", "eu", "--parent", "Bad Name"}, "--parent"},
		{[]string{"group", "create", "eu", "--reboot", "sometimes"}, "--reboot"},
		{[]string{"group", "set-parent", "eu"}, "PARENT"},
		{[]string{"group", "set-parent", "eu", "prod", "--none"}, "PARENT"},
		{[]string{"group", "set-parent", "eu", "bad parent!"}, "PARENT"},
		{[]string{"group", "set-parent", "bad group!", "--none"}, "NAME"},
		{[]string{"group", "set-reboot", "eu", "weekly"}, "POLICY"},
		{[]string{"group", "set-reboot", "bad group!", "never"}, "GROUP"},
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

func TestGroupTreeCommands(t *testing.T) {
	groups := []patchgate.Group{
		{Name: "all", Hosts: 5},
		{Name: "paris", Parent: "prod-eu", Hosts: 1},
		{Name: "prod", Hosts: 3, RebootPolicy: patchgate.RebootPolicyNever},
		{Name: "prod-eu", Parent: "prod", Hosts: 2, RebootPolicy: patchgate.RebootPolicyAlways},
		{Name: "prod-us", Parent: "prod"},
		{Name: "test", Hosts: 1},
	}
	ts, f := newFakeServer(t, func(w http.ResponseWriter, r recorded) {
		switch r.Method {
		case "GET":
			answerJSON(w, 200, groups)
		case "POST":
			answerJSON(w, 201, patchgate.Group{Name: "eu"})
		default:
			answerJSON(w, 200, patchgate.Group{Name: "eu", Parent: "prod"})
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
	out := run("group", "list")
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		names = append(names, strings.Join(strings.Fields(line)[:2], " "))
	}
	want := []string{"all -", "└ prod", "│ └", "│ │", "│ └", "└ test"}
	for i, w := range want {
		if i >= len(names) || !strings.HasPrefix(names[i], w) {
			t.Fatalf("group list is not a tree:\n%s", out)
		}
	}
	for _, frag := range []string{"paris", "if-required (inherited)", "always (inherited)", "never (inherited)"} {
		if !strings.Contains(out, frag) {
			t.Errorf("group list lacks %q:\n%s", frag, out)
		}
	}
	// paris inherits always from prod-eu, prod-us never from prod.
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "paris") && !strings.Contains(l, "always (inherited)") ||
			strings.Contains(l, "prod-us") && !strings.Contains(l, "never (inherited)") {
			t.Errorf("wrong inherited policy: %q", l)
		}
	}
	if out := run("--json", "group", "list"); !strings.Contains(out, `"parent": "prod-eu"`) {
		t.Errorf("group list --json lacks the parents: %s", out)
	}

	run("group", "create", "eu", "--parent", "prod", "--reboot", "never")
	run("group", "set-parent", "eu", "prod")
	run("group", "set-parent", "eu", "--none")
	run("group", "set-reboot", "eu", "inherit")
	reqs := f.all()[2:]
	var create adminapi.CreateGroupRequest
	json.Unmarshal(reqs[0].Body, &create)
	if create.Parent != "prod" || create.RebootPolicy != "never" {
		t.Errorf("create request %+v", create)
	}
	var p1, p2 adminapi.SetGroupParentRequest
	json.Unmarshal(reqs[1].Body, &p1)
	json.Unmarshal(reqs[2].Body, &p2)
	if reqs[1].Method != "PUT" || reqs[1].Path != "/api/v1/groups/eu/parent" || p1.Parent != "prod" || p2.Parent != "" {
		t.Errorf("set-parent requests %s %s %+v %+v", reqs[1].Method, reqs[1].Path, p1, p2)
	}
	var rb adminapi.SetGroupRebootRequest
	json.Unmarshal(reqs[3].Body, &rb)
	if reqs[3].Path != "/api/v1/groups/eu/reboot-policy" || rb.RebootPolicy != "inherit" {
		t.Errorf("set-reboot request %s %+v", reqs[3].Path, rb)
	}
}

func TestGroupTreeShow(t *testing.T) {
	if testing.Verbose() {
		var b strings.Builder
		writeGroupTree(&b, []patchgate.Group{{Name: "all", Hosts: 5}, {Name: "paris", Parent: "prod-eu", Hosts: 1},
			{Name: "prod", Hosts: 3, RebootPolicy: patchgate.RebootPolicyNever}, {Name: "prod-eu", Parent: "prod"}, {Name: "test"}})
		t.Log("\n" + b.String())
	}
}
