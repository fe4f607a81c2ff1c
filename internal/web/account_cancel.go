package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/failpoint"
	"github.com/paidup/paidup/internal/store"
)

// SubscriptionSyncer brings paidup's record of a subscription up to date
// with its processor's, and acts on what changed, in one transaction with
// the emails it causes. *lifecycle.Service is one.
type SubscriptionSyncer interface {
	SyncSubscription(ctx context.Context, subID, invoiceID, source string) error
}

// cancelTimeout bounds the call that cancels or resumes a subscription at
// the processor.
const cancelTimeout = 15 * time.Second

// handleSubscriptionCancel sets a signed-in customer's subscription to end
// with its paid period (cancel true), or undoes that, at the processor;
// then reads the subscription back, so that the page, the grants and the
// confirmation email follow what the processor says, not what was asked.
func (s *Server) handleSubscriptionCancel(cancel bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		customerID, ok := s.signedIn(r)
		if !ok {
			http.Redirect(w, r, "/account", http.StatusSeeOther)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
		if err := r.ParseForm(); err != nil {
			s.fail(w, r, paidup.Errorf(paidup.EINVALID, "The form could not be read. Please go back and try again."))
			return
		}
		subs, err := s.Store.Subscriptions(r.Context(), customerID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		// Only the customer's own subscription: an id of anyone else's is
		// not found.
		i := slices.IndexFunc(subs, func(sub paidup.Subscription) bool { return sub.ID == r.PostForm.Get("subscription") })
		if i < 0 {
			s.fail(w, r, paidup.Errorf(paidup.ENOTFOUND, "We could not find that subscription on your account. Nothing has changed."))
			return
		}
		sub := subs[i]
		if err := s.setCancelAtPeriodEnd(r.Context(), sub, cancel); err != nil {
			s.cancelFailed(w, r, customerID, cancel, err)
			return
		}
		done := "cancelled"
		if !cancel {
			done = "resumed"
		}
		http.Redirect(w, r, "/account?"+url.Values{"done": {done}}.Encode(), http.StatusSeeOther)
	})
}

// setCancelAtPeriodEnd asks the processor, outside any transaction, then
// syncs the subscription from what it says. A sync that fails is left to
// a job, so that the change is acted on (and its email sent) all the same.
func (s *Server) setCancelAtPeriodEnd(ctx context.Context, sub paidup.Subscription, cancel bool) error {
	billing, syncer := s.Billing[sub.Processor], s.Subscriptions[sub.Processor]
	if billing == nil || syncer == nil {
		return errors.New("no billing for processor " + sub.Processor)
	}
	pctx, stop := context.WithTimeout(ctx, cancelTimeout)
	defer stop()
	if _, err := billing.SetCancelAtPeriodEnd(pctx, sub.ID, cancel); err != nil {
		return err
	}
	failpoint.Inject("account.after_cancel")
	if err := syncer.SyncSubscription(ctx, sub.ID, "", paidup.ByCustomer); err != nil {
		s.Logger.Warn("syncing a subscription after the customer changed it failed; a job syncs it", "subscription", sub.ID, "err", err)
		qctx := context.WithoutCancel(ctx)
		if qerr := s.Store.InTx(qctx, func(tx *store.Tx) error {
			return tx.Enqueue(qctx, checkout.SubscriptionArgs{Processor: sub.Processor, SubscriptionID: sub.ID}, nil)
		}); qerr != nil {
			s.Logger.Error("queueing the sync of a subscription failed; the reconciler finds it", "subscription", sub.ID, "err", qerr)
		}
	}
	return nil
}

// cancelFailed shows the account page as it stands, saying that the
// processor did not make the change.
func (s *Server) cancelFailed(w http.ResponseWriter, r *http.Request, customerID string, cancel bool, err error) {
	s.Logger.Error("changing a subscription at the processor failed", "ref", requestRef(r), "cancel", cancel, "err", err)
	p, perr := s.accountState(r.Context(), customerID)
	if perr != nil {
		s.fail(w, r, errors.Join(err, perr))
		return
	}
	p.Error = "We could not cancel your subscription just now: our payment processor did not confirm it. Nothing has changed, as shown below. Please try again in a few minutes."
	if !cancel {
		p.Error = "We could not resume your subscription just now: our payment processor did not confirm it. Nothing has changed, as shown below. Please try again in a few minutes."
	}
	s.render(w, r, http.StatusServiceUnavailable, "account.html", "Your account", p)
}

// doneNotice is what the account page says after the customer's own
// change, if the subscriptions (as the processor said) bear it out: the
// address alone, which anyone can write, proves nothing.
func doneNotice(done string, subs []subscriptionView) string {
	can := func(resume bool) bool {
		return slices.ContainsFunc(subs, func(v subscriptionView) bool { return (resume && v.CanResume) || (!resume && v.CanCancel) })
	}
	switch {
	case done == "cancelled" && can(true):
		return "Your subscription is cancelled. It will not renew, and we are sending you a confirmation by email."
	case done == "resumed" && can(false):
		return "Your subscription is no longer cancelled: it renews as before. We are sending you a confirmation by email."
	}
	return ""
}
