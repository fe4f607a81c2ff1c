package support

import (
	"context"
	"fmt"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/store"
)

// Grant gives a customer a tier until a date, as goodwill: a manual
// grant, resting on the request. The customer is not emailed; the person
// tells them. A block, while it holds, suspends it as any grant.
func (s *Service) Grant(ctx context.Context, r Request, customerID, tier string, until time.Time) (Result, paidup.Grant, error) {
	if err := r.check(paidup.ActionGrant); err != nil {
		return Result{}, paidup.Grant{}, err
	}
	if _, ok := s.Policy.Tier(tier); !ok {
		return Result{}, paidup.Grant{}, paidup.Errorf(paidup.EINVALID, "No tier %q: the policy's tiers are %s.", tier, s.tierIDs())
	}
	if until.IsZero() {
		return Result{}, paidup.Grant{}, paidup.Errorf(paidup.EINVALID, "A goodwill grant needs the date it ends.")
	}
	var g paidup.Grant
	res, err := s.act(ctx, r, paidup.ActionGrant, customerID, func(tx *store.Tx) (change, error) {
		if !until.After(tx.Now()) {
			return change{}, paidup.Errorf(paidup.EINVALID, "The grant would end (%s) before it starts (now, %s).",
				until.UTC().Format(time.RFC3339), tx.Now().Format(time.RFC3339))
		}
		if _, err := tx.Customer(ctx, customerID); err != nil {
			return change{}, err
		}
		var err error
		g, _, err = tx.InsertGrant(ctx, paidup.Grant{CustomerID: customerID, Tier: tier, Source: paidup.SourceManual,
			SourceRef: "support:" + r.ID, Start: tx.Now(), End: until})
		if err != nil {
			return change{}, err
		}
		what := s.describeGrant(g)
		if err := tx.Append(ctx, staffEntry(r, customerID, "", paidup.EventGrant, "Granted "+what+" by "+r.Actor+because(r.Reason),
			map[string]string{"grant": g.ID})); err != nil {
			return change{}, err
		}
		return change{target: g.ID, outcome: fmt.Sprintf("Granted %s (grant %s).", what, g.ID), data: map[string]string{"tier": tier}}, nil
	})
	return res, g, err
}

// EndGrant ends one of a customer's grants now. A grant that had ended
// already is left as it is, and the request recorded as nothing to do. A
// subscription that renews grants its next period as ever: cancel it at
// the processor to stop that.
func (s *Service) EndGrant(ctx context.Context, r Request, customerID, grantID string) (Result, error) {
	if err := r.check(paidup.ActionEndGrant); err != nil {
		return Result{}, err
	}
	return s.act(ctx, r, paidup.ActionEndGrant, customerID, func(tx *store.Tx) (change, error) {
		grants, err := tx.Grants(ctx, customerID)
		if err != nil {
			return change{}, err
		}
		var g paidup.Grant
		for _, each := range grants {
			if each.ID == grantID {
				g = each
			}
		}
		if g.ID == "" {
			return change{}, paidup.Errorf(paidup.ENOTFOUND, "The customer has no grant %s.", grantID)
		}
		c := change{target: g.ID, data: map[string]string{"tier": g.Tier, "source": g.Source}}
		if !g.ActiveAt(tx.Now()) && !tx.Now().Before(g.Start) {
			c.outcome = fmt.Sprintf("Nothing to do: grant %s (%s) had ended.", g.ID, s.Policy.TierName(g.Tier))
			return c, tx.Append(ctx, staffEntry(r, customerID, "", paidup.EventGrant, fmt.Sprintf("Grant %s had ended already (asked by %s%s)",
				g.ID, r.Actor, because(r.Reason)), map[string]string{"grant": g.ID}))
		}
		if _, err := tx.RevokeGrant(ctx, g.ID, "ended by "+r.Actor+because(r.Reason)); err != nil {
			return change{}, err
		}
		blocks, err := tx.Blocks(ctx, customerID)
		if err != nil {
			return change{}, err
		}
		if grants, err = tx.Grants(ctx, customerID); err != nil {
			return change{}, err
		}
		now := s.describeAccess(s.Policy.AccessAt(grants, blocks, tx.Now()))
		if err := tx.Append(ctx, staffEntry(r, customerID, "", paidup.EventGrant, fmt.Sprintf("Grant of %s (%s) ended by %s%s; access now: %s",
			s.Policy.TierName(g.Tier), g.Source, r.Actor, because(r.Reason), now), map[string]string{"grant": g.ID})); err != nil {
			return change{}, err
		}
		c.outcome = fmt.Sprintf("Ended grant %s (%s, %s). Access now: %s.", g.ID, s.Policy.TierName(g.Tier), g.Source, now)
		return c, nil
	})
}

func (s *Service) tierIDs() string {
	var out string
	for i, t := range s.Policy.Tiers {
		if i > 0 {
			out += ", "
		}
		out += t.ID
	}
	return out
}
