package notify

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/store"
)

var processorIDs = regexp.MustCompile(`\b(in|ch|re|dp|cus|sub|pi|cs)_[A-Za-z0-9]+`)

// The emails about a customer's subscription changes (their own, and an
// ending they did not make) say what is true
// in each case, in both parts: the end date always, what they keep after,
// a grace that is not a paid period, a receipt's renewal only if it
// renews; never a processor id.
func TestSubscriptionEmailWords(t *testing.T) {
	policy := &paidup.Policy{
		Tiers: []paidup.Tier{{ID: "supporter", Name: "Supporter", Rank: 10}, {ID: "pro", Name: "Pro", Rank: 20}},
		Plans: []paidup.Plan{{ID: "pro-monthly", Name: "Pro, monthly", Tier: "pro", Amount: paidup.Money{Amount: 900, Currency: "usd"}, Interval: paidup.Monthly},
			{ID: "pro-yearly", Name: "Pro, yearly", Tier: "pro", Amount: paidup.Money{Amount: 9000, Currency: "usd"}, Interval: paidup.Yearly}},
	}
	s := &Sender{Policy: policy, From: "billing@example.com", Business: "Example", SupportEmail: "help@example.com", PublicURL: "https://example.com"}
	until := time.Date(2027, 1, 3, 9, 0, 0, 0, time.UTC).Format(time.RFC3339)
	ended := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC).Format(time.RFC3339)
	email := func(kind, plan string, data map[string]string) store.Email {
		d := map[string]string{"plan": plan, "tier": "pro", "until": until, "reference": "PU-7K3M-Q9XD", "amount": "900", "currency": "usd"}
		for k, v := range data {
			d[k] = v
		}
		return store.Email{ID: "em_1", Kind: kind, To: "ada@example.com", Data: d}
	}
	for _, c := range []struct {
		name      string
		e         store.Email
		required  []string
		forbidden []string
	}{
		{"cancelled, keeps nothing", email(KindCancellation, "pro-monthly", nil),
			[]string{"cancelled", "You keep Pro until 3 January 2027", "the end of the period you paid for", "will not renew", "no other plan", "PU-7K3M-Q9XD"},
			[]string{"renews on", "still have"}},
		{"cancelled, keeps a lifetime tier", email(KindCancellation, "pro-yearly", map[string]string{"keeps": "supporter"}),
			[]string{"Pro, yearly", "until 3 January 2027", "still have Supporter, for good"}, []string{"no other plan"}},
		{"cancelled during a grace", email(KindCancellation, "pro-monthly", map[string]string{"grace_ends": until}),
			[]string{"until 3 January 2027", "the end of the grace while your last renewal is unpaid"}, []string{"the period you paid for"}},
		{"resumed", email(KindResumed, "pro-monthly", nil),
			[]string{"no longer cancelled", "renews on 3 January 2027 for $9.00", "PU-7K3M-Q9XD"}, []string{"not be charged", "will not renew"}},
		{"receipt, renewing", email(KindRenewalReceipt, "pro-monthly", map[string]string{"renews": "true"}),
			[]string{"$9.00 was paid", "Pro until 3 January 2027", "renews then"}, []string{"not be charged again", "will not renew"}},
		{"receipt, cancelled", email(KindRenewalReceipt, "pro-yearly", nil),
			[]string{"$9.00 was paid", "will not renew"}, []string{"renews then"}},
		{"ended now, the paid period kept", email(KindSubscriptionEnded, "pro-monthly", map[string]string{"ended": ended}),
			[]string{"Pro, monthly ended on 4 December 2026", "will not renew", "You keep Pro until 3 January 2027", "the end of the period you paid for",
				"After that you have no other plan", "PU-7K3M-Q9XD"},
			[]string{"ended then", "still have", "resume", "as asked"}},
		{"ended now, access with it, nothing kept", email(KindSubscriptionEnded, "pro-monthly", map[string]string{"ended": ended, "until": ""}),
			[]string{"ended on 4 December 2026", "Your Pro access from it ended then.", "You have no other plan with us.", "PU-7K3M-Q9XD"},
			[]string{"keep", "still have", "until 3 January", "resume", "as asked"}},
		{"ended now, access with it, a lifetime tier kept", email(KindSubscriptionEnded, "pro-yearly", map[string]string{"ended": ended, "until": "", "keeps": "supporter"}),
			[]string{"Pro, yearly ended on 4 December 2026", "Your Pro access from it ended then.", "You still have Supporter, for good."},
			[]string{"You keep", "no other plan", "After that"}},
		{"ended now, a newer subscription's tier kept until its period's end", email(KindSubscriptionEnded, "pro-monthly",
			map[string]string{"ended": ended, "until": "", "keeps": "pro", "keeps_until": until}),
			[]string{"Your Pro access from it ended then.", "You still have Pro, until 3 January 2027."},
			[]string{"You keep", "no other plan"}},
		{"a failure queued with the processor's invoice id", email(KindPaymentFailed, "pro-monthly", map[string]string{"reference": "in_1QoldR7s8T9"}),
			[]string{"did not go through"}, []string{"in_1Q", "reference"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := s.compose(context.Background(), c.e, links{})
			if err != nil {
				t.Fatal(err)
			}
			html := regexp.MustCompile(`<[^>]*>`).ReplaceAllString(m.HTML, "")
			for part, text := range map[string]string{"text": m.Subject + "\n" + m.Text, "html": html} {
				text = strings.Join(strings.Fields(text), " ")
				for _, r := range c.required {
					if !strings.Contains(text, r) {
						t.Errorf("%s: missing %q in:\n%s", part, r, text)
					}
				}
				for _, f := range c.forbidden {
					if strings.Contains(text, f) {
						t.Errorf("%s: says %q in:\n%s", part, f, text)
					}
				}
				if id := processorIDs.FindString(text); id != "" {
					t.Errorf("%s: processor id %q in:\n%s", part, id, text)
				}
			}
		})
	}
}
