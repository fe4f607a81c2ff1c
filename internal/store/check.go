package store

import (
	"context"
	"fmt"

	"github.com/paidup/paidup"
)

// Violation is a broken invariant found by Check.
type Violation struct {
	Rule   string // which invariant
	Detail string // what breaks it, with ids
}

// CheckReport is what Check found.
type CheckReport struct {
	Payments   int // succeeded or refunded payments checked
	Grants     int
	Violations []Violation
	// AwaitingPerson lists paid payments without a grant or refund that
	// have an open support case: not broken, but waiting for someone.
	AwaitingPerson []Violation
	// Refunding lists duplicate purchases paidup is refunding: not
	// broken, but a refund still to be made at the processor (a job
	// retries it, and asks a person if it cannot).
	Refunding []Violation
}

// Check verifies paidup's invariants on the database: every succeeded
// payment maps to exactly one grant or one refund; a refunded or disputed
// payment's grant has ended; no grant lacks a source;
// every grant has its confirmation email sent or queued; a checkout
// attempt is settled only by a payment made through its own checkout; no
// customer pays twice for overlapping access without a case or refund.
func (s *Store) Check(ctx context.Context) (CheckReport, error) {
	var r CheckReport
	q := s.db.Read
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM payments`).Scan(&r.Payments); err != nil {
		return r, fmt.Errorf("counting payments: %w", err)
	}
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM grants`).Scan(&r.Grants); err != nil {
		return r, fmt.Errorf("counting grants: %w", err)
	}
	checks := []struct {
		rule, query string
		args        []any
		pending     bool
	}{
		{"a succeeded payment has no grant", `
			SELECT p.processor || ':' || p.payment_id || ' (' || COALESCE(p.checkout_reference, 'no reference') || ')'
			FROM payments p
			WHERE p.status = $1
			  AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.source_ref = p.processor || ':' || p.payment_id)
			  AND NOT EXISTS (SELECT 1 FROM support_cases c WHERE c.payment_id = p.payment_id AND c.status = $2)
			  AND NOT EXISTS (SELECT 1 FROM checkout_attempts a WHERE a.reference = p.checkout_reference AND a.payment_id = p.payment_id AND a.status = $3)`,
			[]any{paidup.PaymentSucceeded, paidup.CaseOpen, paidup.AttemptDuplicate}, false},
		{"a succeeded payment awaits a person (open support case)", `
			SELECT p.processor || ':' || p.payment_id || ' (' || COALESCE(p.checkout_reference, 'no reference') || ')'
			FROM payments p
			WHERE p.status = $1
			  AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.source_ref = p.processor || ':' || p.payment_id)
			  AND EXISTS (SELECT 1 FROM support_cases c WHERE c.payment_id = p.payment_id AND c.status = $2)`,
			[]any{paidup.PaymentSucceeded, paidup.CaseOpen}, true},
		{"a payment has more than one grant", `
			SELECT g.source_ref || ' has ' || count(*) || ' grants' FROM grants g
			WHERE g.source IN ($1, $2) GROUP BY g.source_ref HAVING count(*) > 1`,
			[]any{"purchase", "subscription"}, false},
		{"a refunded payment still grants access", `
			SELECT g.id || ' rests on refunded ' || g.source_ref FROM grants g
			JOIN payments p ON g.source_ref = p.processor || ':' || p.payment_id
			WHERE p.status = $1 AND g.revoked_at IS NULL`,
			[]any{paidup.PaymentRefunded}, false},
		{"a disputed payment still grants access", `
			SELECT g.id || ' rests on ' || g.source_ref || ', disputed (' || d.reference || ')' FROM grants g
			JOIN disputes d ON g.source_ref = d.processor || ':' || d.payment_id
			WHERE g.source IN ($1, $2) AND g.revoked_at IS NULL`,
			[]any{"purchase", "subscription"}, false},
		{"a paid grant has no payment behind it", `
			SELECT g.id || ' (' || g.source_ref || ')' FROM grants g
			WHERE g.source IN ($1, $2) AND NOT EXISTS (SELECT 1 FROM payments p WHERE g.source_ref = p.processor || ':' || p.payment_id)`,
			[]any{"purchase", "subscription"}, false},
		{"a grace rests on no failed renewal of a known subscription", `
			SELECT g.id || ' (' || g.source_ref || ')' FROM grants g
			WHERE g.source = $1 AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.customer_id = g.customer_id)`,
			[]any{"grace"}, false},
		{"a checkout attempt's payment was not made through its own checkout", `
			SELECT a.reference || ' records payment ' || a.payment_id || ' of checkout ' || COALESCE(p.checkout_id, '(unknown)') ||
				', not of its own checkout ' || COALESCE(a.processor_checkout_id, '(none recorded)')
			FROM checkout_attempts a JOIN payments p ON p.processor = a.processor AND p.payment_id = a.payment_id
			WHERE a.processor_checkout_id IS NULL OR p.checkout_id IS NULL OR p.checkout_id <> a.processor_checkout_id`,
			nil, false},
		{"a grant has no source", `
			SELECT g.id FROM grants g WHERE g.source NOT IN ($1, $2, $3, $4) OR g.source_ref = ''`,
			[]any{"purchase", "subscription", "manual", "grace"}, false},
		{"a grant's confirmation email is neither sent nor queued", `
			SELECT g.id || ' (' || g.source_ref || ')' FROM grants g
			WHERE g.source = $1 AND NOT EXISTS (
				SELECT 1 FROM emails e WHERE e.dedupe_key = 'confirmation:' || g.id AND e.status IN ($2, $3, $4))`,
			[]any{"purchase", EmailQueued, EmailSending, EmailSent}, false},
	}
	refunding, err := q.QueryContext(ctx, `SELECT p.processor || ':' || p.payment_id || ' (' || a.reference || ')'
		FROM payments p JOIN checkout_attempts a ON a.reference = p.checkout_reference AND a.payment_id = p.payment_id
		WHERE p.status = $1 AND a.status = $2
		  AND NOT EXISTS (SELECT 1 FROM support_cases c WHERE c.payment_id = p.payment_id AND c.status = $3)`,
		paidup.PaymentSucceeded, paidup.AttemptDuplicate, paidup.CaseOpen)
	if err != nil {
		return r, fmt.Errorf("checking duplicate purchases: %w", err)
	}
	for refunding.Next() {
		var detail string
		if err := refunding.Scan(&detail); err != nil {
			refunding.Close()
			return r, fmt.Errorf("checking duplicate purchases: %w", err)
		}
		r.Refunding = append(r.Refunding, Violation{Rule: "a duplicate purchase is being refunded", Detail: detail})
	}
	refunding.Close()
	overlaps, err := overlappingPayments(ctx, q)
	if err != nil {
		return r, fmt.Errorf("checking overlapping payments: %w", err)
	}
	for _, d := range overlaps {
		r.Violations = append(r.Violations, Violation{Rule: "a customer pays twice for the same access, without a case or refund", Detail: d})
	}
	for _, c := range checks {
		rows, err := q.QueryContext(ctx, c.query, c.args...)
		if err != nil {
			return r, fmt.Errorf("checking %q: %w", c.rule, err)
		}
		for rows.Next() {
			var detail string
			if err := rows.Scan(&detail); err != nil {
				rows.Close()
				return r, fmt.Errorf("checking %q: %w", c.rule, err)
			}
			v := Violation{Rule: c.rule, Detail: detail}
			if c.pending {
				r.AwaitingPerson = append(r.AwaitingPerson, v)
			} else {
				r.Violations = append(r.Violations, v)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return r, fmt.Errorf("checking %q: %w", c.rule, err)
		}
	}
	return r, nil
}
