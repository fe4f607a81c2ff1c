package store

import (
	"context"
	"fmt"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/sqldb"
)

// overlapSlack is how much two paid grants of one tier may overlap without
// it being paying twice: a subscription's period outlasts its end by a
// leeway, while the renewal that pays the next is charged.
const overlapSlack = 24 * time.Hour

// Duplicate-purchase cases: a person looks at a customer who holds one
// tier twice.
var duplicateCases = []string{paidup.CaseDuplicatePurchase, paidup.CaseOverlappingSubscription, paidup.CaseDuplicateSub, paidup.CaseDoubleBuy}

// overlappingPayments finds customers paying twice for the same access:
// two paid grants of one tier, resting on different payments that are not
// refunded, whose times overlap by more than overlapSlack, with no support
// case about either payment nor a duplicate-purchase case for the
// customer. An extended term starts where the one before ends, and so
// does not overlap.
func overlappingPayments(ctx context.Context, q sqldb.Queryer) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+grantColumns+` FROM grants g
		WHERE g.source IN ($1, $2) AND g.revoked_at IS NULL
		  AND NOT EXISTS (SELECT 1 FROM support_cases c WHERE c.customer_id = g.customer_id AND c.kind IN ($3, $4, $5, $6))
		  AND NOT EXISTS (SELECT 1 FROM support_cases c JOIN payments p ON c.payment_id = p.payment_id
			WHERE g.source_ref = p.processor || ':' || p.payment_id)
		ORDER BY g.customer_id, g.tier, g.starts_at, g.id`,
		paidup.SourcePurchase, paidup.SourceSubscription, duplicateCases[0], duplicateCases[1], duplicateCases[2], duplicateCases[3])
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var grants []paidup.Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, err
		}
		grants = append(grants, g)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []string
	for i, a := range grants {
		for _, b := range grants[i+1:] {
			if b.CustomerID != a.CustomerID || b.Tier != a.Tier {
				break
			}
			if b.SourceRef != a.SourceRef && overlap(a, b) > overlapSlack {
				out = append(out, fmt.Sprintf("customer %s holds %s twice: %s (%s) and %s (%s) overlap from %s",
					a.CustomerID, a.Tier, a.ID, a.SourceRef, b.ID, b.SourceRef, b.Start.Format("2006-01-02")))
			}
		}
	}
	return out, nil
}

// overlap is how long two grants are both active; b starts no earlier
// than a.
func overlap(a, b paidup.Grant) time.Duration {
	end := a.End
	if end.IsZero() || (!b.End.IsZero() && b.End.Before(end)) {
		end = b.End
	}
	if end.IsZero() {
		return time.Duration(1<<63 - 1) // both permanent
	}
	return end.Sub(b.Start)
}
