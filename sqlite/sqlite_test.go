package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/storetest"
)

func openTemp(t testing.TB) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "patchgate.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) patchgate.Store { return openTemp(t) })
}

var t0 = time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC)

// enrollHost enrols hostID with a fresh one-use token.
func enrollHost(t testing.TB, db *DB, hostID string) {
	t.Helper()
	ctx := context.Background()
	one := 1
	tok := patchgate.Token{ID: "tok-" + hostID, Kind: patchgate.TokenEnroll, UsesLeft: &one, SecretHash: []byte("x"), CreatedAt: t0}
	if err := db.CreateToken(ctx, tok, patchgate.Event{Type: patchgate.EventTokenCreated}); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	h := patchgate.Host{ID: hostID, Inventory: patchgate.Inventory{Hostname: hostID, Mode: patchgate.ModeAutomatic}}
	if _, err := db.Enroll(ctx, tok.ID, t0, h, []byte("cred"), patchgate.Event{Type: patchgate.EventHostEnrolled}); err != nil {
		t.Fatalf("Enroll: %v", err)
	}
}

func pragma(t *testing.T, db *sql.DB, name string) string {
	t.Helper()
	var v string
	if err := db.QueryRowContext(context.Background(), "PRAGMA "+name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

func TestSettings(t *testing.T) {
	db := openTemp(t)
	defer db.Close()
	for _, c := range []struct {
		conn        *sql.DB
		name, value string
	}{
		{db.w, "journal_mode", "wal"},
		{db.w, "synchronous", "2"}, // FULL
		{db.w, "foreign_keys", "1"},
		{db.w, "busy_timeout", fmt.Sprint(busyTimeout.Milliseconds())},
		{db.r, "journal_mode", "wal"},
		{db.r, "foreign_keys", "1"},
		{db.r, "query_only", "1"},
	} {
		if got := pragma(t, c.conn, c.name); got != c.value {
			t.Errorf("PRAGMA %s = %s, want %s", c.name, got, c.value)
		}
	}
}

func TestReopenKeepsDataAndAppliesOnlyNewMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "patchgate.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	enrollHost(t, db, "h1")
	u := patchgate.Update{ID: "HF-1", Title: "one", Kind: patchgate.KindHotfix, Severity: patchgate.SeverityLow, Reboot: patchgate.RebootNever}
	if _, _, err := db.PutUpdate(ctx, u, patchgate.Event{}); err != nil {
		t.Fatal(err)
	}
	ev := patchgate.Event{ID: "e1", Time: t0, Type: patchgate.EventDeployment, HostID: "h1", UpdateID: "HF-1", State: patchgate.StateInstalled}
	if _, err := db.RecordDeploymentEvents(ctx, []patchgate.Event{ev}); err != nil {
		t.Fatal(err)
	}
	applied := migrationRows(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if got := migrationRows(t, db); got != applied {
		t.Errorf("reopening changed schema_migrations:\n before %s\n after  %s", applied, got)
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(applied, "\n"); n != len(ms) {
		t.Errorf("%d migrations recorded, want %d", n, len(ms))
	}
	if _, err := db.GetHost(ctx, "h1"); err != nil {
		t.Errorf("host lost on reopen: %v", err)
	}
	if _, err := db.GetUpdate(ctx, "HF-1"); err != nil {
		t.Errorf("update lost on reopen: %v", err)
	}
	ds, err := db.ListDeployments(ctx, "h1")
	if err != nil || len(ds) != 1 || ds[0].State != patchgate.StateInstalled {
		t.Errorf("deployments after reopen: %+v, %v", ds, err)
	}
	// Seq continues after a reopen.
	before, _ := db.ListEvents(ctx, patchgate.EventFilter{Limit: 1000})
	if err := db.AppendEvent(ctx, patchgate.Event{Type: "test"}); err != nil {
		t.Fatal(err)
	}
	after, _ := db.ListEvents(ctx, patchgate.EventFilter{AfterSeq: before[len(before)-1].Seq})
	if len(after) != 1 {
		t.Errorf("%d events after the last seq, want 1", len(after))
	}

	// A database from a newer binary is refused, not written to.
	if _, err := db.w.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future.sql', '')"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err := Open(path); err == nil {
		db.Close()
		t.Error("Open accepted a database with a newer schema")
	}
}

func migrationRows(t *testing.T, db *DB) string {
	t.Helper()
	rows, err := db.r.Query("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var v int
		var name, at string
		if err := rows.Scan(&v, &name, &at); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%d %s %s\n", v, name, at)
	}
	return b.String()
}

func TestPathNeedingEscapes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "odd dir?x=1#frag%20")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "patch gate.db")
	db, err := Open(path)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	defer db.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at the path given: %v", err)
	}
}

func TestGetUpdateRevision(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	defer db.Close()
	u := patchgate.Update{ID: "HF-1", Title: "first", Kind: patchgate.KindHotfix, Severity: patchgate.SeverityLow, Reboot: patchgate.RebootNever}
	if _, _, err := db.PutUpdate(ctx, u, patchgate.Event{}); err != nil {
		t.Fatal(err)
	}
	u.Title = "second"
	if _, _, err := db.PutUpdate(ctx, u, patchgate.Event{}); err != nil {
		t.Fatal(err)
	}
	for rev, title := range map[int]string{1: "first", 2: "second"} {
		got, err := db.GetUpdateRevision(ctx, "HF-1", rev)
		if err != nil || got.Title != title || got.Revision != rev {
			t.Errorf("revision %d: %+v, %v", rev, got, err)
		}
	}
	if _, err := db.GetUpdateRevision(ctx, "HF-1", 3); !patchgate.IsNotFound(err) {
		t.Errorf("revision 3: %v, want not found", err)
	}
}

// TestFailedBatchLeavesNothing makes a statement fail inside a batch (a
// deployment of a host that does not exist violates a foreign key) and checks
// that the events before it in the batch were rolled back too.
func TestFailedBatchLeavesNothing(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	defer db.Close()
	enrollHost(t, db, "h1")
	before, err := db.ListEvents(ctx, patchgate.EventFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}

	good := patchgate.Event{ID: "e1", Time: t0, Type: patchgate.EventDeployment, HostID: "h1", UpdateID: "HF-1", State: patchgate.StateInstalled}
	bad := patchgate.Event{ID: "e2", Time: t0, Type: patchgate.EventDeployment, HostID: "ghost", UpdateID: "HF-1", State: patchgate.StateFailed}
	n, err := db.RecordDeploymentEvents(ctx, []patchgate.Event{good, bad})
	if err == nil {
		t.Fatal("a batch with a deployment of an unknown host succeeded")
	}
	if code := patchgate.ErrorCode(err); code != patchgate.CodeInternal || n != 0 {
		t.Errorf("got n=%d, code %s (%v); want 0, internal", n, code, err)
	}
	after, err := db.ListEvents(ctx, patchgate.EventFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("the failed batch left %d events behind", len(after)-len(before))
	}
	if ds, _ := db.ListDeployments(ctx, ""); len(ds) != 0 {
		t.Errorf("the failed batch left deployments: %+v", ds)
	}

	// The good event was not recorded, so a retry without the bad one
	// counts it as new.
	if n, err := db.RecordDeploymentEvents(ctx, []patchgate.Event{good}); err != nil || n != 1 {
		t.Errorf("retry: n=%d, %v; want 1", n, err)
	}
}

// TestCanceledBatchLeavesNothing cancels the context of a large batch
// while it runs: the statements ignore the cancel, the transaction must not.
func TestCanceledBatchLeavesNothing(t *testing.T) {
	db := openTemp(t)
	defer db.Close()
	enrollHost(t, db, "h1")
	evs := make([]patchgate.Event, 200_000)
	for i := range evs {
		evs[i] = patchgate.Event{ID: fmt.Sprintf("c-%d", i), Time: t0, Type: patchgate.EventDeployment,
			HostID: "h1", UpdateID: "HF-1", State: patchgate.StateInstalling}
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	n, err := db.RecordDeploymentEvents(ctx, evs)
	if err == nil {
		t.Skipf("the batch of %d events finished before the cancel", n)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want one wrapping context.Canceled", err)
	}
	var stored int
	if err := db.r.QueryRow("SELECT COUNT(*) FROM events WHERE id LIKE 'c-%'").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != 0 || n != 0 {
		t.Errorf("a canceled batch returned %d and stored %d events", n, stored)
	}
	// The writer connection is usable afterwards.
	if got, err := db.RecordDeploymentEvents(context.Background(), evs[:10]); err != nil || got != 10 {
		t.Errorf("after a cancel: %d, %v", got, err)
	}
}

// TestReadersDoNotWaitForWriter holds a write transaction open and reads.
func TestReadersDoNotWaitForWriter(t *testing.T) {
	db := openTemp(t)
	defer db.Close()
	enrollHost(t, db, "h1")
	tx, err := db.w.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := appendEvent(context.Background(), tx, patchgate.Event{ID: "uncommitted", Type: "test"}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := db.GetHost(ctx, "h1"); err != nil {
		t.Fatalf("read during a write: %v", err)
	}
	evs, err := db.ListEvents(ctx, patchgate.EventFilter{Type: "test"})
	if err != nil {
		t.Fatalf("read during a write: %v", err)
	}
	if len(evs) != 0 {
		t.Error("a reader saw an uncommitted event")
	}
}

// The kill test runs its writer in a child process (this test binary,
// re-executed) so that it can be killed with SIGKILL mid-transaction.
const (
	crashDBEnv = "PATCHGATE_SQLITE_CRASH_DB"
	crashSmall = 1000    // events committed before the kill
	crashLarge = 300_000 // events of the batch that is killed
)

// TestCrashChild is the child's side of TestKillDuringBatch.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashDBEnv)
	if path == "" {
		t.Skip("runs only as the child of TestKillDuringBatch")
	}
	ctx := context.Background()
	db, err := Open(path)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	batch := func(prefix string, n int) []patchgate.Event {
		evs := make([]patchgate.Event, n)
		for i := range evs {
			evs[i] = patchgate.Event{ID: fmt.Sprintf("%s-%d", prefix, i), Time: t0, Type: patchgate.EventDeployment,
				HostID: "h1", UpdateID: fmt.Sprintf("HF-%d", i%100), State: patchgate.StateInstalling}
		}
		return evs
	}
	if _, err := db.RecordDeploymentEvents(ctx, batch("small", crashSmall)); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	large := batch("large", crashLarge)
	fmt.Println("started")
	if _, err := db.RecordDeploymentEvents(ctx, large); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("finished")
	select {} // wait for the kill
}

func TestKillDuringBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	path := filepath.Join(t.TempDir(), "patchgate.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	enrollHost(t, db, "h1")
	db.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDBEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "error:") {
			t.Fatalf("child: %s", line)
		}
		if line == "started" {
			time.Sleep(300 * time.Millisecond) // well into the large batch
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
			break
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatal("child ended before it started the large batch")
	}

	db, err = Open(path)
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer db.Close()
	var check string
	if err := db.r.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q, %v", check, err)
	}
	count := func(prefix string) int {
		var n int
		if err := db.r.QueryRow("SELECT COUNT(*) FROM events WHERE id LIKE ?", prefix+"-%").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count("small"); n != crashSmall {
		t.Errorf("%d of the %d committed events survived the kill", n, crashSmall)
	}
	switch n := count("large"); n {
	case 0:
	case crashLarge:
		t.Log("the large batch committed before the kill; atomicity was not exercised")
	default:
		t.Errorf("the killed batch left %d of its %d events", n, crashLarge)
	}
	if ds, _ := db.ListDeployments(context.Background(), "h1"); len(ds) != 100 {
		t.Errorf("%d deployments, want 100", len(ds))
	}
}
