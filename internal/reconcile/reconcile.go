// Package reconcile is paidup's janitor. Webhooks get lost — never sent,
// sent and dropped, acknowledged and then lost — so the reconciler does not
// rely on them: it re-checks every unfinished checkout with the processor on
// a growing schedule, and sweeps the processor's recent checkouts, payments
// and undelivered events by cursor, fulfilling whatever was paid and not yet
// granted. What it cannot settle becomes a support case and an alert.
//
// It runs as a periodic job, which River starts only on the elected leader,
// and never twice at once.
package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/events"
	"github.com/paidup/paidup/internal/failpoint"
	"github.com/paidup/paidup/internal/lifecycle"
	"github.com/paidup/paidup/internal/store"
)

// DefaultSchedule is when an unfinished checkout is checked, each delay
// counted from the check before: about a minute after it starts, then five
// minutes, an hour, and daily for a week.
var DefaultSchedule = []time.Duration{
	time.Minute, 5 * time.Minute, time.Hour,
	24 * time.Hour, 24 * time.Hour, 24 * time.Hour, 24 * time.Hour, 24 * time.Hour, 24 * time.Hour, 24 * time.Hour,
}

// Reconciler finds and repairs what webhooks missed.
type Reconciler struct {
	Store    *store.Store
	Checkout *checkout.Service
	Ingester *events.Ingester
	// Lifecycle repairs subscriptions and chargebacks whose events were
	// missed.
	Lifecycle *lifecycle.Service
	Notify    checkout.Notifier
	Logger    *slog.Logger
	// Schedule is the delays between checks of an unfinished checkout;
	// after the last, paidup gives up and asks a person.
	Schedule []time.Duration
	// Overlap is how far back each sweep looks before where the last one
	// ended, for clock skew and late writes.
	Overlap time.Duration
	// Lookback is how far back the first sweep looks.
	Lookback time.Duration
	// Settle is how long the sweeps leave a new record to its webhooks:
	// they list only records at least this old, so that a pass does not
	// race the webhooks on their way (or redo their work) for every
	// payment still in flight. The next pass lists what this one left.
	// paidup gives it the first re-check delay: a new checkout gets the
	// same time before the reconciler asks about it.
	Settle time.Duration
	// RefundWindow is how long after paidup records a refund the
	// reconciler keeps confirming it with the processor, once per
	// RefundRecheck; zero means DefaultRefundWindow and
	// DefaultRefundRecheck.
	RefundWindow, RefundRecheck time.Duration
}

// Report counts what one run did.
type Report struct {
	Checked, Fulfilled, Expired, GaveUp, Swept, Repaired, EventsRecovered int
}

// Run does one pass: due re-checks, then the sweeps. A failing part does
// not stop the others.
func (r *Reconciler) Run(ctx context.Context) (Report, error) {
	var rep Report
	err := errors.Join(
		r.checkDue(ctx, &rep),
		r.sweepCheckouts(ctx, &rep),
		r.sweepPayments(ctx, &rep),
		r.sweepRefunds(ctx, &rep),
		r.verifyRefunds(ctx, &rep),
		r.sweepEvents(ctx, &rep),
		r.sweepInvoices(ctx, &rep),
		r.sweepDisputes(ctx, &rep),
		r.checkStaleSubscriptions(ctx, &rep),
	)
	return rep, err
}

// checkDue asks the processor about each unfinished checkout that is due.
func (r *Reconciler) checkDue(ctx context.Context, rep *Report) error {
	due, err := r.Store.DueAttempts(ctx, r.Store.Now(), 500)
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range due {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rep.Checked++
		if err := r.check(ctx, a, rep); err != nil {
			errs = append(errs, fmt.Errorf("checking %s: %w", a.Reference, err))
		}
	}
	return errors.Join(errs...)
}

func (r *Reconciler) check(ctx context.Context, a paidup.CheckoutAttempt, rep *Report) error {
	if a.CheckoutID == "" {
		// The customer was never sent to pay (the processor was down, or
		// paidup crashed first). A checkout the processor made under this
		// reference would be found by the sweep; after the longest a
		// checkout can live, there is none.
		if r.Store.Now().Sub(a.CreatedAt) > checkout.Lifetime+time.Hour {
			return r.resolve(ctx, a, paidup.AttemptAbandoned, "No payment page was ever opened for this checkout; nothing was charged")
		}
		return r.reschedule(ctx, a, rep)
	}
	co, err := r.Checkout.Processor.Checkout(ctx, a.CheckoutID)
	if err != nil {
		r.Logger.Warn("reconciler: asking the processor failed", "checkout", a.Reference, "err", err)
		return r.reschedule(ctx, a, rep)
	}
	failpoint.Inject("reconcile.after_check")
	out, err := r.Checkout.FulfilCheckout(ctx, co, paidup.ByReconciler)
	if err != nil {
		r.reschedule(ctx, a, rep)
		return err
	}
	switch out.State {
	case paidup.AttemptFulfilled:
		rep.Fulfilled++
	case paidup.AttemptExpired:
		rep.Expired++
	case checkout.Pending:
		return r.reschedule(ctx, a, rep)
	}
	return nil
}

// reschedule sets the next check, or gives up after the last one.
func (r *Reconciler) reschedule(ctx context.Context, a paidup.CheckoutAttempt, rep *Report) error {
	checks := a.Checks + 1
	if checks >= len(r.Schedule) {
		rep.GaveUp++
		return r.giveUp(ctx, a)
	}
	return r.Store.RescheduleAttempt(ctx, a.Reference, checks, r.Store.Now().Add(r.Schedule[checks]))
}

// giveUp hands a checkout paidup could never confirm to a person.
func (r *Reconciler) giveUp(ctx context.Context, a paidup.CheckoutAttempt) error {
	return r.Store.InTx(ctx, func(tx *store.Tx) error {
		// A webhook or the customer's return may have settled it since the
		// last check.
		if cur, err := tx.AttemptForUpdate(ctx, a.Reference); err != nil || !cur.Unresolved() {
			return err
		}
		if err := tx.ResolveAttempt(ctx, a.Reference, paidup.AttemptUnknown, "", ""); err != nil {
			return err
		}
		return r.Notify.OpenCase(ctx, tx, paidup.SupportCase{
			DedupeKey: "unconfirmed:" + a.Reference, Reference: a.Reference, Kind: paidup.CaseUnconfirmed,
			Summary: fmt.Sprintf("Checkout %s (%s, %s) was never confirmed by the processor after %d checks", a.Reference, a.PlanID, a.Email, a.Checks+1),
		})
	})
}

func (r *Reconciler) resolve(ctx context.Context, a paidup.CheckoutAttempt, status, summary string) error {
	return r.Store.InTx(ctx, func(tx *store.Tx) error {
		if cur, err := tx.AttemptForUpdate(ctx, a.Reference); err != nil || !cur.Unresolved() {
			return err
		}
		if err := tx.ResolveAttempt(ctx, a.Reference, status, "", ""); err != nil {
			return err
		}
		return tx.Append(ctx, paidup.TimelineEntry{Reference: a.Reference, Kind: paidup.EventCheckout, Source: paidup.ByReconciler, Summary: summary})
	})
}

// sweep runs fn over the processor's records from where the named sweep
// last got to (less the overlap). fn reports each record it handled, with
// its creation time and the error handling it, if any: a record that fails
// does not stop the sweep, and the cursor stops short of it so that the next
// run tries it again.
func (r *Reconciler) sweep(ctx context.Context, name string, fn func(created paidup.Created, done func(time.Time, error)) error) error {
	pos, err := r.Store.SweepCursor(ctx, name)
	if err != nil {
		return err
	}
	now := r.Store.Now()
	since := now.Add(-r.Lookback)
	newest := since
	if t, err := time.Parse(time.RFC3339, pos); err == nil {
		// The cursor never moves back, however long nothing new turns up.
		since, newest = t.Add(-r.Overlap), t
	}
	created := paidup.Created{Since: since}
	if r.Settle > 0 {
		// Records newer than this are left to the next pass, which lists
		// from before where this one gets to.
		created.Until = now.Add(-r.Settle)
	}
	var failed time.Time
	var errs []error
	listErr := fn(created, func(t time.Time, err error) {
		if err != nil {
			errs = append(errs, err)
			if failed.IsZero() || t.Before(failed) {
				failed = t
			}
			return
		}
		if t.After(newest) {
			newest = t
		}
	})
	if listErr != nil {
		errs = append(errs, listErr)
	}
	if !failed.IsZero() && failed.Before(newest) {
		newest = failed
	}
	if listErr == nil || !failed.IsZero() {
		if err := r.Store.SetSweepCursor(ctx, name, newest.UTC().Format(time.RFC3339)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("sweep %s: %w", name, errors.Join(errs...))
	}
	return nil
}

// sweepCheckouts fulfils paid checkouts paidup has no payment for. The
// listing is light; a checkout is read in full only when its payment is
// not known.
func (r *Reconciler) sweepCheckouts(ctx context.Context, rep *Report) error {
	return r.sweep(ctx, "checkouts", func(created paidup.Created, done func(time.Time, error)) error {
		return r.Checkout.Processor.ListCheckouts(ctx, created, func(co paidup.Checkout) error {
			rep.Swept++
			if !co.Paid {
				done(co.Created, nil)
				return nil
			}
			done(co.Created, r.repairCheckout(ctx, co, rep))
			return ctx.Err()
		})
	})
}

// repairCheckout fulfils a listed paid checkout, unless its payment is
// known.
func (r *Reconciler) repairCheckout(ctx context.Context, listed paidup.Checkout, rep *Report) error {
	if listed.PaymentID != "" {
		known, err := r.Store.PaymentKnown(ctx, r.Checkout.Processor.Name(), listed.PaymentID)
		if err != nil || known {
			return err
		}
	}
	co, err := r.Checkout.Processor.Checkout(ctx, listed.ID)
	if err != nil {
		return err
	}
	if !co.Paid || !r.Checkout.Ours(co) {
		return nil
	}
	return r.repair(ctx, co, rep)
}

// sweepPayments fulfils succeeded payments carrying paidup's reference that
// paidup has not recorded.
func (r *Reconciler) sweepPayments(ctx context.Context, rep *Report) error {
	return r.sweep(ctx, "payments", func(created paidup.Created, done func(time.Time, error)) error {
		return r.Checkout.Processor.ListPayments(ctx, created, func(p paidup.ProcessorPayment) error {
			rep.Swept++
			done(p.Created, r.repairPayment(ctx, p, rep))
			return ctx.Err()
		})
	})
}

// repairPayment fulfils the checkout of a succeeded payment whose metadata
// carries a reference in paidup's format (anything else there is not
// paidup's; a checkout for a plan's price is found by the checkouts
// sweep), unless paidup knows the payment.
func (r *Reconciler) repairPayment(ctx context.Context, p paidup.ProcessorPayment, rep *Report) error {
	if !p.Succeeded || !paidup.IsReference(p.Reference) {
		return nil
	}
	known, err := r.Store.PaymentKnown(ctx, r.Checkout.Processor.Name(), p.ID)
	if err != nil || known {
		return err
	}
	co, err := r.Checkout.CheckoutForPayment(ctx, p.Reference, p.ID)
	if err != nil {
		return err
	}
	return r.repair(ctx, co, rep)
}

// sweepRefunds records refunds whose webhooks were lost, so that a payment
// refunded in full stops granting access. Each refund listed comes with
// its payment's refunds as the processor has them now: what counts is
// which of them succeeded, not that a refund was made.
func (r *Reconciler) sweepRefunds(ctx context.Context, rep *Report) error {
	return r.sweep(ctx, "refunds", func(created paidup.Created, done func(time.Time, error)) error {
		return r.Checkout.Processor.ListRefunds(ctx, created, func(rf paidup.Refund, all paidup.PaymentRefunds) error {
			rep.Swept++
			changed, err := r.Checkout.ApplyRefunds(ctx, all, paidup.ByReconciler, rf.ID)
			if changed {
				rep.Repaired++
				r.Logger.Info("reconciler: recorded refunds paidup had missed", "payment", all.PaymentID, "refund", rf.ID)
			}
			done(rf.Created, err)
			return ctx.Err()
		})
	})
}

// Defaults for confirming refunds with the processor (see verifyRefunds).
const (
	DefaultRefundWindow  = 30 * 24 * time.Hour
	DefaultRefundRecheck = time.Hour
)

// refundChecksPerRun bounds how many refunded payments one run confirms.
const refundChecksPerRun = 100

// verifyRefunds confirms with the processor the refunds of the payments
// paidup recorded as refunded within the refund window, each at most once
// per recheck interval: a refund that succeeded may fail later, and its
// event may be lost, and a record may simply be wrong. What the processor
// says replaces paidup's record.
func (r *Reconciler) verifyRefunds(ctx context.Context, rep *Report) error {
	processor := r.Checkout.Processor.Name()
	now := r.Store.Now()
	due, err := r.Store.RefundedPayments(ctx, processor, now.Add(-cmp.Or(r.RefundWindow, DefaultRefundWindow)),
		now.Add(-cmp.Or(r.RefundRecheck, DefaultRefundRecheck)), refundChecksPerRun)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range due {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rep.Checked++
		changed, err := r.Checkout.SyncRefunds(ctx, p.ID, paidup.ByReconciler, "")
		switch {
		case errors.Is(err, paidup.ErrNoSuchObject):
			r.Logger.Warn("reconciler: the processor has no payment paidup recorded as refunded", "payment", p.ID)
		case err != nil:
			errs = append(errs, fmt.Errorf("confirming the refunds of %s: %w", p.ID, err))
			continue
		case changed:
			rep.Repaired++
			r.Logger.Info("reconciler: corrected a payment's refunds from the processor's", "payment", p.ID)
		}
		if err := r.Store.MarkRefundsChecked(ctx, processor, p.ID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *Reconciler) repair(ctx context.Context, co paidup.Checkout, rep *Report) error {
	known, err := r.Store.PaymentKnown(ctx, r.Checkout.Processor.Name(), co.PaymentID)
	if err != nil || known {
		return err
	}
	out, err := r.Checkout.FulfilCheckout(ctx, co, paidup.ByReconciler)
	if err != nil {
		return err
	}
	rep.Repaired++
	r.Logger.Info("reconciler: repaired a payment paidup had not recorded", "checkout", co.Reference, "payment", co.PaymentID, "state", out.State)
	return nil
}

// sweepEvents takes in the events the processor has not managed to deliver,
// as if they had arrived by webhook.
func (r *Reconciler) sweepEvents(ctx context.Context, rep *Report) error {
	return r.sweep(ctx, "undelivered_events", func(created paidup.Created, done func(time.Time, error)) error {
		return r.Checkout.Processor.ListUndeliveredEvents(ctx, created, func(ev paidup.ProcessorEvent) error {
			created, err := r.Ingester.Ingest(ctx, store.WebhookEvent{
				Processor: r.Checkout.Processor.Name(), ID: ev.ID, Type: ev.Type, ObjectType: ev.ObjectType,
				ObjectID: ev.ObjectID, Created: ev.Created, Payload: ev.Payload, Via: store.ViaSweep,
			})
			if created {
				rep.EventsRecovered++
			}
			done(ev.Created, err)
			return ctx.Err()
		})
	})
}

// sweepInvoices syncs the subscription of each invoice paidup has not
// acted on: paid with a payment paidup has not recorded, or failing where
// paidup has not seen it fail.
func (r *Reconciler) sweepInvoices(ctx context.Context, rep *Report) error {
	if r.Lifecycle == nil {
		return nil
	}
	processor := r.Checkout.Processor.Name()
	return r.sweep(ctx, "invoices", func(created paidup.Created, done func(time.Time, error)) error {
		return r.Checkout.Processor.ListInvoices(ctx, created, func(in paidup.ProcessorInvoice) error {
			rep.Swept++
			if in.SubscriptionID == "" {
				done(in.Created, nil)
				return nil
			}
			done(in.Created, r.repairInvoice(ctx, processor, in, rep))
			return ctx.Err()
		})
	})
}

func (r *Reconciler) repairInvoice(ctx context.Context, processor string, in paidup.ProcessorInvoice, rep *Report) error {
	switch {
	case in.Status == paidup.InvoicePaid && in.PaymentID != "":
		if known, err := r.Store.PaymentKnown(ctx, processor, in.PaymentID); err != nil || known {
			return err
		}
	case in.Status == paidup.InvoiceOpen && in.AttemptCount > 0 && in.BillingReason != paidup.InvoiceForSubscriptionCreate:
		m, found, err := r.Store.Subscription(ctx, processor, in.SubscriptionID)
		if err != nil || (found && (m.FailingInvoice == in.ID || !m.EndedAt.IsZero() || m.Status == paidup.SubscriptionCanceled)) {
			return err
		}
	default:
		return nil
	}
	if err := r.Lifecycle.SyncSubscription(ctx, in.SubscriptionID, in.ID, paidup.ByReconciler); err != nil {
		return err
	}
	rep.Repaired++
	r.Logger.Info("reconciler: synced a subscription whose invoice paidup had missed", "subscription", in.SubscriptionID, "invoice", in.ID)
	return nil
}

// sweepDisputes acts on chargebacks paidup has not blocked for.
func (r *Reconciler) sweepDisputes(ctx context.Context, rep *Report) error {
	if r.Lifecycle == nil {
		return nil
	}
	processor := r.Checkout.Processor.Name()
	return r.sweep(ctx, "disputes", func(created paidup.Created, done func(time.Time, error)) error {
		return r.Checkout.Processor.ListDisputes(ctx, created, func(d paidup.ProcessorDispute) error {
			rep.Swept++
			known, err := r.Store.BlockExists(ctx, paidup.BlockDispute, processor+":"+d.ID)
			if err == nil && !known {
				closed := d.Status == paidup.DisputeWon || d.Status == paidup.DisputeLost
				err = r.Lifecycle.Disputed(ctx, d.ID, closed, paidup.ByReconciler)
				switch {
				case err == nil:
					rep.Repaired++
				case errors.Is(err, lifecycle.ErrUnknownPayer) && r.Store.Now().Sub(d.Created) > unknownDisputeAge:
					err = nil // long enough for its payment to be known: none of paidup's
				}
			}
			done(d.Created, err)
			return ctx.Err()
		})
	})
}

// unknownDisputeAge is how long a dispute of a payment paidup does not
// know holds the disputes sweep back, waiting for the payment's events.
const unknownDisputeAge = 24 * time.Hour

// checkStaleSubscriptions syncs subscriptions whose paid period ended
// without paidup hearing of a renewal or an end, well after the
// processor's renewal would have been charged.
func (r *Reconciler) checkStaleSubscriptions(ctx context.Context, rep *Report) error {
	if r.Lifecycle == nil {
		return nil
	}
	ids, err := r.Store.StaleSubscriptions(ctx, r.Checkout.Processor.Name(), r.Store.Now().Add(-lifecycle.Leeway), 100)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		rep.Checked++
		if err := r.Lifecycle.SyncSubscription(ctx, id, "", paidup.ByReconciler); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RunArgs is the periodic job that runs the reconciler.
type RunArgs struct{}

// Kind names the job.
func (RunArgs) Kind() string { return "reconcile" }

// InsertOpts keep one run at a time: a run still queued or running makes a
// new one unnecessary.
func (RunArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled,
	}}}
}

// Worker runs the reconciler as a job.
type Worker struct {
	river.WorkerDefaults[RunArgs]
	Reconciler *Reconciler
}

// Timeout allows a long sweep.
func (w *Worker) Timeout(*river.Job[RunArgs]) time.Duration { return 10 * time.Minute }

// Work runs one pass. A pass that fails in part (the database restarting,
// the processor down) is logged at WARN and not retried: the next pass, an
// interval later, does again what this one could not — due checks stay
// due, and a sweep's cursor stays before what failed. Returning the error
// would only leave a discarded job behind for every failed pass.
func (w *Worker) Work(ctx context.Context, job *river.Job[RunArgs]) error {
	rep, err := w.Reconciler.Run(ctx)
	args := []any{"checked", rep.Checked, "fulfilled", rep.Fulfilled, "repaired", rep.Repaired,
		"expired", rep.Expired, "gave_up", rep.GaveUp, "events_recovered", rep.EventsRecovered}
	switch {
	case err != nil && ctx.Err() == nil:
		w.Reconciler.Logger.Warn("reconciler pass failed; the next pass tries again", append(args, "err", err)...)
	case rep.Fulfilled+rep.Repaired+rep.Expired+rep.GaveUp+rep.EventsRecovered > 0:
		w.Reconciler.Logger.Info("reconciler pass", args...)
	}
	return ctx.Err()
}
