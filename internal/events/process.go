package events

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/riverqueue/river"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/failpoint"
	"github.com/paidup/paidup/internal/lifecycle"
	"github.com/paidup/paidup/internal/obs"
	"github.com/paidup/paidup/internal/store"
	"github.com/paidup/paidup/internal/stripe"
)

// ProcessArgs is the job that acts on stored events: those committed
// together, up to jobEvents of them, so that a burst of webhooks costs a
// job per few events rather than one each.
type ProcessArgs struct {
	Processor string `json:"processor"`
	// EventID is one event to process, as jobs enqueued by earlier
	// versions carry it.
	EventID string `json:"event_id,omitempty"`
	// EventIDs are the events to process, in the order received.
	EventIDs []string `json:"event_ids,omitempty"`
}

// jobEvents is the most events one processing job carries.
const jobEvents = 16

// events lists the job's events.
func (a ProcessArgs) events() []string {
	if a.EventID == "" {
		return a.EventIDs
	}
	return append([]string{a.EventID}, a.EventIDs...)
}

// Kind names the job.
func (ProcessArgs) Kind() string { return "process_event" }

// InsertOpts: processing is retried for about a day before it is given up;
// by then the reconciler has long repaired whatever it was for.
func (ProcessArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 15} }

// ProcessWorker acts on stored events.
type ProcessWorker struct {
	river.WorkerDefaults[ProcessArgs]
	Store    *store.Store
	Checkout *checkout.Service
	// Lifecycle acts on subscription and dispute events.
	Lifecycle *lifecycle.Service
	Logger    *slog.Logger
	// Metrics count events that failed or were not applicable; nil
	// counts nothing.
	Metrics *obs.Metrics

	// busy serialises the processing of events about the same checkout
	// (a payment sends both checkout.session.completed and
	// payment_intent.succeeded), so that the second finds the checkout
	// settled by the first instead of asking the processor again.
	busy keyedMutex
}

// Work processes the job's events, one after another. An event is a hint:
// the checkout it concerns is read again from the processor, so
// duplicated, late and out-of-order events all lead to the same state. The
// failures are returned, and River retries the job; on a retry the events
// already processed are passed over.
//
// An event processed goes on its customer's timeline and is marked
// processed in the transaction of the fulfilment it caused, if any,
// together with the events processed before it and the job's later events
// about the same payment (which the fulfilment settles); the rest are
// marked at the end, in one transaction.
func (w *ProcessWorker) Work(ctx context.Context, job *river.Job[ProcessArgs]) error {
	failpoint.Inject("event.before_process")
	var errs []error
	ids := job.Args.events()
	stored, err := w.Store.WebhookEvents(ctx, job.Args.Processor, ids)
	if err != nil {
		return err
	}
	j := &jobProgress{recorded: map[string]bool{}}
	for _, id := range ids {
		ev, ok := stored[id]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("webhook event %s: %w", id, paidup.Errorf(paidup.ENOTFOUND, "No such event.")))
		case ev.Processed.IsZero():
			j.events = append(j.events, ev)
		}
	}
	for i, ev := range j.events {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		if j.recorded[ev.ID] {
			continue // settled with an earlier event's fulfilment
		}
		j.current = i
		note, err := w.process(ctx, ev, j)
		if errors.Is(err, paidup.ErrNoSuchObject) {
			// A permanent answer: trying again would get the same.
			if err = w.notApplicable(ctx, ev, err); err == nil {
				j.recorded[ev.ID] = true
			}
		}
		if err != nil {
			w.failed(ev, err)
			errs = append(errs, fmt.Errorf("processing %s %s: %w", ev.Type, ev.ID, err))
			continue
		}
		if !j.recorded[ev.ID] {
			j.pending = append(j.pending, processed{ev, note})
		}
	}
	if len(j.pending) > 0 {
		errs = append(errs, w.Store.InTx(ctx, func(tx *store.Tx) error { return record(ctx, tx, j.pending) }))
	}
	return errors.Join(errs...)
}

// failed counts an event whose processing failed; River tries the job
// again later, and the queue's log says so, as a warning unless the
// failure is expected (a dispute that came before its payment, the
// processor not answering for a moment).
func (w *ProcessWorker) failed(ev store.WebhookEvent, err error) {
	w.Logger.Debug("processing an event failed; it will be tried again", "event", ev.ID, "type", ev.Type, "err", err)
	if w.Metrics != nil {
		w.Metrics.EventsFailed.WithLabelValues(ev.Type).Inc()
	}
}

// notApplicable records an event about an object the processor does not
// have — forged, sent by a test, or about an object since deleted — as
// processed and not applicable, so that it is not tried again. A
// chargeback's also opens a support case: a bank taking money back
// matters even when paidup cannot see it.
func (w *ProcessWorker) notApplicable(ctx context.Context, ev store.WebhookEvent, cause error) error {
	w.Logger.Info("an event names an object the processor does not have; not applicable", "event", ev.ID, "type", ev.Type,
		"object", ev.ObjectID, "err", cause)
	err := w.Store.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.MarkWebhookEventNotApplicable(ctx, ev.Processor, ev.ID); err != nil {
			return err
		}
		if !strings.HasPrefix(ev.Type, "charge.dispute.") {
			return nil
		}
		return w.Checkout.Notify.OpenCase(ctx, tx, paidup.SupportCase{
			DedupeKey: "missing:" + ev.Processor + ":" + ev.ObjectID, Kind: paidup.CaseMissingObject,
			Summary: fmt.Sprintf("Chargeback event %s (%s) names %s %s, which the processor does not have: nothing was blocked. Look for the dispute in the processor's dashboard.",
				ev.ID, ev.Type, ev.ObjectType, ev.ObjectID),
		})
	})
	if err == nil && w.Metrics != nil {
		w.Metrics.EventsNotApplicable.WithLabelValues(ev.Type).Inc()
	}
	return err
}

// jobProgress is how far a job's processing has got.
type jobProgress struct {
	events  []store.WebhookEvent // the job's events not yet processed when it started
	current int                  // index in events of the one being processed
	// pending are processed events not yet recorded as such; recorded,
	// those whose record is committed.
	pending  []processed
	recorded map[string]bool
}

// processed is an event processed and the timeline entry recording it.
type processed struct {
	ev   store.WebhookEvent
	note *paidup.TimelineEntry
}

// record puts processed events on their customers' timelines and marks
// them processed, in tx.
func record(ctx context.Context, tx *store.Tx, evs []processed) error {
	for _, p := range evs {
		if p.note != nil {
			if err := tx.Append(ctx, *p.note); err != nil {
				return err
			}
		}
		if err := tx.MarkWebhookEventProcessed(ctx, p.ev.Processor, p.ev.ID); err != nil {
			return err
		}
	}
	return nil
}

// fulfil fulfils co for the event being processed, recording in the same
// transaction the events processed so far, this one, and, once the
// payment is settled, the job's later events about the same checkout or
// payment: processing them would only find it settled and note them.
func (w *ProcessWorker) fulfil(ctx context.Context, j *jobProgress, co paidup.Checkout) (checkout.Outcome, error) {
	ev := j.events[j.current]
	var staged []processed
	out, err := w.Checkout.FulfilCheckoutWith(ctx, co, paidup.ByWebhook, func(tx *store.Tx, out checkout.Outcome) error {
		// On SQLite a transaction may run twice (see sqldb.InGroupTx):
		// start afresh each time.
		staged = append(slices.Clip(j.pending), processed{ev, note(ev, out.CustomerID, out.Reference)})
		if settled(out.State) {
			for _, later := range j.events[j.current+1:] {
				if !j.recorded[later.ID] && about(later, co) {
					staged = append(staged, processed{later, note(later, out.CustomerID, out.Reference)})
				}
			}
		}
		return record(ctx, tx, staged)
	})
	if err != nil {
		return out, err
	}
	// Committed: staged is nil if nothing was.
	for _, p := range staged {
		j.recorded[p.ev.ID] = true
	}
	if staged != nil {
		j.pending = nil
	}
	return out, nil
}

// settled reports whether an attempt in state is settled for good by a
// payment: events about it change nothing more.
func settled(state string) bool {
	return state == paidup.AttemptFulfilled || state == paidup.AttemptNeedsAttention || state == paidup.AttemptRefunded ||
		state == paidup.AttemptDuplicate
}

// about reports whether ev is a checkout or payment event about co and its
// payment, which a settled fulfilment of co answers.
func about(ev store.WebhookEvent, co paidup.Checkout) bool {
	switch ev.Type {
	case "checkout.session.completed", "checkout.session.async_payment_succeeded":
		return ev.ObjectID == co.ID
	case "payment_intent.succeeded":
		return co.PaymentID != "" && ev.ObjectID == co.PaymentID
	}
	return false
}

// Types are the event types paidup acts on. A webhook endpoint for paidup
// needs only these (as a Stripe endpoint is configured with its enabled
// events); others are stored and acknowledged, and change nothing.
var Types = []string{
	"checkout.session.completed",
	"checkout.session.async_payment_succeeded",
	"checkout.session.expired",
	"payment_intent.succeeded",
	"charge.refunded",
	"charge.refund.updated",
	"refund.updated",
	"refund.failed",
	"customer.subscription.created",
	"customer.subscription.updated",
	"customer.subscription.deleted",
	"invoice.paid",
	"invoice.payment_succeeded",
	"invoice.payment_failed",
	"charge.dispute.created",
	"charge.dispute.updated",
	"charge.dispute.closed",
}

// process acts on an event and returns the timeline entry that records
// it, if any.
func (w *ProcessWorker) process(ctx context.Context, ev store.WebhookEvent, j *jobProgress) (*paidup.TimelineEntry, error) {
	switch ev.Type {
	case "checkout.session.completed", "checkout.session.async_payment_succeeded", "checkout.session.expired":
		return w.checkoutEvent(ctx, ev, j)
	case "payment_intent.succeeded":
		return w.paymentEvent(ctx, ev, j)
	case "charge.refunded", "charge.refund.updated", "refund.updated", "refund.failed":
		return nil, w.refundEvent(ctx, ev)
	case "customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted":
		defer w.busy.lock(ev.ObjectID)()
		return nil, w.Lifecycle.SyncSubscription(ctx, ev.ObjectID, "", source(ev))
	case "invoice.paid", "invoice.payment_succeeded", "invoice.payment_failed":
		return nil, w.invoiceEvent(ctx, ev)
	case "charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed":
		return nil, w.Lifecycle.Disputed(ctx, ev.ObjectID, ev.Type == "charge.dispute.closed", source(ev))
	}
	return nil, nil // not an event paidup acts on
}

// checkoutEvent fulfils (or expires) the checkout the event is about.
func (w *ProcessWorker) checkoutEvent(ctx context.Context, ev store.WebhookEvent, j *jobProgress) (*paidup.TimelineEntry, error) {
	defer w.busy.lock(ev.ObjectID)()
	// The attempt whose own checkout this is, if paidup recorded it.
	own, err := w.Store.CheckoutAttemptByCheckout(ctx, ev.ObjectID)
	if err == nil && !own.Unresolved() && own.Status != paidup.AttemptExpired {
		return note(ev, own.CustomerID, own.Reference), nil // already settled: nothing to ask the processor
	}
	co, err := w.Checkout.Processor.Checkout(ctx, ev.ObjectID)
	if err != nil {
		return nil, err
	}
	if !w.Checkout.Ours(co) {
		return nil, nil
	}
	out, err := w.fulfil(ctx, j, co)
	if err != nil {
		return nil, err
	}
	return note(ev, out.CustomerID, cmp.Or(out.Reference, own.Reference)), nil
}

// paymentEvent fulfils the checkout a succeeded payment was made through,
// when the payment carries a reference in paidup's format. The reference
// only says where to look first: the payment is passed over only if the
// attempt it names was settled by this very payment.
func (w *ProcessWorker) paymentEvent(ctx context.Context, ev store.WebhookEvent, j *jobProgress) (*paidup.TimelineEntry, error) {
	var pi struct {
		Metadata map[string]string `json:"metadata"`
	}
	if err := json.Unmarshal(objectOf(ev.Payload), &pi); err != nil {
		return nil, fmt.Errorf("reading payment intent: %w", err)
	}
	ref := pi.Metadata[stripe.MetadataKey]
	if !paidup.IsReference(ref) {
		return nil, nil
	}
	a, err := w.Store.CheckoutAttempt(ctx, ref)
	if err == nil && a.CheckoutID != "" && a.Unresolved() {
		// Wait for an event about the same checkout being processed, then
		// look again.
		defer w.busy.lock(a.CheckoutID)()
		a, err = w.Store.CheckoutAttempt(ctx, ref)
	}
	if err == nil && a.PaymentID == ev.ObjectID {
		return note(ev, a.CustomerID, ref), nil
	}
	var co paidup.Checkout
	if err == nil {
		co, err = w.Checkout.CheckoutPaidThrough(ctx, a.CheckoutID, ev.ObjectID)
	} else {
		co, err = w.Checkout.CheckoutForPayment(ctx, ref, ev.ObjectID)
	}
	if err != nil {
		return nil, err
	}
	out, err := w.fulfil(ctx, j, co)
	if err != nil {
		return nil, err
	}
	return note(ev, out.CustomerID, out.Reference), nil
}

// refundEvent records the refunds of the payment a refund event is about,
// read from the processor: the event (a charge's, or a refund's) only
// names the payment. A refund the processor does not have changes nothing.
func (w *ProcessWorker) refundEvent(ctx context.Context, ev store.WebhookEvent) error {
	var obj struct {
		PaymentIntent string `json:"payment_intent"`
	}
	if err := json.Unmarshal(objectOf(ev.Payload), &obj); err != nil {
		return fmt.Errorf("reading %s: %w", ev.ObjectType, err)
	}
	if obj.PaymentIntent == "" {
		return nil // not a payment paidup could have granted for
	}
	// A refund sends several events at once: one read at a time.
	defer w.busy.lock(obj.PaymentIntent)()
	_, err := w.Checkout.SyncRefunds(ctx, obj.PaymentIntent, source(ev), ev.ID)
	return err
}

// invoiceEvent syncs the subscription an invoice bills.
func (w *ProcessWorker) invoiceEvent(ctx context.Context, ev store.WebhookEvent) error {
	var in struct {
		Parent struct {
			SubscriptionDetails struct {
				Subscription string `json:"subscription"`
			} `json:"subscription_details"`
		} `json:"parent"`
	}
	if err := json.Unmarshal(objectOf(ev.Payload), &in); err != nil {
		return fmt.Errorf("reading invoice: %w", err)
	}
	sub := in.Parent.SubscriptionDetails.Subscription
	if sub == "" {
		return nil // not a subscription's invoice
	}
	defer w.busy.lock(sub)()
	return w.Lifecycle.SyncSubscription(ctx, sub, ev.ObjectID, source(ev))
}

// source is who reported an event: a webhook, or the reconciler reading it
// back.
func source(ev store.WebhookEvent) string {
	if ev.Via == store.ViaSweep {
		return paidup.ByReconciler
	}
	return paidup.ByWebhook
}

// note is the timeline entry recording an event for a customer.
func note(ev store.WebhookEvent, customerID, ref string) *paidup.TimelineEntry {
	if customerID == "" && ref == "" {
		return nil
	}
	summary, source := "Webhook received: "+ev.Type, paidup.ByWebhook
	if ev.Via == store.ViaSweep {
		summary, source = "Event "+ev.Type+" read back from the processor (its webhook never arrived)", paidup.ByReconciler
	}
	return &paidup.TimelineEntry{CustomerID: customerID, Reference: ref, Kind: paidup.EventWebhook, Source: source,
		Summary: summary, Data: map[string]string{"event": ev.ID, "object": ev.ObjectID}}
}

// objectOf returns the data.object of a stored event.
func objectOf(payload []byte) []byte {
	var ev struct {
		Data struct {
			Object json.RawMessage `json:"object"`
		} `json:"data"`
	}
	json.Unmarshal(payload, &ev)
	return ev.Data.Object
}

// keyedMutex is a mutex per key, held by one goroutine at a time; keys
// nobody holds take no memory.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	mu   sync.Mutex
	refs int
}

// lock locks key and returns its unlock.
func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyedLock{}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
