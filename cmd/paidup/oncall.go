package main

import (
	"net/http"

	"github.com/riverqueue/river"

	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/events"
	"github.com/paidup/paidup/internal/lifecycle"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/oncall"
)

// onCall adds on call's jobs and, with a rotation configured, returns the
// periodic evaluation of the alert rules for the leader to run and the
// handler of acknowledgement links, and keeps both for the console. Without a rotation, alerts are the
// support cases' emails to oncall.emails, as before.
func (a *app) onCall(workers *river.Workers, outbox *notify.Outbox) ([]*river.PeriodicJob, http.Handler) {
	o := a.cfg.OnCall
	var channels []oncall.Channel
	for _, c := range o.Chat {
		channels = append(channels, oncall.Channel{Kind: c.Kind, URL: c.URL.Reveal()})
	}
	overrides := make([]oncall.Override, len(o.Overrides))
	for i, ov := range o.Overrides {
		overrides[i] = oncall.Override{Start: ov.Start, End: ov.End, Who: ov.Who}
	}
	log := a.log.With("component", "oncall")
	eval := &oncall.Evaluator{
		Store: a.store, Outbox: outbox, PublicURL: a.publicURL, Chat: channels, Logger: log,
		Rotation: oncall.Rotation{People: o.Rotation, HandoffDay: o.HandoffDay, HandoffTime: o.HandoffTime, Location: o.Location, Overrides: overrides},
		Rules: oncall.Rules{UnfulfilledAfter: o.UnfulfilledAfter.D(), ProcessorJobs: []string{
			events.ProcessArgs{}.Kind(), checkout.SubscriptionArgs{}.Kind(), lifecycle.CancelArgs{}.Kind(), checkout.RefundArgs{}.Kind(),
		}},
		EscalateAfter: o.EscalateAfter.D(), RepeatEvery: o.RepeatEvery.D(), DigestTime: o.DigestTime,
	}
	// Registered whatever the configuration, so that the jobs of a
	// rotation since removed are worked, not left failing.
	river.AddWorker(workers, &oncall.EvaluateWorker{Evaluator: eval})
	river.AddWorker(workers, &oncall.ChatWorker{Channels: channels, Logger: log})
	if len(o.Rotation) == 0 {
		return nil, nil
	}
	// The case alerts follow the rotation and its rules instead of
	// mailing everyone in oncall.emails.
	outbox.OnCall = nil
	ack := &oncall.Acknowledger{Store: a.store, Evaluator: eval, Logger: log}
	a.paging, a.alerts = eval, ack
	return []*river.PeriodicJob{river.NewPeriodicJob(
		river.PeriodicInterval(o.EvaluateEvery.D()),
		func() (river.JobArgs, *river.InsertOpts) { return oncall.EvaluateArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true},
	)}, ack.Handler()
}
