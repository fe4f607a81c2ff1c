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

var errBadLink = paidup.Errorf(paidup.EUNAUTHORIZED, "This sign-in link has expired or has been used already (signing in with one link ends the others). Ask for a new one below.")

// UseSignInLink spends a sign-in token and opens an account session,
// returning the session token. A token works once, before it expires, and
// not after another of the customer's links has been used: a link left in
// a mailbox or a forwarded email stops being a way in once the customer
// has signed in.
func (s *Store) UseSignInLink(ctx context.Context, token string, sessionTTL time.Duration) (session, customerID string, err error) {
	err = s.InTx(ctx, func(tx *Tx) error {
		err := tx.tx.QueryRowContext(ctx, `UPDATE sign_in_links SET used_at = $2
			WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING customer_id`,
			tokenHash(token), tx.now).Scan(&customerID)
		if err != nil {
			return errBadLink
		}
		session, err = tx.signIn(ctx, customerID, sessionTTL, "Signed in with an emailed link", nil)
		return err
	})
	return session, customerID, err
}

// signIn opens an account session for a customer who has just spent an
// emailed link, ends their other outstanding sign-in links, and puts the
// sign-in on their timeline with summary. It returns the session token.
func (tx *Tx) signIn(ctx context.Context, customerID string, sessionTTL time.Duration, summary string, data map[string]string) (string, error) {
	if _, err := tx.tx.ExecContext(ctx, `UPDATE sign_in_links SET used_at = $2 WHERE customer_id = $1 AND used_at IS NULL AND expires_at > $2`,
		customerID, tx.now); err != nil {
		return "", fmt.Errorf("ending other sign-in links: %w", err)
	}
	session := newToken()
	if _, err := tx.tx.ExecContext(ctx, `INSERT INTO account_sessions (token_hash, customer_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		tokenHash(session), customerID, tx.now, tx.s.sessionStamp().Add(sessionTTL)); err != nil {
		return "", fmt.Errorf("opening account session: %w", err)
	}
	err := tx.Append(ctx, paidup.TimelineEntry{CustomerID: customerID, Kind: paidup.EventSignIn, Source: paidup.ByCustomer, Summary: summary, Data: data})
	return session, err
}

// SessionCustomer returns the customer an account session belongs to.
func (s *Store) SessionCustomer(ctx context.Context, session string) (string, error) {
	var id string
	err := s.db.Read.QueryRowContext(ctx, `SELECT customer_id FROM account_sessions WHERE token_hash = $1 AND expires_at > $2`,
		tokenHash(session), s.sessionStamp()).Scan(&id)
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
