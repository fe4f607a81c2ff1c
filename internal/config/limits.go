package config

import (
	"net/netip"
	"strings"
	"time"
)

// Limits bounds how often one client may ask paidup for what costs it
// something, and how often paidup calls its processor.
type Limits struct {
	// Enabled turns the per-client limits on (the default) or off. The
	// processor budget applies either way.
	Enabled *bool `yaml:"enabled"`
	// MaxClients is how many client addresses each limit remembers.
	MaxClients int `yaml:"max_clients"`
	// AlertAfter refusals within ten minutes alert on-call.
	AlertAfter int `yaml:"alert_after"`

	Checkout   Rate `yaml:"checkout"`
	SignInLink Rate `yaml:"sign_in_link"`
	SignIn     Rate `yaml:"sign_in"`
	Status     Rate `yaml:"status"`
	Account    Rate `yaml:"account"`
	Help       Rate `yaml:"help"`
	// Reply is a client's answers on the reply page; ReplyLink the
	// answers through one reply's link, from any client.
	Reply           Rate `yaml:"reply"`
	ReplyLink       Rate `yaml:"reply_link"`
	APIAuthFailures Rate `yaml:"api_auth_failures"`

	Processor ProcessorBudget `yaml:"processor"`
}

// Rate is an allowance per client address: burst requests at once, then
// per_minute.
type Rate struct {
	PerMinute int `yaml:"per_minute"`
	Burst     int `yaml:"burst"`
}

// ProcessorBudget is how many processor calls a second paidup may make.
type ProcessorBudget struct {
	// ReadsPerSecond and WritesPerSecond: unset means the default for the
	// processor; 0 is no limit.
	ReadsPerSecond  *float64 `yaml:"reads_per_second"`
	WritesPerSecond *float64 `yaml:"writes_per_second"`
	// CustomerWait is how long a customer's request may wait for its turn.
	CustomerWait Duration `yaml:"customer_wait"`
}

// On reports whether the per-client limits apply.
func (l Limits) On() bool { return l.Enabled == nil || *l.Enabled }

// Stripe's API limits, per second, for reads and for writes alike.
const (
	stripeLiveLimit = 100
	stripeTestLimit = 25
)

// StripeLive reports whether a Stripe key is a live-mode key.
func StripeLive(key string) bool {
	return strings.HasPrefix(key, "sk_live_") || strings.HasPrefix(key, "rk_live_")
}

func (c *Config) applyLimitDefaults() {
	l := &c.Limits
	if l.MaxClients == 0 {
		l.MaxClients = 100_000
	}
	if l.AlertAfter == 0 {
		l.AlertAfter = 500
	}
	defaultRate(&l.Checkout, 10, 5)
	defaultRate(&l.SignInLink, 5, 5)
	defaultRate(&l.SignIn, 10, 10)
	// A status page refreshes itself every 3 s (20 a minute) while it
	// confirms: this leaves three such pages at once alone.
	defaultRate(&l.Status, 60, 30)
	defaultRate(&l.Account, 10, 10)
	defaultRate(&l.Help, 3, 3)
	defaultRate(&l.Reply, 5, 5)
	defaultRate(&l.ReplyLink, 2, 5)
	defaultRate(&l.APIAuthFailures, 10, 20)
	p := &l.Processor
	if p.ReadsPerSecond == nil || p.WritesPerSecond == nil {
		// Four fifths of Stripe's limit for the key's mode, leaving room
		// for the account's other integrations; against any other API
		// (the sandbox, a load test) none unless configured.
		budget := 0.0
		if c.Processor.Kind == KindStripe && c.Processor.Stripe.APIURL == "" {
			budget = stripeTestLimit * 4 / 5
			if StripeLive(c.Processor.Stripe.SecretKey.Reveal()) {
				budget = stripeLiveLimit * 4 / 5
			}
		}
		if p.ReadsPerSecond == nil {
			p.ReadsPerSecond = &budget
		}
		if p.WritesPerSecond == nil {
			p.WritesPerSecond = &budget
		}
	}
	if p.CustomerWait == 0 {
		p.CustomerWait = Duration(time.Second)
	}
}

func defaultRate(r *Rate, perMinute, burst int) {
	if r.PerMinute == 0 {
		r.PerMinute = perMinute
	}
	if r.Burst == 0 {
		r.Burst = burst
	}
}

func (c *Config) validateLimits(v *validator) {
	l := c.Limits
	if l.MaxClients < 100 {
		v.errorf(v.line("limits", "max_clients"), "limits.max_clients: want at least 100")
	}
	if l.AlertAfter < 1 {
		v.errorf(v.line("limits", "alert_after"), "limits.alert_after: want at least 1")
	}
	for _, r := range []struct {
		key  string
		rate Rate
	}{{"checkout", l.Checkout}, {"sign_in_link", l.SignInLink}, {"sign_in", l.SignIn}, {"status", l.Status}, {"account", l.Account}, {"help", l.Help},
		{"reply", l.Reply}, {"reply_link", l.ReplyLink}, {"api_auth_failures", l.APIAuthFailures}} {
		// At least one a minute, so that "wait a minute" is always true.
		if r.rate.PerMinute < 1 {
			v.errorf(v.line("limits", r.key, "per_minute"), "limits.%s.per_minute: want at least 1", r.key)
		}
		if r.rate.Burst < 1 {
			v.errorf(v.line("limits", r.key, "burst"), "limits.%s.burst: want at least 1", r.key)
		}
	}
	p := l.Processor
	for key, n := range map[string]float64{"reads_per_second": *p.ReadsPerSecond, "writes_per_second": *p.WritesPerSecond} {
		if n < 0 {
			v.errorf(v.line("limits", "processor", key), "limits.processor.%s: must not be negative (0 is no limit)", key)
		}
	}
	if p.CustomerWait < 0 || p.CustomerWait > Duration(20*time.Second) {
		v.errorf(v.line("limits", "processor", "customer_wait"), "limits.processor.customer_wait: want a duration from 0s to 20s")
	}
}

// validateTrustedProxies reads server.trusted_proxies: addresses or CIDR
// prefixes.
func (c *Config) validateTrustedProxies(v *validator) {
	c.Server.Proxies = nil
	for i, s := range c.Server.TrustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil || a.Zone() != "" {
				v.errorf(v.line("server", "trusted_proxies", i), "server.trusted_proxies[%d]: %q is not an address or a CIDR prefix like 10.0.0.0/8", i, s)
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(0, p.Bits()-96))
		}
		c.Server.Proxies = append(c.Server.Proxies, p.Masked())
	}
}
