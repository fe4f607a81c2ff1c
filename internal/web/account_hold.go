package web

import (
	"context"
	"strings"
	"time"

	"github.com/paidup/paidup"
)

// holdView is the account page's word on a hold: why and since when, what
// it holds, and how to reach a person about it.
type holdView struct {
	Since string
	// Chargeback: a chargeback's block holds the access; otherwise a
	// person's.
	Chargeback bool
	// Reference is the chargeback's, for the customer to quote; "" for a
	// person's block.
	Reference string
	// Held is the access the hold suspends, "Pro, until 3 January 2027"
	// or "Pro, for good"; "" when it holds nothing.
	Held string
}

// holdState says how a blocked customer's access is held at now.
func (s *Server) holdState(ctx context.Context, grants []paidup.Grant, blocks []paidup.Block, now time.Time) (*holdView, error) {
	var v holdView
	var since time.Time
	for _, b := range blocks {
		if !b.ActiveAt(now) {
			continue
		}
		if since.IsZero() || b.CreatedAt.Before(since) {
			since = b.CreatedAt
		}
		if b.Source != paidup.BlockDispute || v.Reference != "" {
			continue
		}
		v.Chargeback = true
		processor, id, _ := strings.Cut(b.SourceRef, ":")
		d, found, err := s.Store.Dispute(ctx, processor, id)
		if err != nil {
			return nil, err
		}
		if found {
			v.Reference = d.Reference
		}
	}
	v.Since = since.Format(dateOnlyForm)
	if a := s.Policy.AccessAt(grants, nil, now); a.Active {
		v.Held = s.Policy.TierName(a.Tier) + ", for good"
		if !a.Until.IsZero() {
			v.Held = s.Policy.TierName(a.Tier) + ", until " + a.Until.Format(dateOnlyForm)
		}
	}
	return &v, nil
}
