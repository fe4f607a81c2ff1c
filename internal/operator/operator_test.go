package operator_test

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/operator"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

type testBundle struct {
	svc *operator.Service
	mu  sync.Mutex
	now time.Time
}

func (b *testBundle) advance(d time.Duration) {
	b.mu.Lock()
	b.now = b.now.Add(d)
	b.mu.Unlock()
}

func (b *testBundle) clock() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.now
}

func setup(t *testing.T, engine sqldb.Engine) *testBundle {
	t.Helper()
	ctx := context.Background()
	db := sqldbtest.Open(t, engine)
	_, err := db.Migrate(ctx, store.Migrations)
	require.NoError(t, err)
	_, err = queue.Migrate(ctx, db)
	require.NoError(t, err)
	b := &testBundle{now: time.Date(2026, 12, 4, 9, 0, 10, 0, time.UTC)}
	st, err := store.New(db, b.clock)
	require.NoError(t, err)
	b.svc = &operator.Service{Store: st, Issuer: "Example Co", IdleTimeout: time.Hour, Lifetime: 12 * time.Hour, Now: b.clock}
	return b
}

// code is the TOTP code for secret at t, as the operator's phone shows it.
func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, at)
	require.NoError(t, err)
	return c
}

func TestAddAndSignIn(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		setup, err := b.svc.Add(ctx, "Ada@Example.com")
		require.NoError(t, err)
		require.Equal(t, "ada@example.com", setup.Operator.Email)
		require.Len(t, setup.RecoveryCodes, 10)
		u, err := url.Parse(setup.TOTPURI)
		require.NoError(t, err)
		require.Equal(t, "otpauth", u.Scheme)
		require.Equal(t, setup.TOTPSecret, u.Query().Get("secret"))
		require.Equal(t, "Example Co", u.Query().Get("issuer"))

		_, err = b.svc.Add(ctx, "ada@example.com")
		require.Equal(t, paidup.ECONFLICT, paidup.ErrorCode(err), "an operator is added once")

		pending, err := b.svc.CheckPassword(ctx, "ADA@example.com", setup.Password)
		require.NoError(t, err)
		_, err = b.svc.Session(ctx, pending)
		require.Error(t, err, "a password alone does not open the console")

		session, op, err := b.svc.SecondFactor(ctx, pending, code(t, setup.TOTPSecret, b.clock()))
		require.NoError(t, err)
		require.Equal(t, setup.Operator.ID, op.ID)
		got, err := b.svc.Session(ctx, session)
		require.NoError(t, err)
		require.Equal(t, "ada@example.com", got.Email)
		_, _, err = b.svc.SecondFactor(ctx, pending, code(t, setup.TOTPSecret, b.clock()))
		require.Error(t, err, "a pending sign-in is spent by its second factor")

		ops, err := b.svc.List(ctx)
		require.NoError(t, err)
		require.Len(t, ops, 1)
		require.Equal(t, 10, ops[0].RecoveryCodes)
	})
}

// A wrong password and an unknown address are refused alike.
func TestSignInRefusals(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		setup, err := b.svc.Add(ctx, "ada@example.com")
		require.NoError(t, err)
		_, wrong := b.svc.CheckPassword(ctx, "ada@example.com", setup.Password+"x")
		_, unknown := b.svc.CheckPassword(ctx, "bob@example.com", setup.Password)
		_, malformed := b.svc.CheckPassword(ctx, "not an address", setup.Password)
		_, empty := b.svc.CheckPassword(ctx, "ada@example.com", "")
		require.Error(t, wrong)
		require.Equal(t, wrong, unknown)
		require.Equal(t, wrong, malformed)
		require.Equal(t, wrong, empty)
	})
}

// A TOTP code is good once: the same code, or one of an earlier step, is
// refused after it was accepted, even within its 30 seconds.
func TestTOTPReuseRefused(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		setup, err := b.svc.Add(ctx, "ada@example.com")
		require.NoError(t, err)
		signIn := func(c string) error {
			pending, err := b.svc.CheckPassword(ctx, "ada@example.com", setup.Password)
			require.NoError(t, err)
			_, _, err = b.svc.SecondFactor(ctx, pending, c)
			return err
		}
		now := code(t, setup.TOTPSecret, b.clock())
		earlier := code(t, setup.TOTPSecret, b.clock().Add(-30*time.Second))
		require.NoError(t, signIn(now))
		b.advance(5 * time.Second)
		require.Error(t, signIn(now), "the same code again")
		require.Error(t, signIn(earlier), "a code of the step before")
		require.Error(t, signIn("000000"), "a wrong code")
		b.advance(30 * time.Second)
		require.NoError(t, signIn(code(t, setup.TOTPSecret, b.clock())), "the next step's code")
		b.advance(10 * time.Minute)
		require.Error(t, signIn(now), "an old code")
	})
}

// A recovery code works once, typed in any case and with any spacing.
func TestRecoveryCodeOnce(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		setup, err := b.svc.Add(ctx, "ada@example.com")
		require.NoError(t, err)
		signIn := func(c string) error {
			pending, err := b.svc.CheckPassword(ctx, "ada@example.com", setup.Password)
			require.NoError(t, err)
			_, _, err = b.svc.SecondFactor(ctx, pending, c)
			return err
		}
		rc := setup.RecoveryCodes[3]
		require.NoError(t, signIn(" "+strings.ToUpper(rc)+" "))
		require.Error(t, signIn(rc), "spent")
		require.NoError(t, signIn(strings.ReplaceAll(setup.RecoveryCodes[4], "-", "")))
		ops, err := b.svc.List(ctx)
		require.NoError(t, err)
		require.Equal(t, 8, ops[0].RecoveryCodes)
	})
}

// Five wrong codes end a pending sign-in; so does waiting too long.
func TestPendingSignInEnds(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		setup, err := b.svc.Add(ctx, "ada@example.com")
		require.NoError(t, err)
		pending, err := b.svc.CheckPassword(ctx, "ada@example.com", setup.Password)
		require.NoError(t, err)
		for range 5 {
			_, _, err = b.svc.SecondFactor(ctx, pending, "123456")
			require.Error(t, err)
		}
		_, _, err = b.svc.SecondFactor(ctx, pending, code(t, setup.TOTPSecret, b.clock()))
		require.ErrorContains(t, err, "sign in again")

		pending, err = b.svc.CheckPassword(ctx, "ada@example.com", setup.Password)
		require.NoError(t, err)
		b.advance(6 * time.Minute)
		_, _, err = b.svc.SecondFactor(ctx, pending, code(t, setup.TOTPSecret, b.clock()))
		require.ErrorContains(t, err, "sign in again")
	})
}

// Sessions end when idle too long, when their lifetime is over, when
// signed out, everywhere, and when the operator is reset or removed.
func TestSessionsEnd(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		setup, err := b.svc.Add(ctx, "ada@example.com")
		require.NoError(t, err)
		signIn := func() string {
			b.advance(30 * time.Second) // a fresh TOTP step for each
			pending, err := b.svc.CheckPassword(ctx, "ada@example.com", setup.Password)
			require.NoError(t, err)
			s, _, err := b.svc.SecondFactor(ctx, pending, code(t, setup.TOTPSecret, b.clock()))
			require.NoError(t, err)
			return s
		}
		alive := func(s string) bool { _, err := b.svc.Session(ctx, s); return err == nil }

		idle := signIn()
		b.advance(59 * time.Minute)
		require.True(t, alive(idle))
		b.advance(59 * time.Minute)
		require.True(t, alive(idle), "used within the idle timeout")
		b.advance(61 * time.Minute)
		require.False(t, alive(idle), "idle too long")

		long := signIn()
		for range 15 {
			b.advance(50 * time.Minute)
			alive(long)
		}
		require.False(t, alive(long), "past its lifetime however used")

		one, two := signIn(), signIn()
		require.NoError(t, b.svc.SignOut(ctx, one))
		require.False(t, alive(one))
		require.True(t, alive(two))
		three := signIn()
		require.NoError(t, b.svc.SignOutEverywhere(ctx, setup.Operator.ID))
		require.False(t, alive(two))
		require.False(t, alive(three))

		four := signIn()
		reset, err := b.svc.Reset(ctx, "ada@example.com")
		require.NoError(t, err)
		require.False(t, alive(four), "a reset ends the sessions")
		_, err = b.svc.CheckPassword(ctx, "ada@example.com", setup.Password)
		require.Error(t, err, "the old password is gone")
		pending, err := b.svc.CheckPassword(ctx, "ada@example.com", reset.Password)
		require.NoError(t, err)
		_, _, err = b.svc.SecondFactor(ctx, pending, setup.RecoveryCodes[0])
		require.Error(t, err, "the old recovery codes are gone")
		five, _, err := b.svc.SecondFactor(ctx, pending, code(t, reset.TOTPSecret, b.clock()))
		require.NoError(t, err, "the reset TOTP secret starts afresh")
		require.True(t, alive(five))

		require.NoError(t, b.svc.Remove(ctx, "ada@example.com"))
		require.False(t, alive(five))
		require.Equal(t, paidup.ENOTFOUND, paidup.ErrorCode(b.svc.Remove(ctx, "ada@example.com")))
		_, err = b.svc.Reset(ctx, "ada@example.com")
		require.Equal(t, paidup.ENOTFOUND, paidup.ErrorCode(err))
	})
}

// The same code sent twice at once signs in once.
func TestTOTPRaceSignsInOnce(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		setup, err := b.svc.Add(ctx, "ada@example.com")
		require.NoError(t, err)
		c := code(t, setup.TOTPSecret, b.clock())
		var pendings [4]string
		for i := range pendings {
			pendings[i], err = b.svc.CheckPassword(ctx, "ada@example.com", setup.Password)
			require.NoError(t, err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for _, p := range pendings {
			wg.Go(func() {
				if _, _, err := b.svc.SecondFactor(ctx, p, c); err == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		require.Equal(t, 1, ok)
	})
}
