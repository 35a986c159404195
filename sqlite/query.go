package sqlite

import (
	"context"
	"database/sql"

	"github.com/patchgate/patchgate"
)

// scanner is a row to scan: *sql.Row or *sql.Rows.
type scanner = interface{ Scan(...any) error }

// queryAll runs query on the read pool and scans every row with scan; an
// empty result is an empty (not nil) slice. what names the operation in
// the internal error.
func queryAll[T any](ctx context.Context, db *sql.DB, what string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, patchgate.Internal(err, what)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, patchgate.Internal(err, what)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, patchgate.Internal(err, what)
	}
	return out, nil
}
