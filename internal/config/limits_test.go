package config_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/config"
	"github.com/paidup/paidup/internal/limit"
)

// The limits are on by default, with a processor budget only when paidup
// talks to Stripe itself: four fifths of Stripe's limit for the key's mode.
func TestLimitsDefaults(t *testing.T) {
	c, err := config.Load("", config.Overrides{})
	require.NoError(t, err)
	l := c.Limits
	require.True(t, l.On())
	require.Equal(t, 100_000, l.MaxClients)
	require.Equal(t, config.Rate{PerMinute: 10, Burst: 5}, l.Checkout)
	require.Equal(t, config.Rate{PerMinute: 60, Burst: 30}, l.Status)
	require.Zero(t, *l.Processor.ReadsPerSecond, "the sandbox has no budget unless configured")
	require.Zero(t, *l.Processor.WritesPerSecond)
	require.Equal(t, time.Second, l.Processor.CustomerWait.D())
	require.Empty(t, c.Server.Proxies)

	stripe := func(key, extra string) config.Limits {
		t.Helper()
		c, err := config.Parse("t.yaml", []byte(replacePlanBlock(`processor:
  kind: stripe
  stripe:
    secret_key: `+key+`
    webhook_secrets: [whsec_x]
`+extra+`smtp:
  url: smtp://127.0.0.1:1025
`)), config.Overrides{})
		require.NoError(t, err)
		return c.Limits
	}
	for key, want := range map[string]float64{"sk_live_x": 80, "rk_live_x": 80, "sk_test_x": 20, "rk_test_x": 20} {
		b := stripe(key, "").Processor
		require.Equal(t, want, *b.ReadsPerSecond, key)
		require.Equal(t, want, *b.WritesPerSecond, key)
	}
	b := stripe("sk_live_x", "    api_url: http://127.0.0.1:8081\n").Processor
	require.Zero(t, *b.ReadsPerSecond, "another API than Stripe's has no budget unless configured")
	b = stripe("sk_live_x", "limits:\n  processor:\n    reads_per_second: 0\n    writes_per_second: 7.5\n").Processor
	require.Zero(t, *b.ReadsPerSecond, "0 turns the budget off")
	require.Equal(t, 7.5, *b.WritesPerSecond)
}

// The limits can be turned off, and trusted proxies are read as addresses
// or prefixes.
func TestLimitsConfigured(t *testing.T) {
	c, err := config.Parse("t.yaml", []byte(replacePlanBlock(`server:
  trusted_proxies: [10.0.0.0/8, 192.0.2.1, "2001:db8::/32", "::ffff:198.51.100.0/120"]
limits:
  enabled: false
  checkout: {per_minute: 2}
`)), config.Overrides{})
	require.NoError(t, err)
	require.False(t, c.Limits.On())
	require.Equal(t, config.Rate{PerMinute: 2, Burst: 5}, c.Limits.Checkout, "an unset burst keeps its default")
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32"),
		netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("198.51.100.0/24")}, c.Server.Proxies)
}

// A bad limits section is refused with the file, the line and the reason
// of every problem.
func TestBadLimitsAreRefused(t *testing.T) {
	doc := replacePlanBlock(`server:
  trusted_proxies: [10.0.0.0/33, proxy.example.com, 10.0.0.1]
limits:
  max_clients: 10
  alert_after: -1
  checkout:
    per_minute: -5
    burst: -1
  status: {per_minute: -1, burst: 3}
  processor:
    reads_per_second: -1
    customer_wait: 1m
`)
	_, err := config.Parse("paidup.yaml", []byte(doc), config.Overrides{})
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		`paidup.yaml:2: server.trusted_proxies[0]: "10.0.0.0/33" is not an address or a CIDR prefix`,
		`paidup.yaml:2: server.trusted_proxies[1]: "proxy.example.com" is not an address or a CIDR prefix`,
		"paidup.yaml:4: limits.max_clients: want at least 100",
		"paidup.yaml:5: limits.alert_after: want at least 1",
		"paidup.yaml:7: limits.checkout.per_minute: want at least 1",
		"paidup.yaml:8: limits.checkout.burst: want at least 1",
		"paidup.yaml:9: limits.status.per_minute: want at least 1",
		"paidup.yaml:11: limits.processor.reads_per_second: must not be negative",
		"paidup.yaml:12: limits.processor.customer_wait: want a duration from 0s to 20s",
	} {
		require.Contains(t, msg, want, "in:\n%s", msg)
	}
	require.Len(t, strings.Split(msg, "\n"), 9, "every problem once:\n%s", msg)

	_, err = config.Parse("paidup.yaml", []byte(replacePlanBlock("limits:\n  checkout: {per_minute: lots}\n")), config.Overrides{})
	require.ErrorContains(t, err, `paidup.yaml:2: "lots": want a whole number`)
	_, err = config.Parse("paidup.yaml", []byte(replacePlanBlock("limits:\n  chekout: {per_minute: 1}\n")), config.Overrides{})
	require.ErrorContains(t, err, `paidup.yaml:2: unknown key "chekout"`)
}

// The default status limit leaves alone a customer's status page
// refreshing itself every 3 s — even three of them at once, for half an
// hour — while guessing at full speed is refused within a second.
func TestDefaultStatusLimitLeavesRefreshingPagesAlone(t *testing.T) {
	c, err := config.Load("", config.Overrides{})
	require.NoError(t, err)
	rule := limit.Rule{PerMinute: float64(c.Limits.Status.PerMinute), Burst: c.Limits.Status.Burst}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clients := limit.NewClients(rule, c.Limits.MaxClients, func() time.Time { return now })
	customer := netip.MustParseAddr("198.51.100.7")
	for tick := range 30 * 60 / 3 {
		for tab := range 3 {
			ok, _ := clients.Allow(customer)
			require.True(t, ok, "refresh %d of tab %d", tick, tab)
		}
		now = now.Add(3 * time.Second)
	}
	guesser := netip.MustParseAddr("203.0.113.9")
	refused := 0
	for range 100 {
		if ok, _ := clients.Allow(guesser); !ok {
			refused++
		}
		now = now.Add(10 * time.Millisecond)
	}
	require.GreaterOrEqual(t, refused, 65, "of 100 guesses in a second, at most the burst and a second's refill pass")
}
