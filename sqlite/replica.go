package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/patchgate/patchgate"
)

// ApplyReplicaPolicy implements patchgate.ReplicaStore.
func (db *DB) ApplyReplicaPolicy(ctx context.Context, upstream string, p patchgate.ReplicaPolicy, digest string, ev patchgate.Event) (patchgate.ReplicaApplied, error) {
	var out patchgate.ReplicaApplied
	err := db.write(ctx, "sqlite: apply replica policy", func(tx *sql.Tx) error {
		out = patchgate.ReplicaApplied{}
		var last string
		err := tx.QueryRowContext(ctx, `SELECT policy_digest FROM upstreams WHERE name = ?`, upstream).Scan(&last)
		if errors.Is(err, sql.ErrNoRows) {
			return patchgate.NotFound("upstream %q not found", upstream)
		}
		if err != nil {
			return err
		}
		if last == digest {
			return nil
		}
		out.Changed = true
		keep := []any{patchgate.GroupAll}
		for _, g := range p.Groups {
			if _, err := tx.ExecContext(ctx, `INSERT INTO host_groups (name, description, parent, reboot_policy, created_at) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (name) DO UPDATE SET description = excluded.description, parent = excluded.parent, reboot_policy = excluded.reboot_policy`,
				g.Name, g.Description, g.Parent, string(g.RebootPolicy), fmtTime(orTime(g.CreatedAt, ev.Time))); err != nil {
				return err
			}
			keep = append(keep, g.Name)
			out.Groups++
		}
		// Groups the upstream no longer has go, with their memberships.
		if _, err := tx.ExecContext(ctx, `DELETE FROM host_groups WHERE name NOT IN (?`+strings.Repeat(", ?", len(keep)-1)+`)`, keep...); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM approvals`); err != nil {
			return err
		}
		for _, a := range p.Approvals {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM updates WHERE id = ?`, a.UpdateID).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				out.Skipped++
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO approvals (update_id, group_name, action, deadline, emergency, created_by, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, a.UpdateID, a.Group, string(a.Action), nullTimePtr(a.Deadline), a.Emergency,
				a.CreatedBy, fmtTime(orTime(a.CreatedAt, ev.Time))); err != nil {
				return err
			}
			out.Approvals++
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM windows`); err != nil {
			return err
		}
		for _, w := range p.Windows {
			if _, err := tx.ExecContext(ctx, `INSERT INTO windows (group_name, schedule, duration_ns, time_zone, updated_at, updated_by)
				VALUES (?, ?, ?, ?, ?, ?)`, w.Group, w.Schedule, int64(w.Duration), w.TimeZone, fmtTime(orTime(w.UpdatedAt, ev.Time)), w.UpdatedBy); err != nil {
				return err
			}
			out.Windows++
		}
		if _, err := tx.ExecContext(ctx, `UPDATE upstreams SET policy_digest = ? WHERE name = ?`, digest, upstream); err != nil {
			return err
		}
		if ev.Type == "" {
			ev.Type = patchgate.EventReplicaPolicy
		}
		if ev.Detail == "" {
			ev.Detail = fmt.Sprintf("policy of upstream %s: %d groups, %d approvals (%d for updates not held here skipped), %d windows",
				upstream, out.Groups, out.Approvals, out.Skipped, out.Windows)
		}
		return appendEvent(ctx, tx, ev)
	})
	if err != nil {
		return patchgate.ReplicaApplied{}, err
	}
	return out, nil
}
