package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
	"github.com/patchgate/patchgate/notify"
	"github.com/patchgate/patchgate/notify/mailsink"
	"github.com/patchgate/patchgate/server"
)

func (c *fakeClock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

type jobsEnv struct {
	*env
	sink  *mailsink.Sink
	d     *notify.Dispatcher
	clock *fakeClock
}

func newJobsEnv(t *testing.T, jobs server.NotifyJobsConfig) *jobsEnv {
	t.Helper()
	sink, err := mailsink.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	clk := &fakeClock{now: time.Now().UTC().Truncate(time.Second)}
	e := newEnvWith(t, func(cfg *server.Config, _ string) {
		cfg.Clock, cfg.NotifyJobs = clk.Now, jobs
		cfg.Notify = server.NotifyConfig{Secret: []byte("server-secret-server-secret-1234"), ServerName: "site-1"}
	})
	host, port, _ := net.SplitHostPort(sink.Addr)
	p, _ := strconv.Atoi(port)
	d := notify.New(notify.Config{
		Store: e.store, ServerName: "site-1", PublicURL: e.http.URL, Secret: []byte("server-secret-server-secret-1234"), Clock: clk.Now,
		SMTP:         notify.SMTPConfig{Host: host, Port: p, TLS: notify.TLSNone, From: "patchgate@site-1.example", Timeout: 5 * time.Second},
		StatusReport: e.srv.StatusReport,
	})
	return &jobsEnv{env: e, sink: sink, d: d, clock: clk}
}

// mailText returns the decoded text/plain part of a mail.
func mailText(t *testing.T, m mailsink.Message) string {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	var find func(ct string, body io.Reader, enc string) string
	find = func(ct string, body io.Reader, enc string) string {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(mt, "multipart/") {
			r := multipart.NewReader(body, params["boundary"])
			for {
				p, err := r.NextRawPart()
				if err != nil {
					return ""
				}
				if s := find(p.Header.Get("Content-Type"), p, p.Header.Get("Content-Transfer-Encoding")); s != "" {
					return s
				}
			}
		}
		if mt != "text/plain" {
			return ""
		}
		if strings.EqualFold(enc, "quoted-printable") {
			body = quotedprintable.NewReader(body)
		}
		data, _ := io.ReadAll(body)
		return string(data)
	}
	return find(msg.Header.Get("Content-Type"), msg.Body, msg.Header.Get("Content-Transfer-Encoding"))
}

func (e *jobsEnv) run(name string, job func(context.Context) (int, error)) int {
	e.t.Helper()
	n, err := job(e.t.Context())
	if err != nil {
		e.t.Fatalf("%s: %v", name, err)
	}
	return n
}

func (e *jobsEnv) dispatch() {
	e.t.Helper()
	if err := e.d.Round(e.t.Context()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *jobsEnv) events(typ string) []patchgate.Event {
	evs, err := e.store.ListEvents(e.t.Context(), patchgate.EventFilter{Type: typ, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// TestManualActionRequired: a manual host's owner is mailed what to install
// by hand when its plan gains items, and only then.
func TestManualActionRequired(t *testing.T) {
	e := newJobsEnv(t, server.NotifyJobsConfig{})
	inv := patchgate.Inventory{Hostname: "db1.example.org", OS: "linux", Mode: patchgate.ModeManual, Interval: 24 * time.Hour,
		Products: []patchgate.InstalledProduct{{Name: "postgres", Version: "15.2"}}}
	m1, _ := e.enroll("db", inv)
	inv.Hostname, inv.Mode = "auto1", patchgate.ModeAutomatic
	e.enroll("db", inv)

	// Owners: validated, the host must exist.
	var eb struct{ Code, Message string }
	if st := e.call("PUT", "/api/v1/hosts/"+m1+"/owner", e.admin, adminapi.SetOwnerRequest{Address: "Bob <bob@example.org>"}, &eb); st != 400 || !strings.Contains(eb.Message, "address") {
		t.Errorf("bad owner address: %d %+v", st, eb)
	}
	if st := e.call("PUT", "/api/v1/hosts/nope/owner", e.admin, adminapi.SetOwnerRequest{Address: "bob@example.org"}, nil); st != 404 {
		t.Errorf("owner of an unknown host: %d", st)
	}
	if st := e.call("PUT", "/api/v1/groups/db/owner", e.admin, adminapi.SetOwnerRequest{Address: "dba@example.org"}, nil); st != 200 {
		t.Fatalf("set group owner: %d", st)
	}
	if st := e.call("PUT", "/api/v1/groups/all/owner", e.admin, adminapi.SetOwnerRequest{Address: "ops@example.org"}, nil); st != 200 {
		t.Fatalf("set group owner: %d", st)
	}

	if n := e.run("manual", e.srv.CheckManual); n != 0 {
		t.Errorf("%d notices with an empty plan", n)
	}
	e.publish("PG-1", "postgres", "", []byte("#!/bin/sh\necho pg1\n"), nil)
	if st := e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{"PG-1"}, Group: "db", Action: patchgate.ActionInstall, Deadline: "72h"}, nil); st != 201 && st != 200 {
		t.Fatalf("approve: %d", st)
	}
	if n := e.run("manual", e.srv.CheckManual); n != 1 {
		t.Fatalf("%d notices after PG-1 was approved, want 1 (the manual host only)", n)
	}
	if n := e.run("manual", e.srv.CheckManual); n != 0 {
		t.Errorf("the same plan noticed again: %d", n)
	}
	e.dispatch()
	for _, addr := range []string{"dba@example.org", "ops@example.org"} {
		got := e.sink.To(addr)
		if len(got) != 1 {
			t.Fatalf("group owner %s got %d mails, want 1", addr, len(got))
		}
		body := mailText(t, got[0])
		if !strings.Contains(got[0].Header.Get("Subject"), "manual action required") || !strings.Contains(body, "PG-1") ||
			!strings.Contains(body, e.http.URL+"/content/sha256/") {
			t.Errorf("manual mail: %s\n%s", got[0].Header.Get("Subject"), body)
		}
	}

	// The host's own owner wins over its groups'; a plan that gains an item
	// is mailed again, to the host owner only.
	var o patchgate.Owner
	if st := e.call("PUT", "/api/v1/hosts/db1.example.org/owner", e.admin, adminapi.SetOwnerRequest{Address: "alice@example.org"}, nil); st != 404 {
		t.Errorf("owner by hostname over the API: %d (the CLI resolves names)", st)
	}
	if st := e.call("PUT", "/api/v1/hosts/"+m1+"/owner", e.admin, adminapi.SetOwnerRequest{Address: "alice@example.org"}, &o); st != 200 || o.Address != "alice@example.org" {
		t.Fatalf("set host owner: %d %+v", st, o)
	}
	e.publish("PG-2", "postgres", "", []byte("#!/bin/sh\necho pg2\n"), nil)
	e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{"PG-2"}, Group: "db", Action: patchgate.ActionInstall}, nil)
	if n := e.run("manual", e.srv.CheckManual); n != 1 {
		t.Fatalf("%d notices after the plan gained PG-2, want 1", n)
	}
	e.clock.Add(2 * time.Minute)
	e.dispatch()
	alice := e.sink.To("alice@example.org")
	if len(alice) != 1 || !strings.Contains(mailText(t, alice[0]), "PG-1") || !strings.Contains(mailText(t, alice[0]), "PG-2") {
		t.Fatalf("host owner got %d mails", len(alice))
	}
	if len(e.sink.To("dba@example.org")) != 1 {
		t.Error("the group owner was mailed although the host has its own owner")
	}

	// The owner installs PG-1 by hand: the plan shrinks, no mail.
	if st := e.call("POST", "/api/v1/hosts/"+m1+"/installed", e.admin, map[string]any{"update": "PG-1"}, nil); st >= 300 {
		t.Fatalf("mark installed: %d", st)
	}
	if n := e.run("manual", e.srv.CheckManual); n != 0 {
		t.Errorf("a shrunk plan was noticed: %d", n)
	}
	var owners []patchgate.Owner
	e.call("GET", "/api/v1/owners", e.admin, nil, &owners)
	if len(owners) != 3 {
		t.Errorf("owners %+v", owners)
	}
	// Removing an owner.
	if st := e.call("PUT", "/api/v1/groups/all/owner", e.admin, adminapi.SetOwnerRequest{}, nil); st != 200 {
		t.Errorf("remove owner: %d", st)
	}
	e.call("GET", "/api/v1/owners", e.admin, nil, &owners)
	if len(owners) != 2 {
		t.Errorf("owners after removal %+v", owners)
	}
}

// TestAlertJobs: install failures over the threshold and passed approval
// deadlines raise one alert each, mailed to subscriptions with alerts.
func TestAlertJobs(t *testing.T) {
	e := newJobsEnv(t, server.NotifyJobsConfig{FailureThreshold: 2, FailurePeriod: time.Hour})
	var sub patchgate.Subscription
	if st := e.call("POST", "/api/v1/subscriptions", e.admin, adminapi.SubscribeRequest{Address: "admin@example.org", Alerts: true}, &sub); st != 201 {
		t.Fatalf("subscribe: %d", st)
	}
	inv := patchgate.Inventory{Hostname: "web1", OS: "linux", Mode: patchgate.ModeAutomatic, Interval: 24 * time.Hour,
		Products: []patchgate.InstalledProduct{{Name: "nginx", Version: "1.22"}}}
	_, c1 := e.enroll("web", inv)
	inv.Hostname = "web2"
	_, c2 := e.enroll("web", inv)
	inv.Hostname = "web3"
	e.enroll("web", inv)
	e.publish("NG-1", "nginx", "", []byte("#!/bin/sh\nexit 1\n"), nil)
	if st := e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{"NG-1"}, Group: "web", Action: patchgate.ActionInstall, Deadline: "1h"}, nil); st >= 300 {
		t.Fatalf("approve: %d", st)
	}
	now := e.clock.Now()
	fail := func(id string) patchgate.Event {
		return patchgate.Event{ID: id, Time: now, Type: patchgate.EventDeployment, UpdateID: "NG-1", State: patchgate.StateFailed, ExitCode: 1}
	}
	e.report(c1, fail("f1"), fail("f1b")) // one host failing twice counts once
	if n := e.run("failures", e.srv.CheckFailures); n != 0 {
		t.Errorf("%d failure alerts for one host", n)
	}
	e.report(c2, fail("f2"))
	if n := e.run("failures", e.srv.CheckFailures); n != 1 {
		t.Fatalf("%d failure alerts at the threshold, want 1", n)
	}
	if n := e.run("failures", e.srv.CheckFailures); n != 0 {
		t.Errorf("failure alert raised again: %d", n)
	}

	if n := e.run("deadlines", e.srv.CheckDeadlines); n != 0 {
		t.Errorf("%d deadline alerts before the deadline", n)
	}
	e.clock.Add(2 * time.Hour)
	if n := e.run("deadlines", e.srv.CheckDeadlines); n != 1 {
		t.Fatalf("%d deadline alerts after it, want 1", n)
	}
	if n := e.run("deadlines", e.srv.CheckDeadlines); n != 0 {
		t.Errorf("deadline alert raised again: %d", n)
	}
	var od patchgate.OverdueUpdate
	evs := e.events(patchgate.EventAlertDeadline)
	if len(evs) != 1 || json.Unmarshal([]byte(evs[0].Detail), &od) != nil || od.NonCompliant != 3 || od.Group != "web" {
		t.Errorf("deadline alert %+v (%+v)", evs, od)
	}
	// A new advisory event from the advisory import, exposing hosts.
	if err := e.store.AppendEvent(t.Context(), patchgate.Event{ID: "adv-1", Time: e.clock.Now(), Type: patchgate.AlertAdvisoryImported,
		Detail: `{"id":"DSA-5000-1","title":"nginx flaw","severity":"high","cves":["CVE-2026-2222"],"exposed_hosts":3}`}); err != nil {
		t.Fatal(err)
	}
	e.dispatch()
	got := e.sink.To("admin@example.org")
	if len(got) != 2 {
		t.Fatalf("admin got %d mails, want the failed installs and one alert mail", len(got))
	}
	var alert string
	for _, m := range got {
		if strings.Contains(m.Header.Get("Subject"), "alerts") {
			alert = mailText(t, m)
		}
	}
	for _, want := range []string{"NG-1 failed to install on 2 hosts", "for group web passed with 3 of 3 hosts not compliant", "DSA-5000-1"} {
		if !strings.Contains(alert, want) {
			t.Errorf("alert mail lacks %q:\n%s", want, alert)
		}
	}
}

// TestStatusReport: the report over the API, by hand and on its schedule,
// mailed with its chart.
func TestStatusReport(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no tzdata")
	}
	sched, _ := patchgate.ParseReportSchedule("f", "daily@08:00")
	e := newJobsEnv(t, server.NotifyJobsConfig{Report: &sched, Location: paris})
	e.clock.Set(time.Date(2026, 5, 4, 5, 0, 0, 0, time.UTC)) // 07:00 in Paris
	inv := patchgate.Inventory{Hostname: "web1", OS: "linux", Mode: patchgate.ModeAutomatic, Interval: 24 * time.Hour,
		Products: []patchgate.InstalledProduct{{Name: "nginx", Version: "1.22"}}}
	_, cred := e.enroll("web", inv)
	e.publish("NG-1", "nginx", "", []byte("#!/bin/sh\n"), nil)
	e.publish("NG-2", "nginx", "", []byte("#!/bin/sh\necho 2\n"), nil)
	e.call("POST", "/api/v1/approvals", e.admin, adminapi.ApproveRequest{Updates: []string{"NG-1", "NG-2"}, Group: "web", Action: patchgate.ActionInstall}, nil)
	// Yesterday's snapshot, for the history: nothing installed yet.
	if _, err := e.srv.SaveSnapshot(t.Context(), e.clock.Now().Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	inv.Installed = []string{"NG-1"}
	e.checkin(cred, "", inv)
	var sub patchgate.Subscription
	if st := e.call("POST", "/api/v1/subscriptions", e.admin, adminapi.SubscribeRequest{Address: "boss@example.org", Reports: true, TimeZone: "Europe/Paris"}, &sub); st != 201 || !sub.Reports || sub.TimeZone != "Europe/Paris" {
		t.Fatalf("subscribe: %d %+v", st, sub)
	}
	if st := e.call("POST", "/api/v1/subscriptions", e.admin, adminapi.SubscribeRequest{Address: "x@example.org", TimeZone: "Nowhere/City"}, nil); st != 400 {
		t.Errorf("bad time zone: %d", st)
	}

	var rep patchgate.StatusReport
	if st := e.call("GET", "/api/v1/reports/status", e.admin, nil, &rep); st != 200 {
		t.Fatalf("report: %d", st)
	}
	var web *patchgate.ComplianceSnapshot
	for i := range rep.Groups {
		if rep.Groups[i].Group == "web" {
			web = &rep.Groups[i]
		}
	}
	if rep.Day != "2026-05-04" || rep.TimeZone != "Europe/Paris" || web == nil || web.Installed != 1 || web.Applicable != 2 || web.Compliant != 0.5 {
		t.Errorf("report %+v", rep)
	}
	if n := len(rep.History); n != patchgate.ReportHistoryDays || rep.History[n-2].Compliant != 0 || rep.History[n-2].Missing || rep.History[n-1].Compliant != 0.5 {
		t.Errorf("history ends %+v", rep.History[len(rep.History)-3:])
	}

	// On the schedule: armed at the first run, due at 08:00 Paris.
	if n := e.run("report", e.srv.CheckReportSchedule); n != 0 {
		t.Errorf("report sent at the first run: %d", n)
	}
	e.clock.Add(59 * time.Minute)
	if n := e.run("report", e.srv.CheckReportSchedule); n != 0 {
		t.Errorf("report before 08:00: %d", n)
	}
	e.clock.Add(2 * time.Minute)
	if n := e.run("report", e.srv.CheckReportSchedule); n != 1 {
		t.Fatalf("report at 08:01: %d", n)
	}
	if n := e.run("report", e.srv.CheckReportSchedule); n != 0 {
		t.Errorf("report again: %d", n)
	}
	e.dispatch()
	reports := func() []mailsink.Message {
		var out []mailsink.Message
		for _, m := range e.sink.To("boss@example.org") {
			if strings.Contains(m.Header.Get("Subject"), "status report") {
				out = append(out, m)
			}
		}
		return out
	}
	got := reports()
	if len(got) != 1 {
		t.Fatalf("report subscriber got %d reports", len(got))
	}
	if !strings.Contains(got[0].Header.Get("Content-Type"), "multipart/related") || !bytes.Contains(got[0].Data, []byte("image/png")) ||
		!strings.Contains(got[0].Header.Get("Subject"), "status report 2026-05-04") {
		t.Errorf("report mail %q %q", got[0].Header.Get("Subject"), got[0].Header.Get("Content-Type"))
	}
	// By hand.
	var sent adminapi.SendReportResponse
	if st := e.call("POST", "/api/v1/reports/status/send", e.admin, nil, &sent); st != 202 || sent.Recipients != 1 || sent.EventID == "" {
		t.Fatalf("send: %d %+v", st, sent)
	}
	e.dispatch()
	if n := len(reports()); n != 2 {
		t.Errorf("after send: %d reports", n)
	}
}
