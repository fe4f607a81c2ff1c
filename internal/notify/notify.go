// Package notify is what paidup tells people, by email: confirmations to
// customers and alerts to whoever is on call. Emails are queued in the
// transaction of the change that causes them and sent by a job, over SMTP,
// with retries; each has a stable Message-ID, so a resend after a crash is
// recognisably the same message.
package notify

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"golang.org/x/net/idna"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/failpoint"
	"github.com/paidup/paidup/internal/standing"
	"github.com/paidup/paidup/internal/store"
)

// Email kinds.
const (
	KindConfirmation = "confirmation" // to a customer whose payment was confirmed
	KindSignIn       = "sign_in"      // to a customer who asked for a sign-in link
	KindAlert        = "alert"        // to on-call: a support case opened
)

// Outbox queues emails in the caller's transaction. It implements
// checkout.Notifier.
type Outbox struct {
	// OnCall are the addresses alerts go to.
	OnCall []string
	// Templates, if set, are checked for a lifecycle email's template
	// when it is queued.
	Templates *Templates
	// SignInLimit sign-in links a customer may ask for in each
	// SignInWindow; zero: DefaultSignInLimit and DefaultSignInWindow.
	SignInLimit  int
	SignInWindow time.Duration
}

var _ checkout.Notifier = (*Outbox)(nil)

// QueueConfirmation queues a grant's confirmation email, once per grant.
func (o *Outbox) QueueConfirmation(ctx context.Context, tx *store.Tx, c checkout.Confirmation) error {
	data := map[string]string{
		"grant": c.Grant.ID, "reference": c.Reference, "plan": c.Grant.PlanID, "tier": c.Grant.Tier,
		"amount": strconv.FormatInt(c.Amount.Amount, 10), "currency": c.Amount.Currency,
	}
	if !c.Grant.End.IsZero() {
		data["until"] = c.Grant.End.Format(time.RFC3339)
	}
	if c.Grant.Source == paidup.SourceSubscription && !c.Grant.End.IsZero() {
		// A subscription's grant outlasts its period by a leeway; the
		// renewal is at the period's end.
		data["period_end"] = c.Grant.End.Add(-checkout.SubscriptionLeeway).Format(time.RFC3339)
	}
	return queue(ctx, tx, store.Email{
		DedupeKey: "confirmation:" + c.Grant.ID, CustomerID: c.Grant.CustomerID, Kind: KindConfirmation, To: c.Email, Data: data,
	}, c.Reference)
}

// Sign-in links a customer may ask for by default, each window.
const (
	DefaultSignInLimit  = 3
	DefaultSignInWindow = 10 * time.Minute
)

// QueueSignIn queues a sign-in link for a customer who asked for one: a
// new link each time, up to SignInLimit in each SignInWindow (of the
// business clock, from the hour), so the form cannot be used to flood an
// inbox. It reports whether one was queued.
func (o *Outbox) QueueSignIn(ctx context.Context, tx *store.Tx, customerID, email string) (bool, error) {
	limit, window := o.signInLimits()
	start := tx.Now().Truncate(window).Format(time.RFC3339)
	for slot := range limit {
		created, err := queueNew(ctx, tx, store.Email{
			DedupeKey: fmt.Sprintf("sign_in:%s:%s:%d", customerID, start, slot), CustomerID: customerID, Kind: KindSignIn, To: email,
		}, "")
		if err != nil || created {
			return created, err
		}
	}
	return false, nil
}

func (o *Outbox) signInLimits() (int, time.Duration) {
	limit, window := o.SignInLimit, o.SignInWindow
	if limit <= 0 {
		limit = DefaultSignInLimit
	}
	if window <= 0 {
		window = DefaultSignInWindow
	}
	return limit, window
}

// OpenCase opens a support case, once, puts it on the customer's timeline
// and alerts everyone on call.
func (o *Outbox) OpenCase(ctx context.Context, tx *store.Tx, c paidup.SupportCase) error {
	return o.openCase(ctx, tx, c, KindAlert, func(sc paidup.SupportCase) map[string]string {
		return map[string]string{"case": sc.ID, "kind": c.Kind, "summary": c.Summary, "reference": c.Reference,
			"payment": c.PaymentID, "opened": sc.CreatedAt.Format(time.RFC3339)}
	})
}

// openCase opens a support case, once, puts it on the customer's timeline
// and emails everyone on call an email of kind, with data about the case.
func (o *Outbox) openCase(ctx context.Context, tx *store.Tx, c paidup.SupportCase, kind string, data func(paidup.SupportCase) map[string]string) error {
	sc, created, err := tx.OpenCase(ctx, c)
	if err != nil || !created {
		return err
	}
	if err := tx.Append(ctx, paidup.TimelineEntry{CustomerID: c.CustomerID, Reference: c.Reference, Kind: paidup.EventSupportCase,
		Source: paidup.BySystem, Summary: "Support case opened: " + c.Summary,
		Data: map[string]string{"case": sc.ID, "kind": c.Kind, "payment": c.PaymentID}}); err != nil {
		return err
	}
	for _, addr := range o.OnCall {
		err := queue(ctx, tx, store.Email{
			DedupeKey: "alert:" + sc.ID + ":" + addr, CustomerID: c.CustomerID, Kind: kind, To: addr, Data: data(sc),
		}, c.Reference)
		if err != nil {
			return err
		}
	}
	return o.tellCustomer(ctx, tx, sc)
}

// queue records an email and enqueues its sending job, unless an email
// with the same dedupe key exists.
func queue(ctx context.Context, tx *store.Tx, e store.Email, ref string) error {
	_, err := queueNew(ctx, tx, e, ref)
	return err
}

// queueNew is queue, reporting whether the email is new.
func queueNew(ctx context.Context, tx *store.Tx, e store.Email, ref string) (bool, error) {
	_, created, err := queueEmail(ctx, tx, e, ref)
	return created, err
}

// queueEmail is queue, returning the email and whether it is new.
func queueEmail(ctx context.Context, tx *store.Tx, e store.Email, ref string) (store.Email, bool, error) {
	em, created, err := tx.QueueEmail(ctx, e)
	if err != nil || !created {
		return em, false, err
	}
	if err := tx.Enqueue(ctx, SendArgs{EmailID: em.ID}, nil); err != nil {
		return em, false, err
	}
	return em, true, tx.Append(ctx, paidup.TimelineEntry{CustomerID: e.CustomerID, Reference: ref, Kind: paidup.EventEmail, Source: paidup.BySystem,
		Summary: fmt.Sprintf("%s email queued to %s", describeKind(e.Kind), e.To), Data: map[string]string{"email": em.ID}})
}

func describeKind(kind string) string {
	switch kind {
	case KindConfirmation:
		return "Confirmation"
	case KindSignIn:
		return "Sign-in link"
	case KindAlert:
		return "On-call alert"
	case KindPaymentFailed:
		return "Payment failed"
	case KindPaymentReminder:
		return "Payment reminder"
	case KindPaymentFinalReminder:
		return "Final payment reminder"
	case KindGraceEnded:
		return "Grace ended"
	case KindWelcomeBack:
		return "Welcome back"
	case KindDisputeAlert:
		return "Dispute alert"
	case KindCaseOpened:
		return "Case opened"
	case KindCaseAnswered:
		return "Case answered"
	case KindCancellation:
		return "Cancellation confirmed"
	case KindResumed:
		return "Subscription resumed"
	case KindRenewalReceipt:
		return "Renewal receipt"
	case KindAccessOnHold:
		return "Access on hold"
	case KindAccessRestored:
		return "Hold lifted"
	case KindRefundIssued:
		return "Refund issued"
	case KindSubscriptionEnded:
		return "Subscription ended"
	case KindOnCallAlert:
		return "On-call page"
	case KindOnCallDigest:
		return "On-call digest"
	case KindHelpAccess:
		return "Help answered: access"
	case KindHelpReceived:
		return "Help request received"
	case KindCaseReply:
		return "Reply"
	}
	return kind
}

// toOnCall reports whether a kind's emails go to on-call, whose failure
// alerts nobody further.
func toOnCall(kind string) bool {
	return kind == KindAlert || kind == KindDisputeAlert || kind == KindOnCallAlert || kind == KindOnCallDigest
}

// SendArgs is the job that sends one queued email.
type SendArgs struct {
	EmailID string `json:"email_id"`
}

// Kind names the job.
func (SendArgs) Kind() string { return "send_email" }

// InsertOpts: about five hours of retries with River's backoff.
func (SendArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 10} }

// Sender is the job worker that sends queued emails.
type Sender struct {
	river.WorkerDefaults[SendArgs]
	Store  *store.Store
	Mailer Mailer
	Policy *paidup.Policy
	Outbox *Outbox
	Logger *slog.Logger
	// From is the From: of every email but the kinds FromByKind names.
	From       string
	FromByKind map[string]string
	Business   string
	// SupportEmail is where customers write, and the Reply-To: of every
	// email but a case's reply with an InboundDomain.
	SupportEmail string
	// ReplyWithin is how soon a person answers: "one business day".
	ReplyWithin string
	PublicURL   string
	// InboundDomain is the domain of the reply addresses a case's reply
	// carries as its Reply-To (reply+TOKEN@domain), which paidup's
	// inbound mail takes into the case's thread; empty: a reply's
	// Reply-To is SupportEmail, and its web link the way back.
	InboundDomain string
	// LinkTTL is how long a sign-in link works.
	LinkTTL time.Duration
	// CardLinkAfter is how long the card link in a lifecycle email works
	// after the grace ends (or after it is sent, with no grace ahead);
	// zero means 7 days.
	CardLinkAfter time.Duration
	// Templates are the email templates; nil means the built-in ones.
	Templates *Templates
	// Now is the business clock, by which an email says what is true of
	// a purchase and previews are dated; nil means time.Now.
	Now func() time.Time
}

// Work sends the email. It records the attempt before handing the message
// to the server, and the success after; a crash in between makes a retry
// resend the same message with the same Message-ID.
func (s *Sender) Work(ctx context.Context, job *river.Job[SendArgs]) error {
	e, err := s.Store.Email(ctx, job.Args.EmailID)
	if err != nil {
		return err
	}
	if e.Status == store.EmailSent {
		return nil
	}
	// The attempt, and the fresh sign-in link the message carries, are
	// recorded in one transaction.
	var link links
	err = s.Store.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.SetEmailStatus(ctx, e.ID, store.EmailSending, ""); err != nil {
			return err
		}
		if needsSignIn(e) {
			token, err := tx.CreateSignInLink(ctx, e.CustomerID, s.LinkTTL)
			if err != nil {
				return err
			}
			link.signIn = s.PublicURL + "/account/sign-in?token=" + token
		}
		if carriesCardLink(e.Kind) && e.Data["processor_customer"] != "" {
			link.cardExpires = s.cardLinkExpiry(e, tx.Now())
			token, err := tx.CreateCardLink(ctx, store.CardLink{CustomerID: e.CustomerID, Processor: e.Data["processor"],
				ProcessorCustomerID: e.Data["processor_customer"], ExpiresAt: link.cardExpires}, e.ID)
			if err != nil {
				return err
			}
			link.card = s.PublicURL + "/card/" + token
		}
		if e.Kind == KindCaseReply {
			token, err := tx.CreateReplyToken(ctx, e.Data["case"], e.ID)
			if err != nil {
				return err
			}
			link.replyURL, link.replyAddress = s.replyLinks(token)
		}
		return nil
	})
	if err != nil {
		return err
	}
	failpoint.Inject("email.before_send")
	if e.Kind == KindConfirmation {
		if link.purchase, err = s.purchaseNow(ctx, e); err != nil {
			return err
		}
	}
	msg, err := s.compose(ctx, e, link)
	if err != nil {
		return fmt.Errorf("composing email %s: %w", e.ID, err)
	}
	if err := s.Mailer.Send(ctx, msg); err != nil {
		return s.failed(ctx, job, e, err)
	}
	failpoint.Inject("email.after_send")
	err = s.Store.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.SetEmailStatus(ctx, e.ID, store.EmailSent, ""); err != nil {
			return err
		}
		return tx.Append(ctx, paidup.TimelineEntry{CustomerID: e.CustomerID, Reference: e.Data["reference"], Kind: paidup.EventEmail,
			Source: paidup.BySystem, Summary: fmt.Sprintf("%s email sent to %s", describeKind(e.Kind), e.To),
			Data: map[string]string{"email": e.ID, "attempt": strconv.Itoa(job.Attempt)}})
	})
	if err != nil {
		return err
	}
	failpoint.Inject("email.after_record")
	return nil
}

// failed records a failed attempt on the timeline. After the last attempt
// the email is failed for good and, for a customer's email, a support case
// alerts on-call.
func (s *Sender) failed(ctx context.Context, job *river.Job[SendArgs], e store.Email, sendErr error) error {
	final := job.Attempt >= job.MaxAttempts
	status := store.EmailQueued
	if final {
		status = store.EmailFailed
	}
	err := s.Store.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.SetEmailStatus(ctx, e.ID, status, sendErr.Error()); err != nil {
			return err
		}
		summary := fmt.Sprintf("%s email to %s failed (attempt %d of %d); will retry: %v", describeKind(e.Kind), e.To, job.Attempt, job.MaxAttempts, sendErr)
		if final {
			summary = fmt.Sprintf("%s email to %s failed for good after %d attempts: %v", describeKind(e.Kind), e.To, job.Attempt, sendErr)
		}
		if err := tx.Append(ctx, paidup.TimelineEntry{CustomerID: e.CustomerID, Reference: e.Data["reference"], Kind: paidup.EventEmail,
			Source: paidup.BySystem, Summary: summary, Data: map[string]string{"email": e.ID}}); err != nil {
			return err
		}
		if final && !toOnCall(e.Kind) {
			return s.Outbox.OpenCase(ctx, tx, paidup.SupportCase{
				DedupeKey: paidup.EmailFailedKey(e.ID), CustomerID: e.CustomerID, Reference: e.Data["reference"], Kind: paidup.CaseEmailFailed,
				Summary: fmt.Sprintf("The %s email to %s could not be delivered: %v", strings.ToLower(describeKind(e.Kind)), e.To, sendErr),
			})
		}
		return nil
	})
	s.Logger.Warn("sending email failed", "email", e.ID, "kind", e.Kind, "attempt", job.Attempt, "final", final, "err", sendErr)
	if final {
		return river.JobCancel(errors.Join(sendErr, err))
	}
	return errors.Join(sendErr, err)
}

//go:embed templates
var templateFiles embed.FS

// links are the links an email carries, and what is true of its purchase,
// made and read when it is sent.
type links struct {
	signIn      string // a confirmation's or sign-in email's sign-in link
	card        string // a lifecycle email's card link
	cardExpires time.Time
	// replyURL and replyAddress are a case reply's way back into the
	// case's thread: its web link, and its reply address (empty without
	// an inbound domain).
	replyURL, replyAddress string
	// purchase is how a confirmation's purchase stands as it is sent;
	// nil when it cannot be read, and the email says what was true
	// when it was queued.
	purchase *standing.Standing
}

// cardLinkExpiry is when a lifecycle email's card link stops working:
// some days after the grace ends, or after now with no grace ahead.
func (s *Sender) cardLinkExpiry(e store.Email, now time.Time) time.Time {
	after := s.CardLinkAfter
	if after <= 0 {
		after = 7 * 24 * time.Hour
	}
	base := now
	if g, err := time.Parse(time.RFC3339, e.Data["grace_ends"]); err == nil && g.After(base) {
		base = g
	}
	return base.Add(after)
}

func (s *Sender) templates() *Templates {
	if s.Templates != nil {
		return s.Templates
	}
	return builtin
}

// compose renders an email with the links it carries.
func (s *Sender) compose(ctx context.Context, e store.Email, l links) (*Message, error) {
	m, err := NewMessage(cmp.Or(s.FromByKind[e.Kind], s.From), e.To)
	if err != nil {
		return nil, err
	}
	if s.SupportEmail != "" {
		if rt, err := mail.ParseAddress(s.SupportEmail); err == nil {
			m.ReplyTo = rt.String()
		}
	}
	m.MessageID = e.ID + "@" + s.messageIDHost(m.FromAddress)
	m.Date = time.Now()
	m.Headers = map[string]string{"X-Paidup-Email": e.Kind}
	name := e.Kind
	var data any
	switch {
	case e.Kind == KindConfirmation:
		data = s.confirmation(e, l.signIn, l.purchase)
	case e.Kind == KindSignIn:
		data = confirmationData{Business: s.Business, SupportEmail: s.SupportEmail, SignInURL: l.signIn,
			AccountURL: s.PublicURL + "/account", LinkTTL: HumanDuration(s.LinkTTL)}
	case e.Kind == KindAlert:
		m.Headers["Auto-Submitted"] = "auto-generated"
		data = alertData{CaseID: e.Data["case"], Kind: e.Data["kind"], Summary: e.Data["summary"], Reference: e.Data["reference"],
			PaymentID: e.Data["payment"], Opened: e.Data["opened"], CustomerEmail: s.customerEmail(ctx, e)}
	case e.Kind == KindDisputeAlert:
		m.Headers["Auto-Submitted"] = "auto-generated"
		data = s.dispute(ctx, e)
	case e.Kind == KindOnCallAlert || e.Kind == KindOnCallDigest:
		m.Headers["Auto-Submitted"] = "auto-generated"
		data = s.onCall(e)
	case e.Kind == KindCaseOpened || e.Kind == KindCaseAnswered:
		data = s.caseData(e)
	case e.Kind == KindAccessOnHold || e.Kind == KindAccessRestored:
		data = s.hold(e)
	case e.Kind == KindRefundIssued:
		data = s.refund(e)
	case e.Kind == KindHelpAccess || e.Kind == KindHelpReceived:
		data = s.help(e, l.signIn)
	case e.Kind == KindCaseReply:
		d, err := s.reply(e, l)
		if err != nil {
			return nil, err
		}
		if l.replyAddress != "" {
			m.ReplyTo = (&mail.Address{Name: s.Business, Address: l.replyAddress}).String()
		}
		data = d
	case isLifecycle(e.Kind):
		if t := e.Data["template"]; t != "" {
			name = t
		}
		data = s.lifecycle(e, l.card, l.cardExpires)
	default:
		return nil, fmt.Errorf("unknown email kind %q", e.Kind)
	}
	return s.templates().render(m, name, data)
}

// messageIDHost is the right-hand side of paidup's Message-IDs: the host
// of the public URL, which is paidup's own, where the From domain may be
// the mail provider's or the example.com of a default configuration. An
// unusable public URL falls back to the From domain.
func (s *Sender) messageIDHost(from string) string {
	u, err := url.Parse(s.PublicURL)
	if err != nil || u.Hostname() == "" {
		return from[strings.LastIndex(from, "@")+1:]
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		return "[" + host + "]" // an IPv6 address, as a domain literal
	}
	if ascii, err := idna.Lookup.ToASCII(host); err == nil {
		return ascii
	}
	return host
}

type confirmationData struct {
	Business, SupportEmail, Reference, Amount, PlanName, TierName string
	// Until is "for good" or "until 3 December 2027": the grant's end,
	// kept for templates written before Access.
	Until string
	// Access is what the purchase gives ("Pro, renewing on 3 January
	// 2027"), Next what happens next (when it renews and how to cancel,
	// or that nothing more is charged), from the purchase's standing.
	Access, Next string
	// Ready: the purchase gives its access as the email is sent (not
	// refunded, on hold or ended since it was paid).
	Ready                          bool
	SignInURL, AccountURL, LinkTTL string
}

type alertData struct {
	CaseID, Kind, Summary, Reference, PaymentID, Opened, CustomerEmail string
}

// confirmation words a confirmation from how its purchase stands now,
// or, when that is unknown, from what was true when it was queued.
func (s *Sender) confirmation(e store.Email, signIn string, now *standing.Standing) confirmationData {
	amount, _ := strconv.ParseInt(e.Data["amount"], 10, 64)
	d := confirmationData{
		Business: s.Business, SupportEmail: s.SupportEmail, Reference: e.Data["reference"],
		Amount:   paidup.Money{Amount: amount, Currency: e.Data["currency"]}.String(),
		PlanName: e.Data["plan"], TierName: e.Data["tier"], Until: "for good",
		AccountURL: s.PublicURL + "/account", LinkTTL: HumanDuration(s.LinkTTL), SignInURL: signIn,
	}
	if p, ok := s.Policy.Plan(e.Data["plan"]); ok {
		d.PlanName = p.Name
	}
	if t, ok := s.Policy.Tier(e.Data["tier"]); ok {
		d.TierName = t.Name
	}
	if u, err := time.Parse(time.RFC3339, e.Data["until"]); err == nil {
		d.Until = "until " + u.Format("2 January 2006")
	}
	st := s.queuedStanding(e, paidup.Money{Amount: amount, Currency: e.Data["currency"]}, d.PlanName, d.TierName)
	if now != nil {
		st = *now
	}
	switch st.State {
	case standing.In, standing.Renewing, standing.CancelledUntil, standing.InGrace:
		d.Ready = true
	}
	d.Access, d.Next = st.Access(), st.Next()
	return d
}

// queuedStanding is how a confirmation's purchase stood when it was
// queued: granted, as its data says.
func (s *Sender) queuedStanding(e store.Email, amount paidup.Money, planName, tierName string) standing.Standing {
	g := paidup.Grant{PlanID: e.Data["plan"], Tier: e.Data["tier"], Source: paidup.SourcePurchase}
	f := standing.Facts{TierName: tierName, Granted: true, ReplyWithin: s.ReplyWithin, Now: s.now()}
	if u, err := time.Parse(time.RFC3339, e.Data["until"]); err == nil {
		g.End = u
	}
	if pe, err := time.Parse(time.RFC3339, e.Data["period_end"]); err == nil {
		f.PeriodEnd, g.Source = pe, paidup.SourceSubscription
	}
	f.Plan, f.Grant = checkout.PlanOf(s.Policy, g, amount), g
	f.Plan.Name = planName
	st := standing.Of(f)
	if st.State == standing.Ended {
		// Queued for a term that has ended since: say what was bought.
		st.State, st.Until = standing.In, g.End
	}
	return st
}

// purchaseNow is how a confirmation's purchase stands now, read from the
// store; nil when its grant is not found.
func (s *Sender) purchaseNow(ctx context.Context, e store.Email) (*standing.Standing, error) {
	g, found, err := s.Store.Grant(ctx, e.Data["grant"])
	if err != nil || !found {
		return nil, err
	}
	processor, id, _ := strings.Cut(g.SourceRef, ":")
	p, _, err := s.Store.Payment(ctx, processor, id)
	if err != nil {
		return nil, err
	}
	amount, _ := strconv.ParseInt(e.Data["amount"], 10, 64)
	f, err := checkout.PurchaseFacts(ctx, s.Store, s.Policy, checkout.PlanOf(s.Policy, g, paidup.Money{Amount: amount, Currency: e.Data["currency"]}),
		g, p.Status, s.now())
	if err != nil {
		return nil, err
	}
	f.ReplyWithin = s.ReplyWithin
	st := standing.Of(f)
	return &st, nil
}

// HumanDuration writes a duration for people: "24 hours", "7 days".
func HumanDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return strconv.Itoa(int(d/(24*time.Hour))) + " days"
	case d >= time.Hour && d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + " hours"
	}
	return d.String()
}
