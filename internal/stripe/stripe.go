// Package stripe is paidup's adapter to Stripe's API, through the official
// stripe-go SDK. Configuration alone points it at Stripe or at any
// Stripe-compatible API, such as paidup's sandbox.
package stripe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v84"

	"github.com/paidup/paidup"
)

// MetadataKey names paidup's checkout reference in processor metadata.
const MetadataKey = "paidup_checkout"

// ProofKey names, in a Checkout Session's metadata, the proof that paidup
// created it (see paidup.CheckoutProof).
const ProofKey = "paidup_proof"

// Client talks to the Stripe API.
type Client struct {
	api *stripego.Client
	url string // the API's base URL; empty for Stripe itself
}

// Config says which API to use and how.
type Config struct {
	SecretKey string
	// URL is the API's base URL; empty means Stripe itself.
	URL string
	// Timeout bounds each HTTP request; defaults to 20 s.
	Timeout time.Duration
	// Retries is how many times a request that failed on the network or with
	// a 5xx/409/429 is retried (with the same idempotency key); defaults to 2.
	Retries int64
}

// New returns a client for the API cfg names.
func New(cfg Config) *Client {
	if cfg.Timeout == 0 {
		cfg.Timeout = 20 * time.Second
	}
	if cfg.Retries == 0 {
		cfg.Retries = 2
	}
	// Concurrent requests (jobs, buy forms) keep their connections for the
	// next ones: with Go's default of 2 idle connections per host, most
	// requests would open (and on Stripe, TLS-handshake) a new one.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64
	bc := &stripego.BackendConfig{
		HTTPClient:        &http.Client{Timeout: cfg.Timeout, Transport: transport},
		MaxNetworkRetries: stripego.Int64(max(cfg.Retries, 0)),
		LeveledLogger:     &stripego.LeveledLogger{Level: stripego.LevelNull},
	}
	if cfg.URL != "" {
		bc.URL = stripego.String(strings.TrimRight(cfg.URL, "/"))
	}
	return &Client{api: stripego.NewClient(cfg.SecretKey, stripego.WithBackends(stripego.NewBackendsWithConfig(bc))), url: strings.TrimRight(cfg.URL, "/")}
}

// PageOrigins are the origins of the processor's pages paidup sends
// customers to from a form (the hosted checkout, the card portal), for
// the pages' Content-Security-Policy form-action: Stripe's checkout and
// billing hosts, or a Stripe-compatible API's own origin (the sandbox
// serves its pages beside its API).
func (c *Client) PageOrigins() []string {
	if c.url == "" {
		return []string{"https://checkout.stripe.com", "https://billing.stripe.com"}
	}
	u, err := url.Parse(c.url)
	if err != nil || u.Host == "" {
		return nil
	}
	return []string{u.Scheme + "://" + u.Host}
}

// Name is "stripe": paidup records Stripe's objects under this name.
func (c *Client) Name() string { return "stripe" }

// CreateCheckout creates a Checkout Session: in payment mode for a
// one-time plan, in subscription mode for a recurring one. The reference
// travels in the session, and in the metadata of the payment or the
// subscription it makes. It is the idempotency key: a retry, a crash and
// restart, or a double click gets the same session back, never a second one.
func (c *Client) CreateCheckout(ctx context.Context, r paidup.CheckoutRequest) (paidup.Checkout, error) {
	p := &stripego.CheckoutSessionCreateParams{
		Mode:              stripego.String(string(stripego.CheckoutSessionModePayment)),
		ClientReferenceID: stripego.String(r.Reference),
		LineItems: []*stripego.CheckoutSessionCreateLineItemParams{{
			Price: stripego.String(r.Plan.PriceID), Quantity: stripego.Int64(1),
		}},
		SuccessURL: stripego.String(strings.ReplaceAll(r.SuccessURL, "{CHECKOUT_ID}", "{CHECKOUT_SESSION_ID}")),
		CancelURL:  stripego.String(r.CancelURL),
	}
	if r.Plan.Interval.Recurring() {
		p.Mode = stripego.String(string(stripego.CheckoutSessionModeSubscription))
		p.SubscriptionData = &stripego.CheckoutSessionCreateSubscriptionDataParams{
			Metadata: map[string]string{MetadataKey: r.Reference, "paidup_plan": r.Plan.ID},
		}
	} else {
		p.PaymentIntentData = &stripego.CheckoutSessionCreatePaymentIntentDataParams{
			Metadata: map[string]string{MetadataKey: r.Reference},
		}
		if r.StatementSuffix != "" {
			p.PaymentIntentData.StatementDescriptorSuffix = stripego.String(r.StatementSuffix)
		}
	}
	p.AddMetadata(MetadataKey, r.Reference)
	p.AddMetadata("paidup_plan", r.Plan.ID)
	if r.Proof != "" {
		p.AddMetadata(ProofKey, r.Proof)
	}
	switch {
	case r.CustomerID != "":
		p.Customer = stripego.String(r.CustomerID)
	case !r.Plan.Interval.Recurring():
		// A customer object lets paidup match later payments to this
		// person; a subscription always makes one.
		p.CustomerCreation = stripego.String(string(stripego.CheckoutSessionCustomerCreationAlways))
	}
	if r.CustomerID == "" && r.Email != "" {
		p.CustomerEmail = stripego.String(r.Email)
	}
	if !r.ExpiresAt.IsZero() {
		p.ExpiresAt = stripego.Int64(r.ExpiresAt.Unix())
	}
	p.SetIdempotencyKey("paidup-checkout-" + r.Reference)
	s, err := c.api.V1CheckoutSessions.Create(ctx, p)
	if err != nil {
		return paidup.Checkout{}, wrap(err, "creating checkout session for %s", r.Reference)
	}
	return checkout(s), nil
}

// Checkout reads a Checkout Session, with its payment or, for a
// subscription, its first invoice's payment.
func (c *Client) Checkout(ctx context.Context, id string) (paidup.Checkout, error) {
	p := &stripego.CheckoutSessionRetrieveParams{}
	p.AddExpand("line_items")
	p.AddExpand("payment_intent.latest_charge.refunds")
	p.AddExpand("invoice.payments")
	s, err := c.api.V1CheckoutSessions.Retrieve(ctx, id, p)
	if err != nil {
		return paidup.Checkout{}, wrap(err, "reading checkout session %s", id)
	}
	return c.withRefunds(ctx, checkout(s), s)
}

// withRefunds completes co's AmountRefunded when its charge has more
// refunds than Stripe includes with it.
func (c *Client) withRefunds(ctx context.Context, co paidup.Checkout, s *stripego.CheckoutSession) (paidup.Checkout, error) {
	if s.PaymentIntent == nil || s.PaymentIntent.LatestCharge == nil {
		return co, nil
	}
	ch := s.PaymentIntent.LatestCharge
	if ch.Refunds == nil || !ch.Refunds.HasMore {
		return co, nil
	}
	pr, err := c.chargeRefunds(ctx, ch)
	if err != nil {
		return co, err
	}
	co.AmountRefunded, co.Refunds = pr.Refunded(), pr.Refunds
	return co, nil
}

// CheckoutForPayment finds the Checkout Session a payment intent was paid
// through.
func (c *Client) CheckoutForPayment(ctx context.Context, paymentID string) (paidup.Checkout, error) {
	p := &stripego.CheckoutSessionListParams{PaymentIntent: stripego.String(paymentID)}
	p.AddExpand("data.line_items")
	p.AddExpand("data.payment_intent.latest_charge.refunds")
	for s, err := range c.api.V1CheckoutSessions.List(ctx, p) {
		if err != nil {
			return paidup.Checkout{}, wrap(err, "finding the checkout session of %s", paymentID)
		}
		return c.withRefunds(ctx, checkout(s), s)
	}
	return paidup.Checkout{}, fmt.Errorf("finding the checkout session of %s: %w", paymentID, errNotFound)
}

// createdRange is a creation-time range as Stripe's list parameters take it.
func createdRange(c paidup.Created) *stripego.RangeQueryParams {
	r := &stripego.RangeQueryParams{GreaterThanOrEqual: c.Since.Unix()}
	if !c.Until.IsZero() {
		r.LesserThanOrEqual = c.Until.Unix()
	}
	return r
}

// ListCheckouts lists Checkout Sessions created in the range, without
// their line items and charges: a sweep lists many and acts on few, which
// it reads in full.
func (c *Client) ListCheckouts(ctx context.Context, created paidup.Created, fn func(paidup.Checkout) error) error {
	p := &stripego.CheckoutSessionListParams{
		ListParams:   stripego.ListParams{Limit: stripego.Int64(100)},
		CreatedRange: createdRange(created),
	}
	for s, err := range c.api.V1CheckoutSessions.List(ctx, p) {
		if err != nil {
			return wrap(err, "listing checkout sessions")
		}
		if err := fn(checkout(s)); err != nil {
			return err
		}
	}
	return nil
}

// ListPayments lists payment intents created in the range.
func (c *Client) ListPayments(ctx context.Context, created paidup.Created, fn func(paidup.ProcessorPayment) error) error {
	p := &stripego.PaymentIntentListParams{
		ListParams:   stripego.ListParams{Limit: stripego.Int64(100)},
		CreatedRange: createdRange(created),
	}
	for pi, err := range c.api.V1PaymentIntents.List(ctx, p) {
		if err != nil {
			return wrap(err, "listing payment intents")
		}
		pay := paidup.ProcessorPayment{
			ID: pi.ID, Reference: pi.Metadata[MetadataKey], Succeeded: pi.Status == stripego.PaymentIntentStatusSucceeded,
			Amount:  paidup.Money{Amount: pi.Amount, Currency: string(pi.Currency)},
			Created: time.Unix(pi.Created, 0).UTC(),
		}
		if pi.Customer != nil {
			pay.CustomerID = pi.Customer.ID
		}
		if err := fn(pay); err != nil {
			return err
		}
	}
	return nil
}

// ListUndeliveredEvents lists events created in the range that Stripe
// has not delivered to every webhook endpoint.
func (c *Client) ListUndeliveredEvents(ctx context.Context, created paidup.Created, fn func(paidup.ProcessorEvent) error) error {
	p := &stripego.EventListParams{
		ListParams:      stripego.ListParams{Limit: stripego.Int64(100)},
		CreatedRange:    createdRange(created),
		DeliverySuccess: stripego.Bool(false),
	}
	for ev, err := range c.api.V1Events.List(ctx, p) {
		if err != nil {
			return wrap(err, "listing undelivered events")
		}
		payload := ev.LastResponse.RawJSON
		if len(payload) == 0 {
			if payload, err = json.Marshal(ev); err != nil {
				return fmt.Errorf("encoding event %s: %w", ev.ID, err)
			}
		}
		var obj struct {
			ID     string `json:"id"`
			Object string `json:"object"`
		}
		if ev.Data != nil {
			json.Unmarshal(ev.Data.Raw, &obj)
		}
		if err := fn(paidup.ProcessorEvent{
			ID: ev.ID, Type: string(ev.Type), Created: time.Unix(ev.Created, 0).UTC(),
			ObjectType: obj.Object, ObjectID: obj.ID, Payload: payload,
		}); err != nil {
			return err
		}
	}
	return nil
}

func checkout(s *stripego.CheckoutSession) paidup.Checkout {
	co := paidup.Checkout{
		ID:        s.ID,
		URL:       s.URL,
		Reference: s.ClientReferenceID,
		Status:    string(s.Status),
		Paid:      s.PaymentStatus == stripego.CheckoutSessionPaymentStatusPaid,
		Email:     s.CustomerEmail,
		Amount:    paidup.Money{Amount: s.AmountTotal, Currency: string(s.Currency)},
		Created:   time.Unix(s.Created, 0).UTC(),
		ExpiresAt: time.Unix(s.ExpiresAt, 0).UTC(),
	}
	if co.Reference == "" {
		co.Reference = s.Metadata[MetadataKey]
	}
	co.Proof = s.Metadata[ProofKey]
	if s.Customer != nil {
		co.CustomerID = s.Customer.ID
	}
	if s.CustomerDetails != nil && s.CustomerDetails.Email != "" {
		co.Email = s.CustomerDetails.Email
	}
	if s.PaymentIntent != nil {
		co.PaymentID = s.PaymentIntent.ID
		if co.Paid && s.PaymentIntent.Created != 0 {
			co.PaidAt = time.Unix(s.PaymentIntent.Created, 0).UTC()
		}
		if ch := s.PaymentIntent.LatestCharge; ch != nil && ch.Refunds != nil {
			// The refunds that succeeded, not the charge's
			// amount_refunded, which counts pending ones too.
			pr := refundsOf(ch)
			co.AmountRefunded, co.Refunds = pr.Refunded(), pr.Refunds
		}
	}
	if s.Subscription != nil {
		co.SubscriptionID = s.Subscription.ID
	}
	if s.Invoice != nil {
		co.InvoiceID = s.Invoice.ID
		if pay := paidPayment(s.Invoice); pay != "" {
			co.PaymentID = pay
			if s.Invoice.StatusTransitions != nil {
				co.PaidAt = unix(s.Invoice.StatusTransitions.PaidAt)
			}
		}
	}
	if s.LineItems != nil {
		for _, li := range s.LineItems.Data {
			if li.Price != nil {
				co.PriceIDs = append(co.PriceIDs, li.Price.ID)
			}
		}
	}
	return co
}

// wrap turns a Stripe error into paidup's: the processor being unreachable
// or failing is EUNAVAILABLE (try again later); a request it refuses is
// EINVALID, with Stripe's message kept in the log, not shown.
func wrap(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	var se *stripego.Error
	if errors.As(err, &se) {
		switch {
		case se.HTTPStatusCode == http.StatusNotFound:
			return fmt.Errorf("%s: %w: %w", what, errNotFound, err)
		case se.HTTPStatusCode == http.StatusTooManyRequests || se.HTTPStatusCode >= 500 || se.HTTPStatusCode == 0 || se.Type == stripego.ErrorTypeAPI:
			return fmt.Errorf("%s: %w: %w", what, errUnavailable, err)
		}
		return fmt.Errorf("%s: %w: %w", what, errRefused, err)
	}
	return fmt.Errorf("%s: %w: %w", what, errUnavailable, err)
}

var (
	errUnavailable = paidup.Errorf(paidup.EUNAVAILABLE, "The payment processor is not answering right now.")
	errRefused     = paidup.Errorf(paidup.EINTERNAL, "The payment processor refused the request.")
	errNotFound    = paidup.ErrNoSuchObject
)
