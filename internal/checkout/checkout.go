// Package checkout is the purchase path: it records a checkout attempt
// before the customer is sent to pay, and fulfils paid checkouts — one
// idempotent Fulfil, called from the return page, the webhook processor and
// the reconciler, that makes exactly one grant and one confirmation however
// often and however concurrently it runs for the same payment.
package checkout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/failpoint"
	"github.com/paidup/paidup/internal/store"
)

// Lifetime is how long a processor checkout stays payable.
const Lifetime = 24 * time.Hour

// Service runs the purchase path.
type Service struct {
	Store     *store.Store
	Processor paidup.Processor
	Policy    *paidup.Policy
	Notify    Notifier
	Logger    *slog.Logger
	// PublicURL is how customers reach paidup, for return URLs.
	PublicURL string
	// FirstCheck is how soon after an attempt starts the reconciler first
	// asks the processor about it.
	FirstCheck time.Duration
	// StatementSuffix is the bank statement's suffix for one-time
	// payments, in which {reference} stands for the checkout's reference;
	// empty for none.
	StatementSuffix string
}

// Notifier queues what follows a fulfilment, in its transaction: the
// customer's confirmation, and support cases with their alerts.
type Notifier interface {
	QueueConfirmation(ctx context.Context, tx *store.Tx, c Confirmation) error
	OpenCase(ctx context.Context, tx *store.Tx, c paidup.SupportCase) error
	// QueueRefundIssued tells the customer of a refund, once per refund.
	QueueRefundIssued(ctx context.Context, tx *store.Tx, n RefundNotice) error
}

// Confirmation is what a confirmation email says.
type Confirmation struct {
	Grant     paidup.Grant
	Email     string
	Reference string
	Amount    paidup.Money
}

// Start records a checkout attempt for plan and email under ref, or finds
// the attempt an earlier submit of the same form recorded, and returns the
// processor checkout to send the customer to. A reference already used for
// another plan or email is not reused. If the processor cannot be reached
// the attempt stays, without a checkout, and trying again with the same
// reference reuses it: the reference is the processor's idempotency key, so
// a crash between the processor creating the checkout and paidup recording
// it yields the same checkout, not a second one. A submit of the same email
// and plan from another form (another tab, another device) goes to the
// checkout already open for them, while it can still be paid.
//
// The attempt returned carries its status token only if this call created
// it: the token opens the status page, and it is for the browser that
// started the purchase, not for whoever submits the same form again.
func (s *Service) Start(ctx context.Context, plan paidup.Plan, ref, email string) (paidup.CheckoutAttempt, error) {
	if a, ok, err := s.reuse(ctx, plan, ref, email); err != nil || ok {
		a.StatusToken = ""
		return a, err
	}
	a, created, err := s.start(ctx, plan, ref, email)
	if !created {
		a.StatusToken = ""
	}
	return a, err
}

// start is Start without the reuse of another form's checkout; it reports
// whether it created the attempt it returns.
func (s *Service) start(ctx context.Context, plan paidup.Plan, ref, email string) (a paidup.CheckoutAttempt, created bool, err error) {
	for range 3 {
		a, created, err = s.attempt(ctx, plan, ref, email)
		if err != nil {
			return a, created, err
		}
		failpoint.Inject("buy.after_attempt")
		switch {
		case a.Status == paidup.AttemptOpen:
			// Submitted again (a double click, the back button): the same
			// checkout, unless it has closed meanwhile.
			open, paid, err := s.checkoutState(ctx, a)
			switch {
			case err != nil:
				return a, created, err
			case open:
				return a, created, nil
			case paid:
				a, err = s.Store.CheckoutAttempt(ctx, a.Reference) // settled now
				return a, created, err
			}
		case a.Status != paidup.AttemptCreated:
			return a, created, nil // settled: the caller shows how it stands
		case s.payable(a):
			a, err = s.open(ctx, a, plan, email)
			return a, created, err
		}
		ref = paidup.NewReference() // too old to pay now: start afresh
	}
	return paidup.CheckoutAttempt{}, false, errors.New("could not start a checkout")
}

// StatementSuffix fills a statement descriptor suffix's {reference}.
func StatementSuffix(template, ref string) string {
	return strings.ReplaceAll(template, "{reference}", ref)
}

// minPayable is the least time a customer sent to a checkout has to pay.
const minPayable = 31 * time.Minute

// expiry is when an attempt's processor checkout closes. It is part of the
// idempotent request, so it is fixed by the attempt, not by when the
// request is made.
func expiry(a paidup.CheckoutAttempt) time.Time {
	return a.CreatedAt.Add(Lifetime - time.Minute).Truncate(time.Second)
}

// payable reports whether an attempt's checkout leaves the customer enough
// time to pay.
func (s *Service) payable(a paidup.CheckoutAttempt) bool {
	return expiry(a).Sub(s.Store.Now()) >= minPayable
}

// reuse finds the checkout open for the same email and plan that another
// form (not ref's) started, and returns it while it can be paid, or its
// attempt if it has been paid meanwhile; ok is false when there is none.
func (s *Service) reuse(ctx context.Context, plan paidup.Plan, ref, email string) (a paidup.CheckoutAttempt, ok bool, err error) {
	since := s.Store.Now().Add(-(Lifetime - time.Minute - minPayable))
	a, found, err := s.Store.OpenAttemptFor(ctx, plan.ID, email, since)
	if err != nil || !found || a.Reference == ref || !s.payable(a) {
		return paidup.CheckoutAttempt{}, false, err
	}
	open, paid, err := s.checkoutState(ctx, a)
	switch {
	case err != nil:
		return paidup.CheckoutAttempt{}, false, err
	case open:
		return a, true, nil
	case paid:
		a, err = s.Store.CheckoutAttempt(ctx, a.Reference)
		return a, err == nil, err
	}
	return paidup.CheckoutAttempt{}, false, nil // closed unpaid: start afresh
}

// StatusPath is the address of an attempt's status page, with the token
// that opens it.
func StatusPath(ref, token string) string {
	return "/checkout/" + ref + "?token=" + url.QueryEscape(token)
}

// open asks the processor for the attempt's checkout and records it. The
// request is the same each time it is made for the attempt: the processor
// answers a repeat with the checkout it made the first time.
func (s *Service) open(ctx context.Context, a paidup.CheckoutAttempt, plan paidup.Plan, email string) (paidup.CheckoutAttempt, error) {
	req := paidup.CheckoutRequest{
		Reference:  a.Reference,
		Plan:       plan,
		Email:      email,
		SuccessURL: s.PublicURL + "/checkout/" + a.Reference + "?checkout={CHECKOUT_ID}",
		CancelURL:  s.PublicURL + "/buy/" + url.PathEscape(plan.ID) + "?cancelled=" + a.Reference,
		ExpiresAt:  expiry(a),
	}
	if !plan.Interval.Recurring() {
		req.StatementSuffix = StatementSuffix(s.StatementSuffix, a.Reference)
	}
	// An attempt from before status tokens has none, and keeps the request
	// it was first made with.
	if a.StatusToken != "" {
		req.SuccessURL = s.PublicURL + StatusPath(a.Reference, a.StatusToken) + "&checkout={CHECKOUT_ID}"
		req.Proof = paidup.CheckoutProof(a.StatusToken)
	}
	co, err := s.Processor.CreateCheckout(ctx, req)
	if err != nil {
		return a, err
	}
	failpoint.Inject("buy.after_checkout")
	if err := s.Store.OpenCheckoutAttempt(ctx, a.Reference, co.ID, co.URL); err != nil {
		// The checkout carries the reference and the proof, so the payment
		// can still be traced; send the customer on rather than stop them.
		s.Logger.Error("recording processor checkout failed", "checkout", a.Reference, "err", err)
	}
	failpoint.Inject("buy.after_record")
	a.Status, a.CheckoutID, a.CheckoutURL = paidup.AttemptOpen, co.ID, co.URL
	return a, nil
}

// checkoutState reports whether an open attempt's checkout can still be
// paid, or was paid. One the processor has closed is settled here: expired,
// or fulfilled.
func (s *Service) checkoutState(ctx context.Context, a paidup.CheckoutAttempt) (open, paid bool, err error) {
	co, err := s.Processor.Checkout(ctx, a.CheckoutID)
	if err != nil {
		return true, false, nil // cannot tell: the processor's page will say
	}
	if co.Status == paidup.CheckoutOpen {
		return true, false, nil
	}
	_, err = s.FulfilCheckout(ctx, co, paidup.ByCustomer)
	return false, co.Paid, err
}

// attempt records a new attempt under ref, or finds the one an earlier
// submit of the same form recorded; it reports whether it created it.
func (s *Service) attempt(ctx context.Context, plan paidup.Plan, ref, email string) (paidup.CheckoutAttempt, bool, error) {
	for range 3 {
		a, created, err := s.Store.CreateCheckoutAttempt(ctx, paidup.CheckoutAttempt{
			Reference: ref, PlanID: plan.ID, Email: email, Amount: plan.Amount, Processor: s.Processor.Name(),
			StatusToken: paidup.NewStatusToken(), NextCheckAt: s.Store.Now().Add(s.FirstCheck),
		})
		if err != nil {
			return a, false, err
		}
		if created || (a.PlanID == plan.ID && a.Email == email) {
			return a, created, nil
		}
		ref = paidup.NewReference()
	}
	return paidup.CheckoutAttempt{}, false, errors.New("could not find an unused checkout reference")
}

// Outcome is where a checkout stands after Fulfil.
type Outcome struct {
	// State is one of the attempt statuses, or "pending" when the
	// processor has not confirmed a payment yet.
	State      string
	CustomerID string
	Grant      paidup.Grant
	// Reference is the attempt the checkout settled, when it settled one.
	Reference string
}

// Pending: paid or maybe paid, not yet confirmed.
const Pending = "pending"

// Fulfil asks the processor about a checkout and, if it is paid, grants
// access and queues the confirmation, once. source says who asked
// (paidup.ByWebhook, ByReturnPage, ByReconciler). It may run twice or
// concurrently for the same checkout: the grant rests on the payment, and
// a payment grants once.
func (s *Service) Fulfil(ctx context.Context, checkoutID, source string) (Outcome, error) {
	co, err := s.Processor.Checkout(ctx, checkoutID)
	if err != nil {
		return Outcome{State: Pending}, err
	}
	return s.FulfilCheckout(ctx, co, source)
}

// FulfilAttempt is Fulfil for a's own checkout: checkoutID, when paidup
// has not recorded it (the return address names it), is fulfilled only if
// the processor's checkout carries a's proof; another is left alone.
func (s *Service) FulfilAttempt(ctx context.Context, a paidup.CheckoutAttempt, checkoutID, source string) (Outcome, error) {
	co, err := s.Processor.Checkout(ctx, checkoutID)
	if err != nil {
		return Outcome{State: Pending}, err
	}
	if !a.OwnCheckout(co) {
		return Outcome{State: Pending}, nil
	}
	return s.FulfilCheckout(ctx, co, source)
}

// FulfilCheckout fulfils a checkout as the processor reported it.
func (s *Service) FulfilCheckout(ctx context.Context, co paidup.Checkout, source string) (Outcome, error) {
	return s.FulfilCheckoutWith(ctx, co, source, nil)
}

// FulfilCheckoutWith is FulfilCheckout that also runs also, with the
// outcome, in the transaction that records it, if one does (a checkout not
// paid yet records nothing): what was done about an event is then
// committed with what the event caused, in one transaction.
func (s *Service) FulfilCheckoutWith(ctx context.Context, co paidup.Checkout, source string, also func(*store.Tx, Outcome) error) (Outcome, error) {
	if !co.Paid {
		if co.Status == paidup.CheckoutExpired {
			return s.expire(ctx, co, source, also)
		}
		return Outcome{State: Pending}, nil
	}
	if co.PaymentID == "" {
		return Outcome{State: Pending}, fmt.Errorf("checkout %s is paid but names no payment", co.ID)
	}
	failpoint.Inject("fulfil.after_confirm")
	plan, planKnown := s.planFor(co)
	// A subscription's first grant lasts its first period: the invoice
	// paid says which.
	var first paidup.ProcessorInvoice
	if co.SubscriptionID != "" && co.InvoiceID != "" {
		var err error
		if first, err = s.Processor.Invoice(ctx, co.InvoiceID); err != nil {
			return Outcome{State: Pending}, fmt.Errorf("reading invoice %s: %w", co.InvoiceID, err)
		}
	}
	var out Outcome
	err := s.Store.InTx(ctx, func(tx *store.Tx) error {
		a, named, err := s.attemptFor(ctx, tx, co, plan, source)
		if err != nil {
			return err
		}
		if out, err = s.fulfilTx(ctx, tx, co, a, named, plan, planKnown, source, first); err != nil {
			return err
		}
		out.Reference = a.Reference
		if also != nil {
			if err := also(tx, out); err != nil {
				return err
			}
		}
		failpoint.Inject("fulfil.before_commit")
		return nil
	})
	if err != nil {
		return Outcome{State: Pending}, fmt.Errorf("fulfilling %s: %w", co.ID, err)
	}
	failpoint.Inject("fulfil.after_commit")
	return out, nil
}

// CheckoutForPayment reads the checkout a payment was made through. When
// the payment carries paidup's reference and paidup recorded the attempt's
// checkout, that checkout is read by its id (one read); otherwise the
// processor's checkouts are searched by payment.
func (s *Service) CheckoutForPayment(ctx context.Context, ref, paymentID string) (paidup.Checkout, error) {
	var checkoutID string
	if ref != "" {
		if a, err := s.Store.CheckoutAttempt(ctx, ref); err == nil {
			checkoutID = a.CheckoutID
		}
	}
	return s.CheckoutPaidThrough(ctx, checkoutID, paymentID)
}

// CheckoutPaidThrough reads the checkout a payment was made through, for a
// caller that has read the payment's attempt: checkoutID, the checkout
// recorded for it, is read by its id; failing that (none recorded, or
// another payment's), the processor's checkouts are searched by payment.
func (s *Service) CheckoutPaidThrough(ctx context.Context, checkoutID, paymentID string) (paidup.Checkout, error) {
	if checkoutID != "" {
		co, err := s.Processor.Checkout(ctx, checkoutID)
		if err != nil {
			return co, err
		}
		if co.PaymentID == paymentID {
			return co, nil
		}
	}
	return s.Processor.CheckoutForPayment(ctx, paymentID)
}

// Ours reports whether a checkout is paidup's to fulfil: it carries a
// reference in paidup's format, or it sells a price one of the plans sells
// (a payment link for a plan, say). Other checkouts on the same processor
// account are none of paidup's business, whatever client reference they
// carry.
func (s *Service) Ours(co paidup.Checkout) bool {
	if paidup.IsReference(co.Reference) {
		return true
	}
	_, ok := s.planFor(co)
	return ok
}

// planFor finds the plan a checkout sold, by the price paid for.
func (s *Service) planFor(co paidup.Checkout) (paidup.Plan, bool) {
	if len(co.PriceIDs) != 1 {
		return paidup.Plan{}, false
	}
	return s.Policy.PlanByPrice(co.PriceIDs[0])
}

// attemptFor finds, and locks, the attempt co settles: the attempt co
// names by its reference, if co is that attempt's own checkout (see
// paidup.CheckoutAttempt.OwnCheckout). Otherwise co is settled as a
// purchase of its own, with an attempt rebuilt from the processor's data:
// under the reference co carries, when that is in paidup's format and no
// attempt has it (a lost row, a restored backup), else under
// PROCESSOR-<checkout id>. named is the reference of another attempt that
// co named, if it did: anyone can make a checkout name a reference (a
// payment link's client_reference_id), and a reference is a hint, never
// an authority.
func (s *Service) attemptFor(ctx context.Context, tx *store.Tx, co paidup.Checkout, plan paidup.Plan, source string) (
	a paidup.CheckoutAttempt, named string, err error) {
	ref := co.Reference
	if !paidup.IsReference(ref) {
		ref = ""
	}
	if ref != "" {
		a, err := tx.AttemptForUpdate(ctx, ref)
		switch {
		case err == nil && a.OwnCheckout(co):
			if a.CheckoutID == "" {
				// paidup stopped before recording it; its proof says whose
				// it is.
				if err := tx.RecordAttemptCheckout(ctx, ref, co.ID); err != nil {
					return a, "", err
				}
				a.CheckoutID, a.StatusToken = co.ID, ""
			}
			return a, "", nil
		case err == nil:
			named, ref = ref, ""
		case paidup.ErrorCode(err) != paidup.ENOTFOUND:
			return a, "", err
		}
	}
	summary := "Rebuilt a checkout paidup had no record of, from the processor's data"
	if named != "" {
		summary = fmt.Sprintf("Recorded checkout %s as a purchase of its own: it named reference %s, which is another checkout's", co.ID, named)
	}
	if ref == "" {
		ref = "PROCESSOR-" + co.ID
	}
	a, err = s.restore(ctx, tx, co, plan, ref, source, summary)
	return a, named, err
}

// restore recreates the attempt for co under ref, unless it exists, and
// locks it as the normal path does, so that a concurrent restore of the
// same checkout waits for this one to finish.
func (s *Service) restore(ctx context.Context, tx *store.Tx, co paidup.Checkout, plan paidup.Plan, ref, source, summary string) (paidup.CheckoutAttempt, error) {
	a := paidup.CheckoutAttempt{Reference: ref, PlanID: plan.ID, Email: co.Email, Amount: co.Amount,
		Processor: s.Processor.Name(), CheckoutID: co.ID, CreatedAt: co.Created}
	restored, err := tx.RestoreCheckoutAttempt(ctx, a)
	if err != nil {
		return a, err
	}
	if a, err = tx.AttemptForUpdate(ctx, ref); err != nil {
		return a, err
	}
	if restored {
		err = tx.Append(ctx, paidup.TimelineEntry{Reference: ref, Kind: paidup.EventReconciler, Source: source,
			Summary: summary, Data: map[string]string{"checkout": co.ID, "payment": co.PaymentID}})
	}
	return a, err
}

// clash opens a support case, once per checkout, saying that co, settled
// as ref, named the reference of another attempt.
func (s *Service) clash(ctx context.Context, tx *store.Tx, co paidup.Checkout, ref, named, customerID string) error {
	return s.Notify.OpenCase(ctx, tx, paidup.SupportCase{
		DedupeKey: "foreign_reference:" + s.Processor.Name() + ":" + co.ID, CustomerID: customerID, Reference: ref,
		PaymentID: co.PaymentID, Kind: paidup.CaseForeignReference,
		Summary: fmt.Sprintf("Checkout %s named reference %s, which belongs to another checkout; it was paid and settled on its own as %s, and %s was left as it was",
			co.ID, named, ref, named),
	})
}

// fulfilTx settles a, the attempt co's payment is for (see attemptFor),
// in tx: the customer, the payment and its grant, or the support case a
// person must settle. named is the reference of another attempt co named,
// if any.
func (s *Service) fulfilTx(ctx context.Context, tx *store.Tx, co paidup.Checkout, a paidup.CheckoutAttempt, named string,
	plan paidup.Plan, planKnown bool, source string, first paidup.ProcessorInvoice) (Outcome, error) {
	processor := s.Processor.Name()
	sourceRef := processor + ":" + co.PaymentID
	grantSource := paidup.SourcePurchase
	if co.SubscriptionID != "" {
		grantSource = paidup.SourceSubscription
	}
	ref := a.Reference

	if g, found, err := tx.GrantBySource(ctx, grantSource, sourceRef); err != nil {
		return Outcome{}, err
	} else if found {
		// Already fulfilled, by this path or another (a subscription's
		// sync, which recorded the payment without its checkout): nothing
		// more to do but say which checkout the payment was made through.
		// (Read after the grant: on PostgreSQL a sync committing meanwhile
		// commits the grant and the payment together.)
		if err := tx.LinkPaymentCheckout(ctx, processor, co.PaymentID, ref, co.ID); err != nil {
			return Outcome{}, err
		}
		if named != "" {
			if err := s.clash(ctx, tx, co, ref, named, g.CustomerID); err != nil {
				return Outcome{}, err
			}
		}
		if a.Status != paidup.AttemptFulfilled {
			if err := tx.ResolveAttempt(ctx, ref, paidup.AttemptFulfilled, g.CustomerID, co.PaymentID); err != nil {
				return Outcome{}, err
			}
			if co.SubscriptionID != "" && planKnown {
				// The sync granted its first period: it may be beside a
				// tier the customer held already.
				if err := s.flagHeldBeside(ctx, tx, g, plan, ref, co); err != nil {
					return Outcome{}, err
				}
			}
		}
		return Outcome{State: paidup.AttemptFulfilled, CustomerID: g.CustomerID, Grant: g}, nil
	}
	if a.Status == paidup.AttemptNeedsAttention || a.Status == paidup.AttemptRefunded || a.Status == paidup.AttemptDuplicate {
		return Outcome{State: a.Status, CustomerID: a.CustomerID}, nil
	}

	email, err := paidup.NormaliseEmail(co.Email)
	if err != nil {
		email = a.Email
	}
	customerID, created, err := tx.MatchCustomer(ctx, processor, co.CustomerID, email)
	if err != nil {
		return Outcome{}, err
	}
	if named != "" {
		if err := s.clash(ctx, tx, co, ref, named, customerID); err != nil {
			return Outcome{}, err
		}
	}
	paidAt := co.PaidAt
	if paidAt.IsZero() {
		paidAt = tx.Now()
	}
	if err := tx.RecordPayment(ctx, paidup.Payment{
		Processor: processor, ID: co.PaymentID, CustomerID: customerID, CheckoutReference: ref, CheckoutID: co.ID,
		PlanID: plan.ID, Amount: co.Amount, PaidAt: paidAt,
	}); err != nil {
		return Outcome{}, err
	}
	ids := map[string]string{"checkout": co.ID, "payment": co.PaymentID}
	entry := func(kind, summary string) error {
		return tx.Append(ctx, paidup.TimelineEntry{CustomerID: customerID, Reference: ref, Kind: kind, Source: source, Summary: summary, Data: ids})
	}
	if created {
		if err := entry(paidup.EventCheckout, "New customer "+email); err != nil {
			return Outcome{}, err
		}
	}
	if err := entry(paidup.EventPayment, fmt.Sprintf("Payment of %s confirmed by the processor (%s)", co.Amount, describeSource(source))); err != nil {
		return Outcome{}, err
	}
	if co.AmountRefunded > 0 && co.AmountRefunded < co.Amount.Amount {
		if _, err := tx.SetRefunded(ctx, processor, co.PaymentID, co.AmountRefunded); err != nil {
			return Outcome{}, err
		}
	}
	if co.AmountRefunded > 0 && co.AmountRefunded >= co.Amount.Amount {
		// Refunded before paidup got to it: the refund settles the payment,
		// and there is nothing to grant.
		if _, err := tx.SetRefunded(ctx, processor, co.PaymentID, co.AmountRefunded); err != nil {
			return Outcome{}, err
		}
		if err := entry(paidup.EventPayment, "The payment was refunded in full before access was granted; no access granted"); err != nil {
			return Outcome{}, err
		}
		if err := tx.ResolveAttempt(ctx, ref, paidup.AttemptRefunded, customerID, co.PaymentID); err != nil {
			return Outcome{}, err
		}
		if err := s.tellEarlyRefund(ctx, tx, co, source, true); err != nil {
			return Outcome{}, err
		}
		return Outcome{State: paidup.AttemptRefunded, CustomerID: customerID}, nil
	}

	// What paidup cannot settle by itself goes to a person.
	var problem, kind string
	blocks, err := tx.ActiveBlocks(ctx, customerID)
	switch {
	case err != nil:
		return Outcome{}, err
	case !planKnown:
		kind, problem = paidup.CaseUnknownPlan, fmt.Sprintf("Paid %s for price %v, which no plan sells", co.Amount, co.PriceIDs)
	case co.Amount != plan.Amount:
		kind, problem = paidup.CaseAmountMismatch, fmt.Sprintf("Paid %s for %s, which costs %s", co.Amount, plan.Name, plan.Amount)
	case len(blocks) > 0:
		kind, problem = paidup.CaseBlockedPayer, fmt.Sprintf("Paid %s for %s while blocked (%s)", co.Amount, plan.Name, blocks[0].Reason)
	}
	if problem != "" {
		if err := s.Notify.OpenCase(ctx, tx, paidup.SupportCase{
			DedupeKey: "payment:" + sourceRef, CustomerID: customerID, Reference: ref, PaymentID: co.PaymentID, Kind: kind, Summary: problem,
		}); err != nil {
			return Outcome{}, err
		}
		if err := tx.ResolveAttempt(ctx, ref, paidup.AttemptNeedsAttention, customerID, co.PaymentID); err != nil {
			return Outcome{}, err
		}
		return Outcome{State: paidup.AttemptNeedsAttention, CustomerID: customerID}, nil
	}

	dup, isDup, err := s.duplicateOf(ctx, tx, customerID, plan, paidAt, sourceRef)
	if err != nil {
		return Outcome{}, err
	}
	if isDup && !plan.Interval.Recurring() && dup.extendFrom.IsZero() {
		return s.settleDuplicate(ctx, tx, dup, plan, customerID, ref, co, entry)
	}

	g := paidup.Grant{CustomerID: customerID, Tier: plan.Tier, PlanID: plan.ID, Source: grantSource, SourceRef: sourceRef, Start: paidAt}
	switch {
	case co.SubscriptionID != "":
		// Its first period, as the subscription's renewals grant theirs;
		// the lifecycle mirrors the subscription from here on.
		g.Start, g.End = first.PeriodStart, first.PeriodEnd.Add(SubscriptionLeeway)
		if err := tx.Enqueue(ctx, SubscriptionArgs{Processor: processor, SubscriptionID: co.SubscriptionID}, nil); err != nil {
			return Outcome{}, err
		}
	case !dup.extendFrom.IsZero():
		// The plan extends what they hold: its term follows the current one.
		g.Start, g.End = dup.extendFrom, plan.Term.AddTo(dup.extendFrom)
	case !plan.Term.IsZero():
		g.End = plan.Term.AddTo(paidAt)
	}
	g, granted, err := tx.InsertGrant(ctx, g)
	if err != nil {
		return Outcome{}, err
	}
	if granted {
		until := "for good"
		if !g.End.IsZero() {
			until = "until " + g.End.Format("2 January 2006")
		}
		summary := fmt.Sprintf("Access granted: %s, %s", s.Policy.TierName(plan.Tier), until)
		if !dup.extendFrom.IsZero() {
			summary = fmt.Sprintf("Access extended: %s, %s (held %s; the new term starts then)", s.Policy.TierName(plan.Tier), until, Until(dup.held))
		}
		if err := entry(paidup.EventGrant, summary); err != nil {
			return Outcome{}, err
		}
		if isDup && plan.Interval.Recurring() {
			if err := s.flagDuplicate(ctx, tx, dup, plan, customerID, ref, co.PaymentID, co.Amount); err != nil {
				return Outcome{}, err
			}
		}
		if err := s.Notify.QueueConfirmation(ctx, tx, Confirmation{Grant: g, Email: email, Reference: ref, Amount: co.Amount}); err != nil {
			return Outcome{}, err
		}
		if co.AmountRefunded > 0 {
			// Refunded in part before paidup got to it: the rest grants.
			if err := s.tellEarlyRefund(ctx, tx, co, source, false); err != nil {
				return Outcome{}, err
			}
		}
	}
	if err := tx.ResolveAttempt(ctx, ref, paidup.AttemptFulfilled, customerID, co.PaymentID); err != nil {
		return Outcome{}, err
	}
	return Outcome{State: paidup.AttemptFulfilled, CustomerID: customerID, Grant: g}, nil
}

func describeSource(source string) string {
	switch source {
	case paidup.ByWebhook:
		return "webhook"
	case paidup.ByReturnPage:
		return "the customer returned from paying"
	case paidup.ByReconciler:
		return "found by the reconciler"
	}
	return source
}

// expire records that a checkout closed unpaid, if it is an attempt's own
// checkout: one that merely names an attempt's reference closes nothing.
func (s *Service) expire(ctx context.Context, co paidup.Checkout, source string, also func(*store.Tx, Outcome) error) (Outcome, error) {
	out := Outcome{State: paidup.AttemptExpired}
	if !paidup.IsReference(co.Reference) {
		return out, nil
	}
	err := s.Store.InTx(ctx, func(tx *store.Tx) error {
		ref, err := s.expireTx(ctx, tx, co, source)
		if err != nil {
			return err
		}
		out.Reference = ref
		if also != nil {
			return also(tx, out)
		}
		return nil
	})
	return out, err
}

// expireTx settles the attempt whose own checkout co is as expired, unless
// it is settled already, and returns its reference; "" if co is no
// attempt's own.
func (s *Service) expireTx(ctx context.Context, tx *store.Tx, co paidup.Checkout, source string) (string, error) {
	a, err := tx.AttemptForUpdate(ctx, co.Reference)
	if paidup.ErrorCode(err) == paidup.ENOTFOUND || (err == nil && !a.OwnCheckout(co)) {
		return "", nil
	}
	if err != nil || !a.Unresolved() {
		return a.Reference, err
	}
	if err := tx.ResolveAttempt(ctx, a.Reference, paidup.AttemptExpired, "", ""); err != nil {
		return "", err
	}
	return a.Reference, tx.Append(ctx, paidup.TimelineEntry{Reference: a.Reference, Kind: paidup.EventCheckout, Source: source,
		Summary: "The checkout closed unpaid; nothing was charged", Data: map[string]string{"checkout": co.ID}})
}

// SubscriptionLeeway is how long a paid subscription period's grant
// outlasts the period, while the processor charges the renewal (Stripe
// does so about an hour after the period ends). A cancelled
// subscription's grant ends with its period.
const SubscriptionLeeway = 2 * time.Hour

// SubscriptionArgs is the job that brings paidup's view of a subscription
// up to date with the processor's (see the lifecycle package).
type SubscriptionArgs struct {
	Processor      string `json:"processor"`
	SubscriptionID string `json:"subscription_id"`
	// InvoiceID is an invoice an event named, if any.
	InvoiceID string `json:"invoice_id,omitempty"`
}

// Kind names the job.
func (SubscriptionArgs) Kind() string { return "sync_subscription" }

// InsertOpts: retried for about a day; the reconciler sweeps invoices too.
func (SubscriptionArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 15} }
