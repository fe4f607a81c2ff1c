// Package operator is the people who run support: their accounts, added
// from the command line, and their sign-in to the console with a password
// (argon2id) and a second factor (a TOTP code, or a one-use recovery code),
// and their sessions.
package operator

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/store"
)

// Service adds operators and signs them in.
type Service struct {
	Store *store.Store
	// Issuer names paidup in the operator's authenticator app.
	Issuer string
	// IdleTimeout ends a session unused for that long; Lifetime ends it
	// that long after sign-in, used or not.
	IdleTimeout, Lifetime time.Duration
	// Now is the wall clock: TOTP codes follow the phone's clock, and
	// sessions the time a person sees.
	Now func() time.Time
}

// Setup is what a new or reset operator is told once: their password,
// their TOTP secret (as the otpauth:// URI an authenticator app reads, and
// as base32 text to type), and their recovery codes. None of it is stored
// as it is but the TOTP secret.
type Setup struct {
	Operator      paidup.Operator
	Password      string
	TOTPURI       string
	TOTPSecret    string
	RecoveryCodes []string
}

// recoveryCodes is how many recovery codes an operator gets.
const recoveryCodes = 10

// Pending sign-ins: the time between the password and the code, and how
// many wrong codes end it.
const (
	pendingTTL      = 5 * time.Minute
	pendingFailures = 5
)

// Errors a sign-in is refused with. ErrSignIn is the same whether the
// address is an operator's or not; after ErrCode the pending sign-in may
// try again, after ErrStarted it has ended.
var (
	ErrSignIn  = paidup.Errorf(paidup.EUNAUTHORIZED, "That email address and password do not match. Check both and try again.")
	ErrCode    = paidup.Errorf(paidup.EUNAUTHORIZED, "That code is not right, or it has been used already. Enter the code your app shows now, or a recovery code.")
	ErrStarted = paidup.Errorf(paidup.EUNAUTHORIZED, "Please sign in again: too long passed, or too many codes were wrong, since the password was entered.")
	errSession = paidup.Errorf(paidup.EUNAUTHORIZED, "Please sign in.")
)

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// Add adds an operator, and returns what they sign in with.
func (s *Service) Add(ctx context.Context, email string) (Setup, error) {
	return s.credentials(ctx, email, s.Store.AddOperator)
}

// Reset gives an operator a new password, TOTP secret and recovery codes,
// and ends their sessions: for a lost phone, or a password that leaked.
func (s *Service) Reset(ctx context.Context, email string) (Setup, error) {
	return s.credentials(ctx, email, s.Store.ResetOperator)
}

func (s *Service) credentials(ctx context.Context, email string,
	save func(context.Context, string, store.OperatorCredentials, time.Time) (paidup.Operator, error)) (Setup, error) {
	email, err := paidup.NormaliseEmail(email)
	if err != nil {
		return Setup{}, err
	}
	var setup Setup
	setup.TOTPSecret, setup.TOTPURI, err = newTOTP(cmp.Or(s.Issuer, "paidup"), email)
	if err != nil {
		return Setup{}, err
	}
	setup.Password = newPassword()
	c := store.OperatorCredentials{PasswordHash: hashPassword(setup.Password), TOTPSecret: setup.TOTPSecret}
	for range recoveryCodes {
		code := groups(randomText(10), 5)
		setup.RecoveryCodes = append(setup.RecoveryCodes, code)
		c.RecoveryCodeHashes = append(c.RecoveryCodeHashes, codeHash(code))
	}
	setup.Operator, err = save(ctx, email, c, s.now())
	return setup, err
}

// Remove removes an operator: their sessions end, and they cannot sign
// in again.
func (s *Service) Remove(ctx context.Context, email string) error {
	email, err := paidup.NormaliseEmail(email)
	if err != nil {
		return err
	}
	return s.Store.RemoveOperator(ctx, email)
}

// List lists the operators.
func (s *Service) List(ctx context.Context) ([]paidup.Operator, error) {
	return s.Store.Operators(ctx)
}

// CheckPassword is a sign-in's first step. With the right email address
// and password it returns a pending token, which the second factor
// (SecondFactor) needs within a few minutes; anything else is refused
// with the same error after the same work.
func (s *Service) CheckPassword(ctx context.Context, email, password string) (pending string, err error) {
	email, err = paidup.NormaliseEmail(email)
	if err != nil {
		checkPassword(decoyHash(), password)
		return "", ErrSignIn
	}
	op, hash, _, err := s.Store.OperatorSignIn(ctx, email)
	if paidup.ErrorCode(err) == paidup.ENOTFOUND {
		checkPassword(decoyHash(), password)
		return "", ErrSignIn
	}
	if err != nil {
		return "", err
	}
	ok, err := checkPassword(hash, password)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", ErrSignIn
	}
	pending = newToken()
	now := s.now()
	if err := s.Store.EndExpiredOperatorSessions(ctx, now); err != nil {
		return "", err
	}
	if err := s.Store.OpenOperatorSession(ctx, pending, op.ID, store.StagePassword, now, now.Add(pendingTTL)); err != nil {
		return "", err
	}
	return pending, nil
}

// SecondFactor is a sign-in's second step: a pending token and a TOTP
// code, or one of the operator's recovery codes. It ends the pending
// token and returns a new session's token. A TOTP code is good once: a
// code of the time step last accepted, or of an earlier one, is refused.
// After a few wrong codes the pending sign-in ends (ErrStarted).
func (s *Service) SecondFactor(ctx context.Context, pending, code string) (session string, op paidup.Operator, err error) {
	now := s.now()
	sess, err := s.Store.OperatorSession(ctx, pending)
	if err != nil || sess.Stage != store.StagePassword || !now.Before(sess.ExpiresAt) || sess.Failures >= pendingFailures {
		return "", op, ErrStarted
	}
	op = sess.Operator
	ok, err := s.secondFactor(ctx, op.ID, code, now)
	if err != nil {
		return "", op, err
	}
	if !ok {
		if n, err := s.Store.FailOperatorSession(ctx, pending); err != nil {
			return "", op, err
		} else if n >= pendingFailures {
			s.Store.EndOperatorSession(ctx, pending)
			return "", op, ErrStarted
		}
		return "", op, ErrCode
	}
	// A pending token that was seen (in a form) never becomes the
	// session's.
	if ended, err := s.Store.EndOperatorSession(ctx, pending); err != nil {
		return "", op, err
	} else if !ended {
		return "", op, ErrStarted
	}
	session = newToken()
	if err := s.Store.OpenOperatorSession(ctx, session, op.ID, store.StageSignedIn, now, now.Add(s.Lifetime)); err != nil {
		return "", op, err
	}
	return session, op, nil
}

func (s *Service) secondFactor(ctx context.Context, operatorID, code string, now time.Time) (bool, error) {
	code = strings.ToLower(strings.Join(strings.Fields(code), ""))
	if len(code) == totpOpts.Digits.Length() && strings.Trim(code, "0123456789") == "" {
		secret, err := s.Store.OperatorTOTP(ctx, operatorID)
		if err != nil {
			return false, err
		}
		step, ok := totpStep(secret, code, now)
		if !ok {
			return false, nil
		}
		return s.Store.AcceptTOTPStep(ctx, operatorID, step)
	}
	return s.Store.UseRecoveryCode(ctx, operatorID, codeHash(code), now)
}

// Session is the operator a session's token signs in, while the session
// lasts: until its lifetime is over, and while it is used at least once
// an idle timeout.
func (s *Service) Session(ctx context.Context, token string) (paidup.Operator, error) {
	if token == "" {
		return paidup.Operator{}, errSession
	}
	sess, err := s.Store.OperatorSession(ctx, token)
	if paidup.ErrorCode(err) == paidup.EUNAUTHORIZED {
		return paidup.Operator{}, errSession
	}
	if err != nil {
		return paidup.Operator{}, err
	}
	now := s.now()
	if sess.Stage != store.StageSignedIn || !now.Before(sess.ExpiresAt) || !now.Before(sess.SeenAt.Add(s.IdleTimeout)) {
		return paidup.Operator{}, errSession
	}
	// Written at most once a minute: every page reads the session.
	if now.Sub(sess.SeenAt) >= time.Minute {
		if err := s.Store.SeeOperatorSession(ctx, token, now); err != nil {
			return paidup.Operator{}, err
		}
	}
	return sess.Operator, nil
}

// SignOut ends a session.
func (s *Service) SignOut(ctx context.Context, token string) error {
	_, err := s.Store.EndOperatorSession(ctx, token)
	return err
}

// SignOutEverywhere ends every session of an operator's.
func (s *Service) SignOutEverywhere(ctx context.Context, operatorID string) error {
	return s.Store.EndOperatorSessions(ctx, operatorID)
}

// codeHash is how a recovery code is stored: its SHA-256, enough for a
// random code of 50 bits, which no one guesses from its hash.
func codeHash(code string) string {
	code = strings.ToLower(strings.ReplaceAll(strings.Join(strings.Fields(code), ""), "-", ""))
	h := sha256.Sum256([]byte(code))
	return hex.EncodeToString(h[:])
}

func newToken() string { return rand.Text() }
