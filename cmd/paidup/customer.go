package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/config"
	"github.com/paidup/paidup/internal/lifecycle"
	"github.com/paidup/paidup/internal/limit"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/reconcile"
	"github.com/paidup/paidup/internal/store"
	"github.com/paidup/paidup/internal/stripe"
	"github.com/paidup/paidup/internal/support"
)

const customerUsage = `usage: paidup customer show|recover|resend|refund|grant|end-grant|note --customer WHO [flags]
  (WHO: paidup's customer id, an email address, or a PU- reference; "paidup customer COMMAND -h" lists a command's flags)`

// Both the Stripe adapter and the budget held to it refund part of a payment.
var (
	_ support.Refunder = (*stripe.Client)(nil)
	_ support.Refunder = (*limit.Processor)(nil)
)

// customerCommands are the actions on one customer, and whether each
// needs the payment processor.
var customerCommands = map[string]bool{
	"show": false, "recover": true, "resend": false, "refund": true, "grant": false, "end-grant": false, "note": false,
}

// actionFlags are what every support action is asked with.
type actionFlags struct {
	actor, reason, requestID string
}

func (a *actionFlags) register(fs *flag.FlagSet, getenv func(string) string, verb string) {
	fs.StringVar(&a.actor, "actor", getenv("USER"), "who "+verb+", for the audit trail [USER]")
	fs.StringVar(&a.reason, "reason", "", "why, for the audit trail")
	fs.StringVar(&a.requestID, "request", "", "the request's id: run again with the same one, nothing happens twice (default: derived from what is asked)")
}

// request is the support request the flags ask, with its id derived by
// def unless --request names it.
func (a *actionFlags) request(def string) support.Request {
	id := a.requestID
	if id == "" {
		id = def
	}
	return support.Request{ID: id, Actor: a.actor, Reason: a.reason}
}

// customer takes a support action on one customer (see internal/support),
// or shows what paidup knows of them.
func customerCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{customerUsage}
	}
	sub := args[0]
	needsProcessor, ok := customerCommands[sub]
	if !ok {
		return usageError{customerUsage}
	}
	fs := flag.NewFlagSet("paidup customer "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f commonFlags
	names := []string{"config", "database-url", "sandbox-database-url"}
	if needsProcessor {
		names = append(names, "sandbox-listen")
	}
	f.register(fs, getenv, names...)
	who := fs.String("customer", "", "the customer: paidup's id (cu_…), their email address, or a reference of theirs (PU-…)")
	var a actionFlags
	var emailID, paymentID, amount, tier, until, grantID, text string
	var endGrant, yes bool
	switch sub {
	case "recover":
		a.register(fs, getenv, "recovers the customer")
	case "resend":
		a.register(fs, getenv, "resends the email")
		fs.StringVar(&emailID, "email", "", "the email to resend (em_…, as paidup customer show lists them); default: the latest confirmation")
	case "refund":
		a.register(fs, getenv, "refunds the payment")
		fs.StringVar(&paymentID, "payment", "", "the payment to refund (pi_…, as paidup customer show lists them)")
		fs.StringVar(&amount, "amount", "", "how much to refund, in the payment's currency, e.g. 50 or 49.99 (default: all that is left)")
		fs.BoolVar(&endGrant, "end-grant", false, "end the grant the payment paid for now (a refund in full ends it anyway, once the processor confirms it)")
		fs.BoolVar(&yes, "yes", false, "refund: without it, only the preview is shown")
	case "grant":
		a.register(fs, getenv, "grants the tier")
		fs.StringVar(&tier, "tier", "", "the tier to grant (its id in the configuration)")
		fs.StringVar(&until, "until", "", "the last day of the grant, YYYY-MM-DD (it ends as that day ends, UTC), or an RFC 3339 time")
	case "end-grant":
		a.register(fs, getenv, "ends the grant")
		fs.StringVar(&grantID, "grant", "", "the grant to end (gr_…, as paidup customer show lists them)")
	case "note":
		a.register(fs, getenv, "writes the note")
		fs.StringVar(&text, "text", "", "the note, for the customer's timeline")
	}
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *who == "" {
		return usageError{"--customer is required: " + customerUsage}
	}
	if err := customerFlagsGiven(sub, a, paymentID, tier, until, grantID, text); err != nil {
		return err
	}
	var end time.Time
	if sub == "grant" {
		var err error
		if end, err = parseUntil(until); err != nil {
			return usageError{err.Error()}
		}
	}
	cfg, err := f.load(io.Discard)
	if err != nil {
		return err
	}
	db, st, err := openChangingStore(ctx, cfg, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	var processor paidup.Processor
	if needsProcessor {
		processor = configuredProcessor(cfg)
	}
	svc := supportService(cfg, st, processor)
	if sub == "recover" {
		// A recovery is safe to run again: each run is its own request,
		// unless --request names one.
		res, err := svc.Recover(ctx, a.request(randomRequest()), *who)
		if err != nil {
			return err
		}
		printResult(stdout, res)
		return nil
	}
	c, err := svc.Customer(ctx, *who)
	if err != nil {
		return err
	}
	var res support.Result
	switch sub {
	case "show":
		return showCustomer(ctx, svc, &cfg.Policy, c, stdout)
	case "resend":
		res, err = svc.Resend(ctx, a.request(support.Key(paidup.ActionResend, c.ID, emailID, a.actor, a.reason)), c.ID, emailID)
	case "refund":
		return refundCommand(ctx, svc, c, a, paymentID, amount, endGrant, yes, stdout)
	case "grant":
		res, _, err = svc.Grant(ctx, a.request(support.Key(paidup.ActionGrant, c.ID, tier, end.Format(time.RFC3339), a.actor, a.reason)), c.ID, tier, end)
	case "end-grant":
		res, err = svc.EndGrant(ctx, a.request(support.Key(paidup.ActionEndGrant, c.ID, grantID, a.actor, a.reason)), c.ID, grantID)
	case "note":
		res, err = svc.Note(ctx, a.request(support.Key(paidup.ActionNote, c.ID, text, a.actor, a.reason)), c.ID, text)
	}
	if err != nil {
		return err
	}
	printResult(stdout, res)
	return nil
}

// customerFlagsGiven refuses a command without what it needs.
func customerFlagsGiven(sub string, a actionFlags, paymentID, tier, until, grantID, text string) error {
	if sub != "show" && strings.TrimSpace(a.actor) == "" {
		return usageError{"--actor is required: every action is on the record with who took it"}
	}
	reason := strings.TrimSpace(a.reason) != ""
	switch {
	case sub == "refund" && (paymentID == "" || !reason):
		return usageError{"--payment and --reason are required: a refund is on the customer's record with its reason"}
	case sub == "grant" && (tier == "" || until == "" || !reason):
		return usageError{"--tier, --until and --reason are required: a grant is on the customer's record with its reason"}
	case sub == "end-grant" && (grantID == "" || !reason):
		return usageError{"--grant and --reason are required: ending a grant is on the customer's record with its reason"}
	case sub == "note" && strings.TrimSpace(text) == "":
		return usageError{"--text is required"}
	}
	return nil
}

// parseUntil reads a grant's end: a day (the grant lasts through it, UTC)
// or an exact time.
func parseUntil(s string) (time.Time, error) {
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return d.AddDate(0, 0, 1), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--until %q: want a day, YYYY-MM-DD, or an RFC 3339 time", s)
}

// refundCommand prints what a refund will do and, with --yes, does it.
func refundCommand(ctx context.Context, svc *support.Service, c paidup.Customer, a actionFlags, paymentID, amount string, endGrant, yes bool, stdout io.Writer) error {
	rr := support.RefundRequest{PaymentID: paymentID, EndGrant: endGrant}
	if amount != "" {
		p, found, err := svc.Store.Payment(ctx, svc.Refunds.Name(), paymentID)
		if err != nil {
			return err
		}
		if !found || p.CustomerID != c.ID {
			return paidup.Errorf(paidup.ENOTFOUND, "The customer has no payment %s.", paymentID)
		}
		m, err := paidup.ParseMoney(amount, p.Amount.Currency)
		if err != nil {
			return usageError{"--amount: " + err.Error()}
		}
		rr.Amount = m.Amount
	}
	r := a.request(support.Key(paidup.ActionRefund, c.ID, paymentID, strconv.FormatInt(rr.Amount, 10), strconv.FormatBool(endGrant), a.actor, a.reason))
	if !yes {
		if e, found, err := svc.Store.Audit(ctx, r.ID); err != nil {
			return err
		} else if found {
			printResult(stdout, support.Result{Entry: e, Repeat: true})
			return nil
		}
		pv, err := svc.PreviewRefund(ctx, c.ID, rr)
		if err != nil {
			return err
		}
		for _, l := range pv.Lines {
			fmt.Fprintln(stdout, l)
		}
		fmt.Fprintln(stdout, "Nothing is done yet: run again with --yes to refund.")
		return nil
	}
	out, err := svc.Refund(ctx, r, c.ID, rr)
	if err != nil {
		return err
	}
	if !out.Repeat {
		for _, l := range out.Preview.Lines[:len(out.Preview.Lines)-1] {
			fmt.Fprintln(stdout, l)
		}
	}
	printResult(stdout, out.Result)
	switch {
	case out.Repeat:
	case out.Pending:
		fmt.Fprintln(stdout, "The refund is pending until the processor confirms it; paidup records it, and emails the customer, when it does.")
	default:
		fmt.Fprintln(stdout, "The processor confirmed the refund; the customer is emailed.")
	}
	return nil
}

// printResult says what came of a request: the first answer, if it had
// been answered before.
func printResult(w io.Writer, res support.Result) {
	if res.Repeat {
		e := res.Entry
		fmt.Fprintf(w, "Already done (request %s, by %s at %s): %s\nNothing changed now; to ask again, give a new --request.\n",
			e.RequestID, e.Actor, e.At.Format(time.RFC3339), e.Outcome)
		return
	}
	fmt.Fprintln(w, res.Outcome())
}

// randomRequest is a new request id.
func randomRequest() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "rq_" + hex.EncodeToString(b)
}

// showCustomer prints what paidup knows of a customer: access, blocks and
// grants, payments, emails, and the latest entries of their audit log.
func showCustomer(ctx context.Context, svc *support.Service, policy *paidup.Policy, c paidup.Customer, stdout io.Writer) error {
	st := svc.Store
	if err := showBlocks(ctx, st, policy, c, stdout); err != nil {
		return err
	}
	payments, err := st.Payments(ctx, c.ID)
	if err != nil {
		return err
	}
	for _, p := range payments {
		refunded := ""
		if p.AmountRefunded > 0 {
			refunded = fmt.Sprintf(", %s refunded", paidup.Money{Amount: p.AmountRefunded, Currency: p.Amount.Currency})
		}
		fmt.Fprintf(stdout, "payment %s: %s for %s (%s), paid %s — %s%s\n", p.ID, p.Amount, p.PlanID, orDash(p.CheckoutReference),
			p.PaidAt.Format(time.RFC3339), p.State(), refunded)
	}
	emails, err := st.Emails(ctx, c.ID)
	if err != nil {
		return err
	}
	for _, e := range emails {
		fmt.Fprintf(stdout, "email %s: %s to %s, queued %s — %s\n", e.ID, e.Kind, e.To, e.QueuedAt.Format(time.RFC3339), e.Status)
	}
	log, err := svc.AuditLog(ctx, c.ID, 0, 10)
	if err != nil {
		return err
	}
	for _, e := range log {
		fmt.Fprintf(stdout, "audit %s by %s: %s — %s\n", e.At.Format(time.RFC3339), e.Actor, e.Action, e.Outcome)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// supportService is the support service for a command that changes
// paidup's records beside a running paidup, with processor for the
// actions that ask it (nil: none).
func supportService(cfg *config.Config, st *store.Store, processor paidup.Processor) *support.Service {
	outbox := &notify.Outbox{OnCall: cfg.OnCall.Emails, SignInLimit: cfg.Accounts.SignInLinks, SignInWindow: cfg.Accounts.SignInLinksWindow.D()}
	log := slog.New(slog.DiscardHandler)
	life := &lifecycle.Service{Store: st, Policy: &cfg.Policy, Notify: outbox, Logger: log}
	svc := &support.Service{Store: st, Policy: &cfg.Policy, Notify: outbox, Lifecycle: life}
	if processor == nil {
		return svc
	}
	life.Processor = processor
	svc.Checkout = &checkout.Service{Store: st, Processor: processor, Policy: &cfg.Policy, Notify: outbox, Logger: log,
		StatementSuffix: cfg.Processor.StatementSuffix()}
	svc.Reconciler = &reconcile.Reconciler{Store: st, Checkout: svc.Checkout, Lifecycle: life, Notify: outbox, Logger: log,
		Schedule: durations(cfg.Reconciler.Recheck)}
	if r, ok := processor.(support.Refunder); ok {
		svc.Refunds = r
	}
	return svc
}

// audit prints the audit log: every action people took on customers.
func audit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("paidup audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f commonFlags
	f.register(fs, getenv, "config", "database-url", "sandbox-database-url")
	who := fs.String("customer", "", "only this customer's: paidup's id (cu_…), their email address, or a reference of theirs (PU-…)")
	limit := fs.Int("limit", 50, "at most this many entries, newest first")
	before := fs.Int64("before", 0, "only entries older than this one (its number, as listed): the next page")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *limit <= 0 || *limit > 10000 || *before < 0 {
		return usageError{"--limit must be between 1 and 10000, and --before not negative"}
	}
	cfg, err := f.load(io.Discard)
	if err != nil {
		return err
	}
	db, st, err := openChangingStore(ctx, cfg, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := supportService(cfg, st, nil)
	customerID := ""
	if *who != "" {
		c, err := svc.Customer(ctx, *who)
		if err != nil {
			return err
		}
		customerID = c.ID
	}
	log, err := svc.AuditLog(ctx, customerID, *before, *limit)
	if err != nil {
		return err
	}
	if len(log) == 0 {
		fmt.Fprintln(stdout, "No entries.")
	}
	for _, e := range log {
		fmt.Fprintf(stdout, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.At.Format(time.RFC3339), e.Actor, e.Action, orDash(e.CustomerID),
			orDash(e.Target), orDash(oneLine(e.Reason)), oneLine(e.Outcome))
	}
	return nil
}

// oneLine keeps a listing's entry on its line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
