package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/patchgate/patchgate"
)

// receiveRevision keeps an update's release state in step with a new
// revision, inside PutUpdate's transaction: a new update enters received;
// a revision that patchgate.NeedsRetest goes back to received (and
// restarts the SLA clock). It returns the status left, or "".
func receiveRevision(ctx context.Context, tx *sql.Tx, prevRev int, prev, u patchgate.Update, at time.Time) (patchgate.UpdateStatus, error) {
	now := fmtTime(orTime(at, u.CreatedAt))
	if prevRev == 0 {
		_, err := tx.ExecContext(ctx, `INSERT INTO update_status (update_id, status, revision, since, received_at)
			VALUES (?, ?, ?, ?, ?)`, u.ID, string(patchgate.StatusReceived), u.Revision, now, now)
		return "", err
	}
	var cur string
	err := tx.QueryRowContext(ctx, `SELECT status FROM update_status WHERE update_id = ?`, u.ID).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		_, err := tx.ExecContext(ctx, `INSERT INTO update_status (update_id, status, revision, since, received_at)
			VALUES (?, ?, ?, ?, ?)`, u.ID, string(patchgate.StatusReceived), u.Revision, now, now)
		return "", err
	}
	if err != nil {
		return "", err
	}
	st := patchgate.UpdateStatus(cur)
	if st == patchgate.StatusReceived || !patchgate.NeedsRetest(st, prev, u) {
		return "", nil
	}
	_, err = tx.ExecContext(ctx, `UPDATE update_status SET status = ?, revision = ?, since = ?, received_at = ?,
		posted_at = NULL, forced = 0 WHERE update_id = ?`, string(patchgate.StatusReceived), u.Revision, now, now, u.ID)
	return st, err
}

const releaseStateColumns = `update_id, status, revision, since, received_at, posted_at, forced`

func scanReleaseState(sc interface{ Scan(...any) error }) (patchgate.ReleaseState, error) {
	var st patchgate.ReleaseState
	var status, since, received string
	var posted sql.NullString
	var forced int
	if err := sc.Scan(&st.UpdateID, &status, &st.Revision, &since, &received, &posted, &forced); err != nil {
		return st, err
	}
	st.Status, st.Forced = patchgate.UpdateStatus(status), forced != 0
	var err error
	if st.Since, err = parseTime(since); err != nil {
		return st, err
	}
	if st.ReceivedAt, err = parseTime(received); err != nil {
		return st, err
	}
	st.PostedAt, err = parseNullTime(posted)
	return st, err
}

// ReleaseState implements patchgate.ReleaseStore.
func (db *DB) ReleaseState(ctx context.Context, id string) (patchgate.ReleaseState, error) {
	st, err := scanReleaseState(db.r.QueryRowContext(ctx, `SELECT `+releaseStateColumns+` FROM update_status WHERE update_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return st, patchgate.NotFound("update %q not found", id)
	}
	if err != nil {
		return st, patchgate.Internal(err, "sqlite: get release state")
	}
	return st, nil
}

// ReleaseStates implements patchgate.ReleaseStore.
func (db *DB) ReleaseStates(ctx context.Context) ([]patchgate.ReleaseState, error) {
	return queryAll(ctx, db.r, "sqlite: list release states", scanReleaseState, `SELECT `+releaseStateColumns+` FROM update_status ORDER BY update_id`)
}

// TransitionUpdate implements patchgate.ReleaseStore.
func (db *DB) TransitionUpdate(ctx context.Context, id string, from []patchgate.UpdateStatus, to patchgate.UpdateStatus, forced bool, at time.Time, ev patchgate.Event) (patchgate.ReleaseState, error) {
	if !to.Valid() {
		return patchgate.ReleaseState{}, patchgate.Invalid("status", "%q is not a status", to)
	}
	var prev patchgate.ReleaseState
	err := db.write(ctx, "sqlite: transition update", func(tx *sql.Tx) error {
		var err error
		prev, err = scanReleaseState(tx.QueryRowContext(ctx, `SELECT `+releaseStateColumns+` FROM update_status WHERE update_id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return patchgate.NotFound("update %q not found", id)
		}
		if err != nil {
			return err
		}
		if !slices.Contains(from, prev.Status) {
			return patchgate.Errorf(patchgate.CodeConflict, "update %s is %s; it can become %s only from %v", id, prev.Status, to, from)
		}
		now := fmtTime(orTime(at, ev.Time))
		posted := sql.NullString{}
		if to == patchgate.StatusPosted {
			posted = sql.NullString{String: now, Valid: true}
		} else if to == patchgate.StatusSuperseded {
			posted = nullTime(prev.PostedAt)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE update_status SET status = ?, since = ?, posted_at = ?, forced = ? WHERE update_id = ?`,
			string(to), now, posted, boolInt(forced && to == patchgate.StatusPosted), id); err != nil {
			return err
		}
		if ev.Type == "" {
			ev.Type = patchgate.StatusEvent(to)
		}
		ev.UpdateID = id
		d := fmt.Sprintf("%s → %s", prev.Status, to)
		if ev.Detail != "" {
			d += ": " + ev.Detail
		}
		ev.Detail = d
		return appendEvent(ctx, tx, ev)
	})
	if err != nil {
		return patchgate.ReleaseState{}, err
	}
	return prev, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestGroups implements patchgate.ReleaseStore.
func (db *DB) TestGroups(ctx context.Context) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT group_name FROM test_groups ORDER BY group_name`)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: list test groups")
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list test groups")
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, patchgate.Internal(err, "sqlite: list test groups")
	}
	return out, nil
}

// AddTestGroup implements patchgate.ReleaseStore.
func (db *DB) AddTestGroup(ctx context.Context, group string, ev patchgate.Event) error {
	return db.write(ctx, "sqlite: add test group", func(tx *sql.Tx) error {
		if err := groupExists(ctx, tx, group); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO test_groups (group_name, added_at) VALUES (?, ?)
			ON CONFLICT (group_name) DO NOTHING`, group, fmtTime(orTime(ev.Time))); err != nil {
			return err
		}
		return appendEvent(ctx, tx, ev)
	})
}

// RemoveTestGroup implements patchgate.ReleaseStore.
func (db *DB) RemoveTestGroup(ctx context.Context, group string, ev patchgate.Event) error {
	return db.write(ctx, "sqlite: remove test group", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM test_groups WHERE group_name = ?`, group)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return patchgate.NotFound("group %q is not a test group", group)
		}
		return appendEvent(ctx, tx, ev)
	})
}

// TestGroupPolicies implements patchgate.ReleaseStore.
func (db *DB) TestGroupPolicies(ctx context.Context) ([]patchgate.TestGroup, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT group_name, min_success FROM test_groups ORDER BY group_name`)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: list test group policies")
	}
	defer rows.Close()
	out := []patchgate.TestGroup{}
	for rows.Next() {
		var g patchgate.TestGroup
		if err := rows.Scan(&g.Name, &g.MinSuccess); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list test group policies")
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, patchgate.Internal(err, "sqlite: list test group policies")
	}
	return out, nil
}

// SetTestGroupMinSuccess implements patchgate.ReleaseStore.
func (db *DB) SetTestGroupMinSuccess(ctx context.Context, group string, n int, ev patchgate.Event) error {
	if n < 0 || n > patchgate.MaxMinSuccess {
		return patchgate.Invalid("min_success", "must be between 0 and %d", patchgate.MaxMinSuccess)
	}
	return db.write(ctx, "sqlite: set test group success count", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE test_groups SET min_success = ? WHERE group_name = ?`, n, group)
		if err != nil {
			return err
		}
		if k, err := res.RowsAffected(); err != nil {
			return err
		} else if k == 0 {
			return patchgate.NotFound("group %q is not a test group", group)
		}
		return appendEvent(ctx, tx, ev)
	})
}

// SLAPolicy implements patchgate.ReleaseStore.
func (db *DB) SLAPolicy(ctx context.Context) (patchgate.SLAPolicy, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT severity, max_ns FROM sla_policy`)
	if err != nil {
		return patchgate.SLAPolicy{}, patchgate.Internal(err, "sqlite: get SLA policy")
	}
	defer rows.Close()
	p := patchgate.SLAPolicy{Max: map[patchgate.Severity]time.Duration{}}
	for rows.Next() {
		var sev string
		var ns int64
		if err := rows.Scan(&sev, &ns); err != nil {
			return p, patchgate.Internal(err, "sqlite: get SLA policy")
		}
		p.Max[patchgate.Severity(sev)] = time.Duration(ns)
	}
	if err := rows.Err(); err != nil {
		return p, patchgate.Internal(err, "sqlite: get SLA policy")
	}
	return p, nil
}

// SetSLA implements patchgate.ReleaseStore.
func (db *DB) SetSLA(ctx context.Context, sev patchgate.Severity, max time.Duration, ev patchgate.Event) error {
	if !sev.Valid() {
		return patchgate.Invalid("severity", "must be one of %v", patchgate.Severities)
	}
	if max < 0 {
		return patchgate.Invalid("max", "must not be negative")
	}
	return db.write(ctx, "sqlite: set SLA", func(tx *sql.Tx) error {
		var err error
		if max == 0 {
			_, err = tx.ExecContext(ctx, `DELETE FROM sla_policy WHERE severity = ?`, string(sev))
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO sla_policy (severity, max_ns) VALUES (?, ?)
				ON CONFLICT (severity) DO UPDATE SET max_ns = excluded.max_ns`, string(sev), int64(max))
		}
		if err != nil {
			return err
		}
		return appendEvent(ctx, tx, ev)
	})
}
