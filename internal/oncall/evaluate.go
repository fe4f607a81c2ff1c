package oncall

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/store"
)

// Notification events.
const (
	EventFiring       = "firing"
	EventEscalated    = "escalated"
	EventRepeat       = "repeat"
	EventResolved     = "resolved"
	EventAcknowledged = "acknowledged"
)

// Evaluator evaluates the alert rules on paidup's state and pages whoever
// is on call. Evaluators on several instances take turns (see
// store.Tx.LockOnCall), so each notification is sent once.
type Evaluator struct {
	Store    *store.Store
	Outbox   *notify.Outbox
	Rotation Rotation
	Rules    Rules
	// EscalateAfter is how long a critical alert waits to be acknowledged
	// before the other person is paged too; RepeatEvery how often it
	// pages again until acknowledged.
	EscalateAfter, RepeatEvery time.Duration
	// DigestTime is when, after midnight in the rotation's time zone, the
	// digest of warnings is sent.
	DigestTime time.Duration
	// Chat are the chat channels every page is posted to.
	Chat []Channel
	// PublicURL is where acknowledgement links point.
	PublicURL string
	// Wall is River's clock, by which it stamps its jobs; nil: time.Now.
	Wall   func() time.Time
	Logger *slog.Logger
}

// Evaluate runs the rules once: raises, updates and resolves alerts, sends
// the pages due and, once a day, the digest.
func (e *Evaluator) Evaluate(ctx context.Context) error {
	wall := time.Now
	if e.Wall != nil {
		wall = e.Wall
	}
	return e.Store.InTx(ctx, func(tx *store.Tx) error {
		st, err := tx.LockOnCall(ctx)
		if err != nil {
			return err
		}
		now := tx.Now()
		findings, err := e.Rules.find(ctx, tx, now, wall())
		if err != nil {
			return err
		}
		open, err := tx.OpenAlerts(ctx)
		if err != nil {
			return err
		}
		byKey := map[string]paidup.Alert{}
		for _, a := range open {
			byKey[a.Key] = a
		}
		for _, f := range findings {
			a, ok := byKey[f.Key]
			delete(byKey, f.Key)
			if err := e.observe(ctx, tx, st, a, ok, f); err != nil {
				return err
			}
		}
		for _, a := range open {
			if _, cleared := byKey[a.Key]; cleared {
				if err := e.resolve(ctx, tx, st, a); err != nil {
					return err
				}
			}
		}
		return e.digest(ctx, tx, st)
	})
}

// observe records a finding on its open alert, or raises one, and pages
// if a page is due.
func (e *Evaluator) observe(ctx context.Context, tx *store.Tx, st store.OnCallState, a paidup.Alert, open bool, f Finding) error {
	now := tx.Now()
	if !open {
		a = paidup.Alert{Key: f.Key, Rule: f.Rule, Severity: f.Severity, Summary: f.Summary, Detail: strings.Join(f.Detail, "\n"), Instances: f.Instances}
		if f.Severity == Critical {
			a.NextNotifyAt = now
		}
		var err error
		if a, err = tx.InsertAlert(ctx, a); err != nil {
			return err
		}
	}
	// A new instance of the problem updates the alert; it does not page.
	a.Summary, a.Detail, a.Instances, a.LastSeen = f.Summary, strings.Join(f.Detail, "\n"), f.Instances, now
	if a.State == paidup.AlertFiring && a.Severity == Critical && !a.NextNotifyAt.IsZero() && !now.Before(a.NextNotifyAt) {
		if err := e.page(ctx, tx, st, &a); err != nil {
			return err
		}
	}
	return tx.UpdateAlert(ctx, a)
}

// page sends the page due: the first to whoever is on call, then, past
// EscalateAfter, to the other person too, then again every RepeatEvery.
func (e *Evaluator) page(ctx context.Context, tx *store.Tx, st store.OnCallState, a *paidup.Alert) error {
	now := tx.Now()
	shift, err := e.shift(ctx, tx, now)
	if err != nil {
		return err
	}
	escalateAt := a.FirstSeen.Add(e.EscalateAfter)
	event := EventRepeat
	switch {
	case a.Notifications == 0:
		event = EventFiring
	case a.Escalation == 0 && shift.Other != "" && !now.Before(escalateAt):
		event, a.Escalation = EventEscalated, 1
	}
	next := now.Add(e.RepeatEvery)
	if a.Escalation == 0 && shift.Other != "" && escalateAt.After(now) && escalateAt.Before(next) {
		next = escalateAt
	}
	a.NextNotifyAt = next
	return e.send(ctx, tx, st, a, event, shift, e.recipients(shift, a.Escalation))
}

// resolve marks an alert whose condition cleared resolved, and says so to
// whoever was paged about it.
func (e *Evaluator) resolve(ctx context.Context, tx *store.Tx, st store.OnCallState, a paidup.Alert) error {
	a.State, a.ResolvedAt, a.NextNotifyAt = paidup.AlertResolved, tx.Now(), time.Time{}
	if a.Notifications > 0 {
		shift, err := e.shift(ctx, tx, tx.Now())
		if err != nil {
			return err
		}
		if err := e.send(ctx, tx, st, &a, EventResolved, shift, e.recipients(shift, a.Escalation)); err != nil {
			return err
		}
	}
	return tx.UpdateAlert(ctx, a)
}

// shift is who is paged at t: the rotation's turn, unless an override
// says otherwise — those set in the console first, the latest set first,
// then the config's.
func (e *Evaluator) shift(ctx context.Context, tx *store.Tx, t time.Time) (Shift, error) {
	set, err := tx.OnCallOverrides(ctx, t)
	if err != nil {
		return Shift{}, err
	}
	return e.withOverrides(set).At(t), nil
}

// RotationAt is the rotation with the overrides set in the console that end
// after t, as pages follow it.
func (e *Evaluator) RotationAt(ctx context.Context, t time.Time) (Rotation, error) {
	set, err := e.Store.OnCallOverrides(ctx, t)
	return e.withOverrides(set), err
}

func (e *Evaluator) withOverrides(set []store.OnCallOverride) Rotation {
	r := e.Rotation
	r.Overrides = make([]Override, 0, len(set)+len(e.Rotation.Overrides))
	for _, o := range set {
		r.Overrides = append(r.Overrides, Override{Start: o.Start, End: o.End, Who: o.Who})
	}
	r.Overrides = append(r.Overrides, e.Rotation.Overrides...)
	return r
}

// recipients are who an alert escalated to level pages.
func (e *Evaluator) recipients(s Shift, level int) []string {
	to := []string{s.OnCall}
	if level > 0 && s.Other != "" && s.Other != s.OnCall {
		to = append(to, s.Other)
	}
	return to
}

// send records the alert's next notification and, if it is new, queues
// its emails and chat posts in the transaction; shift is who is on call.
func (e *Evaluator) send(ctx context.Context, tx *store.Tx, st store.OnCallState, a *paidup.Alert, event string, shift Shift, to []string) error {
	a.Notifications++
	n := paidup.AlertNotification{AlertID: a.ID, Seq: a.Notifications, Event: event, Recipients: to, Summary: a.Summary}
	created, err := tx.AddAlertNotification(ctx, n)
	if err != nil || !created {
		return err
	}
	for _, addr := range to {
		data := map[string]string{"event": event, "severity": a.Severity, "rule": a.Rule, "alert": a.ID, "summary": a.Summary,
			"detail": a.Detail, "first_seen": a.FirstSeen.In(e.location()).Format(time.RFC3339), "on_call": shift.OnCall,
			"advice": Advice[a.Rule]}
		if event != EventResolved {
			data["ack_url"] = e.ackURL(st, a.ID, addr, tx.Now())
		}
		key := "oncall:" + a.ID + ":" + strconv.Itoa(n.Seq) + ":" + addr
		if err := e.Outbox.QueueOnCall(ctx, tx, notify.KindOnCallAlert, key, addr, data); err != nil {
			return err
		}
	}
	text := chatText(*a, event, to, e.ackURL(st, a.ID, shift.OnCall, tx.Now()))
	if err := e.post(ctx, tx, a.ID, n.Seq, text); err != nil {
		return err
	}
	if e.Logger != nil {
		e.Logger.Info("on call notified", "alert", a.ID, "key", a.Key, "event", event, "to", strings.Join(to, ","), "summary", a.Summary)
	}
	return nil
}

func (e *Evaluator) location() *time.Location {
	if e.Rotation.Location == nil {
		return time.UTC
	}
	return e.Rotation.Location
}

func (e *Evaluator) ackURL(st store.OnCallState, alertID, who string, now time.Time) string {
	return e.PublicURL + "/oncall/ack/" + signAck(st.AckKey, alertID, who, now.Add(AckLinkTTL))
}

// digest sends, once a day at DigestTime, the warnings seen since the last
// digest to every operator in the rotation.
func (e *Evaluator) digest(ctx context.Context, tx *store.Tx, st store.OnCallState) error {
	now := tx.Now()
	local := now.In(e.location())
	y, m, d := local.Date()
	due := time.Date(y, m, d, int(e.DigestTime/time.Hour), int(e.DigestTime%time.Hour/time.Minute), 0, 0, e.location())
	if now.Before(due) || st.DigestThrough.After(due) || st.DigestThrough.Equal(due) {
		return nil
	}
	warnings, err := tx.Alerts(ctx, Warning, st.DigestThrough)
	if err != nil {
		return err
	}
	if err := tx.SetDigestThrough(ctx, now); err != nil {
		return err
	}
	if len(warnings) == 0 {
		return nil
	}
	var items []string
	for _, a := range warnings {
		line := a.Summary
		if a.State == paidup.AlertResolved {
			line += " (resolved " + a.ResolvedAt.In(e.location()).Format("Jan 2 15:04") + ")"
		}
		if a.Detail != "" {
			line += ": " + strings.ReplaceAll(a.Detail, "\n", "; ")
		}
		items = append(items, line+" — "+Advice[a.Rule])
	}
	day := local.Format(time.DateOnly)
	for _, addr := range e.Rotation.People {
		if err := e.Outbox.QueueOnCall(ctx, tx, notify.KindOnCallDigest, "oncall_digest:"+day+":"+addr, addr,
			map[string]string{"event": "digest", "items": strings.Join(items, "\n")}); err != nil {
			return err
		}
	}
	return nil
}

// EvaluateArgs is the periodic job that evaluates the alert rules.
type EvaluateArgs struct{}

// Kind names the job.
func (EvaluateArgs) Kind() string { return "oncall_evaluate" }

// InsertOpts keep one evaluation at a time.
func (EvaluateArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled,
	}}}
}

// EvaluateWorker runs the evaluator as a job.
type EvaluateWorker struct {
	river.WorkerDefaults[EvaluateArgs]
	Evaluator *Evaluator
}

// Work evaluates once. A failed evaluation is logged, not retried: the
// next one, an interval later, does it again.
func (w *EvaluateWorker) Work(ctx context.Context, job *river.Job[EvaluateArgs]) error {
	if err := w.Evaluator.Evaluate(ctx); err != nil && ctx.Err() == nil {
		w.Evaluator.Logger.Warn("evaluating the alert rules failed; the next evaluation tries again", "err", err)
	}
	return ctx.Err()
}

// chatText is an alert's notification as a chat message.
func chatText(a paidup.Alert, event string, to []string, ack string) string {
	var b strings.Builder
	switch event {
	case EventResolved:
		fmt.Fprintf(&b, "✅ Resolved: %s", a.Summary)
		return b.String()
	case EventAcknowledged:
		fmt.Fprintf(&b, "👀 Acknowledged by %s: %s", strings.Join(to, ", "), a.Summary)
		return b.String()
	case EventEscalated:
		fmt.Fprintf(&b, "🚨 Escalated (not acknowledged), paging %s: %s", strings.Join(to, " and "), a.Summary)
	case EventRepeat:
		fmt.Fprintf(&b, "🚨 Still firing, paging %s: %s", strings.Join(to, " and "), a.Summary)
	default:
		fmt.Fprintf(&b, "🚨 Critical, paging %s: %s", strings.Join(to, " and "), a.Summary)
	}
	if a.Detail != "" {
		for _, l := range strings.Split(a.Detail, "\n")[:min(5, strings.Count(a.Detail, "\n")+1)] {
			b.WriteString("\n• " + l)
		}
	}
	if adv := Advice[a.Rule]; adv != "" {
		b.WriteString("\nFirst: " + adv)
	}
	b.WriteString("\nAcknowledge: " + ack)
	return b.String()
}
