package discord_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/discord"
	"github.com/paidup/paidup/internal/discord/discordtest"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

const (
	guild  = "111111111111111111"
	user   = "222222222222222222"
	pro    = "333333333333333333"
	admin  = "444444444444444444"
	token  = "bot-token"
	reason = "paidup: Pro from PU-7K3M-Q9XD"
)

func setup(t *testing.T) (*discordtest.Server, *discord.Client, *clock) {
	t.Helper()
	c := &clock{now: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	fake := discordtest.Start(t, token, c.Now)
	fake.Guild(guild, 10, map[string]int{pro: 5, admin: 20})
	fake.Join(guild, user)
	return fake, discord.New(discord.Config{Token: token, URL: fake.URL, Now: c.Now}), c
}

func waitFor(t *testing.T, err error, why string) time.Duration {
	t.Helper()
	var w *discord.Wait
	require.ErrorAs(t, err, &w)
	require.Equal(t, why, w.Why)
	return w.After
}

// Roles are added and removed idempotently, and read back one member at
// a time.
func TestRoles(t *testing.T) {
	fake, c, _ := setup(t)
	ctx := context.Background()
	require.NoError(t, c.AddRole(ctx, guild, user, pro, reason))
	require.NoError(t, c.AddRole(ctx, guild, user, pro, reason))
	require.Equal(t, []string{pro}, fake.Roles(guild, user))
	m, err := c.Member(ctx, guild, user)
	require.NoError(t, err)
	require.Equal(t, discord.Member{UserID: user, Roles: []string{pro}}, m)
	require.NoError(t, c.RemoveRole(ctx, guild, user, pro, reason))
	require.NoError(t, c.RemoveRole(ctx, guild, user, pro, reason))
	require.Empty(t, fake.Roles(guild, user))
}

// A bucket Discord named is obeyed before a request is sent: the request
// that would be refused answers how long to wait, and is never sent.
func TestBucketIsObeyed(t *testing.T) {
	fake, c, clk := setup(t)
	ctx := context.Background()
	fake.Limit(2, 5*time.Second)
	require.NoError(t, c.AddRole(ctx, guild, user, pro, reason))
	require.NoError(t, c.RemoveRole(ctx, guild, user, pro, reason)) // another route, its own bucket
	require.NoError(t, c.AddRole(ctx, guild, user, pro, reason))
	sent := fake.Requests()
	after := waitFor(t, c.AddRole(ctx, guild, user, pro, reason), "bucket")
	require.InDelta(t, 5*time.Second, after, float64(time.Millisecond))
	require.Equal(t, sent, fake.Requests(), "not sent")
	require.Zero(t, fake.Answers(429))
	clk.Advance(after)
	require.NoError(t, c.AddRole(ctx, guild, user, pro, reason))
}

// A 429 turns into a wait of Discord's retry_after, counted as an
// invalid request; until then the bucket is not asked again.
func TestTooManyRequests(t *testing.T) {
	fake, c, clk := setup(t)
	ctx := context.Background()
	fake.Limit(1, 5*time.Second)
	other := discord.New(discord.Config{Token: token, URL: fake.URL, Now: clk.Now}) // another instance, sharing the limit
	require.NoError(t, other.AddRole(ctx, guild, user, pro, reason))
	clk.Advance(time.Second)
	after := waitFor(t, c.AddRole(ctx, guild, user, pro, reason), "bucket")
	require.InDelta(t, 4*time.Second, after, float64(time.Millisecond))
	require.Equal(t, 1, c.InvalidRequests())
	sent := fake.Requests()
	waitFor(t, c.AddRole(ctx, guild, user, pro, reason), "bucket")
	require.Equal(t, sent, fake.Requests(), "not asked again before the reset")
	clk.Advance(after)
	require.NoError(t, c.AddRole(ctx, guild, user, pro, reason))
	clk.Advance(discord.InvalidWindow)
	require.Zero(t, c.InvalidRequests(), "forgotten after ten minutes")
}

// A global 429 holds every route and guild, without sending.
func TestGlobalLimit(t *testing.T) {
	fake, c, clk := setup(t)
	ctx := context.Background()
	fake.GlobalLimit(3 * time.Second)
	require.InDelta(t, 3*time.Second, waitFor(t, c.AddRole(ctx, guild, user, pro, reason), "global"), float64(time.Millisecond))
	sent := fake.Requests()
	_, err := c.Member(ctx, "999999999999999999", user)
	waitFor(t, err, "global")
	require.Equal(t, sent, fake.Requests())
	clk.Advance(3 * time.Second)
	require.NoError(t, c.AddRole(ctx, guild, user, pro, reason))
}

// The client's own rate keeps it under Discord's global limit.
func TestGlobalRate(t *testing.T) {
	fake, _, clk := setup(t)
	ctx := context.Background()
	fake.Limit(100, time.Second)
	c := discord.New(discord.Config{Token: token, URL: fake.URL, Now: clk.Now, Rate: 3})
	for range 3 {
		_, err := c.Member(ctx, guild, user)
		require.NoError(t, err)
	}
	_, err := c.Member(ctx, guild, user)
	require.InDelta(t, time.Second, waitFor(t, err, "rate"), float64(time.Millisecond))
	require.Equal(t, 3, fake.Requests())
	clk.Advance(time.Second)
	_, err = c.Member(ctx, guild, user)
	require.NoError(t, err)
}

// A refused token stops every call; a role above the bot's, a member who
// left and a role that does not exist are named; an outage is worth
// trying again.
func TestRefusals(t *testing.T) {
	fake, c, clk := setup(t)
	ctx := context.Background()
	require.ErrorIs(t, c.AddRole(ctx, guild, user, admin, reason), discord.ErrMissingPermissions)
	require.Equal(t, 1, c.InvalidRequests())
	fake.Leave(guild, user)
	require.ErrorIs(t, c.AddRole(ctx, guild, user, pro, reason), discord.ErrUnknownMember)
	fake.Join(guild, user)
	require.ErrorIs(t, c.AddRole(ctx, guild, user, "555555555555555555", reason), discord.ErrUnknownRole)

	fake.Down()
	err := c.AddRole(ctx, guild, user, pro, reason)
	var de *discord.Error
	require.ErrorAs(t, err, &de)
	require.True(t, de.Temporary())
	fake.Up()

	wrong := discord.New(discord.Config{Token: "stale", URL: fake.URL, Now: clk.Now})
	require.ErrorIs(t, wrong.AddRole(ctx, guild, user, pro, reason), discord.ErrUnauthorized)
	sent := fake.Requests()
	_, err = wrong.Member(ctx, guild, user)
	require.ErrorIs(t, err, discord.ErrUnauthorized)
	require.Equal(t, sent, fake.Requests(), "halted: nothing more is sent")
}

// However a caller insists, the client stops at a tenth of the invalid
// requests Discord bans for, until the window lets them go.
func TestInvalidRequestsStayFarBelowTheBan(t *testing.T) {
	fake, c, clk := setup(t)
	ctx := context.Background()
	fake.Limit(100000, time.Hour)
	var stopped error
	for i := range 2 * discord.InvalidLimit {
		if i%40 == 39 {
			clk.Advance(time.Second) // under the client's own rate
		}
		if err := c.AddRole(ctx, guild, user, admin, reason); !errors.Is(err, discord.ErrMissingPermissions) {
			stopped = err
			break
		}
	}
	waitFor(t, stopped, "invalid")
	require.Equal(t, discord.InvalidLimit, fake.Answers(403))
	require.Equal(t, discord.InvalidLimit, c.InvalidRequests())
}
