package web

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/standing"
	"github.com/paidup/paidup/internal/standing/standingtest"
)

// pageStates are the status page's states a purchase of each standing is
// shown in.
var pageStates = map[standing.State][]string{
	standing.Confirming:     {stateConfirming},
	standing.In:             {stateDone},
	standing.Renewing:       {stateDone},
	standing.CancelledUntil: {stateDone},
	standing.InGrace:        {stateDone},
	standing.Ended:          {stateEnded},
	standing.Refunded:       {stateRefunded},
	standing.OnHold:         {stateOnHold},
	standing.NeedsPerson:    {stateAttention, stateUnknown},
}

// The customer pages, rendered for every plan kind and state that applies,
// keep the table of what customers may be told: the status page (whole,
// and for a visitor with only the reference), the buy page on the way back
// from the payment page, and the page for an unknown reference.
func TestPagesKeepTheTable(t *testing.T) {
	business := Business{Name: "Example Community", SupportEmail: "help@example.com", ReplyWithin: standingtest.ReplyWithin}
	raw := func(name string, data any) string {
		var b strings.Builder
		require.NoError(t, executePage(&b, name, page{Title: "T", Business: business, Data: data}))
		return b.String()
	}
	render := func(name string, data any) string { return standingtest.Text(raw(name, data)) }
	checked := 0
	standingtest.Each(func(k standing.Kind, s standing.State) {
		p := standingtest.Plans[k]
		st := standingtest.Standing(k, s)
		a := paidup.CheckoutAttempt{Reference: "PU-7K3M-Q9XD", PlanID: p.ID, Email: "ada@example.com", Amount: p.Amount, Status: paidup.AttemptFulfilled}
		for _, state := range pageStates[s] {
			for _, limited := range []bool{false, true} {
				for _, linkSent := range []bool{false, true} {
					v := statusView{Attempt: a, Plan: planView{Plan: p}, State: state, Limited: limited, Email: a.Email, Standing: st,
						SupportEmail: business.SupportEmail, LinkTTL: "24 hours", LinkSent: linkSent}
					text := render("status.html", v)
					name := "status page " + state
					if limited {
						name += ", by reference only"
						// No amount and no dates for a visitor with only the
						// reference: only what must not be said is checked.
						standingtest.CheckForbidden(t, name, text, st)
					} else {
						standingtest.Check(t, name, text, st)
					}
					if !linkSent && !limited {
						require.NotContains(t, text, "sign-in link", "%s: a link sent long ago is not mentioned", name)
					}
					checked++
				}
			}
		}
	})
	require.Greater(t, checked, 80)

	unpaid := standing.Standing{State: standing.Confirming, ReplyWithin: standingtest.ReplyWithin}
	standingtest.CheckForbidden(t, "buy page, back from the payment page",
		render("buy.html", buyForm{Plan: planView{Plan: standingtest.Plans[standing.Monthly]}, Reference: "PU-7K3M-Q9XD", Cancelled: true}), unpaid)
	for _, shows := range []bool{false, true} {
		business.StatementShowsReference = shows
		html := raw("unknown.html", unknownPage{Reference: "PU-7K3M-Q9XD", Ref: "R-ABC"})
		text := standingtest.Text(html)
		standingtest.CheckForbidden(t, "unknown reference", text, unpaid)
		require.Equal(t, shows, strings.Contains(text, "bank statement"), "the bank statement is mentioned only when it shows the reference")
		main := html[strings.Index(html, "<main>"):]
		require.Contains(t, main, `href="/account"`)
		require.NotContains(t, main, `href="/"`, "the account page and support, not the shop")
	}
}
