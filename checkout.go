package paidup

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
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
	// StatusToken is the secret in the address of the attempt's status
	// page, held only until the processor's checkout is recorded: the
	// checkout's creation, which carries it, must be repeatable exactly
	// until then. StatusTokenHash is what is kept of it for good; both
	// are empty for attempts made before paidup had status tokens.
	StatusToken     string
	StatusTokenHash string
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
	// AttemptDuplicate: paid for a tier the customer already held, for a
	// plan that does not extend it; no access was granted, and the
	// payment is refunded (see Lifecycle.DuplicatePurchase).
	AttemptDuplicate = "duplicate"
)

// Unresolved reports whether the reconciler still has to find out how the
// attempt ended.
func (a CheckoutAttempt) Unresolved() bool {
	return a.Status == AttemptCreated || a.Status == AttemptOpen
}

// OwnCheckout reports whether co is the attempt's own processor checkout:
// the one recorded for it or, before one is recorded (paidup stopped
// between the processor creating it and paidup writing it down), one that
// carries the attempt's checkout proof. A checkout that merely names the
// attempt's reference, as anyone can make one name it, is not.
func (a CheckoutAttempt) OwnCheckout(co Checkout) bool {
	if a.CheckoutID != "" {
		return co.ID == a.CheckoutID
	}
	if a.StatusToken == "" || co.Proof == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(co.Proof), []byte(CheckoutProof(a.StatusToken))) == 1
}

// OpensWith reports whether token is the attempt's status token.
func (a CheckoutAttempt) OpensWith(token string) bool {
	if a.StatusTokenHash == "" || len(token) != statusTokenLen {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(HashStatusToken(token)), []byte(a.StatusTokenHash)) == 1
}

// statusTokenLen is the length of a status token: 32 random bytes in
// unpadded base64url.
const statusTokenLen = 43

// NewStatusToken returns a new status token: 256 random bits, so that a
// status page's address cannot be guessed as a short reference can.
func NewStatusToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashStatusToken is what paidup stores of a status token: a copy of the
// database does not open status pages.
func HashStatusToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// CheckoutProof is what paidup writes into the metadata of the processor
// checkout it creates for an attempt, derived from the attempt's status
// token: only paidup and the buyer hold the token, so a checkout made any
// other way (a payment link, another integration on the same account)
// cannot carry the proof by copying what a customer can see.
func CheckoutProof(token string) string {
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte("paidup checkout proof"))
	return hex.EncodeToString(mac.Sum(nil))
}

// referenceAlphabet is Crockford's base 32: no I, L, O or U, so a reference
// read out over the phone is not misheard.
const referenceAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewReference returns a new checkout reference such as PU-7K3M-Q9XD: 40
// random bits, short enough to quote to support.
func NewReference() string {
	var b [8]byte
	rand.Read(b[:])
	return formatReference(b)
}

// formatReference makes a reference of eight random bytes, five bits of
// each.
func formatReference(b [8]byte) string {
	for i := range b {
		b[i] = referenceAlphabet[b[i]&31]
	}
	return "PU-" + string(b[:4]) + "-" + string(b[4:])
}

// IsReference reports whether s is a reference exactly as paidup writes
// one (PU-XXXX-XXXX in Crockford's base 32, upper case). Only such a
// string names a checkout attempt: a processor's client reference may hold
// anything (a payment link's is whatever its URL says), and paidup keys
// nothing by it unless it is one of paidup's.
func IsReference(s string) bool {
	if len(s) != 12 || s[:3] != "PU-" || s[7] != '-' {
		return false
	}
	for _, c := range []byte(s[3:7] + s[8:]) {
		if strings.IndexByte(referenceAlphabet, c) < 0 {
			return false
		}
	}
	return true
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
