package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/patchgate/patchgate"
)

func jsonList[T any](list []T) (string, error) {
	if list == nil {
		list = []T{}
	}
	b, err := json.Marshal(list)
	return string(b), err
}

// CreateRule implements patchgate.RuleStore.
func (db *DB) CreateRule(ctx context.Context, r patchgate.Rule, ev patchgate.Event) error {
	if err := r.Validate(); err != nil {
		return err
	}
	var lists [4]string
	for i, l := range []func() (string, error){
		func() (string, error) { return jsonList(r.Kinds) }, func() (string, error) { return jsonList(r.Severities) },
		func() (string, error) { return jsonList(r.Products) }, func() (string, error) { return jsonList(r.Groups) },
	} {
		s, err := l()
		if err != nil {
			return patchgate.Internal(err, "sqlite: encode rule")
		}
		lists[i] = s
	}
	return db.write(ctx, "sqlite: create rule", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO rules (name, kinds, severities, products, groups_json, delay_ns, deadline_ns,
				after_group, min_success, soak_ns, enabled, created_by, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`,
			r.Name, lists[0], lists[1], lists[2], lists[3], int64(r.Delay), int64(r.Deadline),
			r.AfterGroup, r.MinSuccess, int64(r.Soak), r.Enabled, r.CreatedBy, fmtTime(orTime(r.CreatedAt, ev.Time)))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return patchgate.Errorf(patchgate.CodeConflict, "a rule named %q exists: remove it first", r.Name)
		}
		return appendEvent(ctx, tx, ev)
	})
}

// ListRules implements patchgate.RuleStore, ordered by name.
func (db *DB) ListRules(ctx context.Context) ([]patchgate.Rule, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT name, kinds, severities, products, groups_json, delay_ns, deadline_ns,
			after_group, min_success, soak_ns, enabled, created_by, created_at
		FROM rules ORDER BY name`)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: list rules")
	}
	defer rows.Close()
	rules := []patchgate.Rule{}
	for rows.Next() {
		var r patchgate.Rule
		var kinds, sevs, prods, groups, created string
		var delay, deadline, soak int64
		if err := rows.Scan(&r.Name, &kinds, &sevs, &prods, &groups, &delay, &deadline, &r.AfterGroup, &r.MinSuccess,
			&soak, &r.Enabled, &r.CreatedBy, &created); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list rules")
		}
		for _, l := range []struct {
			text string
			into any
		}{{kinds, &r.Kinds}, {sevs, &r.Severities}, {prods, &r.Products}, {groups, &r.Groups}} {
			if err := json.Unmarshal([]byte(l.text), l.into); err != nil {
				return nil, patchgate.Internal(err, "sqlite: decode rule "+r.Name)
			}
		}
		r.Delay, r.Deadline, r.Soak = time.Duration(delay), time.Duration(deadline), time.Duration(soak)
		if r.CreatedAt, err = parseTime(created); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list rules")
		}
		rules = append(rules, r)
	}
	if err := rows.Err(); err != nil {
		return nil, patchgate.Internal(err, "sqlite: list rules")
	}
	return rules, nil
}

// DeleteRule implements patchgate.RuleStore.
func (db *DB) DeleteRule(ctx context.Context, name string, ev patchgate.Event) error {
	return db.write(ctx, "sqlite: delete rule", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM rules WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return patchgate.NotFound("no rule named %q", name)
		}
		return appendEvent(ctx, tx, ev)
	})
}

// SetRuleEnabled implements patchgate.RuleStore.
func (db *DB) SetRuleEnabled(ctx context.Context, name string, enabled bool, ev patchgate.Event) error {
	return db.write(ctx, "sqlite: enable rule", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE rules SET enabled = ? WHERE name = ?`, enabled, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return patchgate.NotFound("no rule named %q", name)
		}
		return appendEvent(ctx, tx, ev)
	})
}

// ApplyRuleApprovals implements patchgate.RuleStore. The checks run
// under the write lock, so an admin's approval stored meanwhile wins.
func (db *DB) ApplyRuleApprovals(ctx context.Context, as []patchgate.RuleApproval) ([]patchgate.RuleApproval, error) {
	for _, ra := range as {
		if ra.Approval.Action != patchgate.ActionInstall {
			return nil, patchgate.Invalid("action", "rules approve for install only, not %q", ra.Approval.Action)
		}
	}
	var stored []patchgate.RuleApproval
	err := db.write(ctx, "sqlite: apply rule approvals", func(tx *sql.Tx) error {
		stored = stored[:0]
		for _, ra := range as {
			a := ra.Approval
			var skip bool
			err := tx.QueryRowContext(ctx, `SELECT
					EXISTS (SELECT 1 FROM approvals WHERE update_id = ? AND group_name = ?)
					OR EXISTS (SELECT 1 FROM rule_approvals WHERE update_id = ? AND group_name = ?)
					OR NOT EXISTS (SELECT 1 FROM updates WHERE id = ?)
					OR NOT EXISTS (SELECT 1 FROM host_groups WHERE name = ?)`,
				a.UpdateID, a.Group, a.UpdateID, a.Group, a.UpdateID, a.Group).Scan(&skip)
			if err != nil {
				return err
			}
			if skip {
				continue // approved meanwhile, or its update or group is gone
			}
			at := fmtTime(orTime(a.CreatedAt, ra.Event.Time))
			if _, err := tx.ExecContext(ctx, `INSERT INTO approvals (update_id, group_name, action, deadline, emergency, created_by, created_at)
				VALUES (?, ?, ?, ?, FALSE, ?, ?)`, a.UpdateID, a.Group, string(a.Action), nullTimePtr(a.Deadline), a.CreatedBy, at); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO rule_approvals (update_id, group_name, rule_name, action, deadline, approved_at, reason)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, a.UpdateID, a.Group, ra.Rule, string(a.Action), nullTimePtr(a.Deadline), at, ra.Reason); err != nil {
				return err
			}
			if err := appendEvent(ctx, tx, ra.Event); err != nil {
				return err
			}
			stored = append(stored, ra)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return stored, nil
}

// RuleApprovals implements patchgate.RuleStore.
func (db *DB) RuleApprovals(ctx context.Context) ([]patchgate.RuleApproval, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT update_id, group_name, rule_name, action, deadline, approved_at, reason
		FROM rule_approvals ORDER BY update_id, group_name`)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: list rule approvals")
	}
	defer rows.Close()
	out := []patchgate.RuleApproval{}
	for rows.Next() {
		var ra patchgate.RuleApproval
		var deadline sql.NullString
		var at string
		if err := rows.Scan(&ra.Approval.UpdateID, &ra.Approval.Group, &ra.Rule, &ra.Approval.Action, &deadline, &at, &ra.Reason); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list rule approvals")
		}
		if ra.Approval.Deadline, err = parseNullTimePtr(deadline); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list rule approvals")
		}
		if ra.Approval.CreatedAt, err = parseTime(at); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list rule approvals")
		}
		ra.Approval.CreatedBy = patchgate.RuleActor(ra.Rule)
		out = append(out, ra)
	}
	if err := rows.Err(); err != nil {
		return nil, patchgate.Internal(err, "sqlite: list rule approvals")
	}
	return out, nil
}
