package support

import (
	"context"
	"fmt"
	"strings"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/store"
)

// Block blocks a customer: every grant is suspended until a person lifts
// the block. The customer is not emailed; the person tells them.
func (s *Service) Block(ctx context.Context, r Request, customerID string) (Result, paidup.Block, error) {
	if err := r.check(paidup.ActionBlock); err != nil {
		return Result{}, paidup.Block{}, err
	}
	var b paidup.Block
	res, err := s.act(ctx, r, paidup.ActionBlock, customerID, func(tx *store.Tx) (change, error) {
		var err error
		if b, err = s.Lifecycle.BlockTx(ctx, tx, customerID, r.Actor, r.Reason); err != nil {
			return change{}, err
		}
		return change{target: b.ID, outcome: fmt.Sprintf("Blocked: block %s. Every grant is suspended until the block is lifted.", b.ID),
			data: map[string]string{"block": b.ID}}, nil
	})
	if err == nil && res.Repeat {
		b.ID = res.Entry.Target
	}
	return res, b, err
}

// LiftBlocks lifts every block on a customer: what the blocks suspended
// comes back, and a customer told of a hold (a chargeback's) is told it
// is lifted. It returns the blocks lifted; none when there were none
// (recorded as nothing to do) or when the request was answered before.
func (s *Service) LiftBlocks(ctx context.Context, r Request, customerID string) (Result, []paidup.Block, error) {
	if err := r.check(paidup.ActionLift); err != nil {
		return Result{}, nil, err
	}
	var lifted []paidup.Block
	res, err := s.act(ctx, r, paidup.ActionLift, customerID, func(tx *store.Tx) (change, error) {
		var err error
		if lifted, err = s.Lifecycle.LiftBlocksTx(ctx, tx, customerID, r.Actor, r.Reason); err != nil {
			return change{}, err
		}
		if len(lifted) == 0 {
			return change{outcome: "Nothing to do: no active block."}, tx.Append(ctx, staffEntry(r, customerID, "", paidup.EventBlock,
				"No block to lift (asked by "+r.Actor+because(r.Reason)+")", nil))
		}
		ids := make([]string, len(lifted))
		for i, b := range lifted {
			ids[i] = b.ID
		}
		return change{target: strings.Join(ids, ","), outcome: fmt.Sprintf("Lifted %s.", strings.Join(ids, ", ")),
			data: map[string]string{"blocks": strings.Join(ids, ",")}}, nil
	})
	if err != nil || res.Repeat {
		return res, nil, err
	}
	return res, lifted, nil
}
