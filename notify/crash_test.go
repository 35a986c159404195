package notify

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/sqlite"
)

// TestCrashChildProcess is the dispatcher process of TestCrashKill9; it
// does nothing unless started by it.
func TestCrashChildProcess(t *testing.T) {
	path := os.Getenv("PATCHGATE_CRASH_DB")
	if path == "" {
		t.Skip("started by TestCrashKill9 only")
	}
	now, _ := strconv.ParseInt(os.Getenv("PATCHGATE_CRASH_NOW"), 10, 64)
	host, port, _ := net.SplitHostPort(os.Getenv("PATCHGATE_CRASH_SMTP"))
	p, _ := strconv.Atoi(port)
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	d := New(Config{
		Store: db, ServerName: "site-1.example.org", PublicURL: "https://site-1.example.org:8443",
		Secret: []byte("0123456789abcdef0123456789abcdef"),
		SMTP:   SMTPConfig{Host: host, Port: p, TLS: TLSNone, From: "patchgate@example.org", Timeout: 5 * time.Second},
		Clock:  func() time.Time { return time.Unix(0, now).UTC() },
		Lease:  5 * time.Minute,
	})
	n := 0
	d.afterSend = func(patchgate.Delivery) {
		if n++; n == 2 {
			// The relay has the mail; the outbox does not know yet.
			fmt.Println("SENT-NOT-RECORDED")
			time.Sleep(time.Minute) // the parent kills us here
		}
	}
	if err := d.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ROUND-DONE")
}

// TestCrashKill9 runs the dispatcher in a child process and kills it with
// SIGKILL after the relay accepted a mail and before the outbox recorded
// it, again and again on the same SQLite file, until a life ends without
// a crash. Every delivery must arrive, none twice with different
// Message-IDs.
func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	f := newFixture(t)
	const subs = 5
	for i := range subs {
		f.subscribe(t, patchgate.Subscription{ID: fmt.Sprintf("s%d", i), Address: fmt.Sprintf("u%d@example.org", i)})
	}
	for i := range 5 {
		f.publish(t, fmt.Sprintf("KB-%d", i), patchgate.SeverityHigh, patchgate.KindHotfix, "openssl")
	}
	f.db.Close()

	kills := 0
	for life := 0; ; life++ {
		if life == 10 {
			t.Fatal("the dispatcher never finished a round in 10 lives")
		}
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChildProcess$", "-test.v")
		cmd.Env = append(os.Environ(),
			"PATCHGATE_CRASH_DB="+f.path,
			"PATCHGATE_CRASH_SMTP="+f.sink.Addr,
			"PATCHGATE_CRASH_NOW="+strconv.FormatInt(f.clock.Now().UnixNano(), 10))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killed, done := false, false
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			switch sc.Text() {
			case "SENT-NOT-RECORDED":
				if err := cmd.Process.Kill(); err != nil { // SIGKILL
					t.Fatal(err)
				}
				killed = true
			case "ROUND-DONE":
				done = true
			}
			if killed {
				break
			}
		}
		werr := cmd.Wait()
		cancel()
		if killed {
			kills++
			f.clock.Add(5 * time.Minute) // the lease of the unrecorded send ends
			continue
		}
		if !done || werr != nil {
			t.Fatalf("child process: %v (done %v)", werr, done)
		}
		break
	}
	if kills == 0 {
		t.Fatal("the child was never killed")
	}
	t.Logf("killed the dispatcher %d times", kills)
	checkAfterCrashes(t, f, subs)
}
