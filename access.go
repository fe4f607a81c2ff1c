package paidup

import "time"

// Customer is a person who pays, known by a normalised email address and by
// the processor customers linked to them.
type Customer struct {
	ID        string // paidup's id, e.g. cu_…
	Email     string
	CreatedAt time.Time
	// ProcessorIDs maps a processor name to the processor's customer ids.
	ProcessorIDs map[string][]string
}

// Grant sources: what a grant rests on.
const (
	SourcePurchase     = "purchase"     // a one-time payment; SourceRef names it
	SourceSubscription = "subscription" // a paid subscription period
	SourceManual       = "manual"       // a person granted it, with a reason
	// SourceGrace: the policy's grace after a failed renewal; SourceRef
	// names the unpaid invoice.
	SourceGrace = "grace"
)

// Grant is a customer's right to a tier for a time, and what it rests on.
type Grant struct {
	ID         string
	CustomerID string
	Tier       string
	PlanID     string
	Source     string // SourcePurchase, SourceSubscription or SourceManual
	// SourceRef identifies what the grant rests on, e.g. "stripe:pi_…".
	// A source grants at most once.
	SourceRef string
	Start     time.Time
	End       time.Time // zero: permanent
	// Revoked is when the grant was ended early (a refund, say), with why.
	Revoked      time.Time
	RevokeReason string
	CreatedAt    time.Time
}

// ActiveAt reports whether the grant gives access at t.
func (g Grant) ActiveAt(t time.Time) bool {
	if t.Before(g.Start) {
		return false
	}
	if !g.End.IsZero() && !t.Before(g.End) {
		return false
	}
	return g.Revoked.IsZero() || t.Before(g.Revoked)
}

// Block sources.
const (
	BlockDispute = "dispute" // a chargeback
	BlockStaff   = "staff"   // a person blocked the customer
)

// Block withholds all access, whatever the grants, until a person lifts it.
// Webhooks never lift a block.
type Block struct {
	ID         string
	CustomerID string
	Source     string
	// SourceRef names what caused the block, e.g. "stripe:dp_…" for a
	// chargeback; empty for a person's block.
	SourceRef  string
	Reason     string
	CreatedAt  time.Time
	Lifted     time.Time
	LiftedBy   string
	LiftReason string
}

// ActiveAt reports whether the block holds at t.
func (b Block) ActiveAt(t time.Time) bool {
	return !t.Before(b.CreatedAt) && (b.Lifted.IsZero() || t.Before(b.Lifted))
}

// Access is what a customer may use at a moment.
type Access struct {
	Active  bool
	Tier    string // the highest-ranked tier among active grants; "" if none
	Blocked bool
	// Until is when the current tier ends if nothing changes; zero when
	// it is permanent or there is no access.
	Until time.Time
}

// AccessAt computes a customer's access at t: the highest-ranked tier among
// the grants active at t, unless a block is active. A tier the policy no
// longer knows ranks below every known tier.
func (p *Policy) AccessAt(grants []Grant, blocks []Block, t time.Time) Access {
	for _, b := range blocks {
		if b.ActiveAt(t) {
			return Access{Blocked: true}
		}
	}
	var best *Grant
	bestRank := 0
	for i := range grants {
		g := &grants[i]
		if !g.ActiveAt(t) {
			continue
		}
		rank := p.Rank(g.Tier)
		if best == nil || rank > bestRank || (rank == bestRank && outlasts(*g, *best)) {
			best, bestRank = g, rank
		}
	}
	if best == nil {
		return Access{}
	}
	a := Access{Active: true, Tier: best.Tier}
	// The tier lasts as long as the longest active grant of that tier.
	for _, g := range grants {
		if g.Tier != best.Tier || !g.ActiveAt(t) {
			continue
		}
		end := g.End
		if !g.Revoked.IsZero() && (end.IsZero() || g.Revoked.Before(end)) {
			end = g.Revoked
		}
		if end.IsZero() {
			a.Until = time.Time{}
			return a // permanent, however long the others last
		}
		if end.After(a.Until) {
			a.Until = end
		}
	}
	return a
}

// outlasts reports whether a ends later than b (a permanent grant outlasts
// every other).
func outlasts(a, b Grant) bool {
	switch {
	case a.End.IsZero():
		return !b.End.IsZero()
	case b.End.IsZero():
		return false
	}
	return a.End.After(b.End)
}
