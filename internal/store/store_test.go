package store_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

type testBundle struct {
	store *store.Store
	db    *sqldb.DB
	url   string
	now   time.Time
}

// setup opens a migrated store on a fresh database of engine.
func setup(t *testing.T, engine sqldb.Engine) *testBundle {
	t.Helper()
	ctx := context.Background()
	url := sqldbtest.URL(t, engine)
	db, err := sqldb.Open(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.Migrate(ctx, store.Migrations)
	require.NoError(t, err)
	_, err = queue.Migrate(ctx, db)
	require.NoError(t, err)
	b := &testBundle{db: db, url: url, now: time.Date(2026, 11, 23, 12, 0, 0, 123456789, time.UTC)}
	b.store, err = store.New(db, func() time.Time { return b.now })
	require.NoError(t, err)
	return b
}

func attempt(ref string) paidup.CheckoutAttempt {
	return paidup.CheckoutAttempt{
		Reference: ref, PlanID: "pro-annual", Email: "ada@example.com",
		Amount: paidup.Money{Amount: 24900, Currency: "usd"}, Processor: "stripe",
	}
}

func TestCheckoutAttempts(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		a, created, err := b.store.CreateCheckoutAttempt(ctx, attempt("PU-AAAA-0001"))
		require.NoError(t, err)
		require.True(t, created)
		require.Equal(t, paidup.AttemptCreated, a.Status)

		got, err := b.store.CheckoutAttempt(ctx, "PU-AAAA-0001")
		require.NoError(t, err)
		require.Equal(t, a, got, "what is read back equals what was written, times included")
		require.Equal(t, b.now.Truncate(time.Microsecond), got.CreatedAt)

		b.now = b.now.Add(time.Minute)
		again := attempt("PU-AAAA-0001")
		again.Email = "someone-else@example.com"
		dup, created, err := b.store.CreateCheckoutAttempt(ctx, again)
		require.NoError(t, err)
		require.False(t, created, "the same reference twice is one attempt")
		require.Equal(t, "ada@example.com", dup.Email, "and the first one wins")

		require.NoError(t, b.store.OpenCheckoutAttempt(ctx, "PU-AAAA-0001", "cs_test_1", "http://pay/1"))
		require.NoError(t, b.store.OpenCheckoutAttempt(ctx, "PU-AAAA-0001", "cs_test_1", "http://pay/1"), "recording the same checkout twice is harmless")
		require.Error(t, b.store.OpenCheckoutAttempt(ctx, "PU-AAAA-0001", "cs_test_2", "http://pay/2"), "an attempt never gets a second checkout")
		got, err = b.store.CheckoutAttempt(ctx, "PU-AAAA-0001")
		require.NoError(t, err)
		require.Equal(t, paidup.AttemptOpen, got.Status)
		require.Equal(t, "cs_test_1", got.CheckoutID)

		_, err = b.store.CheckoutAttempt(ctx, "PU-NONE-0000")
		require.Equal(t, paidup.ENOTFOUND, paidup.ErrorCode(err))
		require.Error(t, b.store.OpenCheckoutAttempt(ctx, "PU-NONE-0000", "cs_test_3", "x"))
	})
}

// Many concurrent deliveries of one event record it once; what was recorded
// survives closing and reopening the database.
func TestWebhookEventsAreRecordedOnceAndDurably(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		ev := store.WebhookEvent{
			Processor: "stripe", ID: "evt_1", Type: "checkout.session.completed",
			ObjectType: "checkout.session", ObjectID: "cs_test_1", Created: b.now, Payload: []byte(`{"id":"evt_1"}`),
		}
		var wg sync.WaitGroup
		var created atomic.Int32
		for range 20 {
			wg.Go(func() {
				err := b.store.InTx(ctx, func(tx *store.Tx) error {
					ok, err := tx.InsertWebhookEvent(ctx, ev)
					if ok {
						created.Add(1)
					}
					return err
				})
				require.NoError(t, err)
			})
		}
		wg.Wait()
		require.Equal(t, int32(1), created.Load())

		require.NoError(t, b.db.Close())
		db, err := sqldb.Open(ctx, b.url)
		require.NoError(t, err)
		defer db.Close()
		s, err := store.New(db, time.Now)
		require.NoError(t, err)
		n, err := s.WebhookEventCount(ctx, "stripe")
		require.NoError(t, err)
		require.Equal(t, 1, n)
	})
}

func TestMigrationsAreIdempotentAndConcurrent(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		url := sqldbtest.URL(t, engine)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				db, err := sqldb.Open(ctx, url)
				require.NoError(t, err)
				defer db.Close()
				require.NoError(t, db.WithMigrationLock(ctx, func() error {
					if _, err := db.Migrate(ctx, store.Migrations); err != nil {
						return err
					}
					_, err := queue.Migrate(ctx, db)
					return err
				}))
			})
		}
		wg.Wait()
	})
}
