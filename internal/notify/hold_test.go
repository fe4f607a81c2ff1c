package notify_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

// neverToACustomer are what no email about a hold says: no accusation,
// no processor ids, no promise paidup does not keep.
var neverToACustomer = []string{
	"fraud", "Fraud", "stole", "suspicious", "abuse", "banned", "you disputed", "You disputed", "criminal",
	"dp_", "ch_", "pi_", "in_1", "cus_", "not be charged again", "grant access by hand", "within one business day",
}

var (
	tags      = regexp.MustCompile(`<[^>]*>`)
	reference = regexp.MustCompile(`PU-[0-9A-Z]{4}-[0-9A-Z]{4}`)
)

// Each email about a hold, in each state it is sent in, sent through SMTP
// to the local mailbox, says what is true in both its parts: what is on
// hold since when, what ended and what comes back, how to reach a person,
// one reference to quote; and never what is forbidden.
func TestHoldEmails(t *testing.T) {
	since := t0.Add(-48 * time.Hour) // 21 November 2026
	paid := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	hold := notify.Hold{To: "ada@example.com", Processor: "stripe", Reference: "PU-4D7N-8WQE", Amount: proMonthly.Amount,
		PaidAt: paid, PlanID: "pro-monthly", Since: since}
	restored := notify.Restored{To: "ada@example.com", Reference: "PU-4D7N-8WQE", Lifted: t0}
	tests := []struct {
		name          string
		hold          *notify.Hold
		restored      *notify.Restored
		noSupport     bool
		subject       string
		want, notWant []string
	}{
		{name: "on hold, a lifetime tier suspended", hold: with(hold, func(h *notify.Hold) {
			h.Ended, h.Kept = []string{"pro"}, []notify.HeldTier{{Tier: "supporter"}}
		}), subject: "Your access is on hold while your bank looks into a payment (PU-4D7N-8WQE)",
			want: []string{"the payment of $9.00 you made on 1 November 2026 for Pro, monthly is being disputed",
				"your access is on hold, from 21 November 2026", "Pro ended on 21 November 2026.",
				"Supporter is not taken away: it is back as soon as the hold is lifted, with no end date.",
				"a person on our team will look at it", "write to help@paidup.test", "mention PU-4D7N-8WQE",
				"When the hold is lifted, we will email you.", "Your reference: PU-4D7N-8WQE"},
			notWant: []string{"for good", "you have it"}},
		{name: "on hold, nothing else held", hold: with(hold, func(h *notify.Hold) { h.Ended = []string{"pro"} }),
			want:    []string{"Pro ended on 21 November 2026.", "your access is on hold, from 21 November 2026"},
			notWant: []string{"not taken away", "for good"}},
		{name: "on hold, a tier for a term suspended", hold: with(hold, func(h *notify.Hold) {
			h.Ended, h.Kept = []string{"pro"}, []notify.HeldTier{{Tier: "supporter", Until: time.Date(2027, 12, 3, 0, 0, 0, 0, time.UTC)}}
		}), want: []string{"Supporter is not taken away: it is back as soon as the hold is lifted, until 3 December 2027."}, notWant: []string{"for good"}},
		{name: "on hold, without a support address", hold: with(hold, func(h *notify.Hold) { h.Ended = []string{"pro"} }), noSupport: true,
			want: []string{"reply to this email and mention PU-4D7N-8WQE"}, notWant: []string{"help@paidup.test"}},
		{name: "lifted, a lifetime tier back", restored: withR(restored, func(r *notify.Restored) {
			r.Tier, r.Ended = "supporter", []string{"pro"}
		}), subject: "The hold is lifted: Supporter is back (PU-4D7N-8WQE)",
			want: []string{"The hold on your account was lifted on 23 November 2026.", "You have Supporter again, for good.",
				"Pro, which ended with the chargeback, stays ended.", "Write to help@paidup.test and mention PU-4D7N-8WQE",
				"Your reference: PU-4D7N-8WQE"}},
		{name: "lifted, a paid period back", restored: withR(restored, func(r *notify.Restored) {
			r.Tier, r.Until = "pro", time.Date(2026, 12, 23, 14, 0, 0, 0, time.UTC)
		}), want: []string{"You have Pro again, paid until 23 December 2026."}, notWant: []string{"for good", "stays ended", "renews"}},
		{name: "lifted, a subscription back that renews", restored: withR(restored, func(r *notify.Restored) {
			r.Tier, r.Until, r.Renews = "pro", time.Date(2026, 12, 23, 14, 0, 0, 0, time.UTC), time.Date(2026, 12, 23, 12, 0, 0, 0, time.UTC)
		}), want: []string{"You have Pro again, paid until 23 December 2026. Your plan renews on 23 December 2026, until you cancel; " +
			"you can cancel any time from your account"}, notWant: []string{"for good"}},
		{name: "lifted, nothing back", restored: withR(restored, func(r *notify.Restored) { r.Ended = []string{"supporter"} }),
			subject: "The hold on your account is lifted (PU-4D7N-8WQE)",
			want:    []string{"No access comes back with it: you have no plan with us at the moment.", "Supporter, which ended with the chargeback, stays ended."},
			notWant: []string{"again,", "for good"}},
		{name: "lifted, two chargebacks at once", restored: withR(restored, func(r *notify.Restored) {
			r.Tier, r.Others = "supporter", []string{"PU-9H2K-3RTW"}
		}), want: []string{"The hold on your account was lifted on 23 November 2026. It was there for more than one chargeback " +
			"(PU-4D7N-8WQE and PU-9H2K-3RTW); it is lifted for all of them.", "You have Supporter again, for good."}},
	}
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				b := setup(t, engine)
				if tt.noSupport {
					b.sender.SupportEmail = ""
				}
				customerID := b.subscriber(t)
				for range 2 { // once, however often it is queued
					require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
						if tt.hold != nil {
							h := *tt.hold
							h.CustomerID, h.DisputeID = customerID, "dp_123"
							return b.outbox.QueueHold(ctx, tx, h)
						}
						r := *tt.restored
						r.CustomerID, r.BlockID = customerID, "bl_123"
						return b.outbox.QueueRestored(ctx, tx, r)
					}))
				}
				b.sendAll(t)
				inbox := b.inbox(t, "ada@example.com")
				require.Len(t, inbox, 1)
				m := inbox[0]
				if tt.subject != "" {
					require.Equal(t, tt.subject, m.subject)
				}
				html := strings.Join(strings.Fields(tags.ReplaceAllString(m.html, "")), " ")
				text := strings.Join(strings.Fields(m.text), " ")
				for _, part := range []struct{ name, body string }{{"text", text}, {"html", html}, {"subject", m.subject}} {
					if part.name != "subject" {
						for _, want := range tt.want {
							require.Contains(t, part.body, want, part.name)
						}
					}
					for _, never := range append(tt.notWant, neverToACustomer...) {
						require.NotContains(t, part.body, never, part.name)
					}
					refs := reference.FindAllString(part.body, -1)
					require.NotEmpty(t, refs, "%s: a reference to quote", part.name)
					quoted := []string{"PU-4D7N-8WQE"}
					if tt.restored != nil {
						quoted = append(quoted, tt.restored.Others...)
					}
					for _, ref := range refs {
						require.Contains(t, quoted, ref, "%s: the disputes' references only", part.name)
					}
				}
				require.Regexp(t, `\d{1,2} (January|February|March|April|May|June|July|August|September|October|November|December) \d{4}`, text,
					"a date: when access was put on hold, ended, or runs until")
			})
		}
	})
}

func with(h notify.Hold, f func(*notify.Hold)) *notify.Hold { f(&h); return &h }

func withR(r notify.Restored, f func(*notify.Restored)) *notify.Restored { f(&r); return &r }

// The hold email needs what makes it once, and whom it is for.
func TestHoldEmailRefusesIncomplete(t *testing.T) {
	b := setup(t, sqldb.SQLite)
	ctx := context.Background()
	err := b.store.InTx(ctx, func(tx *store.Tx) error {
		return b.outbox.QueueHold(ctx, tx, notify.Hold{To: "ada@example.com", Amount: paidup.Money{Amount: 1, Currency: "usd"}})
	})
	require.ErrorContains(t, err, "the dispute, customer and address are required")
	err = b.store.InTx(ctx, func(tx *store.Tx) error {
		return b.outbox.QueueRestored(ctx, tx, notify.Restored{To: "ada@example.com"})
	})
	require.ErrorContains(t, err, "the block, customer and address are required")
}
