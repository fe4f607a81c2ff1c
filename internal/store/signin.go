package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/paidup/paidup"
)

// Only hashes of sign-in tokens are stored: a copy of the database does not
// let anyone sign in.
func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

func newToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// CreateSignInLink makes a single-use sign-in token for a customer, valid
// for ttl.
func (s *Store) CreateSignInLink(ctx context.Context, customerID string, ttl time.Duration) (string, error) {
	token := newToken()
	now := s.stamp()
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO sign_in_links (token_hash, customer_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		tokenHash(token), customerID, now, now.Add(ttl))
	if err != nil {
		return "", fmt.Errorf("creating sign-in link: %w", err)
	}
	return token, nil
}

// CreateSignInLink makes a single-use sign-in token for a customer, valid
// for ttl, in the transaction.
func (tx *Tx) CreateSignInLink(ctx context.Context, customerID string, ttl time.Duration) (string, error) {
	token := newToken()
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO sign_in_links (token_hash, customer_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		tokenHash(token), customerID, tx.now, tx.now.Add(ttl))
	if err != nil {
		return "", fmt.Errorf("creating sign-in link: %w", err)
	}
	return token, nil
}

var errBadLink = paidup.Errorf(paidup.EUNAUTHORIZED, "This sign-in link has expired or has been used already. Ask for a new one below.")

// UseSignInLink spends a sign-in token and opens an account session,
// returning the session token. A token works once, before it expires.
func (s *Store) UseSignInLink(ctx context.Context, token string, sessionTTL time.Duration) (session, customerID string, err error) {
	err = s.InTx(ctx, func(tx *Tx) error {
		err := tx.tx.QueryRowContext(ctx, `UPDATE sign_in_links SET used_at = $2
			WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING customer_id`,
			tokenHash(token), tx.now).Scan(&customerID)
		if err != nil {
			return errBadLink
		}
		session = newToken()
		if _, err := tx.tx.ExecContext(ctx, `INSERT INTO account_sessions (token_hash, customer_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
			tokenHash(session), customerID, tx.now, tx.now.Add(sessionTTL)); err != nil {
			return fmt.Errorf("opening account session: %w", err)
		}
		return tx.Append(ctx, TimelineEntry{CustomerID: customerID, Kind: EventSignIn, Source: ByCustomer, Summary: "Signed in with an emailed link"})
	})
	return session, customerID, err
}

// SessionCustomer returns the customer an account session belongs to.
func (s *Store) SessionCustomer(ctx context.Context, session string) (string, error) {
	var id string
	err := s.db.Read.QueryRowContext(ctx, `SELECT customer_id FROM account_sessions WHERE token_hash = $1 AND expires_at > $2`,
		tokenHash(session), s.stamp()).Scan(&id)
	if err != nil {
		return "", paidup.Errorf(paidup.EUNAUTHORIZED, "Please sign in.")
	}
	return id, nil
}

// EndSession signs a session out.
func (s *Store) EndSession(ctx context.Context, session string) error {
	_, err := s.db.Write.ExecContext(ctx, `DELETE FROM account_sessions WHERE token_hash = $1`, tokenHash(session))
	return err
}
