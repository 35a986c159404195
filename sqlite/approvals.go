package sqlite

import (
	"context"
	"database/sql"

	"github.com/patchgate/patchgate"
)

// SetApprovals implements patchgate.ApprovalStore. Each approval's update
// and group must exist. CreatedAt defaults to the event's time.
func (db *DB) SetApprovals(ctx context.Context, as []patchgate.Approval, ev patchgate.Event) error {
	for _, a := range as {
		if !a.Action.Valid() {
			return patchgate.Invalid("action", "must be install, uninstall or decline, not %q", a.Action)
		}
	}
	return db.write(ctx, "sqlite: set approvals", func(tx *sql.Tx) error {
		for _, a := range as {
			// Checked by hand rather than left to the foreign keys, to say
			// which of the two is missing.
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM updates WHERE id = ?`, a.UpdateID).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return patchgate.NotFound("update %q not found", a.UpdateID)
			}
			if err := groupExists(ctx, tx, a.Group); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO approvals (update_id, group_name, action, deadline, emergency, created_by, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (update_id, group_name) DO UPDATE SET
					action = excluded.action,
					deadline = excluded.deadline,
					emergency = excluded.emergency,
					created_by = excluded.created_by,
					created_at = excluded.created_at`,
				a.UpdateID, a.Group, string(a.Action), nullTimePtr(a.Deadline), a.Emergency, a.CreatedBy,
				fmtTime(orTime(a.CreatedAt, ev.Time)))
			if err != nil {
				return err
			}
		}
		return appendEvent(ctx, tx, ev)
	})
}

// DeleteApprovals implements patchgate.ApprovalStore. Approvals that do not
// exist are skipped: the caller's intent holds.
func (db *DB) DeleteApprovals(ctx context.Context, updateIDs []string, group string, ev patchgate.Event) error {
	return db.write(ctx, "sqlite: delete approvals", func(tx *sql.Tx) error {
		for _, id := range updateIDs {
			if _, err := tx.ExecContext(ctx, `DELETE FROM approvals WHERE update_id = ? AND group_name = ?`, id, group); err != nil {
				return err
			}
		}
		return appendEvent(ctx, tx, ev)
	})
}

// ListApprovals implements patchgate.ApprovalStore, ordered by update and
// group.
func (db *DB) ListApprovals(ctx context.Context) ([]patchgate.Approval, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT update_id, group_name, action, deadline, emergency, created_by, created_at
		FROM approvals ORDER BY update_id, group_name`)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: list approvals")
	}
	defer rows.Close()
	as := []patchgate.Approval{}
	for rows.Next() {
		var a patchgate.Approval
		var deadline sql.NullString
		var created string
		if err := rows.Scan(&a.UpdateID, &a.Group, &a.Action, &deadline, &a.Emergency, &a.CreatedBy, &created); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list approvals")
		}
		if a.Deadline, err = parseNullTimePtr(deadline); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list approvals")
		}
		if a.CreatedAt, err = parseTime(created); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list approvals")
		}
		as = append(as, a)
	}
	if err := rows.Err(); err != nil {
		return nil, patchgate.Internal(err, "sqlite: list approvals")
	}
	return as, nil
}
