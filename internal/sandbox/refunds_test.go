package sandbox_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	stripe "github.com/stripe/stripe-go/v84"
	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// A refund of a charge on pm_card_refundFail (4000 0000 0000 5126) does
// what Stripe documents: it succeeds at first, then fails a little later —
// at once when the clock is advanced past it, and also across a restart —
// with failure_reason expired_or_canceled_card, the charge's
// amount_refunded and refunded set back, and charge.refund.updated,
// refund.updated and refund.failed sent. The charge's refunds show with
// expand[]=refunds. Other cards' refunds stay succeeded.
func TestRefundThatFails(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine, setupOpts{})
		charge := func(card string) *stripe.Charge {
			cs := b.newSession(t, "PU-"+card)
			_, err := b.pay(cs.ID, card)
			require.NoError(t, err)
			got, err := b.client.V1CheckoutSessions.Retrieve(ctx, cs.ID, &stripe.CheckoutSessionRetrieveParams{
				Params: stripe.Params{Expand: []*string{stripe.String("payment_intent.latest_charge.refunds")}},
			})
			require.NoError(t, err)
			return got.PaymentIntent.LatestCharge
		}
		failing, good := charge("pm_card_refundFail"), charge("pm_card_visa")
		require.Equal(t, "5126", failing.PaymentMethodDetails.Card.Last4)
		require.NotNil(t, failing.Refunds, "refunds are included when expanded")
		require.Empty(t, failing.Refunds.Data)

		re, err := b.client.V1Refunds.Create(ctx, &stripe.RefundCreateParams{Charge: stripe.String(failing.ID)})
		require.NoError(t, err)
		require.Equal(t, stripe.RefundStatusSucceeded, re.Status, "it succeeds at first")
		kept, err := b.client.V1Refunds.Create(ctx, &stripe.RefundCreateParams{Charge: stripe.String(good.ID), Amount: stripe.Int64(900)})
		require.NoError(t, err)
		readCharge := func(id string) *stripe.Charge {
			ch, err := b.client.V1Charges.Retrieve(ctx, id, &stripe.ChargeRetrieveParams{Params: stripe.Params{Expand: []*string{stripe.String("refunds")}}})
			require.NoError(t, err)
			return ch
		}
		ch := readCharge(failing.ID)
		require.True(t, ch.Refunded)
		require.Equal(t, ch.Amount, ch.AmountRefunded)
		require.Len(t, ch.Refunds.Data, 1)
		require.Equal(t, re.ID, ch.Refunds.Data[0].ID)
		require.Equal(t, "/v1/charges/"+failing.ID+"/refunds", ch.Refunds.URL)
		b.settle(t)

		// Stopped and started again, the sandbox still fails it when due.
		b.stop()
		b.start(t, nil)
		require.Empty(t, b.events(t, "type=refund.failed"), "not yet")
		tc, err := b.client.V1TestHelpersTestClocks.Retrieve(ctx, "clock_sandbox", nil)
		require.NoError(t, err)
		_, err = b.client.V1TestHelpersTestClocks.Advance(ctx, "clock_sandbox",
			&stripe.TestHelpersTestClockAdvanceParams{FrozenTime: stripe.Int64(tc.FrozenTime + 60)})
		require.NoError(t, err)

		got, err := b.client.V1Refunds.Retrieve(ctx, re.ID, nil)
		require.NoError(t, err)
		require.Equal(t, stripe.RefundStatusFailed, got.Status)
		require.Equal(t, stripe.RefundFailureReasonExpiredOrCanceledCard, got.FailureReason)
		require.NotNil(t, got.FailureBalanceTransaction)
		ch = readCharge(failing.ID)
		require.False(t, ch.Refunded)
		require.Zero(t, ch.AmountRefunded, "the money went back to the merchant")
		require.Equal(t, stripe.RefundStatusFailed, ch.Refunds.Data[0].Status)
		// The reads paidup makes: a payment intent's charge with its
		// refunds, and refunds listed with their charge's.
		pi, err := b.client.V1PaymentIntents.Retrieve(ctx, failing.PaymentIntent.ID, &stripe.PaymentIntentRetrieveParams{
			Params: stripe.Params{Expand: []*string{stripe.String("latest_charge.refunds")}},
		})
		require.NoError(t, err)
		require.Equal(t, stripe.RefundStatusFailed, pi.LatestCharge.Refunds.Data[0].Status)
		var listed []*stripe.Refund
		for r, err := range b.client.V1Refunds.List(ctx, &stripe.RefundListParams{ListParams: stripe.ListParams{
			Expand: []*string{stripe.String("data.charge.refunds")}}}) {
			require.NoError(t, err)
			listed = append(listed, r)
		}
		require.Len(t, listed, 2)
		for _, r := range listed {
			require.Len(t, r.Charge.Refunds.Data, 1)
			require.Equal(t, r.ID, r.Charge.Refunds.Data[0].ID)
		}
		other, err := b.client.V1Refunds.Retrieve(ctx, kept.ID, nil)
		require.NoError(t, err)
		require.Equal(t, stripe.RefundStatusSucceeded, other.Status, "a good card's refund stays succeeded")
		require.Equal(t, int64(900), readCharge(good.ID).AmountRefunded)

		for _, typ := range []string{"charge.refund.updated", "refund.updated", "refund.failed"} {
			evs := b.events(t, "type="+typ)
			require.Len(t, evs, 1, typ)
			require.Equal(t, re.ID, evs[0].Data.Object.ID, typ)
		}
		var updated struct {
			Data struct {
				PreviousAttributes map[string]any `json:"previous_attributes"`
			} `json:"data"`
		}
		_, body := b.get(t, "/v1/events/"+b.lastEvent(t, "charge.refund.updated").ID)
		require.NoError(t, json.Unmarshal(body, &updated))
		require.Equal(t, map[string]any{"status": "succeeded", "failure_reason": nil, "failure_balance_transaction": nil}, updated.Data.PreviousAttributes)

		received := b.hooks.waitFor(t, "the failure's webhooks", func(got []string) bool {
			n := 0
			for _, typ := range got {
				if typ == "charge.refund.updated" || typ == "refund.updated" || typ == "refund.failed" {
					n++
				}
			}
			return n == 3
		})
		require.Contains(t, received, "charge.refund.updated")
		for _, d := range b.hooks.received("charge.refund.updated") {
			ev, err := webhook.ConstructEvent(d.Body, d.Signature, webhookSecret)
			require.NoError(t, err)
			var r stripe.Refund
			require.NoError(t, json.Unmarshal(ev.Data.Raw, &r))
			require.Equal(t, stripe.RefundStatusFailed, r.Status)
		}

		// What failed can be refunded again, and that fails in its turn.
		again, err := b.client.V1Refunds.Create(ctx, &stripe.RefundCreateParams{Charge: stripe.String(failing.ID)})
		require.NoError(t, err)
		require.Equal(t, stripe.RefundStatusSucceeded, again.Status)
		require.Equal(t, failing.Amount, readCharge(failing.ID).AmountRefunded)
		_, err = b.client.V1TestHelpersTestClocks.Advance(ctx, "clock_sandbox",
			&stripe.TestHelpersTestClockAdvanceParams{FrozenTime: stripe.Int64(tc.FrozenTime + 120)})
		require.NoError(t, err)
		got, err = b.client.V1Refunds.Retrieve(ctx, again.ID, nil)
		require.NoError(t, err)
		require.Equal(t, stripe.RefundStatusFailed, got.Status)
		require.Len(t, b.events(t, "type=refund.failed"), 2)
	})
}
