package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

// Pruning empties the payloads of processed events received before the
// cutoff, a batch at a time, and nothing else: the rows stay, so a
// redelivered event is still a duplicate; events not yet processed, and
// events received since the cutoff, keep their payloads.
func TestPruneEventPayloads(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		payload := func(id string) []byte {
			return []byte(`{"id":"` + id + `","object":"event","data":{"object":{"id":"cs_1"}}}`)
		}
		receive := func(ids ...string) {
			t.Helper()
			var evs []store.WebhookEvent
			for _, id := range ids {
				evs = append(evs, store.WebhookEvent{Processor: "stripe", ID: id, Type: "checkout.session.completed",
					ObjectType: "checkout.session", ObjectID: "cs_1", Created: b.now, Payload: payload(id)})
			}
			created, err := b.store.InsertWebhookEventsWithJobs(ctx, evs, eventJobs)
			require.NoError(t, err)
			for i, c := range created {
				require.True(t, c, ids[i])
			}
		}
		processed := func(ids ...string) {
			t.Helper()
			for _, id := range ids {
				require.NoError(t, b.store.MarkWebhookEventProcessed(ctx, "stripe", id))
			}
		}
		start := b.now
		receive("evt_old_1", "evt_old_2", "evt_old_3", "evt_old_waiting")
		processed("evt_old_1", "evt_old_2", "evt_old_3")
		b.now = start.Add(29 * 24 * time.Hour)
		receive("evt_recent")
		processed("evt_recent")
		b.now = start.Add(31 * 24 * time.Hour)
		cutoff := b.now.Add(-30 * 24 * time.Hour)

		var batches []int
		for {
			n, err := b.store.PruneEventPayloads(ctx, cutoff, 2)
			require.NoError(t, err)
			batches = append(batches, n)
			if n < 2 {
				break
			}
		}
		require.Equal(t, []int{2, 1}, batches, "three payloads, two at a time")

		for id, kept := range map[string]bool{"evt_old_1": false, "evt_old_2": false, "evt_old_3": false, "evt_old_waiting": true, "evt_recent": true} {
			ev, err := b.store.WebhookEvent(ctx, "stripe", id)
			require.NoError(t, err, "the event stays")
			require.Equal(t, "checkout.session.completed", ev.Type, id)
			require.Equal(t, "cs_1", ev.ObjectID, id)
			var pruned int
			require.NoError(t, b.db.Read.QueryRow(`SELECT count(*) FROM webhook_events WHERE event_id = $1 AND payload_pruned_at IS NOT NULL`, id).Scan(&pruned))
			if kept {
				require.Equal(t, payload(id), ev.Payload, id)
				require.Zero(t, pruned, id)
			} else {
				require.Empty(t, ev.Payload, id)
				require.Equal(t, 1, pruned, id)
				require.False(t, ev.Processed.IsZero(), "still processed: %s", id)
			}
		}

		// The processor delivers a pruned event again: a duplicate, with
		// no job; its payload stays pruned.
		jobs := count(t, b.db, `SELECT count(*) FROM river_job`)
		created, err := b.store.InsertWebhookEventsWithJobs(ctx, []store.WebhookEvent{{Processor: "stripe", ID: "evt_old_1",
			Type: "checkout.session.completed", ObjectType: "checkout.session", ObjectID: "cs_1", Created: start, Payload: payload("evt_old_1")}}, eventJobs)
		require.NoError(t, err)
		require.Equal(t, []bool{false}, created)
		require.Equal(t, jobs, count(t, b.db, `SELECT count(*) FROM river_job`))
		require.Equal(t, 5, count(t, b.db, `SELECT count(*) FROM webhook_events`))

		n, err := b.store.PruneEventPayloads(ctx, cutoff, 2)
		require.NoError(t, err)
		require.Zero(t, n, "nothing left to prune")
	})
}

var eventJobs = store.EventJobs{Kind: "process_event", MaxAttempts: 15, ProcessorKey: "processor", IDsKey: "event_ids", PerJob: 16}

func count(t *testing.T, db *sqldb.DB, query string) int {
	t.Helper()
	var n int
	require.NoError(t, db.Read.QueryRow(query).Scan(&n), fmt.Sprint(query))
	return n
}
