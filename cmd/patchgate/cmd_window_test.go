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

func TestWindowFlagsCheckedBeforeRequests(t *testing.T) {
	ts, f := newFakeServer(t, func(w http.ResponseWriter, r recorded) { w.WriteHeader(500) })
	cases := []struct {
		args  []string
		field string
	}{
		{[]string{"window", "set", "web", "--duration", "4h", "--tz", "UTC"}, "--schedule"},
		{[]string{"window", "set", "web", "--schedule", "0 22 * * sat", "--tz", "UTC"}, "--duration"},
		{[]string{"window", "set", "web", "--schedule", "0 22 * * sat", "--duration", "4h"}, "--tz"},
		{[]string{"window", "set", "web", "--schedule", "0 25 * * *", "--duration", "4h", "--tz", "UTC"}, "--schedule"},
		{[]string{"window", "set", "web", "--schedule", "fifth tuesday", "--duration", "4h", "--tz", "UTC"}, "--schedule"},
		{[]string{"window", "set", "web", "--schedule", "second tuesday +3d 25:00", "--duration", "4h", "--tz", "UTC"}, "--schedule"},
		{[]string{"window", "set", "web", "--schedule", "0 22 * * sat", "--duration", "soon", "--tz", "UTC"}, "--duration"},
		{[]string{"window", "set", "web", "--schedule", "0 22 * * sat", "--duration", "40d", "--tz", "UTC"}, "--duration"},
		{[]string{"window", "set", "web", "--schedule", "0 22 * * sat", "--duration", "4h", "--tz", "Europe/Pariss"}, "--tz"},
		{[]string{"window", "set", "bad group!", "--schedule", "0 22 * * sat", "--duration", "4h", "--tz", "UTC"}, "GROUP"},
		{[]string{"window", "next", "web", "--count", "0"}, "--count"},
		{[]string{"window", "next", "web", "--count", "101"}, "--count"},
		{[]string{"window", "remove", "bad group!"}, "GROUP"},
		{[]string{"approve", "PG-1", "--group", "web", "--uninstall", "--emergency"}, "--emergency"},
		{[]string{"host", "mark-installed", "h1", "bad id!"}, "UPDATE"},
		{[]string{"host", "mark-installed", "h1", "PG-1", "--note", "a\x07b"}, "--note"},
		{[]string{"host", "mark-installed", "h1", "PG-1", "--note", strings.Repeat("x", 1025)}, "--note"},
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

func TestWindowCommands(t *testing.T) {
	opens := time.Date(2026, 1, 16, 21, 0, 0, 0, time.UTC)
	ts, f := newFakeServer(t, func(w http.ResponseWriter, r recorded) {
		switch {
		case r.Method == "PUT":
			var req adminapi.SetWindowRequest
			json.Unmarshal(r.Body, &req)
			answerJSON(w, 200, adminapi.WindowInfo{Window: patchgate.Window{Group: "web", Schedule: req.Schedule, Duration: 4 * time.Hour, TimeZone: req.TimeZone}, NextOpening: &opens})
		case r.Method == "DELETE":
			w.WriteHeader(http.StatusNoContent)
		case strings.HasSuffix(r.Path, "/next"):
			answerJSON(w, 200, adminapi.WindowNext{Group: "web", TimeZone: "Europe/Paris",
				Openings: []adminapi.WindowOpening{{Opens: opens, Closes: opens.Add(4 * time.Hour)}}})
		default:
			answerJSON(w, 200, []adminapi.WindowInfo{{Window: patchgate.Window{Group: "web", Schedule: "second tuesday +3d 22:00", Duration: 4 * time.Hour, TimeZone: "Europe/Paris"}, NextOpening: &opens}})
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
	out := run("window", "set", "web", "--schedule", "second tuesday +3d 22:00", "--duration", "4h", "--tz", "Europe/Paris")
	if !strings.Contains(out, "window of group web: second tuesday +3d 22:00 for 4h (Europe/Paris); closed, opens 2026-01-16 22:00 CET") {
		t.Errorf("set: %q", out)
	}
	req := f.all()[0]
	var body adminapi.SetWindowRequest
	json.Unmarshal(req.Body, &body)
	if req.Path != "/api/v1/windows/web" || body.Duration != "4h0m0s" || body.TimeZone != "Europe/Paris" || body.Schedule != "second tuesday +3d 22:00" {
		t.Errorf("set request %s %+v", req.Path, body)
	}
	if out := run("window", "list"); !strings.Contains(out, "web") || !strings.Contains(out, "Europe/Paris") || !strings.Contains(out, "closed, opens") {
		t.Errorf("list: %q", out)
	}
	if out := run("window", "next", "web", "--count", "3"); !strings.Contains(out, "Fri 2026-01-16 22:00 CET") || !strings.Contains(out, "Sat 2026-01-17 02:00 CET") {
		t.Errorf("next: %q", out)
	}
	if q := f.all()[2].Query; q != "count=3" {
		t.Errorf("next query %q", q)
	}
	if out := run("window", "remove", "web"); !strings.Contains(out, "removed the window of group web") {
		t.Errorf("remove: %q", out)
	}
}

func TestApproveEmergencyAndMarkInstalled(t *testing.T) {
	hosts := []adminapi.HostSummary{{Host: patchgate.Host{ID: "h1", Inventory: patchgate.Inventory{Hostname: "app-01", Mode: patchgate.ModeManual}}}}
	ts, f := newFakeServer(t, func(w http.ResponseWriter, r recorded) {
		switch r.Path {
		case "/api/v1/hosts":
			answerJSON(w, 200, hosts)
		case "/api/v1/approvals":
			var req adminapi.ApproveRequest
			json.Unmarshal(r.Body, &req)
			answerJSON(w, 200, adminapi.ApproveResponse{Approvals: []patchgate.Approval{{UpdateID: "PG-1", Group: req.Group, Action: req.Action, Emergency: req.Emergency}}})
		default:
			answerJSON(w, 200, patchgate.Event{Type: patchgate.EventMarkedInstalled})
		}
	})
	out, _, err := runCLI(t, "--server", ts.URL, "--token", "t", "approve", "PG-1", "--group", "web", "--emergency")
	if err != nil || out != "approved PG-1 for group web (emergency: outside maintenance windows)\n" {
		t.Errorf("approve --emergency: %q %v", out, err)
	}
	var ar adminapi.ApproveRequest
	json.Unmarshal(f.all()[0].Body, &ar)
	if !ar.Emergency {
		t.Errorf("request %+v", ar)
	}
	out, _, err = runCLI(t, "--server", ts.URL, "--token", "t", "host", "mark-installed", "app-01", "PG-1", "--note", "CHG-42")
	if err != nil || out != "recorded PG-1 as installed by hand on h1\n" {
		t.Fatalf("mark-installed: %q %v", out, err)
	}
	req := f.all()[2]
	var mr adminapi.MarkInstalledRequest
	json.Unmarshal(req.Body, &mr)
	if req.Method != "POST" || req.Path != "/api/v1/hosts/h1/installed" || mr.Update != "PG-1" || mr.Note != "CHG-42" {
		t.Errorf("mark-installed request %s %s %+v", req.Method, req.Path, mr)
	}
}

func TestDurationText(t *testing.T) {
	for d, want := range map[time.Duration]string{
		4 * time.Hour: "4h", 90 * time.Minute: "1h30m", 30 * time.Minute: "30m", 50 * time.Minute: "50m",
		26 * time.Hour: "26h", 45 * time.Second: "45s", time.Hour + 30*time.Second: "1h0m30s",
	} {
		if got := durationText(d); got != want {
			t.Errorf("durationText(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestPlanWhenText(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	later := now.Add(3 * time.Hour)
	yes, no := true, false
	for _, tc := range []struct {
		it   patchgate.PlanItem
		want string
	}{
		{patchgate.PlanItem{}, "now"},
		{patchgate.PlanItem{InstallAllowed: &no, NextWindow: &later}, "in 3h"},
		{patchgate.PlanItem{InstallAllowed: &no}, "waits for a window"},
		{patchgate.PlanItem{InstallAllowed: &yes, Emergency: true}, "now (emergency)"},
		{patchgate.PlanItem{InstallAllowed: &yes, WindowClosesAt: &later}, "now, window until"},
	} {
		if got := planWhenText(tc.it, now); !strings.Contains(got, tc.want) {
			t.Errorf("planWhenText(%+v) = %q, want %q", tc.it, got, tc.want)
		}
	}
}
