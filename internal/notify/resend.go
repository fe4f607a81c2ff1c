package notify

import (
	"context"
	"maps"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/store"
)

// Resend queues a copy of one of a customer's emails, to to, once per key:
// sent by the same job, with retries, as any email. A confirmation or a
// sign-in link gets a fresh sign-in link when it is sent, and an email
// with a card link a fresh card link; any other email is followed by a
// sign-in link of its own (also once per key), so that the customer can
// always sign in from what they were sent. Emails to on-call are not the
// customer's to resend. It returns the copy and whether it is new.
func (o *Outbox) Resend(ctx context.Context, tx *store.Tx, original store.Email, to, key string) (store.Email, bool, error) {
	if toOnCall(original.Kind) {
		return store.Email{}, false, paidup.Errorf(paidup.EINVALID, "Email %s went to on-call, not to the customer.", original.ID)
	}
	data := maps.Clone(original.Data)
	if data == nil {
		data = map[string]string{}
	}
	data["resend_of"] = original.ID
	e, created, err := tx.QueueEmail(ctx, store.Email{DedupeKey: "resend:" + key, CustomerID: original.CustomerID, Kind: original.Kind, To: to, Data: data})
	if err != nil || !created {
		return e, false, err
	}
	if err := tx.Enqueue(ctx, SendArgs{EmailID: e.ID}, nil); err != nil {
		return e, false, err
	}
	if err := tx.Append(ctx, paidup.TimelineEntry{CustomerID: e.CustomerID, Reference: data["reference"], Kind: paidup.EventEmail, Source: paidup.ByStaff,
		Summary: describeKind(e.Kind) + " email queued again to " + to + " (a copy of " + original.ID + ")",
		Data:    map[string]string{"email": e.ID, "resend_of": original.ID}}); err != nil {
		return e, false, err
	}
	if e.Kind != KindConfirmation && e.Kind != KindSignIn {
		if _, err := queueNew(ctx, tx, store.Email{DedupeKey: "resend:" + key + ":sign_in", CustomerID: e.CustomerID, Kind: KindSignIn, To: to}, data["reference"]); err != nil {
			return e, false, err
		}
	}
	return e, true, nil
}
