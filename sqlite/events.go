package sqlite

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"

	"github.com/patchgate/patchgate"
)

// insertEventSQL skips an event whose (host, ID) is stored already: that is
// what makes an agent's retried report idempotent. Admin events check the
// affected row count instead.
const insertEventSQL = `INSERT INTO events (id, at, type, actor, host_id, update_id, state, exit_code, detail)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (host_id, id) DO NOTHING`

// upsertDeploymentSQL moves a deployment to the reported state unless it
// already holds a later report: agents replay queued events after being
// offline, and a retried old batch must not undo a newer state.
const upsertDeploymentSQL = `INSERT INTO deployments (host_id, update_id, state, exit_code, detail, updated_at)
	VALUES (?, ?, ?, ?, ?, ?)
	ON CONFLICT (host_id, update_id) DO UPDATE SET
		state = excluded.state,
		exit_code = excluded.exit_code,
		detail = excluded.detail,
		updated_at = excluded.updated_at
	WHERE excluded.updated_at >= deployments.updated_at`

func eventArgs(ev patchgate.Event) []any {
	return []any{ev.ID, fmtTime(ev.Time), ev.Type, ev.Actor, ev.HostID, ev.UpdateID, string(ev.State), ev.ExitCode, ev.Detail}
}

// RecordDeploymentEvents implements patchgate.DeploymentStore. Event IDs are
// unique per host: the same ID reported by two hosts is two events. Every
// event must name its host; an event with a State must name its update.
func (db *DB) RecordDeploymentEvents(ctx context.Context, evs []patchgate.Event) (int, error) {
	n, err := db.RecordDeploymentEventGroups(ctx, [][]patchgate.Event{evs})
	if err != nil {
		return 0, err
	}
	return n[0], nil
}

// RecordDeploymentEventGroups implements patchgate.DeploymentStore: the
// groups of several reports commit in one transaction (group commit), and
// each group's count of new events is returned.
func (db *DB) RecordDeploymentEventGroups(ctx context.Context, groups [][]patchgate.Event) ([]int, error) {
	total := 0
	for _, evs := range groups {
		total += len(evs)
		for _, ev := range evs {
			switch {
			case ev.ID == "":
				return nil, patchgate.Invalid("event.id", "is required")
			case ev.HostID == "":
				return nil, patchgate.Invalid("event.host_id", "is required")
			case ev.Type == "":
				return nil, patchgate.Invalid("event.type", "is required")
			case ev.State != "" && ev.UpdateID == "":
				return nil, patchgate.Invalid("event.update_id", "is required with a state")
			}
		}
	}
	added := make([]int, len(groups))
	if total == 0 {
		return added, nil
	}
	err := db.write(ctx, "sqlite: record deployment events", func(tx *sql.Tx) error {
		clear(added)
		ins := tx.StmtContext(ctx, db.insertEvent)
		up := tx.StmtContext(ctx, db.upsertDeployment)
		// The statements run without ctx's cancellation: the driver would
		// start a watcher goroutine for each of the thousand statements of a
		// batch. Each is short, and the transaction still ends at the next
		// statement once ctx is done, as database/sql rolls it back then.
		sctx := context.WithoutCancel(ctx)
		for g, evs := range groups {
			for _, ev := range evs {
				res, err := ins.ExecContext(sctx, eventArgs(ev)...)
				if err != nil {
					return err
				}
				n, err := res.RowsAffected()
				if err != nil {
					return err
				}
				if n == 0 {
					continue // a retry: the first report already moved the state
				}
				added[g]++
				if ev.State == "" {
					continue
				}
				_, err = up.ExecContext(sctx, ev.HostID, ev.UpdateID, string(ev.State), ev.ExitCode, ev.Detail, fmtTime(ev.Time))
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return added, nil
}

// ListDeployments implements patchgate.DeploymentStore, ordered by host and
// update.
func (db *DB) ListDeployments(ctx context.Context, hostID string) ([]patchgate.Deployment, error) {
	q := `SELECT host_id, update_id, state, exit_code, detail, updated_at FROM deployments`
	var args []any
	if hostID != "" {
		q += ` WHERE host_id = ?`
		args = append(args, hostID)
	}
	q += ` ORDER BY host_id, update_id`
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: list deployments")
	}
	defer rows.Close()
	ds := []patchgate.Deployment{}
	for rows.Next() {
		var d patchgate.Deployment
		var at string
		if err := rows.Scan(&d.HostID, &d.UpdateID, &d.State, &d.ExitCode, &d.Detail, &at); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list deployments")
		}
		if d.UpdatedAt, err = parseTime(at); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list deployments")
		}
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, patchgate.Internal(err, "sqlite: list deployments")
	}
	return ds, nil
}

// Limits of ListEvents.
const (
	DefaultEventLimit = 100
	MaxEventLimit     = 10000 // larger pages are cut: page with AfterSeq
)

// ListEvents implements patchgate.DeploymentStore: events after f.AfterSeq,
// oldest first.
func (db *DB) ListEvents(ctx context.Context, f patchgate.EventFilter) ([]patchgate.Event, error) {
	var where []string
	var args []any
	where = append(where, "seq > ?")
	args = append(args, f.AfterSeq)
	if f.HostID != "" {
		where = append(where, "host_id = ?")
		args = append(args, f.HostID)
	}
	if f.UpdateID != "" {
		where = append(where, "update_id = ?")
		args = append(args, f.UpdateID)
	}
	if f.Type != "" {
		where = append(where, "type = ?")
		args = append(args, f.Type)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultEventLimit
	}
	limit = min(limit, MaxEventLimit)
	args = append(args, limit)
	q := `SELECT seq, id, at, type, actor, host_id, update_id, state, exit_code, detail FROM events
		WHERE ` + strings.Join(where, " AND ") + ` ORDER BY seq LIMIT ?`
	if f.Newest {
		q = strings.Replace(q, "ORDER BY seq LIMIT", "ORDER BY seq DESC LIMIT", 1)
	}
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: list events")
	}
	defer rows.Close()
	evs := []patchgate.Event{}
	for rows.Next() {
		var ev patchgate.Event
		var at string
		if err := rows.Scan(&ev.Seq, &ev.ID, &at, &ev.Type, &ev.Actor, &ev.HostID, &ev.UpdateID, &ev.State, &ev.ExitCode, &ev.Detail); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list events")
		}
		if ev.Time, err = parseTime(at); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list events")
		}
		evs = append(evs, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, patchgate.Internal(err, "sqlite: list events")
	}
	if f.Newest {
		slices.Reverse(evs)
	}
	return evs, nil
}

// AppendEvent implements patchgate.DeploymentStore. An event without an ID
// gets a random one; one whose (host, ID) is already stored is a conflict.
func (db *DB) AppendEvent(ctx context.Context, ev patchgate.Event) error {
	return db.write(ctx, "sqlite: append event", func(tx *sql.Tx) error {
		return appendEvent(ctx, tx, ev)
	})
}

// PruneEvents implements patchgate.DeploymentStore. Finding the cut walks
// the log from its oldest event and stops at the first one inside the
// retention period, so it costs what it deletes; no index on time is
// needed on the ingestion hot path.
func (db *DB) PruneEvents(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var deleted int
	err := db.write(ctx, "sqlite: prune events", func(tx *sql.Tx) error {
		var first sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT seq FROM events WHERE at >= ? ORDER BY seq LIMIT 1`, fmtTime(cutoff)).Scan(&first); err != nil && err != sql.ErrNoRows {
			return err
		}
		q := `DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT ?)`
		args := []any{limit}
		if first.Valid {
			q = `DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE seq < ? ORDER BY seq LIMIT ?)`
			args = []any{first.Int64, limit}
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		deleted = int(n)
		return err
	})
	return deleted, err
}
