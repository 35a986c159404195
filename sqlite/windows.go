package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/patchgate/patchgate"
)

// SetWindow implements patchgate.WindowStore. The schedule is stored as
// given: the domain validates it (Window.Compile) before it gets here.
func (db *DB) SetWindow(ctx context.Context, w patchgate.Window, ev patchgate.Event) error {
	if w.Duration <= 0 {
		return patchgate.Invalid("duration", "must be positive")
	}
	return db.write(ctx, "sqlite: set window", func(tx *sql.Tx) error {
		if err := groupExists(ctx, tx, w.Group); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO windows (group_name, schedule, duration_ns, time_zone, updated_at, updated_by)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (group_name) DO UPDATE SET
				schedule = excluded.schedule,
				duration_ns = excluded.duration_ns,
				time_zone = excluded.time_zone,
				updated_at = excluded.updated_at,
				updated_by = excluded.updated_by`,
			w.Group, w.Schedule, int64(w.Duration), w.TimeZone, fmtTime(orTime(w.UpdatedAt, ev.Time)), w.UpdatedBy)
		if err != nil {
			return err
		}
		return appendEvent(ctx, tx, ev)
	})
}

// DeleteWindow implements patchgate.WindowStore.
func (db *DB) DeleteWindow(ctx context.Context, group string, ev patchgate.Event) error {
	return db.write(ctx, "sqlite: delete window", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM windows WHERE group_name = ?`, group)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return patchgate.NotFound("group %q has no maintenance window", group)
		}
		return appendEvent(ctx, tx, ev)
	})
}

// ListWindows implements patchgate.WindowStore, ordered by group.
func (db *DB) ListWindows(ctx context.Context) ([]patchgate.Window, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT group_name, schedule, duration_ns, time_zone, updated_at, updated_by
		FROM windows ORDER BY group_name`)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: list windows")
	}
	defer rows.Close()
	ws := []patchgate.Window{}
	for rows.Next() {
		var w patchgate.Window
		var ns int64
		var updated string
		if err := rows.Scan(&w.Group, &w.Schedule, &ns, &w.TimeZone, &updated, &w.UpdatedBy); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list windows")
		}
		w.Duration = time.Duration(ns)
		if w.UpdatedAt, err = parseTime(updated); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list windows")
		}
		ws = append(ws, w)
	}
	if err := rows.Err(); err != nil {
		return nil, patchgate.Internal(err, "sqlite: list windows")
	}
	return ws, nil
}
