package sandbox

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

func (s *Sandbox) getPaymentMethod(c *call) (any, error) {
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
	return c.object(pm)
}

func (s *Sandbox) getCharge(c *call) (any, error) {
	var p struct {
		Expand []string `form:"expand"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	ch, err := get[*Charge](s, c.r.PathValue("id"), "charge", "charge")
	if err != nil {
		return nil, err
	}
	return c.object(ch)
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
