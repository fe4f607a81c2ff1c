package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/paidup/paidup"
)

// OperatorCredentials are what an operator signs in with, as stored: the
// password's hash, the TOTP secret and the recovery codes' hashes.
type OperatorCredentials struct {
	PasswordHash       string
	TOTPSecret         string
	RecoveryCodeHashes []string
}

// Operator session stages: between the password and the second factor,
// and signed in.
const (
	StagePassword = "password"
	StageSignedIn = "signed_in"
)

// OperatorSession is an operator's session, as its token's hash finds it.
type OperatorSession struct {
	Operator  paidup.Operator
	Stage     string
	Failures  int
	CreatedAt time.Time
	SeenAt    time.Time
	ExpiresAt time.Time
}

var errNoOperator = paidup.Errorf(paidup.ENOTFOUND, "There is no operator with that email address.")

// AddOperator adds an operator with their credentials.
func (s *Store) AddOperator(ctx context.Context, email string, c OperatorCredentials, now time.Time) (paidup.Operator, error) {
	op := paidup.Operator{ID: newID("op"), Email: email, CreatedAt: ts(now), RecoveryCodes: len(c.RecoveryCodeHashes)}
	err := s.InTx(ctx, func(tx *Tx) error {
		res, err := tx.tx.ExecContext(ctx, `INSERT INTO operators (id, email, password_hash, totp_secret, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (email) DO NOTHING`, op.ID, email, c.PasswordHash, c.TOTPSecret, op.CreatedAt)
		if err != nil {
			return fmt.Errorf("adding operator: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return paidup.Errorf(paidup.ECONFLICT, "There is already an operator %s: to give them new credentials, reset them.", email)
		}
		return tx.recoveryCodes(ctx, op.ID, c.RecoveryCodeHashes)
	})
	return op, err
}

// ResetOperator gives an operator new credentials: their password, TOTP
// secret and recovery codes are replaced, and every session of theirs
// ends.
func (s *Store) ResetOperator(ctx context.Context, email string, c OperatorCredentials, now time.Time) (paidup.Operator, error) {
	var op paidup.Operator
	err := s.InTx(ctx, func(tx *Tx) error {
		err := tx.tx.QueryRowContext(ctx, `UPDATE operators SET password_hash = $2, totp_secret = $3, totp_step = 0, updated_at = $4
			WHERE email = $1 RETURNING id, email, created_at`, email, c.PasswordHash, c.TOTPSecret, ts(now)).Scan(&op.ID, &op.Email, &op.CreatedAt)
		if errors.Is(err, sql.ErrNoRows) {
			return errNoOperator
		}
		if err != nil {
			return fmt.Errorf("resetting operator: %w", err)
		}
		op.CreatedAt, op.RecoveryCodes = op.CreatedAt.UTC(), len(c.RecoveryCodeHashes)
		for _, q := range []string{`DELETE FROM operator_recovery_codes WHERE operator_id = $1`, `DELETE FROM operator_sessions WHERE operator_id = $1`} {
			if _, err := tx.tx.ExecContext(ctx, q, op.ID); err != nil {
				return fmt.Errorf("resetting operator: %w", err)
			}
		}
		return tx.recoveryCodes(ctx, op.ID, c.RecoveryCodeHashes)
	})
	return op, err
}

func (tx *Tx) recoveryCodes(ctx context.Context, operatorID string, hashes []string) error {
	for _, h := range hashes {
		if _, err := tx.tx.ExecContext(ctx, `INSERT INTO operator_recovery_codes (operator_id, code_hash) VALUES ($1, $2)`, operatorID, h); err != nil {
			return fmt.Errorf("storing recovery codes: %w", err)
		}
	}
	return nil
}

// RemoveOperator removes an operator, their recovery codes and sessions.
func (s *Store) RemoveOperator(ctx context.Context, email string) error {
	return s.InTx(ctx, func(tx *Tx) error {
		var id string
		err := tx.tx.QueryRowContext(ctx, `SELECT id FROM operators WHERE email = $1`, email).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return errNoOperator
		}
		if err != nil {
			return fmt.Errorf("removing operator: %w", err)
		}
		for _, q := range []string{`DELETE FROM operator_sessions WHERE operator_id = $1`,
			`DELETE FROM operator_recovery_codes WHERE operator_id = $1`, `DELETE FROM operators WHERE id = $1`} {
			if _, err := tx.tx.ExecContext(ctx, q, id); err != nil {
				return fmt.Errorf("removing operator: %w", err)
			}
		}
		return nil
	})
}

const operatorColumns = `o.id, o.email, o.created_at,
	(SELECT count(*) FROM operator_recovery_codes r WHERE r.operator_id = o.id AND r.used_at IS NULL)`

func scanOperator(row interface{ Scan(...any) error }, extra ...any) (paidup.Operator, error) {
	var op paidup.Operator
	err := row.Scan(append([]any{&op.ID, &op.Email, &op.CreatedAt, &op.RecoveryCodes}, extra...)...)
	op.CreatedAt = op.CreatedAt.UTC()
	return op, err
}

// Operators lists the operators by email address.
func (s *Store) Operators(ctx context.Context) ([]paidup.Operator, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+operatorColumns+` FROM operators o ORDER BY o.email`)
	if err != nil {
		return nil, fmt.Errorf("listing operators: %w", err)
	}
	defer rows.Close()
	var out []paidup.Operator
	for rows.Next() {
		op, err := scanOperator(rows)
		if err != nil {
			return nil, fmt.Errorf("listing operators: %w", err)
		}
		out = append(out, op)
	}
	return out, rows.Err()
}

// OperatorSignIn reads an operator by email address with their password
// hash and TOTP secret.
func (s *Store) OperatorSignIn(ctx context.Context, email string) (op paidup.Operator, passwordHash, totpSecret string, err error) {
	op, err = scanOperator(s.db.Read.QueryRowContext(ctx, `SELECT `+operatorColumns+`, o.password_hash, o.totp_secret FROM operators o WHERE o.email = $1`, email),
		&passwordHash, &totpSecret)
	if errors.Is(err, sql.ErrNoRows) {
		return op, "", "", errNoOperator
	}
	if err != nil {
		return op, "", "", fmt.Errorf("reading operator: %w", err)
	}
	return op, passwordHash, totpSecret, nil
}

// OperatorTOTP reads an operator's TOTP secret.
func (s *Store) OperatorTOTP(ctx context.Context, operatorID string) (string, error) {
	var secret string
	err := s.db.Read.QueryRowContext(ctx, `SELECT totp_secret FROM operators WHERE id = $1`, operatorID).Scan(&secret)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errNoOperator
	}
	return secret, err
}

// AcceptTOTPStep records that an operator's code for a time step was
// accepted, unless a code of that step or a later one was: a code is
// good once, even within its step. It reports whether it was recorded.
func (s *Store) AcceptTOTPStep(ctx context.Context, operatorID string, step int64) (bool, error) {
	res, err := s.db.Write.ExecContext(ctx, `UPDATE operators SET totp_step = $2 WHERE id = $1 AND totp_step < $2`, operatorID, step)
	if err != nil {
		return false, fmt.Errorf("recording the TOTP step: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// UseRecoveryCode spends one of an operator's recovery codes, by its hash.
// It reports whether the code was theirs and unused.
func (s *Store) UseRecoveryCode(ctx context.Context, operatorID, codeHash string, now time.Time) (bool, error) {
	res, err := s.db.Write.ExecContext(ctx, `UPDATE operator_recovery_codes SET used_at = $3
		WHERE operator_id = $1 AND code_hash = $2 AND used_at IS NULL`, operatorID, codeHash, ts(now))
	if err != nil {
		return false, fmt.Errorf("using a recovery code: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// OpenOperatorSession stores a session of an operator's, by its token's
// hash, at a stage, until expires.
func (s *Store) OpenOperatorSession(ctx context.Context, token, operatorID, stage string, now, expires time.Time) error {
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO operator_sessions (token_hash, operator_id, stage, created_at, seen_at, expires_at)
		VALUES ($1, $2, $3, $4, $4, $5)`, tokenHash(token), operatorID, stage, ts(now), ts(expires))
	if err != nil {
		return fmt.Errorf("opening operator session: %w", err)
	}
	return nil
}

// OperatorSession reads the session a token opens, with its operator,
// whatever its age: the caller judges whether it has expired.
func (s *Store) OperatorSession(ctx context.Context, token string) (OperatorSession, error) {
	var sess OperatorSession
	op, err := scanOperator(s.db.Read.QueryRowContext(ctx, `SELECT `+operatorColumns+`, s.stage, s.failures, s.created_at, s.seen_at, s.expires_at
		FROM operator_sessions s JOIN operators o ON o.id = s.operator_id WHERE s.token_hash = $1`, tokenHash(token)),
		&sess.Stage, &sess.Failures, &sess.CreatedAt, &sess.SeenAt, &sess.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return sess, paidup.Errorf(paidup.EUNAUTHORIZED, "Please sign in.")
	}
	if err != nil {
		return sess, fmt.Errorf("reading operator session: %w", err)
	}
	sess.Operator = op
	sess.CreatedAt, sess.SeenAt, sess.ExpiresAt = sess.CreatedAt.UTC(), sess.SeenAt.UTC(), sess.ExpiresAt.UTC()
	return sess, nil
}

// SeeOperatorSession records that a session was used at now.
func (s *Store) SeeOperatorSession(ctx context.Context, token string, now time.Time) error {
	_, err := s.db.Write.ExecContext(ctx, `UPDATE operator_sessions SET seen_at = $2 WHERE token_hash = $1`, tokenHash(token), ts(now))
	return err
}

// FailOperatorSession counts a wrong second factor against a session
// between its password and its second factor, and returns how many
// there have been.
func (s *Store) FailOperatorSession(ctx context.Context, token string) (int, error) {
	var n int
	err := s.db.Write.QueryRowContext(ctx, `UPDATE operator_sessions SET failures = failures + 1 WHERE token_hash = $1 RETURNING failures`,
		tokenHash(token)).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, err
}

// EndOperatorSession ends one session. It reports whether there was one
// to end.
func (s *Store) EndOperatorSession(ctx context.Context, token string) (bool, error) {
	res, err := s.db.Write.ExecContext(ctx, `DELETE FROM operator_sessions WHERE token_hash = $1`, tokenHash(token))
	if err != nil {
		return false, fmt.Errorf("ending operator session: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// EndOperatorSessions ends every session of an operator's.
func (s *Store) EndOperatorSessions(ctx context.Context, operatorID string) error {
	_, err := s.db.Write.ExecContext(ctx, `DELETE FROM operator_sessions WHERE operator_id = $1`, operatorID)
	if err != nil {
		return fmt.Errorf("ending operator sessions: %w", err)
	}
	return nil
}

// EndExpiredOperatorSessions deletes the sessions that ended before now.
func (s *Store) EndExpiredOperatorSessions(ctx context.Context, now time.Time) error {
	_, err := s.db.Write.ExecContext(ctx, `DELETE FROM operator_sessions WHERE expires_at <= $1`, ts(now))
	return err
}
