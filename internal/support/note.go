package support

import (
	"context"
	"strings"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/store"
)

// Note adds a person's note to a customer's timeline.
func (s *Service) Note(ctx context.Context, r Request, customerID, text string) (Result, error) {
	if err := r.check(paidup.ActionNote); err != nil {
		return Result{}, err
	}
	text = strings.TrimSpace(text)
	if text == "" || len(text) > maxNote || !printable(text, true) {
		return Result{}, paidup.Errorf(paidup.EINVALID, "A note needs text: at most %d characters.", maxNote)
	}
	return s.act(ctx, r, paidup.ActionNote, customerID, func(tx *store.Tx) (change, error) {
		if _, err := tx.Customer(ctx, customerID); err != nil {
			return change{}, err
		}
		if err := tx.Append(ctx, staffEntry(r, customerID, "", EventNote, "Note by "+r.Actor+": "+text, nil)); err != nil {
			return change{}, err
		}
		return change{outcome: "Noted.", data: map[string]string{"note": text}}, nil
	})
}
