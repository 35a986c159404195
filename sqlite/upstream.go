package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/patchgate/patchgate"
)

// ServerID implements patchgate.UpstreamStore.
func (db *DB) ServerID(ctx context.Context) (string, error) {
	var id string
	if err := db.r.QueryRowContext(ctx, `SELECT server_id FROM server_identity WHERE id = 1`).Scan(&id); err != nil {
		return "", patchgate.Internal(err, "sqlite: read server id")
	}
	return id, nil
}

const feedVisibleSQL = `('posted', 'superseded', 'withdrawn')`

// FeedChanges implements patchgate.UpstreamStore. It reads in one
// transaction so that the page, the next cursor and the count agree.
func (db *DB) FeedChanges(ctx context.Context, after int64, limit int) ([]patchgate.FeedEntry, int64, int, error) {
	if limit <= 0 || limit > patchgate.MaxFeedLimit {
		return nil, 0, 0, patchgate.Invalid("limit", "must be between 1 and %d", patchgate.MaxFeedLimit)
	}
	if after < 0 {
		return nil, 0, 0, patchgate.Invalid("cursor", "must not be negative")
	}
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, 0, patchgate.Internal(err, "sqlite: feed")
	}
	defer tx.Rollback()
	// Repo: the repository that signs the update — its origin's for a
	// synced update, this server's id for its own.
	rows, err := tx.QueryContext(ctx, `SELECT f.seq, s.status, r.doc,
		COALESCE(o.repo, (SELECT server_id FROM server_identity WHERE id = 1)) FROM feed_log f
		JOIN update_status s ON s.update_id = f.update_id
		JOIN updates u ON u.id = f.update_id
		JOIN update_revisions r ON r.update_id = u.id AND r.revision = u.revision
		LEFT JOIN update_origins o ON o.update_id = f.update_id
		WHERE f.seq > ? AND s.status IN `+feedVisibleSQL+`
		ORDER BY f.seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, 0, 0, patchgate.Internal(err, "sqlite: feed")
	}
	entries := []patchgate.FeedEntry{}
	for rows.Next() {
		var e patchgate.FeedEntry
		var status, doc string
		if err := rows.Scan(&e.Seq, &status, &doc, &e.Repo); err != nil {
			rows.Close()
			return nil, 0, 0, patchgate.Internal(err, "sqlite: feed")
		}
		if e.Update, err = decodeUpdate(doc); err != nil {
			rows.Close()
			return nil, 0, 0, err
		}
		e.Status = patchgate.UpdateStatus(status)
		entries = append(entries, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, 0, patchgate.Internal(err, "sqlite: feed")
	}
	next := after
	if len(entries) == limit {
		next = entries[len(entries)-1].Seq
	} else {
		// Everything after the cursor was returned or is invisible: skip
		// past it all.
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM feed_log`).Scan(&next); err != nil {
			return nil, 0, 0, patchgate.Internal(err, "sqlite: feed")
		}
		next = max(next, after)
	}
	var remaining int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM feed_log f JOIN update_status s ON s.update_id = f.update_id
		WHERE f.seq > ? AND s.status IN `+feedVisibleSQL, next).Scan(&remaining); err != nil {
		return nil, 0, 0, patchgate.Internal(err, "sqlite: feed")
	}
	return entries, next, remaining, nil
}

// RecordDownstream implements patchgate.UpstreamStore.
func (db *DB) RecordDownstream(ctx context.Context, serverID string, chain []string, at time.Time) error {
	doc, err := json.Marshal(chain)
	if err != nil {
		return patchgate.Internal(err, "sqlite: record downstream")
	}
	return db.write(ctx, "sqlite: record downstream", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO downstream_chains (server_id, chain, seen_at) VALUES (?, ?, ?)
			ON CONFLICT (server_id) DO UPDATE SET chain = excluded.chain, seen_at = excluded.seen_at`,
			serverID, string(doc), fmtTime(at))
		return err
	})
}

// DownstreamChains implements patchgate.UpstreamStore.
func (db *DB) DownstreamChains(ctx context.Context, since time.Time) ([][]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT chain FROM downstream_chains WHERE seen_at >= ? ORDER BY server_id`, fmtTime(since))
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: downstream chains")
	}
	defer rows.Close()
	out := [][]string{}
	for rows.Next() {
		var doc string
		var c []string
		if err := rows.Scan(&doc); err != nil {
			return nil, patchgate.Internal(err, "sqlite: downstream chains")
		}
		if err := json.Unmarshal([]byte(doc), &c); err != nil {
			return nil, patchgate.Internal(err, "sqlite: downstream chains")
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, patchgate.Internal(err, "sqlite: downstream chains")
	}
	return out, nil
}

// AddUpstream implements patchgate.UpstreamStore.
func (db *DB) AddUpstream(ctx context.Context, u patchgate.Upstream, ev patchgate.Event) error {
	if u.Products == nil {
		u.Products = []string{}
	}
	if u.Kinds == nil {
		u.Kinds = []patchgate.Kind{}
	}
	products, _ := json.Marshal(u.Products)
	kinds, _ := json.Marshal(u.Kinds)
	if u.RootPins == nil {
		u.RootPins = map[string]string{}
	}
	pins, _ := json.Marshal(u.RootPins)
	if u.Mode == "" {
		u.Mode = patchgate.ModeAutonomous
	}
	return db.write(ctx, "sqlite: add upstream", func(tx *sql.Tx) error {
		if u.Mode == patchgate.ModeReplica {
			var other string
			err := tx.QueryRowContext(ctx, `SELECT name FROM upstreams WHERE mode = 'replica'`).Scan(&other)
			if err == nil {
				return patchgate.Errorf(patchgate.CodeConflict, "this server is already a replica of upstream %s: it can follow one upstream's policy only", other)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO upstreams (name, url, ca_fingerprint, token, products, kinds, content, mode, cursor, created_at, created_by, root_pins)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?) ON CONFLICT (name) DO NOTHING`,
			u.Name, u.URL, u.CAFingerprint, u.Token, string(products), string(kinds), string(u.Content), string(u.Mode), fmtTime(u.CreatedAt), u.CreatedBy, string(pins))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return patchgate.Errorf(patchgate.CodeConflict, "upstream %q already exists", u.Name)
		}
		return appendEvent(ctx, tx, ev)
	})
}

const upstreamColumns = `name, url, ca_fingerprint, token, products, kinds, content, mode, cursor, ancestors, created_at, created_by, root_pins`

func scanUpstream(sc interface{ Scan(...any) error }) (patchgate.Upstream, error) {
	var u patchgate.Upstream
	var products, kinds, content, mode, ancestors, created, pins string
	if err := sc.Scan(&u.Name, &u.URL, &u.CAFingerprint, &u.Token, &products, &kinds, &content, &mode, &u.Cursor, &ancestors, &created, &u.CreatedBy, &pins); err != nil {
		return u, err
	}
	if err := json.Unmarshal([]byte(pins), &u.RootPins); err != nil {
		return u, err
	}
	if len(u.RootPins) == 0 {
		u.RootPins = nil
	}
	u.Mode = patchgate.UpstreamMode(mode)
	if err := json.Unmarshal([]byte(ancestors), &u.Ancestors); err != nil {
		return u, err
	}
	if len(u.Ancestors) == 0 {
		u.Ancestors = nil
	}
	u.Content = patchgate.ContentPolicy(content)
	if err := json.Unmarshal([]byte(products), &u.Products); err != nil {
		return u, err
	}
	if err := json.Unmarshal([]byte(kinds), &u.Kinds); err != nil {
		return u, err
	}
	var err error
	u.CreatedAt, err = parseTime(created)
	return u, err
}

// Upstreams implements patchgate.UpstreamStore.
func (db *DB) Upstreams(ctx context.Context) ([]patchgate.Upstream, error) {
	return queryAll(ctx, db.r, "sqlite: list upstreams", scanUpstream, `SELECT `+upstreamColumns+` FROM upstreams ORDER BY name`)
}

// GetUpstream implements patchgate.UpstreamStore.
func (db *DB) GetUpstream(ctx context.Context, name string) (patchgate.Upstream, error) {
	u, err := scanUpstream(db.r.QueryRowContext(ctx, `SELECT `+upstreamColumns+` FROM upstreams WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return u, patchgate.NotFound("upstream %q not found", name)
	}
	if err != nil {
		return u, patchgate.Internal(err, "sqlite: get upstream")
	}
	return u, nil
}

// RemoveUpstream implements patchgate.UpstreamStore.
func (db *DB) RemoveUpstream(ctx context.Context, name string, ev patchgate.Event) error {
	return db.write(ctx, "sqlite: remove upstream", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM upstreams WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return patchgate.NotFound("upstream %q not found", name)
		}
		return appendEvent(ctx, tx, ev)
	})
}

// ApplySync implements patchgate.UpstreamStore.
func (db *DB) ApplySync(ctx context.Context, b patchgate.SyncBatch) (patchgate.SyncApplied, error) {
	var out patchgate.SyncApplied
	at := normTime(orTime(b.At))
	err := db.write(ctx, "sqlite: apply sync", func(tx *sql.Tx) error {
		out = patchgate.SyncApplied{Counts: patchgate.SyncCounts{Bytes: b.Bytes}}
		up, err := scanUpstream(tx.QueryRowContext(ctx, `SELECT `+upstreamColumns+` FROM upstreams WHERE name = ?`, b.Upstream))
		if errors.Is(err, sql.ErrNoRows) {
			return patchgate.NotFound("upstream %q not found", b.Upstream)
		}
		if err != nil {
			return err
		}
		if up.Cursor != b.From {
			return patchgate.Errorf(patchgate.CodeConflict, "upstream %s: cursor is at %d, not %d (another sync moved it)", b.Upstream, up.Cursor, b.From)
		}
		if b.Next < b.From {
			return patchgate.Invalid("next", "cursor %d goes back from %d", b.Next, b.From)
		}
		for i, e := range b.Entries {
			if err := patchgate.ValidateFeedEntry(e); err != nil {
				return fmt.Errorf("entry %d: %w", i, err)
			}
			local, err := syncLocal(ctx, tx, e.Update.ID)
			if err != nil {
				return err
			}
			act := patchgate.DecideSync(up, local, e)
			if err := applyEntry(ctx, tx, up.Name, local, e, act, at, b.Actor, i); err != nil {
				return err
			}
			switch act {
			case patchgate.SyncNew:
				out.Counts.New++
				out.Changed = append(out.Changed, e.Update.ID)
			case patchgate.SyncRevise:
				out.Counts.Revised++
				out.Changed = append(out.Changed, e.Update.ID)
			case patchgate.SyncWithdraw:
				out.Counts.Withdrawn++
			case patchgate.SyncFiltered:
				out.Counts.FilteredOut++
			case patchgate.SyncConflict:
				out.Counts.Conflicts++
			default:
				out.Counts.Unchanged++
			}
		}
		if b.Ancestors == nil {
			b.Ancestors = up.Ancestors
		}
		anc, err := json.Marshal(b.Ancestors)
		if err != nil {
			return err
		}
		if b.Ancestors == nil {
			anc = []byte("[]")
		}
		_, err = tx.ExecContext(ctx, `UPDATE upstreams SET cursor = ?, ancestors = ? WHERE name = ?`, b.Next, string(anc), b.Upstream)
		return err
	})
	if err != nil {
		return patchgate.SyncApplied{}, err
	}
	return out, nil
}

func syncLocal(ctx context.Context, tx *sql.Tx, id string) (patchgate.SyncLocal, error) {
	var l patchgate.SyncLocal
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM updates WHERE id = ?`, id).Scan(&n); err != nil {
		return l, err
	}
	if n == 0 {
		return l, nil
	}
	l.Exists = true
	var status string
	err := tx.QueryRowContext(ctx, `SELECT upstream, upstream_revision, upstream_status FROM update_origins WHERE update_id = ?`, id).
		Scan(&l.Origin, &l.UpstreamRevision, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return l, nil // added on this server
	}
	l.UpstreamStatus = patchgate.UpdateStatus(status)
	return l, err
}

// applyEntry stores one decided feed entry inside ApplySync's transaction.
func applyEntry(ctx context.Context, tx *sql.Tx, upstream string, local patchgate.SyncLocal, e patchgate.FeedEntry, act patchgate.SyncAction, at time.Time, actor string, i int) error {
	u := normUpdate(e.Update)
	now := fmtTime(at)
	ev := patchgate.Event{Time: at, Actor: actor, UpdateID: u.ID}
	switch act {
	case patchgate.SyncConflict:
		held := local.Origin
		if held == "" {
			held = "local"
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sync_conflicts (upstream, update_id, held_from, revision, first_seen, last_seen)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (upstream, update_id) DO UPDATE SET revision = excluded.revision, last_seen = excluded.last_seen, held_from = excluded.held_from`,
			upstream, u.ID, held, u.Revision, now, now)
		if err != nil {
			return err
		}
		// An event the first time only.
		var first string
		if err := tx.QueryRowContext(ctx, `SELECT first_seen FROM sync_conflicts WHERE upstream = ? AND update_id = ?`, upstream, u.ID).Scan(&first); err != nil {
			return err
		}
		if first != now {
			return nil
		}
		ev.ID = fmt.Sprintf("sync-conflict-%s-%s", upstream, u.ID)
		ev.Type = patchgate.EventSyncConflict
		ev.Detail = fmt.Sprintf("upstream %s offers %s, already held from %s: not overwritten", upstream, u.ID, held)
		return appendEventOnce(ctx, tx, ev)
	case patchgate.SyncNew, patchgate.SyncRevise:
		if u.CreatedAt.IsZero() {
			u.CreatedAt = at
		}
		digest, err := metadataDigest(u)
		if err != nil {
			return err
		}
		doc, err := json.Marshal(u)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO update_revisions (update_id, revision, digest, doc, created_at, created_by)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (update_id, revision) DO UPDATE SET digest = excluded.digest, doc = excluded.doc`,
			u.ID, u.Revision, digest, string(doc), fmtTime(u.CreatedAt), u.CreatedBy); err != nil {
			return err
		}
		if err := indexUpdate(ctx, tx, u); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM synced_payloads WHERE update_id = ?`, u.ID); err != nil {
			return err
		}
		for _, p := range u.Payloads {
			if _, err := tx.ExecContext(ctx, `INSERT INTO synced_payloads (update_id, sha256, size, upstream) VALUES (?, ?, ?, ?)
				ON CONFLICT (update_id, sha256) DO NOTHING`, u.ID, p.SHA256, p.Size, upstream); err != nil {
				return err
			}
		}
		// A synced update is already released: it enters this server in
		// the status its upstream gives it.
		if _, err := tx.ExecContext(ctx, `INSERT INTO update_status (update_id, status, revision, since, received_at, posted_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (update_id) DO UPDATE SET status = excluded.status, revision = excluded.revision,
			since = excluded.since, posted_at = COALESCE(update_status.posted_at, excluded.posted_at), forced = 0`,
			u.ID, string(e.Status), u.Revision, now, now, now); err != nil {
			return err
		}
		if err := setOrigin(ctx, tx, upstream, e, now); err != nil {
			return err
		}
		ev.ID = fmt.Sprintf("sync-%s-%s-%d", upstream, u.ID, u.Revision)
		if act == patchgate.SyncNew {
			ev.Type = patchgate.EventUpdateSynced
			ev.Detail = fmt.Sprintf("revision %d from upstream %s (%s)", u.Revision, upstream, e.Status)
		} else {
			ev.Type = patchgate.EventUpdateRevised
			ev.Detail = fmt.Sprintf("revision %d from upstream %s (%s)", u.Revision, upstream, e.Status)
		}
		return appendEventOnce(ctx, tx, ev)
	case patchgate.SyncWithdraw, patchgate.SyncStatus:
		if _, err := tx.ExecContext(ctx, `UPDATE update_status SET status = ?, since = ? WHERE update_id = ?`,
			string(e.Status), now, u.ID); err != nil {
			return err
		}
		if err := setOrigin(ctx, tx, upstream, e, now); err != nil {
			return err
		}
		ev.ID = fmt.Sprintf("sync-%s-%s-%d-%s", upstream, u.ID, u.Revision, e.Status)
		ev.Type = patchgate.StatusEvent(e.Status)
		ev.Detail = fmt.Sprintf("%s → %s by upstream %s", local.UpstreamStatus, e.Status, upstream)
		return appendEventOnce(ctx, tx, ev)
	}
	return nil
}

func setOrigin(ctx context.Context, tx *sql.Tx, upstream string, e patchgate.FeedEntry, now string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO update_origins (update_id, upstream, upstream_revision, upstream_status, upstream_seq, synced_at, repo)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (update_id) DO UPDATE SET upstream_revision = excluded.upstream_revision,
		upstream_status = excluded.upstream_status, upstream_seq = excluded.upstream_seq, synced_at = excluded.synced_at, repo = excluded.repo`,
		e.Update.ID, upstream, e.Update.Revision, string(e.Status), e.Seq, now, e.Repo)
	return err
}

// appendEventOnce appends ev unless an event with its id is already
// recorded (a page stored again after a crash before its commit is not:
// the whole transaction is rolled back; this guards ids reused across
// upstream removal and re-adding).
func appendEventOnce(ctx context.Context, tx *sql.Tx, ev patchgate.Event) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE host_id = '' AND id = ?`, ev.ID).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		ev.ID = fmt.Sprintf("%s-%d", ev.ID, time.Now().UnixNano())
	}
	return appendEvent(ctx, tx, ev)
}

// SyncConflicts implements patchgate.UpstreamStore.
func (db *DB) SyncConflicts(ctx context.Context) ([]patchgate.SyncConflictRecord, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT upstream, update_id, held_from, revision, first_seen, last_seen
		FROM sync_conflicts ORDER BY upstream, update_id`)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: sync conflicts")
	}
	defer rows.Close()
	out := []patchgate.SyncConflictRecord{}
	for rows.Next() {
		var c patchgate.SyncConflictRecord
		var first, last string
		if err := rows.Scan(&c.Upstream, &c.UpdateID, &c.Held, &c.Revision, &first, &last); err != nil {
			return nil, patchgate.Internal(err, "sqlite: sync conflicts")
		}
		if c.FirstSeen, err = parseTime(first); err != nil {
			return nil, patchgate.Internal(err, "sqlite: sync conflicts")
		}
		if c.LastSeen, err = parseTime(last); err != nil {
			return nil, patchgate.Internal(err, "sqlite: sync conflicts")
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, patchgate.Internal(err, "sqlite: sync conflicts")
	}
	return out, nil
}

// SyncedPayloads implements patchgate.UpstreamStore.
func (db *DB) SyncedPayloads(ctx context.Context, sha string) ([]patchgate.SyncedPayload, error) {
	q := `SELECT p.sha256, MAX(p.size), MIN(p.upstream),
		MAX(EXISTS (SELECT 1 FROM approvals a WHERE a.update_id = p.update_id AND a.action = 'install'))
		FROM synced_payloads p`
	var args []any
	if sha != "" {
		q += ` WHERE p.sha256 = ?`
		args = append(args, sha)
	}
	q += ` GROUP BY p.sha256 ORDER BY p.sha256`
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: synced payloads")
	}
	defer rows.Close()
	out := []patchgate.SyncedPayload{}
	for rows.Next() {
		var p patchgate.SyncedPayload
		var approved int
		if err := rows.Scan(&p.SHA256, &p.Size, &p.Upstream, &approved); err != nil {
			return nil, patchgate.Internal(err, "sqlite: synced payloads")
		}
		p.Approved = approved != 0
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, patchgate.Internal(err, "sqlite: synced payloads")
	}
	return out, nil
}

// StartSyncRun implements patchgate.UpstreamStore.
func (db *DB) StartSyncRun(ctx context.Context, r patchgate.SyncRun) error {
	counts, _ := json.Marshal(r.Counts)
	return db.write(ctx, "sqlite: start sync run", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sync_runs (id, upstream, status, trigger, started_at, counts, cursor)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, r.ID, r.Upstream, string(patchgate.SyncRunning), r.Trigger, fmtTime(r.StartedAt), string(counts), r.Cursor)
		return err
	})
}

// FinishSyncRun implements patchgate.UpstreamStore.
func (db *DB) FinishSyncRun(ctx context.Context, r patchgate.SyncRun, ev patchgate.Event) error {
	counts, _ := json.Marshal(r.Counts)
	return db.write(ctx, "sqlite: finish sync run", func(tx *sql.Tx) error {
		policy := ""
		if r.Policy != nil {
			b, err := json.Marshal(r.Policy)
			if err != nil {
				return err
			}
			policy = string(b)
		}
		res, err := tx.ExecContext(ctx, `UPDATE sync_runs SET status = ?, finished_at = ?, counts = ?, cursor = ?, error = ?, done = ?, policy = ? WHERE id = ?`,
			string(r.Status), fmtTime(r.FinishedAt), string(counts), r.Cursor, r.Error, r.Done, policy, r.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return patchgate.NotFound("sync run %q not found", r.ID)
		}
		return appendEvent(ctx, tx, ev)
	})
}

// SyncRuns implements patchgate.UpstreamStore.
func (db *DB) SyncRuns(ctx context.Context, upstream string, limit int) ([]patchgate.SyncRun, error) {
	if limit <= 0 {
		limit = 20
	}
	var where []string
	var args []any
	if upstream != "" {
		where = append(where, "upstream = ?")
		args = append(args, upstream)
	}
	q := `SELECT id, upstream, status, trigger, started_at, finished_at, counts, cursor, error, done, policy FROM sync_runs`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += ` ORDER BY started_at DESC, id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: sync runs")
	}
	defer rows.Close()
	out := []patchgate.SyncRun{}
	for rows.Next() {
		var r patchgate.SyncRun
		var status, started, counts, policy string
		var finished sql.NullString
		if err := rows.Scan(&r.ID, &r.Upstream, &status, &r.Trigger, &started, &finished, &counts, &r.Cursor, &r.Error, &r.Done, &policy); err != nil {
			return nil, patchgate.Internal(err, "sqlite: sync runs")
		}
		if policy != "" {
			r.Policy = &patchgate.ReplicaApplied{}
			if err := json.Unmarshal([]byte(policy), r.Policy); err != nil {
				return nil, patchgate.Internal(err, "sqlite: sync runs")
			}
		}
		if r.Status != patchgate.SyncRunning {
			r.Total = r.Done
		}
		r.Status = patchgate.SyncRunStatus(status)
		if r.StartedAt, err = parseTime(started); err != nil {
			return nil, patchgate.Internal(err, "sqlite: sync runs")
		}
		if r.FinishedAt, err = parseNullTime(finished); err != nil {
			return nil, patchgate.Internal(err, "sqlite: sync runs")
		}
		if err := json.Unmarshal([]byte(counts), &r.Counts); err != nil {
			return nil, patchgate.Internal(err, "sqlite: sync runs")
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, patchgate.Internal(err, "sqlite: sync runs")
	}
	return out, nil
}

// PutSiteCompliance implements patchgate.SiteStore.
func (db *DB) PutSiteCompliance(ctx context.Context, via string, sites []patchgate.SiteCompliance, at time.Time) error {
	return db.write(ctx, "sqlite: put site compliance", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM site_compliance WHERE via = ?`, via); err != nil {
			return err
		}
		for _, sc := range sites {
			if sc.Rows == nil {
				sc.Rows = []patchgate.ComplianceRow{}
			}
			rows, err := json.Marshal(sc.Rows)
			if err != nil {
				return err
			}
			// A site moved under another downstream is taken over by it.
			if _, err := tx.ExecContext(ctx, `INSERT INTO site_compliance (server_id, name, via, generated_at, received_at, rows)
				VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (server_id) DO UPDATE SET name = excluded.name, via = excluded.via,
				generated_at = excluded.generated_at, received_at = excluded.received_at, rows = excluded.rows`,
				sc.ServerID, sc.Name, via, fmtTime(sc.GeneratedAt), fmtTime(at), string(rows)); err != nil {
				return err
			}
		}
		return nil
	})
}

// SiteCompliances implements patchgate.SiteStore.
func (db *DB) SiteCompliances(ctx context.Context) ([]patchgate.SiteCompliance, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT server_id, name, via, generated_at, received_at, rows FROM site_compliance ORDER BY name, server_id`)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: site compliance")
	}
	defer rows.Close()
	out := []patchgate.SiteCompliance{}
	for rows.Next() {
		var sc patchgate.SiteCompliance
		var gen, recv, doc string
		if err := rows.Scan(&sc.ServerID, &sc.Name, &sc.Via, &gen, &recv, &doc); err != nil {
			return nil, patchgate.Internal(err, "sqlite: site compliance")
		}
		if sc.GeneratedAt, err = parseTime(gen); err != nil {
			return nil, patchgate.Internal(err, "sqlite: site compliance")
		}
		if sc.ReceivedAt, err = parseTime(recv); err != nil {
			return nil, patchgate.Internal(err, "sqlite: site compliance")
		}
		if err := json.Unmarshal([]byte(doc), &sc.Rows); err != nil {
			return nil, patchgate.Internal(err, "sqlite: site compliance")
		}
		out = append(out, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, patchgate.Internal(err, "sqlite: site compliance")
	}
	return out, nil
}
