package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/store"
)

// The search scenario: a shop of a million customers and ten million
// timeline entries, loaded by multi-row SQL (INSERT … SELECT over a
// generated series) into a database of paidup's before the search's
// migration, which then runs over it, as an upgrade's would; and then
// the queries support's console makes, timed in this process against it:
// the search (store.Search) by each kind of thing a person types, a
// customer's timeline page (store.TimelinePage) for a customer with ten
// thousand entries, and the open cases: all of them (store.OpenCases, as
// paidup case list --all reads them), a page (store.OpenCasesPage), the
// inbox's first page and its groups (store.Inbox, store.CaseGroups).
//
// The data set: each customer has a processor customer, a checkout
// attempt (PU-…, cs_…) and its payment (pi_…); one in five a subscription
// (sub_…) and an invoice (in_…, PU-…); one in a hundred a dispute (dp_…,
// PU-…), and as many checkouts again have no customer (abandoned). A
// customer's email is c<N>.<surname>@<domain>, from a hundred surnames
// and twenty domains, so that a surname is in 1% of the emails and a
// domain in 5%. The timeline has each checkout's first entry (before
// paidup knew its customer), then entries spread over the customers, one
// in fifty of them a refund (re_…, its PU-…), one in five hundred a
// chargeback's (ch_…); one customer has ten thousand of them, spread over
// the whole table as a long-lived customer's would be.

type searchOptions struct {
	customers int
	timeline  int
	heavy     int
	cases     int
	samples   int
}

func (s *searchOptions) flags(fs *flag.FlagSet) {
	fs.IntVar(&s.customers, "search-customers", 1_000_000, "search: customers")
	fs.IntVar(&s.timeline, "search-timeline", 10_000_000, "search: timeline entries")
	fs.IntVar(&s.heavy, "search-heavy", 10_000, "search: timeline entries of the one customer whose timeline is paged")
	fs.IntVar(&s.cases, "search-cases", 10_000, "search: open support cases (and twice as many resolved)")
	fs.IntVar(&s.samples, "search-samples", 300, "search: queries timed of each kind, each for a different row")
}

func (o *options) search(ctx context.Context, engine string) error {
	so := o.so
	dir := filepath.Join(o.work, "search-"+engine)
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dbase, err := o.database(ctx, engine, dir, "search")
	if err != nil {
		return err
	}
	defer dbase.drop()
	db, err := sqldb.Open(ctx, dbase.url)
	if err != nil {
		return err
	}
	defer db.Close()
	// The data set is loaded as an older paidup had it, without the
	// search's indexes; then the migration that builds them runs over it,
	// as an upgrade would.
	if err := migrateTo(ctx, db, searchMigration-1); err != nil {
		return err
	}
	if _, err := queue.Migrate(ctx, db); err != nil {
		return err
	}
	start := time.Now()
	if err := loadShop(ctx, db, so, o.out); err != nil {
		return fmt.Errorf("loading the data set: %w", err)
	}
	loaded := time.Since(start)
	start = time.Now()
	if _, err := db.Migrate(ctx, store.Migrations); err != nil {
		return err
	}
	migrated := time.Since(start)
	if err := settle(ctx, db); err != nil {
		return err
	}
	built := time.Since(start) + loaded
	fmt.Fprintf(o.out, "loaded in %s; then the migrations from %d on (the search's indexes built over it) in %s\n",
		loaded.Round(time.Second), searchMigration, migrated.Round(time.Second))
	st, err := store.New(db, time.Now)
	if err != nil {
		return err
	}
	size, err := databaseSize(ctx, db)
	if err != nil {
		return err
	}
	tables, err := tableSizes(ctx, db, 8)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.out, "data set: %d customers, %d timeline entries, %d open cases: built in %s; database %s (%s)\n",
		so.customers, so.timeline, so.cases, built.Round(time.Second), bytesOf(float64(size.used)), tables)
	o.summary.add("search", engine, fmt.Sprintf("data set built: %d customers, %d timeline", so.customers, so.timeline),
		fmt.Sprintf("%s, %s", built.Round(time.Second), bytesOf(float64(size.used))), "", "")

	n := so.customers
	pick := func(upTo int) int { return 1 + rand.N(max(upTo, 1)) }
	search := func(q func() string) func() error {
		return func() error {
			query := q()
			r, err := st.Search(ctx, query, store.SearchLimit)
			if err == nil && len(r.Hits) == 0 {
				err = fmt.Errorf("%q found nothing", query)
			}
			return err
		}
	}
	refundRow := func() int { // an entry with a refund: i > n, i % 50 == 0
		return (n/50 + 1 + rand.N(max((so.timeline-n)/50-1, 1))) * 50
	}
	chargeRow := func() int { // an entry with a charge: i > n, i % 500 == 1
		return (n/500+1+rand.N(max((so.timeline-n)/500-1, 1)))*500 + 1
	}
	type measured struct {
		name   string
		target time.Duration // 0: none
		run    func() error
	}
	queries := []measured{
		{"search: email, whole", 50 * time.Millisecond, search(func() string { return shopEmail(pick(n)) })},
		{"search: email, a part (few match)", 50 * time.Millisecond, search(func() string {
			i := pick(n)
			return strings.ToUpper(fmt.Sprintf("%d.%s", i, surname(i)))
		})},
		{"search: email, a surname (1% match)", 50 * time.Millisecond, search(func() string { return surname(pick(n)) })},
		{"search: email, a domain (5% match)", 50 * time.Millisecond, search(func() string { return domain(pick(n)) })},
		{"search: pi_ exact", 50 * time.Millisecond, search(func() string { return fmt.Sprintf("pi_s%d", pick(n)) })},
		{"search: PU- exact (checkout)", 50 * time.Millisecond, search(func() string { return shopRef(pick(n)) })},
		{"search: PU- exact (invoice)", 50 * time.Millisecond, search(func() string { return shopRef(invoiceRefs + pick(n/5)) })},
		{"search: PU- exact (refund)", 50 * time.Millisecond, search(func() string { return shopRef(refundRefs + refundRow()) })},
		{"search: case id", 50 * time.Millisecond, search(func() string { return fmt.Sprintf("sc_s%d", pick(so.cases)) })},
		{"search: cus_ exact", 50 * time.Millisecond, search(func() string { return fmt.Sprintf("cus_s%d", pick(n)) })},
		{"search: cs_ exact", 50 * time.Millisecond, search(func() string { return fmt.Sprintf("cs_s%d", pick(n)) })},
		{"search: sub_ exact", 50 * time.Millisecond, search(func() string { return fmt.Sprintf("sub_s%d", pick(n/5)) })},
		{"search: dp_ exact", 50 * time.Millisecond, search(func() string { return fmt.Sprintf("dp_s%d", pick(n/100)) })},
		{"search: re_ exact", 50 * time.Millisecond, search(func() string { return fmt.Sprintf("re_s%d", refundRow()) })},
		{"search: ch_ exact", 50 * time.Millisecond, search(func() string { return fmt.Sprintf("ch_s%d", chargeRow()) })},
		{"search: nothing matches", 50 * time.Millisecond, func() error {
			_, err := st.Search(ctx, fmt.Sprintf("nobody%d@nowhere.example", rand.N(1<<30)), store.SearchLimit)
			return err
		}},
	}
	// The heavy customer's newest page, and pages further back by keyset.
	var maxID int64
	if err := db.Read.QueryRowContext(ctx, `SELECT max(id) FROM timeline`).Scan(&maxID); err != nil {
		return err
	}
	page := func(customer func() string, before func() int64) func() error {
		return func() error {
			entries, err := st.TimelinePage(ctx, customer(), before(), 50)
			if err == nil && len(entries) == 0 {
				err = fmt.Errorf("an empty page")
			}
			return err
		}
	}
	heavy := func() string { return "cu_s1" }
	queries = append(queries,
		measured{fmt.Sprintf("timeline page: newest 50 of %d", so.heavy), 100 * time.Millisecond, page(heavy, func() int64 { return 0 })},
		measured{fmt.Sprintf("timeline page: 50 of %d, anywhere (keyset)", so.heavy), 100 * time.Millisecond,
			page(heavy, func() int64 { return int64(n) + 1000 + rand.Int64N(maxID-int64(n)-1000) })},
		measured{"timeline page: newest 50, any customer", 100 * time.Millisecond, page(func() string { return fmt.Sprintf("cu_s%d", pick(n)) }, func() int64 { return 0 })},
		// No page of the console lists them all: paidup case list --all
		// does, printing each 500 as they are read.
		measured{fmt.Sprintf("open cases: all %d, 500 at a time", so.cases), 0, func() error {
			cases, err := st.OpenCases(ctx)
			if err == nil && len(cases) != so.cases {
				err = fmt.Errorf("%d open cases, want %d", len(cases), so.cases)
			}
			return err
		}},
		measured{fmt.Sprintf("open cases: a page of 50 of %d (keyset)", so.cases), 100 * time.Millisecond, func() error {
			after := paidup.SupportCase{ID: fmt.Sprintf("sc_s%d", pick(so.cases)), CreatedAt: shopTime}
			if rand.N(4) == 0 {
				after = paidup.SupportCase{}
			}
			_, err := st.OpenCasesPage(ctx, after, 50)
			return err
		}},
		measured{fmt.Sprintf("inbox: the first 50 of %d (store.Inbox)", so.cases), 100 * time.Millisecond, func() error {
			_, err := st.Inbox(ctx, time.Now(), 50)
			return err
		}},
		measured{fmt.Sprintf("inbox: the groups of %d (store.CaseGroups)", so.cases), 100 * time.Millisecond, func() error {
			_, err := st.CaseGroups(ctx)
			return err
		}},
	)
	fmt.Fprintf(o.out, "each query %d times, one at a time, each for a different row (the first 10 not counted):\n", so.samples)
	for _, q := range queries {
		for range 10 {
			if err := q.run(); err != nil {
				return fmt.Errorf("%s: %w", q.name, err)
			}
		}
		var ds []time.Duration
		for range so.samples {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			t := time.Now()
			if err := q.run(); err != nil {
				return fmt.Errorf("%s: %w", q.name, err)
			}
			ds = append(ds, time.Since(t))
		}
		l := summarise(ds)
		fmt.Fprintf(o.out, "  %-45s %s\n", q.name, l)
		if q.target == 0 {
			o.summary.add("search", engine, q.name+" p99", ms(l.p99), "", "")
			continue
		}
		o.summary.add("search", engine, q.name+" p99", ms(l.p99), "<= "+ms(q.target), verdict(l.p99 <= q.target))
	}
	return nil
}

// References in the data set are shopRef(i) for each checkout i, and
// shopRef(offset + i) for the rest, so that none is another's.
const (
	looseRefs   = 10_000_000
	invoiceRefs = 20_000_000
	disputeRefs = 30_000_000
	caseRefs    = 40_000_000
	refundRefs  = 50_000_000
)

const (
	refAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	refSpread   = 2654435761 // odd: multiplying by it mod 2^40 is one to one
)

// shopRef is the data set's reference number x: 40 bits of x times an
// odd number, in paidup's form. refSQL writes the same in SQL.
func shopRef(x int) string {
	h := (uint64(x) * refSpread) % (1 << 40)
	b := make([]byte, 8)
	for k := range 8 {
		b[k] = refAlphabet[(h>>(35-5*k))&31]
	}
	return "PU-" + string(b[:4]) + "-" + string(b[4:])
}

func refSQL(x string) string {
	h := fmt.Sprintf("((%s) * %d %% 1099511627776)", x, refSpread)
	var parts []string
	for k := range 8 {
		if k == 4 {
			parts = append(parts, "'-'")
		}
		parts = append(parts, fmt.Sprintf("substr('%s', CAST(((%s >> %d) & 31) + 1 AS INTEGER), 1)", refAlphabet, h, 35-5*k))
	}
	return "'PU-' || " + strings.Join(parts, " || ")
}

var surnames = strings.Fields(`lovelace hopper turing babbage noether curie meitner franklin goodall carson
	hamilton johnson vaughan jackson liskov allen goldwasser rivest shamir adleman knuth dijkstra hoare lamport milner
	backus mccarthy kay engelbart sutherland thompson ritchie kernighan pike stroustrup wirth hejlsberg gosling ousterhout
	torvalds stallman berners cerf kahn postel metcalfe baran davies pouzin abramson clark bina andreessen wales page brin
	bezos jobs wozniak gates allenby moore noyce kilby shockley bardeen brattain shannon nyquist hartley wiener neumann
	godel church kleene post markov kolmogorov chaitin solomonoff levin cook karp valiant yao blum micali naor reingold
	wigderson goldreich sipser papadimitriou tarjan hopcroft ullman aho sethi lesk feldman`)

var domains = strings.Fields(`example.com mail.example example.org post.example example.net inbox.example
	example0.com example1.com example2.com example3.com example4.com example5.com example6.com example7.com
	example8.com example9.com letters.example box.example mx.example web.example`)

func surname(i int) string { return surnames[i%100] }
func domain(i int) string  { return domains[(i/100)%20] }
func shopEmail(i int) string {
	return fmt.Sprintf("c%d.%s@%s", i, surname(i), domain(i))
}

// wordSQL is SQL for the index-th of words, as fixed-width fields of one string.
func wordSQL(words []string, index string) string {
	width := 0
	for _, w := range words {
		width = max(width, len(w))
	}
	var b strings.Builder
	for _, w := range words {
		fmt.Fprintf(&b, "%-*s", width, w)
	}
	return fmt.Sprintf("rtrim(substr('%s', CAST((%s) * %d + 1 AS INTEGER), %d))", b.String(), index, width, width)
}

// loadShop writes the data set, a table at a time, in chunks.
func loadShop(ctx context.Context, db *sqldb.DB, so searchOptions, out interface{ Write([]byte) (int, error) }) error {
	if len(surnames) != 100 || len(domains) != 20 {
		return fmt.Errorf("the data set needs 100 surnames and 20 domains, has %d and %d", len(surnames), len(domains))
	}
	n := so.customers
	at := "$1"
	series := func(from, to int) string {
		return fmt.Sprintf(`(WITH RECURSIVE s (i) AS (SELECT %d UNION ALL SELECT i + 1 FROM s WHERE i < %d) SELECT i FROM s) AS n`, from, to)
	}
	if db.Engine == sqldb.Postgres {
		at = "$1::timestamptz"
		series = func(from, to int) string {
			return fmt.Sprintf(`generate_series(%d::bigint, %d::bigint) AS n (i)`, from, to)
		}
	}
	email := fmt.Sprintf("'c' || i || '.' || %s || '@' || %s", wordSQL(surnames, "i % 100"), wordSQL(domains, "(i / 100) % 20"))
	steps := []struct {
		what  string
		rows  int
		query string // inserting the rows of {series}
	}{
		{"customers", n, `INSERT INTO customers (id, email, created_at) SELECT 'cu_s' || i, ` + email + `, ` + at + ` FROM {series}`},
		{"processor customers", n, `INSERT INTO processor_customers (processor, processor_id, customer_id) SELECT 'stripe', 'cus_s' || i, 'cu_s' || i FROM {series}`},
		{"checkout attempts", n, `INSERT INTO checkout_attempts (reference, plan_id, email, amount, currency, processor, processor_checkout_id,
			status, customer_id, payment_id, created_at, updated_at, resolved_at)
			SELECT ` + refSQL("i") + `, 'pro', ` + email + `, 2500, 'usd', 'stripe', 'cs_s' || i, 'fulfilled', 'cu_s' || i, 'pi_s' || i, ` + at + `, ` + at + `, ` + at + ` FROM {series}`},
		{"checkout attempts with no customer", n / 100, `INSERT INTO checkout_attempts (reference, plan_id, email, amount, currency, processor,
			status, created_at, updated_at) SELECT ` + refSQL(fmt.Sprint(looseRefs)+" + i") + `, 'pro', 'left' || ` + email + `, 2500, 'usd', 'stripe', 'abandoned', ` + at + `, ` + at + ` FROM {series}`},
		{"payments", n, `INSERT INTO payments (processor, payment_id, customer_id, checkout_reference, checkout_id, plan_id, amount, currency,
			status, paid_at, created_at, updated_at)
			SELECT 'stripe', 'pi_s' || i, 'cu_s' || i, ` + refSQL("i") + `, 'cs_s' || i, 'pro', 2500, 'usd', 'succeeded', ` + at + `, ` + at + `, ` + at + ` FROM {series}`},
		{"subscriptions", n / 5, `INSERT INTO subscriptions (processor, subscription_id, customer_id, processor_customer_id, plan_id, status,
			period_start, period_end, created_at, updated_at)
			SELECT 'stripe', 'sub_s' || i, 'cu_s' || i, 'cus_s' || i, 'pro-monthly', 'active', ` + at + `, ` + at + `, ` + at + `, ` + at + ` FROM {series}`},
		{"invoices", n / 5, `INSERT INTO invoices (processor, invoice_id, reference, customer_id, subscription_id, plan_id, amount, currency,
			status, payment_id, created_at, updated_at)
			SELECT 'stripe', 'in_s' || i, ` + refSQL(fmt.Sprint(invoiceRefs)+" + i") + `, 'cu_s' || i, 'sub_s' || i, 'pro-monthly', 2500, 'usd', 'paid', 'pi_s' || i, ` + at + `, ` + at + ` FROM {series}`},
		{"disputes", n / 100, `INSERT INTO disputes (processor, dispute_id, reference, customer_id, payment_id, amount, currency, reason, status,
			created_at, recorded_at, updated_at)
			SELECT 'stripe', 'dp_s' || i, ` + refSQL(fmt.Sprint(disputeRefs)+" + i") + `, 'cu_s' || i, 'pi_s' || i, 2500, 'usd', 'fraudulent', 'needs_response', ` + at + `, ` + at + `, ` + at + ` FROM {series}`},
		{"support cases", 3 * so.cases, `INSERT INTO support_cases (id, dedupe_key, customer_id, reference, payment_id, kind, summary, status, created_at, resolved_at)
			SELECT 'sc_s' || i, 'load:' || i, 'cu_s' || (i * 97 % ` + fmt.Sprint(n) + ` + 1), ` + refSQL(fmt.Sprint(caseRefs)+" + i") + `,
				CASE WHEN i % 2 = 0 THEN 'pi_s' || (i * 97 % ` + fmt.Sprint(n) + ` + 1) ELSE '' END, 'unconfirmed',
				'The processor never said how the checkout ended', CASE WHEN i <= ` + fmt.Sprint(so.cases) + ` THEN 'open' ELSE 'resolved' END, ` + at + `,
				CASE WHEN i <= ` + fmt.Sprint(so.cases) + ` THEN NULL ELSE ` + at + ` END FROM {series}`},
		{"timeline: each checkout's first entry", n, `INSERT INTO timeline (customer_id, reference, at, kind, source, summary, data)
			SELECT NULL, ` + refSQL("i") + `, ` + at + `, 'checkout', 'customer', 'Checkout started', '{}' FROM {series}`},
		{"timeline: the customers' entries", so.timeline - n, `INSERT INTO timeline (customer_id, reference, at, kind, source, summary, data)
			SELECT CASE WHEN i % ` + fmt.Sprint(max((so.timeline-n)/max(so.heavy, 1), 1)) + ` = 0 THEN 'cu_s1' ELSE 'cu_s' || (i % ` + fmt.Sprint(n) + ` + 1) END,
				CASE WHEN i % 50 = 0 THEN ` + refSQL(fmt.Sprint(refundRefs)+" + i") + ` ELSE '' END,
				` + at + `, 'payment', 'webhook', 'Payment confirmed',
				CASE WHEN i % 50 = 0 THEN '{"payment":"pi_s' || (i % ` + fmt.Sprint(n) + ` + 1) || '","refund":"re_s' || i || '"}'
					WHEN i % 500 = 1 THEN '{"charge":"ch_s' || i || '","payment":"pi_s' || (i % ` + fmt.Sprint(n) + ` + 1) || '"}'
					ELSE '{"payment":"pi_s' || (i % ` + fmt.Sprint(n) + ` + 1) || '"}' END
			FROM {series}`},
	}
	offset := map[string]int{"timeline: the customers' entries": n}
	const chunk = 500_000
	for _, s := range steps {
		start := time.Now()
		first := offset[s.what] + 1
		last := offset[s.what] + s.rows
		for from := first; from <= last; from += chunk {
			to := min(from+chunk-1, last)
			var args []any
			if strings.Contains(s.query, "$1") {
				args = append(args, shopTime)
			}
			if _, err := db.Write.ExecContext(ctx, strings.Replace(s.query, "{series}", series(from, to), 1), args...); err != nil {
				return fmt.Errorf("%s: %w", s.what, err)
			}
		}
		fmt.Fprintf(out, "  loaded %d %s in %s\n", s.rows, s.what, time.Since(start).Round(100*time.Millisecond))
	}
	return nil
}

// shopTime is when everything in the data set happened.
var shopTime = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// searchMigration is the migration that builds the search's indexes.
const searchMigration = 19

// migrateTo applies paidup's migrations up to version.
func migrateTo(ctx context.Context, db *sqldb.DB, version int64) error {
	dialect, fsys := goose.DialectSQLite3, store.Migrations.SQLite
	if db.Engine == sqldb.Postgres {
		dialect, fsys = goose.DialectPostgres, store.Migrations.Postgres
	}
	opts := []goose.ProviderOption{goose.WithTableName(store.Migrations.Table), goose.WithDisableGlobalRegistry(true)}
	for v, up := range store.Migrations.Go {
		opts = append(opts, goose.WithGoMigrations(goose.NewGoMigration(v, &goose.GoFunc{RunTx: up}, nil)))
	}
	p, err := goose.NewProvider(dialect, db.Write, fsys, opts...)
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, version)
	return err
}

// settle leaves the database as it would be a while after a load this
// size: on PostgreSQL vacuumed and analysed, as autovacuum would; on
// SQLite with its write-ahead log checkpointed.
func settle(ctx context.Context, db *sqldb.DB) error {
	q := `PRAGMA wal_checkpoint(TRUNCATE)`
	if db.Engine == sqldb.Postgres {
		q = `VACUUM ANALYZE`
	}
	_, err := db.Write.ExecContext(ctx, q)
	return err
}
