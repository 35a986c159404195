package sqlite

import (
	"context"
	"database/sql"

	"github.com/patchgate/patchgate"
)

var _ patchgate.OwnerStore = (*DB)(nil)

// SetOwner implements patchgate.OwnerStore.
func (db *DB) SetOwner(ctx context.Context, o patchgate.Owner, ev patchgate.Event) error {
	if err := o.Validate(); err != nil {
		return err
	}
	return db.write(ctx, "sqlite: set owner", func(tx *sql.Tx) error {
		var n int
		q := `SELECT COUNT(*) FROM hosts WHERE id = ?`
		if o.Scope == patchgate.OwnerGroup {
			q = `SELECT COUNT(*) FROM host_groups WHERE name = ?`
		}
		if err := tx.QueryRowContext(ctx, q, o.Name).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return patchgate.NotFound("%s %q not found", o.Scope, o.Name)
		}
		var err error
		if o.Address == "" {
			_, err = tx.ExecContext(ctx, `DELETE FROM owners WHERE scope = ? AND name = ?`, o.Scope, o.Name)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO owners (scope, name, address, updated_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (scope, name) DO UPDATE SET address = excluded.address, updated_at = excluded.updated_at`,
				o.Scope, o.Name, o.Address, fmtTime(orTime(o.UpdatedAt)))
		}
		if err != nil {
			return err
		}
		return appendEvent(ctx, tx, ev)
	})
}

// ListOwners implements patchgate.OwnerStore.
func (db *DB) ListOwners(ctx context.Context) ([]patchgate.Owner, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT scope, name, address, updated_at FROM owners ORDER BY scope, name`)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: list owners")
	}
	defer rows.Close()
	out := []patchgate.Owner{}
	for rows.Next() {
		var o patchgate.Owner
		var at string
		if err := rows.Scan(&o.Scope, &o.Name, &o.Address, &at); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list owners")
		}
		if o.UpdatedAt, err = parseTime(at); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list owners")
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, patchgate.Internal(err, "sqlite: list owners")
	}
	return out, nil
}

// SaveComplianceSnapshots implements patchgate.OwnerStore.
func (db *DB) SaveComplianceSnapshots(ctx context.Context, snaps []patchgate.ComplianceSnapshot) error {
	return db.write(ctx, "sqlite: save compliance snapshots", func(tx *sql.Tx) error {
		for _, s := range snaps {
			if len(s.Day) != len("2006-01-02") || s.Group == "" {
				return patchgate.Invalid("snapshot", "needs a day YYYY-MM-DD and a group")
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO compliance_snapshots (day, group_name, hosts, applicable, installed, compliant, taken_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (day, group_name) DO UPDATE SET hosts = excluded.hosts, applicable = excluded.applicable,
					installed = excluded.installed, compliant = excluded.compliant, taken_at = excluded.taken_at`,
				s.Day, s.Group, s.Hosts, s.Applicable, s.Installed, s.Compliant, fmtTime(orTime(s.TakenAt)))
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// ListComplianceSnapshots implements patchgate.OwnerStore.
func (db *DB) ListComplianceSnapshots(ctx context.Context, since string) ([]patchgate.ComplianceSnapshot, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT day, group_name, hosts, applicable, installed, compliant, taken_at
		FROM compliance_snapshots WHERE day >= ? ORDER BY day, group_name`, since)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: list compliance snapshots")
	}
	defer rows.Close()
	out := []patchgate.ComplianceSnapshot{}
	for rows.Next() {
		var s patchgate.ComplianceSnapshot
		var at string
		if err := rows.Scan(&s.Day, &s.Group, &s.Hosts, &s.Applicable, &s.Installed, &s.Compliant, &at); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list compliance snapshots")
		}
		if s.TakenAt, err = parseTime(at); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list compliance snapshots")
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, patchgate.Internal(err, "sqlite: list compliance snapshots")
	}
	return out, nil
}
