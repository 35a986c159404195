// Package sqlite is the embedded default store of patchgate: it implements
// patchgate.Store on a single SQLite file, so that a server needs no setup
// beyond a data directory.
//
// It imports only the domain package and the driver (modernc.org/sqlite, pure
// Go, no cgo), so that it can be built everywhere the binary is.
//
// Durability comes before speed: the database runs in WAL mode with
// synchronous=FULL, so a committed agent report survives kill -9 and power
// loss. Writes go through one connection, as SQLite allows one writer at a
// time anyway and serialising them in Go is cheaper than lock retries; reads
// use a separate pool and, thanks to WAL, never wait for the writer.
//
// The DML is kept portable to PostgreSQL (ON CONFLICT, RETURNING, no rowid,
// no INSERT OR IGNORE) so that the PostgreSQL adapter can share its shape and
// pass the same storetest suite; only the DDL in migrations/ is SQLite's own.
package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/patchgate/patchgate"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// busyTimeout bounds how long a connection waits for a lock held by another
// process (a backup tool, a second server started by mistake) before failing.
const busyTimeout = 10 * time.Second

// DB is a patchgate.Store on one SQLite file. It is safe for concurrent use.
type DB struct {
	w *sql.DB // exactly one connection: every write goes through it
	r *sql.DB // read-only pool

	// The hot path's statements, prepared once on the writer connection.
	insertEvent      *sql.Stmt
	upsertDeployment *sql.Stmt
}

var _ patchgate.Store = (*DB)(nil)

// Open opens the database at path, creating it if needed, and applies the
// migrations it does not have yet. It refuses a database written by a newer
// version of patchgate.
func Open(path string) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: resolve database path")
	}
	// A file: URI, so that a path containing '?' or '#' stays a path.
	uri := "file:" + (&url.URL{Path: filepath.ToSlash(abs)}).EscapedPath()
	common := fmt.Sprintf("_busy_timeout=%d&_foreign_keys=on&_synchronous=FULL", busyTimeout.Milliseconds())

	writer := common + "&_journal_mode=WAL" +
		// The write lock is taken at BEGIN: a deferred transaction that
		// reads first and then writes can fail with SQLITE_BUSY at the
		// upgrade, which busy_timeout cannot resolve.
		"&_txlock=immediate" +
		// 64 MiB of page cache keeps the index pages that event batches
		// touch in memory once the log outgrows the 2 MiB default; measured
		// 10-20% more events/s at a million events.
		"&_pragma=cache_size(-65536)" +
		// Checkpoints every 10000 pages (~40 MiB of WAL) rather than 1000:
		// a page that several batches dirty is copied back once, not each
		// time; measured ~15% more events/s.
		"&_pragma=wal_autocheckpoint(10000)"
	w, err := sql.Open("sqlite", uri+"?"+writer)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: open writer")
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	db := &DB{w: w}
	if err := db.setup(); err != nil {
		db.Close()
		return nil, err
	}

	// The readers open after the writer has switched the file to WAL and
	// migrated it, so they never see a half-built schema.
	r, err := sql.Open("sqlite", uri+"?"+common+"&_query_only=on")
	if err != nil {
		db.Close()
		return nil, patchgate.Internal(err, "sqlite: open readers")
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	db.r = r
	if err := r.Ping(); err != nil {
		db.Close()
		return nil, patchgate.Internal(err, "sqlite: open readers")
	}
	return db, nil
}

func (db *DB) setup() error {
	ctx := context.Background()
	var mode string
	if err := db.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return patchgate.Internal(err, "sqlite: open database")
	}
	if !strings.EqualFold(mode, "wal") {
		return patchgate.Errorf(patchgate.CodeInternal, "sqlite: journal mode is %q, not wal", mode)
	}
	if err := db.migrate(ctx); err != nil {
		return err
	}
	// GroupAll exists from the start: every enrolment adds hosts to it.
	err := db.write(ctx, "sqlite: create group all", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO host_groups (name, description, created_at)
			VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
			patchgate.GroupAll, "every host", fmtTime(time.Now()))
		return err
	})
	if err != nil {
		return err
	}
	return db.prepare(ctx)
}

func (db *DB) prepare(ctx context.Context) error {
	var err error
	db.insertEvent, err = db.w.PrepareContext(ctx, insertEventSQL)
	if err != nil {
		return patchgate.Internal(err, "sqlite: prepare statements")
	}
	db.upsertDeployment, err = db.w.PrepareContext(ctx, upsertDeploymentSQL)
	if err != nil {
		return patchgate.Internal(err, "sqlite: prepare statements")
	}
	return nil
}

// Close closes the database. Pending reads fail; it does not wait for them.
func (db *DB) Close() error {
	var errs []error
	for _, s := range []*sql.Stmt{db.insertEvent, db.upsertDeployment} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	if db.r != nil {
		errs = append(errs, db.r.Close())
	}
	errs = append(errs, db.w.Close())
	if err := errors.Join(errs...); err != nil {
		return patchgate.Internal(err, "sqlite: close")
	}
	return nil
}

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns the embedded migrations in version order. Their
// names start with the version number: 0001_init.sql.
func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := map[int]string{}
	for _, name := range names {
		base := filepath.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and '_'", base)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s have the same version", prev, base)
		}
		seen[v] = base
		text, err := migrations.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(text)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrate applies each migration not yet recorded in schema_migrations, each
// in its own transaction with its record, so a failed migration leaves the
// database at the previous version.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return patchgate.Internal(err, "sqlite: load migrations")
	}
	_, err = db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at TEXT    NOT NULL)`)
	if err != nil {
		return patchgate.Internal(err, "sqlite: create schema_migrations")
	}
	var current int
	err = db.w.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current)
	if err != nil {
		return patchgate.Internal(err, "sqlite: read schema version")
	}
	if known := ms[len(ms)-1].version; current > known {
		return patchgate.Errorf(patchgate.CodeInternal,
			"sqlite: database schema version %d is newer than this binary knows (%d): upgrade patchgate", current, known)
	}
	// Every migration not recorded is applied, in version order, even one
	// below the highest recorded: branches developed in parallel number
	// their migrations apart.
	applied := map[int]bool{}
	rows, err := db.w.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return patchgate.Internal(err, "sqlite: read schema versions")
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return patchgate.Internal(err, "sqlite: read schema versions")
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return patchgate.Internal(err, "sqlite: read schema versions")
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		what := "sqlite: apply migration " + m.name
		err := db.write(ctx, what, func(tx *sql.Tx) error {
			// Checked again under the write lock: another process may have
			// applied it since we looked.
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				m.version, m.name, fmtTime(time.Now()))
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// write runs fn in a transaction on the writer connection and commits it.
// Errors that are already patchgate errors pass through; others become
// internal errors described by what.
func (db *DB) write(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap(err, what)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		if cerr := ctx.Err(); cerr != nil {
			// Say why, rather than "transaction has already been rolled
			// back", which is all a statement run after the cancel sees.
			err = cerr
		}
		return wrap(err, what)
	}
	if err := tx.Commit(); err != nil {
		return wrap(err, what)
	}
	return nil
}

// wrap makes err a patchgate error, keeping the code of one that already is.
func wrap(err error, what string) error {
	var pe *patchgate.Error
	if errors.As(err, &pe) {
		return err
	}
	return patchgate.Internal(err, what)
}

// timeFormat is fixed width so that comparing the text compares the times.
// Microseconds, because that is what PostgreSQL's timestamptz keeps: both
// stores must give back the same instant.
const timeFormat = "2006-01-02T15:04:05.000000Z"

// normTime is t as the store keeps it: UTC, truncated to microseconds.
func normTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func fmtTime(t time.Time) string { return normTime(t).Format(timeFormat) }

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) sql.NullString {
	if t.IsZero() {
		return sql.NullString{}
	}
	return sql.NullString{String: fmtTime(t), Valid: true}
}

func nullTimePtr(t *time.Time) sql.NullString {
	if t == nil {
		return sql.NullString{}
	}
	return nullTime(*t)
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t.UTC(), nil
}

func parseNullTime(s sql.NullString) (time.Time, error) {
	if !s.Valid {
		return time.Time{}, nil
	}
	return parseTime(s.String)
}

func parseNullTimePtr(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := parseTime(s.String)
	return &t, err
}

// appendEvent appends an admin or system event inside tx. The caller's
// event normally carries an ID and a time; a missing one is filled in so the
// log never holds an event that cannot be told apart from another.
func appendEvent(ctx context.Context, tx *sql.Tx, ev patchgate.Event) error {
	if ev.Type == "" {
		return patchgate.Invalid("event.type", "is required")
	}
	if ev.ID == "" {
		ev.ID = rand.Text()
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	res, err := tx.ExecContext(ctx, insertEventSQL, eventArgs(ev)...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return patchgate.Errorf(patchgate.CodeConflict, "event %q is already recorded", ev.ID)
	}
	return nil
}

// orTime returns t, or else the first non-zero fallback, or else now.
func orTime(t time.Time, fallbacks ...time.Time) time.Time {
	if !t.IsZero() {
		return t
	}
	for _, f := range fallbacks {
		if !f.IsZero() {
			return f
		}
	}
	return time.Now()
}
