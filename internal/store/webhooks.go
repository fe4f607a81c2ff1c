package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/sqldb"
)

// WebhookEvent is a processor event as received.
type WebhookEvent struct {
	Processor  string
	ID         string
	Type       string
	ObjectType string
	ObjectID   string
	Created    time.Time // when the processor says it happened
	Payload    []byte
	// Via is how it arrived: ViaWebhook, or ViaSweep when the reconciler
	// read it back from the processor.
	Via       string
	Received  time.Time
	Processed time.Time
}

// via is how the event arrived, ViaWebhook unless it says otherwise.
func (ev WebhookEvent) via() string {
	if ev.Via == "" {
		return ViaWebhook
	}
	return ev.Via
}

// How events reach paidup.
const (
	ViaWebhook = "webhook"
	ViaSweep   = "sweep"
)

// InsertWebhookEvents stores received events, each unless it was stored
// before (or earlier in evs), and reports which are new. Many rows go in
// one statement, so that a batch costs a few round trips, not one per
// event.
func (tx *Tx) InsertWebhookEvents(ctx context.Context, evs []WebhookEvent) ([]bool, error) {
	created := make([]bool, len(evs))
	for start := 0; start < len(evs); {
		// Chunks of a power of two rows keep the statements few and cached.
		n := 1
		for n*2 <= len(evs)-start && n < 128 {
			n *= 2
		}
		chunk := evs[start : start+n]
		var q strings.Builder
		q.WriteString(`INSERT INTO webhook_events
			(processor, event_id, type, object_type, object_id, created_at, received_at, payload, received_via) VALUES `)
		args := make([]any, 0, 9*n)
		for i, ev := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			p := len(args)
			fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)", p+1, p+2, p+3, p+4, p+5, p+6, p+7, p+8, p+9)
			args = append(args, ev.Processor, ev.ID, ev.Type, ev.ObjectType, ev.ObjectID, ts(ev.Created), tx.now, ev.Payload, ev.via())
		}
		q.WriteString(` ON CONFLICT (processor, event_id) DO NOTHING RETURNING processor, event_id`)
		rows, err := tx.tx.QueryContext(ctx, q.String(), args...)
		if err != nil {
			return nil, fmt.Errorf("storing %d webhook events: %w", n, err)
		}
		inserted := map[[2]string]bool{}
		for rows.Next() {
			var k [2]string
			if err := rows.Scan(&k[0], &k[1]); err != nil {
				rows.Close()
				return nil, fmt.Errorf("storing %d webhook events: %w", n, err)
			}
			inserted[k] = true
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("storing %d webhook events: %w", n, err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("storing %d webhook events: %w", n, err)
		}
		for i, ev := range chunk {
			k := [2]string{ev.Processor, ev.ID}
			// An event twice in one batch is new once.
			created[start+i] = inserted[k]
			delete(inserted, k)
		}
		start += n
	}
	return created, nil
}

// WebhookEvent reads a stored event.
func (s *Store) WebhookEvent(ctx context.Context, processor, id string) (WebhookEvent, error) {
	var ev WebhookEvent
	var processed sql.NullTime
	err := s.db.Read.QueryRowContext(ctx, `SELECT processor, event_id, type, object_type, object_id, created_at, received_at, payload, processed_at, received_via
		FROM webhook_events WHERE processor = $1 AND event_id = $2`, processor, id).Scan(
		&ev.Processor, &ev.ID, &ev.Type, &ev.ObjectType, &ev.ObjectID, &ev.Created, &ev.Received, &ev.Payload, &processed, &ev.Via)
	if errors.Is(err, sql.ErrNoRows) {
		return ev, paidup.Errorf(paidup.ENOTFOUND, "No such event.")
	}
	if err != nil {
		return ev, fmt.Errorf("reading webhook event %s: %w", id, err)
	}
	ev.Created, ev.Received, ev.Processed = ev.Created.UTC(), ev.Received.UTC(), timeOf(processed)
	return ev, nil
}

// WebhookEvents reads stored events of a processor by id, in one query;
// ids not stored are missing from the result.
func (s *Store) WebhookEvents(ctx context.Context, processor string, ids []string) (map[string]WebhookEvent, error) {
	out := make(map[string]WebhookEvent, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var q strings.Builder
	q.WriteString(`SELECT processor, event_id, type, object_type, object_id, created_at, received_at, payload, processed_at, received_via
		FROM webhook_events WHERE processor = $1 AND event_id IN (`)
	args := []any{processor}
	for i, id := range ids {
		if i > 0 {
			q.WriteString(", ")
		}
		args = append(args, id)
		fmt.Fprintf(&q, "$%d", len(args))
	}
	q.WriteString(")")
	rows, err := s.db.Read.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("reading %d webhook events: %w", len(ids), err)
	}
	defer rows.Close()
	for rows.Next() {
		var ev WebhookEvent
		var processed sql.NullTime
		if err := rows.Scan(&ev.Processor, &ev.ID, &ev.Type, &ev.ObjectType, &ev.ObjectID, &ev.Created, &ev.Received, &ev.Payload,
			&processed, &ev.Via); err != nil {
			return nil, fmt.Errorf("reading %d webhook events: %w", len(ids), err)
		}
		ev.Created, ev.Received, ev.Processed = ev.Created.UTC(), ev.Received.UTC(), timeOf(processed)
		out[ev.ID] = ev
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading %d webhook events: %w", len(ids), err)
	}
	return out, nil
}

// MarkWebhookEventProcessed records that an event's processing is done.
func (s *Store) MarkWebhookEventProcessed(ctx context.Context, processor, id string) error {
	_, err := s.db.Write.ExecContext(ctx, `UPDATE webhook_events SET processed_at = $3 WHERE processor = $1 AND event_id = $2 AND processed_at IS NULL`,
		processor, id, s.stamp())
	if err != nil {
		return fmt.Errorf("marking webhook event %s processed: %w", id, err)
	}
	return nil
}

// MarkWebhookEventProcessed records, in the transaction, that an event's
// processing is done.
func (tx *Tx) MarkWebhookEventProcessed(ctx context.Context, processor, id string) error {
	_, err := tx.tx.ExecContext(ctx, `UPDATE webhook_events SET processed_at = $3 WHERE processor = $1 AND event_id = $2 AND processed_at IS NULL`,
		processor, id, tx.now)
	if err != nil {
		return fmt.Errorf("marking webhook event %s processed: %w", id, err)
	}
	return nil
}

// Event outcomes other than acted on, as webhook_events.outcome records them.
const (
	// OutcomeNotApplicable: the processor has no object the event names
	// (a forged, test or stale event); nothing was done.
	OutcomeNotApplicable = "not_applicable"
)

// MarkWebhookEventNotApplicable records, in the transaction, that an
// event's processing is done and came to nothing: the processor does not
// have the object it names.
func (tx *Tx) MarkWebhookEventNotApplicable(ctx context.Context, processor, id string) error {
	_, err := tx.tx.ExecContext(ctx, `UPDATE webhook_events SET processed_at = $3, outcome = $4
		WHERE processor = $1 AND event_id = $2 AND processed_at IS NULL`, processor, id, tx.now, OutcomeNotApplicable)
	if err != nil {
		return fmt.Errorf("marking webhook event %s not applicable: %w", id, err)
	}
	return nil
}

// WebhookEventCount counts the events received from a processor.
func (s *Store) WebhookEventCount(ctx context.Context, processor string) (int, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT count(*) FROM webhook_events WHERE processor = $1`, processor).Scan(&n)
	return n, err
}

// EventJobs describes the job queue's jobs that process new events, for
// InsertWebhookEventsWithJobs: River's kind and attempts, and args of the
// form {ProcessorKey: processor, IDsKey: [event ids in order received]}
// carrying up to PerJob events of one processor.
type EventJobs struct {
	Kind                 string
	MaxAttempts          int
	ProcessorKey, IDsKey string
	PerJob               int
}

// InsertWebhookEventsWithJobs stores received events, each unless it was
// stored before (or earlier in evs), and the new ones' processing jobs,
// committed together, and reports which are new. The jobs are written
// straight into the job queue's table, as River's InsertMany would write
// them, without River's bookkeeping for each insert:
//
//   - on PostgreSQL, in one statement outside any transaction: one round
//     trip to the server and one commit, where a transaction takes four
//     (begin, events, jobs, commit), each a wait for a server process on a
//     busy machine;
//   - on SQLite, in a transaction that goes ahead of others waiting for
//     the writer (see InTxFirst), with two prepared statements.
//
// The job queue finds the jobs at its next poll.
func (s *Store) InsertWebhookEventsWithJobs(ctx context.Context, evs []WebhookEvent, jobs EventJobs) ([]bool, error) {
	if s.db.Engine == sqldb.SQLite {
		var created []bool
		err := s.InTxFirst(ctx, func(tx *Tx) error {
			var err error
			if created, err = tx.InsertWebhookEvents(ctx, evs); err != nil {
				return err
			}
			return tx.insertEventJobs(ctx, evs, created, jobs)
		})
		if err != nil {
			return nil, err
		}
		return created, nil
	}
	// The events go as arrays, so that a batch of any size is one statement
	// (and one prepared statement for all sizes).
	n := len(evs)
	processors, ids, types, objectTypes, objectIDs, vias := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	created, payloads := make([]time.Time, n), make([][]byte, n)
	for i, ev := range evs {
		processors[i], ids[i], types[i], objectTypes[i], objectIDs[i], vias[i] = ev.Processor, ev.ID, ev.Type, ev.ObjectType, ev.ObjectID, ev.via()
		created[i], payloads[i] = ts(ev.Created), ev.Payload
	}
	rows, err := s.db.Write.QueryContext(ctx, `WITH v AS (
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::bytea[], $8::text[])
				WITH ORDINALITY AS v (processor, event_id, type, object_type, object_id, created_at, payload, received_via, ord)),
		inserted AS (
			INSERT INTO webhook_events (processor, event_id, type, object_type, object_id, created_at, received_at, payload, received_via)
			SELECT processor, event_id, type, object_type, object_id, created_at, $9, payload, received_via FROM v ORDER BY ord
			ON CONFLICT (processor, event_id) DO NOTHING
			RETURNING processor, event_id),
		-- An event twice in the batch is new once, at its first place.
		fresh AS (
			SELECT DISTINCT ON (v.processor, v.event_id) v.processor, v.event_id, v.ord
			FROM inserted JOIN v USING (processor, event_id) ORDER BY v.processor, v.event_id, v.ord),
		batched AS (
			SELECT processor, event_id, ord, (row_number() OVER (PARTITION BY processor ORDER BY ord) - 1) / $10 AS job FROM fresh),
		queued AS (
			INSERT INTO river_job (args, kind, max_attempts, priority, queue, state, tags)
			SELECT jsonb_build_object($11::text, processor, $12::text, jsonb_agg(event_id ORDER BY ord)), $13, $14, 1, 'default', 'available', '{}'
			FROM batched GROUP BY processor, job)
		SELECT ord FROM fresh`,
		processors, ids, types, objectTypes, objectIDs, created, payloads, vias, s.stamp(),
		jobs.PerJob, jobs.ProcessorKey, jobs.IDsKey, jobs.Kind, jobs.MaxAttempts)
	if err != nil {
		return nil, fmt.Errorf("storing %d webhook events: %w", n, err)
	}
	isNew := make([]bool, n)
	for rows.Next() {
		var ord int
		if err := rows.Scan(&ord); err != nil {
			rows.Close()
			return nil, fmt.Errorf("storing %d webhook events: %w", n, err)
		}
		isNew[ord-1] = true // ORDINALITY counts from 1
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("storing %d webhook events: %w", n, err)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storing %d webhook events: %w", n, err)
	}
	return isNew, nil
}

// insertEventJobs writes, on SQLite, the processing jobs of the events
// marked created: by processor, in the order received, jobs.PerJob at most
// in each.
func (tx *Tx) insertEventJobs(ctx context.Context, evs []WebhookEvent, created []bool, jobs EventJobs) error {
	var processors []string      // in the order first seen
	ids := map[string][]string{} // each processor's new events
	for i, ev := range evs {
		if !created[i] {
			continue
		}
		if _, ok := ids[ev.Processor]; !ok {
			processors = append(processors, ev.Processor)
		}
		ids[ev.Processor] = append(ids[ev.Processor], ev.ID)
	}
	var values []string
	var args []any
	for _, p := range processors {
		for chunk := range slices.Chunk(ids[p], jobs.PerJob) {
			encoded, err := json.Marshal(map[string]any{jobs.ProcessorKey: p, jobs.IDsKey: chunk})
			if err != nil {
				return err
			}
			n := len(args)
			values = append(values, fmt.Sprintf("(jsonb($%d), $%d, $%d, 1, 'default', 'available', datetime('now', 'subsec'), datetime('now', 'subsec'))", n+1, n+2, n+3))
			args = append(args, string(encoded), jobs.Kind, jobs.MaxAttempts)
		}
	}
	if len(values) == 0 {
		return nil
	}
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO river_job (args, kind, max_attempts, priority, queue, state, created_at, scheduled_at) VALUES `+
		strings.Join(values, ", "), args...)
	if err != nil {
		return fmt.Errorf("enqueueing %d jobs processing webhook events: %w", len(values), err)
	}
	return nil
}
