package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/patchgate/patchgate"
)

// normAdvisory puts a in the form it is stored in: times at the store's
// precision, empty rather than nil lists.
func normAdvisory(a patchgate.Advisory) patchgate.Advisory {
	a.InitialReleaseDate = normTime(a.InitialReleaseDate)
	a.CurrentReleaseDate = normTime(a.CurrentReleaseDate)
	if !a.ImportedAt.IsZero() {
		a.ImportedAt = normTime(a.ImportedAt)
	}
	if a.CVEs == nil {
		a.CVEs = []patchgate.AdvisoryCVE{}
	}
	if a.Affected == nil {
		a.Affected = []patchgate.AdvisoryProduct{}
	}
	if a.Fixed == nil {
		a.Fixed = []patchgate.AdvisoryProduct{}
	}
	if a.Remediations == nil {
		a.Remediations = []patchgate.Remediation{}
	}
	return a
}

// PutAdvisory implements patchgate.AdvisoryStore.
func (db *DB) PutAdvisory(ctx context.Context, a patchgate.Advisory, ev patchgate.Event) (patchgate.Advisory, patchgate.AdvisoryOutcome, error) {
	if !patchgate.ValidAdvisoryID(a.ID) {
		return patchgate.Advisory{}, patchgate.AdvisoryRejected, patchgate.Invalid("id", "%q is not an advisory id", a.ID)
	}
	a = normAdvisory(a)
	var stored patchgate.Advisory
	var outcome patchgate.AdvisoryOutcome
	err := db.write(ctx, "sqlite: put advisory", func(tx *sql.Tx) error {
		var prev *patchgate.Advisory
		var doc string
		err := tx.QueryRowContext(ctx, `SELECT doc FROM advisories WHERE id = ?`, a.ID).Scan(&doc)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			var p patchgate.Advisory
			if err := json.Unmarshal([]byte(doc), &p); err != nil {
				return err
			}
			prev = &p
		}
		outcome, err = patchgate.DecideAdvisoryImport(prev, a)
		if err != nil {
			return err
		}
		switch outcome {
		case patchgate.AdvisoryUnchanged:
			stored = *prev
			return nil
		case patchgate.AdvisoryImported:
			a.Revision = 1
			ev.Type = patchgate.EventAdvisoryImported
		case patchgate.AdvisoryUpdated:
			a.Revision = prev.Revision + 1
			ev.Type = patchgate.EventAdvisoryUpdated
		}
		a.ImportedAt = normTime(orTime(a.ImportedAt, ev.Time))
		b, err := json.Marshal(a)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO advisories (id, revision, current_release_date, severity, doc, imported_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, current_release_date = excluded.current_release_date,
				severity = excluded.severity, doc = excluded.doc, imported_at = excluded.imported_at`,
			a.ID, a.Revision, fmtTime(a.CurrentReleaseDate), string(a.Severity), string(b), fmtTime(a.ImportedAt)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM advisory_cves WHERE advisory_id = ?`, a.ID); err != nil {
			return err
		}
		for _, c := range a.CVEs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO advisory_cves (advisory_id, cve) VALUES (?, ?)
				ON CONFLICT DO NOTHING`, a.ID, c.ID); err != nil {
				return err
			}
		}
		stored = a
		return appendEvent(ctx, tx, ev)
	})
	if err != nil {
		if patchgate.ErrorCode(err) != patchgate.CodeInternal {
			outcome = patchgate.AdvisoryRejected
		}
		return patchgate.Advisory{}, outcome, err
	}
	return stored, outcome, nil
}

// GetAdvisory implements patchgate.AdvisoryStore.
func (db *DB) GetAdvisory(ctx context.Context, id string) (patchgate.Advisory, error) {
	var doc string
	err := db.r.QueryRowContext(ctx, `SELECT doc FROM advisories WHERE id = ?`, id).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return patchgate.Advisory{}, patchgate.NotFound("advisory %q not found", id)
	}
	if err != nil {
		return patchgate.Advisory{}, patchgate.Internal(err, "sqlite: get advisory")
	}
	var a patchgate.Advisory
	if err := json.Unmarshal([]byte(doc), &a); err != nil {
		return a, patchgate.Internal(err, "sqlite: decode advisory")
	}
	return a, nil
}

// ListAdvisories implements patchgate.AdvisoryStore.
func (db *DB) ListAdvisories(ctx context.Context, f patchgate.AdvisoryFilter) ([]patchgate.Advisory, error) {
	q := `SELECT doc FROM advisories ORDER BY current_release_date DESC, id`
	var args []any
	if f.CVE != "" {
		q = `SELECT a.doc FROM advisories a JOIN advisory_cves c ON c.advisory_id = a.id
			WHERE c.cve = ? ORDER BY a.current_release_date DESC, a.id`
		args = append(args, f.CVE)
	}
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: list advisories")
	}
	defer rows.Close()
	out := []patchgate.Advisory{}
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list advisories")
		}
		var a patchgate.Advisory
		if err := json.Unmarshal([]byte(doc), &a); err != nil {
			return nil, patchgate.Internal(err, "sqlite: decode advisory")
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, patchgate.Internal(err, "sqlite: list advisories")
	}
	return out, nil
}
