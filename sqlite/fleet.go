package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/patchgate/patchgate"
)

// Enroll implements patchgate.FleetStore. The host's mode is the token's
// when the token sets one, else the reported one, else automatic. The host
// joins GroupAll and the token's group; h.Groups is ignored. EnrolledAt and
// LastCheckin are now: enrolment is the host's first check-in.
func (db *DB) Enroll(ctx context.Context, tokenID string, now time.Time, h patchgate.Host, credentialHash []byte, ev patchgate.Event) (patchgate.Host, error) {
	rec := patchgate.EnrollRecord{TokenID: tokenID, Now: now, Host: h, CredentialHash: credentialHash, Event: ev}
	if err := checkEnroll(rec); err != nil {
		return patchgate.Host{}, err
	}
	err := db.write(ctx, "sqlite: enroll host", func(tx *sql.Tx) error {
		var err error
		h, err = enrollTx(ctx, tx, rec)
		return err
	})
	if err != nil {
		return patchgate.Host{}, err
	}
	return h, nil
}

// EnrollMany implements patchgate.FleetStore: every enrolment runs inside
// its own savepoint of one transaction, so a refused one (token used up,
// duplicate host) is rolled back alone and the rest commit together.
func (db *DB) EnrollMany(ctx context.Context, recs []patchgate.EnrollRecord) ([]patchgate.EnrollResult, error) {
	results := make([]patchgate.EnrollResult, len(recs))
	err := db.write(ctx, "sqlite: enroll hosts", func(tx *sql.Tx) error {
		sctx := context.WithoutCancel(ctx) // see RecordDeploymentEventGroups
		for i, rec := range recs {
			results[i] = patchgate.EnrollResult{}
			if err := checkEnroll(rec); err != nil {
				results[i].Err = err
				continue
			}
			if _, err := tx.ExecContext(sctx, `SAVEPOINT enroll`); err != nil {
				return err
			}
			h, err := enrollTx(sctx, tx, rec)
			var pe *patchgate.Error
			switch {
			case err == nil:
				results[i].Host = h
				if _, err := tx.ExecContext(sctx, `RELEASE SAVEPOINT enroll`); err != nil {
					return err
				}
			case errors.As(err, &pe) && pe.Code != patchgate.CodeInternal:
				results[i].Err = err
				if _, err := tx.ExecContext(sctx, `ROLLBACK TO SAVEPOINT enroll`); err != nil {
					return err
				}
				if _, err := tx.ExecContext(sctx, `RELEASE SAVEPOINT enroll`); err != nil {
					return err
				}
			default:
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

func checkEnroll(rec patchgate.EnrollRecord) error {
	if rec.Host.ID == "" {
		return patchgate.Invalid("host.id", "is required")
	}
	if len(rec.CredentialHash) == 0 {
		return patchgate.Invalid("credential", "is required")
	}
	return nil
}

// enrollTx enrols one host inside tx.
func enrollTx(ctx context.Context, tx *sql.Tx, rec patchgate.EnrollRecord) (patchgate.Host, error) {
	h, ev := rec.Host, rec.Event
	now := normTime(rec.Now)
	// One statement checks and consumes the token, so two enrolments
	// racing for its last use cannot both pass.
	var group, mode string
	err := tx.QueryRowContext(ctx, `UPDATE tokens SET uses_left = uses_left - 1
		WHERE id = ? AND kind = ? AND NOT revoked
		  AND (expires_at IS NULL OR expires_at > ?)
		  AND (uses_left IS NULL OR uses_left > 0)
		RETURNING group_name, mode`,
		rec.TokenID, string(patchgate.TokenEnroll), fmtTime(now)).Scan(&group, &mode)
	if errors.Is(err, sql.ErrNoRows) {
		// Which check failed is not the caller's business.
		return h, patchgate.Errorf(patchgate.CodeUnauthorized, "enrolment token is unknown, expired, revoked or used up")
	}
	if err != nil {
		return h, err
	}
	if mode != "" {
		h.Mode = patchgate.Mode(mode)
	}
	if h.Mode == "" {
		h.Mode = patchgate.ModeAutomatic
	}
	h.EnrolledAt, h.LastCheckin = now, now
	h.Groups = []string{patchgate.GroupAll}
	if group != "" && group != patchgate.GroupAll {
		h.Groups = append(h.Groups, group)
	}
	inv, err := encodeInventory(h.Inventory)
	if err != nil {
		return h, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO hosts (id, hostname, os, arch, mode, agent, interval_ns,
			products, installed, reboot_pending, inventory_digest, credential_hash, enrolled_at, last_checkin)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`,
		h.ID, h.Hostname, h.OS, h.Arch, string(h.Mode), h.Agent, int64(h.Interval),
		inv.products, inv.installed, inv.rebootPending, h.InventoryDigest, rec.CredentialHash,
		fmtTime(h.EnrolledAt), fmtTime(h.LastCheckin))
	if err != nil {
		return h, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return h, err
	} else if n == 0 {
		return h, patchgate.Errorf(patchgate.CodeConflict, "host %q is already enrolled", h.ID)
	}
	if group != "" {
		if _, err := tx.ExecContext(ctx, `INSERT INTO host_groups (name, description, created_at) VALUES (?, '', ?)
			ON CONFLICT (name) DO NOTHING`, group, fmtTime(now)); err != nil {
			return h, err
		}
	}
	for _, g := range h.Groups {
		if _, err := tx.ExecContext(ctx, `INSERT INTO group_members (group_name, host_id) VALUES (?, ?)`, g, h.ID); err != nil {
			return h, err
		}
	}
	if ev.HostID == "" {
		ev.HostID = h.ID
	}
	if err := appendEvent(ctx, tx, ev); err != nil {
		return h, err
	}
	sort.Strings(h.Groups)
	h.Inventory = normInventory(h.Inventory)
	return h, nil
}

// storedInventory is an inventory's lists as the JSON the hosts table keeps.
type storedInventory struct {
	products, installed, rebootPending string
}

func normInventory(inv patchgate.Inventory) patchgate.Inventory {
	if inv.Products == nil {
		inv.Products = []patchgate.InstalledProduct{}
	}
	if inv.Installed == nil {
		inv.Installed = []string{}
	}
	if inv.RebootPending == nil {
		inv.RebootPending = []string{}
	}
	return inv
}

func encodeInventory(inv patchgate.Inventory) (storedInventory, error) {
	inv = normInventory(inv)
	var s storedInventory
	for _, f := range []struct {
		dst *string
		v   any
	}{{&s.products, inv.Products}, {&s.installed, inv.Installed}, {&s.rebootPending, inv.RebootPending}} {
		b, err := json.Marshal(f.v)
		if err != nil {
			return s, err
		}
		*f.dst = string(b)
	}
	return s, nil
}

// HostCredential implements patchgate.FleetStore.
func (db *DB) HostCredential(ctx context.Context, hostID string) ([]byte, error) {
	var hash []byte
	err := db.r.QueryRowContext(ctx, `SELECT credential_hash FROM hosts WHERE id = ?`, hostID).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, patchgate.NotFound("host %q not found", hostID)
	}
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: get host credential")
	}
	return hash, nil
}

const hostColumns = `id, hostname, os, arch, mode, agent, interval_ns, products, installed, reboot_pending,
	inventory_digest, enrolled_at, last_checkin`

func scanHost(sc interface{ Scan(...any) error }) (patchgate.Host, error) {
	var h patchgate.Host
	var interval int64
	var products, installed, rebootPending, enrolled string
	var checkin sql.NullString
	err := sc.Scan(&h.ID, &h.Hostname, &h.OS, &h.Arch, &h.Mode, &h.Agent, &interval,
		&products, &installed, &rebootPending, &h.InventoryDigest, &enrolled, &checkin)
	if err != nil {
		return h, err
	}
	h.Interval = time.Duration(interval)
	for _, f := range []struct {
		src string
		dst any
	}{{products, &h.Products}, {installed, &h.Installed}, {rebootPending, &h.RebootPending}} {
		if err := json.Unmarshal([]byte(f.src), f.dst); err != nil {
			return h, err
		}
	}
	h.Inventory = normInventory(h.Inventory)
	if h.EnrolledAt, err = parseTime(enrolled); err != nil {
		return h, err
	}
	if h.LastCheckin, err = parseNullTime(checkin); err != nil {
		return h, err
	}
	return h, nil
}

// GetHost implements patchgate.FleetStore; Groups are sorted.
func (db *DB) GetHost(ctx context.Context, id string) (patchgate.Host, error) {
	h, err := scanHost(db.r.QueryRowContext(ctx, `SELECT `+hostColumns+` FROM hosts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return patchgate.Host{}, patchgate.NotFound("host %q not found", id)
	}
	if err != nil {
		return patchgate.Host{}, patchgate.Internal(err, "sqlite: get host")
	}
	rows, err := db.r.QueryContext(ctx, `SELECT group_name FROM group_members WHERE host_id = ? ORDER BY group_name`, id)
	if err != nil {
		return patchgate.Host{}, patchgate.Internal(err, "sqlite: get host groups")
	}
	defer rows.Close()
	h.Groups = []string{}
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return patchgate.Host{}, patchgate.Internal(err, "sqlite: get host groups")
		}
		h.Groups = append(h.Groups, g)
	}
	if err := rows.Err(); err != nil {
		return patchgate.Host{}, patchgate.Internal(err, "sqlite: get host groups")
	}
	return h, nil
}

// ListHosts implements patchgate.FleetStore, ordered by ID.
func (db *DB) ListHosts(ctx context.Context) ([]patchgate.Host, error) {
	// Read in one transaction so the hosts and their groups agree.
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: list hosts")
	}
	defer tx.Rollback()
	members, err := memberships(ctx, tx)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: list hosts")
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+hostColumns+` FROM hosts ORDER BY id`)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: list hosts")
	}
	defer rows.Close()
	hs := []patchgate.Host{}
	for rows.Next() {
		h, err := scanHost(rows)
		if err != nil {
			return nil, patchgate.Internal(err, "sqlite: list hosts")
		}
		h.Groups = members[h.ID]
		if h.Groups == nil {
			h.Groups = []string{}
		}
		hs = append(hs, h)
	}
	if err := rows.Err(); err != nil {
		return nil, patchgate.Internal(err, "sqlite: list hosts")
	}
	return hs, nil
}

// SaveInventory implements patchgate.FleetStore.
func (db *DB) SaveInventory(ctx context.Context, hostID string, inv patchgate.Inventory, digest string, at time.Time) error {
	s, err := encodeInventory(inv)
	if err != nil {
		return patchgate.Internal(err, "sqlite: encode inventory")
	}
	return db.write(ctx, "sqlite: save inventory", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE hosts SET hostname = ?, os = ?, arch = ?, mode = ?, agent = ?,
				interval_ns = ?, products = ?, installed = ?, reboot_pending = ?, inventory_digest = ?, last_checkin = ?
			WHERE id = ?`,
			inv.Hostname, inv.OS, inv.Arch, string(inv.Mode), inv.Agent, int64(inv.Interval),
			s.products, s.installed, s.rebootPending, digest, fmtTime(at), hostID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return patchgate.NotFound("host %q not found", hostID)
		}
		return nil
	})
}

// SaveInventories implements patchgate.FleetStore: one transaction for
// many check-ins. A check-in time never moves backwards.
func (db *DB) SaveInventories(ctx context.Context, recs []patchgate.InventoryRecord) error {
	if len(recs) == 0 {
		return nil
	}
	encoded := make([]storedInventory, len(recs))
	for i, r := range recs {
		e, err := encodeInventory(r.Inventory)
		if err != nil {
			return patchgate.Internal(err, "sqlite: encode inventory")
		}
		encoded[i] = e
	}
	return db.write(ctx, "sqlite: save inventories", func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE hosts SET hostname = ?, os = ?, arch = ?, mode = ?, agent = ?,
				interval_ns = ?, products = ?, installed = ?, reboot_pending = ?, inventory_digest = ?,
				last_checkin = CASE WHEN last_checkin IS NULL OR last_checkin < ? THEN ? ELSE last_checkin END
			WHERE id = ?`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		sctx := context.WithoutCancel(ctx) // see RecordDeploymentEventGroups
		for i, r := range recs {
			inv, e, at := r.Inventory, encoded[i], fmtTime(r.At)
			if _, err := stmt.ExecContext(sctx, inv.Hostname, inv.OS, inv.Arch, string(inv.Mode), inv.Agent, int64(inv.Interval),
				e.products, e.installed, e.rebootPending, r.Digest, at, at, r.HostID); err != nil {
				return err
			}
		}
		return nil
	})
}

// TouchCheckins implements patchgate.FleetStore. Unknown hosts are skipped
// (a host deleted since it checked in), and a time never moves backwards, so
// batches flushed out of order do no harm.
func (db *DB) TouchCheckins(ctx context.Context, at map[string]time.Time) error {
	if len(at) == 0 {
		return nil
	}
	return db.write(ctx, "sqlite: touch check-ins", func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE hosts SET last_checkin = ?
			WHERE id = ? AND (last_checkin IS NULL OR last_checkin < ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for id, t := range at {
			s := fmtTime(t)
			if _, err := stmt.ExecContext(ctx, s, id, s); err != nil {
				return err
			}
		}
		return nil
	})
}

// CreateGroup implements patchgate.FleetStore. CreatedAt defaults to the
// event's time.
func (db *DB) CreateGroup(ctx context.Context, g patchgate.Group, ev patchgate.Event) error {
	if g.Name == "" {
		return patchgate.Invalid("name", "is required")
	}
	g.Parent = patchgate.NormalizeParent(g.Parent)
	if g.RebootPolicy != "" && !g.RebootPolicy.Valid() {
		return patchgate.Invalid("reboot_policy", "must be never, if-required or always, not %q", g.RebootPolicy)
	}
	return db.write(ctx, "sqlite: create group", func(tx *sql.Tx) error {
		if g.Parent != "" {
			if err := groupExists(ctx, tx, g.Parent); patchgate.IsNotFound(err) {
				return patchgate.Invalid("parent", "group %q not found", g.Parent)
			} else if err != nil {
				return err
			}
			nodes, err := groupNodes(ctx, tx)
			if err != nil {
				return err
			}
			if err := patchgate.CheckParent(nodes, g.Name, g.Parent); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO host_groups (name, description, created_at, parent, reboot_policy) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (name) DO NOTHING`, g.Name, g.Description, fmtTime(orTime(g.CreatedAt, ev.Time)), g.Parent, string(g.RebootPolicy))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return patchgate.Errorf(patchgate.CodeConflict, "group %q already exists", g.Name)
		}
		return appendEvent(ctx, tx, ev)
	})
}

// ListGroups implements patchgate.FleetStore, ordered by name.
func (db *DB) ListGroups(ctx context.Context) ([]patchgate.Group, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT g.name, g.description, g.created_at, g.parent, g.reboot_policy,
			(SELECT COUNT(*) FROM group_members m WHERE m.group_name = g.name)
		FROM host_groups g ORDER BY g.name`)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: list groups")
	}
	defer rows.Close()
	gs := []patchgate.Group{}
	for rows.Next() {
		var g patchgate.Group
		var created, policy string
		if err := rows.Scan(&g.Name, &g.Description, &created, &g.Parent, &policy, &g.Hosts); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list groups")
		}
		if g.CreatedAt, err = parseTime(created); err != nil {
			return nil, patchgate.Internal(err, "sqlite: list groups")
		}
		g.RebootPolicy = patchgate.RebootPolicy(policy)
		gs = append(gs, g)
	}
	if err := rows.Err(); err != nil {
		return nil, patchgate.Internal(err, "sqlite: list groups")
	}
	return gs, nil
}

// DeleteGroup implements patchgate.FleetStore. Its memberships and approvals
// go with it; GroupAll cannot be deleted.
func (db *DB) DeleteGroup(ctx context.Context, name string, ev patchgate.Event) error {
	if name == patchgate.GroupAll {
		return patchgate.Invalid("name", "group %q cannot be deleted", name)
	}
	return db.write(ctx, "sqlite: delete group", func(tx *sql.Tx) error {
		// Children would silently lose what they inherit: refuse.
		if kids, err := childGroups(ctx, tx, name); err != nil {
			return err
		} else if len(kids) > 0 {
			return patchgate.Errorf(patchgate.CodeConflict, "group %q has child groups (%s): move them (group set-parent) or delete them first", name, strings.Join(kids, ", "))
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM host_groups WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return patchgate.NotFound("group %q not found", name)
		}
		return appendEvent(ctx, tx, ev)
	})
}

// groupExists returns not_found unless group exists.
func groupExists(ctx context.Context, tx *sql.Tx, group string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM host_groups WHERE name = ?`, group).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return patchgate.NotFound("group %q not found", group)
	}
	return nil
}

// AddToGroup implements patchgate.FleetStore. Every host must exist; hosts
// already in the group stay as they are.
func (db *DB) AddToGroup(ctx context.Context, group string, hostIDs []string, ev patchgate.Event) error {
	return db.write(ctx, "sqlite: add to group", func(tx *sql.Tx) error {
		if err := groupExists(ctx, tx, group); err != nil {
			return err
		}
		for _, id := range hostIDs {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM hosts WHERE id = ?`, id).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return patchgate.NotFound("host %q not found", id)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO group_members (group_name, host_id) VALUES (?, ?)
				ON CONFLICT (group_name, host_id) DO NOTHING`, group, id); err != nil {
				return err
			}
		}
		return appendEvent(ctx, tx, ev)
	})
}

// RemoveFromGroup implements patchgate.FleetStore. Hosts not in the group
// are skipped; no host leaves GroupAll.
func (db *DB) RemoveFromGroup(ctx context.Context, group string, hostIDs []string, ev patchgate.Event) error {
	if group == patchgate.GroupAll {
		return patchgate.Invalid("group", "hosts cannot leave group %q", group)
	}
	return db.write(ctx, "sqlite: remove from group", func(tx *sql.Tx) error {
		if err := groupExists(ctx, tx, group); err != nil {
			return err
		}
		for _, id := range hostIDs {
			if _, err := tx.ExecContext(ctx, `DELETE FROM group_members WHERE group_name = ? AND host_id = ?`, group, id); err != nil {
				return err
			}
		}
		return appendEvent(ctx, tx, ev)
	})
}

// Memberships implements patchgate.FleetStore; each host's groups are
// sorted.
func (db *DB) Memberships(ctx context.Context) (map[string][]string, error) {
	m, err := memberships(ctx, db.r)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: list memberships")
	}
	return m, nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func memberships(ctx context.Context, q querier) (map[string][]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT host_id, group_name FROM group_members ORDER BY host_id, group_name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := map[string][]string{}
	for rows.Next() {
		var host, group string
		if err := rows.Scan(&host, &group); err != nil {
			return nil, err
		}
		m[host] = append(m[host], group)
	}
	return m, rows.Err()
}
