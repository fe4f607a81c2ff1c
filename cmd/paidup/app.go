package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/config"
	"github.com/paidup/paidup/internal/events"
	"github.com/paidup/paidup/internal/help"
	"github.com/paidup/paidup/internal/inbound"
	"github.com/paidup/paidup/internal/lifecycle"
	"github.com/paidup/paidup/internal/limit"
	"github.com/paidup/paidup/internal/mailbox"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/obs"
	"github.com/paidup/paidup/internal/oncall"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/reconcile"
	"github.com/paidup/paidup/internal/replies"
	"github.com/paidup/paidup/internal/sandbox"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/store"
	"github.com/paidup/paidup/internal/stripe"
	"github.com/paidup/paidup/internal/support"
	"github.com/paidup/paidup/internal/web"
)

// app is paidup assembled from its configuration: storage, processor, mail,
// job queue and web server.
type app struct {
	cfg        *config.Config
	log        *slog.Logger
	db         *sqldb.DB
	store      *store.Store
	jobs       *queue.Client
	ingester   *events.Ingester
	signIns    *notify.SignInRequests
	mailer     *notify.SMTP
	handler    http.Handler
	publicURL  string
	sandboxURL string
	mailboxURL string
	// inboundURL is where paidup's own SMTP listener takes the
	// customers' answers; empty without one.
	inboundURL string
	// templates are the email templates, for the sandbox's previews.
	templates *notify.Templates
	// paging is who on call pages, and alerts acknowledges them; nil
	// without a rotation.
	paging *oncall.Evaluator
	alerts *oncall.Acknowledger

	ctx    context.Context
	cancel context.CancelFunc
	bg     sync.WaitGroup
	// shutdowns stop servers, whose goroutines bg waits for; closers then
	// release what they used.
	shutdowns []func()
	closers   []func()
}

// newApp assembles paidup. publicURL is how customers reach it; ln is the
// listener it will serve on (its address names the instance).
func newApp(ctx context.Context, cfg *config.Config, log *slog.Logger, ln net.Listener, publicURL string) (a *app, err error) {
	// A broken email template is refused before anything is written.
	templates, err := emailTemplates(cfg, publicURL)
	if err != nil {
		return nil, err
	}
	a = &app{cfg: cfg, log: log, publicURL: publicURL, templates: templates}
	// The background work outlives the signal that stops paidup: the
	// ingester stores the webhooks of requests still being served, and
	// the jobs running finish (see stop) before it is cancelled. Were it
	// cancelled with ctx, a confirmation being sent would be sent and not
	// recorded, and sent again after the restart.
	a.ctx, a.cancel = context.WithCancel(context.WithoutCancel(ctx))
	// A failure returns no app: close what was opened of this one.
	opened := a
	defer func() {
		if err != nil {
			opened.close()
		}
	}()
	id := instanceID(ln)
	// On PostgreSQL its connections bear its name, which tells the other
	// instances it is alive (see queue.RescueOrphans).
	if a.db, err = openDatabase(ctx, sqldb.WithApplicationName(cfg.Database.URL.Reveal(), id)); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() { a.db.Close() })
	// The business clock: the wall clock, or the processor's test clock.
	now := time.Now
	metrics := obs.NewMetrics()
	budget := processorBudget(cfg, metrics)

	var processor paidup.Processor
	var verifier stripe.Verifier
	var pageOrigins []string
	smtpURL := cfg.SMTP.URL.Reveal()
	switch cfg.Processor.Kind {
	case config.KindSandbox:
		sb, err := a.startSandbox(cfg, publicURL+"/webhooks/stripe", smtpURL == "")
		if err != nil {
			return nil, err
		}
		client := stripe.New(stripe.Config{SecretKey: sandboxKey, URL: a.sandboxURL, Timeout: 8 * time.Second})
		processor, pageOrigins = limit.NewProcessor(client, budget), client.PageOrigins()
		verifier = stripe.Verifier{Secrets: []string{sb.secret}}
		// paidup's timers follow the sandbox's clock, which its test
		// clock (clock_sandbox) moves forward.
		now = sb.now
		if smtpURL == "" {
			smtpURL = sb.smtpURL
		}
	case config.KindStripe:
		key := cfg.Processor.Stripe.SecretKey.Reveal()
		client := stripe.New(stripe.Config{SecretKey: key, URL: cfg.Processor.Stripe.APIURL, Timeout: 8 * time.Second})
		budgeted := limit.NewProcessor(client, budget)
		processor, pageOrigins = budgeted, client.PageOrigins()
		verifier.Livemode = config.StripeLive(key)
		for _, s := range cfg.Processor.Stripe.WebhookSecrets {
			verifier.Secrets = append(verifier.Secrets, s.Reveal())
		}
		if id := cfg.Processor.Stripe.TestClock; id != "" {
			clock := &followedClock{read: func(ctx context.Context) (time.Time, error) {
				if err := budgeted.Read(ctx); err != nil {
					return time.Time{}, err
				}
				return client.TestClockTime(ctx, id)
			}}
			if err := clock.sync(ctx); err != nil {
				return nil, fmt.Errorf("processor.stripe.test_clock: %w", err)
			}
			a.bg.Add(1)
			go func() { defer a.bg.Done(); clock.run(a.ctx, time.Second, log) }()
			now = clock.Now
		}
	}
	if a.store, err = store.New(a.db, now); err != nil {
		return nil, err
	}
	if cfg.Processor.Kind == config.KindSandbox {
		// The console moves the clock a month at a click; a newcomer
		// stays signed in through it.
		a.store.SessionsOnWallClock()
	}
	mailer, err := notify.NewSMTP(smtpURL)
	if err != nil {
		return nil, err
	}
	if h, err := hostOf(publicURL); err == nil {
		mailer.Helo = h
	}
	a.mailer = mailer
	// Idle mail connections end with QUIT, after the jobs that used them.
	a.closers = append(a.closers, func() { mailer.Close() })

	outbox := &notify.Outbox{OnCall: cfg.OnCall.Emails, Templates: templates,
		SignInLimit: cfg.Accounts.SignInLinks, SignInWindow: cfg.Accounts.SignInLinksWindow.D()}
	a.signIns = notify.NewSignInRequests(a.store, outbox, log.With("component", "sign_in"), signInQueue)
	schedule := durations(cfg.Reconciler.Recheck)
	co := &checkout.Service{
		Store: a.store, Processor: processor, Policy: &cfg.Policy, Notify: outbox, Logger: log,
		PublicURL: publicURL, FirstCheck: schedule[0], StatementSuffix: cfg.Processor.StatementSuffix(),
	}
	life := &lifecycle.Service{Store: a.store, Processor: processor, Policy: &cfg.Policy, Notify: outbox,
		Logger: log.With("component", "lifecycle")}
	a.ingester = events.NewIngester(a.store, log)
	rec := &reconcile.Reconciler{
		Store: a.store, Checkout: co, Ingester: a.ingester, Lifecycle: life, Notify: outbox, Logger: log.With("component", "reconciler"),
		Schedule: schedule, Overlap: cfg.Reconciler.Overlap.D(), Lookback: cfg.Reconciler.Lookback.D(),
		Settle: schedule[0],
	}

	workers := river.NewWorkers()
	river.AddWorker(workers, &events.ProcessWorker{Store: a.store, Checkout: co, Lifecycle: life, Logger: log, Metrics: metrics})
	river.AddWorker(workers, &lifecycle.SyncWorker{Service: life})
	river.AddWorker(workers, &lifecycle.CancelWorker{Service: life})
	river.AddWorker(workers, &checkout.RefundWorker{Service: co})
	river.AddWorker(workers, &lifecycle.DeadlineWorker{Service: life})
	river.AddWorker(workers, &lifecycle.SweepWorker{Service: life})
	sender := newSender(cfg, publicURL, templates)
	sender.Store, sender.Mailer, sender.Outbox, sender.Logger, sender.Now = a.store, mailer, outbox, log, now
	river.AddWorker(workers, sender)
	river.AddWorker(workers, &reconcile.Worker{Reconciler: rec})
	// The help form's answers, after the support service's recovery of
	// whoever wrote in.
	desk := &support.Service{Store: a.store, Policy: &cfg.Policy, Notify: outbox, Lifecycle: life, Checkout: co, Reconciler: rec,
		ReplyFields: replyFields(cfg)}
	if r, ok := processor.(support.Refunder); ok {
		desk.Refunds = r
	}
	if desk.Replies, err = replies.Load(cfg.Support.ReplyTemplates); err != nil {
		return nil, fmt.Errorf("%s: support.reply_templates: %w", cfg.Source, err)
	}
	river.AddWorker(workers, &help.Worker{Store: a.store, Policy: &cfg.Policy, Outbox: outbox,
		AnswersPerDay: cfg.Support.HelpAnswersPerDay, Logger: log.With("component", "help"), Recover: helpRecovery(desk)})
	periodic := []*river.PeriodicJob{
		river.NewPeriodicJob(
			river.PeriodicInterval(cfg.Reconciler.Interval.D()),
			func() (river.JobArgs, *river.InsertOpts) { return reconcile.RunArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true},
		),
		// Deadlines have jobs at their due times; the sweep fires
		// those a crash lost or a clock moved forward left behind.
		river.NewPeriodicJob(
			river.PeriodicInterval(30*time.Second),
			func() (river.JobArgs, *river.InsertOpts) { return lifecycle.SweepArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true},
		),
	}
	periodic = append(periodic, a.retention(workers)...)
	onCallJobs, ackLinks := a.onCall(workers, outbox)
	periodic = append(periodic, onCallJobs...)
	a.jobs, err = queue.New(a.db, queue.Config{
		ID:           id,
		Workers:      workers,
		Logger:       log.With("component", "jobs"),
		Expected:     expectedFailure,
		PollInterval: 50 * time.Millisecond,
		// Jobs mostly wait on the processor and the mail server, so many
		// run at once; a job inserted here wakes the fetcher at once (see
		// UseQueue), and the cooldown lets a busy queue start jobs as
		// fast as they come instead of a batch every poll.
		FetchCooldown: 5 * time.Millisecond,
		MaxWorkers:    100,
		PeriodicJobs:  periodic,
	})
	if err != nil {
		return nil, err
	}
	a.store.UseQueue(a.jobs)
	if cfg.Processor.Kind == config.KindSandbox || cfg.Processor.Stripe.TestClock != "" {
		// A test clock moved forward leaves deadline jobs behind: sweep
		// at once.
		a.bg.Add(1)
		go func() {
			defer a.bg.Done()
			watchJumps(a.ctx, now, 200*time.Millisecond, func() {
				if _, err := a.jobs.Insert(a.ctx, lifecycle.SweepArgs{}, nil); err != nil {
					log.Warn("sweeping deadlines after the test clock moved", "err", err)
				}
			})
		}()
	}
	if n, err := queue.RescueOwn(ctx, a.db, id); err != nil {
		return nil, err
	} else if n > 0 {
		log.Warn("took back jobs this instance was running when it stopped", "jobs", n, "instance", id)
	}

	threads := &inbound.Threads{Store: a.store, Outbox: outbox, Logger: log.With("component", "inbound")}
	if err := a.startInbound(threads); err != nil {
		return nil, err
	}
	var mailgun *inbound.Mailgun
	if key := cfg.Support.InboundWebhookKey.Reveal(); key != "" {
		mailgun = &inbound.Mailgun{Key: key, Domain: cfg.Support.InboundDomain}
	}

	metrics.RegisterState(a.store.Stats)
	var apiKeys []string
	for _, k := range cfg.API.Keys {
		apiKeys = append(apiKeys, k.Reveal())
	}
	shop := web.NewServer(web.Deps{
		Store: a.store, DB: a.db, Queue: a.jobs, Checkout: co, Ingester: a.ingester, Outbox: outbox,
		SignIns: a.signIns, Mail: mailer, Subscriptions: map[string]web.SubscriptionSyncer{processor.Name(): life},
		Threads: threads, Mailgun: mailgun,
		Webhooks: verifier, Policy: &cfg.Policy, Billing: map[string]paidup.Billing{processor.Name(): processor},
		Business: web.Business{Name: cfg.Business.Name, SupportEmail: cfg.Business.SupportEmail, ReplyWithin: cfg.Support.ReplyWithin,
			StatementShowsReference: strings.Contains(cfg.Processor.StatementSuffix(), "{reference}")},
		PublicURL: publicURL, APIKeys: apiKeys,
		SessionTTL: cfg.Accounts.SessionTTL.D(), LinkTTL: cfg.Accounts.SignInLinkTTL.D(),
		SignInLimit: cfg.Accounts.SignInLinks, SignInWindow: cfg.Accounts.SignInLinksWindow.D(),
		Now: now, Logger: log, Metrics: metrics,
		Limits: webLimits(cfg.Limits), TrustedProxies: cfg.Server.Proxies, PageOrigins: pageOrigins,
	})
	a.handler = a.withConsole(shop, desk, now)
	if ackLinks != nil {
		mux := http.NewServeMux()
		mux.Handle("/oncall/ack/", ackLinks)
		mux.Handle("/", a.handler)
		a.handler = mux
	}
	return a, nil
}

// retention adds the job that prunes processed events' payloads past
// retention.event_payloads, and returns it as a periodic job for the
// leader to run, or nothing if payloads are kept for good (a run queued
// before then does nothing).
func (a *app) retention(workers *river.Workers) []*river.PeriodicJob {
	keep := a.cfg.Retention.EventPayloads.D()
	river.AddWorker(workers, &events.PruneWorker{Store: a.store, Retention: keep, Logger: a.log})
	if keep == 0 {
		return nil
	}
	return []*river.PeriodicJob{river.NewPeriodicJob(
		river.PeriodicInterval(events.PruneEvery),
		func() (river.JobArgs, *river.InsertOpts) { return events.PruneArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true},
	)}
}

// signInQueue is how many requests for a sign-in link may wait to be
// worked; more are dropped (see notify.SignInRequests).
const signInQueue = 1024

// start runs the background work: the event ingester, the sign-in link
// requests, the job queue, the rescue of periodic jobs that instances now
// gone left running, and a first look at the mail server's extensions.
func (a *app) start() error {
	a.bg.Add(4)
	go func() { defer a.bg.Done(); a.ingester.Run(a.ctx) }()
	go func() { defer a.bg.Done(); a.signIns.Run(a.ctx) }()
	go func() { defer a.bg.Done(); a.rescueOrphans(5 * time.Second) }()
	go func() { defer a.bg.Done(); a.probeMail() }()
	if err := a.jobs.Start(a.ctx); err != nil {
		return fmt.Errorf("starting the job queue: %w", err)
	}
	return nil
}

// periodicKinds are the jobs the leader enqueues on a timer, each unique
// while it runs and safe to run twice.
var periodicKinds = []string{reconcile.RunArgs{}.Kind(), lifecycle.SweepArgs{}.Kind(), events.PruneArgs{}.Kind(), oncall.EvaluateArgs{}.Kind()}

// rescueOrphans takes back, every interval, the periodic jobs that an
// instance which is gone left running, so that the next reconciler pass
// does not wait minutes for River's stuck-job rescue.
func (a *app) rescueOrphans(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
		}
		if n, err := queue.RescueOrphans(a.ctx, a.db, periodicKinds); err != nil && a.ctx.Err() == nil {
			a.log.Warn("looking for jobs of instances gone failed", "err", err)
		} else if n > 0 {
			a.log.Warn("took back periodic jobs an instance that is gone was running", "jobs", n)
		}
	}
}

// probeMail asks the mail server whether it offers SMTPUTF8, so that the
// first customer with an address that needs it does not wait for the
// answer. A server that cannot be reached is asked again when needed.
func (a *app) probeMail() {
	ok, err := a.mailer.SMTPUTF8(a.ctx)
	if err != nil {
		a.log.Warn("the mail server cannot be reached; paidup will ask it again", "smtp", a.mailer.String(), "err", err)
		return
	}
	if !ok {
		a.log.Info("the mail server does not offer SMTPUTF8: addresses with non-ASCII characters before the @ are refused on the forms",
			"smtp", a.mailer.String())
	}
}

// stop ends the background work, letting running jobs finish (for up to
// 10 seconds; then they are cancelled).
func (a *app) stop() {
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.jobs.Stop(stopCtx); err != nil {
		a.log.Warn("stopping the job queue", "err", err)
	}
	a.close()
}

// close stops the servers, waits for every goroutine, then releases the
// databases and listeners.
func (a *app) close() {
	a.cancel()
	for _, f := range a.shutdowns {
		f()
	}
	a.shutdowns = nil
	a.bg.Wait()
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

type sandboxInfo struct {
	secret  string
	smtpURL string           // the local mailbox, when wanted
	now     func() time.Time // the sandbox's clock
}

// startSandbox runs the sandbox processor in this process on its own
// listener, delivering webhooks to webhookURL; with withMailbox, also the
// local mailbox, whose pages the sandbox's listener serves at /mailbox/.
func (a *app) startSandbox(cfg *config.Config, webhookURL string, withMailbox bool) (sandboxInfo, error) {
	var info sandboxInfo
	ln, err := listen(cfg.Sandbox.Listen, "--sandbox-listen")
	if err != nil {
		return info, err
	}
	a.closers = append(a.closers, func() { ln.Close() })
	a.sandboxURL = "http://" + ln.Addr().String()
	db, err := openSandboxDatabase(a.ctx, cfg.Sandbox.DatabaseURL.Reveal())
	if err != nil {
		return info, err
	}
	a.closers = append(a.closers, func() { db.Close() })
	info.secret = cfg.Sandbox.WebhookSecret.Reveal()
	if info.secret == "" {
		info.secret = randomSecret()
	}
	opts := sandboxOptions(cfg, db, a.sandboxURL, a.log, []sandbox.EndpointConfig{{URL: webhookURL, Secret: info.secret}})
	var mb *mailbox.Mailbox
	if withMailbox {
		if mb, info.smtpURL, err = a.startMailbox(db); err != nil {
			return info, err
		}
		a.mailboxURL = a.sandboxURL + "/mailbox/"
		opts.Links = []sandbox.Link{{Name: "Mailbox", URL: "/mailbox/"}, {Name: "Email previews", URL: "/mailbox/previews/"}}
	}
	sb, err := sandbox.New(a.ctx, opts)
	if err != nil {
		return info, fmt.Errorf("starting the sandbox: %w", err)
	}
	info.now = sb.Now
	handler := sb.Handler()
	if mb != nil {
		mux := http.NewServeMux()
		mux.Handle("/mailbox/", mb.Handler("/mailbox"))
		mux.Handle("/mailbox/previews/", http.StripPrefix("/mailbox/previews", newSender(cfg, a.publicURL, a.templates).PreviewHandler()))
		mux.Handle("/", handler)
		handler = mux
	}
	srv := newHTTPServer(handler, a.log)
	a.bg.Add(2)
	go func() { defer a.bg.Done(); sb.Run(a.ctx) }()
	go func() {
		defer a.bg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("sandbox HTTP server", "err", err)
		}
	}()
	a.shutdowns = append(a.shutdowns, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return info, nil
}

// startInbound runs paidup's own SMTP listener for the reply addresses,
// when support.inbound_smtp_listen names one. Stopping lets the messages
// being sent finish, for up to 5 seconds.
func (a *app) startInbound(threads *inbound.Threads) error {
	addr := a.cfg.Support.InboundSMTPListen
	if addr == "" {
		return nil
	}
	ln, err := listen(addr, "support.inbound_smtp_listen")
	if err != nil {
		return err
	}
	l := inbound.NewListener(threads, a.cfg.Support.InboundDomain, a.log.With("component", "inbound_smtp"))
	a.inboundURL = "smtp://" + ln.Addr().String()
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		if err := l.Serve(ln); err != nil {
			a.log.Error("inbound mail listener", "err", err)
		}
	}()
	a.shutdowns = append(a.shutdowns, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := l.Shutdown(ctx); err != nil {
			a.log.Warn("stopping the inbound mail listener", "err", err)
		}
	})
	return nil
}

// startMailbox runs the local mailbox's SMTP server on a loopback port.
func (a *app) startMailbox(db *sqldb.DB) (*mailbox.Mailbox, string, error) {
	mb, err := mailbox.Open(a.ctx, db, a.log.With("component", "mailbox"))
	if err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("starting the local mailbox: %w", err)
	}
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		if err := mb.Serve(ln); err != nil {
			a.log.Error("local mailbox", "err", err)
		}
	}()
	a.shutdowns = append(a.shutdowns, func() { mb.Close() })
	return mb, "smtp://" + ln.Addr().String(), nil
}

// instanceID names this instance the same way across restarts: host and
// listen address.
func instanceID(ln net.Listener) string {
	host, _ := os.Hostname()
	return "paidup@" + host + "/" + strings.ReplaceAll(ln.Addr().String(), "[::]", "any")
}

func durations(ds []config.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.D()
	}
	return out
}

func hostOf(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	return u.Hostname(), nil
}

// newSender is the email sender as the configuration sets it up, without
// its store and mailer: enough to preview emails.
func newSender(cfg *config.Config, publicURL string, templates *notify.Templates) *notify.Sender {
	return &notify.Sender{
		Policy: &cfg.Policy, From: cfg.SMTP.From, FromByKind: cfg.SMTP.FromByKind, Business: cfg.Business.Name,
		SupportEmail: cfg.Business.SupportEmail, ReplyWithin: cfg.Support.ReplyWithin, PublicURL: publicURL, LinkTTL: cfg.Accounts.SignInLinkTTL.D(), Templates: templates,
		InboundDomain: cfg.Support.InboundDomain,
	}
}

// emailTemplates loads the email templates, with the override directory's,
// and renders each with sample data, so that a broken one is refused at
// start with its file and the reason.
func emailTemplates(cfg *config.Config, publicURL string) (*notify.Templates, error) {
	templates, err := notify.LoadTemplates(cfg.Lifecycle.Templates)
	if err == nil {
		err = newSender(cfg, publicURL, templates).CheckTemplates()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: lifecycle.templates: %w", cfg.Source, err)
	}
	if _, err := replies.Load(cfg.Support.ReplyTemplates); err != nil {
		return nil, fmt.Errorf("%s: support.reply_templates: %w", cfg.Source, err)
	}
	for i, r := range cfg.Policy.Lifecycle.Reminders {
		if !templates.Has(r.Template) {
			return nil, fmt.Errorf("%s: lifecycle.reminders[%d].template: there is no email template %q", cfg.Source, i, r.Template)
		}
	}
	return templates, nil
}

// helpRecovery is the help form's repair: the support service's recovery
// of an address or a reference, on the record as the help form's. Nobody
// found to recover is not a failure: there is nothing to repair.
func helpRecovery(svc *support.Service) func(ctx context.Context, who string) error {
	return func(ctx context.Context, who string) error {
		_, err := svc.Recover(ctx, support.Request{ID: support.Key("help", who, svc.Store.Now().Format(time.RFC3339Nano)), Actor: "help form",
			Reason: "the customer wrote in through the help form"}, who)
		if paidup.ErrorCode(err) == paidup.ENOTFOUND {
			return nil
		}
		return err
	}
}
