package notify_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

// processorID is a processor's id, which no customer reads.
var processorID = regexp.MustCompile(`\b(re|ch|pi|in|cus|dp|cs)_[A-Za-z0-9]`)

// The refund email says, for each state the refund leaves the customer
// in, what they got back and what it means for their access, under the
// refund's own reference; and nothing that is not true in that state.
func TestRefundIssuedEmail(t *testing.T) {
	proAnnual := paidup.Plan{ID: "pro-annual", Name: "Pro, one year", Tier: "pro", PriceID: "price_pro_annual",
		Amount: paidup.Money{Amount: 24900, Currency: "usd"}, Interval: paidup.Once, Term: paidup.Term{N: 1, Unit: 'y'}}
	policy := community
	policy.Plans = append([]paidup.Plan{proAnnual}, community.Plans...)
	until := time.Date(2027, 12, 3, 12, 0, 0, 0, time.UTC)
	usd := func(n int64) paidup.Money { return paidup.Money{Amount: n, Currency: "usd"} }
	tests := []struct {
		name     string
		notice   func(n checkout.RefundNotice) checkout.RefundNotice
		subject  string
		required []string
		// forbidden sentences: each would be false in this state.
		forbidden []string
	}{
		{"duplicate purchase, refunded", func(n checkout.RefundNotice) checkout.RefundNotice {
			n.Duplicate, n.Full, n.Access = true, true, paidup.Access{Active: true, Tier: "pro", Until: until}
			return n
		}, "Refunded: your second purchase of Pro, one year",
			[]string{"You paid $249.00 for Pro, one year while you already had Pro, so that payment bought nothing new.",
				"We have refunded it in full: $249.00.", "Nothing changes for you: you keep Pro until 3 December 2027."},
			[]string{"access has ended", "on hold", "You're in"}},
		{"refunded in full, access ended", func(n checkout.RefundNotice) checkout.RefundNotice {
			n.Full, n.Ended = true, time.Date(2026, 12, 4, 9, 30, 0, 0, time.UTC)
			return n
		}, "Refund issued: $249.00 for Pro, one year",
			[]string{"We have refunded your payment of $249.00 for Pro, one year in full: $249.00.",
				"Your Pro access from this purchase ended on 4 December 2026."},
			[]string{"keep", "still have", "already had", "on hold", "bought nothing new", "never gave you access"}},
		{"refunded in full, access ended, a lower tier still held", func(n checkout.RefundNotice) checkout.RefundNotice {
			n.Full, n.Ended = true, time.Date(2026, 12, 4, 9, 30, 0, 0, time.UTC)
			n.Access = paidup.Access{Active: true, Tier: "supporter"}
			return n
		}, "Refund issued: $249.00 for Pro, one year",
			[]string{"Your Pro access from this purchase ended on 4 December 2026. You still have Supporter for good."},
			[]string{"You keep", "Nothing changes", "never gave you access"}},
		{"refunded before it granted anything", func(n checkout.RefundNotice) checkout.RefundNotice {
			n.Full, n.Ungranted = true, true
			return n
		}, "Refund issued: $249.00 for Pro, one year",
			[]string{"in full: $249.00.", "This purchase never gave you access: it was refunded before we granted it."},
			[]string{"keep", "still have", "access has ended", "ended on", "Nothing changes", "on hold"}},
		{"refunded before it granted anything, another tier held", func(n checkout.RefundNotice) checkout.RefundNotice {
			n.Full, n.Ungranted, n.Access = true, true, paidup.Access{Active: true, Tier: "supporter"}
			return n
		}, "Refund issued: $249.00 for Pro, one year",
			[]string{"This purchase never gave you access: it was refunded before we granted it. You keep Supporter for good."},
			[]string{"access has ended", "ended on"}},
		{"refunded in full, a lower tier kept for good", func(n checkout.RefundNotice) checkout.RefundNotice {
			n.Full, n.Access = true, paidup.Access{Active: true, Tier: "supporter"}
			return n
		}, "Refund issued: $249.00 for Pro, one year",
			[]string{"in full: $249.00.", "You keep Supporter for good."},
			[]string{"access has ended", "Nothing changes", "already had"}},
		{"partly refunded, access unchanged", func(n checkout.RefundNotice) checkout.RefundNotice {
			n.Refund.Amount, n.Access = usd(5000), paidup.Access{Active: true, Tier: "pro", Until: until}
			return n
		}, "Refund issued: $50.00 for Pro, one year",
			[]string{"We have refunded $50.00 of your payment of $249.00 for Pro, one year.", "You keep Pro until 3 December 2027."},
			[]string{"in full", "access has ended", "already had"}},
		{"on hold", func(n checkout.RefundNotice) checkout.RefundNotice {
			n.Full, n.Access = true, paidup.Access{Blocked: true}
			return n
		}, "Refund issued: $249.00 for Pro, one year",
			[]string{"Your access is on hold, and this refund does not change that."},
			[]string{"keep", "access has ended"}},
	}
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		customerID := b.subscriber(t)
		b.sender.Policy = &policy
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				refundID := "re_3Test" + strings.Repeat("x", i)
				n := tt.notice(checkout.RefundNotice{CustomerID: customerID, Email: "ada@example.com", Processor: "stripe",
					Refund:  paidup.Refund{ID: refundID, PaymentID: "pi_3Test", Amount: usd(24900), Status: paidup.RefundSucceeded},
					Payment: paidup.Payment{Processor: "stripe", ID: "pi_3Test", CustomerID: customerID, CheckoutReference: "PU-7K3M-Q9XD", PlanID: proAnnual.ID, Amount: usd(24900)},
					Tier:    "pro"})
				queue := func() {
					require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error { return b.outbox.QueueRefundIssued(ctx, tx, n) }))
				}
				queue()
				queue() // the same refund learnt of again: one email
				b.sendAll(t)
				inbox := b.inbox(t, "ada@example.com")
				require.Len(t, inbox, i+1, "once per refund")
				m := inbox[0]
				ref := paidup.RefundReference("stripe", refundID)
				require.Equal(t, tt.subject+" ("+ref+")", m.subject)
				require.Equal(t, notify.KindRefundIssued, m.header.Get("X-Paidup-Email"))
				for _, part := range []string{m.text, stripTags(m.html)} {
					part = strings.Join(strings.Fields(part), " ")
					for _, want := range tt.required {
						require.Contains(t, part, want)
					}
					for _, bad := range tt.forbidden {
						require.NotContains(t, part, bad)
					}
					require.Contains(t, part, "Your refund reference: "+ref)
					for _, r := range reference.FindAllString(part, -1) {
						require.Equal(t, ref, r, "one reference a person can quote, the refund's: %s", part)
					}
					require.NotRegexp(t, processorID, part, "no processor ids")
				}
				timeline, err := b.store.Timeline(ctx, "", ref)
				require.NoError(t, err)
				require.NotEmpty(t, timeline, "support finds the refund by its reference")
			})
		}
	})
}

// tag is an HTML tag; reference, a PU- reference, is hold_test.go's.
var tag = regexp.MustCompile(`<[^>]*>`)

func stripTags(html string) string { return tag.ReplaceAllString(html, "") }

// The preview of the refund email renders with sample data.
func TestRefundIssuedPreview(t *testing.T) {
	s := &notify.Sender{Policy: &community, From: "Test Community <hello@paidup.test>", Business: "Test Community",
		SupportEmail: "help@paidup.test", PublicURL: publicURL, Now: func() time.Time { return t0 }}
	m, err := s.Preview(notify.KindRefundIssued)
	require.NoError(t, err)
	require.Contains(t, m.Subject, "Refunded: your second purchase of Supporter, lifetime")
	require.Contains(t, m.Text, "Nothing changes for you: you keep Supporter for good.")
}
