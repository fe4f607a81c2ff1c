package paidup

import "slices"

// What a chargeback may end. The disputed payment's own grant always
// ends: its money was taken back.
const (
	EndsDisputed  = "disputed"  // the grant the disputed payment bought
	EndsRecurring = "recurring" // subscription periods and their graces
	EndsOneTime   = "one_time"  // one-time purchases paid by other payments
	EndsManual    = "manual"    // grants a person made
)

// ChargebackEndKinds are the kinds of grant a chargeback may end, in the
// order they are documented.
var ChargebackEndKinds = []string{EndsDisputed, EndsRecurring, EndsOneTime, EndsManual}

// DefaultChargebackEnds is what a chargeback ends unless the policy says
// otherwise: the disputed payment's grant and every recurring grant. A
// one-time purchase paid by another, undisputed payment rests on money
// the bank did not take back, so it is suspended by the block instead.
var DefaultChargebackEnds = []string{EndsDisputed, EndsRecurring}

// Chargeback is the policy for a chargeback. It ends the grants of the
// kinds in Ends that the customer held when the chargeback was made; every
// other grant is suspended by the chargeback's block: no access while the
// block holds, back when a person lifts it.
type Chargeback struct {
	// Ends lists the kinds of grant a chargeback ends (EndsDisputed and
	// others); nil means DefaultChargebackEnds.
	Ends []string
}

// ChargebackEnds reports whether a chargeback of the payment disputedRef
// (e.g. "stripe:pi_…") ends the grant g, rather than suspending it.
func (p *Policy) ChargebackEnds(g Grant, disputedRef string) bool {
	if g.SourceRef == disputedRef && (g.Source == SourcePurchase || g.Source == SourceSubscription) {
		return true
	}
	ends := p.Lifecycle.Chargeback.Ends
	if ends == nil {
		ends = DefaultChargebackEnds
	}
	switch g.Source {
	case SourceSubscription, SourceGrace:
		return slices.Contains(ends, EndsRecurring)
	case SourcePurchase:
		return slices.Contains(ends, EndsOneTime)
	case SourceManual:
		return slices.Contains(ends, EndsManual)
	}
	return false
}
