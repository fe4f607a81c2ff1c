package standing_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/standing"
	"github.com/paidup/paidup/internal/standing/standingtest"
)

// The model's own sentences, for every kind and state, keep the table.
func TestSentencesKeepTheTable(t *testing.T) {
	standingtest.Each(func(k standing.Kind, s standing.State) {
		st := standingtest.Standing(k, s)
		standingtest.Check(t, "Access and Next", st.Access()+". "+st.Next(), st)
		standingtest.Check(t, "Brief", st.Brief(), standing.Standing{Kind: k, State: s, ReplyWithin: st.ReplyWithin})
	})
}

// The table catches what was wrong before: a renewing plan told it will
// not be charged again, a paid one told nothing was charged, a term with
// no date, a raw id.
func TestTheTableCatches(t *testing.T) {
	renewing := standingtest.Standing(standing.Monthly, standing.Renewing)
	require.NotEmpty(t, standingtest.Broken("You will not be charged again for this purchase.", renewing))
	require.NotEmpty(t, standingtest.Broken("You left the payment page, and nothing was charged.", standingtest.Standing(standing.ForGood, standing.In)))
	require.NotEmpty(t, standingtest.Broken("You now have Pro, for one year.", standingtest.Standing(standing.ForTerm, standing.In)))
	require.NotEmpty(t, standingtest.Broken("Your reference: in_1QpreviewR7s8T9", standingtest.Standing(standing.Monthly, standing.InGrace)))
	require.NotEmpty(t, standingtest.Broken("You're in, Pro for good.", standingtest.Standing(standing.ForGood, standing.OnHold)))
	require.NotEmpty(t, standingtest.Broken("We'll write within one business day.", standingtest.Standing(standing.ForGood, standing.NeedsPerson)))
	require.Empty(t, standingtest.Broken(renewing.Next(), renewing))
}

func TestOf(t *testing.T) {
	now := standingtest.Now
	later, earlier := now.AddDate(0, 1, 0), now.AddDate(0, 0, -1)
	grant := func(end, revoked time.Time) paidup.Grant {
		return paidup.Grant{Start: now.AddDate(0, -1, 0), End: end, Revoked: revoked}
	}
	plans := standingtest.Plans
	for name, tt := range map[string]struct {
		f     standing.Facts
		want  standing.State
		until time.Time
	}{
		"lifetime":            {f: standing.Facts{Plan: plans[standing.ForGood], Granted: true, Grant: grant(time.Time{}, time.Time{})}, want: standing.In},
		"term":                {f: standing.Facts{Plan: plans[standing.ForTerm], Granted: true, Grant: grant(later, time.Time{})}, want: standing.In, until: later},
		"term over":           {f: standing.Facts{Plan: plans[standing.ForTerm], Granted: true, Grant: grant(earlier, time.Time{})}, want: standing.Ended},
		"revoked":             {f: standing.Facts{Plan: plans[standing.ForGood], Granted: true, Grant: grant(time.Time{}, earlier)}, want: standing.Ended},
		"blocked lifetime":    {f: standing.Facts{Plan: plans[standing.ForGood], Granted: true, Blocked: true}, want: standing.OnHold},
		"blocked and revoked": {f: standing.Facts{Plan: plans[standing.ForGood], Granted: true, Blocked: true, Grant: grant(time.Time{}, earlier)}, want: standing.OnHold},
		"refunded":            {f: standing.Facts{Plan: plans[standing.ForGood], Granted: true, Refunded: true}, want: standing.Refunded},
		"not granted":         {f: standing.Facts{Plan: plans[standing.Monthly]}, want: standing.Confirming},
		"first period":        {f: standing.Facts{Plan: plans[standing.Monthly], Granted: true, Grant: grant(later, time.Time{}), PeriodEnd: later}, want: standing.Renewing},
		"renewed past grant":  {f: standing.Facts{Plan: plans[standing.Monthly], Granted: true, Grant: grant(earlier, time.Time{}), Subscription: &standing.Subscription{PeriodEnd: later}}, want: standing.Renewing},
		"cancelled":           {f: standing.Facts{Plan: plans[standing.Yearly], Granted: true, Subscription: &standing.Subscription{PeriodEnd: later, CancelAtPeriodEnd: true}}, want: standing.CancelledUntil, until: later},
		"failing":             {f: standing.Facts{Plan: plans[standing.Monthly], Granted: true, Subscription: &standing.Subscription{Failing: true, GraceEnds: later}}, want: standing.InGrace, until: later},
		"subscription ended":  {f: standing.Facts{Plan: plans[standing.Monthly], Granted: true, Subscription: &standing.Subscription{Ended: true, EndedAt: earlier}}, want: standing.Ended},
	} {
		t.Run(name, func(t *testing.T) {
			tt.f.Now = now
			st := standing.Of(tt.f)
			require.Equal(t, tt.want, st.State)
			require.Equal(t, tt.until, st.Until)
		})
	}
}
