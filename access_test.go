package paidup_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
)

func TestAccessAt(t *testing.T) {
	t.Parallel()
	policy := &paidup.Policy{Tiers: []paidup.Tier{
		{ID: "member", Name: "Member", Rank: 10},
		{ID: "pro", Name: "Pro", Rank: 20},
		{ID: "staff", Name: "Staff", Rank: -5}, // a known tier may rank below zero
	}}
	now := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	at := func(d time.Duration) time.Time { return now.Add(d) }
	grant := func(tier string, start, end time.Duration) paidup.Grant {
		return paidup.Grant{Tier: tier, Start: at(start), End: at(end)}
	}
	permanent := func(tier string, start time.Duration) paidup.Grant {
		return paidup.Grant{Tier: tier, Start: at(start)}
	}
	revoked := func(g paidup.Grant, when time.Duration) paidup.Grant {
		g.Revoked, g.RevokeReason = at(when), "payment refunded"
		return g
	}
	block := func(created time.Duration) paidup.Block {
		return paidup.Block{Source: paidup.BlockDispute, Reason: "chargeback", CreatedAt: at(created)}
	}
	lifted := func(b paidup.Block, when time.Duration) paidup.Block {
		b.Lifted, b.LiftedBy, b.LiftReason = at(when), "staff@example.com", "resolved"
		return b
	}

	tests := []struct {
		name   string
		grants []paidup.Grant
		blocks []paidup.Block
		want   paidup.Access
	}{
		{name: "no grants", want: paidup.Access{}},
		{
			name:   "one dated grant",
			grants: []paidup.Grant{grant("pro", -day, 30*day)},
			want:   paidup.Access{Active: true, Tier: "pro", Until: at(30 * day)},
		},
		{
			name:   "one permanent grant",
			grants: []paidup.Grant{permanent("member", -day)},
			want:   paidup.Access{Active: true, Tier: "member"},
		},
		{
			name:   "highest tier wins, whatever the order",
			grants: []paidup.Grant{grant("pro", -day, 10*day), permanent("member", -day)},
			want:   paidup.Access{Active: true, Tier: "pro", Until: at(10 * day)},
		},
		{
			name:   "highest tier wins, reversed order",
			grants: []paidup.Grant{permanent("member", -day), grant("pro", -day, 10*day)},
			want:   paidup.Access{Active: true, Tier: "pro", Until: at(10 * day)},
		},
		{
			name:   "a grant starting exactly now is active",
			grants: []paidup.Grant{grant("pro", 0, day)},
			want:   paidup.Access{Active: true, Tier: "pro", Until: at(day)},
		},
		{
			name:   "a grant ending exactly now is over",
			grants: []paidup.Grant{grant("pro", -day, 0), permanent("member", -day)},
			want:   paidup.Access{Active: true, Tier: "member"},
		},
		{
			name:   "expired grant",
			grants: []paidup.Grant{grant("pro", -30*day, -day)},
			want:   paidup.Access{},
		},
		{
			name:   "future grant",
			grants: []paidup.Grant{grant("pro", day, 30*day)},
			want:   paidup.Access{},
		},
		{
			name:   "a future higher grant does not lift the tier yet",
			grants: []paidup.Grant{grant("pro", day, 30*day), grant("member", -day, 5*day)},
			want:   paidup.Access{Active: true, Tier: "member", Until: at(5 * day)},
		},
		{
			name:   "revoked grant",
			grants: []paidup.Grant{revoked(permanent("pro", -day), -time.Hour), grant("member", -day, 3*day)},
			want:   paidup.Access{Active: true, Tier: "member", Until: at(3 * day)},
		},
		{
			name:   "revoked exactly now",
			grants: []paidup.Grant{revoked(permanent("pro", -day), 0)},
			want:   paidup.Access{},
		},
		{
			name:   "revocation scheduled later ends the tier then",
			grants: []paidup.Grant{revoked(permanent("pro", -day), 2*day)},
			want:   paidup.Access{Active: true, Tier: "pro", Until: at(2 * day)},
		},
		{
			name:   "revocation after the end changes nothing",
			grants: []paidup.Grant{revoked(grant("pro", -day, 2*day), 5*day)},
			want:   paidup.Access{Active: true, Tier: "pro", Until: at(2 * day)},
		},
		{
			name:   "until is the longest active grant of the winning tier",
			grants: []paidup.Grant{grant("pro", -day, 10*day), grant("pro", -2*day, 40*day), grant("pro", -3*day, 20*day), permanent("member", -day)},
			want:   paidup.Access{Active: true, Tier: "pro", Until: at(40 * day)},
		},
		{
			name:   "an expired longer grant of the tier does not count",
			grants: []paidup.Grant{grant("pro", -400*day, -day), grant("pro", -day, 10*day)},
			want:   paidup.Access{Active: true, Tier: "pro", Until: at(10 * day)},
		},
		{
			name:   "a future longer grant of the tier does not count",
			grants: []paidup.Grant{grant("pro", -day, 10*day), grant("pro", 5*day, 400*day)},
			want:   paidup.Access{Active: true, Tier: "pro", Until: at(10 * day)},
		},
		{
			name:   "a permanent grant of the winning tier makes it permanent",
			grants: []paidup.Grant{grant("pro", -day, 10*day), permanent("pro", -day), grant("pro", -day, 20*day)},
			want:   paidup.Access{Active: true, Tier: "pro"},
		},
		{
			name:   "grants of other tiers do not stretch the winner",
			grants: []paidup.Grant{grant("pro", -day, 10*day), grant("member", -day, 90*day)},
			want:   paidup.Access{Active: true, Tier: "pro", Until: at(10 * day)},
		},
		{
			name:   "an unknown tier ranks below every known tier",
			grants: []paidup.Grant{permanent("retired-tier", -day), grant("staff", -day, day)},
			want:   paidup.Access{Active: true, Tier: "staff", Until: at(day)},
		},
		{
			name:   "an unknown tier still gives access when it is all there is",
			grants: []paidup.Grant{grant("retired-tier", -day, 3*day)},
			want:   paidup.Access{Active: true, Tier: "retired-tier", Until: at(3 * day)},
		},
		{
			name:   "between unknown tiers the longer one wins",
			grants: []paidup.Grant{grant("old-a", -day, 3*day), permanent("old-b", -day)},
			want:   paidup.Access{Active: true, Tier: "old-b"},
		},
		{
			name:   "an active block overrides every grant",
			grants: []paidup.Grant{permanent("pro", -day), grant("member", -day, day)},
			blocks: []paidup.Block{block(-time.Hour)},
			want:   paidup.Access{Blocked: true},
		},
		{
			name:   "a block starting exactly now holds",
			grants: []paidup.Grant{permanent("pro", -day)},
			blocks: []paidup.Block{block(0)},
			want:   paidup.Access{Blocked: true},
		},
		{
			name:   "an active block with no grants",
			blocks: []paidup.Block{block(-time.Hour)},
			want:   paidup.Access{Blocked: true},
		},
		{
			name:   "a lifted block does not hold",
			grants: []paidup.Grant{permanent("pro", -day)},
			blocks: []paidup.Block{lifted(block(-2*day), -day)},
			want:   paidup.Access{Active: true, Tier: "pro"},
		},
		{
			name:   "a block lifted exactly now does not hold",
			grants: []paidup.Grant{permanent("pro", -day)},
			blocks: []paidup.Block{lifted(block(-2*day), 0)},
			want:   paidup.Access{Active: true, Tier: "pro"},
		},
		{
			name:   "a block to be lifted later still holds",
			grants: []paidup.Grant{permanent("pro", -day)},
			blocks: []paidup.Block{lifted(block(-2*day), day)},
			want:   paidup.Access{Blocked: true},
		},
		{
			name:   "a block not yet started does not hold",
			grants: []paidup.Grant{permanent("pro", -day)},
			blocks: []paidup.Block{block(time.Hour)},
			want:   paidup.Access{Active: true, Tier: "pro"},
		},
		{
			name:   "one active block among lifted ones holds",
			grants: []paidup.Grant{permanent("pro", -day)},
			blocks: []paidup.Block{lifted(block(-3*day), -2*day), block(-time.Hour), block(time.Hour)},
			want:   paidup.Access{Blocked: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := policy.AccessAt(tt.grants, tt.blocks, now)
			require.Equal(t, tt.want, got)
			if got.Blocked || !got.Active {
				require.Empty(t, got.Tier, "no tier without access")
				require.Zero(t, got.Until, "no end without access")
			}
		})
	}
}

func TestTermAddTo(t *testing.T) {
	t.Parallel()
	date := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 14, 30, 15, 500, time.UTC) }
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	tests := []struct {
		term  string
		start time.Time
		want  time.Time
	}{
		{"1m", date(2026, time.January, 31), date(2026, time.February, 28)},
		{"1m", date(2028, time.January, 31), date(2028, time.February, 29)},
		{"1m", date(2026, time.March, 31), date(2026, time.April, 30)},
		{"1m", date(2026, time.January, 30), date(2026, time.February, 28)},
		{"1m", date(2026, time.January, 15), date(2026, time.February, 15)},
		{"1m", date(2026, time.December, 31), date(2027, time.January, 31)},
		{"2m", date(2025, time.December, 31), date(2026, time.February, 28)},
		{"13m", date(2027, time.January, 31), date(2028, time.February, 29)},
		{"1y", date(2028, time.February, 29), date(2029, time.February, 28)},
		{"4y", date(2028, time.February, 29), date(2032, time.February, 29)},
		{"1y", date(2026, time.June, 1), date(2027, time.June, 1)},
		{"30d", date(2026, time.January, 31), date(2026, time.March, 2)},
		{"1d", date(2026, time.December, 31), date(2027, time.January, 1)},
		{"", date(2026, time.May, 5), date(2026, time.May, 5)},
		// The wall-clock time is kept across a daylight-saving change.
		{"1m", time.Date(2026, time.March, 15, 9, 0, 0, 0, paris), time.Date(2026, time.April, 15, 9, 0, 0, 0, paris)},
		{"1m", time.Date(2026, time.March, 31, 9, 0, 0, 0, paris), time.Date(2026, time.April, 30, 9, 0, 0, 0, paris)},
	}
	for _, tt := range tests {
		t.Run(tt.term+" from "+tt.start.Format(time.RFC3339), func(t *testing.T) {
			t.Parallel()
			term, err := paidup.ParseTerm(tt.term)
			require.NoError(t, err)
			got := term.AddTo(tt.start)
			require.True(t, tt.want.Equal(got), "want %s, got %s", tt.want, got)
			require.Equal(t, tt.start.Location(), got.Location())
		})
	}
}

func TestParseReference(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // "" when malformed
	}{
		{"PU-7K3M-Q9XD", "PU-7K3M-Q9XD"},
		{"pu-7k3m-q9xd", "PU-7K3M-Q9XD"},
		{"  PU-7K3M-Q9XD\n", "PU-7K3M-Q9XD"},
		{"PU 7K3M Q9XD", "PU-7K3M-Q9XD"},
		{"pu7k3mq9xd", "PU-7K3M-Q9XD"},
		{"7K3M-Q9XD", "PU-7K3M-Q9XD"},
		{"7k3m q9xd", "PU-7K3M-Q9XD"},
		{"PU-7K3M-Q9XDO", ""},
		{"PU-OOOO-IIII", "PU-0000-1111"},
		{"pu-oioi-lLlL", "PU-0101-1111"},
		{"PU-1O2I-3L4o", "PU-1021-3140"},
		{"PU-7K3M-Q9X", ""},        // too short
		{"PU-7K3M-Q9XDD", ""},      // too long
		{"PU-7K3M-Q9XU", ""},       // U is not in the alphabet
		{"PU-7K3M-Q9X!", ""},       // punctuation
		{"PU-7K3M-Q9XÉ", ""},       // not ASCII
		{"", ""},                   // empty
		{"PU-", ""},                // prefix only
		{"cs_test_a1b2c3d4e5", ""}, // a processor id
		{"'; DROP TABLE x;--", ""}, // hostile
		{strings.Repeat("A", 1000), ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, ok := paidup.ParseReference(tt.in)
			require.Equal(t, tt.want != "", ok, "well formed")
			require.Equal(t, tt.want, got)
		})
	}

	t.Run("new references parse to themselves", func(t *testing.T) {
		t.Parallel()
		seen := map[string]bool{}
		for range 1000 {
			ref := paidup.NewReference()
			require.Regexp(t, `^PU-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$`, ref)
			got, ok := paidup.ParseReference(strings.ToLower(ref))
			require.True(t, ok, ref)
			require.Equal(t, ref, got)
			seen[ref] = true
		}
		require.Greater(t, len(seen), 990, "references are random")
	})
}
