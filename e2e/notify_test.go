package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

// smtpSink is the smtpsink command running as its own process: the mail
// relay patchgate talks to, stopped and restarted on the same port.
type smtpSink struct {
	bin, dir, addr string
	cmd            *exec.Cmd
}

func buildSMTPSink(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "smtpsink")
	build := exec.Command("go", "build", "-o", bin, "./smtpsink")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building smtpsink: %v\n%s", err, out)
	}
	return bin
}

func (s *smtpSink) start(t *testing.T) {
	t.Helper()
	addr := s.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	s.cmd = exec.Command(s.bin, "--addr", addr, "--dir", s.dir)
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	s.cmd.Stderr = &stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
	}()
	select {
	case l, ok := <-line:
		if !ok || !strings.HasPrefix(l, "listening on ") {
			t.Fatalf("smtpsink did not start: %q\n%s", l, stderr.String())
		}
		s.addr = strings.TrimPrefix(l, "listening on ")
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		t.Fatal("smtpsink did not print its address in 20s")
	}
}

func (s *smtpSink) stop(t *testing.T) {
	t.Helper()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

type sunkMail struct {
	file, to, subject, messageID, raw string
}

// mails reads every message the sink has written so far.
func (s *smtpSink) mails(t *testing.T) []sunkMail {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(s.dir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	var dec mime.WordDecoder
	var out []sunkMail
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
		if err != nil {
			t.Fatalf("%s: subject: %v", f, err)
		}
		to, err := mail.ParseAddress(m.Header.Get("To"))
		if err != nil {
			t.Fatalf("%s: To: %v", f, err)
		}
		out = append(out, sunkMail{file: filepath.Base(f), to: to.Address, subject: subject, messageID: m.Header.Get("Message-ID"), raw: string(raw)})
	}
	return out
}

func mailsTo(ms []sunkMail, addr string) []sunkMail {
	var out []sunkMail
	for _, m := range ms {
		if m.to == addr {
			out = append(out, m)
		}
	}
	return out
}

// waitMails polls the sink's directory until cond holds or 30 s pass.
func (s *smtpSink) waitMails(t *testing.T, what string, cond func([]sunkMail) bool) []sunkMail {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ms := s.mails(t)
		if cond(ms) {
			return ms
		}
		if time.Now().After(deadline) {
			var got []string
			for _, m := range ms {
				got = append(got, m.to+": "+m.subject)
			}
			t.Fatalf("waiting for %s; mails so far:\n%s", what, strings.Join(got, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestNotifyEndToEnd drives mail the way an operator meets it: patchgate
// serve talks SMTP to a relay that is a separate process. A critical
// hotfix is posted: the immediate subscriber gets exactly one mail, the
// digest subscriber nothing until the digest goes out, a subscriber of
// another product nothing, and the owner of a manual host the list of what
// to install by hand. Then the relay goes down, another fix is posted, the
// relay comes back, and the mail arrives after a retry, once.
func TestNotifyEndToEnd(t *testing.T) {
	sink := &smtpSink{bin: buildSMTPSink(t), dir: t.TempDir()}
	sink.start(t)
	t.Cleanup(func() { sink.stop(t) })
	host, port, _ := net.SplitHostPort(sink.addr)
	// The digest hour is twelve hours away: digests wait unless flushed.
	digestHour := (time.Now().UTC().Hour() + 12) % 24
	s := startServer(t, "--smtp-host", host, "--smtp-port", port, "--smtp-tls", "none",
		"--mail-from", "patchgate@site.example", "--server-name", "site.example",
		"--notify-poll", "100ms", "--notify-batch-delay", "0s", "--notify-backoff", "500ms",
		"--alert-interval", "500ms", "--digest-hour", fmt.Sprint(digestHour), "--timezone", "UTC")
	work := t.TempDir()

	s.run(t, false, "subscribe", "add", "ops@example.org", "--min-severity", "critical")
	s.run(t, false, "subscribe", "add", "digest@example.org", "--mode", "daily")
	s.run(t, false, "subscribe", "add", "other@example.org", "--product", "openssl")
	if out := s.run(t, true, "subscribe", "add", "not-an-address"); !strings.Contains(out, "ADDRESS") && !strings.Contains(out, "address") {
		t.Fatalf("a bad address is refused without naming it: %s", out)
	}

	// A manual host in group prod, whose owner is told what to install.
	s.run(t, false, "group", "create", "prod")
	var tok adminapi.CreateTokenResponse
	s.runJSON(t, &tok, "token", "create", "--enroll", "--group", "prod", "--uses", "1")
	dpkg := filepath.Join(work, "dpkg")
	os.MkdirAll(dpkg, 0o755)
	writeFile(t, filepath.Join(dpkg, "status"), "", 0o644)
	idFile := filepath.Join(work, "machine-id")
	writeFile(t, idFile, "machine-manual1\n", 0o600)
	agent := []string{"agent", "--enroll-token", tok.Secret, "--state", filepath.Join(work, "manual1"), "--mode", "manual",
		"--product", "app=1.0", "--hostname", "manual1", "--machine-id-file", idFile, "--dpkg-admindir", dpkg, "--once", "--log-level", "warn"}
	s.run(t, false, agent...)
	s.run(t, false, "host", "set-owner", "manual1", "owner@example.org")

	publish := func(id, severity string) {
		writeFile(t, filepath.Join(work, id+".sh"), "#!/bin/sh\necho "+id+"\n", 0o755)
		writeFile(t, filepath.Join(work, id+".json"), `{"id":"`+id+`","title":"fix `+id+`","kind":"hotfix","severity":"`+severity+`",
		"products":[{"name":"app"}],"reboot":"never","payloads":[{"name":"`+id+`.sh","installer":"exec"}]}`, 0o644)
		s.run(t, false, "update", "add", filepath.Join(work, id+".json"), "--payload", filepath.Join(work, id+".sh"), "--post", "--force", "--reason", "e2e")
	}
	publish("app-hf1", "critical")
	publish("app-low1", "low")
	s.run(t, false, "approve", "app-hf1", "--group", "prod")
	s.run(t, false, agent...) // the manual host learns its plan

	ms := sink.waitMails(t, "the ops mail and the owner's manual action mail", func(ms []sunkMail) bool {
		return len(mailsTo(ms, "ops@example.org")) >= 1 && len(mailsTo(ms, "owner@example.org")) >= 1
	})
	time.Sleep(2 * time.Second) // many dispatch and job rounds: nothing else may arrive
	ms = sink.mails(t)
	ops := mailsTo(ms, "ops@example.org")
	if len(ops) != 1 || !strings.Contains(ops[0].subject, "app-hf1") || !strings.Contains(ops[0].subject, "site.example") ||
		strings.Contains(ops[0].raw, "app-low1") || !strings.Contains(ops[0].raw, "fix app-hf1") {
		t.Fatalf("ops@ (critical, immediate) got %d mail(s): %+v", len(ops), ops)
	}
	owner := mailsTo(ms, "owner@example.org")
	if len(owner) != 1 || !strings.Contains(owner[0].subject, "manual action required") || !strings.Contains(owner[0].raw, "app-hf1") {
		t.Fatalf("owner@ got %d mail(s): %+v", len(owner), owner)
	}
	if n := len(mailsTo(ms, "digest@example.org")); n != 0 {
		t.Fatalf("the digest subscriber got %d mail(s) before the digest went out", n)
	}
	if n := len(mailsTo(ms, "other@example.org")); n != 0 {
		t.Fatalf("the openssl subscriber got %d mail(s) about app", n)
	}
	if len(ms) != 2 {
		t.Fatalf("%d mails in all, want 2", len(ms))
	}

	// The digest goes out when asked, with both fixes in it.
	if out := s.run(t, false, "notify", "send-digests"); !strings.HasPrefix(out, "1 digest(s) due now") {
		t.Fatalf("notify send-digests: %s", out)
	}
	ms = sink.waitMails(t, "the digest", func(ms []sunkMail) bool { return len(mailsTo(ms, "digest@example.org")) >= 1 })
	digest := mailsTo(ms, "digest@example.org")
	if len(digest) != 1 || !strings.Contains(digest[0].raw, "app-hf1") || !strings.Contains(digest[0].raw, "app-low1") {
		t.Fatalf("digest@ got %d mail(s): %+v", len(digest), digest)
	}

	// The relay goes down; a fix posted meanwhile waits and is retried.
	sink.stop(t)
	publish("app-hf2", "critical")
	var pending []patchgate.Delivery
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.runJSON(t, &pending, "notify", "queue", "--status", "pending")
		if slices.ContainsFunc(pending, func(d patchgate.Delivery) bool {
			return d.Address == "ops@example.org" && d.Attempts >= 1 && d.LastError != ""
		}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed attempt recorded while the relay was down: %+v", pending)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out := s.run(t, false, "notify", "queue"); !strings.Contains(out, "ops@example.org") {
		t.Fatalf("notify queue does not show the waiting mail:\n%s", out)
	}
	sink.start(t) // same port
	ms = sink.waitMails(t, "the retried mail", func(ms []sunkMail) bool { return len(mailsTo(ms, "ops@example.org")) >= 2 })
	time.Sleep(1500 * time.Millisecond)
	ms = sink.mails(t)
	ops = mailsTo(ms, "ops@example.org")
	if len(ops) != 2 || !strings.Contains(ops[1].subject, "app-hf2") || ops[0].messageID == ops[1].messageID {
		t.Fatalf("after the relay came back ops@ has %d mail(s): %+v", len(ops), ops)
	}
	var sent []patchgate.Delivery
	s.runJSON(t, &sent, "notify", "queue", "--status", "sent")
	retried := false
	for _, d := range sent {
		if d.Address == "ops@example.org" && d.Attempts >= 2 {
			retried = true
		}
	}
	if !retried {
		t.Fatalf("no sent delivery to ops@ records more than one attempt: %+v", sent)
	}
}
