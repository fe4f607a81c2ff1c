package sandbox

import (
	"strings"
)

// testCard is one of Stripe's test cards and how it behaves.
type testCard struct {
	Number string
	Brand  string
	// Decline is the decline code a charge on this card gets, and
	// attaching it to a customer too; empty means they succeed.
	Decline string
	// ChargeFails: the card attaches to a customer, but every charge on it
	// is declined.
	ChargeFails bool
	// Dispute: charges succeed, then the customer disputes them.
	Dispute bool
	// RefundFails: charges succeed, and a refund of one succeeds at first,
	// then fails a little later (see refundFailDelay).
	RefundFails bool
}

// chargeDecline is the decline code a charge on the card gets; empty when
// the charge succeeds.
func (c testCard) chargeDecline() string {
	if c.ChargeFails {
		return "generic_decline"
	}
	return c.Decline
}

// testCardOf is the test card behind a payment method; a card that is not
// a test card is declined as a live card.
func testCardOf(pm *PaymentMethod) testCard {
	if tc, ok := testCards[pm.TestCard]; ok {
		return tc
	}
	return testCard{Number: "0000", Brand: pm.Card.Brand, Decline: "live_card"}
}

// testCards are Stripe's documented test card numbers and the payment method
// ids that stand for them (pm_card_visa), with the same outcomes as in
// Stripe test mode.
var testCards = map[string]testCard{
	"pm_card_visa":                            {Number: "4242424242424242", Brand: "visa"},
	"pm_card_visa_debit":                      {Number: "4000056655665556", Brand: "visa"},
	"pm_card_mastercard":                      {Number: "5555555555554444", Brand: "mastercard"},
	"pm_card_amex":                            {Number: "378282246310005", Brand: "amex"},
	"pm_card_chargeDeclined":                  {Number: "4000000000000002", Brand: "visa", Decline: "generic_decline"},
	"pm_card_chargeDeclinedInsufficientFunds": {Number: "4000000000009995", Brand: "visa", Decline: "insufficient_funds"},
	"pm_card_chargeDeclinedLostCard":          {Number: "4000000000009987", Brand: "visa", Decline: "lost_card"},
	"pm_card_chargeDeclinedStolenCard":        {Number: "4000000000009979", Brand: "visa", Decline: "stolen_card"},
	"pm_card_chargeDeclinedExpiredCard":       {Number: "4000000000000069", Brand: "visa", Decline: "expired_card"},
	"pm_card_chargeDeclinedIncorrectCvc":      {Number: "4000000000000127", Brand: "visa", Decline: "incorrect_cvc"},
	"pm_card_chargeDeclinedProcessingError":   {Number: "4000000000000119", Brand: "visa", Decline: "processing_error"},
	"pm_card_chargeDeclinedFraudulent":        {Number: "4100000000000019", Brand: "visa", Decline: "fraudulent"},
	"pm_card_chargeCustomerFail":              {Number: "4000000000000341", Brand: "visa", ChargeFails: true},
	"pm_card_createDispute":                   {Number: "4000000000000259", Brand: "visa", Dispute: true},
	"pm_card_refundFail":                      {Number: "4000000000005126", Brand: "visa", RefundFails: true},
}

// cardByNumber finds the test card with a number typed on the checkout page.
func cardByNumber(number string) (string, testCard, bool) {
	for id, c := range testCards {
		if c.Number == number {
			return id, c, true
		}
	}
	return "", testCard{}, false
}

// declineMessages are Stripe's customer-facing texts for decline codes.
var declineMessages = map[string]struct{ code, message string }{
	"generic_decline":    {"card_declined", "Your card was declined."},
	"insufficient_funds": {"card_declined", "Your card has insufficient funds."},
	"lost_card":          {"card_declined", "Your card was declined."},
	"stolen_card":        {"card_declined", "Your card was declined."},
	"expired_card":       {"expired_card", "Your card has expired."},
	"incorrect_cvc":      {"incorrect_cvc", "Your card's security code is incorrect."},
	"processing_error":   {"processing_error", "An error occurred while processing your card. Try again in a little bit."},
	"fraudulent":         {"card_declined", "Your card was declined."},
	"live_card":          {"card_declined", "Your card was declined. Your request was in test mode, but used a non test (live) card. For a list of valid test cards, visit: https://stripe.com/docs/testing."},
}

// luhn reports whether a card number passes the Luhn checksum.
func luhn(number string) bool {
	if len(number) < 12 || len(number) > 19 || strings.Trim(number, "0123456789") != "" {
		return false
	}
	sum := 0
	double := false
	for i := len(number) - 1; i >= 0; i-- {
		d := int(number[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// brandOf guesses the card brand from its number, as the checkout page does
// for cards that are not test cards.
func brandOf(number string) string {
	switch {
	case strings.HasPrefix(number, "4"):
		return "visa"
	case strings.HasPrefix(number, "5"), strings.HasPrefix(number, "2"):
		return "mastercard"
	case strings.HasPrefix(number, "34"), strings.HasPrefix(number, "37"):
		return "amex"
	}
	return "unknown"
}
