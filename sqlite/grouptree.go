package sqlite

import (
	"context"
	"database/sql"

	"github.com/patchgate/patchgate"
)

// SetGroupParent implements patchgate.GroupTreeStore. The cycle and depth
// checks read the tree inside the write transaction, so two concurrent
// moves cannot build a cycle together.
func (db *DB) SetGroupParent(ctx context.Context, group, parent string, ev patchgate.Event) error {
	parent = patchgate.NormalizeParent(parent)
	return db.write(ctx, "sqlite: set group parent", func(tx *sql.Tx) error {
		if err := groupExists(ctx, tx, group); err != nil {
			return err
		}
		if parent != "" {
			if err := groupExists(ctx, tx, parent); err != nil {
				if patchgate.IsNotFound(err) {
					return patchgate.Invalid("parent", "group %q not found", parent)
				}
				return err
			}
		}
		nodes, err := groupNodes(ctx, tx)
		if err != nil {
			return err
		}
		if err := patchgate.CheckParent(nodes, group, parent); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE host_groups SET parent = ? WHERE name = ?`, parent, group); err != nil {
			return err
		}
		return appendEvent(ctx, tx, ev)
	})
}

// SetGroupRebootPolicy implements patchgate.GroupTreeStore.
func (db *DB) SetGroupRebootPolicy(ctx context.Context, group string, p patchgate.RebootPolicy, ev patchgate.Event) error {
	if p != "" && !p.Valid() {
		return patchgate.Invalid("reboot_policy", "must be never, if-required or always, not %q", p)
	}
	return db.write(ctx, "sqlite: set group reboot policy", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE host_groups SET reboot_policy = ? WHERE name = ?`, string(p), group)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return patchgate.NotFound("group %q not found", group)
		}
		return appendEvent(ctx, tx, ev)
	})
}

// GroupNodes implements patchgate.GroupTreeStore.
func (db *DB) GroupNodes(ctx context.Context) ([]patchgate.GroupNode, error) {
	nodes, err := groupNodes(ctx, db.r)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: list group nodes")
	}
	return nodes, nil
}

func groupNodes(ctx context.Context, q querier) ([]patchgate.GroupNode, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, parent, reboot_policy FROM host_groups ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	nodes := []patchgate.GroupNode{}
	for rows.Next() {
		var n patchgate.GroupNode
		var policy string
		if err := rows.Scan(&n.Name, &n.Parent, &policy); err != nil {
			return nil, err
		}
		n.RebootPolicy = patchgate.RebootPolicy(policy)
		nodes = append(nodes, n)
	}
	return nodes, rows.Err()
}

// childGroups returns the names of group's children, sorted.
func childGroups(ctx context.Context, tx *sql.Tx, group string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM host_groups WHERE parent = ? ORDER BY name`, group)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
