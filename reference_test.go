package paidup

import (
	"regexp"
	"strings"
	"testing"
)

var canonicalReference = regexp.MustCompile(`^PU-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$`)

// FuzzParseReference: whatever a person (or a processor's client
// reference) types, ParseReference does not panic, and what it accepts
// comes out in the one canonical form, which parses to itself; IsReference
// accepts exactly the canonical forms; and every reference NewReference
// can make parses back to itself, in any case.
func FuzzParseReference(f *testing.F) {
	for _, s := range []string{
		"PU-7K3M-Q9XD", "pu-7k3m-q9xd", " PU 7K3M Q9XD ", "7k3mq9xd", "PU-OOOO-IIII", "PU-PU-1234-5678",
		"PU-7K3M-Q9XU", "user_42", "cs_test_a1b2", "PU-ſſſſ-ıııı", "", "PU-", strings.Repeat("A", 300),
	} {
		f.Add(s, []byte(s))
	}
	f.Fuzz(func(t *testing.T, s string, seed []byte) {
		got, ok := ParseReference(s)
		if !ok {
			if got != "" {
				t.Fatalf("ParseReference(%q) = %q, not ok: want \"\"", s, got)
			}
		} else {
			if !canonicalReference.MatchString(got) || !IsReference(got) {
				t.Fatalf("ParseReference(%q) = %q: not canonical", s, got)
			}
			if again, ok := ParseReference(got); !ok || again != got {
				t.Fatalf("ParseReference(%q) = %q, %v: the canonical form %q is not a fixed point", got, again, ok, got)
			}
		}
		if IsReference(s) != canonicalReference.MatchString(s) {
			t.Fatalf("IsReference(%q) = %v, disagreeing with the canonical format", s, IsReference(s))
		}
		if IsReference(s) && (!ok || got != s) {
			t.Fatalf("IsReference(%q) but ParseReference gives %q, %v", s, got, ok)
		}

		var b [8]byte
		copy(b[:], seed)
		ref := formatReference(b)
		if !IsReference(ref) {
			t.Fatalf("formatReference(%v) = %q: not canonical", b, ref)
		}
		for _, typed := range []string{ref, strings.ToLower(ref), strings.ReplaceAll(ref, "-", " "), ref[3:]} {
			if back, ok := ParseReference(typed); !ok || back != ref {
				t.Fatalf("ParseReference(%q) = %q, %v: want %q", typed, back, ok, ref)
			}
		}
	})
}

// FuzzOpensWith: no string but an attempt's own status token opens its
// status page, and none opens an attempt without a token.
func FuzzOpensWith(f *testing.F) {
	token := NewStatusToken()
	a := CheckoutAttempt{StatusTokenHash: HashStatusToken(token)}
	f.Add(token)
	f.Add(token[:42])
	f.Add(token + "A")
	f.Add(strings.ToUpper(token))
	f.Add(HashStatusToken(token))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if a.OpensWith(s) != (s == token) {
			t.Fatalf("OpensWith(%q) = %v", s, a.OpensWith(s))
		}
		if (CheckoutAttempt{}).OpensWith(s) {
			t.Fatalf("an attempt without a token opens with %q", s)
		}
	})
}

func TestStatusToken(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		token := NewStatusToken()
		if len(token) != statusTokenLen || !regexp.MustCompile(`^[A-Za-z0-9_-]+$`).MatchString(token) {
			t.Fatalf("token %q: want %d URL-safe characters", token, statusTokenLen)
		}
		seen[token] = true
	}
	if len(seen) != 100 {
		t.Fatal("tokens repeat")
	}
	token := NewStatusToken()
	if HashStatusToken(token) == token || CheckoutProof(token) == HashStatusToken(token) || CheckoutProof(token) == token {
		t.Fatal("the stored hash, the proof and the token must differ")
	}
}

func TestOwnCheckout(t *testing.T) {
	t.Parallel()
	token := NewStatusToken()
	proof := CheckoutProof(token)
	recorded := CheckoutAttempt{Reference: "PU-7K3M-Q9XD", CheckoutID: "cs_own", StatusTokenHash: HashStatusToken(token)}
	unrecorded := CheckoutAttempt{Reference: "PU-7K3M-Q9XD", StatusToken: token, StatusTokenHash: HashStatusToken(token)}
	legacy := CheckoutAttempt{Reference: "PU-7K3M-Q9XD"}
	tests := []struct {
		name string
		a    CheckoutAttempt
		co   Checkout
		want bool
	}{
		{"the recorded checkout", recorded, Checkout{ID: "cs_own", Reference: "PU-7K3M-Q9XD"}, true},
		{"another checkout naming the reference", recorded, Checkout{ID: "cs_other", Reference: "PU-7K3M-Q9XD"}, false},
		{"another checkout carrying the proof, once one is recorded", recorded, Checkout{ID: "cs_other", Reference: "PU-7K3M-Q9XD", Proof: proof}, false},
		{"not recorded yet: the proof", unrecorded, Checkout{ID: "cs_own", Reference: "PU-7K3M-Q9XD", Proof: proof}, true},
		{"not recorded yet: no proof", unrecorded, Checkout{ID: "cs_other", Reference: "PU-7K3M-Q9XD"}, false},
		{"not recorded yet: a wrong proof", unrecorded, Checkout{ID: "cs_other", Reference: "PU-7K3M-Q9XD", Proof: CheckoutProof(NewStatusToken())}, false},
		{"not recorded yet: the token itself as proof", unrecorded, Checkout{ID: "cs_other", Reference: "PU-7K3M-Q9XD", Proof: token}, false},
		{"no token, nothing recorded", legacy, Checkout{ID: "cs_other", Reference: "PU-7K3M-Q9XD", Proof: proof}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.a.OwnCheckout(tt.co); got != tt.want {
				t.Fatalf("OwnCheckout = %v, want %v", got, tt.want)
			}
		})
	}
}
