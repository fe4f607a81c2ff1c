package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/paidup/paidup"
)

// caseColumns are a support case's columns, as scanCase reads them.
const caseColumns = `id, dedupe_key, customer_id, reference, payment_id, kind, summary, status, created_at, resolved_at,
	amount, currency, assignee, snoozed_until, waiting_since, follows`

func scanCase(row interface{ Scan(...any) error }) (paidup.SupportCase, error) {
	var c paidup.SupportCase
	var customer sql.NullString
	var resolved, snoozed, waiting sql.NullTime
	err := row.Scan(&c.ID, &c.DedupeKey, &customer, &c.Reference, &c.PaymentID, &c.Kind, &c.Summary, &c.Status, &c.CreatedAt, &resolved,
		&c.Stake.Amount, &c.Stake.Currency, &c.Assignee, &snoozed, &waiting, &c.Follows)
	c.CustomerID, c.CreatedAt, c.ResolvedAt = customer.String, c.CreatedAt.UTC(), timeOf(resolved)
	c.SnoozedUntil, c.WaitingSince = timeOf(snoozed), timeOf(waiting)
	return c, err
}

func scanCases(rows *sql.Rows, err error) ([]paidup.SupportCase, error) {
	if err != nil {
		return nil, fmt.Errorf("listing support cases: %w", err)
	}
	defer rows.Close()
	var out []paidup.SupportCase
	for rows.Next() {
		c, err := scanCase(rows)
		if err != nil {
			return nil, fmt.Errorf("listing support cases: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// OpenCase opens a support case unless one with the same dedupe key exists.
// It returns the case and whether it is new. The money at stake is read
// from the case's payment, else from what its reference names (a
// checkout, an invoice, a chargeback).
func (tx *Tx) OpenCase(ctx context.Context, c paidup.SupportCase) (paidup.SupportCase, bool, error) {
	c.ID, c.Status, c.CreatedAt = newID("sc"), paidup.CaseOpen, tx.now
	if c.Stake.Amount == 0 {
		err := tx.tx.QueryRowContext(ctx, `SELECT amount, currency FROM (
				SELECT 1 AS rank, amount, currency FROM payments WHERE customer_id = $1 AND payment_id = $2
				UNION ALL SELECT 2, amount, currency FROM checkout_attempts WHERE reference = $3
				UNION ALL SELECT 3, amount, currency FROM invoices WHERE reference = $3
				UNION ALL SELECT 4, amount, currency FROM disputes WHERE reference = $3
			) stakes ORDER BY rank LIMIT 1`, nullString(c.CustomerID), c.PaymentID, c.Reference).Scan(&c.Stake.Amount, &c.Stake.Currency)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return c, false, fmt.Errorf("reading the money at stake of a support case: %w", err)
		}
	}
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO support_cases (id, dedupe_key, customer_id, reference, payment_id, kind, summary, status, created_at,
			amount, currency, follows)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (dedupe_key) DO NOTHING`,
		c.ID, c.DedupeKey, nullString(c.CustomerID), c.Reference, c.PaymentID, c.Kind, c.Summary, c.Status, c.CreatedAt, c.Stake.Amount, c.Stake.Currency,
		c.Follows)
	if err != nil {
		return c, false, fmt.Errorf("opening support case: %w", err)
	}
	n, _ := res.RowsAffected()
	return c, n == 1, nil
}

// OpenCases lists the open support cases, snoozed and waiting ones too,
// oldest first, reading them a page at a time (OpenCasesPage).
func (s *Store) OpenCases(ctx context.Context) ([]paidup.SupportCase, error) {
	var all []paidup.SupportCase
	after := paidup.SupportCase{}
	for {
		page, err := s.OpenCasesPage(ctx, after, openCasesRead)
		all = append(all, page...)
		if err != nil || len(page) < openCasesRead {
			return all, err
		}
		after = page[len(page)-1]
	}
}

// OpenCasesOfKind lists the open cases of one kind, oldest first, at most
// limit: a group the inbox shows as one problem.
func (s *Store) OpenCasesOfKind(ctx context.Context, kind string, limit int) ([]paidup.SupportCase, error) {
	return scanCases(s.db.Read.QueryContext(ctx, `SELECT `+caseColumns+` FROM support_cases
		WHERE status = $1 AND kind = $2 ORDER BY created_at, id LIMIT $3`, paidup.CaseOpen, kind, limit))
}

// openCasesRead is how many open cases OpenCases reads at a time.
const openCasesRead = 500

// Inbox lists the open cases a person should take at now, in the order
// they should take them: those with money at stake first, then the rest,
// each longest waiting first; cases waiting on the customer after all
// those. Snoozed cases are left out until their time. At most limit.
func (s *Store) Inbox(ctx context.Context, now time.Time, limit int) ([]paidup.SupportCase, error) {
	// The first page is read from support_cases_inbox, whose expressions
	// are this ORDER BY's, instead of sorting every open case. The status
	// is written into the query, not passed, for PostgreSQL's plan of the
	// prepared statement to be able to use the index.
	return scanCases(s.db.Read.QueryContext(ctx, `SELECT `+caseColumns+` FROM `+s.openCases("support_cases_inbox")+`
		WHERE status = '`+paidup.CaseOpen+`' AND (snoozed_until IS NULL OR snoozed_until <= $1)
		ORDER BY CASE WHEN waiting_since IS NULL THEN 0 ELSE 1 END, CASE WHEN amount > 0 THEN 0 ELSE 1 END, created_at, id
		LIMIT $2`, ts(now), limit))
}

// CaseGroups counts the open cases of each kind that has more than one,
// most first: the inbox shows each as one problem. It reads the index of
// the open cases by kind (support_cases_open_kind) alone, in its order.
func (s *Store) CaseGroups(ctx context.Context) ([]paidup.CaseGroup, error) {
	open := `status = '` + paidup.CaseOpen + `'`
	table := s.openCases("support_cases_open_kind")
	rows, err := s.db.Read.QueryContext(ctx, `SELECT kind, currency, count(*), CAST(sum(amount) AS BIGINT), min(created_at) FROM `+table+`
		WHERE `+open+` AND kind IN (SELECT kind FROM `+table+` WHERE `+open+` GROUP BY kind HAVING count(*) > 1)
		GROUP BY kind, currency ORDER BY kind, currency`)
	if err != nil {
		return nil, fmt.Errorf("grouping support cases: %w", err)
	}
	defer rows.Close()
	var out []paidup.CaseGroup
	for rows.Next() {
		var kind, currency string
		var n int
		var sum int64
		var first aggregateTime
		if err := rows.Scan(&kind, &currency, &n, &sum, &first); err != nil {
			return nil, fmt.Errorf("grouping support cases: %w", err)
		}
		oldest := first.Time
		if len(out) == 0 || out[len(out)-1].Kind != kind {
			out = append(out, paidup.CaseGroup{Kind: kind, Oldest: oldest})
		}
		g := &out[len(out)-1]
		g.Count += n
		if oldest.Before(g.Oldest) {
			g.Oldest = oldest
		}
		if sum > 0 {
			g.Stakes = append(g.Stakes, paidup.Money{Amount: sum, Currency: currency})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b paidup.CaseGroup) int { return b.Count - a.Count })
	return out, nil
}

// OpenCaseForReference reports whether a checkout has an open support case.
func (s *Store) OpenCaseForReference(ctx context.Context, ref string) (bool, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT count(*) FROM support_cases WHERE reference = $1 AND status = $2`, ref, paidup.CaseOpen).Scan(&n)
	return n > 0, err
}

// ReferenceOpenCases lists the open cases about a reference (PU-…), oldest
// first.
func (s *Store) ReferenceOpenCases(ctx context.Context, ref string) ([]paidup.SupportCase, error) {
	return scanCases(s.db.Read.QueryContext(ctx, `SELECT `+caseColumns+` FROM support_cases
		WHERE reference = $1 AND status = $2 ORDER BY created_at, id`, ref, paidup.CaseOpen))
}

// Case reads a support case in the transaction.
func (tx *Tx) Case(ctx context.Context, id string) (paidup.SupportCase, error) {
	return readCase(tx.tx.QueryRowContext(ctx, `SELECT `+caseColumns+` FROM support_cases WHERE id = $1`, id), id)
}

// Case reads a support case.
func (s *Store) Case(ctx context.Context, id string) (paidup.SupportCase, error) {
	return readCase(s.db.Read.QueryRowContext(ctx, `SELECT `+caseColumns+` FROM support_cases WHERE id = $1`, id), id)
}

func readCase(row interface{ Scan(...any) error }, id string) (paidup.SupportCase, error) {
	c, err := scanCase(row)
	if errors.Is(err, sql.ErrNoRows) {
		return c, paidup.Errorf(paidup.ENOTFOUND, "No support case %s.", id)
	}
	if err != nil {
		return c, fmt.Errorf("reading support case %s: %w", id, err)
	}
	return c, nil
}

// TriageCase sets who works on an open case, until when it is snoozed
// (zero: not), and whether it waits on the customer. It reports whether
// anything changed; a resolved case is refused.
func (tx *Tx) TriageCase(ctx context.Context, id, assignee string, snoozedUntil time.Time, waiting bool) (paidup.SupportCase, bool, error) {
	c, err := tx.Case(ctx, id)
	if err != nil {
		return c, false, err
	}
	if c.Status != paidup.CaseOpen {
		return c, false, paidup.Errorf(paidup.ECONFLICT, "Support case %s is already resolved.", id)
	}
	if !snoozedUntil.IsZero() {
		snoozedUntil = ts(snoozedUntil)
	}
	waitingSince := c.WaitingSince
	switch {
	case waiting && waitingSince.IsZero():
		waitingSince = ts(tx.now)
	case !waiting:
		waitingSince = time.Time{}
	}
	if c.Assignee == assignee && c.SnoozedUntil.Equal(snoozedUntil) && c.WaitingSince.Equal(waitingSince) {
		return c, false, nil
	}
	if _, err := tx.tx.ExecContext(ctx, `UPDATE support_cases SET assignee = $2, snoozed_until = $3, waiting_since = $4 WHERE id = $1`,
		id, assignee, nullTime(snoozedUntil), nullTime(waitingSince)); err != nil {
		return c, false, fmt.Errorf("triaging support case %s: %w", id, err)
	}
	c.Assignee, c.SnoozedUntil, c.WaitingSince = assignee, snoozedUntil, waitingSince
	return c, true, nil
}
