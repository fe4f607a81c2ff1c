// Command paidup-load measures paidup under load and prints what it found.
//
// Each scenario runs the real paidup binary (`paidup serve`, the shipped
// configuration but for the processor and mail server) against a fresh
// database, with the sandbox processor and the local mailbox running in
// this process as the outside world (Stripe and the SMTP provider):
//
//	ack        webhook acknowledgements per second, many concurrent senders
//	           each sending its next event once the last is acknowledged
//	latency    acknowledgement latency at a constant arrival rate (open loop)
//	purchase   purchases at a constant rate: payment to confirmation at the
//	           SMTP server, and payment to access
//	repair     the same with every webhook dropped: the reconciler repairs
//	console    support's console while customers buy as in purchase: an
//	           operator signs in and opens the inbox, a customer's page
//	           and a search, each a few times a second, timed
//	footprint  what one purchase costs in database and log bytes, before
//	           and after the processed events' payloads are pruned
//	reference  paidup against the synchronous reference design — in Python
//	           with FastAPI (needs Debian's python3-fastapi and friends, see
//	           reference_shop.py) and the same in Go — purchases per
//	           second, on the same machine in the same run
//	deadlines  (only when named) a million subscriptions' deadlines: the
//	           cost of scheduling one as the table fills, and how late
//	           deadlines fire amid them (runs paidup's deadline machinery
//	           in this process)
//	search     (only when named) a million customers and ten million
//	           timeline entries: support's search, a long timeline's
//	           pages and the open cases, timed (in this process)
//
// Everything binds to 127.0.0.1. Run it from the repository root:
//
//	go run ./cmd/paidup-load -engines sqlite,postgres -postgres URL ack latency
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/paidup/paidup/internal/sandbox"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "reference-server" {
		if err := runReferenceServer(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "reference-server:", err)
			os.Exit(1)
		}
		return
	}
	// The harness stands in for the outside world on the same two cores as
	// what it measures; it trades memory for less garbage collection so
	// that it takes less CPU from them. (paidup sets its own, 400 too; the
	// Go reference design runs with Go's default.)
	debug.SetGCPercent(400)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "paidup-load:", err)
		}
		os.Exit(1)
	}
}

type options struct {
	engines  []string
	pgAdmin  string
	bin      string
	work     string
	keep     bool
	logLevel string
	// paidupProfile prefixes the files paidup writes its CPU profiles to.
	paidupProfile string
	apiDelay      time.Duration
	smtpDelay     time.Duration
	// deliveries is how many webhooks the processor sends at once.
	deliveries int

	ackSenders    int
	ackWarm       time.Duration
	ackDuration   time.Duration
	ackEventType  string
	latRate       float64
	latDuration   time.Duration
	buyRate       float64
	buyDuration   time.Duration
	buyWait       time.Duration
	repairRate    float64
	repairDur     time.Duration
	repairWait    time.Duration
	footPurchases int
	footCustomers int
	footAllEvents bool
	refPurchases  int
	refClients    int
	refWorkers    int
	dl            deadlineOptions
	so            searchOptions
	co            consoleOptions

	out     io.Writer
	summary *table
}

var allScenarios = []string{"ack", "latency", "purchase", "console", "repair", "footprint", "reference"}

// onDemandScenarios run only when named: they take long.
var onDemandScenarios = []string{"deadlines", "search"}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("paidup-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{out: stdout}
	engines := fs.String("engines", "sqlite", "comma-separated engines to run on: sqlite, postgres")
	fs.StringVar(&o.pgAdmin, "postgres", os.Getenv("PAIDUP_LOAD_POSTGRES_URL"), "PostgreSQL `URL` whose user may create databases; the server must run with fsync on [PAIDUP_LOAD_POSTGRES_URL]")
	fs.StringVar(&o.bin, "paidup", "", "paidup `binary` to measure (default: go build ./cmd/paidup)")
	fs.StringVar(&o.work, "work", "", "`directory` for databases, configuration and logs (default: a temporary one, removed)")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory, and the PostgreSQL databases")
	cpuProfile := fs.String("cpuprofile", "", "write the harness's CPU profile (load generator, sandbox, mailbox) to `file`")
	fs.StringVar(&o.paidupProfile, "paidup-cpuprofile", "", "write each paidup run's CPU profile to `prefix`-SCENARIO-ENGINE.pprof")
	fs.StringVar(&o.logLevel, "log-level", "info", "paidup's log `level` (its logs go to a file in the work directory)")
	fs.IntVar(&o.deliveries, "processor-deliveries", 16, "how many webhook deliveries the processor (sandbox) has under way at once, as Stripe sends them in parallel")
	fs.DurationVar(&o.apiDelay, "processor-delay", 0, "add this `delay` to every processor API request, for a real processor's round trip")
	fs.DurationVar(&o.smtpDelay, "smtp-delay", 0, "add this `delay` to every connection to the mail server, for a real provider's round trips")

	fs.IntVar(&o.ackSenders, "ack-senders", 64, "ack: concurrent webhook senders")
	fs.DurationVar(&o.ackWarm, "ack-warmup", 2*time.Second, "ack: sending before measuring")
	fs.DurationVar(&o.ackDuration, "ack-duration", 10*time.Second, "ack: measured sending")
	fs.StringVar(&o.ackEventType, "ack-event", "checkout.session.completed", "ack, latency: the type of the events sent")
	fs.Float64Var(&o.latRate, "latency-rate", 1000, "latency: webhooks per second")
	fs.DurationVar(&o.latDuration, "latency-duration", 20*time.Second, "latency: measured sending (after 2 s not measured)")
	fs.Float64Var(&o.buyRate, "purchase-rate", 200, "purchase: purchases per second")
	fs.DurationVar(&o.buyDuration, "purchase-duration", time.Minute, "purchase: how long to buy for")
	fs.DurationVar(&o.buyWait, "purchase-wait", time.Minute, "purchase: how long to wait for the last confirmations")
	fs.Float64Var(&o.repairRate, "repair-rate", 2, "repair: purchases per second")
	fs.DurationVar(&o.repairDur, "repair-duration", 2*time.Minute, "repair: how long to buy for")
	fs.DurationVar(&o.repairWait, "repair-wait", 3*time.Minute, "repair: how long to wait for the last repair")
	fs.IntVar(&o.footPurchases, "footprint-purchases", 1000, "footprint: purchases")
	fs.IntVar(&o.footCustomers, "footprint-customers", 8, "footprint: concurrent customers")
	fs.BoolVar(&o.footAllEvents, "footprint-all-events", false, "footprint: the webhook endpoint is sent every event, not only those paidup acts on")
	fs.IntVar(&o.refPurchases, "reference-purchases", 4000, "reference: purchases per design")
	fs.IntVar(&o.refClients, "reference-clients", 80, "reference: concurrent customers")
	fs.IntVar(&o.refWorkers, "reference-workers", 40, "reference: request threads of each reference design (FastAPI's thread pool, 40 by default as in FastAPI)")
	o.dl.flags(fs)
	o.so.flags(fs)
	o.co.flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: paidup-load [flags] [scenario...]\n\nScenarios: %s (default: all).\n\nFlags:\n", strings.Join(allScenarios, ", "))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	scenarios := fs.Args()
	if len(scenarios) == 0 {
		scenarios = allScenarios
	}
	for _, s := range scenarios {
		if !contains(allScenarios, s) && !contains(onDemandScenarios, s) {
			return fmt.Errorf("unknown scenario %q: want %s", s, strings.Join(append(allScenarios, onDemandScenarios...), ", "))
		}
	}
	for _, e := range strings.Split(*engines, ",") {
		if e != "sqlite" && e != "postgres" {
			return fmt.Errorf("-engines: unknown engine %q", e)
		}
		o.engines = append(o.engines, e)
	}

	if o.work == "" {
		dir, err := os.MkdirTemp("", "paidup-load-")
		if err != nil {
			return err
		}
		o.work = dir
		if !o.keep {
			defer os.RemoveAll(dir)
		}
	} else if err := os.MkdirAll(o.work, 0o755); err != nil {
		return err
	}
	if o.bin == "" {
		o.bin = filepath.Join(o.work, "paidup")
		build := exec.CommandContext(ctx, "go", "build", "-o", o.bin, "./cmd/paidup")
		build.Stdout, build.Stderr = stderr, stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building paidup (run from the repository root, or pass -paidup): %w", err)
		}
	}
	o.machine()
	o.summary = &table{header: []string{"scenario", "engine", "figure", "measured", "target", "verdict"}}
	for _, sc := range scenarios {
		for _, engine := range o.engines {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fmt.Fprintf(o.out, "\n== %s on %s ==\n", sc, engine)
			var err error
			switch sc {
			case "ack":
				err = o.ack(ctx, engine)
			case "latency":
				err = o.latency(ctx, engine)
			case "purchase":
				err = o.purchase(ctx, engine)
			case "console":
				err = o.console(ctx, engine)
			case "repair":
				err = o.repair(ctx, engine)
			case "footprint":
				err = o.footprint(ctx, engine)
			case "reference":
				err = o.reference(ctx, engine)
			case "deadlines":
				err = o.deadlines(ctx, engine)
			case "search":
				err = o.search(ctx, engine)
			}
			if err != nil {
				fmt.Fprintf(o.out, "FAILED: %v\n", err)
				o.summary.add(sc, engine, "run", "failed: "+err.Error(), "", "")
			}
		}
	}
	fmt.Fprintf(o.out, "\n== summary ==\n")
	o.summary.print(o.out)
	if o.keep {
		fmt.Fprintf(o.out, "\nDatabases, configuration and logs are in %s\n", o.work)
	}
	return nil
}

// machine prints what the figures were measured on.
func (o *options) machine() {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	var uts syscall.Utsname
	syscall.Uname(&uts)
	kernel := charsToString(uts.Release[:])
	fmt.Fprintf(o.out, "paidup-load: %d CPUs (%s), Linux %s, %s; paidup %s\n", runtime.NumCPU(), model, kernel, runtime.Version(), o.bin)
	fmt.Fprintf(o.out, "processor and mail server: in this process, in memory and SQLite not synced to disk; paidup: its own process, synchronous=FULL or fsync on")
	if o.apiDelay > 0 {
		fmt.Fprintf(o.out, "; processor API requests delayed by %s", o.apiDelay)
	}
	if o.smtpDelay > 0 {
		fmt.Fprintf(o.out, "; mail server connections delayed by %s", o.smtpDelay)
	}
	fmt.Fprintln(o.out)
}

func charsToString(ca []int8) string {
	b := make([]byte, 0, len(ca))
	for _, c := range ca {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

// env starts a fresh world and a fresh paidup on engine.
func (o *options) env(ctx context.Context, name, engine string, wo worldOptions) (*world, *paidupProc, func(), error) {
	dir := filepath.Join(o.work, name+"-"+engine)
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, nil, err
	}
	listen, err := freePort()
	if err != nil {
		return nil, nil, nil, err
	}
	wo.webhookURL = "http://" + listen + "/webhooks/stripe"
	wo.apiDelay, wo.deliveries, wo.smtpDelay = o.apiDelay, o.deliveries, o.smtpDelay
	w, err := startWorld(ctx, dir, wo)
	if err != nil {
		return nil, nil, nil, err
	}
	db, err := o.database(ctx, engine, dir, "paidup")
	if err != nil {
		w.close()
		return nil, nil, nil, err
	}
	po := paidupOptions{bin: o.bin, dir: dir, dbURL: db.url, listen: listen, world: w, logLevel: o.logLevel}
	if o.paidupProfile != "" {
		po.cpuProfile = o.paidupProfile + "-" + name + "-" + engine + ".pprof"
	}
	p, err := startPaidup(ctx, po)
	if err != nil {
		w.close()
		db.drop()
		return nil, nil, nil, err
	}
	return w, p, func() { p.stop(); w.close(); db.drop() }, nil
}

func verdict(ok bool) string {
	if ok {
		return "meets"
	}
	return "SHORT"
}

func (o *options) ack(ctx context.Context, engine string) error {
	w, p, done, err := o.env(ctx, "ack", engine, worldOptions{})
	if err != nil {
		return err
	}
	defer done()
	s, err := newWebhookSender(ctx, w, p, o.ackEventType, 20)
	if err != nil {
		return err
	}
	r, err := runAckThroughput(ctx, s, p, o.ackSenders, o.ackWarm, o.ackDuration, 3*time.Minute)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.out, "%d senders, closed loop, %s measured after %s: %d acknowledged (%.0f/s), %d errors %s\n",
		r.senders, o.ackDuration, o.ackWarm, r.acks, r.perSecond, r.errors, r.firstError)
	fmt.Fprintf(o.out, "acknowledgement latency: %s\n", r.latency)
	fmt.Fprintf(o.out, "CPU while sending (cores): paidup: %s\n", r.cpu)
	drained := "drained"
	if !r.drained {
		drained = "NOT drained"
	}
	fmt.Fprintf(o.out, "processing: %d events unprocessed when sending stopped; %s %s later; %.0f events processed/s overall\n",
		r.backlog, drained, r.drain.Round(100*time.Millisecond), r.processed)
	target := 5000.0
	if engine == "postgres" {
		target = 2000
	}
	o.summary.add("ack", engine, fmt.Sprintf("durable acks/s, %d senders", r.senders), fmt.Sprintf("%.0f/s", r.perSecond), fmt.Sprintf(">= %.0f/s", target), verdict(r.perSecond >= target && r.errors == 0))
	o.summary.add("ack", engine, "events processed/s (incl. drain)", fmt.Sprintf("%.0f/s", r.processed), "", "")
	return nil
}

func (o *options) latency(ctx context.Context, engine string) error {
	w, p, done, err := o.env(ctx, "latency", engine, worldOptions{})
	if err != nil {
		return err
	}
	defer done()
	s, err := newWebhookSender(ctx, w, p, o.ackEventType, 20)
	if err != nil {
		return err
	}
	r, err := runAckLatency(ctx, s, p, o.latRate, 2*time.Second, o.latDuration)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.out, "%.0f webhooks/s offered for %s (open loop): %d acknowledged, %.0f/s achieved, %d errors %s\n",
		r.offered, r.duration, r.acks, r.achieved, r.errors, r.firstError)
	fmt.Fprintf(o.out, "latency from when each was due: %s\n", r.latency)
	fmt.Fprintf(o.out, "of which the harness started the request late by: %s\n", r.late)
	fmt.Fprintf(o.out, "CPU (cores): paidup: %s; %d events unprocessed at the end\n", r.cpu, r.backlog)
	o.summary.add("latency", engine, fmt.Sprintf("ack p99 at %.0f/s open loop", r.offered), ms(r.latency.p99), "<= 10 ms", verdict(r.latency.p99 <= 10*time.Millisecond && r.errors == 0))
	o.summary.add("latency", engine, "ack p50 / max, achieved rate", fmt.Sprintf("%s / %s, %.0f/s", ms(r.latency.p50), ms(r.latency.max), r.achieved), "", "")
	return nil
}

func (o *options) printPipeline(r *pipelineResult) {
	fmt.Fprintf(o.out, "%.0f purchases/s offered for %s: %d started, %d paid (%.1f/s), %d failed %s\n",
		r.offered, r.duration, r.started, r.paid, r.paidRate, r.failed, r.firstFailure)
	fmt.Fprintf(o.out, "payment -> confirmation at the SMTP server: %s\n", r.email)
	fmt.Fprintf(o.out, "payment -> access granted:                   %s\n", r.access)
	fmt.Fprintf(o.out, "confirmations delivered during the run: %.1f/s; backlog (paid, not yet mailed): max %d, %d when buying stopped; all mailed %s after (missing: %d emails, %d grants; duplicates: %d)\n",
		r.emailsPerSec, r.backlogMax, r.backlogEnd, r.drain.Round(100*time.Millisecond), r.missingEmail, r.missingAccess, r.duplicates)
	fmt.Fprintf(o.out, "CPU (cores): paidup: %s; paidup CPU per purchase %s\n", r.cpu, r.cpuPer)
	fmt.Fprintf(o.out, "per purchase: %s\n", r.per)
	if r.check != "" {
		fmt.Fprintf(o.out, "paidup check: %s\n", r.check)
	}
}

func (o *options) purchase(ctx context.Context, engine string) error {
	w, p, done, err := o.env(ctx, "purchase", engine, worldOptions{})
	if err != nil {
		return err
	}
	defer done()
	r, err := runPipeline(ctx, w, p, o.buyRate, o.buyDuration, o.buyWait, "buyer", filepath.Dir(p.logPath))
	if err != nil {
		return err
	}
	r.check = o.check(p)
	o.printPipeline(r)
	ok := r.email.p99 <= time.Second && r.access.p99 <= time.Second && r.missingEmail == 0 && r.missingAccess == 0 && r.failed == 0 && r.duplicates == 0
	o.summary.add("purchase", engine, fmt.Sprintf("payment->email p99 at %.0f/s for %s", r.offered, r.duration), ms(r.email.p99), "<= 1 s", verdict(ok))
	o.summary.add("purchase", engine, "payment->access p99; paid/s; max backlog", fmt.Sprintf("%s; %.1f/s; %d", ms(r.access.p99), r.paidRate, r.backlogMax), "", "")
	return nil
}

func (o *options) repair(ctx context.Context, engine string) error {
	w, p, done, err := o.env(ctx, "repair", engine, worldOptions{faults: []sandbox.Fault{{Action: sandbox.FaultDrop, Event: "*"}}})
	if err != nil {
		return err
	}
	defer done()
	fmt.Fprintf(o.out, "every webhook dropped by the processor; reconciler at its defaults (interval 15 s, first recheck 1 m)\n")
	r, err := runPipeline(ctx, w, p, o.repairRate, o.repairDur, o.repairWait, "unlucky", filepath.Dir(p.logPath))
	if err != nil {
		return err
	}
	r.check = o.check(p)
	o.printPipeline(r)
	ok := r.email.max <= 2*time.Minute && r.access.max <= 2*time.Minute && r.missingEmail == 0 && r.missingAccess == 0 && r.duplicates == 0
	o.summary.add("repair", engine, "webhooks dropped: payment->email max", ms(r.email.max), "<= 2 min", verdict(ok))
	o.summary.add("repair", engine, "payment->email p50 / p99; ->access max", fmt.Sprintf("%s / %s; %s", ms(r.email.p50), ms(r.email.p99), ms(r.access.max)), "", "")
	return nil
}

func (o *options) check(p *paidupProc) string {
	out, err := p.check(o.bin, filepath.Dir(p.logPath))
	last := out
	if i := strings.LastIndexByte(out, '\n'); i >= 0 {
		last = out[i+1:]
	}
	if err != nil {
		return "FAILED: " + out
	}
	return last
}

// reference measures, on fresh worlds and databases, the brief's reference
// design in FastAPI, the same design in Go, and paidup: completed purchases
// per second, and paidup's ratio to each. A design that cannot run is
// reported as failed and the others are still measured.
func (o *options) reference(ctx context.Context, engine string) error {
	n, c := o.refPurchases, o.refClients
	fmt.Fprintf(o.out, "%d purchases per design, %d concurrent customers; reference designs: %d request threads, one transaction and one SMTP send per purchase\n", n, c, o.refWorkers)

	// Each reference design, in its own process, on a fresh world.
	refs := map[string]*throughputResult{}
	var results []*throughputResult
	for _, design := range []string{designFastAPI, designGo} {
		r, err := o.runReference(ctx, design, engine, n, c)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fmt.Fprintf(o.out, "%s: FAILED: %v\n", referenceNames[design], err)
			o.summary.add("reference", engine, referenceNames[design], "failed: "+err.Error(), "", "")
			continue
		}
		refs[design] = r
		results = append(results, r)
	}
	// paidup, in its own process, on a fresh world.
	w, p, done, err := o.env(ctx, "reference-paidup", engine, worldOptions{})
	if err != nil {
		return err
	}
	defer done()
	b := &buyer{w: w, shop: p.shopURL, prefix: "compare"}
	meter, start := startCPU(p.cmd.Process.Pid), time.Now()
	lat, failed, firstErr := closedLoop(ctx, n, c, func(int) error { return b.buy(ctx, time.Now()).err })
	acceptedIn := time.Since(start)
	d, err := waitMail(ctx, w, n-failed, 5*time.Minute)
	if err != nil {
		return err
	}
	pu := &throughputResult{design: "paidup", purchases: n, failed: failed, firstError: firstErr, latency: summarise(lat),
		mailed: d.recipients, duplicates: d.duplicates, accepted: rate(len(lat), acceptedIn), cpu: meter.String(), cpuPer: meter.procPer(d.recipients)}
	pu.elapsed = d.last.Sub(start)
	pu.perSecond = rate(pu.mailed, pu.elapsed)
	if firstErr != "" {
		fmt.Fprintf(o.out, "paidup: first failure: %s\n", firstErr)
	}
	check := o.check(p)
	results = append(results, pu)

	t := &table{header: []string{"design", "purchases", "failed", "mailed", "duplicates", "elapsed", "completed/s", "customer wait", "CPU per purchase", "CPU (cores)"}}
	for _, r := range results {
		t.add(r.design, fmt.Sprint(r.purchases), fmt.Sprint(r.failed), fmt.Sprint(r.mailed), fmt.Sprint(r.duplicates), r.elapsed.Round(10*time.Millisecond).String(),
			fmt.Sprintf("%.0f", r.perSecond), fmt.Sprintf("p50 %s p99 %s", ms(r.latency.p50), ms(r.latency.p99)), r.cpuPer, r.cpu)
	}
	t.print(o.out)
	fmt.Fprintf(o.out, "paidup: customers got through buy and pay at %.0f/s; completed/s counts until the last confirmation reached the SMTP server\n", pu.accepted)
	fmt.Fprintf(o.out, "paidup check: %s\n", check)

	// ratio is paidup's completed purchases/s over design's, or why there
	// is none.
	ratio := func(design string) (float64, string) {
		r := refs[design]
		switch {
		case r == nil:
			return 0, referenceNames[design] + " failed"
		case r.perSecond == 0:
			return 0, referenceNames[design] + " completed none"
		}
		x := pu.perSecond / r.perSecond
		return x, fmt.Sprintf("%.2fx", x)
	}
	rFast, fastText := ratio(designFastAPI)
	_, goText := ratio(designGo)
	fmt.Fprintf(o.out, "ratio paidup / FastAPI reference: %s; paidup / Go reference: %s\n", fastText, goText)
	figure := func(design string) string {
		if r := refs[design]; r != nil {
			return fmt.Sprintf("%.0f", r.perSecond)
		}
		return "failed"
	}
	o.summary.add("reference", engine, "completed purchases/s: FastAPI, Go, paidup", fmt.Sprintf("%s, %s, %.0f", figure(designFastAPI), figure(designGo), pu.perSecond), "", "")
	o.summary.add("reference", engine, "CPU per purchase: FastAPI, Go, paidup", fmt.Sprintf("%s, %s, %s", cpuPer(refs[designFastAPI]), cpuPer(refs[designGo]), pu.cpuPer), "", "")
	// The target counts only if both sides completed every purchase once.
	ok := rFast >= 10
	for _, r := range []*throughputResult{refs[designFastAPI], pu} {
		ok = ok && r != nil && r.failed == 0 && r.duplicates == 0 && r.mailed == r.purchases
	}
	o.summary.add("reference", engine, "ratio paidup / FastAPI reference", fastText, ">= 10x", verdict(ok))
	o.summary.add("reference", engine, "ratio paidup / Go reference", goText, "", "")
	return nil
}

// referenceNames are the reference designs as the report names them.
var referenceNames = map[string]string{designFastAPI: "reference, FastAPI", designGo: "reference, in Go"}

// cpuPer is a design's process CPU time per completed purchase.
func cpuPer(r *throughputResult) string {
	if r == nil {
		return "-"
	}
	return r.cpuPer
}

func (o *options) runReference(ctx context.Context, design, engine string, n, c int) (*throughputResult, error) {
	dir := filepath.Join(o.work, "reference-"+design+"-"+engine)
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	w, err := startWorld(ctx, dir, worldOptions{apiDelay: o.apiDelay, smtpDelay: o.smtpDelay, deliveries: o.deliveries})
	if err != nil {
		return nil, err
	}
	defer w.close()
	db, err := o.database(ctx, engine, dir, "reference")
	if err != nil {
		return nil, err
	}
	defer db.drop()
	rp, err := startReference(ctx, design, dir, db.url, w, o.refWorkers, 0)
	if err != nil {
		return nil, err
	}
	defer rp.stop()
	meter, start := startCPU(rp.cmd.Process.Pid), time.Now()
	lat, failed, firstErr := closedLoop(ctx, n, c, func(i int) error {
		return rp.purchase(ctx, fmt.Sprintf("%s-%d@example.test", design, i))
	})
	d, err := waitMail(ctx, w, n-failed, time.Minute)
	if err != nil {
		return nil, err
	}
	name := referenceNames[design]
	r := &throughputResult{design: fmt.Sprintf("%s (sync, %d threads)", name, o.refWorkers), purchases: n, failed: failed, firstError: firstErr,
		latency: summarise(lat), mailed: d.recipients, duplicates: d.duplicates, cpu: meter.String(), cpuPer: meter.procPer(d.recipients)}
	r.elapsed = d.last.Sub(start)
	r.perSecond = rate(r.mailed, r.elapsed)
	if firstErr != "" {
		fmt.Fprintf(o.out, "%s: first failure: %s\n", name, firstErr)
	}
	return r, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
