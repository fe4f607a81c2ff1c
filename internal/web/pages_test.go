package web

import (
	"strings"
	"testing"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/help"
	"github.com/paidup/paidup/internal/standing"
)

// Every page renders with fixture data, in every state, so that a template
// mistake fails here and not in front of a customer.
func TestEveryPageRenders(t *testing.T) {
	plan := planView{Plan: paidup.Plan{ID: "pro-annual", Name: "Pro, one year", Amount: paidup.Money{Amount: 24900, Currency: "usd"}}, Price: "$249.00", Period: "once, for one year"}
	attempt := paidup.CheckoutAttempt{Reference: "PU-7K3M-Q9XD", PlanID: "pro-annual", Email: "ada@example.com",
		Amount: plan.Amount, CheckoutURL: "http://127.0.0.1:8081/c/pay/cs_test_1"}
	fixtures := map[string][]any{
		"plans.html": {[]planView{plan}, []planView(nil)},
		"buy.html":   {buyForm{Plan: plan, Reference: attempt.Reference}, buyForm{Plan: plan, Reference: attempt.Reference, Error: "Please enter your email address.", Cancelled: true}},
		"error.html": {errorPage{Heading: "Something went wrong on our side", Message: "Try again.", Ref: "R-ABC"}},
		"account.html": {
			accountPage{}, accountPage{SignIn: signInNotice{Sent: true}}, accountPage{SignIn: signInNotice{Sent: true, At: "18:42 UTC"}},
			accountPage{SignIn: signInNotice{Sent: true, At: "18:42 UTC", Next: "18:50 UTC"}}, accountPage{Error: "This sign-in link has expired."},
			accountPage{Signedin: true, Email: "ada@example.com", Access: paidup.Access{Active: true, Tier: "pro", Until: time.Now()}, TierName: "Pro",
				Purchases: []purchaseView{{Reference: attempt.Reference, Plan: "Pro, one year", Amount: "$249.00", Paid: "23 November 2026", Status: "Paid"}}},
			accountPage{Signedin: true, Email: "ada@example.com", Access: paidup.Access{Blocked: true}},
			accountPage{Signedin: true, Email: "ada@example.com"},
			accountPage{Signedin: true, Email: "ada@example.com", CardUpdate: true, Notice: "Done.", Error: "Not done.",
				Subscriptions: []subscriptionView{{ID: "sub_1", Plan: "Pro, monthly", State: subRenews, Line: "Renews.", CanCancel: true},
					{ID: "sub_2", Plan: "Pro, monthly", State: subCancelled, Line: "Cancelled.", CanResume: true}}},
		},
		"sign_in.html": {accountPage{Token: "abc"}},
		"card.html":    {cardPage{Token: "abc"}, cardPage{Expired: true}, cardPage{Used: true}},
		"limited.html": {checkoutLimitedPage, statusLimitedPage, linkLimitedPage, signInLimitedPage, accountLimitedPage, helpLimitedPage},
		"help.html":    {helpPage{}, helpPage{Sent: true}, helpPage{Error: "Please enter the email address you paid with.", Form: help.RequestArgs{Email: "x", Message: "<b>"}}},
	}
	fixtures["unknown.html"] = []any{unknownPage{Reference: "PU-7K3M-Q9XD", Ref: "R-ABC"}}
	thread := []threadMessage{{At: "3 December 2026, 10:00 UTC", Subject: "Your access is ready", Text: "Hello,\nYou're in."},
		{Yours: true, At: "3 December 2026, 10:04 UTC", Text: "<b>Thanks</b>"}}
	fixtures["reply.html"] = []any{replyPage{Token: "abc", CaseID: "sc_1", FormID: "F", MaxText: 10},
		replyPage{Token: "abc", CaseID: "sc_1", Messages: thread, Sent: true, Closed: true},
		replyPage{Token: "abc", CaseID: "sc_1", Messages: thread, Error: "Too long.", Text: "<script>"}}
	for _, state := range []string{stateConfirming, stateDone, stateUnpaid, stateClosed, stateAttention, stateUnknown, stateRefunded,
		stateEnded, stateOnHold, stateUnverified, stateUnsettled} {
		for _, limited := range []bool{false, true} {
			fixtures["status.html"] = append(fixtures["status.html"], statusView{Attempt: attempt, Plan: plan, State: state, Limited: limited,
				Email: attempt.Email, Standing: standing.Standing{Kind: standing.ForTerm, State: standing.In, Tier: "Pro", Until: time.Now()},
				SupportEmail: "help@example.com", LinkTTL: "24 hours", LinkSent: true})
		}
	}
	for name := range pages {
		if len(fixtures[name]) == 0 {
			t.Errorf("page %s has no fixture in this test", name)
		}
	}
	for name, datas := range fixtures {
		for i, data := range datas {
			var b strings.Builder
			err := executePage(&b, name, page{Title: "T", Business: Business{Name: "Example Community", SupportEmail: "help@example.com"}, Data: data})
			if err != nil {
				t.Errorf("%s fixture %d: %v", name, i, err)
				continue
			}
			if !strings.Contains(b.String(), "</html>") || !strings.Contains(b.String(), "Example Community") {
				t.Errorf("%s fixture %d: incomplete page", name, i)
			}
		}
	}
}
