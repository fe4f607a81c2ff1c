package support

import (
	"context"
	"fmt"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/store"
)

// OverrideOnCall puts who on call from start until end instead of the
// rotation. The caller knows who may be.
func (s *Service) OverrideOnCall(ctx context.Context, r Request, who string, start, end time.Time) (Result, error) {
	if err := r.check(paidup.ActionOverride); err != nil {
		return Result{}, err
	}
	return s.act(ctx, r, paidup.ActionOverride, "", func(tx *store.Tx) (change, error) {
		o, err := tx.AddOnCallOverride(ctx, store.OnCallOverride{Who: who, Start: start, End: end, Reason: r.Reason, CreatedBy: r.Actor})
		return change{target: o.ID, outcome: fmt.Sprintf("%s is on call from %s until %s.", who, minute(start), minute(end))}, err
	})
}

// EndOnCallOverride removes an override: the rotation decides again.
func (s *Service) EndOnCallOverride(ctx context.Context, r Request, id string) (Result, error) {
	if err := r.check(paidup.ActionEndOverride); err != nil {
		return Result{}, err
	}
	return s.act(ctx, r, paidup.ActionEndOverride, "", func(tx *store.Tx) (change, error) {
		removed, err := tx.RemoveOnCallOverride(ctx, id, r.Actor)
		if err == nil && !removed {
			err = paidup.Errorf(paidup.ENOTFOUND, "No override %s in force or to come.", id)
		}
		return change{target: id, outcome: "Override " + id + " removed: the rotation decides again."}, err
	})
}

// minute writes a moment to the minute: "2026-12-04 09:14 UTC".
func minute(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") }
