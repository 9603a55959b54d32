package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pushgate/pushgate/webhooks"
)

// clientEventColumn is the messages column that records a client event's
// first report.
func clientEventColumn(k webhooks.Kind) (string, error) {
	switch k {
	case webhooks.Delivered:
		return "delivered_at", nil
	case webhooks.Clicked:
		return "clicked_at", nil
	case webhooks.Close:
		return "closed_at", nil
	}
	return "", fmt.Errorf("client event kind %q", k)
}

func (s *WebhookStore) RecordClientEvents(ctx context.Context, events []webhooks.ClientEvent) ([]bool, error) {
	found := make([]bool, len(events))
	if len(events) == 0 {
		return found, nil
	}
	for _, e := range events {
		if _, err := clientEventColumn(e.Kind); err != nil {
			return nil, err
		}
	}
	var err error
	if s.db.Dialect == Postgres {
		// Reports of messages in the same finished chunks, recorded at
		// once, may deadlock over the chunks they move into messages and
		// the rows they mark; PostgreSQL aborts one of them, and every
		// step is safe to take again (marks only set what is unset, events
		// are stored once), so the aborted one is tried again.
		err = retryTransient(ctx, func() error {
			clear(found)
			if err := s.recordClientEventsPG(ctx, events, found); err != nil {
				return err
			}
			return recordOutboxReports(events, found, func(ids []string) error {
				_, err := s.db.materialize(ctx, ids)
				return err
			}, func(events []webhooks.ClientEvent, found []bool) error {
				return s.recordClientEventsPG(ctx, events, found)
			})
		})
	} else {
		err = s.db.inTx(ctx, func(tx *sql.Tx) error {
			if err := s.recordClientEventsTx(ctx, tx, events, found); err != nil {
				return err
			}
			return recordOutboxReports(events, found, func(ids []string) error {
				_, err := materializeChunks(ctx, liteChunkTx{db: s.db, tx: tx}, ids)
				return err
			}, func(events []webhooks.ClientEvent, found []bool) error {
				return s.recordClientEventsTx(ctx, tx, events, found)
			})
		})
	}
	if err != nil {
		return nil, fmt.Errorf("record client events: %w", err)
	}
	return found, nil
}

// recordOutboxReports handles the reports that found no message: those
// whose message is still in the outbox (an app that reports before the
// push went out, a device that acknowledges a message whose result its
// worker kept in the chunk) have their chunks moved into messages (move),
// and every one is recorded again (record).
func recordOutboxReports(events []webhooks.ClientEvent, found []bool, move func(ids []string) error,
	record func(events []webhooks.ClientEvent, found []bool) error) error {
	var missing []webhooks.ClientEvent
	var at []int
	for i, e := range events {
		if !found[i] {
			missing, at = append(missing, e), append(at, i)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	ids := make([]string, len(missing))
	for i, e := range missing {
		ids[i] = e.MessageID
	}
	// Recorded again even when nothing was moved: on PostgreSQL a worker's
	// Finish may have been moving the chunk into messages while the first
	// attempt looked, and the move waited for it to commit. (pushgate's
	// own provider makes that common: a device acknowledges a message
	// while its worker is still storing the result.)
	if err := move(ids); err != nil {
		return err
	}
	again := make([]bool, len(missing))
	if err := record(missing, again); err != nil {
		return err
	}
	for j, i := range at {
		found[i] = again[j]
	}
	return nil
}

// recordClientEventsPG writes a batch in one statement per round. In one
// UPDATE ... FROM a row can be changed once, so a message reported twice
// in the batch (delivered, then clicked) goes to a second round.
func (s *WebhookStore) recordClientEventsPG(ctx context.Context, events []webhooks.ClientEvent, found []bool) error {
	pending := make([]int, len(events))
	for i := range pending {
		pending[i] = i
	}
	for len(pending) > 0 {
		var round, later []int
		seen := make(map[string]bool, len(pending))
		for _, i := range pending {
			if seen[events[i].MessageID] {
				later = append(later, i)
				continue
			}
			seen[events[i].MessageID] = true
			round = append(round, i)
		}
		n := len(round)
		ids, ctxs, kinds, actions, eventIDs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		ats := make([]time.Time, n)
		for j, i := range round {
			e := events[i]
			ids[j], ctxs[j], kinds[j], actions[j], eventIDs[j], ats[j] = e.MessageID, e.ContextID, string(e.Kind), e.Action, e.EventID, e.At.UTC()
		}
		// Planned for each call (QueryExecModeCacheDescribe): on
		// PostgreSQL messages fills from nothing when reports move
		// finished chunks into it, and a plan cached while it was small
		// would scan it whole for every report long after.
		//
		// found reads the messages as they were; upd sets the kind's time
		// where it was unset; ins stores the event for those first reports
		// whose bucket has a callback. A report racing another for the same
		// message in a concurrent statement may see the time unset too:
		// the event's primary key still stores it once.
		rows, err := s.db.query(ctx, s.db, `WITH v AS (
				SELECT * FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::timestamptz[]) AS v(id, context_id, kind, action, event_id, at)
			), found AS (
				SELECT m.id, m.app_id, m.bucket_id, m.foreign_id, v.kind, v.action, v.event_id, v.at,
					CASE v.kind WHEN 'delivered' THEN m.delivered_at IS NULL WHEN 'clicked' THEN m.clicked_at IS NULL ELSE m.closed_at IS NULL END AS fresh
				FROM v JOIN messages m ON m.id = v.id AND m.context_id = v.context_id
			), upd AS (
				UPDATE messages m SET
					delivered_at = CASE WHEN f.kind = 'delivered' THEN f.at ELSE m.delivered_at END,
					clicked_at = CASE WHEN f.kind = 'clicked' THEN f.at ELSE m.clicked_at END,
					closed_at = CASE WHEN f.kind = 'close' THEN f.at ELSE m.closed_at END
				FROM found f WHERE m.id = f.id AND f.fresh
			), ins AS (
				INSERT INTO webhook_events (`+eventColumns+`)
				SELECT f.id, f.kind, f.event_id, f.app_id, f.bucket_id, f.foreign_id, '', f.action, f.at
				FROM found f JOIN buckets b ON b.id = f.bucket_id AND b.has_callback
				WHERE f.fresh
				ON CONFLICT DO NOTHING
			)
			SELECT id FROM found`, pgx.QueryExecModeCacheDescribe, ids, ctxs, kinds, actions, eventIDs, ats)
		if err != nil {
			return err
		}
		hit := make(map[string]bool, n)
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			hit[id] = true
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, i := range round {
			found[i] = hit[events[i].MessageID]
		}
		pending = later
	}
	return nil
}

func (s *WebhookStore) recordClientEventsTx(ctx context.Context, tx *sql.Tx, events []webhooks.ClientEvent, found []bool) error {
	for i, e := range events {
		col, _ := clientEventColumn(e.Kind)
		var appID, bucketID, foreignID string
		var fresh, hasCallback bool
		err := s.db.queryRow(ctx, tx, `SELECT m.app_id, m.bucket_id, m.foreign_id, m.`+col+` IS NULL, COALESCE(b.has_callback, FALSE)
			FROM messages m LEFT JOIN buckets b ON b.id = m.bucket_id WHERE m.id = ? AND m.context_id = ?`,
			e.MessageID, e.ContextID).Scan(&appID, &bucketID, &foreignID, &fresh, &hasCallback)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return err
		}
		found[i] = true
		if !fresh {
			continue
		}
		if _, err := s.db.exec(ctx, tx, `UPDATE messages SET `+col+` = ? WHERE id = ? AND `+col+` IS NULL`, e.At.UTC(), e.MessageID); err != nil {
			return err
		}
		if !hasCallback {
			continue
		}
		if _, err := s.db.exec(ctx, tx, `INSERT INTO webhook_events (`+eventColumns+`) VALUES (?, ?, ?, ?, ?, ?, '', ?, ?) ON CONFLICT DO NOTHING`,
			e.MessageID, string(e.Kind), e.EventID, appID, bucketID, foreignID, e.Action, e.At.UTC()); err != nil {
			return err
		}
	}
	return nil
}
