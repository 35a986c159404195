//go:build !agentonly

package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/notify"
	"github.com/patchgate/patchgate/notify/mailsink"
)

// TestNotifyEndToEnd runs `patchgate serve` with mail to a real SMTP
// server on loopback and drives it with the CLI: subscribe, publish a
// critical hotfix, see exactly the matching mail arrive, send a test mail.
func TestNotifyEndToEnd(t *testing.T) {
	sink, err := mailsink.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	host, port, _ := net.SplitHostPort(sink.Addr)
	p, _ := strconv.Atoi(port)
	data := t.TempDir()
	o := &serveOptions{
		Data: filepath.Join(data, "server"), Listen: "127.0.0.1:0", InsecureHTTP: true, MaxPayload: 1 << 20, LogLevel: "error",
		Notify: notifyOptions{SMTPHost: host, SMTPPort: p, SMTPTLS: "none", MailFrom: "patchgate@site.example",
			ServerName: "site.example", DigestHour: 7, Poll: 20 * time.Millisecond},
	}
	srv := serveInProcess(t, o)
	if st, err := os.Stat(filepath.Join(o.Data, "notify.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("notify.key: %v %v", st, err)
	}
	cli := func(args ...string) (string, error) {
		t.Helper()
		out, _, err := runCLI(t, append([]string{"--server", srv.url, "--token", srv.token}, args...)...)
		return out, err
	}

	if _, err := cli("subscribe", "add", "not an address"); patchgate.ErrorCode(err) != patchgate.CodeInvalid {
		t.Errorf("bad address: %v", err)
	}
	if _, err := cli("subscribe", "add", "x@example.org", "--mode", "hourly"); patchgate.ErrorCode(err) != patchgate.CodeInvalid {
		t.Errorf("bad mode: %v", err)
	}
	out, err := cli("subscribe", "add", "ops@example.org", "--min-severity", "critical", "--product", "cisco.ucce", "--kind", "hotfix")
	if err != nil || !strings.HasPrefix(out, "subscribed ops@example.org as sub-") {
		t.Fatalf("subscribe: %q %v", out, err)
	}
	if _, err := cli("subscribe", "add", "low@example.org", "--product", "openssl"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli("subscribe", "add", "digest@example.org", "--mode", "daily"); err != nil {
		t.Fatal(err)
	}
	out, err = cli("subscribe", "list")
	if err != nil || strings.Count(out, "@example.org") != 3 || !strings.Contains(out, "cisco.ucce") {
		t.Fatalf("subscribe list: %q %v", out, err)
	}

	hooks := make(chan *http.Request, 10)
	bodies := make(chan []byte, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hooks <- r
		bodies <- b
	}))
	defer hook.Close()
	if _, err := cli("webhook", "add", "ftp://x"); patchgate.ErrorCode(err) != patchgate.CodeInvalid {
		t.Errorf("bad webhook URL: %v", err)
	}
	out, err = cli("webhook", "add", hook.URL+"/patchgate", "--event", "update.added", "--min-severity", "high")
	if err != nil || !strings.Contains(out, "signing key (shown once): ") {
		t.Fatalf("webhook add: %q %v", out, err)
	}
	key := strings.Fields(out[strings.Index(out, "(shown once): ")+14:])[0]
	if out, err := cli("webhook", "list"); err != nil || !strings.Contains(out, hook.URL) || strings.Contains(out, "ops@") {
		t.Errorf("webhook list: %q %v", out, err)
	}
	if out, err := cli("subscribe", "list"); err != nil || strings.Contains(out, hook.URL) {
		t.Errorf("subscribe list shows webhooks: %q %v", out, err)
	}

	dir := t.TempDir()
	manifest := writeFile(t, dir, "update.yaml", testManifest)
	sh := writeFile(t, dir, "fix.sh", "#!/bin/sh\necho fixed\n")
	deb := writeFile(t, dir, "fix.deb", "debian package")
	if _, err := cli("update", "add", manifest, "--payload", sh, deb, "--post", "--force", "--reason", "e2e"); err != nil {
		t.Fatal(err)
	}
	if !sink.Wait(10*time.Second, func(ms []mailsink.Message) bool { return len(ms) >= 1 }) {
		t.Fatal("no mail arrived")
	}
	time.Sleep(200 * time.Millisecond) // ten more dispatch rounds: nothing else may arrive
	ops := sink.To("ops@example.org")
	if len(ops) != 1 || !strings.Contains(ops[0].Header.Get("Subject"), "PG-2026-001") ||
		!strings.Contains(ops[0].Header.Get("Subject"), "site.example") {
		t.Fatalf("ops got %d mails", len(ops))
	}
	if !strings.Contains(ops[0].Header.Get("List-Unsubscribe"), srv.url+"/unsubscribe?token=") {
		t.Errorf("List-Unsubscribe %q", ops[0].Header.Get("List-Unsubscribe"))
	}
	if n := len(sink.Messages()); n != 1 {
		t.Errorf("%d mails in all; the openssl and digest subscribers must get none now", n)
	}

	select {
	case r := <-hooks:
		body := <-bodies
		if r.Header.Get(notify.HeaderSignature) != notify.Sign(key, body) || !strings.Contains(string(body), "PG-2026-001") {
			t.Errorf("webhook call: signature %q, body %s", r.Header.Get(notify.HeaderSignature), body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the webhook was not called")
	}

	out, err = cli("notify", "test", "me@example.org")
	if err != nil || !strings.Contains(out, "accepted by "+sink.Addr) {
		t.Fatalf("notify test: %q %v", out, err)
	}
	out, err = cli("notify", "dead")
	if err != nil || strings.Contains(out, "@") {
		t.Fatalf("notify dead: %q %v", out, err)
	}
	if _, err := cli("notify", "retry"); patchgate.ErrorCode(err) != patchgate.CodeInvalid {
		t.Errorf("retry without IDs: %v", err)
	}
	if out, err = cli("notify", "retry", "--all"); err != nil || out != "requeued 0 dead letter(s)\n" {
		t.Errorf("retry --all: %q %v", out, err)
	}
	id := strings.Fields(strings.Split(mustCLI(t, cli, "subscribe", "list", "--json"), `"id": "`)[1])[0]
	id = strings.Trim(id, `",`)
	if out, err := cli("subscribe", "remove", id); err != nil || !strings.Contains(out, "removed") {
		t.Errorf("subscribe remove %s: %q %v", id, out, err)
	}
}

func mustCLI(t *testing.T, cli func(...string) (string, error), args ...string) string {
	t.Helper()
	out, err := cli(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestServeNotifyFlags(t *testing.T) {
	dir := t.TempDir()
	cases := []notifyOptions{
		{MailFrom: "a@example.org", Poll: time.Second},                                    // no host
		{SMTPHost: "127.0.0.1", SMTPPort: 25, SMTPTLS: "none", MailFrom: "a@example.org"}, // no poll interval
		{SMTPHost: "127.0.0.1", SMTPPort: 25, SMTPTLS: "maybe", MailFrom: "a@example.org", Poll: time.Second},
		{SMTPHost: "127.0.0.1", SMTPPort: 25, SMTPTLS: "none", MailFrom: "not an address", Poll: time.Second},
		{SMTPHost: "127.0.0.1", SMTPPort: 25, SMTPTLS: "none", MailFrom: "a@example.org", SMTPPasswordFile: filepath.Join(dir, "missing"), Poll: time.Second},
		{SMTPHost: "127.0.0.1", SMTPPort: 25, SMTPTLS: "starttls", MailFrom: "a@example.org", SMTPCAFile: writeFile(t, dir, "ca.pem", "not pem"), Poll: time.Second},
		{QuietHours: "22-6am", Poll: time.Second},
		{QuietHours: "22-24", Poll: time.Second},
		{StatusReport: "hourly@08:00", Poll: time.Second},
		{StatusReport: "daily@8", Poll: time.Second},
		{AlertFailures: 3, AlertFailurePeriod: time.Second, Poll: time.Second},
		{AlertFailures: -1, Poll: time.Second},
		{TimeZone: "Nowhere/City", Poll: time.Second},
		{JobsInterval: time.Microsecond, Poll: time.Second},
	}
	for _, o := range cases {
		if _, err := setupNotify(o, dir, nil, nil); err == nil {
			t.Errorf("setupNotify(%+v) accepted", o)
		}
	}
	pw := writeFile(t, dir, "pw", "s3cret\n")
	ns, err := setupNotify(notifyOptions{SMTPHost: "127.0.0.1", SMTPPort: 25, SMTPTLS: "starttls", SMTPUser: "u",
		SMTPPasswordFile: pw, MailFrom: "a@example.org", Poll: time.Second}, dir, nil, nil)
	if err != nil || ns.cfg.SMTP.Password != "s3cret" {
		t.Fatalf("setupNotify: %v", err)
	}
	again, err := setupNotify(notifyOptions{Poll: time.Second}, dir, nil, nil)
	if err != nil || string(again.server.Secret) != string(ns.server.Secret) || len(ns.server.Secret) != 32 {
		t.Error("the unsubscribe secret is not kept across starts")
	}
	if q, err := setupNotify(notifyOptions{QuietHours: "22-06", Poll: time.Second}, dir, nil, nil); err != nil || q.cfg.QuietStart != 22 || q.cfg.QuietEnd != 6 {
		t.Errorf("--quiet-hours 22-06: %v", err)
	}
	if r, err := setupNotify(notifyOptions{StatusReport: "weekly@fri@17:30", TimeZone: "Europe/Paris", AlertFailures: 4, AlertFailurePeriod: 2 * time.Hour,
		Poll: time.Second}, dir, nil, nil); err != nil || r.jobs.Report == nil || r.jobs.Report.Weekday != time.Friday || r.jobs.Location.String() != "Europe/Paris" ||
		r.cfg.DigestLocation.String() != "Europe/Paris" || r.jobs.FailureThreshold != 4 || r.jobs.FailurePeriod != 2*time.Hour {
		t.Errorf("report and alert flags: %+v %v", r, err)
	}
	if again.server.SendTest != nil {
		t.Error("notify test is offered without an SMTP relay")
	}
}

// servedProcess is a `patchgate serve` running in the test process.
type servedProcess struct{ url, token string }

// serveInProcess runs serve with o until the test ends, and returns its
// URL and admin token once it listens.
func serveInProcess(t *testing.T, o *serveOptions) servedProcess {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	readyc := make(chan servedProcess, 1)
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, o, io.Discard, func(url, _, tok string) { readyc <- servedProcess{url, tok} })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop")
		}
	})
	select {
	case srv := <-readyc:
		return srv
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not start")
	}
	return servedProcess{}
}
