//go:build !agentonly

package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/agentapi"
	"github.com/patchgate/patchgate/notify/mailsink"
)

// TestOwnersAndStatusReportEndToEnd runs `patchgate serve` with mail to a
// real SMTP server on loopback: a manual host's group owner is mailed what
// to install by hand once an update is approved for it, and the status
// report is previewed and sent with the CLI.
func TestOwnersAndStatusReportEndToEnd(t *testing.T) {
	sink, err := mailsink.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	host, port, _ := net.SplitHostPort(sink.Addr)
	p, _ := strconv.Atoi(port)
	o := &serveOptions{
		Data: filepath.Join(t.TempDir(), "server"), Listen: "127.0.0.1:0", InsecureHTTP: true, MaxPayload: 1 << 20, LogLevel: "error",
		TimeZone: "UTC",
		Notify: notifyOptions{SMTPHost: host, SMTPPort: p, SMTPTLS: "none", MailFrom: "patchgate@site.example",
			ServerName: "site.example", DigestHour: 7, Poll: 20 * time.Millisecond, JobsInterval: 50 * time.Millisecond,
			StatusReport: "daily@08:00", AlertFailures: 2, AlertFailurePeriod: time.Hour},
	}
	srv := serveInProcess(t, o)
	cli := func(args ...string) (string, error) {
		t.Helper()
		out, _, err := runCLI(t, append([]string{"--server", srv.url, "--token", srv.token}, args...)...)
		return out, err
	}

	// A manual host in group db.
	tok := strings.TrimSpace(mustCLI(t, cli, "token", "create", "--enroll", "--group", "db", "--mode", "manual"))
	body, _ := json.Marshal(agentapi.EnrollRequest{Token: tok, MachineID: "m-db1", Inventory: patchgate.Inventory{Hostname: "db1", OS: "linux", Arch: "amd64",
		Mode: patchgate.ModeManual, Interval: 24 * time.Hour, Products: []patchgate.InstalledProduct{{Name: "cisco.ucce", Version: "7.5"}}}})
	resp, err := http.Post(srv.url+agentapi.PathEnroll, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("enroll: %d", resp.StatusCode)
	}

	if _, err := cli("group", "set-owner", "db", "DBA <dba@example.org>"); patchgate.ErrorCode(err) != patchgate.CodeInvalid {
		t.Errorf("bad owner address: %v", err)
	}
	if _, err := cli("group", "set-owner", "db"); patchgate.ErrorCode(err) != patchgate.CodeInvalid {
		t.Errorf("no address: %v", err)
	}
	if _, err := cli("host", "set-owner", "nope", "x@example.org"); !patchgate.IsNotFound(err) {
		t.Errorf("unknown host: %v", err)
	}
	if out, err := cli("group", "set-owner", "db", "dba@example.org"); err != nil || out != "group db is owned by dba@example.org\n" {
		t.Fatalf("set-owner: %q %v", out, err)
	}
	if out, err := cli("host", "set-owner", "db1", "alice@example.org"); err != nil || !strings.Contains(out, "is owned by alice@example.org") {
		t.Fatalf("host set-owner by hostname: %q %v", out, err)
	}
	if out, err := cli("host", "set-owner", "db1", "--remove"); err != nil || !strings.HasPrefix(out, "removed the owner of host ") {
		t.Fatalf("host set-owner --remove: %q %v", out, err)
	}
	out, err := cli("host", "owners")
	if err != nil || !strings.Contains(out, "dba@example.org") || strings.Contains(out, "alice") {
		t.Errorf("host owners: %q %v", out, err)
	}

	dir := t.TempDir()
	manifest := writeFile(t, dir, "update.yaml", testManifest)
	sh := writeFile(t, dir, "fix.sh", "#!/bin/sh\necho fixed\n")
	deb := writeFile(t, dir, "fix.deb", "debian package")
	mustCLI(t, cli, "update", "add", manifest, "--payload", sh, deb, "--post", "--force", "--reason", "e2e")
	mustCLI(t, cli, "approve", "PG-2026-001", "--group", "db", "--deadline", "72h")
	if !sink.Wait(10*time.Second, func(ms []mailsink.Message) bool { return len(sink.To("dba@example.org")) >= 1 }) {
		t.Fatal("the owner got no manual action mail")
	}
	time.Sleep(300 * time.Millisecond) // more job and dispatch rounds: nothing else may arrive
	dba := sink.To("dba@example.org")
	if len(dba) != 1 || !strings.Contains(dba[0].Header.Get("Subject"), "manual action required: 1 update to install by hand on ") ||
		!strings.Contains(string(dba[0].Data), "PG-2026-001") {
		t.Fatalf("owner got %d mails: %q", len(dba), dba[0].Header.Get("Subject"))
	}

	// The status report: preview and send.
	if _, err := cli("subscribe", "add", "boss@example.org", "--status-report", "--timezone", "Nowhere/City"); patchgate.ErrorCode(err) != patchgate.CodeInvalid {
		t.Errorf("bad time zone: %v", err)
	}
	mustCLI(t, cli, "subscribe", "add", "boss@example.org", "--status-report", "--timezone", "Europe/Paris")
	if out := mustCLI(t, cli, "subscribe", "list"); !strings.Contains(out, "immediate (Europe/Paris)") || !strings.Contains(out, "REPORTS") {
		t.Errorf("subscribe list: %q", out)
	}
	var rep patchgate.StatusReport
	if err := json.Unmarshal([]byte(mustCLI(t, cli, "report", "status", "--json")), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Groups) != 2 || rep.Groups[1].Group != "db" || rep.Groups[1].Applicable != 1 || rep.Groups[1].Installed != 0 || len(rep.History) != patchgate.ReportHistoryDays {
		t.Errorf("report --json: %+v", rep)
	}
	if out := mustCLI(t, cli, "report", "status"); !strings.Contains(out, "COMPLIANCE PER GROUP") || !strings.Contains(out, "0.0%") || !strings.Contains(out, "OVERDUE UPDATES\n  none") {
		t.Errorf("report status:\n%s", out)
	}
	if out := mustCLI(t, cli, "report", "status", "--send"); !strings.Contains(out, "status report queued") || !strings.Contains(out, "1 subscription") {
		t.Errorf("report status --send: %q", out)
	}
	if !sink.Wait(10*time.Second, func([]mailsink.Message) bool { return len(sink.To("boss@example.org")) >= 1 }) {
		t.Fatal("the status report did not arrive")
	}
	m := sink.To("boss@example.org")[0]
	if !strings.Contains(m.Header.Get("Content-Type"), "multipart/related") || !bytes.Contains(m.Data, []byte("Content-Type: image/png")) ||
		!strings.Contains(m.Header.Get("Subject"), "[site.example] status report") || m.Header.Get("List-Unsubscribe") == "" {
		t.Errorf("report mail: %q %q", m.Header.Get("Subject"), m.Header.Get("Content-Type"))
	}
}
