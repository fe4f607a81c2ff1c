package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/obs"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sandbox/sandboxtest"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

// counted is a counter's value.
func counted(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, c.Write(&m))
	return m.GetCounter().GetValue()
}

// madeUp is an event as a webhook would carry it, about an object given
// as JSON, that the processor never sent.
func madeUp(id, typ, object string) sandboxtest.Event {
	var obj struct{ ID, Object string }
	if err := json.Unmarshal([]byte(object), &obj); err != nil {
		panic(err)
	}
	return sandboxtest.Event{ID: id, Type: typ, ObjectType: obj.Object, ObjectID: obj.ID, Created: time.Now(),
		Payload: fmt.Appendf(nil, `{"id":%q,"object":"event","type":%q,"livemode":false,"data":{"object":%s}}`, id, typ, object)}
}

// bought buys proAnnual with a test card and processes its checkout's
// event; it returns the attempt and the checkout's charge.
func (b *workerBundle) bought(t *testing.T, card, email string) (paidup.CheckoutAttempt, paidup.Checkout, string) {
	t.Helper()
	ctx := context.Background()
	a, err := b.svc.Start(ctx, proAnnual, paidup.NewReference(), email)
	require.NoError(t, err)
	b.sb.Pay(t, a.CheckoutID, url.Values{"payment_method": {card}})
	b.deliver(t, b.eventOf(t, "checkout.session.completed", a.CheckoutID))
	a, err = b.store.CheckoutAttempt(ctx, a.Reference)
	require.NoError(t, err)
	require.Equal(t, paidup.AttemptFulfilled, a.Status)
	co, err := b.svc.Processor.Checkout(ctx, a.CheckoutID)
	require.NoError(t, err)
	pi := b.sb.Call(t, http.MethodGet, "/v1/payment_intents/"+co.PaymentID, nil)
	return a, co, pi["latest_charge"].(string)
}

// advanceSandbox moves the sandbox's clock on, doing what falls due.
func (b *workerBundle) advanceSandbox(t *testing.T, d time.Duration) {
	t.Helper()
	now := b.sb.Sandbox.Now().Add(d).Unix()
	b.sb.Call(t, http.MethodPost, "/v1/test_helpers/test_clocks/clock_sandbox/advance", url.Values{"frozen_time": {strconv.FormatInt(now, 10)}})
}

// A refund event is a hint, never an authority. A charge.refunded the
// processor did not send — a forged, replayed or test event, signed with
// the right secret — names the real payment, refunded in full, for a
// refund the processor does not have: nothing changes, and nothing is
// kept for a payment paidup has not recorded. A real full refund
// ends the access. When the processor then fails that refund (the test
// card pm_card_refundFail), the access comes back, once, however many of
// the failure's events arrive, a support case says the customer was not
// refunded, and no email goes to the customer about it.
func TestRefundEventsAreHints(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setupWorker(t, engine)
		a, co, charge := b.bought(t, "pm_card_refundFail", "ada@example.com")
		state := func() (paidup.Grant, paidup.Payment) {
			t.Helper()
			grants, err := b.store.Grants(ctx, a.CustomerID)
			require.NoError(t, err)
			require.Len(t, grants, 1)
			payments, err := b.store.Payments(ctx, a.CustomerID)
			require.NoError(t, err)
			require.Len(t, payments, 1)
			return grants[0], payments[0]
		}

		forged := madeUp("evt_not_from_the_processor", "charge.refunded", fmt.Sprintf(
			`{"id":%q,"object":"charge","amount":24900,"amount_refunded":24900,"refunded":true,"payment_intent":%q,"status":"succeeded"}`,
			charge, co.PaymentID))
		b.deliver(t, forged)
		g, p := state()
		require.Zero(t, g.Revoked, "a refund the processor does not have ends nothing")
		require.Equal(t, paidup.PaymentSucceeded, p.Status)
		require.Zero(t, p.AmountRefunded)
		require.True(t, policy.AccessAt([]paidup.Grant{g}, nil, time.Now()).Active)
		require.Zero(t, countPrefix(b.timeline(t, a.Reference), "Refund recorded"))

		// One naming a payment paidup has not recorded (yet) is not kept
		// for when it is: the processor has no refund of it either.
		elsewhere := b.sb.CreateSession(t, url.Values{"line_items[0][price]": {proAnnual.PriceID}, "customer_email": {"eve@example.com"}})
		b.sb.Pay(t, elsewhere, nil)
		pi := b.sb.Call(t, http.MethodGet, "/v1/checkout/sessions/"+elsewhere+"?expand[]=payment_intent", nil)["payment_intent"].(map[string]any)
		b.deliver(t, madeUp("evt_not_from_the_processor_either", "charge.refunded", fmt.Sprintf(
			`{"id":%q,"object":"charge","amount":24900,"amount_refunded":24900,"refunded":true,"payment_intent":%q,"status":"succeeded"}`,
			pi["latest_charge"], pi["id"])))
		require.Zero(t, b.count(t, `SELECT count(*) FROM early_refunds`))

		b.sb.Refund(t, co.PaymentID, 0)
		b.deliver(t, b.eventOf(t, "charge.refunded", charge))
		g, p = state()
		require.NotZero(t, g.Revoked, "a real full refund ends the access")
		require.Equal(t, checkout.RefundRevokeReason, g.RevokeReason)
		require.Equal(t, paidup.PaymentRefunded, p.Status)
		require.Equal(t, int64(24900), p.AmountRefunded)

		b.advanceSandbox(t, time.Minute) // the refund fails
		var failure []sandboxtest.Event
		for _, typ := range []string{"charge.refund.updated", "refund.updated", "refund.failed"} {
			evs := b.sb.Events(t, typ)
			require.Len(t, evs, 1, typ)
			failure = append(failure, evs[0])
		}
		b.deliver(t, failure...)
		g, p = state()
		require.Zero(t, g.Revoked, "the failed refund gives the access back")
		require.Empty(t, g.RevokeReason)
		require.Equal(t, paidup.PaymentSucceeded, p.Status)
		require.Zero(t, p.AmountRefunded)
		require.True(t, policy.AccessAt([]paidup.Grant{g}, nil, time.Now()).Active)
		timeline := b.timeline(t, a.Reference)
		require.Equal(t, 1, countPrefix(timeline, "Access restored: the refund did not go through"), "%q", timeline)
		require.Equal(t, 1, countPrefix(timeline, "Refund corrected: the processor has $0.00 of $249.00 refunded, not $249.00"), "%q", timeline)
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM support_cases WHERE kind = $1 AND payment_id = $2`, paidup.CaseRefundFailed, co.PaymentID))
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM emails WHERE kind = 'confirmation'`))
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM emails WHERE kind = 'refund_issued'`), "the refund told once; its failure goes to a person, by the case")
		require.Equal(t, 2, b.count(t, `SELECT count(*) FROM emails`))
		report, err := b.store.Check(ctx)
		require.NoError(t, err)
		require.Empty(t, report.Violations)

		// The same events again, as webhooks may come: nothing more.
		for i := range failure {
			failure[i].ID += "_again"
		}
		b.deliver(t, failure...)
		require.Equal(t, 1, countPrefix(b.timeline(t, a.Reference), "Access restored"))
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM support_cases`))
	})
}

// An event about an object the processor does not have — a checkout, a
// payment, a subscription, an invoice's subscription, a charge, a
// dispute — is a permanent answer: recorded as processed and not
// applicable, once, its job done at the first attempt rather than retried
// for a day. A chargeback's opens a support case naming the dispute, once.
func TestEventsAboutMissingObjects(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setupWorker(t, engine)
		evs := []sandboxtest.Event{
			madeUp("evt_missing_checkout", "checkout.session.completed", `{"id":"cs_test_missing","object":"checkout.session"}`),
			madeUp("evt_missing_payment", "payment_intent.succeeded",
				`{"id":"pi_missing","object":"payment_intent","metadata":{"paidup_checkout":"PU-M1SS-1NG0"}}`),
			madeUp("evt_missing_subscription", "customer.subscription.updated", `{"id":"sub_missing","object":"subscription"}`),
			madeUp("evt_missing_invoice", "invoice.paid",
				`{"id":"in_missing","object":"invoice","parent":{"subscription_details":{"subscription":"sub_missing"}}}`),
			madeUp("evt_missing_charge", "charge.refunded", `{"id":"ch_missing","object":"charge","payment_intent":"pi_missing"}`),
			madeUp("evt_missing_refund", "charge.refund.updated", `{"id":"re_missing","object":"refund","payment_intent":"pi_missing"}`),
			madeUp("evt_missing_dispute", "charge.dispute.created", `{"id":"dp_missing","object":"dispute"}`),
		}
		before := b.count(t, `SELECT count(*) FROM river_job`)
		b.deliver(t, evs...) // fails the test unless every job completed
		for _, ev := range evs {
			require.Equal(t, 1, b.count(t, `SELECT count(*) FROM webhook_events WHERE event_id = $1 AND processed_at IS NOT NULL AND outcome = $2`,
				ev.ID, store.OutcomeNotApplicable), ev.Type)
			require.Equal(t, 1.0, counted(t, b.metrics.EventsNotApplicable.WithLabelValues(ev.Type)), ev.Type)
			require.Zero(t, counted(t, b.metrics.EventsFailed.WithLabelValues(ev.Type)), ev.Type)
		}
		jobs := b.count(t, `SELECT count(*) FROM river_job`) - before
		require.Positive(t, jobs)
		require.Equal(t, jobs, b.count(t, `SELECT count(*) FROM river_job WHERE kind = $1 AND state = 'completed' AND attempt = 1`,
			ProcessArgs{}.Kind()), "each job done at its first attempt")
		require.Zero(t, b.count(t, `SELECT count(*) FROM grants`))
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM support_cases WHERE kind = $1 AND summary LIKE '%dp_missing%'`, paidup.CaseMissingObject))
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM support_cases`), "only the chargeback's matters")

		// Another event about the same missing dispute: the case is open already.
		b.deliver(t, madeUp("evt_missing_dispute_again", "charge.dispute.updated", `{"id":"dp_missing","object":"dispute"}`))
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM support_cases`))
		// An event acted on as usual records no outcome.
		b.bought(t, "pm_card_visa", "bob@example.com")
		require.Equal(t, len(evs)+1, b.count(t, `SELECT count(*) FROM webhook_events WHERE outcome IS NOT NULL`))
	})
}

// When the processor fails (here, it is down), processing an event fails
// and is tried again: the event is not marked processed, the failure is
// counted, and the queue logs it, at WARN for a queue that expects no
// failure, with the event's id and type; River keeps the job to retry.
func TestProcessingFailuresRetry(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		b.run(t)
		logs := &syncBuffer{}
		log := slog.New(slog.NewJSONHandler(logs, nil))
		metrics := obs.NewMetrics()
		svc := &checkout.Service{Store: b.store, Processor: sandboxtest.Unreachable(t), Policy: &policy, Notify: &notify.Outbox{},
			Logger: log, PublicURL: "http://paidup.test", FirstCheck: time.Minute}
		worker := &ProcessWorker{Store: b.store, Checkout: svc, Logger: log, Metrics: metrics}
		workers := river.NewWorkers()
		river.AddWorker(workers, worker)
		client, err := queue.New(b.db, queue.Config{Workers: workers, PollInterval: 10 * time.Millisecond, Logger: log})
		require.NoError(t, err)
		failed, cancel := client.Subscribe(river.EventKindJobFailed, river.EventKindJobCompleted)
		t.Cleanup(cancel)
		require.NoError(t, client.Start(ctx))
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			client.Stop(ctx)
		})

		ev := madeUp("evt_while_down", "checkout.session.completed", `{"id":"cs_test_while_down","object":"checkout.session"}`)
		_, err = b.ingester.Ingest(ctx, store.WebhookEvent{Processor: "stripe", ID: ev.ID, Type: ev.Type, ObjectType: ev.ObjectType,
			ObjectID: ev.ObjectID, Created: ev.Created, Payload: ev.Payload})
		require.NoError(t, err)
		select {
		case e := <-failed:
			require.Equal(t, river.EventKindJobFailed, e.Kind)
			// Due again (River makes a job due soon available at once).
			require.Contains(t, []rivertype.JobState{rivertype.JobStateRetryable, rivertype.JobStateAvailable}, e.Job.State, "River tries it again")
			require.Less(t, e.Job.Attempt, e.Job.MaxAttempts)
		case <-time.After(30 * time.Second):
			t.Fatal("the job never ran")
		}
		got, err := b.store.WebhookEvent(ctx, "stripe", ev.ID)
		require.NoError(t, err)
		require.Zero(t, got.Processed)
		require.Zero(t, b.count(t, `SELECT count(*) FROM webhook_events WHERE outcome IS NOT NULL`))
		require.Equal(t, 1.0, counted(t, metrics.EventsFailed.WithLabelValues(ev.Type)))
		require.Zero(t, counted(t, metrics.EventsNotApplicable.WithLabelValues(ev.Type)))
		var warned bool
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var rec map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &rec))
			if msg, _ := rec["err"].(string); rec["level"] == "WARN" && strings.Contains(msg, ev.Type+" "+ev.ID) {
				warned = true
			}
		}
		require.True(t, warned, "a WARN line names the event and its type:\n%s", logs.String())
	})
}
