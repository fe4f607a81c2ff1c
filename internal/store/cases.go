package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Support case kinds: what paidup could not repair by itself.
const (
	CaseUnknownPlan    = "unknown_plan"     // paid for a price no plan sells
	CaseAmountMismatch = "amount_mismatch"  // paid a different amount than the plan costs
	CaseBlockedPayer   = "blocked_payer"    // a blocked customer paid
	CaseUnconfirmed    = "unconfirmed"      // the processor never said how a checkout ended
	CaseEmailFailed    = "email_failed"     // an email could not be delivered
	CaseWebhookRefusal = "webhook_refusals" // many webhooks failed verification
	CaseRequestsLimit  = "requests_limited" // many requests refused by the limits
	CaseRefundFailed   = "refund_failed"    // a refund failed at the processor: the customer was not refunded
	CaseMissingObject  = "missing_object"   // an event that matters names an object the processor does not have
	// CaseForeignReference: a paid processor checkout named the
	// reference of a checkout attempt it does not belong to (a payment
	// link's client_reference_id, another integration's session).
	CaseForeignReference = "foreign_reference"
)

// Case statuses.
const (
	CaseOpen     = "open"
	CaseResolved = "resolved"
)

// SupportCase is something paidup could not repair by itself, for a person.
type SupportCase struct {
	ID         string
	DedupeKey  string
	CustomerID string
	Reference  string
	PaymentID  string
	Kind       string
	Summary    string
	Status     string
	CreatedAt  time.Time
	ResolvedAt time.Time
}

// OpenCase opens a support case unless one with the same dedupe key exists.
// It returns the case and whether it is new.
func (tx *Tx) OpenCase(ctx context.Context, c SupportCase) (SupportCase, bool, error) {
	c.ID, c.Status, c.CreatedAt = newID("sc"), CaseOpen, tx.now
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO support_cases (id, dedupe_key, customer_id, reference, payment_id, kind, summary, status, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (dedupe_key) DO NOTHING`,
		c.ID, c.DedupeKey, nullString(c.CustomerID), c.Reference, c.PaymentID, c.Kind, c.Summary, c.Status, c.CreatedAt)
	if err != nil {
		return c, false, fmt.Errorf("opening support case: %w", err)
	}
	n, _ := res.RowsAffected()
	return c, n == 1, nil
}

// OpenCases lists the open support cases, oldest first.
func (s *Store) OpenCases(ctx context.Context) ([]SupportCase, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT id, dedupe_key, customer_id, reference, payment_id, kind, summary, status, created_at, resolved_at
		FROM support_cases WHERE status = $1 ORDER BY created_at, id`, CaseOpen)
	if err != nil {
		return nil, fmt.Errorf("listing support cases: %w", err)
	}
	defer rows.Close()
	var out []SupportCase
	for rows.Next() {
		var c SupportCase
		var customer sql.NullString
		var resolved sql.NullTime
		if err := rows.Scan(&c.ID, &c.DedupeKey, &customer, &c.Reference, &c.PaymentID, &c.Kind, &c.Summary, &c.Status, &c.CreatedAt, &resolved); err != nil {
			return nil, fmt.Errorf("listing support cases: %w", err)
		}
		c.CustomerID, c.CreatedAt, c.ResolvedAt = customer.String, c.CreatedAt.UTC(), timeOf(resolved)
		out = append(out, c)
	}
	return out, rows.Err()
}

// OpenCaseForReference reports whether a checkout has an open support case.
func (s *Store) OpenCaseForReference(ctx context.Context, ref string) (bool, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT count(*) FROM support_cases WHERE reference = $1 AND status = $2`, ref, CaseOpen).Scan(&n)
	return n > 0, err
}

// Duplicate purchases a person settles.
const (
	// CaseDuplicatePurchase: a customer paid for a one-time plan whose
	// tier they already held, and the policy leaves it to a person; the
	// purchase waits on them, with no access granted.
	CaseDuplicatePurchase = "duplicate_purchase"
	// CaseOverlappingSubscription: a customer subscribed while holding the
	// subscription's tier; granted, and a person decides which to keep.
	CaseOverlappingSubscription = "overlapping_subscription"
)
