package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/patchgate/patchgate"
)

// normUpdate puts u in the form it is stored and compared in: times in UTC at
// the store's precision (so the same instant from another time zone is the
// same metadata), and empty rather than nil lists, so that JSON has [] where
// the API promises a list.
func normUpdate(u patchgate.Update) patchgate.Update {
	if !u.ReleaseDate.IsZero() {
		u.ReleaseDate = normTime(u.ReleaseDate)
	}
	if !u.CreatedAt.IsZero() {
		u.CreatedAt = normTime(u.CreatedAt)
	}
	if u.Products == nil {
		u.Products = []patchgate.ProductConstraint{}
	}
	if u.Payloads == nil {
		u.Payloads = []patchgate.Payload{}
	}
	return u
}

// metadataDigest hashes the canonical JSON of u without the fields a store
// sets: two puts with equal digests describe the same revision.
func metadataDigest(u patchgate.Update) (string, error) {
	u.Revision, u.CreatedAt, u.CreatedBy = 0, time.Time{}, ""
	b, err := json.Marshal(u)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// PutUpdate implements patchgate.CatalogStore. CreatedAt defaults to the
// event's time. The event's Type defaults to update.added or update.revised
// as the outcome dictates, and its UpdateID to u.ID.
func (db *DB) PutUpdate(ctx context.Context, u patchgate.Update, ev patchgate.Event) (patchgate.Update, bool, error) {
	if u.ID == "" {
		return patchgate.Update{}, false, patchgate.Invalid("id", "is required")
	}
	u = normUpdate(u)
	digest, err := metadataDigest(u)
	if err != nil {
		return patchgate.Update{}, false, patchgate.Internal(err, "sqlite: encode update")
	}
	var stored patchgate.Update
	var created bool
	err = db.write(ctx, "sqlite: put update", func(tx *sql.Tx) error {
		var rev int
		var oldDigest, oldDoc string
		err := tx.QueryRowContext(ctx, `SELECT r.revision, r.digest, r.doc FROM updates u
			JOIN update_revisions r ON r.update_id = u.id AND r.revision = u.revision
			WHERE u.id = ?`, u.ID).Scan(&rev, &oldDigest, &oldDoc)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case oldDigest == digest:
			return json.Unmarshal([]byte(oldDoc), &stored)
		}
		created = true
		var prev patchgate.Update
		if rev > 0 {
			if err := json.Unmarshal([]byte(oldDoc), &prev); err != nil {
				return err
			}
		}
		u.Revision = rev + 1
		u.CreatedAt = normTime(orTime(u.CreatedAt, ev.Time))
		doc, err := json.Marshal(u)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO update_revisions (update_id, revision, digest, doc, created_at, created_by)
			VALUES (?, ?, ?, ?, ?, ?)`, u.ID, u.Revision, digest, string(doc), fmtTime(u.CreatedAt), u.CreatedBy); err != nil {
			return err
		}
		if err := indexUpdate(ctx, tx, u); err != nil {
			return err
		}
		reset, err := receiveRevision(ctx, tx, rev, prev, u, ev.Time)
		if err != nil {
			return err
		}
		switch ev.Type {
		case "", patchgate.EventUpdateAdded, patchgate.EventUpdateRevised:
			ev.Type = patchgate.EventUpdateAdded
			if u.Revision > 1 {
				ev.Type = patchgate.EventUpdateRevised
			}
		}
		if ev.UpdateID == "" {
			ev.UpdateID = u.ID
		}
		if ev.Detail == "" {
			ev.Detail = fmt.Sprintf("revision %d", u.Revision)
		}
		if reset != "" {
			ev.Detail += fmt.Sprintf(" (was %s: back to received)", reset)
		}
		stored = u
		return appendEvent(ctx, tx, ev)
	})
	if err != nil {
		return patchgate.Update{}, false, err
	}
	return stored, created, nil
}

// GetUpdate implements patchgate.CatalogStore.
func (db *DB) GetUpdate(ctx context.Context, id string) (patchgate.Update, error) {
	var doc string
	err := db.r.QueryRowContext(ctx, `SELECT r.doc FROM updates u
		JOIN update_revisions r ON r.update_id = u.id AND r.revision = u.revision
		WHERE u.id = ?`, id).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return patchgate.Update{}, patchgate.NotFound("update %q not found", id)
	}
	if err != nil {
		return patchgate.Update{}, patchgate.Internal(err, "sqlite: get update")
	}
	return decodeUpdate(doc)
}

// GetUpdateRevision returns one revision of an update, latest or not, or
// not_found.
func (db *DB) GetUpdateRevision(ctx context.Context, id string, revision int) (patchgate.Update, error) {
	var doc string
	err := db.r.QueryRowContext(ctx, `SELECT doc FROM update_revisions WHERE update_id = ? AND revision = ?`,
		id, revision).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return patchgate.Update{}, patchgate.NotFound("update %q has no revision %d", id, revision)
	}
	if err != nil {
		return patchgate.Update{}, patchgate.Internal(err, "sqlite: get update revision")
	}
	return decodeUpdate(doc)
}

func decodeUpdate(doc string) (patchgate.Update, error) {
	var u patchgate.Update
	if err := json.Unmarshal([]byte(doc), &u); err != nil {
		return u, patchgate.Internal(err, "sqlite: decode stored update")
	}
	return normUpdate(u), nil
}

// ListUpdates implements patchgate.CatalogStore.
func (db *DB) ListUpdates(ctx context.Context, f patchgate.UpdateFilter) ([]patchgate.Update, error) {
	var where []string
	var args []any
	if f.Kind != "" {
		where = append(where, "u.kind = ?")
		args = append(args, string(f.Kind))
	}
	if f.Severity != "" {
		where = append(where, "u.severity = ?")
		args = append(args, string(f.Severity))
	}
	if f.Status != "" {
		where = append(where, "EXISTS (SELECT 1 FROM update_status s WHERE s.update_id = u.id AND s.status = ?)")
		args = append(args, string(f.Status))
	}
	if f.Product != "" {
		where = append(where, "EXISTS (SELECT 1 FROM update_products p WHERE p.update_id = u.id AND p.product = ?)")
		args = append(args, f.Product)
	}
	q := `SELECT r.doc FROM updates u JOIN update_revisions r ON r.update_id = u.id AND r.revision = u.revision`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY u.id"
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: list updates")
	}
	defer rows.Close()
	us := []patchgate.Update{}
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list updates")
		}
		u, err := decodeUpdate(doc)
		if err != nil {
			return nil, err
		}
		us = append(us, u)
	}
	if err := rows.Err(); err != nil {
		return nil, patchgate.Internal(err, "sqlite: list updates")
	}
	return us, nil
}

// indexUpdate points the updates row of u.ID at u's revision and rewrites
// its product index (what ListUpdates filters on).
func indexUpdate(ctx context.Context, tx *sql.Tx, u patchgate.Update) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO updates (id, revision, kind, severity) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, kind = excluded.kind, severity = excluded.severity`,
		u.ID, u.Revision, string(u.Kind), string(u.Severity)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM update_products WHERE update_id = ?`, u.ID); err != nil {
		return err
	}
	for _, p := range u.Products {
		// An update may constrain one product twice (two version ranges).
		if _, err := tx.ExecContext(ctx, `INSERT INTO update_products (update_id, product) VALUES (?, ?)
			ON CONFLICT (update_id, product) DO NOTHING`, u.ID, p.Name); err != nil {
			return err
		}
	}
	return nil
}
