package sandbox

import "net/http"

func (s *Sandbox) getPaymentIntent(c *call) (any, error) {
	var p struct {
		ClientSecret *string  `form:"client_secret"`
		Expand       []string `form:"expand"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	pi, err := get[*PaymentIntent](s, c.r.PathValue("id"), "payment_intent", "intent")
	if err != nil {
		return nil, err
	}
	return c.object(pi)
}

func (s *Sandbox) listPaymentIntents(c *call) (any, error) {
	var p struct {
		listParams
		Customer *string `form:"customer"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	return c.list("payment_intent", "/v1/payment_intents", p.listParams, func(o Object) bool {
		return p.Customer == nil || deref(o.(*PaymentIntent).Customer) == *p.Customer
	})
}

func (s *Sandbox) listCharges(c *call) (any, error) {
	var p struct {
		listParams
		Customer      *string `form:"customer"`
		PaymentIntent *string `form:"payment_intent"`
		TransferGroup *string `form:"transfer_group"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	return c.list("charge", "/v1/charges", p.listParams, func(o Object) bool {
		ch := o.(*Charge)
		return (p.Customer == nil || deref(ch.Customer) == *p.Customer) &&
			(p.PaymentIntent == nil || deref(ch.PaymentIntent) == *p.PaymentIntent) &&
			(p.TransferGroup == nil || deref(ch.TransferGroup) == *p.TransferGroup)
	})
}

// attach attaches a payment method to a customer. A test card token such
// as pm_card_visa makes a new payment method from the card, as Stripe does.
// A card that declines (pm_card_chargeDeclined…) cannot be attached;
// pm_card_chargeCustomerFail can, and declines when charged.
func (t *txn) attach(id string, cu *Customer) (*PaymentMethod, error) {
	var pm *PaymentMethod
	if tc, ok := testCards[id]; ok {
		if tc.Decline != "" {
			return nil, &apiError{status: http.StatusPaymentRequired, body: *cardError(tc.Decline, "")}
		}
		pm = t.newPaymentMethod(card{TestCard: id, testCard: tc}, deref(cu.Email), deref(cu.Name), nil)
	} else {
		var err error
		if pm, err = get[*PaymentMethod](t.s, id, "PaymentMethod", "payment_method"); err != nil {
			return nil, err
		}
		switch {
		case deref(pm.Customer) == cu.ID:
			return pm, nil
		case pm.Customer != nil:
			return nil, invalidRequest("payment_method", "The payment method you provided has already been attached to a customer.")
		}
		if d := testCardOf(pm).Decline; d != "" {
			return nil, &apiError{status: http.StatusPaymentRequired, body: *cardError(d, "")}
		}
	}
	pm.Customer = &cu.ID
	t.put(pm)
	t.emit("payment_method.attached", pm, nil)
	return pm, nil
}

func (s *Sandbox) attachPaymentMethod(c *call) (any, error) {
	var p struct {
		Customer string   `form:"customer,required"`
		Expand   []string `form:"expand"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	cu, err := get[*Customer](s, p.Customer, "customer", "customer")
	if err != nil {
		return nil, err
	}
	pm, err := c.t.attach(c.r.PathValue("id"), cu)
	if err != nil {
		return nil, err
	}
	return c.object(pm)
}

// detachPaymentMethod detaches a payment method from its customer, who
// loses it as their default.
func (s *Sandbox) detachPaymentMethod(c *call) (any, error) {
	var p struct {
		Expand []string `form:"expand"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	pm, err := get[*PaymentMethod](s, c.r.PathValue("id"), "PaymentMethod", "payment_method")
	if err != nil {
		return nil, err
	}
	if pm.Customer == nil {
		return nil, invalidRequest("payment_method", "The payment method you provided is not attached to a customer so detachment is impossible.")
	}
	if cu, ok := s.objects[*pm.Customer].(*Customer); ok && deref(cu.InvoiceSettings.DefaultPaymentMethod) == pm.ID {
		before := s.render(cu)
		cu.InvoiceSettings.DefaultPaymentMethod = nil
		c.t.changed("customer.updated", cu, before)
	}
	pm.Customer = nil
	c.t.put(pm)
	c.t.emit("payment_method.detached", pm, nil)
	return c.object(pm)
}

func (s *Sandbox) listPaymentMethods(c *call) (any, error) {
	var p struct {
		listParams
		Customer *string `form:"customer"`
		Type     *string `form:"type" enum:"card"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	customer := p.Customer
	url := "/v1/payment_methods"
	if id := c.r.PathValue("id"); id != "" {
		if _, err := get[*Customer](s, id, "customer", "customer"); err != nil {
			return nil, err
		}
		customer, url = &id, "/v1/customers/"+id+"/payment_methods"
	}
	if customer == nil {
		return nil, invalidRequest("customer", "Missing required param: customer. The paidup sandbox lists the payment methods of a customer.")
	}
	return c.list("payment_method", url, p.listParams, func(o Object) bool {
		return deref(o.(*PaymentMethod).Customer) == *customer
	})
}

// setDefaultPaymentMethod makes an attached payment method the one the
// customer's invoices are charged to.
func (t *txn) setDefaultPaymentMethod(cu *Customer, id string) error {
	if id == "" {
		cu.InvoiceSettings.DefaultPaymentMethod = nil
		return nil
	}
	pm, ok := t.s.objects[id].(*PaymentMethod)
	if !ok {
		return errNoSuch("PaymentMethod", id, "invoice_settings[default_payment_method]")
	}
	if deref(pm.Customer) != cu.ID {
		return invalidRequest("invoice_settings[default_payment_method]", "The customer does not have a payment method with the ID %s. The payment method must be attached to the customer.", id)
	}
	cu.InvoiceSettings.DefaultPaymentMethod = &pm.ID
	return nil
}
