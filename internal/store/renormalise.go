package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/paidup/paidup"
)

// migration11 makes card links single-use (their last use becomes the one
// use, and the page that spends one is recorded) and rewrites stored email
// addresses by today's NormaliseEmail.
//
// Until then addresses were only trimmed and lower-cased, so a customer
// may be stored under a decomposed accent or a Unicode domain
// (ada@café.example), which today's lookups, by ada@xn--caf-dma.example,
// would miss: their next purchase would make a second customer. An
// address today's rules refuse (an IP-literal domain, say) is left as it
// is: the customer is still found by id and processor customer. Where two
// customers turn out to share an address, the one that has the new
// spelling first (already, or the older) keeps it, the other keeps its old
// spelling, and a support case asks a person to merge them. The case's
// time is the wall clock's: a migration runs outside any business clock.
func migration11(ctx context.Context, tx *sql.Tx) error {
	for _, q := range []string{
		`ALTER TABLE card_links RENAME COLUMN last_used_at TO used_at`,
		// A hash of the card page whose button spent the link.
		`ALTER TABLE card_links ADD COLUMN used_by TEXT NOT NULL DEFAULT ''`,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("card links: %w", err)
		}
	}
	if err := renormaliseCustomers(ctx, tx); err != nil {
		return err
	}
	return renormaliseAttempts(ctx, tx)
}

type storedEmail struct{ key, email string }

// changedEmails lists the rows of query (a key and an email) whose email
// normalises to another spelling, with that spelling.
func changedEmails(ctx context.Context, tx *sql.Tx, query string) ([]storedEmail, error) {
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storedEmail
	for rows.Next() {
		var e storedEmail
		if err := rows.Scan(&e.key, &e.email); err != nil {
			return nil, err
		}
		if n, err := paidup.NormaliseEmail(e.email); err == nil && n != e.email {
			out = append(out, storedEmail{e.key, n})
		}
	}
	return out, rows.Err()
}

func renormaliseCustomers(ctx context.Context, tx *sql.Tx) error {
	changed, err := changedEmails(ctx, tx, `SELECT id, email FROM customers ORDER BY created_at, id`)
	if err != nil {
		return fmt.Errorf("reading customers' addresses: %w", err)
	}
	for _, c := range changed {
		var other string
		err := tx.QueryRowContext(ctx, `SELECT id FROM customers WHERE email = $1`, c.email).Scan(&other)
		switch {
		case err == nil:
			if err := openDuplicateCase(ctx, tx, other, c); err != nil {
				return err
			}
			continue
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("matching customer %s by address: %w", c.key, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE customers SET email = $1 WHERE id = $2`, c.email, c.key); err != nil {
			return fmt.Errorf("rewriting customer %s's address: %w", c.key, err)
		}
	}
	return nil
}

// openDuplicateCase opens a case for a person to merge customer dup.key
// into keeper, who has the address dup.email.
func openDuplicateCase(ctx context.Context, tx *sql.Tx, keeper string, dup storedEmail) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO support_cases (id, dedupe_key, customer_id, kind, summary, status, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (dedupe_key) DO NOTHING`,
		newID("sc"), "duplicate_customer:"+dup.key, dup.key, paidup.CaseDuplicateCustomer,
		fmt.Sprintf("Customers %s and %s have one email address, %s, spelt two ways; new purchases and sign-ins go to %s. Merge them by hand.",
			keeper, dup.key, dup.email, keeper),
		paidup.CaseOpen, ts(time.Now()))
	if err != nil {
		return fmt.Errorf("opening a case for duplicate customer %s: %w", dup.key, err)
	}
	return nil
}

// renormaliseAttempts rewrites checkout attempts' addresses, which an
// attempt's fulfilment may match its customer by.
func renormaliseAttempts(ctx context.Context, tx *sql.Tx) error {
	changed, err := changedEmails(ctx, tx, `SELECT reference, email FROM checkout_attempts`)
	if err != nil {
		return fmt.Errorf("reading checkout attempts' addresses: %w", err)
	}
	for _, a := range changed {
		if _, err := tx.ExecContext(ctx, `UPDATE checkout_attempts SET email = $1 WHERE reference = $2`, a.email, a.key); err != nil {
			return fmt.Errorf("rewriting checkout attempt %s's address: %w", a.key, err)
		}
	}
	return nil
}
