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
	now := t.now
	if cs.Status == "open" && cs.ExpiresAt <= now.Unix() {
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
	if cd.ExpMonth == 0 {
		cd.ExpMonth, cd.ExpYear = 12, int64(now.Year()+3)
	}

	customer := cs.Customer
	// Stripe creates the session's customer when the payment succeeds: a
	// declined card must not leave a customer behind, nor make a second
	// one when the customer pays again.
	if customer == nil && deref(cs.CustomerCreation) == "always" && cd.Decline == "" {
		cu := t.newCustomer(email, name)
		t.emit("customer.created", cu, nil)
		customer = &cu.ID
	}
	details := &CardDetails{
		Brand: cd.Brand, Country: "US", ExpMonth: cd.ExpMonth, ExpYear: cd.ExpYear,
		Fingerprint: fingerprint(cd.Number), Funding: "credit", Last4: cd.Number[len(cd.Number)-4:], Network: cd.Brand,
	}
	billing := BillingDetails{Email: optional(email), Name: optional(name)}
	pm := &PaymentMethod{
		meta:           meta{ID: newID("pm"), Object: "payment_method", Created: now.Unix()},
		BillingDetails: billing, Card: details, Metadata: Metadata{}, Type: "card", TestCard: cd.TestCard,
	}
	t.put(pm)

	pi, _ := t.s.objects[deref(cs.PaymentIntent)].(*PaymentIntent)
	if pi == nil {
		pi = &PaymentIntent{
			meta:               meta{ID: newID("pi"), Object: "payment_intent", Created: now.Unix()},
			Amount:             cs.AmountTotal,
			CaptureMethod:      "automatic_async",
			ConfirmationMethod: "automatic",
			Currency:           cs.Currency,
			Metadata:           Metadata{},
			PaymentMethodTypes: []string{"card"},
			Status:             "requires_payment_method",
		}
		pi.ClientSecret = ptr(pi.ID + "_secret_" + newID("x")[2:])
		if d := cs.PaymentIntentData; d != nil {
			pi.Description = d.Description
			pi.ReceiptEmail = d.ReceiptEmail
			mergeMetadata(&pi.Metadata, d.Metadata)
		}
		t.put(pi)
		t.emit("payment_intent.created", pi, nil)
		cs.PaymentIntent = &pi.ID
		t.put(cs)
	}
	if pi.Customer == nil {
		pi.Customer = customer
	}
	ch := &Charge{
		meta:                 meta{ID: newID("ch"), Object: "charge", Created: now.Unix()},
		Amount:               pi.Amount,
		BillingDetails:       billing,
		Currency:             pi.Currency,
		Customer:             customer,
		Description:          pi.Description,
		Metadata:             Metadata(cloneMap(pi.Metadata)),
		PaymentIntent:        &pi.ID,
		PaymentMethod:        &pm.ID,
		PaymentMethodDetails: &PaymentMethodDetails{Card: details, Type: "card"},
		ReceiptEmail:         pi.ReceiptEmail,
	}
	pi.LatestCharge = &ch.ID

	if cd.Decline == "" {
		ch.Status, ch.Paid, ch.Captured, ch.AmountCaptured = "succeeded", true, true, ch.Amount
		ch.BalanceTransaction = ptr(newID("txn"))
		ch.Outcome = &Outcome{NetworkStatus: "approved_by_network", RiskLevel: "normal", RiskScore: 12,
			SellerMessage: "Payment complete.", Type: "authorized"}
		pi.Status, pi.AmountReceived, pi.PaymentMethod, pi.LastPaymentError = "succeeded", pi.Amount, &pm.ID, nil
		cs.Status, cs.PaymentStatus, cs.Customer = "complete", "paid", customer
		cs.CustomerDetails = &SessionCustomerDetails{Email: optional(email), Name: optional(name), TaxExempt: "none", TaxIDs: []struct{}{}}
		cs.URL = nil
		t.put(ch)
		t.put(pi)
		t.put(cs)
		t.emit("charge.succeeded", ch, nil)
		t.emit("payment_intent.succeeded", pi, nil)
		t.emit("checkout.session.completed", cs, nil)
		return nil
	}

	d := declineMessages[cd.Decline]
	ch.Status = "failed"
	ch.FailureCode, ch.FailureMessage = &d.code, &d.message
	ch.Outcome = &Outcome{NetworkStatus: "declined_by_network", Reason: &cd.Decline, RiskLevel: "normal", RiskScore: 30,
		SellerMessage: "The bank did not return any further details with this decline.", Type: "issuer_declined"}
	if cd.Decline == "fraudulent" {
		ch.Outcome = &Outcome{NetworkStatus: "not_sent_to_network", Reason: ptr("highest_risk_level"), RiskLevel: "highest", RiskScore: 95,
			SellerMessage: "Stripe blocked this payment as too risky.", Type: "blocked"}
	}
	declineCode := cd.Decline
	if declineCode == "expired_card" || declineCode == "incorrect_cvc" || declineCode == "processing_error" {
		declineCode = ""
	}
	pi.Status, pi.PaymentMethod = "requires_payment_method", nil
	pi.LastPaymentError = &APIErrorBody{Type: "card_error", Code: d.code, DeclineCode: declineCode, Message: d.message, Charge: ch.ID}
	t.put(ch)
	t.put(pi)
	t.emit("charge.failed", ch, nil)
	t.emit("payment_intent.payment_failed", pi, nil)
	return &apiError{status: http.StatusPaymentRequired, keep: true, body: APIErrorBody{
		Type: "card_error", Code: d.code, DeclineCode: declineCode, Message: d.message, Charge: ch.ID,
		PaymentIntent: t.s.renderJSON(pi),
		DocURL:        "https://stripe.com/docs/error-codes/" + d.code,
	}}
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
