package support

import (
	"context"
	"fmt"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/store"
)

// Resend sends one of a customer's emails again, to their address now,
// by the same job and retries as any email: emailID names it, or, empty,
// their latest confirmation. A confirmation carries a fresh sign-in link;
// any other email is followed by one (see notify.Outbox.Resend).
func (s *Service) Resend(ctx context.Context, r Request, customerID, emailID string) (Result, error) {
	if err := r.check(paidup.ActionResend); err != nil {
		return Result{}, err
	}
	if emailID == "" {
		emails, err := s.Store.Emails(ctx, customerID)
		if err != nil {
			return Result{}, err
		}
		for _, e := range emails {
			if e.Kind == notify.KindConfirmation && e.Data["resend_of"] == "" {
				emailID = e.ID
			}
		}
		if emailID == "" {
			return Result{}, paidup.Errorf(paidup.ENOTFOUND, "The customer was never sent a confirmation: name the email to resend.")
		}
	}
	return s.act(ctx, r, paidup.ActionResend, customerID, func(tx *store.Tx) (change, error) {
		original, err := tx.EmailForUpdate(ctx, emailID)
		if err != nil || original.CustomerID != customerID {
			return change{}, paidup.Errorf(paidup.ENOTFOUND, "The customer has no email %s.", emailID)
		}
		cu, err := tx.Customer(ctx, customerID)
		if err != nil {
			return change{}, err
		}
		e, _, err := s.Notify.Resend(ctx, tx, original, cu.Email, r.ID)
		if err != nil {
			return change{}, err
		}
		if err := tx.Append(ctx, staffEntry(r, customerID, original.Data["reference"], paidup.EventEmail,
			fmt.Sprintf("Email %s resent by %s%s", original.ID, r.Actor, because(r.Reason)), map[string]string{"email": e.ID})); err != nil {
			return change{}, err
		}
		return change{target: original.ID, outcome: fmt.Sprintf("Queued a copy of %s email %s to %s (email %s), with a fresh sign-in link.",
			original.Kind, original.ID, cu.Email, e.ID), data: map[string]string{"email": e.ID}}, nil
	})
}
