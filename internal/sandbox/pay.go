package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"net/http"
)

// card is a card presented for payment: a test card, and what the customer
// typed with it. Only the last four digits are kept.
type card struct {
	TestCard string // payment method id of the test card, e.g. pm_card_visa
	testCard
	ExpMonth, ExpYear int64
}

// pay charges a card for an open checkout session. On success the session
// completes, with a payment intent, a charge and (when the session asks for
// one) a new customer. A declined card leaves the session open with a failed
// charge, as on Stripe, and returns a card_error that the caller keeps.
func (t *txn) pay(cs *CheckoutSession, pmID string, tc testCard, email, name string) error {
	return t.payWith(cs, card{TestCard: pmID, testCard: tc}, email, name)
}

func (t *txn) payWith(cs *CheckoutSession, cd card, email, name string) error {
	if cs.Status == "open" && cs.ExpiresAt <= t.now.Unix() {
		t.expire(cs)
	}
	if cs.Status != "open" {
		return invalidRequest("session", "This Checkout Session is no longer active (its status is %s).", cs.Status)
	}
	if cs.Customer != nil {
		if _, ok := t.s.objects[*cs.Customer].(*Customer); !ok {
			return invalidRequest("customer", "No such customer: '%s'; it was deleted after this Checkout Session was created.", *cs.Customer)
		}
	}
	if cs.Mode == "subscription" {
		return t.paySubscription(cs, cd, email, name)
	}
	customer := cs.Customer
	// Stripe creates the session's customer when the payment succeeds: a
	// declined card must not leave a customer behind, nor make a second
	// one when the customer pays again.
	if customer == nil && deref(cs.CustomerCreation) == "always" && cd.chargeDecline() == "" {
		cu := t.newCustomer(email, name)
		t.emit("customer.created", cu, nil)
		customer = &cu.ID
	}
	pm := t.newPaymentMethod(cd, email, name, nil)

	pi, _ := t.s.objects[deref(cs.PaymentIntent)].(*PaymentIntent)
	if pi == nil {
		pi = t.newPaymentIntent(cs.AmountTotal, cs.Currency, nil)
		if d := cs.PaymentIntentData; d != nil {
			pi.Description = d.Description
			pi.ReceiptEmail = d.ReceiptEmail
			pi.StatementDescSuff = d.StatementDescriptorSuffix
			mergeMetadata(&pi.Metadata, d.Metadata)
		}
		t.emit("payment_intent.created", pi, nil)
		cs.PaymentIntent = &pi.ID
		t.put(cs)
	}
	if pi.Customer == nil {
		pi.Customer = customer
	}
	if _, err := t.charge(pi, pm, cd.testCard); err != nil {
		return err
	}
	cs.Status, cs.PaymentStatus, cs.Customer = "complete", "paid", customer
	cs.CustomerDetails = &SessionCustomerDetails{Email: optional(email), Name: optional(name), TaxExempt: "none", TaxIDs: []struct{}{}}
	cs.URL = nil
	t.put(cs)
	t.emit("checkout.session.completed", cs, nil)
	return nil
}

// newPaymentIntent records a payment intent waiting for its payment method.
func (t *txn) newPaymentIntent(amount int64, currency string, customer *string) *PaymentIntent {
	pi := &PaymentIntent{
		meta:               meta{ID: newID("pi"), Object: "payment_intent", Created: t.now.Unix()},
		Amount:             amount,
		CaptureMethod:      "automatic_async",
		ConfirmationMethod: "automatic",
		Currency:           currency,
		Customer:           customer,
		Metadata:           Metadata{},
		PaymentMethodTypes: []string{"card"},
		Status:             "requires_payment_method",
	}
	pi.ClientSecret = ptr(pi.ID + "_secret_" + newID("x")[2:])
	t.put(pi)
	return pi
}

// newPaymentMethod records a card payment method, attached to customer
// when one is given.
func (t *txn) newPaymentMethod(cd card, email, name string, customer *string) *PaymentMethod {
	if cd.ExpMonth == 0 {
		cd.ExpMonth, cd.ExpYear = 12, int64(t.now.Year()+3)
	}
	pm := &PaymentMethod{
		meta:           meta{ID: newID("pm"), Object: "payment_method", Created: t.now.Unix()},
		BillingDetails: BillingDetails{Email: optional(email), Name: optional(name)},
		Card: &CardDetails{
			Brand: cd.Brand, Country: "US", ExpMonth: cd.ExpMonth, ExpYear: cd.ExpYear,
			Fingerprint: fingerprint(cd.Number), Funding: "credit", Last4: cd.Number[len(cd.Number)-4:], Network: cd.Brand,
		},
		Customer: customer, Metadata: Metadata{}, Type: "card", TestCard: cd.TestCard,
	}
	t.put(pm)
	return pm
}

// charge charges a payment intent to a payment method. The charge succeeds
// or is declined as the test card behind the method says, with the events
// Stripe sends; a dispute card's charge is then disputed. A declined charge
// leaves the payment intent waiting for another payment method and returns
// a card_error that the caller keeps.
func (t *txn) charge(pi *PaymentIntent, pm *PaymentMethod, tc testCard) (*Charge, error) {
	ch := &Charge{
		meta:                 meta{ID: newID("ch"), Object: "charge", Created: t.now.Unix()},
		Amount:               pi.Amount,
		BillingDetails:       pm.BillingDetails,
		Currency:             pi.Currency,
		Customer:             pi.Customer,
		Description:          pi.Description,
		Metadata:             Metadata(cloneMap(pi.Metadata)),
		PaymentIntent:        &pi.ID,
		PaymentMethod:        &pm.ID,
		PaymentMethodDetails: &PaymentMethodDetails{Card: pm.Card, Type: "card"},
		ReceiptEmail:         pi.ReceiptEmail,
		StatementDescSuffix:  pi.StatementDescSuff,
	}
	pi.LatestCharge = &ch.ID

	decline := tc.chargeDecline()
	if decline == "" {
		ch.Status, ch.Paid, ch.Captured, ch.AmountCaptured = "succeeded", true, true, ch.Amount
		ch.BalanceTransaction = ptr(newID("txn"))
		ch.Outcome = &Outcome{NetworkStatus: "approved_by_network", RiskLevel: "normal", RiskScore: 12,
			SellerMessage: "Payment complete.", Type: "authorized"}
		pi.Status, pi.AmountReceived, pi.PaymentMethod, pi.LastPaymentError = "succeeded", pi.Amount, &pm.ID, nil
		t.put(ch)
		t.put(pi)
		t.emit("charge.succeeded", ch, nil)
		t.emit("payment_intent.succeeded", pi, nil)
		if tc.Dispute {
			t.openDispute(ch)
		}
		return ch, nil
	}

	d := declineMessages[decline]
	ch.Status = "failed"
	ch.FailureCode, ch.FailureMessage = &d.code, &d.message
	ch.Outcome = &Outcome{NetworkStatus: "declined_by_network", Reason: &decline, RiskLevel: "normal", RiskScore: 30,
		SellerMessage: "The bank did not return any further details with this decline.", Type: "issuer_declined"}
	if decline == "fraudulent" {
		ch.Outcome = &Outcome{NetworkStatus: "not_sent_to_network", Reason: ptr("highest_risk_level"), RiskLevel: "highest", RiskScore: 95,
			SellerMessage: "Stripe blocked this payment as too risky.", Type: "blocked"}
	}
	pi.Status, pi.PaymentMethod = "requires_payment_method", nil
	pi.LastPaymentError = cardError(decline, ch.ID)
	t.put(ch)
	t.put(pi)
	t.emit("charge.failed", ch, nil)
	t.emit("payment_intent.payment_failed", pi, nil)
	e := &apiError{status: http.StatusPaymentRequired, keep: true, body: *pi.LastPaymentError}
	e.body.PaymentIntent = t.s.renderJSON(pi)
	e.body.DocURL = "https://stripe.com/docs/error-codes/" + d.code
	return ch, e
}

// cardError is Stripe's card_error for a decline code.
func cardError(decline, charge string) *APIErrorBody {
	d := declineMessages[decline]
	code := decline
	if code == "expired_card" || code == "incorrect_cvc" || code == "processing_error" {
		code = ""
	}
	return &APIErrorBody{Type: "card_error", Code: d.code, DeclineCode: code, Message: d.message, Charge: charge}
}

// fingerprint identifies a card number without revealing it.
func fingerprint(number string) string {
	h := sha256.Sum256([]byte("paidup-sandbox:" + number))
	return hex.EncodeToString(h[:8])
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	maps.Copy(out, m)
	return out
}
