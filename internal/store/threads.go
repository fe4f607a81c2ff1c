package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/sqldb"
)

// replyTokenLength is a reply token's length: 26 characters of
// idAlphabet, 130 random bits. Lower-case letters and digits only, so
// that the token survives in an address's local part (reply+TOKEN@…),
// which mail systems may fold to lower case.
const replyTokenLength = 26

func newReplyToken() string {
	b := make([]byte, replyTokenLength)
	rand.Read(b)
	for i, c := range b {
		b[i] = idAlphabet[c&31] // 256 is a multiple of 32: uniform
	}
	return string(b)
}

// ReplyToken reads a reply token as written in an address or a link: in
// any case, and only of the characters a token has. It reports whether
// it could be one.
func ReplyToken(s string) (string, bool) {
	s = strings.ToLower(s)
	if len(s) != replyTokenLength {
		return "", false
	}
	for i := range len(s) {
		if strings.IndexByte(idAlphabet, s[i]) < 0 {
			return "", false
		}
	}
	return s, true
}

// CreateReplyToken makes the token of the reply address and web link a
// reply to case caseID carries, in email emailID. Only its hash is kept.
func (tx *Tx) CreateReplyToken(ctx context.Context, caseID, emailID string) (string, error) {
	token := newReplyToken()
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO case_reply_tokens (token_hash, case_id, email_id, created_at) VALUES ($1, $2, $3, $4)`,
		tokenHash(token), caseID, emailID, tx.now)
	if err != nil {
		return "", fmt.Errorf("making a reply token for support case %s: %w", caseID, err)
	}
	return token, nil
}

var errNoReplyToken = paidup.Errorf(paidup.ENOTFOUND, "This link or address does not lead to a conversation we know of.")

// ReplyTokenCase is the case a reply token leads to, however old the
// token; ENOTFOUND for a token paidup never made.
func (s *Store) ReplyTokenCase(ctx context.Context, token string) (paidup.SupportCase, error) {
	return replyTokenCase(ctx, s.db.Read, token)
}

// ReplyTokenCase is the case a reply token leads to, in the transaction.
func (tx *Tx) ReplyTokenCase(ctx context.Context, token string) (paidup.SupportCase, error) {
	return replyTokenCase(ctx, tx.tx, token)
}

func replyTokenCase(ctx context.Context, q sqldb.Queryer, token string) (paidup.SupportCase, error) {
	token, ok := ReplyToken(token)
	if !ok {
		return paidup.SupportCase{}, errNoReplyToken
	}
	c, err := scanCase(q.QueryRowContext(ctx, `SELECT `+caseColumns+` FROM support_cases
		WHERE id = (SELECT case_id FROM case_reply_tokens WHERE token_hash = $1)`, tokenHash(token)))
	if errors.Is(err, sql.ErrNoRows) {
		return c, errNoReplyToken
	}
	if err != nil {
		return c, fmt.Errorf("reading a reply token's case: %w", err)
	}
	return c, nil
}

// AddCaseMessage adds a message to a case's thread unless a message with
// its MessageID exists (in any thread). It returns the message and
// whether it is new.
func (tx *Tx) AddCaseMessage(ctx context.Context, m paidup.CaseMessage) (paidup.CaseMessage, bool, error) {
	m.ID, m.At = newID("cm"), tx.now
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO case_messages (id, case_id, direction, via, from_address, to_address, subject, body,
			message_id, email_id, actor, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (message_id) DO NOTHING`,
		m.ID, m.CaseID, m.Direction, m.Via, m.From, m.To, m.Subject, m.Text, m.MessageID, m.EmailID, m.Actor, m.At)
	if err != nil {
		return m, false, fmt.Errorf("adding a message to support case %s: %w", m.CaseID, err)
	}
	n, _ := res.RowsAffected()
	return m, n == 1, nil
}

// CaseMessageTaken reports whether a message with messageID is in a
// thread.
func (tx *Tx) CaseMessageTaken(ctx context.Context, messageID string) (bool, error) {
	var n int
	if err := tx.tx.QueryRowContext(ctx, `SELECT count(*) FROM case_messages WHERE message_id = $1`, messageID).Scan(&n); err != nil {
		return false, fmt.Errorf("looking a message up: %w", err)
	}
	return n > 0, nil
}

// threadCases is a WITH clause naming, as thread(id), the cases of case
// $1's thread: back to the case it began with, through the cases that
// follow it (CaseFollowUp), in order. UNION stops at a case met twice.
const threadCases = `WITH RECURSIVE back (id, follows) AS (
		SELECT id, follows FROM support_cases WHERE id = $1
		UNION SELECT c.id, c.follows FROM support_cases c JOIN back ON c.id = back.follows
	), thread (id) AS (
		SELECT id FROM back WHERE follows = ''
		UNION SELECT c.id FROM support_cases c JOIN thread ON c.follows = thread.id AND c.follows <> ''
	) `

// Thread is the thread of case caseID, oldest first: its messages and
// those of the cases before and after it in one conversation (see
// paidup.CaseFollowUp), each reply with its email's delivery status.
func (s *Store) Thread(ctx context.Context, caseID string) ([]paidup.CaseMessage, error) {
	rows, err := s.db.Read.QueryContext(ctx, threadCases+`SELECT m.id, m.case_id, m.direction, m.via, m.from_address, m.to_address, m.subject,
			m.body, m.message_id, m.email_id, m.actor, m.at, coalesce(e.status, '')
		FROM case_messages m LEFT JOIN emails e ON e.id = m.email_id AND m.email_id <> ''
		WHERE m.case_id IN (SELECT id FROM thread) ORDER BY m.at, m.id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("reading the thread of support case %s: %w", caseID, err)
	}
	defer rows.Close()
	var out []paidup.CaseMessage
	for rows.Next() {
		var m paidup.CaseMessage
		if err := rows.Scan(&m.ID, &m.CaseID, &m.Direction, &m.Via, &m.From, &m.To, &m.Subject, &m.Text, &m.MessageID, &m.EmailID, &m.Actor,
			&m.At, &m.Delivery); err != nil {
			return nil, fmt.Errorf("reading the thread of support case %s: %w", caseID, err)
		}
		m.At = m.At.UTC()
		out = append(out, m)
	}
	return out, rows.Err()
}

// ThreadAddresses are the addresses case caseID's customer is known by
// in its thread: those its replies went to, and the current addresses of
// its cases' customers and checkouts. Each is as stored: normalised.
func (tx *Tx) ThreadAddresses(ctx context.Context, caseID string) ([]string, error) {
	rows, err := tx.tx.QueryContext(ctx, threadCases+`SELECT to_address FROM case_messages WHERE direction = $2 AND case_id IN (SELECT id FROM thread)
		UNION SELECT cu.email FROM customers cu JOIN support_cases c ON c.customer_id = cu.id WHERE c.id IN (SELECT id FROM thread)
		UNION SELECT a.email FROM checkout_attempts a JOIN support_cases c ON c.reference = a.reference
			WHERE c.reference <> '' AND c.id IN (SELECT id FROM thread)`, caseID, paidup.MessageOut)
	if err != nil {
		return nil, fmt.Errorf("reading the addresses of support case %s: %w", caseID, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, fmt.Errorf("reading the addresses of support case %s: %w", caseID, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// LastInThread is the last case of case c's thread: c itself, or the
// case following it, or the one following that.
func (s *Store) LastInThread(ctx context.Context, c paidup.SupportCase) (paidup.SupportCase, error) {
	return lastInThread(ctx, s.db.Read, c)
}

// LastInThread is the last case of case c's thread, in the transaction.
func (tx *Tx) LastInThread(ctx context.Context, c paidup.SupportCase) (paidup.SupportCase, error) {
	return lastInThread(ctx, tx.tx, c)
}

func lastInThread(ctx context.Context, q sqldb.Queryer, c paidup.SupportCase) (paidup.SupportCase, error) {
	for range 1000 { // a thread is a line; this bounds a damaged one
		next, err := scanCase(q.QueryRowContext(ctx, `SELECT `+caseColumns+` FROM support_cases WHERE follows = $1 AND follows <> '' ORDER BY created_at LIMIT 1`, c.ID))
		if errors.Is(err, sql.ErrNoRows) {
			return c, nil
		}
		if err != nil {
			return c, fmt.Errorf("reading the case that follows %s: %w", c.ID, err)
		}
		c = next
	}
	return c, fmt.Errorf("the thread of support case %s does not end", c.ID)
}
