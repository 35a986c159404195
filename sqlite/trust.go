package sqlite

import (
	"context"

	"github.com/patchgate/patchgate"
)

// UpdateOrigins implements patchgate.TrustStore.
func (db *DB) UpdateOrigins(ctx context.Context) (map[string]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT update_id, upstream FROM update_origins`)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: list update origins")
	}
	defer rows.Close()
	out := make(map[string]string)
	for rows.Next() {
		var id, up string
		if err := rows.Scan(&id, &up); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list update origins")
		}
		out[id] = up
	}
	if err := rows.Err(); err != nil {
		return nil, patchgate.Internal(err, "sqlite: list update origins")
	}
	return out, nil
}

// UpdateRepos implements patchgate.TrustStore.
func (db *DB) UpdateRepos(ctx context.Context) (map[string]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT update_id, repo FROM update_origins WHERE repo <> ''`)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: list update repositories")
	}
	defer rows.Close()
	out := make(map[string]string)
	for rows.Next() {
		var id, repo string
		if err := rows.Scan(&id, &repo); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list update repositories")
		}
		out[id] = repo
	}
	if err := rows.Err(); err != nil {
		return nil, patchgate.Internal(err, "sqlite: list update repositories")
	}
	return out, nil
}
