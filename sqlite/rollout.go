package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/patchgate/patchgate"
)

// SetRolloutPolicy implements patchgate.RolloutStore.
func (db *DB) SetRolloutPolicy(ctx context.Context, p patchgate.RolloutPolicy, ev patchgate.Event) error {
	if err := p.Validate(); err != nil {
		return err
	}
	return db.write(ctx, "sqlite: set rollout policy", func(tx *sql.Tx) error {
		if err := groupExists(ctx, tx, p.Group); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO rollout_policies (group_name, max_concurrent, max_concurrent_percent,
				max_failures, max_failures_percent, canary, updated_at, updated_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (group_name) DO UPDATE SET
				max_concurrent = excluded.max_concurrent,
				max_concurrent_percent = excluded.max_concurrent_percent,
				max_failures = excluded.max_failures,
				max_failures_percent = excluded.max_failures_percent,
				canary = excluded.canary,
				updated_at = excluded.updated_at,
				updated_by = excluded.updated_by`,
			p.Group, p.MaxConcurrent, p.MaxConcurrentPercent, p.MaxFailures, p.MaxFailuresPercent, p.Canary,
			fmtTime(orTime(p.UpdatedAt, ev.Time)), p.UpdatedBy)
		if err != nil {
			return err
		}
		return appendEvent(ctx, tx, ev)
	})
}

// DeleteRolloutPolicy implements patchgate.RolloutStore. The group's
// halt and starts go with it.
func (db *DB) DeleteRolloutPolicy(ctx context.Context, group string, ev patchgate.Event) error {
	return db.write(ctx, "sqlite: delete rollout policy", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM rollout_policies WHERE group_name = ?`, group)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return patchgate.NotFound("group %q has no rollout policy", group)
		}
		for _, q := range []string{`DELETE FROM rollout_halts WHERE group_name = ?`, `DELETE FROM rollout_starts WHERE group_name = ?`} {
			if _, err := tx.ExecContext(ctx, q, group); err != nil {
				return err
			}
		}
		return appendEvent(ctx, tx, ev)
	})
}

// ListRolloutPolicies implements patchgate.RolloutStore, ordered by group.
func (db *DB) ListRolloutPolicies(ctx context.Context) ([]patchgate.RolloutPolicy, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT group_name, max_concurrent, max_concurrent_percent, max_failures,
		max_failures_percent, canary, updated_at, updated_by FROM rollout_policies ORDER BY group_name`)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: list rollout policies")
	}
	defer rows.Close()
	ps := []patchgate.RolloutPolicy{}
	for rows.Next() {
		var p patchgate.RolloutPolicy
		var updated string
		if err := rows.Scan(&p.Group, &p.MaxConcurrent, &p.MaxConcurrentPercent, &p.MaxFailures, &p.MaxFailuresPercent,
			&p.Canary, &updated, &p.UpdatedBy); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list rollout policies")
		}
		if p.UpdatedAt, err = parseTime(updated); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list rollout policies")
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, patchgate.Internal(err, "sqlite: list rollout policies")
	}
	return ps, nil
}

type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func getHalt(ctx context.Context, q rowQuerier, group string) (patchgate.RolloutHalt, error) {
	h := patchgate.RolloutHalt{Group: group}
	var at string
	var resumed sql.NullString
	err := q.QueryRowContext(ctx, `SELECT halted, reason, update_id, at, resumed_at FROM rollout_halts WHERE group_name = ?`, group).
		Scan(&h.Halted, &h.Reason, &h.UpdateID, &at, &resumed)
	if err == sql.ErrNoRows {
		return h, nil
	}
	if err != nil {
		return h, err
	}
	if h.At, err = parseTime(at); err != nil {
		return h, err
	}
	h.ResumedAt, err = parseNullTime(resumed)
	return h, err
}

// GetRolloutHalt implements patchgate.RolloutStore.
func (db *DB) GetRolloutHalt(ctx context.Context, group string) (patchgate.RolloutHalt, error) {
	h, err := getHalt(ctx, db.r, group)
	if err != nil {
		return h, patchgate.Internal(err, "sqlite: get rollout halt")
	}
	return h, nil
}

// ResumeRollout implements patchgate.RolloutStore.
func (db *DB) ResumeRollout(ctx context.Context, group string, at time.Time, ev patchgate.Event) error {
	return db.write(ctx, "sqlite: resume rollout", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE rollout_halts SET halted = FALSE, resumed_at = ? WHERE group_name = ? AND halted`,
			fmtTime(at), group)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return patchgate.NotFound("the rollout of group %q is not halted", group)
		}
		return appendEvent(ctx, tx, ev)
	})
}

// StartRollout implements patchgate.RolloutStore. It runs on the single
// writer connection, so two check-ins never count the same free slot.
func (db *DB) StartRollout(ctx context.Context, p patchgate.RolloutPolicy, update, host string, now time.Time, ttl time.Duration, halted patchgate.Event) (patchgate.RolloutDecision, patchgate.RolloutCounts, error) {
	var d patchgate.RolloutDecision
	var c patchgate.RolloutCounts
	err := db.write(ctx, "sqlite: start rollout", func(tx *sql.Tx) error {
		d, c = patchgate.RolloutDecision{}, patchgate.RolloutCounts{}
		halt, err := getHalt(ctx, tx, p.Group)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT m.host_id, d.state, d.updated_at, s.granted_at
			FROM group_members m
			LEFT JOIN deployments d ON d.host_id = m.host_id AND d.update_id = ?
			LEFT JOIN rollout_starts s ON s.group_name = m.group_name AND s.update_id = ? AND s.host_id = m.host_id
			WHERE m.group_name = ?`, update, update, p.Group)
		if err != nil {
			return err
		}
		defer rows.Close()
		mine := false
		for rows.Next() {
			var id string
			var state, updated, granted sql.NullString
			if err := rows.Scan(&id, &state, &updated, &granted); err != nil {
				return err
			}
			upd, err := parseNullTime(updated)
			if err != nil {
				return err
			}
			gr, err := parseNullTime(granted)
			if err != nil {
				return err
			}
			st := patchgate.DeploymentState(state.String)
			// A start is unfinished until a report newer than it says the
			// install ended.
			ended := st == patchgate.StateInstalled || st == patchgate.StateFailed ||
				st == patchgate.StateRebootPending || st == patchgate.StateNotApplicable
			unfinished := granted.Valid && now.Sub(gr) < ttl && (!ended || upd.Before(gr))
			active := unfinished || st == patchgate.StateDownloading || st == patchgate.StateInstalling
			if id == host {
				mine = unfinished
				c.Hosts++
				// Its own failure counts when it asks again: a failing
				// host retrying at every check-in must halt the group,
				// not be granted forever.
				if !unfinished && st == patchgate.StateFailed && upd.After(halt.ResumedAt) {
					c.Failed++
				}
				continue
			}
			c.Hosts++
			switch {
			case active:
				c.Active++
			case st == patchgate.StateInstalled || st == patchgate.StateRebootPending:
				c.Succeeded++
			case st == patchgate.StateFailed && upd.After(halt.ResumedAt):
				c.Failed++
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		if mine && !halt.Halted {
			d = patchgate.RolloutDecision{Start: true, Reason: "rollout of group " + p.Group + ": started"}
			return nil
		}
		d = patchgate.DecideRollout(p, c, halt.Halted)
		switch {
		case d.Start:
			_, err = tx.ExecContext(ctx, `INSERT INTO rollout_starts (group_name, update_id, host_id, granted_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (group_name, update_id, host_id) DO UPDATE SET granted_at = excluded.granted_at`,
				p.Group, update, host, fmtTime(now))
			return err
		case d.Halt:
			_, err = tx.ExecContext(ctx, `INSERT INTO rollout_halts (group_name, halted, reason, update_id, at) VALUES (?, TRUE, ?, ?, ?)
				ON CONFLICT (group_name) DO UPDATE SET halted = TRUE, reason = excluded.reason, update_id = excluded.update_id, at = excluded.at`,
				p.Group, d.Reason, update, fmtTime(now))
			if err != nil {
				return err
			}
			halted.Detail = d.Reason
			return appendEvent(ctx, tx, halted)
		}
		return nil
	})
	return d, c, err
}
