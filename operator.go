package paidup

import "time"

// Operator is a person who runs support: they sign in to the console
// with a password and a code from their phone.
type Operator struct {
	ID        string // paidup's id, e.g. op_…
	Email     string
	CreatedAt time.Time
	// RecoveryCodes is how many of their one-use recovery codes are left.
	RecoveryCodes int
}
