package sqlite

import (
	"context"
	"database/sql"

	"github.com/patchgate/patchgate"
)

// recentInstallsSQL walks the newest deployment events (events_type_seq)
// and, for each completed install, looks up the host's events for the
// update before it (events_host_seq): the state just before, which must be
// installing, and the last downloading.
const recentInstallsSQL = `SELECT f.host_id, f.update_id, f.at,
	(SELECT s.at FROM events s WHERE s.host_id = f.host_id AND s.seq < f.seq AND s.update_id = f.update_id
		AND s.type = f.type AND s.state = 'downloading' ORDER BY s.seq DESC LIMIT 1),
	(SELECT p.state FROM events p WHERE p.host_id = f.host_id AND p.seq < f.seq AND p.update_id = f.update_id
		AND p.type = f.type AND p.state != '' ORDER BY p.seq DESC LIMIT 1)
	FROM events f
	WHERE f.type = ? AND f.state IN ('installed', 'reboot-pending') AND f.host_id != ''
	ORDER BY f.seq DESC LIMIT ?`

// RecentInstalls implements patchgate.InstallHistoryStore. At most 4 times
// limit events are examined, so that a log full of reboots and manual
// records does not make the read unbounded.
func (db *DB) RecentInstalls(ctx context.Context, limit int) ([]patchgate.InstallSample, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := db.r.QueryContext(ctx, recentInstallsSQL, patchgate.EventDeployment, 4*limit)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: recent installs")
	}
	defer rows.Close()
	out := []patchgate.InstallSample{}
	for rows.Next() && len(out) < limit {
		var s patchgate.InstallSample
		var finished string
		var started, prev sql.NullString
		if err := rows.Scan(&s.HostID, &s.UpdateID, &finished, &started, &prev); err != nil {
			return nil, patchgate.Internal(err, "sqlite: recent installs")
		}
		if !started.Valid || prev.String != string(patchgate.StateInstalling) {
			continue
		}
		if s.Finished, err = parseTime(finished); err != nil {
			return nil, patchgate.Internal(err, "sqlite: recent installs")
		}
		if s.Started, err = parseTime(started.String); err != nil {
			return nil, patchgate.Internal(err, "sqlite: recent installs")
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, patchgate.Internal(err, "sqlite: recent installs")
	}
	return out, nil
}
