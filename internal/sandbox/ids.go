package sandbox

import (
	"crypto/rand"
	"math/big"
)

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newID returns a new object id in Stripe's style: a type prefix and random
// letters and digits, such as pi_3QxY… or cs_test_a1B2….
func newID(prefix string) string {
	n := 24
	if prefix == "cs_test" {
		n = 58
	}
	b := make([]byte, n)
	max := big.NewInt(int64(len(idAlphabet)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err)
		}
		b[i] = idAlphabet[v.Int64()]
	}
	return prefix + "_" + string(b)
}

func ptr[T any](v T) *T { return &v }

// optional returns nil for the empty string, as Stripe shows unset text.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
