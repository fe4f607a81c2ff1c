package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/paidup/paidup"
)

// CardLink is the capability, carried by a lifecycle email, to open the
// processor's page where one customer updates their card — a page where
// the subscription can also be cancelled. It works once, before it
// expires: spending it signs the customer in and opens that page; after
// that, their session is the way back, not the link, so a forwarded or
// leaked email cannot cancel anyone's subscription.
type CardLink struct {
	CustomerID          string
	Processor           string // e.g. "stripe"
	ProcessorCustomerID string
	ExpiresAt           time.Time
	UsedAt              time.Time // zero until it is spent
}

// ErrCardLinkExpired is the answer for a card link that is unknown or has
// expired.
var ErrCardLinkExpired = paidup.Errorf(paidup.EUNAUTHORIZED, "This link has expired.")

// ErrCardLinkUsed is the answer for a card link that has been spent.
var ErrCardLinkUsed = paidup.Errorf(paidup.EUNAUTHORIZED, "This link has been used already.")

// CreateCardLink makes a card link for a customer's processor customer,
// valid until expires, in the transaction of the email that carries it.
// emailID names that email, for support.
func (tx *Tx) CreateCardLink(ctx context.Context, l CardLink, emailID string) (string, error) {
	token := newToken()
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO card_links (token_hash, customer_id, processor, processor_customer_id, email_id, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		tokenHash(token), l.CustomerID, l.Processor, l.ProcessorCustomerID, emailID, tx.now, ts(l.ExpiresAt))
	if err != nil {
		return "", fmt.Errorf("creating card link: %w", err)
	}
	return token, nil
}

// CardLink reads the card link of a token that has not expired, spent or
// not.
func (s *Store) CardLink(ctx context.Context, token string) (CardLink, error) {
	var l CardLink
	var used sql.NullTime
	err := s.db.Read.QueryRowContext(ctx, `SELECT customer_id, processor, processor_customer_id, expires_at, used_at FROM card_links
		WHERE token_hash = $1 AND expires_at > $2`, tokenHash(token), s.stamp()).
		Scan(&l.CustomerID, &l.Processor, &l.ProcessorCustomerID, &l.ExpiresAt, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return l, ErrCardLinkExpired
	}
	if err != nil {
		return l, fmt.Errorf("reading card link: %w", err)
	}
	l.ExpiresAt, l.UsedAt = l.ExpiresAt.UTC(), timeOf(used)
	return l, nil
}

// CardLinkResubmit is how long after a card link is spent the same page's
// button still works: a double click, or a reload that posts the form
// again, from the browser that spent it.
const CardLinkResubmit = 2 * time.Minute

// UseCardLink spends a card link: it signs its customer in, as a sign-in
// link does (ending their other sign-in links), and records on their
// timeline that they followed it to the card page. page names the card
// page whose button was pressed (a random value in its form; empty for
// none): pressed again within CardLinkResubmit, the same page spends the
// link again, and no other does. It returns the link, with when it was
// first spent, and the new session's token; ErrCardLinkUsed if it was
// spent already.
func (s *Store) UseCardLink(ctx context.Context, token, page string, sessionTTL time.Duration) (l CardLink, session string, err error) {
	pageHash := ""
	if page != "" {
		pageHash = tokenHash(page)
	}
	err = s.InTx(ctx, func(tx *Tx) error {
		err := tx.tx.QueryRowContext(ctx, `UPDATE card_links SET used_at = COALESCE(used_at, $2), used_by = $3
			WHERE token_hash = $1 AND expires_at > $2 AND (used_at IS NULL OR (used_by = $3 AND used_by <> '' AND used_at > $4))
			RETURNING customer_id, processor, processor_customer_id, expires_at, used_at`, tokenHash(token), tx.now, pageHash, tx.now.Add(-CardLinkResubmit)).
			Scan(&l.CustomerID, &l.Processor, &l.ProcessorCustomerID, &l.ExpiresAt, &l.UsedAt)
		if errors.Is(err, sql.ErrNoRows) {
			return tx.spentOrExpired(ctx, token)
		}
		if err != nil {
			return fmt.Errorf("using card link: %w", err)
		}
		l.ExpiresAt, l.UsedAt = l.ExpiresAt.UTC(), l.UsedAt.UTC()
		session, err = tx.signIn(ctx, l.CustomerID, sessionTTL, "Signed in with an emailed card link and opened the card update page",
			map[string]string{"processor": l.Processor})
		return err
	})
	return l, session, err
}

// spentOrExpired tells why a card link could not be spent.
func (tx *Tx) spentOrExpired(ctx context.Context, token string) error {
	var n int
	err := tx.tx.QueryRowContext(ctx, `SELECT count(*) FROM card_links WHERE token_hash = $1 AND used_at IS NOT NULL AND expires_at > $2`,
		tokenHash(token), tx.now).Scan(&n)
	switch {
	case err != nil:
		return fmt.Errorf("reading card link: %w", err)
	case n > 0:
		return ErrCardLinkUsed
	}
	return ErrCardLinkExpired
}
