package paidup

import (
	"crypto/rand"
	"fmt"
	"strings"
	"time"
)

// CheckoutAttempt is paidup's durable record of a customer setting out to
// pay, written before they are sent to the processor. Its reference travels
// with the payment, so that whatever crashes or is lost afterwards, the
// payment can be traced back to what was bought and by whom.
type CheckoutAttempt struct {
	Reference   string
	PlanID      string
	Email       string
	Amount      Money
	Processor   string
	CheckoutID  string // the processor's checkout, once created
	CheckoutURL string
	Status      string
	CustomerID  string // once fulfilled
	PaymentID   string // once fulfilled
	// Checks is how many times the reconciler has asked the processor
	// about this attempt; NextCheckAt is when it asks next (zero when
	// the attempt is resolved).
	Checks      int
	NextCheckAt time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
	ResolvedAt  time.Time
}

// Checkout attempt statuses.
const (
	// AttemptCreated: written; no processor checkout yet.
	AttemptCreated = "created"
	// AttemptOpen: the processor's checkout exists; the customer may pay.
	AttemptOpen = "open"
	// AttemptFulfilled: paid, and the grant exists.
	AttemptFulfilled = "fulfilled"
	// AttemptExpired: the checkout closed unpaid; nothing was charged.
	AttemptExpired = "expired"
	// AttemptAbandoned: no checkout was ever created for it.
	AttemptAbandoned = "abandoned"
	// AttemptNeedsAttention: paid, but paidup could not grant access by
	// itself (unknown plan, wrong amount, blocked customer); a support
	// case is open.
	AttemptNeedsAttention = "needs_attention"
	// AttemptUnknown: the reconciler gave up asking the processor; a
	// support case is open.
	AttemptUnknown = "unknown"
	// AttemptRefunded: paid, but refunded in full before paidup granted
	// access; no access was granted.
	AttemptRefunded = "refunded"
)

// Unresolved reports whether the reconciler still has to find out how the
// attempt ended.
func (a CheckoutAttempt) Unresolved() bool {
	return a.Status == AttemptCreated || a.Status == AttemptOpen
}

// referenceAlphabet is Crockford's base 32: no I, L, O or U, so a reference
// read out over the phone is not misheard.
const referenceAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewReference returns a new checkout reference such as PU-7K3M-Q9XD: 40
// random bits, short enough to quote to support.
func NewReference() string {
	b := make([]byte, 8)
	rand.Read(b)
	for i := range b {
		b[i] = referenceAlphabet[b[i]&31]
	}
	return "PU-" + string(b[:4]) + "-" + string(b[4:])
}

// ParseReference normalises a reference typed by a person (lower case,
// spaces, the letters O and I for zero and one) and reports whether it is
// well formed.
func ParseReference(s string) (string, bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	s = strings.NewReplacer(" ", "", "O", "0", "I", "1", "L", "1").Replace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "PU-"), "PU")
	s = strings.ReplaceAll(s, "-", "")
	if len(s) != 8 || strings.Trim(s, referenceAlphabet) != "" {
		return "", false
	}
	return "PU-" + s[:4] + "-" + s[4:], true
}

// String describes an attempt for logs: reference and status, no email.
func (a CheckoutAttempt) String() string {
	return fmt.Sprintf("%s (%s, %s)", a.Reference, a.PlanID, a.Status)
}
