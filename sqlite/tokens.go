package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/patchgate/patchgate"
)

// CreateToken implements patchgate.TokenStore. CreatedAt defaults to the
// event's time.
func (db *DB) CreateToken(ctx context.Context, t patchgate.Token, ev patchgate.Event) error {
	if t.ID == "" {
		return patchgate.Invalid("id", "is required")
	}
	if t.Kind != patchgate.TokenAPI && t.Kind != patchgate.TokenEnroll {
		return patchgate.Invalid("kind", "must be %q or %q, not %q", patchgate.TokenAPI, patchgate.TokenEnroll, t.Kind)
	}
	var uses sql.NullInt64
	if t.UsesLeft != nil {
		uses = sql.NullInt64{Int64: int64(*t.UsesLeft), Valid: true}
	}
	return db.write(ctx, "sqlite: create token", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO tokens (id, kind, name, role, group_name, mode, expires_at,
				uses_left, secret_hash, created_at, created_by, revoked)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`,
			t.ID, string(t.Kind), t.Name, string(t.Role), t.Group, string(t.Mode), nullTimePtr(t.ExpiresAt),
			uses, t.SecretHash, fmtTime(orTime(t.CreatedAt, ev.Time)), t.CreatedBy, t.Revoked)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return patchgate.Errorf(patchgate.CodeConflict, "token %q already exists", t.ID)
		}
		return appendEvent(ctx, tx, ev)
	})
}

const tokenColumns = `id, kind, name, role, group_name, mode, expires_at, uses_left, secret_hash, created_at, created_by, revoked`

func scanToken(sc interface{ Scan(...any) error }) (patchgate.Token, error) {
	var t patchgate.Token
	var expires sql.NullString
	var uses sql.NullInt64
	var created string
	err := sc.Scan(&t.ID, &t.Kind, &t.Name, &t.Role, &t.Group, &t.Mode, &expires, &uses, &t.SecretHash,
		&created, &t.CreatedBy, &t.Revoked)
	if err != nil {
		return t, err
	}
	if uses.Valid {
		n := int(uses.Int64)
		t.UsesLeft = &n
	}
	if t.ExpiresAt, err = parseNullTimePtr(expires); err != nil {
		return t, err
	}
	if t.CreatedAt, err = parseTime(created); err != nil {
		return t, err
	}
	return t, nil
}

// GetToken implements patchgate.TokenStore.
func (db *DB) GetToken(ctx context.Context, id string) (patchgate.Token, error) {
	t, err := scanToken(db.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return patchgate.Token{}, patchgate.NotFound("token %q not found", id)
	}
	if err != nil {
		return patchgate.Token{}, patchgate.Internal(err, "sqlite: get token")
	}
	return t, nil
}

// ListTokens implements patchgate.TokenStore, ordered by ID.
func (db *DB) ListTokens(ctx context.Context) ([]patchgate.Token, error) {
	return queryAll(ctx, db.r, "sqlite: list tokens", scanToken, `SELECT `+tokenColumns+` FROM tokens ORDER BY id`)
}

// RevokeToken implements patchgate.TokenStore. Revoking a revoked token is
// not an error: the caller's intent holds.
func (db *DB) RevokeToken(ctx context.Context, id string, ev patchgate.Event) error {
	return db.write(ctx, "sqlite: revoke token", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked = ? WHERE id = ?`, true, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return patchgate.NotFound("token %q not found", id)
		}
		return appendEvent(ctx, tx, ev)
	})
}

// CountTokens implements patchgate.TokenStore. Revoked tokens count too.
func (db *DB) CountTokens(ctx context.Context, kind patchgate.TokenKind) (int, error) {
	var n int
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM tokens WHERE kind = ?`, string(kind)).Scan(&n); err != nil {
		return 0, patchgate.Internal(err, "sqlite: count tokens")
	}
	return n, nil
}
