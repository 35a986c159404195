package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/patchgate/patchgate"
)

var _ patchgate.NotifyStore = (*DB)(nil)

// CreateSubscription implements patchgate.NotifyStore.
func (db *DB) CreateSubscription(ctx context.Context, s patchgate.Subscription, ev patchgate.Event) error {
	if s.ID == "" {
		return patchgate.Invalid("subscription.id", "is required")
	}
	products, _ := json.Marshal(orEmpty(s.Products))
	kinds, _ := json.Marshal(orEmpty(s.Kinds))
	events, _ := json.Marshal(orEmpty(s.Events))
	return db.write(ctx, "sqlite: create subscription", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO subscriptions (id, channel, address, events, products, min_severity, kinds, mode, alerts, created_at, created_by, reports, timezone)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			s.ID, string(s.Channel), s.Address, string(events), string(products), string(s.MinSeverity), string(kinds), string(s.Mode), s.Alerts, fmtTime(s.CreatedAt), s.CreatedBy, s.Reports, s.TimeZone)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return patchgate.Errorf(patchgate.CodeConflict, "subscription %q exists", s.ID)
		}
		return appendEvent(ctx, tx, ev)
	})
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

const subscriptionColumns = `id, channel, address, events, products, min_severity, kinds, mode, alerts, created_at, created_by, reports, timezone`

func scanSubscription(sc interface{ Scan(...any) error }) (patchgate.Subscription, error) {
	var s patchgate.Subscription
	var products, kinds, events, at string
	if err := sc.Scan(&s.ID, &s.Channel, &s.Address, &events, &products, &s.MinSeverity, &kinds, &s.Mode, &s.Alerts, &at, &s.CreatedBy, &s.Reports, &s.TimeZone); err != nil {
		return s, err
	}
	if err := json.Unmarshal([]byte(products), &s.Products); err != nil {
		return s, err
	}
	if err := json.Unmarshal([]byte(kinds), &s.Kinds); err != nil {
		return s, err
	}
	if err := json.Unmarshal([]byte(events), &s.Events); err != nil {
		return s, err
	}
	if len(s.Events) == 0 {
		s.Events = nil
	}
	if len(s.Products) == 0 {
		s.Products = nil
	}
	if len(s.Kinds) == 0 {
		s.Kinds = nil
	}
	var err error
	s.CreatedAt, err = parseTime(at)
	return s, err
}

// ListSubscriptions implements patchgate.NotifyStore, ordered by address
// and ID.
func (db *DB) ListSubscriptions(ctx context.Context) ([]patchgate.Subscription, error) {
	return queryAll(ctx, db.r, "sqlite: list subscriptions", scanSubscription, `SELECT `+subscriptionColumns+` FROM subscriptions ORDER BY address, id`)
}

// GetSubscription implements patchgate.NotifyStore.
func (db *DB) GetSubscription(ctx context.Context, id string) (patchgate.Subscription, error) {
	s, err := scanSubscription(db.r.QueryRowContext(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return s, patchgate.NotFound("no subscription %q", id)
	}
	if err != nil {
		return s, patchgate.Internal(err, "sqlite: get subscription")
	}
	return s, nil
}

// DeleteSubscription implements patchgate.NotifyStore.
func (db *DB) DeleteSubscription(ctx context.Context, id string, ev patchgate.Event) error {
	return db.write(ctx, "sqlite: delete subscription", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM subscriptions WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return patchgate.NotFound("no subscription %q", id)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM deliveries WHERE subscription_id = ? AND status = ?`, id, string(patchgate.DeliveryPending)); err != nil {
			return err
		}
		return appendEvent(ctx, tx, ev)
	})
}

// NotifyCursor implements patchgate.NotifyStore.
func (db *DB) NotifyCursor(ctx context.Context) (int64, error) {
	var seq int64
	if err := db.r.QueryRowContext(ctx, `SELECT seq FROM notify_cursor WHERE id = 1`).Scan(&seq); err != nil {
		return 0, patchgate.Internal(err, "sqlite: read notify cursor")
	}
	return seq, nil
}

// EnqueueDeliveries implements patchgate.NotifyStore.
func (db *DB) EnqueueDeliveries(ctx context.Context, from, to int64, drafts []patchgate.DeliveryDraft) error {
	if to < from {
		return patchgate.Invalid("to", "cursor may not move back from %d to %d", from, to)
	}
	return db.write(ctx, "sqlite: enqueue deliveries", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE notify_cursor SET seq = ? WHERE id = 1 AND seq = ?`, to, from)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return patchgate.Errorf(patchgate.CodeConflict, "notify cursor is no longer at %d", from)
		}
		for _, d := range drafts {
			// Manual action mail goes to a host owner, not a subscription.
			if d.Stream != patchgate.StreamManual {
				var exists int
				err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM subscriptions WHERE id = ?`, d.SubscriptionID).Scan(&exists)
				if err != nil {
					return err
				}
				if exists == 0 {
					continue
				}
			}
			var openID, doc string
			err := tx.QueryRowContext(ctx, `SELECT id, events FROM deliveries
				WHERE subscription_id = ? AND stream = ? AND sealed = FALSE AND status = ? ORDER BY created_at, id LIMIT 1`,
				d.SubscriptionID, d.Stream, string(patchgate.DeliveryPending)).Scan(&openID, &doc)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				if d.ID == "" {
					return patchgate.Invalid("delivery.id", "is required")
				}
				evs, err := json.Marshal(orEmpty(d.Events))
				if err != nil {
					return err
				}
				_, err = tx.ExecContext(ctx, `INSERT INTO deliveries (id, subscription_id, channel, address, mode, events, status, next_attempt_at, created_at, stream)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
					d.ID, d.SubscriptionID, string(d.Channel), d.Address, string(d.Mode), string(evs), string(patchgate.DeliveryPending), fmtTime(d.DueAt), fmtTime(orTime(d.CreatedAt)), d.Stream)
				if err != nil {
					return err
				}
			case err != nil:
				return err
			default:
				var evs []patchgate.Event
				if err := json.Unmarshal([]byte(doc), &evs); err != nil {
					return err
				}
				evs = append(evs, d.Events...)
				data, err := json.Marshal(evs)
				if err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET events = ? WHERE id = ?`, string(data), openID); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

const deliveryColumns = `id, subscription_id, channel, address, mode, events, status, attempts, next_attempt_at, last_error, created_at, sent_at, stream`

func scanDelivery(sc interface{ Scan(...any) error }) (patchgate.Delivery, error) {
	var d patchgate.Delivery
	var evs, next, created string
	var sent sql.NullString
	if err := sc.Scan(&d.ID, &d.SubscriptionID, &d.Channel, &d.Address, &d.Mode, &evs, &d.Status, &d.Attempts, &next, &d.LastError, &created, &sent, &d.Stream); err != nil {
		return d, err
	}
	if err := json.Unmarshal([]byte(evs), &d.Events); err != nil {
		return d, err
	}
	var err error
	if d.NextAttemptAt, err = parseTime(next); err != nil {
		return d, err
	}
	if d.CreatedAt, err = parseTime(created); err != nil {
		return d, err
	}
	d.SentAt, err = parseNullTime(sent)
	return d, err
}

// ClaimDeliveries implements patchgate.NotifyStore.
func (db *DB) ClaimDeliveries(ctx context.Context, now time.Time, limit int, retryAt func(int) time.Time) ([]patchgate.Delivery, error) {
	if limit <= 0 {
		limit = 100
	}
	var ds []patchgate.Delivery
	err := db.write(ctx, "sqlite: claim deliveries", func(tx *sql.Tx) error {
		ds = ds[:0]
		rows, err := tx.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries
			WHERE status = ? AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`,
			string(patchgate.DeliveryPending), fmtTime(now), limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			d, err := scanDelivery(rows)
			if err != nil {
				rows.Close()
				return err
			}
			ds = append(ds, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for i := range ds {
			ds[i].Attempts++
			ds[i].NextAttemptAt = normTime(retryAt(ds[i].Attempts))
			_, err := tx.ExecContext(ctx, `UPDATE deliveries SET sealed = TRUE, attempts = ?, next_attempt_at = ? WHERE id = ?`,
				ds[i].Attempts, fmtTime(ds[i].NextAttemptAt), ds[i].ID)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ds, nil
}

// CompleteDelivery implements patchgate.NotifyStore.
func (db *DB) CompleteDelivery(ctx context.Context, id string, at time.Time) error {
	return db.write(ctx, "sqlite: complete delivery", func(tx *sql.Tx) error {
		return updateOne(ctx, tx, id, `UPDATE deliveries SET status = ?, sent_at = ?, last_error = '' WHERE id = ?`,
			string(patchgate.DeliverySent), fmtTime(at), id)
	})
}

// FailDelivery implements patchgate.NotifyStore.
func (db *DB) FailDelivery(ctx context.Context, id string, errText string, retryAt time.Time) error {
	if len(errText) > 2000 {
		errText = errText[:2000]
	}
	return db.write(ctx, "sqlite: fail delivery", func(tx *sql.Tx) error {
		if retryAt.IsZero() {
			return updateOne(ctx, tx, id, `UPDATE deliveries SET status = ?, last_error = ? WHERE id = ?`,
				string(patchgate.DeliveryDead), errText, id)
		}
		return updateOne(ctx, tx, id, `UPDATE deliveries SET last_error = ?, next_attempt_at = ? WHERE id = ?`,
			errText, fmtTime(retryAt), id)
	})
}

func updateOne(ctx context.Context, tx *sql.Tx, id, q string, args ...any) error {
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return patchgate.NotFound("no delivery %q", id)
	}
	return nil
}

// ListDeliveries implements patchgate.NotifyStore.
func (db *DB) ListDeliveries(ctx context.Context, status patchgate.DeliveryStatus, limit int) ([]patchgate.Delivery, error) {
	if limit <= 0 {
		limit = DefaultEventLimit
	}
	limit = min(limit, MaxEventLimit)
	rows, err := db.r.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE status = ?
		ORDER BY created_at DESC, id DESC LIMIT ?`, string(status), limit)
	if err != nil {
		return nil, patchgate.Internal(err, "sqlite: list deliveries")
	}
	defer rows.Close()
	ds := []patchgate.Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, patchgate.Internal(err, "sqlite: list deliveries")
		}
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, patchgate.Internal(err, "sqlite: list deliveries")
	}
	return ds, nil
}

// RetryDeliveries implements patchgate.NotifyStore.
func (db *DB) RetryDeliveries(ctx context.Context, ids []string, all bool, now time.Time, ev patchgate.Event) (int, error) {
	moved := 0
	err := db.write(ctx, "sqlite: retry deliveries", func(tx *sql.Tx) error {
		moved = 0
		const q = `UPDATE deliveries SET status = ?, attempts = 0, next_attempt_at = ?, last_error = '' WHERE status = ?`
		args := []any{string(patchgate.DeliveryPending), fmtTime(now), string(patchgate.DeliveryDead)}
		if all {
			res, err := tx.ExecContext(ctx, q, args...)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			moved = int(n)
		} else {
			for _, id := range ids {
				res, err := tx.ExecContext(ctx, q+` AND id = ?`, append(args, id)...)
				if err != nil {
					return err
				}
				if n, err := res.RowsAffected(); err != nil {
					return err
				} else if n == 0 {
					return patchgate.NotFound("no dead delivery %q", id)
				}
				moved++
			}
		}
		if moved == 0 {
			return nil
		}
		if ev.Detail == "" {
			ev.Detail = "requeued " + strings.Join(ids, ", ")
			if all {
				ev.Detail = "requeued every dead letter"
			}
		}
		return appendEvent(ctx, tx, ev)
	})
	return moved, err
}

// PruneDeliveries implements patchgate.NotifyStore.
func (db *DB) PruneDeliveries(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := db.write(ctx, "sqlite: prune deliveries", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM deliveries WHERE status = ? AND sent_at < ?`, string(patchgate.DeliverySent), fmtTime(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// FlushDigests implements patchgate.NotifyStore.
func (db *DB) FlushDigests(ctx context.Context, now time.Time, ev patchgate.Event) (int, error) {
	moved := 0
	err := db.write(ctx, "sqlite: flush digests", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE deliveries SET next_attempt_at = ?
			WHERE status = ? AND attempts = 0 AND mode IN (?, ?) AND next_attempt_at > ?`,
			fmtTime(now), string(patchgate.DeliveryPending), string(patchgate.ModeDaily), string(patchgate.ModeWeekly), fmtTime(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		moved = int(n)
		if moved == 0 {
			return nil
		}
		if ev.Detail == "" {
			ev.Detail = fmt.Sprintf("%d digest(s) due now", moved)
		}
		return appendEvent(ctx, tx, ev)
	})
	return moved, err
}
