package notify_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/mailbox"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sandbox/sandboxtest"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

// hostile is a plan name written to break out of the Subject header and
// into the HTML.
const hostile = "Pro\r\nBcc: victim@example.com\r\n\r\n<script>alert(1)</script>"

var (
	proAnnual = paidup.Plan{ID: "pro-annual", Name: "Pro, one year", Tier: "pro", PriceID: "price_pro_annual",
		Amount: paidup.Money{Amount: 24900, Currency: "usd"}, Interval: paidup.Once, Term: paidup.Term{N: 1, Unit: 'y'}}
	hostilePlan = paidup.Plan{ID: "hostile", Name: hostile, Tier: "pro", PriceID: "price_hostile",
		Amount: paidup.Money{Amount: 100, Currency: "usd"}, Interval: paidup.Once}
	policy = paidup.Policy{
		Tiers: []paidup.Tier{{ID: "pro", Name: "Pro", Rank: 20}},
		Plans: []paidup.Plan{proAnnual, hostilePlan},
	}
	onCall = []string{"oncall@example.com"}
	t0     = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
)

// publicURL is paidup's address; its host names paidup's Message-IDs,
// not the From domain (hello@paidup.test).
const publicURL = "http://shop.paidup.test:8080"

// countingMailer counts the messages handed to the mail server.
type countingMailer struct {
	notify.Mailer
	sends atomic.Int32
}

func (m *countingMailer) Send(ctx context.Context, msg *notify.Message) error {
	m.sends.Add(1)
	return m.Mailer.Send(ctx, msg)
}

type testBundle struct {
	db     *sqldb.DB
	store  *store.Store
	clock  *sandboxtest.Clock
	outbox *notify.Outbox
	sender *notify.Sender
	mailer *countingMailer
	mb     *mailbox.Mailbox
	// smtpURL is the local mailbox's SMTP server.
	smtpURL string
}

// setup queues emails on a fresh database of engine and sends them through
// the real SMTP mailer to the local mailbox on a loopback port.
func setup(t *testing.T, engine sqldb.Engine) *testBundle {
	t.Helper()
	ctx := context.Background()
	db := sqldbtest.Open(t, engine)
	_, err := db.Migrate(ctx, store.Migrations)
	require.NoError(t, err)
	_, err = queue.Migrate(ctx, db)
	require.NoError(t, err)
	b := &testBundle{db: db, clock: sandboxtest.NewClock(t0), outbox: &notify.Outbox{OnCall: onCall}}
	b.store, err = store.New(db, b.clock.Now)
	require.NoError(t, err)

	log := slog.New(slog.DiscardHandler)
	b.mb, err = mailbox.Open(ctx, db, log)
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- b.mb.Serve(l) }()
	t.Cleanup(func() {
		b.mb.Close()
		require.NoError(t, <-served)
	})
	b.smtpURL = "smtp://" + l.Addr().String()
	smtp, err := notify.NewSMTP(b.smtpURL)
	require.NoError(t, err)
	smtp.Timeout = 10 * time.Second
	b.mailer = &countingMailer{Mailer: smtp}
	b.sender = &notify.Sender{
		Store: b.store, Mailer: b.mailer, Policy: &policy, Outbox: b.outbox, Logger: log,
		From: "Test Community <hello@paidup.test>", Business: "Test Community", SupportEmail: "help@paidup.test",
		PublicURL: publicURL, LinkTTL: 24 * time.Hour,
	}
	return b
}

// mailServerDown makes the sender use a mail server nothing answers for.
func (b *testBundle) mailServerDown(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	down, err := notify.NewSMTP("smtp://" + addr)
	require.NoError(t, err)
	b.mailer.Mailer = down
}

// confirmation grants a plan to a new customer and queues its
// confirmation, as fulfilment does.
func (b *testBundle) confirmation(t *testing.T, plan paidup.Plan, email string) store.Email {
	t.Helper()
	ctx := context.Background()
	var customerID string
	require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if customerID, _, err = tx.MatchCustomer(ctx, "stripe", "", email); err != nil {
			return err
		}
		g := paidup.Grant{CustomerID: customerID, Tier: plan.Tier, PlanID: plan.ID, Source: paidup.SourcePurchase,
			SourceRef: "stripe:pi_" + email, Start: tx.Now()}
		if !plan.Term.IsZero() {
			g.End = plan.Term.AddTo(g.Start)
		}
		if g, _, err = tx.InsertGrant(ctx, g); err != nil {
			return err
		}
		return b.outbox.QueueConfirmation(ctx, tx, checkout.Confirmation{Grant: g, Email: email, Reference: "PU-7K3M-Q9XD", Amount: plan.Amount})
	}))
	emails, err := b.store.Emails(ctx, customerID)
	require.NoError(t, err)
	require.Len(t, emails, 1)
	return emails[0]
}

func job(emailID string, attempt, maxAttempts int) *river.Job[notify.SendArgs] {
	return &river.Job[notify.SendArgs]{
		JobRow: &rivertype.JobRow{Kind: notify.SendArgs{}.Kind(), Attempt: attempt, MaxAttempts: maxAttempts},
		Args:   notify.SendArgs{EmailID: emailID},
	}
}

func (b *testBundle) email(t *testing.T, id string) store.Email {
	t.Helper()
	e, err := b.store.Email(context.Background(), id)
	require.NoError(t, err)
	return e
}

func (b *testBundle) timeline(t *testing.T, customerID string) []string {
	t.Helper()
	entries, err := b.store.Timeline(context.Background(), customerID, "")
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Summary)
	}
	return out
}

func (b *testBundle) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.db.Read.QueryRow(query, args...).Scan(&n))
	return n
}

// received is a message as the mailbox stored it, parsed.
type received struct {
	envelopeTo string
	header     mail.Header
	subject    string
	text, html string
}

func (b *testBundle) inbox(t *testing.T, to string) []received {
	t.Helper()
	msgs, err := b.mb.Messages(context.Background(), to, 100)
	require.NoError(t, err)
	var out []received
	for _, m := range msgs {
		out = append(out, parse(t, m.To, m.Raw))
	}
	return out
}

// parse reads a MIME message as a mail client would.
func parse(t *testing.T, envelopeTo string, raw []byte) received {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	require.NoError(t, err)
	r := received{envelopeTo: envelopeTo, header: msg.Header}
	r.subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	require.NoError(t, err)
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/alternative", mediaType)
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var types []string
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		body, err := io.ReadAll(p) // quoted-printable is decoded by the reader
		require.NoError(t, err)
		ct, ctParams, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		require.NoError(t, err)
		require.Equal(t, "utf-8", ctParams["charset"])
		types = append(types, ct)
		switch ct {
		case "text/plain":
			r.text = string(body)
		case "text/html":
			r.html = string(body)
		}
	}
	require.Equal(t, []string{"text/plain", "text/html"}, types)
	return r
}

var signInLink = regexp.MustCompile(regexp.QuoteMeta(publicURL) + `/account/sign-in\?token=([A-Za-z0-9_-]+)`)

func TestSendConfirmation(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		e := b.confirmation(t, proAnnual, "ada@example.com")
		require.Equal(t, store.EmailQueued, e.Status)
		now := b.clock.Advance(time.Minute)

		require.NoError(t, b.sender.Work(ctx, job(e.ID, 1, 10)))
		require.Equal(t, int32(1), b.mailer.sends.Load())
		sent := b.email(t, e.ID)
		require.Equal(t, store.EmailSent, sent.Status)
		require.Equal(t, now, sent.SentAt)
		require.Equal(t, 1, sent.Attempts)
		require.Empty(t, sent.LastError)
		require.Contains(t, b.timeline(t, e.CustomerID), "Confirmation email sent to ada@example.com")

		inbox := b.inbox(t, "ada@example.com")
		require.Len(t, inbox, 1)
		m := inbox[0]
		require.Equal(t, "ada@example.com", m.envelopeTo)
		require.Equal(t, "<"+e.ID+"@shop.paidup.test>", m.header.Get("Message-ID"),
			"the email's id is its Message-ID, on the host of the public URL")
		require.Regexp(t, `^<em_[0-9a-z]+@shop\.paidup\.test>$`, m.header.Get("Message-ID"))
		require.Equal(t, "You're in: Pro, one year (PU-7K3M-Q9XD)", m.subject)
		from, err := m.header.AddressList("From")
		require.NoError(t, err)
		require.Equal(t, []*mail.Address{{Name: "Test Community", Address: "hello@paidup.test"}}, from)
		to, err := m.header.AddressList("To")
		require.NoError(t, err)
		require.Equal(t, []*mail.Address{{Address: "ada@example.com"}}, to)
		_, err = m.header.Date()
		require.NoError(t, err)
		require.Equal(t, "1.0", m.header.Get("MIME-Version"))
		require.Equal(t, notify.KindConfirmation, m.header.Get("X-Paidup-Email"))
		require.Contains(t, m.text, "Your payment of $249.00 for Pro, one year went through")
		require.Contains(t, m.text, "What you have: Pro, until 23 November 2027.")
		require.Contains(t, m.text, "PU-7K3M-Q9XD")
		require.Contains(t, m.html, "<b>$249.00</b>")
		require.NotContains(t, m.text, "\r\n\r\n\r\n", "lines end in CRLF once")

		// The link in the email signs the customer in, once.
		links := signInLink.FindAllStringSubmatch(m.text, -1)
		require.Len(t, links, 1, m.text)
		require.Contains(t, m.html, `href="`+links[0][0]+`"`, "the button carries the same link")
		session, customerID, err := b.store.UseSignInLink(ctx, links[0][1], time.Hour)
		require.NoError(t, err)
		require.Equal(t, e.CustomerID, customerID)
		require.NotEmpty(t, session)
		_, _, err = b.store.UseSignInLink(ctx, links[0][1], time.Hour)
		require.Equal(t, paidup.EUNAUTHORIZED, paidup.ErrorCode(err), "a sign-in link works once")

		// Worked again (a retried job), a sent email is not sent again.
		require.NoError(t, b.sender.Work(ctx, job(e.ID, 2, 10)))
		require.Equal(t, int32(1), b.mailer.sends.Load())
		require.Equal(t, 1, b.email(t, e.ID).Attempts)
		require.Len(t, b.inbox(t, ""), 1)
	})
}

// A hostile plan name cannot add headers or recipients, nor script the HTML.
func TestSendResistsHeaderInjection(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		e := b.confirmation(t, hostilePlan, "ada@example.com")
		require.NoError(t, b.sender.Work(ctx, job(e.ID, 1, 10)))

		require.Empty(t, b.inbox(t, "victim@example.com"))
		all := b.inbox(t, "")
		require.Len(t, all, 1)
		m := all[0]
		require.Equal(t, "ada@example.com", m.envelopeTo)
		var keys []string
		for k := range m.header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		require.Equal(t, []string{"Content-Type", "Date", "From", "Message-Id", "Mime-Version", "Reply-To", "Subject", "To", "X-Paidup-Email"}, keys)
		require.Contains(t, m.subject, "Bcc: victim@example.com", "the name is kept, as text")
		require.NotContains(t, m.html, "<script>")
		require.Contains(t, m.html, "&lt;script&gt;")
	})
}

// With the mail server down, a send fails, stays queued with its error and
// is retried; after the last attempt it fails for good and a person is
// alerted — unless it was itself an alert.
func TestSendFailures(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		e := b.confirmation(t, proAnnual, "ada@example.com")
		b.mailServerDown(t)

		for attempt := 1; attempt < 10; attempt++ {
			err := b.sender.Work(ctx, job(e.ID, attempt, 10))
			require.Error(t, err)
			var cancel *river.JobCancelError
			require.False(t, errors.As(err, &cancel), "not the last attempt: River retries")
			got := b.email(t, e.ID)
			require.Equal(t, store.EmailQueued, got.Status)
			require.Equal(t, attempt, got.Attempts)
			require.Contains(t, got.LastError, "connecting to mail server")
		}
		timeline := b.timeline(t, e.CustomerID)
		require.Contains(t, timeline[len(timeline)-1], "Confirmation email to ada@example.com failed (attempt 9 of 10); will retry: ")
		require.Zero(t, b.count(t, `SELECT count(*) FROM support_cases`))

		err := b.sender.Work(ctx, job(e.ID, 10, 10))
		var cancel *river.JobCancelError
		require.ErrorAs(t, err, &cancel, "the last attempt: River stops")
		got := b.email(t, e.ID)
		require.Equal(t, store.EmailFailed, got.Status)
		require.Equal(t, 10, got.Attempts)
		cases, err := b.store.OpenCases(ctx)
		require.NoError(t, err)
		require.Len(t, cases, 1)
		require.Equal(t, paidup.CaseEmailFailed, cases[0].Kind)
		require.Equal(t, e.CustomerID, cases[0].CustomerID)
		require.Equal(t, "PU-7K3M-Q9XD", cases[0].Reference)
		timeline = b.timeline(t, e.CustomerID)
		require.Equal(t, 1, countPrefix(timeline, "Confirmation email to ada@example.com failed for good after 10 attempts"), "%q", timeline)
		require.Equal(t, 1, countPrefix(timeline, "Support case opened: The confirmation email to ada@example.com could not be delivered"))
		alerts, err := b.store.Emails(ctx, e.CustomerID)
		require.NoError(t, err)
		var alert store.Email
		for _, a := range alerts {
			if a.Kind == notify.KindAlert {
				require.Empty(t, alert.ID, "one alert")
				alert = a
			}
		}
		require.Equal(t, onCall[0], alert.To)
		require.Equal(t, cases[0].ID, alert.Data["case"])

		// The alert cannot be sent either; its failure opens no case.
		for attempt := 1; attempt <= 10; attempt++ {
			require.Error(t, b.sender.Work(ctx, job(alert.ID, attempt, 10)))
		}
		require.Equal(t, store.EmailFailed, b.email(t, alert.ID).Status)
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM support_cases`))
		require.Equal(t, 2, b.count(t, `SELECT count(*) FROM emails`))

		// The mail server is back: the alert goes out to on-call.
		b.mailer.Mailer, err = notify.NewSMTP(b.smtpURL)
		require.NoError(t, err)
		require.NoError(t, b.sender.Work(ctx, job(alert.ID, 1, 10)))
		inbox := b.inbox(t, onCall[0])
		require.Len(t, inbox, 1)
		require.Equal(t, "auto-generated", inbox[0].header.Get("Auto-Submitted"))
		require.Contains(t, inbox[0].subject, "[paidup] Needs a person: The confirmation email to ada@example.com could not be delivered")
		require.Contains(t, inbox[0].text, "Customer:  ada@example.com")
	})
}

func countPrefix(ss []string, prefix string) int {
	n := 0
	for _, s := range ss {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

// Asking for sign-in links again and again sends a new one each time, up
// to three in each ten minutes (from the hour), then none until the next
// window: the form cannot flood an inbox, and never sends nothing for long.
func TestQueueSignInLimits(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		var customerID string
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			var err error
			customerID, _, err = tx.MatchCustomer(ctx, "stripe", "", "ada@example.com")
			return err
		}))
		ask := func() bool {
			t.Helper()
			var queued bool
			require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
				var err error
				queued, err = b.outbox.QueueSignIn(ctx, tx, customerID, "ada@example.com")
				return err
			}))
			return queued
		}
		signIns := func() int {
			t.Helper()
			return b.count(t, `SELECT count(*) FROM emails WHERE kind = 'sign_in' AND customer_id = $1`, customerID)
		}
		for i, after := range []time.Duration{0, time.Second, 5 * time.Minute, 10*time.Minute - time.Second} {
			b.clock.Set(t0.Add(after))
			require.Equal(t, i < 3, ask(), "at %s", after)
			require.Equal(t, min(i+1, 3), signIns(), "at %s", after)
		}
		b.clock.Set(t0.Add(10 * time.Minute))
		require.True(t, ask(), "a new window")
		require.Equal(t, 4, signIns())
		res, err := queue.NewInserter(b.db)
		require.NoError(t, err)
		jobs, err := res.JobList(ctx, river.NewJobListParams().Kinds(notify.SendArgs{}.Kind()))
		require.NoError(t, err)
		require.Len(t, jobs.Jobs, 4, "one sending job per email")

		emails, err := b.store.Emails(ctx, customerID)
		require.NoError(t, err)
		require.NoError(t, b.sender.Work(ctx, job(emails[0].ID, 1, 10)))
		inbox := b.inbox(t, "ada@example.com")
		require.Len(t, inbox, 1)
		require.Equal(t, "Your sign-in link for Test Community", inbox[0].subject)
		link := signInLink.FindStringSubmatch(inbox[0].text)
		require.NotNil(t, link, inbox[0].text)

		// The link expires.
		b.clock.Advance(24*time.Hour + time.Second)
		_, _, err = b.store.UseSignInLink(ctx, link[1], time.Hour)
		require.Equal(t, paidup.EUNAUTHORIZED, paidup.ErrorCode(err))
	})
}

// The SMTP mailer signs in when its URL carries a user and password.
func TestSMTPWithCredentials(t *testing.T) {
	t.Parallel()
	b := setup(t, sqldb.SQLite)
	mailer, err := notify.NewSMTP(strings.Replace(b.smtpURL, "smtp://", "smtp://user:s3cret@", 1))
	require.NoError(t, err)
	require.Equal(t, strings.Replace(b.smtpURL, "smtp://", "smtp://user@", 1), mailer.String(), "the password stays out of logs")
	msg, err := notify.NewMessage("Test <hello@paidup.test>", "ada@example.com")
	require.NoError(t, err)
	msg.Subject, msg.MessageID, msg.Date = "Hello", "test-1@paidup.test", time.Now()
	msg.Text, msg.HTML = "Hello, Ada.\n", "<p>Hello, Ada.</p>"
	require.NoError(t, mailer.Send(context.Background(), msg))
	inbox := b.inbox(t, "ada@example.com")
	require.Len(t, inbox, 1)
	require.Equal(t, "Hello", inbox[0].subject)
	require.Equal(t, "Hello, Ada.\r\n", inbox[0].text)

	_, err = notify.NewSMTP("http://127.0.0.1:25")
	require.Error(t, err)
}

// A confirmation is worded as its purchase stands when it is sent: queued
// while the access was ready, sent after a refund, a hold or the term's
// end (the mail server was down for a while), it says what is true then.
func TestConfirmationSaysHowThePurchaseStandsWhenSent(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		for _, c := range []struct {
			name   string
			change func(t *testing.T, b *testBundle, e store.Email)
			want   string
		}{
			{"unchanged", func(*testing.T, *testBundle, store.Email) {}, "What you have: Pro, until 23 November 2027."},
			{"refunded", func(t *testing.T, b *testBundle, e store.Email) {
				require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
					if err := tx.RecordPayment(ctx, paidup.Payment{Processor: "stripe", ID: "pi_ada@example.com", CustomerID: e.CustomerID,
						PlanID: proAnnual.ID, Amount: proAnnual.Amount, Status: paidup.PaymentSucceeded, PaidAt: tx.Now()}); err != nil {
						return err
					}
					_, err := tx.SetRefunded(ctx, "stripe", "pi_ada@example.com", proAnnual.Amount.Amount)
					return err
				}))
			}, "This payment was refunded in full"},
			{"on hold", func(t *testing.T, b *testBundle, e store.Email) {
				require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
					_, _, err := tx.AddBlock(ctx, paidup.Block{CustomerID: e.CustomerID, Source: paidup.BlockStaff, Reason: "looking into it"}, "")
					return err
				}))
			}, "Your access is on hold"},
			{"term ended", func(t *testing.T, b *testBundle, e store.Email) { b.clock.Advance(366 * 24 * time.Hour) },
				"The access this purchase gave ended on 23 November 2027."},
		} {
			t.Run(c.name, func(t *testing.T) {
				b := setup(t, engine)
				b.sender.Now = b.clock.Now
				e := b.confirmation(t, proAnnual, "ada@example.com")
				c.change(t, b, e)
				require.NoError(t, b.sender.Work(ctx, job(e.ID, 1, 10)))
				inbox := b.inbox(t, "ada@example.com")
				require.Len(t, inbox, 1)
				m := inbox[0]
				require.Contains(t, m.text, c.want)
				require.Contains(t, m.text, "Your reference: PU-7K3M-Q9XD")
				if c.name == "unchanged" {
					require.Equal(t, "You're in: Pro, one year (PU-7K3M-Q9XD)", m.subject)
					return
				}
				require.Equal(t, "Your payment for Pro, one year (PU-7K3M-Q9XD)", m.subject)
				require.NotContains(t, m.text, "access is ready")
				require.NotContains(t, m.text, "What you have")
				require.NotContains(t, m.html, "You're in")
			})
		}
	})
}
