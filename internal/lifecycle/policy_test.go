package lifecycle_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/lifecycle"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sandbox/sandboxtest"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

func usd(cents int64) paidup.Money { return paidup.Money{Amount: cents, Currency: "usd"} }

var (
	supporterLifetime = paidup.Plan{ID: "supporter-lifetime", Name: "Supporter for life", Tier: "supporter",
		PriceID: "price_supporter_lifetime", Amount: usd(4900), Interval: paidup.Once}
	proMonthly = paidup.Plan{ID: "pro-monthly", Name: "Pro monthly", Tier: "pro", PriceID: "price_pro_monthly",
		Amount: usd(900), Interval: paidup.Monthly}
	supporterMonthly = paidup.Plan{ID: "supporter-monthly", Name: "Supporter monthly", Tier: "supporter",
		PriceID: "price_supporter_monthly", Amount: usd(300), Interval: paidup.Monthly}
)

func testPolicy(doubleBuy string) *paidup.Policy {
	return &paidup.Policy{
		Tiers: []paidup.Tier{{ID: "supporter", Name: "Supporter", Rank: 10}, {ID: "pro", Name: "Pro", Rank: 20}},
		Plans: []paidup.Plan{supporterLifetime, proMonthly, supporterMonthly},
		Lifecycle: paidup.Lifecycle{Grace: 7 * 24 * time.Hour, DoubleBuy: doubleBuy, Reminders: []paidup.Reminder{
			{After: 0, Template: "payment_failed"},
			{After: 3 * 24 * time.Hour, Template: "payment_reminder"},
			{After: 6 * 24 * time.Hour, Template: "payment_final_reminder"},
		}},
	}
}

// TestPolicy walks one customer through each rule of the lifecycle policy
// and their combinations, a script per case. The processor's billing state
// is set by the script as Stripe would report it; paidup reads it back,
// decides, and the script checks the access that results, the emails and
// the support cases.
//
// Script lines:
//
//	subscribe PLAN [NAME]   a new subscription, first period paid now (NAME: sub, sub2, …)
//	buy PLAN                a one-time purchase
//	advance 3d|2h           the clock moves; deadlines due fire
//	renew ok|fail [NAME]    the clock moves to the period's end; the renewal is charged
//	retry ok|fail [NAME]    the processor retries the unpaid renewal now
//	cancel end|now [NAME]   the customer cancels at the period's end, or now
//	resume [NAME]           a cancellation at the period's end is undone
//	ends [NAME]             the processor gives up after its last retry and cancels
//	dispute                 a chargeback of the latest payment
//	dispute won|lost        the chargeback closes
//	refund                  the latest payment is refunded in full
//	refund fails            the latest payment's refund fails at the processor
//	refund meanwhile        the latest payment is refunded, and its event processed, while
//	                        the next sync is between reading refunds and writing
//	hold, release           events wait from hold until release (an hour on)
//	lift                    a person lifts the block
//	lift again              a person lifts it again: nothing is lifted
//	open K1,K2              the open support cases' kinds, sorted ("-": none)
//	restored N              the one hold-lifted email names N references
//	block                   a person blocks the customer
//	as before               every grant ended, as paidup did before its chargeback policy
//	told KIND,…             the emails about a hold queued so far, in order
//	ended PLAN,…|-          the plans of the grants a chargeback ended
//	disputed N              the customer's payments shown as disputed
//	want TIER|none|blocked  the access now
//	emails KIND,…           the lifecycle emails queued so far, in order
//	refunds WHAT,…|-        the refund emails queued so far, each what it says of access: ungranted, ended or kept
//	ending NAME WHAT        what the email that NAME ended says is kept: period (until its end), TIER (from another grant) or nothing
//	cases KIND,…            the support cases opened so far
//	cancelled NAME,…        the subscriptions paidup cancelled at the processor
func TestPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		doubleBuy string
		ends      []string // the chargeback policy's; nil: the default
		script    string
	}{
		{name: "renewals keep access", script: `
			subscribe pro-monthly
			want pro
			renew ok
			advance 1h
			want pro
			renew ok
			advance 20d
			want pro
			emails -`},
		{name: "a paid period's grant outlasts the period while the renewal is charged", script: `
			subscribe pro-monthly
			advance 30d
			advance 23h
			want pro
			advance 2h
			want pro
			advance 2h
			want none`},
		{name: "cancelled at the period's end: access until then, no leeway", script: `
			subscribe pro-monthly
			advance 10d
			cancel end
			want pro
			advance 20d
			advance 23h
			want pro
			advance 2h
			want none
			emails cancellation_confirmed`},
		{name: "a cancellation undone renews", script: `
			subscribe pro-monthly
			cancel end
			advance 5d
			resume
			renew ok
			advance 5d
			want pro
			emails cancellation_confirmed,subscription_resumed`},
		{name: "each cancellation and each undoing is told once, however often synced", script: `
			subscribe pro-monthly
			cancel end
			resync
			advance 1d
			resume
			resync
			advance 1d
			cancel end
			resync
			emails cancellation_confirmed,subscription_resumed,cancellation_confirmed`},
		{name: "failed renewal: grace, three reminders, then the tier ends", script: `
			subscribe pro-monthly
			renew fail
			want pro
			emails payment_failed
			advance 3d
			emails payment_failed,payment_reminder
			retry fail
			advance 3d
			want pro
			emails payment_failed,payment_reminder,payment_final_reminder
			advance 1d
			want none
			emails payment_failed,payment_reminder,payment_final_reminder,grace_ended`},
		{name: "a person's block stops the reminders of a failed renewal", script: `
			subscribe pro-monthly
			renew fail
			emails payment_failed
			block
			want blocked
			advance 3d
			advance 3d
			advance 1d
			emails payment_failed`},
		{name: "grace ends: falls back to the permanent tier", script: `
			buy supporter-lifetime
			subscribe pro-monthly
			want pro
			renew fail
			advance 7d
			want supporter
			emails payment_failed,payment_reminder,payment_final_reminder,grace_ended`},
		{name: "paid within the grace: reminders stop, no welcome back", script: `
			subscribe pro-monthly
			renew fail
			advance 2d
			retry ok
			want pro
			advance 10d
			want pro
			emails payment_failed`},
		{name: "late payment after the grace: the tier is back, with a welcome back", script: `
			buy supporter-lifetime
			subscribe pro-monthly
			renew fail
			advance 9d
			want supporter
			retry ok
			want pro
			emails payment_failed,payment_reminder,payment_final_reminder,grace_ended,welcome_back
			advance 20d
			want pro`},
		{name: "the processor gives up: the subscription ends, access stays ended", script: `
			subscribe pro-monthly
			renew fail
			advance 13d
			ends
			want none
			advance 30d
			want none
			emails payment_failed,payment_reminder,payment_final_reminder,grace_ended`},
		{name: "cancellation during the grace ends the grace at once", script: `
			buy supporter-lifetime
			subscribe pro-monthly
			renew fail
			advance 2d
			cancel now
			want supporter
			emails payment_failed,subscription_ended
			ending sub supporter
			resync
			advance 10d
			emails payment_failed,subscription_ended`},
		{name: "cancelled now during the grace, nothing else held: told that nothing is kept", script: `
			subscribe pro-monthly
			renew fail
			advance 2d
			cancel now
			want none
			emails payment_failed,subscription_ended
			ending sub nothing`},
		{name: "cancelled now in its paid period: access until the period's end, told once", script: `
			subscribe pro-monthly
			advance 10d
			cancel now
			want pro
			emails subscription_ended
			ending sub period
			resync
			advance 20d
			advance 23h
			want pro
			advance 2h
			want none
			emails subscription_ended`},
		{name: "cancelled at the period's end, then now: told once, by the cancellation", script: `
			subscribe pro-monthly
			advance 10d
			cancel end
			cancel now
			want pro
			emails cancellation_confirmed`},
		{name: "cancelled now while on hold: the hold is what they are told", script: `
			subscribe pro-monthly
			dispute
			cancel now
			want blocked
			emails -`},
		{name: "a permanent tier bought during the grace", script: `
			subscribe supporter-monthly
			renew fail
			advance 1d
			buy supporter-lifetime
			advance 10d
			want supporter`},
		{name: "a higher permanent tier bought during the grace wins", script: `
			subscribe supporter-monthly
			renew fail
			buy supporter-lifetime
			subscribe pro-monthly sub2
			want pro`},
		{name: "chargeback: every grant ends, blocked, on-call alerted", script: `
			buy supporter-lifetime
			subscribe pro-monthly
			dispute
			want blocked
			cases dispute
			advance 40d
			want blocked`},
		{name: "a renewal paid after a chargeback does not restore access; a person lifts the block", script: `
			subscribe pro-monthly
			dispute
			renew ok
			want blocked
			cases blocked_payer,dispute
			dispute won
			want blocked
			lift
			want pro`},
		{name: "a late payment after a chargeback: no welcome back, still blocked", script: `
			subscribe pro-monthly
			renew fail
			advance 1d
			dispute
			advance 8d
			retry ok
			want blocked
			emails payment_failed`},
		{name: "lifting a block gives only what the grants give", script: `
			buy supporter-lifetime
			dispute
			lift
			want none`},
		{name: "chargeback: a lifetime tier paid by another payment is suspended, and back when the block is lifted", script: `
			buy supporter-lifetime
			subscribe pro-monthly
			dispute
			want blocked
			ended pro-monthly
			disputed 1
			told access_on_hold
			dispute won
			told access_on_hold
			open dispute
			lift
			want supporter
			told access_on_hold,access_restored
			restored 1
			open -
			lift again
			told access_on_hold,access_restored
			advance 40d
			want supporter`},
		{name: "two chargebacks, lifted at once: one email naming both, both cases resolved", script: `
			buy supporter-lifetime
			subscribe pro-monthly
			dispute
			renew ok
			dispute
			want blocked
			told access_on_hold,access_on_hold
			open blocked_payer,dispute,dispute
			lift
			want supporter
			told access_on_hold,access_on_hold,access_restored
			restored 2
			open blocked_payer`},
		{name: "chargeback of a lifetime purchase: its own grant and the recurring ones end, and stay ended", script: `
			subscribe pro-monthly
			buy supporter-lifetime
			dispute
			want blocked
			ended pro-monthly,supporter-lifetime
			lift
			want none
			told access_on_hold,access_restored`},
		{name: "chargeback with a policy that keeps recurring grants: only the disputed payment's ends", ends: []string{paidup.EndsDisputed}, script: `
			subscribe supporter-monthly
			subscribe pro-monthly sub2
			dispute
			want blocked
			ended pro-monthly
			lift
			want supporter`},
		{name: "chargeback under the default policy ends every recurring grant", script: `
			subscribe supporter-monthly
			subscribe pro-monthly sub2
			dispute
			ended pro-monthly,supporter-monthly
			lift
			want none`},
		{name: "chargeback with a policy that ends one-time purchases too", ends: []string{paidup.EndsDisputed, paidup.EndsRecurring, paidup.EndsOneTime}, script: `
			buy supporter-lifetime
			subscribe pro-monthly
			dispute
			ended pro-monthly,supporter-lifetime
			lift
			want none`},
		{name: "a chargeback acted on before the policy: lifting gives back what the policy suspends", script: `
			buy supporter-lifetime
			subscribe pro-monthly
			dispute
			as before
			ended pro-monthly,supporter-lifetime
			lift
			want supporter
			ended pro-monthly`},
		{name: "a person's block suspends every grant, ends none, and tells the customer nothing", script: `
			buy supporter-lifetime
			subscribe pro-monthly
			block
			want blocked
			ended -
			renew ok
			want blocked
			lift
			want pro
			told -
			cases blocked_payer`},
		{name: "double buy during the grace: the failing subscription is cancelled", doubleBuy: paidup.DoubleBuyCancel, script: `
			subscribe supporter-monthly
			renew fail
			advance 2d
			subscribe pro-monthly sub2
			want pro
			cancelled sub
			emails payment_failed,subscription_ended
			ending sub pro
			advance 10d
			want pro
			emails payment_failed,subscription_ended`},
		{name: "double buy to the same tier during the grace", doubleBuy: paidup.DoubleBuyCancel, script: `
			subscribe pro-monthly
			renew fail
			subscribe pro-monthly sub2
			cancelled sub
			want pro
			cases -`},
		{name: "double buy flagged for a person instead", doubleBuy: paidup.DoubleBuyFlag, script: `
			subscribe pro-monthly
			renew fail
			subscribe pro-monthly sub2
			cancelled -
			cases double_buy
			want pro`},
		{name: "a lower-tier subscription bought during the grace leaves the failing one", doubleBuy: paidup.DoubleBuyCancel, script: `
			subscribe pro-monthly
			renew fail
			subscribe supporter-monthly sub2
			cancelled -
			want pro
			advance 8d
			want supporter`},
		{name: "a renewal refunded in full ends its period's grant", script: `
			buy supporter-lifetime
			subscribe pro-monthly
			renew ok
			advance 3h
			want pro
			refund
			want supporter
			refunds ended`},
		{name: "a renewal refunded before paidup hears of it grants nothing", script: `
			buy supporter-lifetime
			subscribe pro-monthly
			hold
			renew ok
			refund
			release
			advance 3h
			want supporter
			refunds ungranted
			renew ok
			advance 3h
			want pro
			refunds ungranted`},
		{name: "a renewal refunded while its sync is between reading and writing is told once", script: `
			buy supporter-lifetime
			subscribe pro-monthly
			hold
			renew ok
			refund meanwhile
			release
			advance 3h
			want supporter
			refunds ungranted`},
		{name: "a renewal whose refund fails gets its period back", script: `
			buy supporter-lifetime
			subscribe pro-monthly
			renew ok
			advance 3h
			refund
			want supporter
			refund fails
			want pro
			cases refund_failed`},
		{name: "a renewal refunded before paidup hears of it, then the refund fails: it grants", script: `
			buy supporter-lifetime
			subscribe pro-monthly
			hold
			renew ok
			refund
			refund fails
			release
			advance 3h
			want pro`},
		{name: "two active subscriptions to one tier: a support case", script: `
			subscribe pro-monthly
			subscribe pro-monthly sub2
			cases duplicate_subscription
			cancelled -`},
	}
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				w := newWorld(t, engine, tt.doubleBuy)
				w.policy.Lifecycle.Chargeback.Ends = tt.ends
				for i, line := range strings.Split(strings.TrimSpace(tt.script), "\n") {
					w.step(t, i+1, strings.Fields(line))
				}
			})
		}
	})
}

// world is one customer, paidup's lifecycle on a real database, and the
// processor's billing state.
type world struct {
	ctx     context.Context
	st      *store.Store
	clock   *sandboxtest.Clock
	billing *billing
	svc     *lifecycle.Service
	policy  *paidup.Policy
	subs    map[string]string // script name: subscription id
	cust    string            // the processor customer
	email   string
	// names maps subscription ids back to script names.
	names map[string]string
	// lastPayment is the latest payment, which a dispute takes back.
	lastPayment paidup.ProcessorPayment
	// disputes counts the chargebacks opened: dp_1, dp_2, …
	disputes int
	// delays, if set, gives the delays after which an event is delivered,
	// one per delivery; events wait in queued meanwhile.
	delays func() []time.Duration
	queued []queuedHint
}

func newWorld(t *testing.T, engine sqldb.Engine, doubleBuy string) *world {
	t.Helper()
	ctx := context.Background()
	db := sqldbtest.Open(t, engine)
	_, err := db.Migrate(ctx, store.Migrations)
	require.NoError(t, err)
	_, err = queue.Migrate(ctx, db)
	require.NoError(t, err)
	clock := sandboxtest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	st, err := store.New(db, clock.Now)
	require.NoError(t, err)
	if doubleBuy == "" {
		doubleBuy = paidup.DoubleBuyCancel
	}
	w := &world{ctx: ctx, st: st, clock: clock, billing: newBilling(), policy: testPolicy(doubleBuy),
		subs: map[string]string{}, names: map[string]string{}, cust: "cus_ana", email: "ana@example.com"}
	w.svc = &lifecycle.Service{Store: st, Processor: w.billing, Policy: w.policy,
		Notify: &notify.Outbox{OnCall: []string{"oncall@example.com"}},
		Logger: slog.New(slog.DiscardHandler), RealNow: clock.Now}
	return w
}

func (w *world) step(t *testing.T, n int, f []string) {
	t.Helper()
	at := fmt.Sprintf("line %d %q", n, strings.Join(f, " "))
	name := func(i int) string {
		if len(f) > i {
			return f[i]
		}
		return "sub"
	}
	switch f[0] {
	case "subscribe":
		plan, ok := w.policy.Plan(f[1])
		require.True(t, ok, at)
		w.subscribe(t, plan, name(2))
	case "buy":
		plan, ok := w.policy.Plan(f[1])
		require.True(t, ok, at)
		w.buy(t, plan)
	case "advance":
		d, err := time.ParseDuration(strings.Replace(f[1], "d", "h", 1))
		require.NoError(t, err, at)
		if strings.HasSuffix(f[1], "d") {
			d *= 24
		}
		w.advance(t, d)
	case "renew":
		w.renew(t, name(2), f[1] == "ok")
	case "retry":
		w.retry(t, name(2), f[1] == "ok")
	case "cancel":
		w.cancel(t, name(2), f[1] == "now")
	case "lapse":
		w.lapse(t, name(1))
	case "resume":
		id := w.subs[name(1)]
		s := w.billing.sub(id)
		s.CancelAtPeriodEnd, s.CanceledAt = false, time.Time{}
		w.billing.putSub(s)
		w.hint(t, hint{sub: id})
	case "resync": // a duplicated event: the same subscription again
		w.hint(t, hint{sub: w.subs[name(1)]})
	case "ends":
		id := w.subs[name(1)]
		s := w.billing.sub(id)
		s.Status, s.CanceledAt, s.EndedAt = paidup.SubscriptionCanceled, w.clock.Now(), w.clock.Now()
		w.billing.putSub(s)
		w.hint(t, hint{sub: id})
	case "dispute":
		w.dispute(t, len(f) > 1, name(1))
	case "hold":
		w.delays = func() []time.Duration { return []time.Duration{time.Hour} }
	case "release":
		w.delays = nil
		w.advance(t, time.Hour)
	case "refund":
		if len(f) > 1 && f[1] == "meanwhile" {
			// The refund and its event come while the next sync is
			// between reading the refunds and writing.
			p := w.lastPayment
			lifecycle.AfterRefundsRead(w.svc, func() {
				w.billing.refund(p)
				refunds := &checkout.Service{Store: w.st, Processor: w.billing, Notify: w.svc.Notify, Policy: w.svc.Policy}
				_, err := refunds.SyncRefunds(w.ctx, p.ID, paidup.ByWebhook, "evt_refund")
				require.NoError(t, err, at)
			})
			return
		}
		if len(f) > 1 && f[1] == "fails" {
			w.billing.failRefunds(w.lastPayment.ID)
		} else {
			w.billing.refund(w.lastPayment)
		}
		refunds := &checkout.Service{Store: w.st, Processor: w.billing, Notify: w.svc.Notify, Policy: w.svc.Policy}
		_, err := refunds.SyncRefunds(w.ctx, w.lastPayment.ID, paidup.ByWebhook, "evt_refund")
		require.NoError(t, err, at)
	case "lift":
		var lifted []paidup.Block
		err := w.st.InTx(w.ctx, func(tx *store.Tx) error {
			var err error
			lifted, err = w.svc.LiftBlocksTx(w.ctx, tx, w.customerID(t), "sam", "the bank reversed the dispute")
			return err
		})
		require.NoError(t, err, at)
		require.Equal(t, len(f) == 1, len(lifted) > 0, "%s: lifted %v", at, lifted)
	case "as":
		// "as before": the chargeback as paidup acted on it before its
		// policy, when every grant ended and disputes were not recorded.
		db := w.st.DB().Write
		_, err := db.Exec(`UPDATE grants SET revoked_at = $1, revoke_reason = 'chargeback dp_1' WHERE revoked_at IS NULL`, w.clock.Now().UTC())
		require.NoError(t, err, at)
		_, err = db.Exec(`DELETE FROM disputes`)
		require.NoError(t, err, at)
	case "block":
		err := w.st.InTx(w.ctx, func(tx *store.Tx) error {
			_, err := w.svc.BlockTx(w.ctx, tx, w.customerID(t), "sam", "abusive messages to other members")
			return err
		})
		require.NoError(t, err, at)
	case "told":
		require.Equal(t, list(f[1]), w.holdEmails(t), at)
	case "ended":
		require.Equal(t, f[1], w.ended(t), at)
	case "disputed":
		payments, err := w.st.Payments(w.ctx, w.customerID(t))
		require.NoError(t, err, at)
		var n int
		for _, p := range payments {
			if p.State() == paidup.PaymentDisputed {
				n++
			}
		}
		require.Equal(t, f[1], fmt.Sprint(n), at)
	case "want":
		require.Equal(t, f[1], w.access(t), at)
	case "emails":
		require.Equal(t, list(f[1]), w.lifecycleEmails(t), at)
	case "ending":
		require.Equal(t, f[2], w.endingKept(t, w.subs[f[1]]), at)
	case "refunds":
		require.Equal(t, list(f[1]), w.refundEmails(t), at)
	case "cases":
		require.Equal(t, list(f[1]), w.cases(t), at)
	case "open":
		require.Equal(t, list(f[1]), w.openCases(t), at)
	case "restored":
		require.Equal(t, f[1], w.restoredReferences(t), at)
	case "cancelled":
		var got []string
		for _, id := range w.billing.cancelled {
			got = append(got, w.names[id])
		}
		require.Equal(t, list(f[1]), got, at)
	default:
		t.Fatalf("%s: unknown step", at)
	}
}

func list(s string) []string {
	if s == "-" {
		return nil
	}
	return strings.Split(s, ",")
}

// subscribe starts a subscription whose first invoice is paid now, and
// lets paidup learn of it.
func (w *world) subscribe(t *testing.T, plan paidup.Plan, name string) {
	now := w.clock.Now()
	sub := paidup.ProcessorSubscription{ID: w.billing.id("sub"), CustomerID: w.cust, Status: paidup.SubscriptionActive, Reference: paidup.NewReference(),
		PriceIDs: []string{plan.PriceID}, CurrentPeriodStart: now, CurrentPeriodEnd: month(now, 1), Created: now}
	in := w.paidInvoice(sub, paidup.InvoiceForSubscriptionCreate, plan.Amount, now, sub.CurrentPeriodEnd)
	sub.LatestInvoiceID = in.ID
	w.billing.putSub(sub)
	w.subs[name], w.names[sub.ID] = sub.ID, name
	w.hint(t, hint{sub: sub.ID, invoice: in.ID})
}

func (w *world) paidInvoice(sub paidup.ProcessorSubscription, reason string, amount paidup.Money, start, end time.Time) paidup.ProcessorInvoice {
	in := paidup.ProcessorInvoice{ID: w.billing.id("in"), CustomerID: w.cust, CustomerEmail: w.email, SubscriptionID: sub.ID,
		Status: paidup.InvoicePaid, BillingReason: reason, PaymentID: w.billing.id("pi"), Amount: amount,
		PriceIDs: sub.PriceIDs, PeriodStart: start, PeriodEnd: end, PaidAt: w.clock.Now(), AttemptCount: 1, Created: w.clock.Now()}
	w.billing.putInvoice(in)
	w.lastPayment = paidup.ProcessorPayment{ID: in.PaymentID, Amount: amount}
	return in
}

// buy records a one-time purchase, as the checkout path does.
func (w *world) buy(t *testing.T, plan paidup.Plan) {
	err := w.st.InTx(w.ctx, func(tx *store.Tx) error {
		id, _, err := tx.MatchCustomer(w.ctx, "stripe", w.cust, w.email)
		if err != nil {
			return err
		}
		pi := w.billing.id("pi")
		w.lastPayment = paidup.ProcessorPayment{ID: pi, Amount: plan.Amount}
		if err := tx.RecordPayment(w.ctx, paidup.Payment{Processor: "stripe", ID: pi, CustomerID: id, PlanID: plan.ID,
			Amount: plan.Amount, PaidAt: tx.Now()}); err != nil {
			return err
		}
		_, _, err = tx.InsertGrant(w.ctx, paidup.Grant{CustomerID: id, Tier: plan.Tier, PlanID: plan.ID,
			Source: paidup.SourcePurchase, SourceRef: "stripe:" + pi, Start: tx.Now()})
		return err
	})
	require.NoError(t, err)
}

// advance moves the clock forward, stopping at each moment something falls
// due on the way — a delayed event, a deadline — to deliver or fire it, as
// the deadline jobs and the sweep would.
func (w *world) advance(t *testing.T, d time.Duration) {
	end := w.clock.Now().Add(d)
	for w.clock.Now().Before(end) {
		next := end
		for _, q := range w.queued {
			if q.at.After(w.clock.Now()) && q.at.Before(next) {
				next = q.at
			}
		}
		var due time.Time
		err := w.st.DB().Read.QueryRow(`SELECT due_at FROM deadlines WHERE due_at > $1 ORDER BY due_at LIMIT 1`, w.clock.Now().UTC()).Scan(&due)
		if err != sql.ErrNoRows {
			require.NoError(t, err)
			if due.Before(next) {
				next = due
			}
		}
		w.clock.Set(next)
		w.deliverDue(t)
		_, err = w.svc.Sweep(w.ctx)
		require.NoError(t, err)
	}
}

// renew charges a subscription's renewal at its period's end.
func (w *world) renew(t *testing.T, name string, ok bool) {
	id := w.subs[name]
	sub := w.billing.sub(id)
	if gap := sub.CurrentPeriodEnd.Sub(w.clock.Now()); gap > 0 {
		w.advance(t, gap)
	}
	start, end := sub.CurrentPeriodEnd, month(sub.CurrentPeriodEnd, 1)
	plan, _ := w.policy.PlanByPrice(sub.PriceIDs[0])
	var in paidup.ProcessorInvoice
	if ok {
		in = w.paidInvoice(sub, paidup.InvoiceForSubscriptionCycle, plan.Amount, start, end)
		sub.CurrentPeriodStart, sub.CurrentPeriodEnd, sub.Status = start, end, paidup.SubscriptionActive
	} else {
		in = paidup.ProcessorInvoice{ID: w.billing.id("in"), CustomerID: w.cust, CustomerEmail: w.email, SubscriptionID: id,
			Status: paidup.InvoiceOpen, BillingReason: paidup.InvoiceForSubscriptionCycle, Amount: plan.Amount,
			PriceIDs: sub.PriceIDs, PeriodStart: start, PeriodEnd: end, AttemptCount: 1,
			NextAttempt: w.clock.Now().Add(24 * time.Hour), Created: w.clock.Now()}
		w.billing.putInvoice(in)
		sub.CurrentPeriodStart, sub.CurrentPeriodEnd, sub.Status = start, end, paidup.SubscriptionPastDue
	}
	sub.LatestInvoiceID = in.ID
	w.billing.putSub(sub)
	w.hint(t, hint{sub: id, invoice: in.ID})
}

// retry is the processor's retry of the unpaid renewal.
func (w *world) retry(t *testing.T, name string, ok bool) {
	id := w.subs[name]
	sub := w.billing.sub(id)
	in := w.billing.invoice(sub.LatestInvoiceID)
	require.Equal(t, paidup.InvoiceOpen, in.Status, "retry: the latest invoice is not open")
	in.AttemptCount++
	if ok {
		in.Status, in.PaymentID, in.PaidAt, in.NextAttempt = paidup.InvoicePaid, w.billing.id("pi"), w.clock.Now(), time.Time{}
		sub.Status = paidup.SubscriptionActive
	}
	if ok {
		w.lastPayment = paidup.ProcessorPayment{ID: in.PaymentID, Amount: in.Amount}
	}
	w.billing.putInvoice(in)
	w.billing.putSub(sub)
	w.hint(t, hint{sub: id, invoice: in.ID})
}

func (w *world) cancel(t *testing.T, name string, now bool) {
	id := w.subs[name]
	sub := w.billing.sub(id)
	if now {
		sub.Status, sub.CanceledAt, sub.EndedAt = paidup.SubscriptionCanceled, w.clock.Now(), w.clock.Now()
	} else {
		sub.CancelAtPeriodEnd, sub.CanceledAt = true, w.clock.Now()
	}
	w.billing.putSub(sub)
	w.hint(t, hint{sub: id})
}

// dispute opens a chargeback of the latest payment, or closes it.
func (w *world) dispute(t *testing.T, closing bool, outcome string) {
	if !closing {
		w.disputes++
	}
	id := fmt.Sprintf("dp_%d", w.disputes)
	if closing {
		d, err := w.billing.Dispute(w.ctx, id)
		require.NoError(t, err)
		d.Status = outcome
		w.billing.putDispute(d)
	} else {
		require.NotEmpty(t, w.lastPayment.ID, "dispute: nothing paid yet")
		w.billing.putDispute(paidup.ProcessorDispute{ID: id, ChargeID: "ch_" + w.lastPayment.ID, PaymentID: w.lastPayment.ID, CustomerID: w.cust,
			Amount: w.lastPayment.Amount, Status: "needs_response", Reason: "fraudulent", Created: w.clock.Now()})
	}
	w.hint(t, hint{dispute: id, closed: closing})
}

// hint is what a processor event tells paidup: the subscription (and
// invoice) or the dispute to read again.
type hint struct {
	sub, invoice, dispute string
	closed                bool
}

// hint delivers an event now, or, when the world delays events, queues
// it for each of its deliveries.
func (w *world) hint(t *testing.T, h hint) {
	t.Helper()
	if w.delays == nil {
		w.deliver(t, h)
		return
	}
	for _, d := range w.delays() {
		w.queued = append(w.queued, queuedHint{at: w.clock.Now().Add(d), seq: len(w.queued), h: h})
	}
}

type queuedHint struct {
	at  time.Time
	seq int
	h   hint
}

// deliverDue delivers the queued events due by now, in the order they are
// due.
func (w *world) deliverDue(t *testing.T) {
	t.Helper()
	for {
		i := -1
		for j, q := range w.queued {
			if !q.at.After(w.clock.Now()) && (i < 0 || q.at.Before(w.queued[i].at) || (q.at.Equal(w.queued[i].at) && q.seq < w.queued[i].seq)) {
				i = j
			}
		}
		if i < 0 {
			return
		}
		h := w.queued[i].h
		w.queued = slices.Delete(w.queued, i, i+1)
		w.deliver(t, h)
	}
}

func (w *world) deliver(t *testing.T, h hint) {
	t.Helper()
	if h.dispute != "" {
		err := w.svc.Disputed(w.ctx, h.dispute, h.closed, paidup.ByWebhook)
		if errors.Is(err, lifecycle.ErrUnknownPayer) && w.delays != nil {
			// Its payment's events are still on their way: the job is
			// retried, as River would, an hour later.
			w.queued = append(w.queued, queuedHint{at: w.clock.Now().Add(time.Hour), seq: len(w.queued), h: h})
			return
		}
		require.NoError(t, err)
		w.runJobs(t)
		return
	}
	w.sync(t, h.sub, h.invoice)
}

// sync is what an event about the subscription leads to; it runs twice, as
// a duplicated event would, to show that the second changes nothing.
func (w *world) sync(t *testing.T, subID, invoiceID string) {
	t.Helper()
	require.NoError(t, w.svc.SyncSubscription(w.ctx, subID, invoiceID, paidup.ByWebhook))
	w.runJobs(t)
	before := w.snapshot(t)
	require.NoError(t, w.svc.SyncSubscription(w.ctx, subID, invoiceID, paidup.ByWebhook))
	w.runJobs(t)
	require.Equal(t, before, w.snapshot(t), "a repeated sync changed something")
}

// runJobs works the jobs a change enqueued, as River would at once: the
// deadlines due now and the cancellations at the processor.
func (w *world) runJobs(t *testing.T) {
	t.Helper()
	_, err := w.svc.Sweep(w.ctx)
	require.NoError(t, err)
	db := w.st.DB()
	args := "args"
	if db.Engine == sqldb.SQLite {
		args = "json(args)" // River keeps SQLite's binary JSON
	}
	rows, err := db.Read.Query(`SELECT id, ` + args + ` FROM river_job WHERE kind = 'cancel_subscription' AND state = 'available' ORDER BY id`)
	require.NoError(t, err)
	type job struct {
		id   int64
		args lifecycle.CancelArgs
	}
	var jobs []job
	for rows.Next() {
		var j job
		var args []byte
		require.NoError(t, rows.Scan(&j.id, &args))
		require.NoError(t, json.Unmarshal(args, &j.args))
		jobs = append(jobs, j)
	}
	require.NoError(t, rows.Err())
	rows.Close()
	worker := &lifecycle.CancelWorker{Service: w.svc}
	for _, j := range jobs {
		require.NoError(t, worker.Work(w.ctx, &river.Job[lifecycle.CancelArgs]{JobRow: &rivertype.JobRow{ID: j.id}, Args: j.args}))
		_, err := db.Write.Exec(`UPDATE river_job SET state = 'completed', finalized_at = $2 WHERE id = $1`, j.id, time.Now().UTC())
		require.NoError(t, err)
	}
}

// snapshot is what a sync may change.
func (w *world) snapshot(t *testing.T) []string {
	var out []string
	db := w.st.DB().Read
	for _, q := range []string{
		`SELECT id || ' ' || source || ' ' || COALESCE(CAST(ends_at AS TEXT), '-') || ' ' || COALESCE(CAST(revoked_at AS TEXT), '-') FROM grants ORDER BY id`,
		`SELECT dedupe_key FROM deadlines ORDER BY dedupe_key`,
		`SELECT dedupe_key FROM emails ORDER BY dedupe_key`,
		`SELECT dedupe_key FROM support_cases ORDER BY dedupe_key`,
		`SELECT CAST(count(*) AS TEXT) FROM timeline`,
	} {
		rows, err := db.Query(q)
		require.NoError(t, err)
		for rows.Next() {
			var s string
			require.NoError(t, rows.Scan(&s))
			out = append(out, s)
		}
		require.NoError(t, rows.Err())
		rows.Close()
	}
	return out
}

func (w *world) customerID(t *testing.T) string {
	c, err := w.st.CustomerByEmail(w.ctx, w.email)
	require.NoError(t, err)
	return c.ID
}

func (w *world) access(t *testing.T) string {
	id := w.customerID(t)
	grants, err := w.st.Grants(w.ctx, id)
	require.NoError(t, err)
	blocks, err := w.st.Blocks(w.ctx, id)
	require.NoError(t, err)
	a := w.policy.AccessAt(grants, blocks, w.clock.Now())
	switch {
	case a.Blocked:
		return "blocked"
	case !a.Active:
		return "none"
	}
	return a.Tier
}

func (w *world) lifecycleEmails(t *testing.T) []string {
	rows, err := w.st.DB().Read.Query(`SELECT kind FROM emails WHERE dedupe_key LIKE 'lifecycle:%' ORDER BY queued_at, dedupe_key`)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		out = append(out, k)
	}
	return out
}

// endingKept says what the subscription_ended email of subscription id
// tells the customer they keep: "period" (its paid period, until a date),
// a tier they hold from another grant, or "nothing".
func (w *world) endingKept(t *testing.T, id string) string {
	emails, err := w.st.Emails(w.ctx, w.customerID(t))
	require.NoError(t, err)
	var out []string
	for _, e := range emails {
		if e.DedupeKey != "lifecycle:subscription_ended:stripe:"+id {
			continue
		}
		require.True(t, paidup.IsReference(e.Data["reference"]), "the email carries a reference: %v", e.Data)
		require.NotEmpty(t, e.Data["ended"], "the email says when it ended")
		switch {
		case e.Data["until"] != "":
			require.Empty(t, e.Data["keeps"], "nothing else held in these scripts")
			out = append(out, "period")
		case e.Data["keeps"] != "":
			out = append(out, e.Data["keeps"])
		default:
			out = append(out, "nothing")
		}
	}
	require.Len(t, out, 1, "told once")
	return out[0]
}

// refundEmails say, for each refund email queued so far in order, what
// it tells of access: ungranted (the payment never granted), ended (the
// refund ended it) or kept.
func (w *world) refundEmails(t *testing.T) []string {
	emails, err := w.st.Emails(w.ctx, w.customerID(t))
	require.NoError(t, err)
	var out []string
	for _, e := range emails {
		if e.Kind != notify.KindRefundIssued {
			continue
		}
		switch {
		case e.Data["ungranted"] != "":
			require.Empty(t, e.Data["ended"])
			out = append(out, "ungranted")
		case e.Data["ended"] != "":
			out = append(out, "ended")
		default:
			out = append(out, "kept")
		}
	}
	return out
}

// holdEmails are the emails about a hold queued so far, in order.
func (w *world) holdEmails(t *testing.T) []string {
	rows, err := w.st.DB().Read.Query(`SELECT kind FROM emails WHERE kind IN ($1, $2) ORDER BY queued_at, dedupe_key`,
		notify.KindAccessOnHold, notify.KindAccessRestored)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		out = append(out, k)
	}
	return out
}

// ended lists the plans of the grants a chargeback ended, sorted; "-" for
// none.
func (w *world) ended(t *testing.T) string {
	rows, err := w.st.DB().Read.Query(`SELECT plan_id FROM grants WHERE revoke_reason LIKE 'chargeback %' ORDER BY plan_id`)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		out = append(out, k)
	}
	if out == nil {
		return "-"
	}
	return strings.Join(out, ",")
}

// restoredReferences counts the references the one hold-lifted email
// names.
func (w *world) restoredReferences(t *testing.T) string {
	emails, err := w.st.Emails(w.ctx, w.customerID(t))
	require.NoError(t, err)
	var restored []store.Email
	for _, e := range emails {
		if e.Kind == notify.KindAccessRestored {
			restored = append(restored, e)
		}
	}
	require.Len(t, restored, 1)
	refs := []string{restored[0].Data["reference"]}
	if o := restored[0].Data["others"]; o != "" {
		refs = append(refs, strings.Split(o, ",")...)
	}
	slices.Sort(refs)
	require.Len(t, slices.Compact(refs), len(refs), "the references differ: %v", refs)
	return strconv.Itoa(len(refs))
}

func (w *world) cases(t *testing.T) []string { return w.caseKinds(t, "") }

// openCases lists the kinds of the open support cases, sorted.
func (w *world) openCases(t *testing.T) []string { return w.caseKinds(t, "WHERE status = 'open'") }

// caseKinds lists the kinds of the support cases where says, sorted.
func (w *world) caseKinds(t *testing.T, where string) []string {
	rows, err := w.st.DB().Read.Query(`SELECT kind FROM support_cases ` + where)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
