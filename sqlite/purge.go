package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/patchgate/patchgate"
)

// RevisionPayloads implements patchgate.PurgeStore.
func (db *DB) RevisionPayloads(ctx context.Context) ([]patchgate.RevisionPayload, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT update_id, revision, doc FROM update_revisions ORDER BY update_id, revision`)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: revision payloads")
	}
	defer rows.Close()
	out := []patchgate.RevisionPayload{}
	for rows.Next() {
		var id, doc string
		var rev int
		if err := rows.Scan(&id, &rev, &doc); err != nil {
			return nil, patchgate.Internal(err, "sqlite: revision payloads")
		}
		var u struct {
			Payloads []patchgate.Payload `json:"payloads"`
		}
		if err := json.Unmarshal([]byte(doc), &u); err != nil {
			return nil, patchgate.Internal(err, "sqlite: revision payloads")
		}
		for _, p := range u.Payloads {
			out = append(out, patchgate.RevisionPayload{UpdateID: id, Revision: rev, SHA256: p.SHA256, Size: p.Size})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, patchgate.Internal(err, "sqlite: revision payloads")
	}
	return out, nil
}

// DeleteUpdates implements patchgate.PurgeStore.
func (db *DB) DeleteUpdates(ctx context.Context, ids []string, ev patchgate.Event) ([]string, error) {
	removed := []string{}
	err := db.write(ctx, "sqlite: delete updates", func(tx *sql.Tx) error {
		removed = removed[:0]
		for _, id := range ids {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM update_status WHERE update_id = ? AND status IN ('withdrawn', 'superseded')`, id).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				continue
			}
			for _, q := range []string{
				`DELETE FROM approvals WHERE update_id = ?`,
				`DELETE FROM updates WHERE id = ?`, // cascades: products, status, origin, synced payloads, feed
				`DELETE FROM update_revisions WHERE update_id = ?`,
			} {
				if _, err := tx.ExecContext(ctx, q, id); err != nil {
					return fmt.Errorf("%s: %w", strings.Fields(q)[2], err)
				}
			}
			removed = append(removed, id)
		}
		if len(removed) == 0 {
			return nil
		}
		if ev.Detail == "" {
			ev.Detail = fmt.Sprintf("removed %d update(s): %s", len(removed), strings.Join(removed, ", "))
		}
		return appendEvent(ctx, tx, ev)
	})
	if err != nil {
		return nil, err
	}
	return removed, nil
}
