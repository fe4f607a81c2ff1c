package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

// searchFixture is a small shop: Ada bought through a checkout, pays a
// subscription, was refunded once and disputed once, and has a case;
// Grace has nothing but her email; Bob's checkout has no customer yet.
type searchFixture struct {
	ada, grace                        string // customer ids
	adaCase, looseCase                string // support case ids
	adaInvoice, adaDispute, adaRefund string // their PU- references
}

func newSearchFixture(t *testing.T, b *testBundle) searchFixture {
	t.Helper()
	ctx := context.Background()
	var f searchFixture
	a := attempt("PU-AAAA-0001")
	a.Email = "ada.lovelace@example.com"
	_, _, err := b.store.CreateCheckoutAttempt(ctx, a)
	require.NoError(t, err)
	require.NoError(t, b.store.OpenCheckoutAttempt(ctx, a.Reference, "cs_test_ada1", "http://pay/ada"))
	bob := attempt("PU-BBBB-0002")
	bob.Email = "bob.bobson@example.net"
	_, _, err = b.store.CreateCheckoutAttempt(ctx, bob)
	require.NoError(t, err)
	f.adaRefund = paidup.RefundReference("stripe", "re_ada1")
	require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if f.ada, _, err = tx.MatchCustomer(ctx, "stripe", "cus_ada1", "ada.lovelace@example.com"); err != nil {
			return err
		}
		if f.grace, _, err = tx.MatchCustomer(ctx, "stripe", "", "grace@hopper.example.org"); err != nil {
			return err
		}
		if err := tx.RecordPayment(ctx, paidup.Payment{Processor: "stripe", ID: "pi_ada1", CustomerID: f.ada, CheckoutReference: a.Reference,
			CheckoutID: "cs_test_ada1", PlanID: "pro-annual", Amount: a.Amount, PaidAt: b.now}); err != nil {
			return err
		}
		if err := tx.ResolveAttempt(ctx, a.Reference, paidup.AttemptFulfilled, f.ada, "pi_ada1"); err != nil {
			return err
		}
		if err := tx.PutSubscription(ctx, paidup.Subscription{Processor: "stripe", ID: "sub_ada1", CustomerID: f.ada, ProcessorCustomerID: "cus_ada1",
			PlanID: "pro-monthly", Status: "active", PeriodStart: b.now, PeriodEnd: b.now.AddDate(0, 1, 0)}); err != nil {
			return err
		}
		in, err := tx.PutInvoice(ctx, paidup.Invoice{Processor: "stripe", ID: "in_ada1", CustomerID: f.ada, SubscriptionID: "sub_ada1",
			PlanID: "pro-monthly", Amount: a.Amount, Status: paidup.InvoiceFailed})
		if err != nil {
			return err
		}
		f.adaInvoice = in.Reference
		d, _, err := tx.RecordDispute(ctx, paidup.Dispute{Processor: "stripe", ID: "dp_ada1", PaymentID: "pi_ada1", CustomerID: f.ada,
			Amount: a.Amount, Status: "needs_response", CreatedAt: b.now})
		if err != nil {
			return err
		}
		f.adaDispute = d.Reference
		if err := tx.Append(ctx, paidup.TimelineEntry{CustomerID: f.ada, Reference: d.Reference, Kind: paidup.EventDispute, Source: paidup.ByWebhook,
			Summary: "Chargeback", Data: map[string]string{"dispute": "dp_ada1", "payment": "pi_ada1", "charge": "ch_ada1"}}); err != nil {
			return err
		}
		if err := tx.Append(ctx, paidup.TimelineEntry{CustomerID: f.ada, Reference: f.adaRefund, Kind: paidup.EventPayment, Source: paidup.BySystem,
			Summary: "Refund", Data: map[string]string{"refund": "re_ada1", "payment": "pi_ada1", "purchase": a.Reference}}); err != nil {
			return err
		}
		sc, _, err := tx.OpenCase(ctx, paidup.SupportCase{DedupeKey: "ada", CustomerID: f.ada, Reference: a.Reference, PaymentID: "pi_ada1",
			Kind: paidup.CaseAmountMismatch, Summary: "paid less"})
		f.adaCase = sc.ID
		if err != nil {
			return err
		}
		sc, _, err = tx.OpenCase(ctx, paidup.SupportCase{DedupeKey: "refusals", Kind: paidup.CaseWebhookRefusal, Summary: "refused"})
		f.looseCase = sc.ID
		return err
	}))
	return f
}

// found is a search's hits as lines: who, and what matched.
func found(t *testing.T, s *store.Store, q string) []string {
	t.Helper()
	r, err := s.Search(context.Background(), q, 0)
	require.NoError(t, err, "%q", q)
	return lines(r)
}

func lines(r paidup.SearchResults) []string {
	var out []string
	for _, h := range r.Hits {
		var ms []string
		for _, m := range h.Matches {
			ms = append(ms, m.String())
		}
		who := h.CustomerID
		if who == "" {
			who = "checkout " + h.Reference
		}
		out = append(out, fmt.Sprintf("%s %s: %s", who, h.Email, strings.Join(ms, "; ")))
	}
	return out
}

func TestSearchFindsEachKindOfID(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		f := newSearchFixture(t, b)
		ada := f.ada + " ada.lovelace@example.com: "
		for _, tc := range []struct{ query, want string }{
			{"ada.lovelace@example.com", ada + "email ada.lovelace@example.com"},
			{"  Ada.Lovelace@EXAMPLE.com ", ada + "email ada.lovelace@example.com"},
			{"PU-AAAA-0001", ada + "checkout PU-AAAA-0001 · pi_ada1"},
			{"pu-aaaa-0001", ada + "checkout PU-AAAA-0001 · pi_ada1"},
			{"pu aaaa 000l", ada + "checkout PU-AAAA-0001 · pi_ada1"},
			{f.adaInvoice, ada + "invoice " + f.adaInvoice + " · in_ada1"},
			{f.adaDispute, ada + "dispute " + f.adaDispute + " · dp_ada1"},
			{f.adaRefund, ada + "refund " + f.adaRefund + " · re_ada1 · pi_ada1"},
			{"cus_ada1", ada + "processor customer cus_ada1"},
			{f.ada, ada + "customer " + f.ada},
			{"cs_test_ada1", ada + "checkout cs_test_ada1 · PU-AAAA-0001 · pi_ada1"},
			{"pi_ada1", ada + "payment pi_ada1 · PU-AAAA-0001"},
			{"ch_ada1", ada + "charge ch_ada1 · " + f.adaDispute + " · pi_ada1"},
			{"in_ada1", ada + "invoice in_ada1 · " + f.adaInvoice},
			{"sub_ada1", ada + "subscription sub_ada1"},
			{"dp_ada1", ada + "dispute dp_ada1 · " + f.adaDispute + " · pi_ada1"},
			{"re_ada1", ada + "refund re_ada1 · " + f.adaRefund + " · pi_ada1"},
			{f.adaCase, ada + "case " + f.adaCase + " · amount_mismatch · PU-AAAA-0001"},
			{f.looseCase, "checkout  : case " + f.looseCase + " · webhook_refusals"},
			// A checkout with no customer yet is found by its reference
			// and its email, and says so.
			{"PU-BBBB-0002", "checkout PU-BBBB-0002 bob.bobson@example.net: checkout PU-BBBB-0002"},
			{"bob.bobson@example.net", "checkout PU-BBBB-0002 bob.bobson@example.net: email bob.bobson@example.net"},
			{"BOBSON", "checkout PU-BBBB-0002 bob.bobson@example.net: email bob.bobson@example.net"},
		} {
			require.Equal(t, []string{tc.want}, found(t, b.store, tc.query), "%q", tc.query)
		}
	})
}

func TestSearchEmailPartsAnyCase(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		f := newSearchFixture(t, b)
		ada := f.ada + " ada.lovelace@example.com: email ada.lovelace@example.com"
		grace := f.grace + " grace@hopper.example.org: email grace@hopper.example.org"
		bob := "checkout PU-BBBB-0002 bob.bobson@example.net: email bob.bobson@example.net"
		for _, tc := range []struct {
			query string
			want  []string
		}{
			{"LoveLace", []string{ada}},
			{"ace", []string{ada, grace}}, // both contain it; the shorter first
			{"hopper.EX", []string{grace}},
			{"example", []string{bob, ada, grace}},
			{"@example.n", []string{bob}},
			{"ovelace@exa", []string{ada}},
			{"lovelace@EXAMPLE.c", []string{ada}},
			{"@hopper.example.org", []string{grace}},
		} {
			require.Equal(t, tc.want, found(t, b.store, tc.query), "%q", tc.query)
		}
	})
}

func TestSearchRanksBestFirst(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		emails := []string{"joanne@x.example", "jo.ann@x.example", "anne@x.example", "ann@x.example", "zzann@ann.example"}
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			for _, e := range emails {
				if _, _, err := tx.MatchCustomer(ctx, "stripe", "", e); err != nil {
					return err
				}
			}
			return nil
		}))
		r, err := b.store.Search(ctx, "ANN", 0)
		require.NoError(t, err)
		var got []string
		for _, h := range r.Hits {
			got = append(got, h.Email)
		}
		require.Equal(t, []string{"ann@x.example", "anne@x.example", "jo.ann@x.example", "zzann@ann.example", "joanne@x.example"}, got,
			"the start of the address, then the start of a word in it, then anywhere; shorter first")
		require.False(t, r.More)

		r, err = b.store.Search(ctx, "ann@x.example", 0)
		require.NoError(t, err)
		require.Equal(t, "ann@x.example", r.Hits[0].Email, "the whole address first")
		require.Len(t, r.Hits, 2, "and jo.ann@x.example, which holds it")

		r, err = b.store.Search(ctx, "ann", 2)
		require.NoError(t, err)
		require.Len(t, r.Hits, 2)
		require.True(t, r.More, "more matched than are shown")
	})
}

// A part of more addresses than a search reads finds the first of them
// in the order they were written, on either engine, whichever way
// PostgreSQL reads them (from the table's first rows, or its index).
func TestSearchCommonPart(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		newSearchFixture(t, b)
		for _, crowd := range []int{150, 300} {
			require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
				for i := range crowd {
					if _, _, err := tx.MatchCustomer(ctx, "stripe", "", fmt.Sprintf("c%03d@crowd%d.example", i, crowd)); err != nil {
						return err
					}
				}
				return nil
			}))
			r, err := b.store.Search(ctx, fmt.Sprintf("CROWD%d.example", crowd), store.MaxSearchLimit)
			require.NoError(t, err)
			var want, got []string
			for i := range min(crowd, store.MaxSearchLimit) {
				want = append(want, fmt.Sprintf("c%03d@crowd%d.example", i, crowd))
			}
			for _, h := range r.Hits {
				got = append(got, h.Email)
			}
			require.Equal(t, want, got, "%d addresses", crowd)
			require.True(t, r.More, "more matched than are shown")
		}
	})
}

func TestSearchHostileInput(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		newSearchFixture(t, b)
		for _, q := range []string{
			`"`, `""`, `*`, `**`, `%`, `%%%`, `_`, `___`, `a_a`, `e%e`, `\`, `\%`, `'`, `''`, `;`, `--`, `(`, `)`, `:`, `^`, `-`, `+`, `.`, `@`,
			`NEAR`, `NEAR(ada grace)`, `ada OR grace`, `ada AND grace`, `ada NOT grace`, `ada* OR *`, `"ada" OR "grace"`, `ada" OR "grace`,
			`email:ada`, `{email}: ada`, `customer_id:cu`, `' OR '1'='1`, `'; DROP TABLE customers; --`, `ex*`, `a*`, `%example%`, `_xample`,
			"ada\x00lovelace", "ada\xff\xfelovelace", "\u202eada", strings.Repeat("a", 255), strings.Repeat("example", 10000),
			strings.Repeat(`"`, 300), strings.Repeat("%", 1000), "pi_" + strings.Repeat("x", 300), "PU-" + strings.Repeat("A", 300),
			"pi_ada1' OR '1'='1", "pi_%", "pi_*", "sc_%", "cu_%", "cus_", "pi_",
			"",
			"   ",
		} {
			r, err := b.store.Search(context.Background(), q, 0)
			require.NoError(t, err, "%q", q)
			require.Empty(t, r.Hits, "%q matches nothing: %v", q, lines(r))
		}
		require.NotEmpty(t, found(t, b.store, "ada"), "the customers are there")
	})
}

func TestSearchNoMatch(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		newSearchFixture(t, b)
		for _, q := range []string{"nobody@nowhere.example", "zebra", "PU-ZZZZ-ZZZZ", "pi_nope", "cs_nope", "cus_nope", "ch_nope", "in_nope",
			"sub_nope", "dp_nope", "re_nope", "sc_nope", "cu_nope", "PI_ADA1", "pi_ada",
			"lovelace@example.net", "bob.bobson@example.com", "ada.lovelace@example.co.uk"} {
			require.Empty(t, found(t, b.store, q), "%q", q)
		}
	})
}

// TestSearchFindsNewRowsAtOnce: what a transaction writes is found as
// soon as it commits — the index is written with the rows.
func TestSearchFindsNewRowsAtOnce(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		require.Empty(t, found(t, b.store, "newcomer"))
		a := attempt("PU-NNNN-0001")
		a.Email = "the.newcomer@example.com"
		_, _, err := b.store.CreateCheckoutAttempt(ctx, a)
		require.NoError(t, err)
		require.Equal(t, []string{"checkout PU-NNNN-0001 the.newcomer@example.com: email the.newcomer@example.com"}, found(t, b.store, "newcomer"),
			"a new checkout, by part of its email")

		var id, caseID string
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			var err error
			if id, _, err = tx.MatchCustomer(ctx, "stripe", "cus_new1", a.Email); err != nil {
				return err
			}
			if err := tx.RecordPayment(ctx, paidup.Payment{Processor: "stripe", ID: "pi_new1", CustomerID: id, CheckoutReference: a.Reference,
				PlanID: a.PlanID, Amount: a.Amount, PaidAt: b.now}); err != nil {
				return err
			}
			if err := tx.ResolveAttempt(ctx, a.Reference, paidup.AttemptFulfilled, id, "pi_new1"); err != nil {
				return err
			}
			sc, _, err := tx.OpenCase(ctx, paidup.SupportCase{DedupeKey: "new", CustomerID: id, Reference: a.Reference, Kind: paidup.CaseUnconfirmed, Summary: "?"})
			caseID = sc.ID
			return err
		}))
		who := id + " the.newcomer@example.com: "
		require.Equal(t, []string{who + "email the.newcomer@example.com"}, found(t, b.store, "NEWCOMER"),
			"the new customer, by part of their email; their checkout is theirs now, not a hit of its own")
		require.Equal(t, []string{who + "payment pi_new1 · PU-NNNN-0001"}, found(t, b.store, "pi_new1"))
		require.Equal(t, []string{who + "processor customer cus_new1"}, found(t, b.store, "cus_new1"))
		require.Equal(t, []string{who + "checkout PU-NNNN-0001 · pi_new1"}, found(t, b.store, "PU-NNNN-0001"))
		require.Equal(t, []string{who + "case " + caseID + " · unconfirmed · PU-NNNN-0001"}, found(t, b.store, caseID))
	})
}

// TestSearchBackfill: rows written before the search index existed are
// found once the migration that builds it has run.
func TestSearchBackfill(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		db := sqldbtest.Open(t, engine)
		dialect, fsys := goose.DialectSQLite3, store.Migrations.SQLite
		if engine == sqldb.Postgres {
			dialect, fsys = goose.DialectPostgres, store.Migrations.Postgres
		}
		var opts []goose.ProviderOption
		opts = append(opts, goose.WithTableName(store.Migrations.Table), goose.WithDisableGlobalRegistry(true))
		for v, up := range store.Migrations.Go {
			opts = append(opts, goose.WithGoMigrations(goose.NewGoMigration(v, &goose.GoFunc{RunTx: up}, nil)))
		}
		p, err := goose.NewProvider(dialect, db.Write, fsys, opts...)
		require.NoError(t, err)
		_, err = p.UpTo(ctx, 18)
		require.NoError(t, err)
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		for _, q := range []string{
			`INSERT INTO customers (id, email, created_at) VALUES ('cu_old1', 'old.timer@example.com', $1)`,
			`INSERT INTO checkout_attempts (reference, plan_id, email, amount, currency, processor, status, created_at, updated_at)
				VALUES ('PU-0000-0001', 'pro', 'left.behind@example.com', 100, 'usd', 'stripe', 'abandoned', $1, $1)`,
			`INSERT INTO timeline (customer_id, reference, at, kind, source, summary, data)
				VALUES ('cu_old1', 'PU-0000-0002', $1, 'payment', 'system', 'Refund', '{"payment":"pi_old1","refund":"re_old1"}')`,
		} {
			_, err := db.Write.ExecContext(ctx, q, now)
			require.NoError(t, err)
		}
		_, err = db.Migrate(ctx, store.Migrations)
		require.NoError(t, err)
		st, err := store.New(db, func() time.Time { return now })
		require.NoError(t, err)
		require.Equal(t, []string{"cu_old1 old.timer@example.com: email old.timer@example.com"}, found(t, st, "TIMER"))
		require.Equal(t, []string{"checkout PU-0000-0001 left.behind@example.com: email left.behind@example.com"}, found(t, st, "behind"))
		require.Equal(t, []string{"cu_old1 old.timer@example.com: refund re_old1 · PU-0000-0002 · pi_old1"}, found(t, st, "re_old1"))
	})
}

func TestTimelinePageIsTheTimelineNewestFirst(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		// Two entries about the checkout before paidup knew the
		// customer, then the customer's own and another's between them.
		_, _, err := b.store.CreateCheckoutAttempt(ctx, attempt("PU-TTTT-0001"))
		require.NoError(t, err)
		var id string
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			var err error
			if id, _, err = tx.MatchCustomer(ctx, "stripe", "", "ada@example.com"); err != nil {
				return err
			}
			other, _, err := tx.MatchCustomer(ctx, "stripe", "", "other@example.com")
			if err != nil {
				return err
			}
			for i := range 7 {
				who := id
				if i%3 == 2 {
					who = other
				}
				if err := tx.Append(ctx, paidup.TimelineEntry{CustomerID: who, Kind: paidup.EventEmail, Source: paidup.BySystem, Summary: fmt.Sprint(i)}); err != nil {
					return err
				}
			}
			return tx.ResolveAttempt(ctx, "PU-TTTT-0001", paidup.AttemptFulfilled, id, "")
		}))
		require.NoError(t, b.store.Append(ctx, paidup.TimelineEntry{Reference: "PU-TTTT-0001", Kind: paidup.EventCheckout, Source: paidup.BySystem, Summary: "late"}))

		all, err := b.store.Timeline(ctx, id, "")
		require.NoError(t, err)
		require.Len(t, all, 7, "the checkout's two, and five of the seven")
		var paged []paidup.TimelineEntry
		for before := int64(0); ; {
			page, err := b.store.TimelinePage(ctx, id, before, 2)
			require.NoError(t, err)
			if len(page) == 0 {
				break
			}
			require.LessOrEqual(t, len(page), 2)
			paged = append(paged, page...)
			before = page[len(page)-1].ID
		}
		require.Len(t, paged, len(all))
		for i := range paged {
			require.Equal(t, all[len(all)-1-i], paged[i], "newest first, every entry once")
		}
	})
}

func TestOpenCasesPage(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		for i := range 7 {
			if i%3 == 0 {
				b.now = b.now.Add(time.Minute) // some opened in the same microsecond, ordered by id
			}
			require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
				_, _, err := tx.OpenCase(ctx, paidup.SupportCase{DedupeKey: fmt.Sprint(i), Kind: paidup.CaseUnconfirmed, Summary: "?"})
				return err
			}))
		}
		// More than OpenCases reads at a time, all in one microsecond.
		b.now = b.now.Add(time.Minute)
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			for i := range 600 {
				if _, _, err := tx.OpenCase(ctx, paidup.SupportCase{DedupeKey: fmt.Sprint("many", i), Kind: paidup.CaseEmailFailed, Summary: "?"}); err != nil {
					return err
				}
			}
			return nil
		}))
		_, err := b.db.Write.ExecContext(ctx, `UPDATE support_cases SET status = 'resolved' WHERE dedupe_key IN ('4', 'many7')`)
		require.NoError(t, err)
		all, err := b.store.OpenCases(ctx)
		require.NoError(t, err)
		require.Len(t, all, 605)
		var want []string
		rows, err := b.db.Read.QueryContext(ctx, `SELECT id FROM support_cases WHERE status = 'open' ORDER BY created_at, id`)
		require.NoError(t, err)
		for rows.Next() {
			var id string
			require.NoError(t, rows.Scan(&id))
			want = append(want, id)
		}
		require.NoError(t, rows.Err())
		rows.Close()
		var got []string
		for _, c := range all {
			got = append(got, c.ID)
		}
		require.Equal(t, want, got, "every open case once, oldest first")
		var paged []paidup.SupportCase
		var after paidup.SupportCase
		for {
			page, err := b.store.OpenCasesPage(ctx, after, 40)
			require.NoError(t, err)
			if len(page) == 0 {
				break
			}
			paged = append(paged, page...)
			after = page[len(page)-1]
		}
		require.Equal(t, all, paged, "every open case once, oldest first, the resolved one not")
	})
}
