package sandbox

import (
	"github.com/paidup/paidup"
)

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
