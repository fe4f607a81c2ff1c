package web

import (
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/config"
)

var (
	markup    = regexp.MustCompile(`(?s)<(style|head)\b.*?</(style|head)>|<[^>]*>`)
	spaces    = regexp.MustCompile(`\s+`)
	rawIDs    = regexp.MustCompile(`\b(in|ch|re|dp|cus|sub|pi|cs)_[A-Za-z0-9]+`)
	wordsDate = time.Date(2027, 1, 3, 9, 0, 0, 0, time.UTC)
)

// Every state of a subscription and of a payment reads true on the
// account page: what must be said, and what must never be, in each; no
// processor id anywhere a customer reads.
func TestAccountPageWordsByState(t *testing.T) {
	cfg, err := config.Load("", config.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Deps: Deps{Policy: &cfg.Policy}}
	monthly := paidup.Subscription{Processor: "stripe", ID: "sub_1", PlanID: "pro-monthly", Status: paidup.SubscriptionActive,
		PeriodStart: wordsDate.AddDate(0, -1, 0), PeriodEnd: wordsDate}
	cancelled, failing, failingCancelled, ended := monthly, monthly, monthly, monthly
	cancelled.CancelAtPeriodEnd = true
	failing.Status, failing.FailingInvoice, failing.FailingSince = paidup.SubscriptionPastDue, "in_1", wordsDate
	failingCancelled = failing
	failingCancelled.CancelAtPeriodEnd = true
	ended.Status, ended.EndedAt = paidup.SubscriptionCanceled, wordsDate
	graceEnd := wordsDate.Add(cfg.Policy.Lifecycle.Grace).Format("2 January 2006")

	// What an on-hold customer is never told: the hold is a question
	// about a payment, not an accusation.
	accusing := []string{"fraud", "Fraud", "suspicious", "you disputed", "your fault", "banned", "abuse", "violat", "Please write to us; a person will look at it"}
	support := Business{SupportEmail: "support@example.com", ReplyWithin: "two business days"}
	pay := func(state, status string) purchaseView {
		return purchaseView{Reference: "PU-7K3M-Q9XD", Plan: "Pro, monthly", Amount: "$19.00", Paid: "3 December 2026", State: state, Status: status}
	}
	for _, c := range []struct {
		name      string
		page      accountPage
		sub       *paidup.Subscription
		blocked   bool
		business  Business
		required  []string
		forbidden []string
	}{
		{name: "renews", sub: &monthly, required: []string{"Renews on 3 January 2027 for $19.00", "Cancel at the end of the period"},
			forbidden: []string{"not be charged", "Cancelled", "Resume", "Ended", "Payment failed"}},
		{name: "cancelled at the period's end", sub: &cancelled,
			required:  []string{"Cancelled: you keep Pro until 3 January 2027", "It will not renew", "Resume the subscription"},
			forbidden: []string{"Renews on", "Cancel at the end", "Payment failed", "card"}},
		{name: "payment failed, in grace", sub: &failing,
			required:  []string{"Payment failed: you keep Pro until " + graceEnd, "Update your card", "Cancel at the end of the period"},
			forbidden: []string{"Renews on", "not be charged", "Resume", "3 January 2027 for"}},
		{name: "payment failed, and cancelled", sub: &failingCancelled,
			required:  []string{"Cancelled, and the last renewal was not paid: you keep Pro until " + graceEnd, "It will not renew", "Resume"},
			forbidden: []string{"Renews on", "Cancel at the end"}},
		{name: "on hold", sub: &monthly, blocked: true, page: accountPage{Hold: &holdView{Since: "3 December 2026", Held: "Pro, until 3 January 2027"}},
			required:  []string{"On hold, with your access", "still renews", "Your access is on hold since 3 December 2026"},
			forbidden: append([]string{"Renews on", "Cancel at the end", "Resume", "Update your card"}, accusing...)},
		{name: "on hold by a chargeback", blocked: true, business: support,
			page: accountPage{Hold: &holdView{Since: "3 December 2026", Chargeback: true, Reference: "PU-4D7N-8WQE", Held: "Supporter, for good"}},
			required: []string{"Your access is on hold", "Your bank has told us that a payment of yours is being disputed (a chargeback)",
				"on hold, since 3 December 2026", "What the hold keeps for you: Supporter, for good. It is not taken away: lifting the hold gives it back.",
				"What happens next: a person on our team looks at it, and we email you when the hold is lifted.", "Please don't pay again",
				"write to support@example.com and mention PU-4D7N-8WQE", "We answer within two business days."},
			forbidden: append([]string{"Yours for good", "Until", "Renews", "Cancel", "from ada@example.com", "looks into your account"}, accusing...)},
		{name: "on hold by a person", blocked: true, business: support,
			page: accountPage{Hold: &holdView{Since: "3 December 2026", Held: "Pro, until 3 January 2027"}},
			required: []string{"Your access is on hold since 3 December 2026, while a person on our team looks into your account.",
				"What the hold keeps for you: Pro, until 3 January 2027.", "What happens next: a person on our team looks at it.",
				"write to support@example.com from ada@example.com", "We answer within two business days."},
			forbidden: append([]string{"chargeback", "bank", "we email you when", "mention PU-", "Until 3 January 2027."}, accusing...)},
		{name: "on hold, nothing held, no support address", blocked: true, page: accountPage{Hold: &holdView{Since: "3 December 2026"}},
			required:  []string{"Your access is on hold since 3 December 2026", "reply to any email we've sent you from ada@example.com", "We answer within one business day."},
			forbidden: append([]string{"not taken away", "write to support@"}, accusing...)},
		{name: "ended", sub: &ended, required: []string{"Ended on 3 January 2027", "will not renew"},
			forbidden: []string{"Renews on", "Cancel at the end", "Resume", "you keep"}},
		{name: "one-time buyer", page: accountPage{Access: paidup.Access{Active: true, Tier: "pro", Until: wordsDate}, TierName: "Pro",
			Purchases: []purchaseView{pay(payPaid, "Paid")}},
			required: []string{"Pro", "Until 3 January 2027", "Paid"}, forbidden: []string{"card", "Card", "Renews", "Subscriptions", "Cancel", "for good"}},
		{name: "lifetime buyer", page: accountPage{Access: paidup.Access{Active: true, Tier: "supporter"}, TierName: "Supporter"},
			required: []string{"Supporter", "Yours for good"}, forbidden: []string{"Until", "card", "Renews"}},
		{name: "a disputed payment", page: accountPage{Purchases: []purchaseView{pay(payDisputed, "Disputed: your bank has taken this payment back")}},
			required: []string{"Disputed"}, forbidden: []string{"· Paid ·", "Refunded"}},
		{name: "a refunded payment", page: accountPage{Purchases: []purchaseView{pay(payRefunded, "Refunded")}},
			required: []string{"· Refunded ·"}, forbidden: []string{"· Paid ·"}},
		{name: "a failed renewal", page: accountPage{Purchases: []purchaseView{pay(payFailed, "Payment failed: the card will be tried again")}},
			required: []string{"Payment failed"}, forbidden: []string{"· Paid ·"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := c.page
			p.Signedin, p.Email = true, "ada@example.com"
			if c.blocked {
				p.Access = paidup.Access{Blocked: true}
			}
			if c.sub != nil {
				p.Subscriptions = []subscriptionView{s.subscriptionView(*c.sub, c.blocked)}
				v := p.Subscriptions[0]
				p.CardUpdate = v.State == subRenews || v.State == subFailing
				p.Access = paidup.Access{Active: !c.blocked, Blocked: c.blocked, Tier: "pro", Until: wordsDate}
				p.TierName = "Pro"
			}
			var b strings.Builder
			business := c.business
			business.Name = "Example"
			if err := executePage(&b, "account.html", page{Title: "Your account", Business: business, Data: p}); err != nil {
				t.Fatal(err)
			}
			text := spaces.ReplaceAllString(html.UnescapeString(markup.ReplaceAllString(b.String(), " ")), " ")
			for _, r := range c.required {
				if !strings.Contains(text, r) {
					t.Errorf("missing %q in:\n%s", r, text)
				}
			}
			for _, f := range c.forbidden {
				if strings.Contains(text, f) {
					t.Errorf("says %q in:\n%s", f, text)
				}
			}
			if id := rawIDs.FindString(text); id != "" {
				t.Errorf("a processor id %q in:\n%s", id, text)
			}
		})
	}
}
