package reconcile

import (
	"context"
	"errors"
	"fmt"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
)

// Recovery is what asking the processor about one customer found: each
// checkout it settled or still waits on, in words for people. What the
// checks changed of the customer's access, the caller reads from the
// records before and after.
type Recovery struct {
	Checked []string
}

// Customer asks the processor now about one customer, as the reconciler's
// passes would in time: each of their checkouts not settled (waiting on
// the processor, or given up on), the refunds of each of their payments,
// and each of their subscriptions, and repairs what it finds by the same
// paths as webhooks and the reconciler. customerID may be empty (a
// customer paidup has not recorded yet): then only the checkouts of
// email are asked about. source names who asked, for the timeline.
func (r *Reconciler) Customer(ctx context.Context, customerID, email, source string) (Recovery, error) {
	var rec Recovery
	var errs []error
	attempts, err := r.Store.UnsettledAttempts(ctx, customerID, email)
	if err != nil {
		return rec, err
	}
	for _, a := range attempts {
		line, err := r.recoverAttempt(ctx, a, source)
		if err != nil {
			errs = append(errs, fmt.Errorf("checking %s: %w", a.Reference, err))
			continue
		}
		rec.Checked = append(rec.Checked, line)
	}
	if customerID == "" {
		return rec, errors.Join(errs...)
	}
	payments, err := r.Store.Payments(ctx, customerID)
	if err != nil {
		return rec, errors.Join(append(errs, err)...)
	}
	for _, p := range payments {
		if _, err := r.Checkout.SyncRefunds(ctx, p.ID, source, ""); err != nil && !errors.Is(err, paidup.ErrNoSuchObject) {
			errs = append(errs, fmt.Errorf("reading the refunds of %s: %w", p.ID, err))
		}
	}
	if r.Lifecycle != nil {
		subs, err := r.Store.Subscriptions(ctx, customerID)
		if err != nil {
			return rec, errors.Join(append(errs, err)...)
		}
		for _, sub := range subs {
			if err := r.Lifecycle.SyncSubscription(ctx, sub.ID, "", source); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return rec, errors.Join(errs...)
}

// recoverAttempt asks the processor about one checkout attempt and
// settles it as the processor says, as a re-check would.
func (r *Reconciler) recoverAttempt(ctx context.Context, a paidup.CheckoutAttempt, source string) (string, error) {
	if a.CheckoutID == "" {
		return fmt.Sprintf("%s: no payment page was opened for it; nothing to ask the processor", a.Reference), nil
	}
	co, err := r.Checkout.Processor.Checkout(ctx, a.CheckoutID)
	if err != nil {
		return "", err
	}
	out, err := r.Checkout.FulfilCheckout(ctx, co, source)
	if err != nil {
		return "", err
	}
	switch out.State {
	case paidup.AttemptFulfilled:
		return fmt.Sprintf("%s: paid, and settled", a.Reference), nil
	case paidup.AttemptExpired:
		return fmt.Sprintf("%s: the checkout closed unpaid; nothing was charged", a.Reference), nil
	case checkout.Pending:
		return fmt.Sprintf("%s: the processor has no payment for it yet", a.Reference), nil
	}
	return fmt.Sprintf("%s: %s", a.Reference, out.State), nil
}
