package store_test

import (
	"context"
	"database/sql"
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
					ok, err := tx.InsertWebhookEvents(ctx, []store.WebhookEvent{ev})
					if err == nil && ok[0] {
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

func (b *testBundle) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	_, err := b.db.Write.Exec(query, args...)
	require.NoError(t, err)
}

// newCustomer records a customer directly, as fulfilment would.
func (b *testBundle) newCustomer(t *testing.T, email string) string {
	t.Helper()
	ctx := context.Background()
	var id string
	require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
		var err error
		id, _, err = tx.MatchCustomer(ctx, "stripe", "", email)
		return err
	}))
	return id
}

// The state Check is given: one customer's payments, grants, emails and
// support cases, written with SQL so that any state can be built,
// including those paidup itself never writes.
type checkState struct {
	payments []checkPayment
	grants   []checkGrant
	emails   []checkEmail
	cases    []checkCase
	disputes []string // the disputed payments
}

type checkPayment struct{ id, status string }

type checkGrant struct {
	id, source, ref string
	revoked         bool
}

type checkEmail struct{ grant, status string }

type checkCase struct{ payment, status string }

func (b *testBundle) build(t *testing.T, st checkState) {
	t.Helper()
	customer := b.newCustomer(t, "ada@example.com")
	for _, p := range st.payments {
		refunded := 0
		if p.status == paidup.PaymentRefunded {
			refunded = 24900
		}
		b.exec(t, `INSERT INTO payments (processor, payment_id, customer_id, checkout_reference, checkout_id, plan_id,
			amount, currency, amount_refunded, status, paid_at, created_at, updated_at)
			VALUES ('stripe', $1, $2, 'PU-AAAA-0001', 'cs_test_1', 'pro-annual', 24900, 'usd', $3, $4, $5, $5, $5)`,
			p.id, customer, refunded, p.status, b.now)
	}
	for _, g := range st.grants {
		var revoked any
		if g.revoked {
			revoked = b.now
		}
		b.exec(t, `INSERT INTO grants (id, customer_id, tier, plan_id, source, source_ref, starts_at, revoked_at, created_at)
			VALUES ($1, $2, 'pro', 'pro-annual', $3, $4, $5, $6, $5)`, g.id, customer, g.source, g.ref, b.now, revoked)
	}
	for i, p := range st.disputes {
		b.exec(t, `INSERT INTO disputes (processor, dispute_id, reference, customer_id, payment_id, amount, currency, status,
			created_at, recorded_at, updated_at) VALUES ('stripe', $1, $2, $3, $4, 24900, 'usd', 'needs_response', $5, $5, $5)`,
			"dp_"+string(rune('a'+i)), "PU-DDDD-000"+string(rune('1'+i)), customer, p, b.now)
	}
	for i, e := range st.emails {
		b.exec(t, `INSERT INTO emails (id, dedupe_key, customer_id, kind, to_address, status, queued_at)
			VALUES ($1, $2, $3, 'confirmation', 'ada@example.com', $4, $5)`,
			"em_"+string(rune('a'+i)), "confirmation:"+e.grant, customer, e.status, b.now)
	}
	for i, c := range st.cases {
		b.exec(t, `INSERT INTO support_cases (id, dedupe_key, customer_id, reference, payment_id, kind, summary, status, created_at)
			VALUES ($1, $2, $3, 'PU-AAAA-0001', $4, $5, 'needs a person', $6, $7)`,
			"sc_"+string(rune('a'+i)), "case:"+string(rune('a'+i)), customer, c.payment, paidup.CaseAmountMismatch, c.status, b.now)
	}
}

// Check finds each kind of broken invariant, and tells a payment waiting
// for a person apart from a broken one.
func TestCheckFindsViolations(t *testing.T) {
	paid := checkPayment{"pi_1", paidup.PaymentSucceeded}
	granted := checkGrant{"gr_1", paidup.SourcePurchase, "stripe:pi_1", false}
	confirmed := checkEmail{"gr_1", store.EmailSent}
	tests := []struct {
		name     string
		state    checkState
		rules    []string // of the violations found
		awaiting int
	}{
		{name: "a fulfilled payment", state: checkState{
			payments: []checkPayment{paid}, grants: []checkGrant{granted}, emails: []checkEmail{confirmed}}},
		{name: "confirmation still queued", state: checkState{
			payments: []checkPayment{paid}, grants: []checkGrant{granted}, emails: []checkEmail{{"gr_1", store.EmailQueued}}}},
		{name: "confirmation being sent", state: checkState{
			payments: []checkPayment{paid}, grants: []checkGrant{granted}, emails: []checkEmail{{"gr_1", store.EmailSending}}}},
		{name: "refunded, grant revoked", state: checkState{
			payments: []checkPayment{{"pi_1", paidup.PaymentRefunded}}, grants: []checkGrant{{"gr_1", paidup.SourcePurchase, "stripe:pi_1", true}},
			emails: []checkEmail{confirmed}}},
		{name: "refunded before any grant", state: checkState{payments: []checkPayment{{"pi_1", paidup.PaymentRefunded}}}},
		{name: "a manual grant needs no payment", state: checkState{grants: []checkGrant{{"gr_1", paidup.SourceManual, "staff:ada", false}}}},
		{name: "a paid payment with no grant", state: checkState{payments: []checkPayment{paid}},
			rules: []string{"a succeeded payment has no grant"}},
		{name: "a paid payment with no grant but an open case", state: checkState{
			payments: []checkPayment{paid}, cases: []checkCase{{"pi_1", paidup.CaseOpen}}}, awaiting: 1},
		{name: "a paid payment with no grant and its case resolved", state: checkState{
			payments: []checkPayment{paid}, cases: []checkCase{{"pi_1", paidup.CaseResolved}}},
			rules: []string{"a succeeded payment has no grant"}},
		{name: "an open case about another payment", state: checkState{
			payments: []checkPayment{paid}, cases: []checkCase{{"pi_2", paidup.CaseOpen}}},
			rules: []string{"a succeeded payment has no grant"}},
		{name: "a payment granted twice", state: checkState{
			payments: []checkPayment{paid}, grants: []checkGrant{granted, {"gr_2", paidup.SourceSubscription, "stripe:pi_1", false}},
			emails: []checkEmail{confirmed}},
			rules: []string{"a payment has more than one grant"}},
		{name: "refunded, still granting", state: checkState{
			payments: []checkPayment{{"pi_1", paidup.PaymentRefunded}}, grants: []checkGrant{granted}, emails: []checkEmail{confirmed}},
			rules: []string{"a refunded payment still grants access"}},
		{name: "disputed, grant ended", state: checkState{
			payments: []checkPayment{paid}, grants: []checkGrant{{"gr_1", paidup.SourcePurchase, "stripe:pi_1", true}},
			emails: []checkEmail{confirmed}, disputes: []string{"pi_1"}}},
		{name: "disputed, still granting", state: checkState{
			payments: []checkPayment{paid}, grants: []checkGrant{granted}, emails: []checkEmail{confirmed}, disputes: []string{"pi_1"}},
			rules: []string{"a disputed payment still grants access"}},
		{name: "a purchase grant without its payment", state: checkState{
			grants: []checkGrant{granted}, emails: []checkEmail{confirmed}},
			rules: []string{"a paid grant has no payment behind it"}},
		{name: "a grant without a source", state: checkState{grants: []checkGrant{{"gr_1", paidup.SourceManual, "", false}}},
			rules: []string{"a grant has no source"}},
		{name: "a grant of an unknown source", state: checkState{grants: []checkGrant{{"gr_1", "gift", "x", false}}},
			rules: []string{"a grant has no source"}},
		{name: "no confirmation", state: checkState{payments: []checkPayment{paid}, grants: []checkGrant{granted}},
			rules: []string{"a grant's confirmation email is neither sent nor queued"}},
		{name: "the confirmation failed", state: checkState{
			payments: []checkPayment{paid}, grants: []checkGrant{granted}, emails: []checkEmail{{"gr_1", store.EmailFailed}}},
			rules: []string{"a grant's confirmation email is neither sent nor queued"}},
	}
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				b := setup(t, engine)
				b.build(t, tt.state)
				r, err := b.store.Check(context.Background())
				require.NoError(t, err)
				require.Equal(t, len(tt.state.payments), r.Payments)
				require.Equal(t, len(tt.state.grants), r.Grants)
				var rules []string
				for _, v := range r.Violations {
					rules = append(rules, v.Rule)
					require.NotEmpty(t, v.Detail)
				}
				require.Equal(t, tt.rules, rules, "%+v", r.Violations)
				require.Len(t, r.AwaitingPerson, tt.awaiting)
				if tt.awaiting > 0 {
					require.Equal(t, "stripe:pi_1 (PU-AAAA-0001)", r.AwaitingPerson[0].Detail)
				}
			})
		}
	})
}

// A sign-in link works once, and not after it expires; the session it
// opens ends when it expires or when the customer signs out.
func TestSignInLinksAndSessions(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		ada := b.newCustomer(t, "ada@example.com")

		token, err := b.store.CreateSignInLink(ctx, ada, 15*time.Minute)
		require.NoError(t, err)
		require.NotEmpty(t, token)
		var stored int
		require.NoError(t, b.db.Read.QueryRow(`SELECT count(*) FROM sign_in_links WHERE token_hash = $1`, token).Scan(&stored))
		require.Zero(t, stored, "only a hash of the token is kept")

		// Clicked many times at once, it opens one session.
		var wg sync.WaitGroup
		sessions := make([]string, 10)
		errs := make([]error, 10)
		for i := range sessions {
			wg.Go(func() {
				var customer string
				sessions[i], customer, errs[i] = b.store.UseSignInLink(ctx, token, time.Hour)
				if errs[i] == nil && customer != ada {
					errs[i] = paidup.Errorf(paidup.EINTERNAL, "signed in as %s", customer)
				}
			})
		}
		wg.Wait()
		var session string
		for i, err := range errs {
			if err == nil {
				require.Empty(t, session, "only one use succeeds")
				session = sessions[i]
				continue
			}
			require.Equal(t, paidup.EUNAUTHORIZED, paidup.ErrorCode(err), "%v", err)
		}
		require.NotEmpty(t, session)
		got, err := b.store.SessionCustomer(ctx, session)
		require.NoError(t, err)
		require.Equal(t, ada, got)
		_, _, err = b.store.UseSignInLink(ctx, token, time.Hour)
		require.Equal(t, paidup.EUNAUTHORIZED, paidup.ErrorCode(err), "a used link does not work again")
		entries, err := b.store.Timeline(ctx, ada, "")
		require.NoError(t, err)
		require.Len(t, entries, 1)
		require.Equal(t, "Signed in with an emailed link", entries[0].Summary)

		// Links expire.
		soon, err := b.store.CreateSignInLink(ctx, ada, 15*time.Minute)
		require.NoError(t, err)
		late, err := b.store.CreateSignInLink(ctx, ada, 15*time.Minute)
		require.NoError(t, err)
		b.now = b.now.Add(15*time.Minute - time.Microsecond)
		_, _, err = b.store.UseSignInLink(ctx, soon, time.Hour)
		require.NoError(t, err, "just in time")
		b.now = b.now.Add(time.Microsecond)
		_, _, err = b.store.UseSignInLink(ctx, late, time.Hour)
		require.Equal(t, paidup.EUNAUTHORIZED, paidup.ErrorCode(err), "expired")
		_, _, err = b.store.UseSignInLink(ctx, "not-a-token", time.Hour)
		require.Equal(t, paidup.EUNAUTHORIZED, paidup.ErrorCode(err))

		// Sessions expire, and end when signed out.
		_, err = b.store.SessionCustomer(ctx, session)
		require.NoError(t, err, "the first session has 45 minutes left")
		b.now = b.now.Add(45*time.Minute - time.Microsecond)
		_, err = b.store.SessionCustomer(ctx, session)
		require.NoError(t, err)
		b.now = b.now.Add(time.Microsecond)
		_, err = b.store.SessionCustomer(ctx, session)
		require.Equal(t, paidup.EUNAUTHORIZED, paidup.ErrorCode(err), "expired")

		fresh, err := b.store.CreateSignInLink(ctx, ada, time.Minute)
		require.NoError(t, err)
		session, _, err = b.store.UseSignInLink(ctx, fresh, time.Hour)
		require.NoError(t, err)
		require.NoError(t, b.store.EndSession(ctx, session))
		_, err = b.store.SessionCustomer(ctx, session)
		require.Equal(t, paidup.EUNAUTHORIZED, paidup.ErrorCode(err), "signed out")
	})
}

// Many payments by one new customer matched at once make one customer,
// linked to every processor customer they paid as.
func TestMatchCustomerConcurrently(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		const n = 20
		ids := make([]string, n)
		created := make([]bool, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = b.store.InTx(ctx, func(tx *store.Tx) error {
					var err error
					// Half pay as the same processor customer, half as their own.
					processorID := "cus_shared"
					if i%2 == 1 {
						processorID = "cus_" + string(rune('a'+i))
					}
					ids[i], created[i], err = tx.MatchCustomer(ctx, "stripe", processorID, "new@example.com")
					return err
				})
			})
		}
		close(start)
		wg.Wait()
		news := 0
		for i := range n {
			require.NoError(t, errs[i])
			require.Equal(t, ids[0], ids[i], "one customer")
			if created[i] {
				news++
			}
		}
		require.Equal(t, 1, news, "created once")
		var customers int
		require.NoError(t, b.db.Read.QueryRow(`SELECT count(*) FROM customers`).Scan(&customers))
		require.Equal(t, 1, customers)
		c, err := b.store.Customer(ctx, ids[0])
		require.NoError(t, err)
		require.Equal(t, "new@example.com", c.Email)
		require.Len(t, c.ProcessorIDs["stripe"], n/2+1)

		// Later, the processor customer alone finds them, whatever the email.
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			id, created, err := tx.MatchCustomer(ctx, "stripe", "cus_shared", "other@example.com")
			require.Equal(t, ids[0], id)
			require.False(t, created)
			return err
		}))
	})
}

// A subscription's first payment may be recorded twice at once: by its
// sync, which does not know the checkout, and by the checkout's
// fulfilment, which does. Whichever commits first, the payment ends up
// with its checkout (paidup check requires it), and a later record
// changes nothing else.
func TestRecordPaymentKeepsItsCheckout(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		var customer string
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			var err error
			customer, _, err = tx.MatchCustomer(ctx, "stripe", "cus_a", "ada@example.com")
			return err
		}))
		bySync := paidup.Payment{Processor: "stripe", ID: "pi_first", CustomerID: customer, PlanID: "pro-monthly",
			Amount: paidup.Money{Amount: 1900, Currency: "usd"}, PaidAt: b.now}
		byCheckout := bySync
		byCheckout.CheckoutID, byCheckout.CheckoutReference = "cs_own", "PU-0000-0001"
		checkoutOf := func(id string) (string, string) {
			var checkout, ref sql.NullString
			require.NoError(t, b.db.Read.QueryRow(`SELECT checkout_id, checkout_reference FROM payments WHERE payment_id = $1`, id).Scan(&checkout, &ref))
			return checkout.String, ref.String
		}
		record := func(p paidup.Payment) {
			require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error { return tx.RecordPayment(ctx, p) }))
		}

		// The sync first: the fulfilment's record fills in the checkout.
		record(bySync)
		record(byCheckout)
		checkout, ref := checkoutOf("pi_first")
		require.Equal(t, "cs_own", checkout)
		require.Equal(t, "PU-0000-0001", ref)

		// The fulfilment first: the sync's record takes nothing away, and
		// another checkout naming the payment changes nothing.
		p2, q2 := byCheckout, bySync
		p2.ID, q2.ID = "pi_second", "pi_second"
		record(p2)
		record(q2)
		other := p2
		other.CheckoutID, other.CheckoutReference = "cs_other", "PU-0000-0002"
		record(other)
		checkout, ref = checkoutOf("pi_second")
		require.Equal(t, "cs_own", checkout)
		require.Equal(t, "PU-0000-0001", ref)

		if engine != sqldb.Postgres {
			return // SQLite's transactions take turns: the orders above are all there is
		}
		// On PostgreSQL the two commit concurrently: the sync's insert is
		// not yet committed when the fulfilment's reaches the same row.
		p3, q3 := byCheckout, bySync
		p3.ID, q3.ID = "pi_third", "pi_third"
		inserted, release := make(chan struct{}), make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- b.store.InTx(ctx, func(tx *store.Tx) error {
				if err := tx.RecordPayment(ctx, q3); err != nil {
					return err
				}
				close(inserted)
				<-release
				return nil
			})
		}()
		<-inserted
		fulfilled := make(chan error, 1)
		go func() { fulfilled <- b.store.InTx(ctx, func(tx *store.Tx) error { return tx.RecordPayment(ctx, p3) }) }()
		time.Sleep(100 * time.Millisecond) // the fulfilment waits on the sync's row
		close(release)
		require.NoError(t, <-done)
		require.NoError(t, <-fulfilled)
		checkout, _ = checkoutOf("pi_third")
		require.Equal(t, "cs_own", checkout)
	})
}
