package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/sqldb"
)

// Search limits.
const (
	// SearchLimit is how many hits Search returns when asked for none in
	// particular; MaxSearchLimit is the most it returns.
	SearchLimit    = 20
	MaxSearchLimit = 100
	// maxSearchQuery is the longest query searched: as long as the
	// longest email address. Anything longer matches nothing.
	maxSearchQuery = 254
	// searchCandidates is how many emails containing the query are read
	// and ranked; a query in more emails than that says so (More).
	searchCandidates = 200
)

// How well a hit matched, best first.
const (
	rankExactID     = iota // an id, reference or case, exactly
	rankExactEmail         // the whole email address
	rankEmailPrefix        // the start of the address
	rankEmailWord          // the start of a word in it: "lovelace" in ada.lovelace@…
	rankEmailPart          // anywhere in it
)

// Search finds the customers a person looking for one means by query: an
// email address or any part of it of three letters or digits or more (any
// case), a reference of paidup's (PU-…: a checkout's, an invoice's, a
// dispute's, a refund's), a processor's id (cus_, cs_, pi_, ch_, in_,
// sub_, dp_, re_), a support case (sc_…) or paidup's customer id (cu_…).
// Hits come best first: what matched exactly, then the emails that start
// with the query, then those with it at the start of a word, then those
// with it anywhere; at most limit of them (SearchLimit if limit is 0).
// An id is found through the index of the table its prefix names, so an
// exact id costs a few index reads whatever the size of the tables; a
// part of an email, through the trigram index (search_emails on SQLite,
// pg_trgm on PostgreSQL). Input that is none of these — too short, too
// long, punctuation alone — matches nothing rather than everything.
func (s *Store) Search(ctx context.Context, query string, limit int) (paidup.SearchResults, error) {
	if limit <= 0 {
		limit = SearchLimit
	}
	limit = min(limit, MaxSearchLimit)
	q := cleanQuery(query)
	if q == "" || len(q) > maxSearchQuery {
		return paidup.SearchResults{}, nil
	}
	f := &finder{ctx: ctx, db: s.db.Read, engine: s.db.Engine, hits: map[string]*searchHit{}}
	var err error
	if ref, ok := paidup.ParseReference(q); ok && strings.HasPrefix(strings.ToUpper(q), "PU") {
		err = f.reference(ref)
	} else if kind, ok := idKind(q); ok {
		err = f.id(kind, q)
	} else {
		err = f.email(q)
	}
	if err == nil {
		err = f.emails()
	}
	if err != nil {
		return paidup.SearchResults{}, fmt.Errorf("searching for %q: %w", q, err)
	}
	return f.results(limit), nil
}

// cleanQuery is what a person typed, without what no id or email holds:
// surrounding space, control characters, invalid UTF-8.
func cleanQuery(q string) string {
	q = strings.ToValidUTF8(q, "")
	q = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, q)
	return strings.TrimSpace(q)
}

// idKinds names, by prefix, the processor ids (Stripe's) and paidup's own
// that Search finds exactly.
var idKinds = []struct{ prefix, kind string }{
	{"cus_", paidup.MatchProcessorCustomer},
	{"cu_", paidup.MatchCustomer},
	{"cs_", paidup.MatchCheckout},
	{"pi_", paidup.MatchPayment},
	{"ch_", paidup.MatchCharge},
	{"py_", paidup.MatchCharge},
	{"in_", paidup.MatchInvoice},
	{"sub_", paidup.MatchSubscription},
	{"dp_", paidup.MatchDispute},
	{"du_", paidup.MatchDispute},
	{"re_", paidup.MatchRefund},
	{"pyr_", paidup.MatchRefund},
	{"sc_", paidup.MatchCase},
}

// idKind says what q is an id of, if it is one: a known prefix and then
// only letters, digits and underscores.
func idKind(q string) (string, bool) {
	for _, k := range idKinds {
		if len(q) > len(k.prefix) && strings.HasPrefix(q, k.prefix) && strings.Trim(q, idChars) == "" {
			return k.kind, true
		}
	}
	return "", false
}

const idChars = "_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// finder gathers one search's hits.
type finder struct {
	ctx    context.Context
	db     sqldb.Queryer
	engine sqldb.Engine
	hits   map[string]*searchHit
	// more: more emails matched than were read.
	more bool
}

type searchHit struct {
	paidup.SearchHit
	rank int
}

// add records that m of a customer's matched, or of a checkout's with no
// customer (customerID "", the checkout's reference). email is the
// customer's, or the checkout's, if the query read it; else "" (it is
// read at the end).
func (f *finder) add(customerID, reference, email string, rank int, m paidup.SearchMatch) {
	key := "customer:" + customerID
	if customerID == "" {
		key = "checkout:" + reference
	} else {
		reference = ""
	}
	h := f.hits[key]
	if h == nil {
		h = &searchHit{SearchHit: paidup.SearchHit{CustomerID: customerID, Reference: reference}, rank: rank}
		f.hits[key] = h
	}
	h.Email = cmp.Or(h.Email, email)
	h.rank = min(h.rank, rank)
	var related []string
	for _, r := range m.Related {
		if r != "" && r != m.ID && !slices.Contains(related, r) {
			related = append(related, r)
		}
	}
	m.Related = related
	for i, have := range h.Matches {
		if have.Kind == m.Kind && have.ID == m.ID {
			for _, r := range m.Related {
				if !slices.Contains(have.Related, r) {
					h.Matches[i].Related = append(h.Matches[i].Related, r)
				}
			}
			return
		}
	}
	h.Matches = append(h.Matches, m)
}

// query runs q and calls row for each row, scanning into dest.
func (f *finder) query(q string, args []any, dest []any, row func()) error {
	rows, err := f.db.QueryContext(f.ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		row()
	}
	return rows.Err()
}

// byProcessor runs q, which names a processor as $1 and an id as $2, for
// each processor with rows in table: with both, a query names the table's
// primary key (processor, id) whole. The processors are found by a walk
// of that key that reads one entry of each, not by a scan of the table; a
// planner given the list inside the query may scan the table instead
// (PostgreSQL's plan for a prepared statement does).
func (f *finder) byProcessor(table, q, id string, dest []any, row func()) error {
	var processors []string
	var p string
	if err := f.query(`WITH RECURSIVE p (name) AS (SELECT min(processor) FROM `+table+`
		UNION ALL SELECT (SELECT min(processor) FROM `+table+` WHERE processor > p.name) FROM p WHERE p.name IS NOT NULL)
		SELECT name FROM p WHERE name IS NOT NULL`, nil, []any{&p}, func() { processors = append(processors, p) }); err != nil {
		return err
	}
	for _, p := range processors {
		if err := f.query(q, []any{p, id}, dest, row); err != nil {
			return err
		}
	}
	return nil
}

// reference finds what a reference of paidup's names: a checkout, an
// invoice, a dispute, or else a refund.
func (f *finder) reference(ref string) error {
	var customer, email, other sql.NullString
	dest := []any{&customer, &email, &other}
	if err := f.query(`SELECT customer_id, email, payment_id FROM checkout_attempts WHERE reference = $1`, []any{ref}, dest, func() {
		f.add(customer.String, ref, checkoutEmail(customer, email), rankExactID, paidup.SearchMatch{Kind: paidup.MatchCheckout, ID: ref, Related: []string{other.String}})
	}); err != nil {
		return err
	}
	if err := f.query(`SELECT customer_id, '', invoice_id FROM invoices WHERE reference = $1`, []any{ref}, dest, func() {
		f.add(customer.String, "", "", rankExactID, paidup.SearchMatch{Kind: paidup.MatchInvoice, ID: ref, Related: []string{other.String}})
	}); err != nil {
		return err
	}
	if err := f.query(`SELECT customer_id, '', dispute_id FROM disputes WHERE reference = $1`, []any{ref}, dest, func() {
		f.add(customer.String, "", "", rankExactID, paidup.SearchMatch{Kind: paidup.MatchDispute, ID: ref, Related: []string{other.String}})
	}); err != nil {
		return err
	}
	if len(f.hits) > 0 {
		return nil
	}
	// A refund's reference is on its timeline entries only: a few
	// entries, read by timeline_reference. (Naming the refund in the
	// query would let PostgreSQL read timeline_refund, every refund's
	// entry, instead.)
	return f.timelineData(`SELECT customer_id, reference, data FROM timeline WHERE reference = $1 ORDER BY id LIMIT 50`,
		ref, func(customerID, _ string, data map[string]string) {
			if data["refund"] != "" {
				f.add(customerID, "", "", rankExactID, paidup.SearchMatch{Kind: paidup.MatchRefund, ID: ref, Related: []string{data["refund"], data["payment"]}})
			}
		})
}

// checkoutEmail is a checkout's email as its hit's: only when the
// checkout has no customer, whose own email may differ.
func checkoutEmail(customer, email sql.NullString) string {
	if customer.Valid {
		return ""
	}
	return email.String
}

// timelineData reads timeline entries by q, which selects customer_id,
// reference and data with id as its one argument.
func (f *finder) timelineData(q, id string, row func(customerID, reference string, data map[string]string)) error {
	var customer sql.NullString
	var reference, data string
	return f.query(q, []any{id}, []any{&customer, &reference, &data}, func() {
		var d map[string]string
		json.Unmarshal([]byte(data), &d)
		if customer.Valid {
			row(customer.String, reference, d)
		}
	})
}

// dataKey is the expression that the timeline's index of key in its
// data (timeline_refund, timeline_charge) is on, and the condition of
// that partial index.
func (f *finder) dataKey(key string) string {
	if f.engine == sqldb.Postgres {
		return `((data::jsonb) ->> '` + key + `') = $1 AND data LIKE '%"` + key + `":%'`
	}
	return `json_extract(data, '$.` + key + `') = $1 AND data LIKE '%"` + key + `":%'`
}

// id finds what a processor's id, or one of paidup's, names.
func (f *finder) id(kind, id string) error {
	var customer, reference, email sql.NullString
	dest := []any{&customer, &reference, &email}
	add := func(related ...*sql.NullString) func() {
		return func() {
			m := paidup.SearchMatch{Kind: kind, ID: id}
			for _, r := range related {
				m.Related = append(m.Related, r.String)
			}
			f.add(customer.String, reference.String, checkoutEmail(customer, email), rankExactID, m)
		}
	}
	switch kind {
	case paidup.MatchProcessorCustomer:
		return f.byProcessor("processor_customers", `SELECT customer_id, '', '' FROM processor_customers WHERE processor = $1 AND processor_id = $2`,
			id, dest, add())
	case paidup.MatchCustomer:
		return f.query(`SELECT id, '', '' FROM customers WHERE id = $1`, []any{id}, dest, add())
	case paidup.MatchCheckout:
		var payment sql.NullString
		return f.query(`SELECT customer_id, reference, email, payment_id FROM checkout_attempts WHERE processor_checkout_id = $1`, []any{id},
			append(dest, &payment), add(&reference, &payment))
	case paidup.MatchPayment:
		return f.byProcessor("payments", `SELECT customer_id, checkout_reference, '' FROM payments WHERE processor = $1 AND payment_id = $2`,
			id, dest, add(&reference))
	case paidup.MatchInvoice:
		return f.byProcessor("invoices", `SELECT customer_id, reference, '' FROM invoices WHERE processor = $1 AND invoice_id = $2`,
			id, dest, add(&reference))
	case paidup.MatchSubscription:
		return f.byProcessor("subscriptions", `SELECT customer_id, '', '' FROM subscriptions WHERE processor = $1 AND subscription_id = $2`,
			id, dest, add())
	case paidup.MatchDispute:
		var payment sql.NullString
		return f.byProcessor("disputes", `SELECT customer_id, reference, '', payment_id FROM disputes WHERE processor = $1 AND dispute_id = $2`,
			id, append(dest, &payment), add(&reference, &payment))
	case paidup.MatchCase:
		return f.supportCase(id)
	case paidup.MatchRefund, paidup.MatchCharge:
		key := map[string]string{paidup.MatchRefund: "refund", paidup.MatchCharge: "charge"}[kind]
		return f.timelineData(`SELECT customer_id, reference, data FROM timeline WHERE `+f.dataKey(key)+` LIMIT 20`, id,
			func(customerID, reference string, data map[string]string) {
				f.add(customerID, "", "", rankExactID, paidup.SearchMatch{Kind: kind, ID: id, Related: []string{reference, data["payment"]}})
			})
	}
	return nil
}

// supportCase finds a case's customer or, with none yet, its checkout's.
func (f *finder) supportCase(id string) error {
	var customer, attemptCustomer, email sql.NullString
	var reference, kind string
	return f.query(`SELECT c.customer_id, c.reference, c.kind, a.customer_id, a.email FROM support_cases c
		LEFT JOIN checkout_attempts a ON a.reference = c.reference AND c.reference <> '' WHERE c.id = $1`,
		[]any{id}, []any{&customer, &reference, &kind, &attemptCustomer, &email}, func() {
			m := paidup.SearchMatch{Kind: paidup.MatchCase, ID: id, Related: []string{kind, reference}}
			switch {
			case customer.Valid:
				f.add(customer.String, "", "", rankExactID, m)
			case email.Valid:
				f.add(attemptCustomer.String, reference, checkoutEmail(attemptCustomer, email), rankExactID, m)
			default:
				// A case about no customer (webhooks refused, requests
				// limited): found, with nobody to show.
				f.add("", "", "", rankExactID, m)
			}
		})
}

// email finds the customers, and the checkouts with no customer, whose
// email is q or holds it.
func (f *finder) email(q string) error {
	var customer, reference, email string
	dest := []any{&customer, &reference, &email}
	lower := strings.ToLower(q)
	addEmail := func(rank int) func() {
		return func() {
			f.add(customer, reference, email, rank, paidup.SearchMatch{Kind: paidup.MatchEmail, ID: email})
		}
	}
	if address, err := paidup.NormaliseEmail(q); err == nil {
		if err := f.query(`SELECT id, '', email FROM customers WHERE email = $1
			UNION ALL SELECT '', reference, email FROM checkout_attempts WHERE email = $1 AND customer_id IS NULL`,
			[]any{address}, dest, addEmail(rankExactEmail)); err != nil {
			return err
		}
	}
	if !hasTrigram(lower) {
		return nil
	}
	n := 0
	// The index is asked for the part of the address before the @ when
	// there is one: every address holds the domain's trigrams of the
	// common domains, and reading them all is most of a search's time.
	// The whole query is then checked on what the index found.
	part := lower
	if local, _, ok := strings.Cut(lower, "@"); ok && hasTrigram(local) {
		part = local
	}
	found := func(customer, reference, email string) {
		n++
		f.add(customer, reference, email, emailRank(strings.ToLower(email), lower), paidup.SearchMatch{Kind: paidup.MatchEmail, ID: email})
	}
	var err error
	if f.engine == sqldb.Postgres {
		err = f.emailsPostgres(`%`+likeEscaper.Replace(part)+`%`, lower, found)
	} else {
		err = f.query(`SELECT s.customer_id, s.reference, s.email FROM search_emails s LEFT JOIN checkout_attempts a ON a.reference = s.reference
			WHERE search_emails MATCH $1 AND instr(lower(s.email), $3) > 0 AND (s.customer_id <> '' OR a.customer_id IS NULL) LIMIT $2`,
			[]any{`"` + strings.ReplaceAll(part, `"`, `""`) + `"`, searchCandidates, lower}, dest, func() { found(customer, reference, email) })
	}
	f.more = n >= searchCandidates
	return err
}

// emailProbe is how many customers, from the start of their table, a
// search on PostgreSQL reads before it asks the trigram index: enough to
// find searchCandidates of a part in 4% of the addresses or more.
const emailProbe = 5000

// emailsPostgres finds, on PostgreSQL, the first searchCandidates
// customers whose email is like pattern (the part of lower the index is
// asked for) and holds lower, then as many checkouts with no customer,
// in one statement. The customers are looked for first in the first
// emailProbe rows of their table (the probe), and the index is asked
// only if those hold fewer than searchCandidates: pg_trgm's GIN index
// lists every match before the first is read, which for a part in tens
// of thousands of addresses (a common domain) took 20–60 ms however few
// were wanted, where the table's first rows hold enough of them and are
// read in a millisecond. The index's matches are read in the table's
// order too, so the hits are the same either way.
func (f *finder) emailsPostgres(pattern, lower string, found func(customer, reference, email string)) error {
	var customer, reference, email string
	return f.query(`WITH probe AS (
			SELECT id, email FROM (SELECT id, email FROM customers LIMIT `+strconv.Itoa(emailProbe)+`) c
			WHERE email ILIKE $1 AND strpos(lower(email), $3) > 0 LIMIT $2)
		SELECT id, '', email FROM probe WHERE (SELECT count(*) FROM probe) = $2
		UNION ALL (SELECT id, '', email FROM customers WHERE email ILIKE $1 AND strpos(lower(email), $3) > 0
			AND (SELECT count(*) FROM probe) < $2 LIMIT $2)
		UNION ALL (SELECT '', reference, email FROM checkout_attempts WHERE email ILIKE $1 AND strpos(lower(email), $3) > 0
			AND customer_id IS NULL LIMIT $2)`,
		[]any{pattern, searchCandidates, lower}, []any{&customer, &reference, &email}, func() { found(customer, reference, email) })
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// hasTrigram reports whether q has three letters or digits in a row: the
// least that both engines' trigram indexes find by, without reading the
// whole index.
func hasTrigram(q string) bool {
	run := 0
	for _, r := range q {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			run = 0
		} else if run++; run >= 3 {
			return true
		}
	}
	return false
}

// emailRank is how well q matches email, both in lower case.
func emailRank(email, q string) int {
	switch {
	case email == q:
		return rankExactEmail
	case strings.HasPrefix(email, q):
		return rankEmailPrefix
	}
	for i := 1; i < len(email); i++ {
		j := strings.Index(email[i:], q)
		if j < 0 {
			break
		}
		i += j
		if r, _ := utf8.DecodeLastRuneInString(email[:i]); !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return rankEmailWord
		}
	}
	return rankEmailPart
}

// emails reads the email address of each customer found by another
// thing than their email.
func (f *finder) emails() error {
	var ids []any
	var in []string
	for _, h := range f.hits {
		if h.CustomerID != "" && h.Email == "" {
			ids = append(ids, h.CustomerID)
			in = append(in, fmt.Sprintf("$%d", len(ids)))
		}
	}
	if len(ids) == 0 {
		return nil
	}
	var id, email string
	return f.query(`SELECT id, email FROM customers WHERE id IN (`+strings.Join(in, ", ")+`)`, ids, []any{&id, &email}, func() {
		f.hits["customer:"+id].Email = email
	})
}

// results are the hits, best first, at most limit of them.
func (f *finder) results(limit int) paidup.SearchResults {
	hits := make([]*searchHit, 0, len(f.hits))
	for _, h := range f.hits {
		if h.CustomerID != "" && h.Email == "" {
			continue // a customer id that names nobody
		}
		hits = append(hits, h)
	}
	slices.SortFunc(hits, func(a, b *searchHit) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(len(a.Email), len(b.Email)),
			strings.Compare(a.Email, b.Email), strings.Compare(a.CustomerID, b.CustomerID), strings.Compare(a.Reference, b.Reference))
	})
	r := paidup.SearchResults{More: f.more || len(hits) > limit}
	for _, h := range hits[:min(limit, len(hits))] {
		r.Hits = append(r.Hits, h.SearchHit)
	}
	return r
}
