package web

import (
	"regexp"
	"strings"
	"testing"

	"github.com/paidup/paidup"
)

// What the buy page says to someone who holds the plan's tier, and what
// the status page says of a duplicate purchase, in each state: the
// sentences that must be there, and those that would be false.
func TestHeldAndDuplicateTexts(t *testing.T) {
	plan := planView{Plan: paidup.Plan{ID: "pro-annual", Name: "Pro, one year", Amount: paidup.Money{Amount: 24900, Currency: "usd"}}, Price: "$249.00", Period: "once, for one year"}
	attempt := paidup.CheckoutAttempt{Reference: "PU-7K3M-Q9XD", PlanID: "pro-annual", Email: "ada@example.com", Amount: plan.Amount}
	held := heldView{TierName: "Pro", Until: "until 3 December 2027", EndsOn: "3 December 2027", Price: "$249.00", Period: "once, for one year"}
	with := func(change func(h *heldView)) *heldView { h := held; change(&h); return &h }
	never := []string{"You're in", "not be charged again", "nothing was charged", "Nothing was charged"}
	tests := []struct {
		name      string
		page      string
		data      any
		required  []string
		forbidden []string
	}{
		{"held, refunded if bought again", "buy.html", buyForm{Plan: plan, Reference: attempt.Reference, Held: with(func(h *heldView) { h.Refunded, h.Button = true, "Buy again anyway" })},
			[]string{"You already have Pro until 3 December 2027.", "a second payment is refunded automatically. Do you mean to buy it again?", "Buy again anyway"},
			[]string{"extends", "our team is told", "Continue to payment", "Sign in first"}},
		{"held, a person decides", "buy.html", buyForm{Plan: plan, Reference: attempt.Reference, Held: with(func(h *heldView) { h.Button = "Buy again anyway" })},
			[]string{"You already have Pro until 3 December 2027.", "our team is told of a second payment"},
			[]string{"refunded automatically", "extends"}},
		{"held, the plan extends", "buy.html", buyForm{Plan: plan, Reference: attempt.Reference, Held: with(func(h *heldView) {
			h.Extends, h.NewUntil, h.Button = true, "until 3 December 2028", "Extend for $249.00"
		})},
			[]string{"the new time starts when yours ends, on 3 December 2027, and you would have Pro until 3 December 2028. Do you mean to extend?", "Extend for $249.00"},
			[]string{"refunded", "adds nothing"}},
		{"held for good, a subscription", "buy.html", buyForm{Plan: plan, Reference: attempt.Reference, Held: with(func(h *heldView) {
			h.Until, h.EndsOn, h.Subscribes, h.Price, h.Period, h.Button = "for good", "", true, "$19.00", "per month", "Subscribe anyway"
		})},
			[]string{"You already have Pro for good.", "This subscription charges $19.00 today and per month after that. You would be paying for Pro, which you have for good, and our team is told of it"},
			[]string{"until ", "refunded automatically"}},
		{"not signed in", "buy.html", buyForm{Plan: plan, Reference: attempt.Reference, DuplicateNote: "Already have Pro? Sign in first."},
			[]string{"Already have Pro? Sign in first.", "Continue to payment"},
			[]string{"You already have", "anyway"}},
		{"duplicate, being refunded", "status.html", statusView{Attempt: attempt, Plan: plan, State: stateDuplicate, Email: attempt.Email, HeldTier: "Pro"},
			[]string{"We're refunding this payment", "This address already had Pro, so this payment bought nothing new.", "We are refunding it in full ($249.00), and we email ada@example.com when the refund is made.",
				"Please don't pay again."},
			[]string{"We have refunded", "access has ended"}},
		{"duplicate, refunded", "status.html", statusView{Attempt: attempt, Plan: plan, State: stateDuplicate, Email: attempt.Email, HeldTier: "Pro", Refunded: true},
			[]string{"This payment was refunded", "We have refunded it in full ($249.00)."},
			[]string{"We are refunding", "access has ended"}},
		{"duplicate, seen with the reference only", "status.html", statusView{Attempt: attempt, State: stateDuplicate, Email: "a•••@example.com", HeldTier: "Pro", Limited: true},
			[]string{"bought nothing new", "We are refunding it in full, and we email a•••@example.com"},
			[]string{"$249.00", "until"}},
	}
	tag := regexp.MustCompile(`<[^>]*>`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := executePage(&b, tt.page, page{Title: "T", Business: Business{Name: "Example Community"}, Data: tt.data}); err != nil {
				t.Fatal(err)
			}
			text := strings.Join(strings.Fields(strings.ReplaceAll(tag.ReplaceAllString(b.String(), ""), "&#39;", "'")), " ")
			for _, want := range tt.required {
				if !strings.Contains(text, want) {
					t.Errorf("missing %q in:\n%s", want, text)
				}
			}
			for _, bad := range append(tt.forbidden, never...) {
				if strings.Contains(text, bad) {
					t.Errorf("must not say %q:\n%s", bad, text)
				}
			}
		})
	}
}
