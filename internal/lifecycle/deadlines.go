package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/failpoint"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/store"
)

// JobHorizon is how soon before its due time a deadline gets the job
// that fires it. Until then the deadline's row (indexed by due time) is
// its only record, and a sweep gives it its job: a million subscriptions'
// deadlines over a month would otherwise be a million scheduled jobs,
// which River's scheduler reads in full every 5 s (160 ms on SQLite with
// a million, holding the only writer). It is many sweep intervals, so
// that a sweep or two missed still leaves each deadline its job in time.
const JobHorizon = 10 * time.Minute

// jobOverlap is how far back a sweep looks again for deadlines to give
// jobs: past the transactions that were adding deadlines, not yet
// committed, when the previous sweep looked.
const jobOverlap = time.Minute

// schedule records a deadline, once per key, with a job that fires it at
// its due time if it is due within JobHorizon (the sweep gives the others
// theirs). The due time is business time; River schedules by the wall
// clock, so the job is set for the wall-clock moment the business clock
// reaches it as things stand (a sandbox clock moved forward makes it
// late, and the sweep fires it instead).
func (s *Service) schedule(ctx context.Context, tx *store.Tx, d store.Deadline) error {
	d, created, err := tx.AddDeadline(ctx, d)
	if err != nil || !created || d.Due.Sub(tx.Now()) > JobHorizon {
		return err
	}
	return tx.Enqueue(ctx, DeadlineArgs{ID: d.ID}, &river.InsertOpts{ScheduledAt: s.jobTime(tx.Now(), d.Due)})
}

// jobTime is the wall-clock time a job fires a deadline due at due,
// business time, when the business clock reads now.
func (s *Service) jobTime(now, due time.Time) time.Time {
	return s.realNow().Add(due.Sub(now))
}

func (s *Service) realNow() time.Time {
	if s.RealNow != nil {
		return s.RealNow()
	}
	return time.Now()
}

// Fire acts on a deadline, once: the deadline is removed in the
// transaction of its effect, so a second firing (its job and the sweep,
// two instances) finds nothing to do.
func (s *Service) Fire(ctx context.Context, id string) error {
	err := s.Store.InTx(ctx, func(tx *store.Tx) error {
		d, found, err := tx.TakeDeadline(ctx, id)
		if err != nil || !found {
			return err
		}
		if wait := d.Due.Sub(tx.Now()); wait > 0 {
			return notDue{wait} // rolls the taking back
		}
		if err := s.fire(ctx, tx, d); err != nil {
			return fmt.Errorf("firing %s deadline %s: %w", d.Kind, d.Key, err)
		}
		failpoint.Inject("deadline.before_commit")
		return nil
	})
	if err != nil {
		return err
	}
	failpoint.Inject("deadline.after_commit")
	return nil
}

func (s *Service) fire(ctx context.Context, tx *store.Tx, d store.Deadline) error {
	processor, subID, _ := strings.Cut(d.Subject, ":")
	m, found, err := tx.SubscriptionForUpdate(ctx, processor, subID)
	if err != nil || !found {
		return err
	}
	plan, _ := s.Policy.Plan(m.PlanID)
	blocks, err := tx.ActiveBlocks(ctx, m.CustomerID)
	if err != nil {
		return err
	}
	entry := func(summary string, data map[string]string) error {
		data["subscription"] = subID
		data["deadline"] = d.Key
		return tx.Append(ctx, paidup.TimelineEntry{CustomerID: m.CustomerID, Kind: paidup.EventSubscription, Source: paidup.BySystem,
			Summary: summary, Data: data})
	}
	customer, err := tx.Customer(ctx, m.CustomerID)
	if err != nil {
		return err
	}
	processorCustomer := m.ProcessorCustomerID
	graceEnd := m.FailingSince.Add(s.Policy.GraceFor(plan))
	invoice := d.Data["invoice"]
	reference, err := s.invoiceReference(ctx, tx, m, d)
	if err != nil {
		return err
	}

	switch d.Kind {
	case DeadlineReminder:
		if m.FailingInvoice != invoice || len(blocks) > 0 || !d.Due.Before(graceEnd) {
			// Paid, cancelled or blocked since, or past the grace (whose
			// end has its own email): nothing to remind of.
			return nil
		}
		i, _ := strconv.Atoi(d.Data["reminder"])
		reminders := s.Policy.Lifecycle.Reminders
		if i >= len(reminders) {
			return nil // the policy has fewer reminders now
		}
		kind := notify.KindPaymentReminder
		switch {
		case i == 0:
			kind = notify.KindPaymentFailed
		case i == len(reminders)-1:
			kind = notify.KindPaymentFinalReminder
		}
		amount, _ := strconv.ParseInt(d.Data["amount"], 10, 64)
		if err := s.Notify.QueueLifecycle(ctx, tx, notify.LifecycleEmail{Kind: kind, Template: reminders[i].Template, Key: d.Key,
			CustomerID: m.CustomerID, To: customer.Email, PlanID: plan.ID, Tier: plan.Tier,
			Amount: paidup.Money{Amount: amount, Currency: d.Data["currency"]}, GraceEnds: graceEnd,
			Processor: processor, ProcessorCustomerID: processorCustomer, Reference: reference}); err != nil {
			return err
		}
		return entry(fmt.Sprintf("Reminder %d of %d (%s) about the unpaid renewal", i+1, len(reminders), reminders[i].Template),
			map[string]string{"invoice": invoice})
	case DeadlineGraceEnd:
		if m.FailingInvoice != invoice {
			return nil
		}
		grants, err := tx.Grants(ctx, m.CustomerID)
		if err != nil {
			return err
		}
		after := s.Policy.AccessAt(grants, blocks, d.Due)
		keeps := ""
		if after.Active {
			keeps = after.Tier
		}
		summary := fmt.Sprintf("Grace ended with the renewal unpaid: %s ended; ", s.Policy.TierName(plan.Tier))
		switch {
		case after.Blocked:
			summary += "the customer is blocked"
		case after.Active:
			summary += "access falls back to " + s.Policy.TierName(after.Tier)
		default:
			summary += "no access left"
		}
		if err := entry(summary, map[string]string{"invoice": invoice}); err != nil {
			return err
		}
		if after.Blocked {
			return nil
		}
		return s.Notify.QueueLifecycle(ctx, tx, notify.LifecycleEmail{Kind: notify.KindGraceEnded, Key: d.Key, CustomerID: m.CustomerID, To: customer.Email,
			PlanID: plan.ID, Tier: plan.Tier, GraceEnds: graceEnd, Keeps: keeps, KeepsUntil: after.Until,
			Processor: processor, ProcessorCustomerID: processorCustomer, Reference: reference})
	case DeadlinePeriodEnd:
		grants, err := tx.Grants(ctx, m.CustomerID)
		if err != nil {
			return err
		}
		after := s.Policy.AccessAt(grants, blocks, d.Due)
		summary := "The cancelled subscription's paid period ended; "
		switch {
		case after.Blocked:
			summary += "the customer is blocked"
		case after.Active:
			summary += "access is now " + s.Policy.TierName(after.Tier)
		default:
			summary += "no access left"
		}
		return entry(summary, map[string]string{})
	}
	return fmt.Errorf("unknown deadline kind %q", d.Kind)
}

// invoiceReference is paidup's reference for the invoice a deadline is
// about, for the customer to quote: the one recorded when the renewal
// failed, or, for a deadline recorded before paidup gave invoices
// references, one given now. None for a deadline about no invoice.
func (s *Service) invoiceReference(ctx context.Context, tx *store.Tx, m paidup.Subscription, d store.Deadline) (string, error) {
	invoice := d.Data["invoice"]
	if ref := d.Data["reference"]; ref != "" || invoice == "" {
		return ref, nil
	}
	if rec, found, err := tx.InvoiceForUpdate(ctx, m.Processor, invoice); err != nil || found {
		return rec.Reference, err
	}
	if m.FailingInvoice != invoice {
		return "", nil // settled since: the deadline does nothing
	}
	amount, _ := strconv.ParseInt(d.Data["amount"], 10, 64)
	in, err := tx.PutInvoice(ctx, paidup.Invoice{Processor: m.Processor, ID: invoice, CustomerID: m.CustomerID, SubscriptionID: m.ID,
		PlanID: m.PlanID, Amount: paidup.Money{Amount: amount, Currency: d.Data["currency"]}, Status: paidup.InvoiceFailed, CreatedAt: m.FailingSince})
	if err != nil {
		return "", err
	}
	return in.Reference, nil
}

// notDue is a deadline fired before the business clock reached it.
type notDue struct{ wait time.Duration }

func (e notDue) Error() string { return fmt.Sprintf("deadline not due for %s", e.wait) }

// Sweep fires every deadline due by now whose job has not: after a crash
// that lost a job's run, or a business clock moved forward (a sandbox test
// clock). It returns how many it fired.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	const batch = 500
	fired := 0
	var errs []error
	if err := s.queueComing(ctx); err != nil {
		errs = append(errs, err)
	}
	for {
		ids, err := s.Store.DueDeadlines(ctx, s.Store.Now(), batch)
		if err != nil {
			return fired, err
		}
		for _, id := range ids {
			if err := s.Fire(ctx, id); err != nil {
				if _, ok := errors.AsType[notDue](err); ok {
					continue // the clock went back since the listing
				}
				errs = append(errs, err)
				continue
			}
			fired++
		}
		if len(ids) < batch || len(errs) > 0 {
			return fired, errors.Join(errs...)
		}
	}
}

// queueComing gives the deadlines coming due within JobHorizon their
// jobs, those it has not already given (a job exists once per deadline:
// DeadlineArgs is unique).
func (s *Service) queueComing(ctx context.Context) error {
	const batch = 1000
	now := s.Store.Now()
	s.queue.Lock()
	defer s.queue.Unlock()
	from := now
	if s.queue.until.After(now) {
		from = s.queue.until.Add(-jobOverlap)
	}
	to := now.Add(JobHorizon)
	for {
		ds, err := s.Store.DeadlinesComing(ctx, from, to, batch)
		if err != nil {
			return err
		}
		if len(ds) > 0 {
			err = s.Store.InTx(ctx, func(tx *store.Tx) error {
				jobs := make([]river.InsertManyParams, len(ds))
				for i, d := range ds {
					jobs[i] = river.InsertManyParams{Args: DeadlineArgs{ID: d.ID}, InsertOpts: &river.InsertOpts{ScheduledAt: s.jobTime(tx.Now(), d.Due)}}
				}
				return tx.EnqueueMany(ctx, jobs)
			})
			if err != nil {
				return fmt.Errorf("queueing coming deadlines: %w", err)
			}
		}
		if len(ds) < batch {
			s.queue.until = to
			return nil
		}
		// Deadlines due at the same instant as the last may straddle
		// batches; queueing one twice is harmless. (Of more than a batch
		// due at one instant, the sweep fires those left without a job.)
		next := ds[len(ds)-1].Due.Add(-time.Microsecond)
		if !next.After(from) {
			next = ds[len(ds)-1].Due
		}
		from = next
	}
}

// DeadlineArgs is the job that fires a deadline at its due time.
type DeadlineArgs struct {
	ID string `json:"id"`
}

// Kind names the job.
func (DeadlineArgs) Kind() string { return "deadline" }

// InsertOpts: a failure is retried; the sweep also fires what is overdue.
// A deadline has one job, whether schedule or a sweep gives it.
func (DeadlineArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// DeadlineWorker fires deadlines.
type DeadlineWorker struct {
	river.WorkerDefaults[DeadlineArgs]
	Service *Service
}

// Work fires the job's deadline. A job that runs before the business
// clock reaches the due time (a clock behind the wall clock) snoozes.
func (w *DeadlineWorker) Work(ctx context.Context, job *river.Job[DeadlineArgs]) error {
	err := w.Service.Fire(ctx, job.Args.ID)
	if nd, ok := errors.AsType[notDue](err); ok {
		return river.JobSnooze(nd.wait)
	}
	return err
}

// SweepArgs is the periodic job that fires overdue deadlines.
type SweepArgs struct{}

// Kind names the job.
func (SweepArgs) Kind() string { return "deadline_sweep" }

// InsertOpts: a failed sweep is not retried; the next one comes soon.
func (SweepArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 1} }

// SweepWorker runs sweeps.
type SweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	Service *Service
}

// Work sweeps. A sweep that fails (the database is unreachable) is logged
// at WARN and completes its job: the next sweep, 30 s later, fires
// what this one could not; returning the error would only leave a
// discarded job behind for every failed sweep.
func (w *SweepWorker) Work(ctx context.Context, job *river.Job[SweepArgs]) error {
	n, err := w.Service.Sweep(ctx)
	if w.Service.Logger != nil {
		switch {
		case err != nil && ctx.Err() == nil:
			w.Service.Logger.Warn("deadline sweep failed; the next sweep tries again", "fired", n, "err", err)
		case n > 0:
			w.Service.Logger.Info("fired overdue deadlines", "count", n)
		}
	}
	return ctx.Err()
}

// SyncWorker brings subscriptions up to date (checkout.SubscriptionArgs).
type SyncWorker struct {
	river.WorkerDefaults[checkout.SubscriptionArgs]
	Service *Service
}

// Work syncs the job's subscription.
func (w *SyncWorker) Work(ctx context.Context, job *river.Job[checkout.SubscriptionArgs]) error {
	return w.Service.SyncSubscription(ctx, job.Args.SubscriptionID, job.Args.InvoiceID, paidup.BySystem)
}

// CancelWorker cancels subscriptions at the processor (CancelArgs), then
// syncs them.
type CancelWorker struct {
	river.WorkerDefaults[CancelArgs]
	Service *Service
}

// Work cancels the job's subscription. Cancelling one that has ended
// already is a success.
func (w *CancelWorker) Work(ctx context.Context, job *river.Job[CancelArgs]) error {
	sub, err := w.Service.Processor.Subscription(ctx, job.Args.SubscriptionID)
	if err != nil {
		return err
	}
	if !ended(sub) {
		if _, err := w.Service.Processor.CancelSubscription(ctx, job.Args.SubscriptionID); err != nil {
			return fmt.Errorf("cancelling subscription %s (%s): %w", job.Args.SubscriptionID, job.Args.Reason, err)
		}
	}
	return w.Service.SyncSubscription(ctx, job.Args.SubscriptionID, "", paidup.BySystem)
}
