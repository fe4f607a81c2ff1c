package sandbox

import (
	"time"

	"github.com/paidup/paidup"
)

// refundFailDelay is how long after it was made a refund of a charge on
// pm_card_refundFail fails, on the charge's clock. Stripe says only "some
// time later"; advancing the clock past it makes it fail at once.
const refundFailDelay = 30 * time.Second

type refundParams struct {
	Charge        *string           `form:"charge"`
	PaymentIntent *string           `form:"payment_intent"`
	Amount        *int64            `form:"amount"`
	Reason        *string           `form:"reason" enum:"duplicate|fraudulent|requested_by_customer"`
	Metadata      map[string]string `form:"metadata"`
	Expand        []string          `form:"expand"`
}

func (s *Sandbox) createRefund(c *call) (any, error) {
	var p refundParams
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	var ch *Charge
	switch {
	case p.Charge != nil && p.PaymentIntent != nil:
		return nil, invalidRequest("payment_intent", "You may only specify one of these parameters: charge, payment_intent.")
	case p.Charge != nil:
		var err error
		if ch, err = get[*Charge](s, *p.Charge, "charge", "charge"); err != nil {
			return nil, err
		}
	case p.PaymentIntent != nil:
		pi, err := get[*PaymentIntent](s, *p.PaymentIntent, "payment_intent", "payment_intent")
		if err != nil {
			return nil, err
		}
		if pi.Status != "succeeded" || pi.LatestCharge == nil {
			return nil, invalidRequest("payment_intent", "This PaymentIntent (%s) does not have a successful charge to refund.", pi.ID)
		}
		ch = s.objects[*pi.LatestCharge].(*Charge)
	default:
		return nil, invalidRequest("charge", "One of the following params should be provided for this request: payment_intent or charge.")
	}
	if ch.Status != "succeeded" {
		return nil, invalidRequest("charge", "Charge %s has a status of %s and cannot be refunded.", ch.ID, ch.Status)
	}
	left := ch.Amount - ch.AmountRefunded
	if left == 0 {
		e := invalidRequest("charge", "Charge %s has already been refunded.", ch.ID)
		e.body.Code = "charge_already_refunded"
		return nil, e
	}
	amount := left
	if p.Amount != nil {
		amount = *p.Amount
		if amount <= 0 {
			return nil, invalidRequest("amount", "Invalid positive integer")
		}
		if amount > left {
			e := invalidRequest("amount", "Refund amount (%s) is greater than unrefunded amount on charge (%s)",
				money(amount, ch.Currency), money(left, ch.Currency))
			e.body.Code = "amount_too_large"
			return nil, e
		}
	}
	re := &Refund{
		meta:               meta{ID: newID("re"), Object: "refund", Created: c.t.now.Unix()},
		Amount:             amount,
		BalanceTransaction: ptr(newID("txn")),
		Charge:             &ch.ID,
		Currency:           ch.Currency,
		Metadata:           Metadata{},
		PaymentIntent:      ch.PaymentIntent,
		Reason:             p.Reason,
		Status:             "succeeded",
	}
	mergeMetadata(&re.Metadata, p.Metadata)
	if testCardOf(s.paymentMethodOf(ch)).RefundFails {
		clock := s.chargeClock(ch)
		re.FailsAt = s.timeOn(&clock).Add(refundFailDelay).Unix()
	}
	c.t.put(re)
	before := s.render(ch)
	ch.AmountRefunded += amount
	ch.Refunded = ch.AmountRefunded == ch.Amount
	c.t.put(ch)
	c.t.emit("refund.created", re, nil)
	c.t.changed("charge.refunded", ch, before)
	return c.object(re)
}

func money(amount int64, currency string) string {
	return paidup.Money{Amount: amount, Currency: currency}.String()
}

func (s *Sandbox) listRefunds(c *call) (any, error) {
	var p struct {
		listParams
		Charge        *string `form:"charge"`
		PaymentIntent *string `form:"payment_intent"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	return c.list("refund", "/v1/refunds", p.listParams, func(o Object) bool {
		re := o.(*Refund)
		return (p.Charge == nil || deref(re.Charge) == *p.Charge) &&
			(p.PaymentIntent == nil || deref(re.PaymentIntent) == *p.PaymentIntent)
	})
}

// paymentMethodOf is the payment method a charge was paid with.
func (s *Sandbox) paymentMethodOf(ch *Charge) *PaymentMethod {
	if pm, ok := s.objects[deref(ch.PaymentMethod)].(*PaymentMethod); ok {
		return pm
	}
	return &PaymentMethod{Card: &CardDetails{}}
}

// chargeClock is the test clock a charge's customer lives by.
func (s *Sandbox) chargeClock(ch *Charge) string {
	if cu, ok := s.objects[deref(ch.Customer)].(*Customer); ok && cu.TestClock != nil {
		return *cu.TestClock
	}
	return DefaultClock
}

// failRefund fails a refund that succeeded, as Stripe fails one
// asynchronously (the card was closed): the money goes back to the
// merchant, the charge's amount_refunded comes down again, and
// charge.refund.updated, refund.updated and refund.failed are sent.
func (t *txn) failRefund(re *Refund) {
	before := map[string]any{"status": re.Status, "failure_reason": nil, "failure_balance_transaction": nil}
	re.Status, re.FailureReason, re.FailureBalanceTx, re.FailsAt = "failed", "expired_or_canceled_card", newID("txn"), 0
	t.put(re)
	if ch, ok := t.s.objects[deref(re.Charge)].(*Charge); ok {
		ch.AmountRefunded -= re.Amount
		ch.Refunded = ch.AmountRefunded == ch.Amount
		t.put(ch)
	}
	t.emit("charge.refund.updated", re, before)
	t.emit("refund.updated", re, before)
	t.emit("refund.failed", re, nil)
}

// chargeRefunds is a charge's refunds as its refunds field shows them when
// expanded: the newest ten, as Stripe includes them, with has_more.
func (s *Sandbox) chargeRefunds(chargeID string) map[string]any {
	const shown = 10
	ids := s.byType["refund"]
	data := []any{}
	more := false
	for i := len(ids) - 1; i >= 0; i-- {
		re := s.objects[ids[i]].(*Refund)
		if deref(re.Charge) != chargeID {
			continue
		}
		if len(data) == shown {
			more = true
			break
		}
		data = append(data, s.render(re))
	}
	return map[string]any{"object": "list", "data": data, "has_more": more, "url": "/v1/charges/" + chargeID + "/refunds"}
}
