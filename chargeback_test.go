package paidup_test

import (
	"testing"

	"github.com/paidup/paidup"
)

// The chargeback policy ends the disputed payment's own grant whatever it
// says, and of the others the kinds it names; by default the recurring
// ones, so that a lifetime tier paid by another payment is only suspended.
func TestChargebackEnds(t *testing.T) {
	const disputed = "stripe:pi_disputed"
	grants := map[string]paidup.Grant{
		"the disputed purchase":     {Source: paidup.SourcePurchase, SourceRef: disputed},
		"the disputed renewal":      {Source: paidup.SourceSubscription, SourceRef: disputed},
		"another purchase":          {Source: paidup.SourcePurchase, SourceRef: "stripe:pi_other"},
		"another subscription":      {Source: paidup.SourceSubscription, SourceRef: "stripe:pi_other"},
		"a grace":                   {Source: paidup.SourceGrace, SourceRef: "stripe:in_1"},
		"a manual grant":            {Source: paidup.SourceManual, SourceRef: "staff:sam"},
		"a grant of unknown source": {Source: "gift", SourceRef: "x"},
	}
	tests := []struct {
		ends []string
		want []string // the grants that end
	}{
		{nil, []string{"the disputed purchase", "the disputed renewal", "another subscription", "a grace"}},
		{[]string{paidup.EndsDisputed}, []string{"the disputed purchase", "the disputed renewal"}},
		{[]string{paidup.EndsDisputed, paidup.EndsOneTime}, []string{"the disputed purchase", "the disputed renewal", "another purchase"}},
		{paidup.ChargebackEndKinds, []string{"the disputed purchase", "the disputed renewal", "another purchase", "another subscription",
			"a grace", "a manual grant"}},
	}
	for _, tt := range tests {
		p := &paidup.Policy{Lifecycle: paidup.Lifecycle{Chargeback: paidup.Chargeback{Ends: tt.ends}}}
		for name, g := range grants {
			want := false
			for _, w := range tt.want {
				want = want || w == name
			}
			if got := p.ChargebackEnds(g, disputed); got != want {
				t.Errorf("ends %v: %s ends: %v, want %v", tt.ends, name, got, want)
			}
		}
	}
}
