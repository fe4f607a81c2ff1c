package sandbox

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

type checkoutSessionParams struct {
	Mode               string            `form:"mode,required" enum:"payment|setup|subscription"`
	SuccessURL         *string           `form:"success_url"`
	CancelURL          *string           `form:"cancel_url"`
	ClientReferenceID  *string           `form:"client_reference_id"`
	Customer           *string           `form:"customer"`
	CustomerEmail      *string           `form:"customer_email"`
	CustomerCreation   *string           `form:"customer_creation" enum:"always|if_required"`
	ExpiresAt          *int64            `form:"expires_at"`
	Locale             *string           `form:"locale"`
	SubmitType         *string           `form:"submit_type" enum:"auto|book|donate|pay|subscribe"`
	Metadata           map[string]string `form:"metadata"`
	UIMode             *string           `form:"ui_mode" enum:"hosted|hosted_page"`
	PaymentMethodTypes []string          `form:"payment_method_types" enum:"card"`
	LineItems          []lineItemParams  `form:"line_items"`
	PaymentIntentData  *struct {
		Description               *string           `form:"description"`
		Metadata                  map[string]string `form:"metadata"`
		ReceiptEmail              *string           `form:"receipt_email"`
		StatementDescriptorSuffix *string           `form:"statement_descriptor_suffix"`
	} `form:"payment_intent_data"`
	SubscriptionData *struct {
		Description *string           `form:"description"`
		Metadata    map[string]string `form:"metadata"`
	} `form:"subscription_data"`
	Expand []string `form:"expand"`
}

func (s *Sandbox) createCheckoutSession(c *call) (any, error) {
	var p checkoutSessionParams
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	now := c.t.now
	subscription := p.Mode == "subscription"
	switch {
	case p.Mode == "setup":
		return nil, invalidRequest("mode", "Invalid mode: must be one of payment or subscription, the modes this sandbox offers (see docs/sandbox.md).")
	case subscription && p.PaymentIntentData != nil:
		return nil, invalidRequest("payment_intent_data", "You can not pass `payment_intent_data` in `subscription` mode.")
	case subscription && p.CustomerCreation != nil:
		return nil, invalidRequest("customer_creation", "`customer_creation` can only be used in `payment` mode.")
	case !subscription && p.SubscriptionData != nil:
		return nil, invalidRequest("subscription_data", "You can only pass `subscription_data` in `subscription` mode.")
	}
	if d := p.PaymentIntentData; d != nil && d.StatementDescriptorSuffix != nil {
		if msg := statementSuffixProblem(*d.StatementDescriptorSuffix); msg != "" {
			return nil, invalidRequest("payment_intent_data[statement_descriptor_suffix]", "%s", msg)
		}
	}
	if p.SuccessURL == nil || *p.SuccessURL == "" {
		return nil, invalidRequest("success_url", "Missing required param: success_url.")
	}
	for param, u := range map[string]*string{"success_url": p.SuccessURL, "cancel_url": p.CancelURL} {
		if u != nil && !validURL(strings.ReplaceAll(*u, "{CHECKOUT_SESSION_ID}", "x")) {
			return nil, invalidRequest(param, "Not a valid URL")
		}
	}
	if p.Customer != nil && p.CustomerEmail != nil {
		return nil, invalidRequest("customer_email", "You may only specify one of these parameters: customer, customer_email.")
	}
	if p.Customer != nil && p.CustomerCreation != nil {
		return nil, invalidRequest("customer_creation", "You may only specify one of these parameters: customer, customer_creation.")
	}
	if p.Customer != nil {
		if _, err := get[*Customer](s, *p.Customer, "customer", "customer"); err != nil {
			return nil, err
		}
	}
	if p.CustomerEmail != nil {
		if err := (&customerParams{Email: p.CustomerEmail}).validate(); err != nil {
			err.(*apiError).body.Param = "customer_email"
			return nil, err
		}
	}
	if p.ClientReferenceID != nil && len(*p.ClientReferenceID) > 200 {
		return nil, invalidRequest("client_reference_id", "Invalid string: client_reference_id must be at most 200 characters")
	}
	expires := now.Add(24 * time.Hour).Unix()
	if p.ExpiresAt != nil {
		e := *p.ExpiresAt
		if e < now.Add(30*time.Minute).Unix()-5 || e > now.Add(24*time.Hour).Unix()+5 {
			return nil, invalidRequest("expires_at", "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.")
		}
		expires = e
	}
	if len(p.LineItems) == 0 {
		return nil, invalidRequest("line_items", "You must provide at least one line item in `%s` mode.", p.Mode)
	}
	cs := &CheckoutSession{
		meta:                    meta{ID: newID("cs_test"), Object: "checkout.session", Created: now.Unix()},
		CancelURL:               p.CancelURL,
		ClientReferenceID:       p.ClientReferenceID,
		CustomFields:            []struct{}{},
		Customer:                p.Customer,
		CustomerEmail:           p.CustomerEmail,
		ExpiresAt:               expires,
		Locale:                  p.Locale,
		Metadata:                Metadata{},
		Mode:                    p.Mode,
		PaymentMethodTypes:      []string{"card"},
		PaymentStatus:           "unpaid",
		ShippingOptions:         []struct{}{},
		Status:                  "open",
		SubmitType:              p.SubmitType,
		SuccessURL:              p.SuccessURL,
		UIMode:                  "hosted_page",
		PaymentMethodCollection: ptr("if_required"),
	}
	if p.Customer == nil && !subscription {
		cs.CustomerCreation = ptr("if_required")
		if p.CustomerCreation != nil {
			cs.CustomerCreation = p.CustomerCreation
		}
	}
	mergeMetadata(&cs.Metadata, p.Metadata)
	items, err := s.lineItems(p.LineItems, subscription)
	if err != nil {
		return nil, err
	}
	cs.setLineItems(items)
	if d := p.SubscriptionData; d != nil {
		cs.SubscriptionData = &SubscriptionData{Description: d.Description}
		mergeMetadata(&cs.SubscriptionData.Metadata, d.Metadata)
	}
	if p.PaymentIntentData != nil {
		cs.PaymentIntentData = &PaymentIntentData{
			Description:               p.PaymentIntentData.Description,
			ReceiptEmail:              p.PaymentIntentData.ReceiptEmail,
			StatementDescriptorSuffix: p.PaymentIntentData.StatementDescriptorSuffix,
		}
		mergeMetadata(&cs.PaymentIntentData.Metadata, p.PaymentIntentData.Metadata)
	}
	cs.URL = ptr(s.opts.BaseURL + "/c/pay/" + cs.ID)
	c.t.put(cs)
	return c.object(cs)
}

// lineItemParams is one line of a checkout session or a payment link.
type lineItemParams struct {
	Price    string `form:"price,required"`
	Quantity *int64 `form:"quantity"`
}

// lineItems checks the lines asked for, in payment or subscription mode,
// and prices them.
func (s *Sandbox) lineItems(params []lineItemParams, subscription bool) ([]LineItem, error) {
	var items []LineItem
	for i, li := range params {
		pr, err := get[*Price](s, li.Price, "price", "line_items["+itoa(i)+"][price]")
		if err != nil {
			return nil, err
		}
		if !pr.Active {
			return nil, invalidRequest("line_items["+itoa(i)+"][price]", "The price specified is inactive. This field only accepts active prices.")
		}
		switch {
		case pr.Recurring != nil && !subscription:
			return nil, invalidRequest("line_items["+itoa(i)+"][price]", "You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.")
		case pr.Recurring == nil && subscription:
			return nil, invalidRequest("line_items["+itoa(i)+"][price]", "In this sandbox every price in `subscription` mode must be recurring (see docs/sandbox.md).")
		case subscription && len(items) > 0 && *items[0].Price.Recurring != *pr.Recurring:
			return nil, invalidRequest("line_items", "All prices on a subscription must have the same `recurring.interval` and `recurring.interval_count`.")
		}
		if len(items) > 0 && pr.Currency != items[0].Currency {
			return nil, invalidRequest("line_items", "Line items must all be in the same currency.")
		}
		qty := int64(1)
		if li.Quantity != nil {
			qty = *li.Quantity
		}
		if qty < 1 || qty > 999999 {
			return nil, invalidRequest("line_items["+itoa(i)+"][quantity]", "Quantity must be between 1 and 999999.")
		}
		product, _ := s.objects[pr.Product].(*Product)
		desc := ""
		if product != nil {
			desc = product.Name
		}
		amount := deref(pr.UnitAmount) * qty
		items = append(items, LineItem{
			ID: newID("li"), Object: "item", AmountSubtotal: amount, AmountTotal: amount,
			Currency: pr.Currency, Description: desc, Price: pr, Quantity: qty,
		})
	}
	return items, nil
}

// setLineItems gives a session its lines and the totals they add up to.
func (cs *CheckoutSession) setLineItems(items []LineItem) {
	cs.LineItems = items
	for _, li := range items {
		cs.Currency = li.Currency
		cs.AmountSubtotal += li.AmountSubtotal
		cs.AmountTotal += li.AmountTotal
	}
}

func validURL(u string) bool {
	pu, err := url.Parse(u)
	return err == nil && (pu.Scheme == "http" || pu.Scheme == "https") && pu.Host != ""
}

func (s *Sandbox) listCheckoutSessions(c *call) (any, error) {
	var p struct {
		listParams
		Customer        *string `form:"customer"`
		PaymentIntent   *string `form:"payment_intent"`
		Status          *string `form:"status" enum:"complete|expired|open"`
		CustomerDetails *struct {
			Email string `form:"email,required"`
		} `form:"customer_details"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	keep := func(o Object) bool {
		cs := o.(*CheckoutSession)
		return (p.Customer == nil || deref(cs.Customer) == *p.Customer) &&
			(p.PaymentIntent == nil || deref(cs.PaymentIntent) == *p.PaymentIntent) &&
			(p.Status == nil || cs.Status == *p.Status) &&
			(p.CustomerDetails == nil || cs.CustomerDetails != nil && deref(cs.CustomerDetails.Email) == p.CustomerDetails.Email)
	}
	if p.PaymentIntent != nil {
		// By the index: the one session paid through it, if any.
		return c.listAmong("checkout.session", "/v1/checkout/sessions", p.listParams, []string{s.sessionOfPayment[*p.PaymentIntent]}, keep)
	}
	return c.list("checkout.session", "/v1/checkout/sessions", p.listParams, keep)
}

func (s *Sandbox) listLineItems(c *call) (any, error) {
	page, err := decodeItemPage(c)
	if err != nil {
		return nil, err
	}
	cs, err := get[*CheckoutSession](s, c.r.PathValue("id"), "checkout.session", "session")
	if err != nil {
		return nil, err
	}
	return s.lineItemList(cs.LineItems, "/v1/checkout/sessions/"+cs.ID+"/line_items", page.limit, page.after, page.before), nil
}

// itemPage is which page of line items a request asks for.
type itemPage struct {
	limit         int64
	after, before string
}

func decodeItemPage(c *call) (itemPage, error) {
	var p listParams
	if err := c.decode(&p); err != nil {
		return itemPage{}, err
	}
	limit := int64(10)
	if p.Limit != nil {
		limit = *p.Limit
	}
	if limit < 1 || limit > 100 {
		return itemPage{}, invalidRequest("limit", "Invalid limit: must be between 1 and 100.")
	}
	return itemPage{limit, p.StartingAfter, p.EndingBefore}, nil
}

// lineItemList is a page of line items, in the order given.
func (s *Sandbox) lineItemList(items []LineItem, url string, limit int64, after, before string) map[string]any {
	for i, li := range items {
		if li.ID == after {
			items = items[i+1:]
			break
		}
		if li.ID == before {
			items = items[:i]
			break
		}
	}
	more := int64(len(items)) > limit
	if more {
		items = items[:limit]
	}
	data := make([]any, 0, len(items))
	for _, li := range items {
		data = append(data, s.render(li))
	}
	return map[string]any{"object": "list", "data": data, "has_more": more, "url": url}
}

func (s *Sandbox) expireCheckoutSession(c *call) (any, error) {
	var p struct {
		Expand []string `form:"expand"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	cs, err := get[*CheckoutSession](s, c.r.PathValue("id"), "checkout.session", "session")
	if err != nil {
		return nil, err
	}
	if cs.Status != "open" {
		return nil, invalidRequest("session", `Only Checkout Sessions with a status in ["open"] can be expired.`)
	}
	c.t.expire(cs)
	return c.object(cs)
}

func (t *txn) expire(cs *CheckoutSession) {
	cs.Status = "expired"
	cs.URL = nil
	t.put(cs)
	t.emit("checkout.session.expired", cs, nil)
}

// expireSessions expires open sessions whose expires_at has passed.
func (s *Sandbox) expireSessions(ctx context.Context) {
	err := s.update(ctx, nil, func(t *txn) error {
		for id := range s.openSessions {
			if cs := s.objects[id].(*CheckoutSession); cs.ExpiresAt <= t.now.Unix() {
				t.expire(cs)
			}
		}
		return nil
	})
	if err != nil {
		s.log.Error("sandbox: expiring checkout sessions failed", "err", err)
	}
}

func (s *Sandbox) payCheckoutSession(c *call) (any, error) {
	var p struct {
		PaymentMethod string   `form:"payment_method,required"`
		Email         *string  `form:"email"`
		Name          *string  `form:"name"`
		Expand        []string `form:"expand"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	cs, err := get[*CheckoutSession](s, c.r.PathValue("id"), "checkout.session", "session")
	if err != nil {
		return nil, err
	}
	card, ok := testCards[p.PaymentMethod]
	if !ok {
		return nil, errNoSuch("PaymentMethod", p.PaymentMethod, "payment_method")
	}
	email := deref(p.Email)
	if email == "" {
		email = deref(cs.CustomerEmail)
	}
	if email == "" && cs.Customer != nil {
		if cu, ok := s.objects[*cs.Customer].(*Customer); ok {
			email = deref(cu.Email)
		}
	}
	if email == "" {
		email = "customer@example.com"
	}
	if err := c.t.pay(cs, p.PaymentMethod, card, email, deref(p.Name)); err != nil {
		return nil, err
	}
	return c.object(cs)
}

func itoa(i int) string { return strconv.Itoa(i) }

// statementSuffixProblem is why Stripe refuses a statement descriptor
// suffix, or "": at most 22 characters (the spec's maxLength), at least
// one letter, none of < > \ ' " *.
func statementSuffixProblem(v string) string {
	switch {
	case len(v) > 22:
		return "Invalid string: statement_descriptor_suffix must be at most 22 characters"
	case strings.ContainsAny(v, `<>\'"*`):
		return `The statement descriptor suffix cannot contain any of the special characters < > \ ' " *.`
	case !strings.ContainsFunc(v, unicode.IsLetter):
		return "The statement descriptor suffix must contain at least one letter."
	}
	return ""
}
