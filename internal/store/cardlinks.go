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
// processor's page where one customer updates their card. It works until
// it expires, as often as needed.
type CardLink struct {
	CustomerID          string
	Processor           string // e.g. "stripe"
	ProcessorCustomerID string
	ExpiresAt           time.Time
}

// ErrCardLinkExpired is the answer for a card link that is unknown or has
// expired.
var ErrCardLinkExpired = paidup.Errorf(paidup.EUNAUTHORIZED, "This link has expired.")

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

// CardLink reads the card link of a token that has not expired.
func (s *Store) CardLink(ctx context.Context, token string) (CardLink, error) {
	var l CardLink
	err := s.db.Read.QueryRowContext(ctx, `SELECT customer_id, processor, processor_customer_id, expires_at FROM card_links
		WHERE token_hash = $1 AND expires_at > $2`, tokenHash(token), s.stamp()).
		Scan(&l.CustomerID, &l.Processor, &l.ProcessorCustomerID, &l.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return l, ErrCardLinkExpired
	}
	if err != nil {
		return l, fmt.Errorf("reading card link: %w", err)
	}
	l.ExpiresAt = l.ExpiresAt.UTC()
	return l, nil
}

// UseCardLink records that a customer followed a card link to the
// processor's card page, on their timeline, and returns the link.
func (s *Store) UseCardLink(ctx context.Context, token string) (CardLink, error) {
	var l CardLink
	err := s.InTx(ctx, func(tx *Tx) error {
		err := tx.tx.QueryRowContext(ctx, `UPDATE card_links SET last_used_at = $2 WHERE token_hash = $1 AND expires_at > $2
			RETURNING customer_id, processor, processor_customer_id, expires_at`, tokenHash(token), tx.now).
			Scan(&l.CustomerID, &l.Processor, &l.ProcessorCustomerID, &l.ExpiresAt)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrCardLinkExpired
		}
		if err != nil {
			return fmt.Errorf("using card link: %w", err)
		}
		l.ExpiresAt = l.ExpiresAt.UTC()
		return tx.Append(ctx, TimelineEntry{CustomerID: l.CustomerID, Kind: EventSignIn, Source: ByCustomer,
			Summary: "Opened the card update page from an emailed link", Data: map[string]string{"processor": l.Processor}})
	})
	return l, err
}
