package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/riverqueue/river"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/failpoint"
	"github.com/paidup/paidup/internal/store"
	"github.com/paidup/paidup/internal/stripe"
)

// ProcessArgs is the job that acts on one stored event.
type ProcessArgs struct {
	Processor string `json:"processor"`
	EventID   string `json:"event_id"`
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
	Logger   *slog.Logger
}

// Work processes the event. An event is a hint: the checkout it concerns is
// read again from the processor, so duplicated, late and out-of-order
// events all lead to the same state. A failure is returned, and River
// retries the job.
func (w *ProcessWorker) Work(ctx context.Context, job *river.Job[ProcessArgs]) error {
	failpoint.Inject("event.before_process")
	ev, err := w.Store.WebhookEvent(ctx, job.Args.Processor, job.Args.EventID)
	if err != nil {
		return err
	}
	if !ev.Processed.IsZero() {
		return nil
	}
	if err := w.process(ctx, ev); err != nil {
		return fmt.Errorf("processing %s %s: %w", ev.Type, ev.ID, err)
	}
	return w.Store.MarkWebhookEventProcessed(ctx, ev.Processor, ev.ID)
}

func (w *ProcessWorker) process(ctx context.Context, ev store.WebhookEvent) error {
	switch ev.Type {
	case "checkout.session.completed", "checkout.session.async_payment_succeeded", "checkout.session.expired":
		return w.checkoutEvent(ctx, ev)
	case "payment_intent.succeeded":
		return w.paymentEvent(ctx, ev)
	case "charge.refunded":
		return w.refundEvent(ctx, ev)
	}
	return nil // not an event paidup acts on
}

// checkoutEvent fulfils (or expires) the checkout the event is about.
func (w *ProcessWorker) checkoutEvent(ctx context.Context, ev store.WebhookEvent) error {
	if a, err := w.Store.CheckoutAttemptByCheckout(ctx, ev.ObjectID); err == nil && !a.Unresolved() && a.Status != paidup.AttemptExpired {
		return w.record(ctx, ev, a.CustomerID, a.Reference) // already settled: nothing to ask the processor
	}
	co, err := w.Checkout.Processor.Checkout(ctx, ev.ObjectID)
	if err != nil {
		return err
	}
	if !w.Checkout.Ours(co) {
		return nil
	}
	out, err := w.Checkout.FulfilCheckout(ctx, co, store.ByWebhook)
	if err != nil {
		return err
	}
	return w.record(ctx, ev, out.CustomerID, co.Reference)
}

// paymentEvent fulfils the checkout a succeeded payment was made through,
// when the payment carries paidup's reference.
func (w *ProcessWorker) paymentEvent(ctx context.Context, ev store.WebhookEvent) error {
	var pi struct {
		Metadata map[string]string `json:"metadata"`
	}
	if err := json.Unmarshal(objectOf(ev.Payload), &pi); err != nil {
		return fmt.Errorf("reading payment intent: %w", err)
	}
	ref := pi.Metadata[stripe.MetadataKey]
	if ref == "" {
		return nil
	}
	a, err := w.Store.CheckoutAttempt(ctx, ref)
	if err == nil && !a.Unresolved() && a.Status != paidup.AttemptExpired {
		return w.record(ctx, ev, a.CustomerID, ref)
	}
	co, err := w.Checkout.Processor.CheckoutForPayment(ctx, ev.ObjectID)
	if err != nil {
		return err
	}
	out, err := w.Checkout.FulfilCheckout(ctx, co, store.ByWebhook)
	if err != nil {
		return err
	}
	return w.record(ctx, ev, out.CustomerID, ref)
}

// refundEvent records a refund; a full refund ends the grant it paid for.
func (w *ProcessWorker) refundEvent(ctx context.Context, ev store.WebhookEvent) error {
	var ch struct {
		PaymentIntent  string `json:"payment_intent"`
		Amount         int64  `json:"amount"`
		AmountRefunded int64  `json:"amount_refunded"`
	}
	if err := json.Unmarshal(objectOf(ev.Payload), &ch); err != nil {
		return fmt.Errorf("reading charge: %w", err)
	}
	if ch.PaymentIntent == "" {
		return nil
	}
	return w.Checkout.Refunded(ctx, ch.PaymentIntent, ch.AmountRefunded, ev.ID)
}

// record puts the event on the customer's timeline.
func (w *ProcessWorker) record(ctx context.Context, ev store.WebhookEvent, customerID, ref string) error {
	if customerID == "" && ref == "" {
		return nil
	}
	summary, source := "Webhook received: "+ev.Type, store.ByWebhook
	if ev.Via == store.ViaSweep {
		summary, source = "Event "+ev.Type+" read back from the processor (its webhook never arrived)", store.ByReconciler
	}
	return w.Store.Append(ctx, store.TimelineEntry{CustomerID: customerID, Reference: ref, Kind: store.EventWebhook, Source: source,
		Summary: summary, Data: map[string]string{"event": ev.ID, "object": ev.ObjectID}})
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
