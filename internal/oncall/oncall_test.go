package oncall_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/mailbox"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/oncall"
	"github.com/paidup/paidup/internal/oncall/oncalltest"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sandbox/sandboxtest"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

// Monday 7 December 2026, 10:00 in Berlin: the week of the rotation's
// first operator... or the second; the test asks the rotation.
var t0 = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

const (
	ada = "ada@ops.example"
	bob = "bob@ops.example"
)

type testBundle struct {
	db        *sqldb.DB
	url       string
	store     *store.Store
	clock     *sandboxtest.Clock
	eval      *oncall.Evaluator
	ack       http.Handler
	mb        *mailbox.Mailbox
	discord   *oncalltest.ChatEndpoint
	slack     *oncalltest.ChatEndpoint
	customer  string
	payments  int
	rotation  oncall.Rotation
	onCall    oncall.Shift
	outbox    *notify.Outbox
	chatLimit *oncall.ChatWorker
	mailer    *refusingMailer
}

// refusingMailer is a mail server that refuses, for now, every recipient
// at one domain.
type refusingMailer struct {
	notify.Mailer
	mu     sync.Mutex
	refuse string
}

func (m *refusingMailer) refusing() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.refuse
}

func (m *refusingMailer) accept() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refuse = "@nowhere.invalid"
}

func (m *refusingMailer) Send(ctx context.Context, msg *notify.Message) error {
	if strings.HasSuffix(msg.ToAddress, m.refusing()) {
		return errors.New("451 4.3.0 try again later")
	}
	return m.Mailer.Send(ctx, msg)
}

// probeArgs is a job that calls the processor and always fails.
type probeArgs struct{}

func (probeArgs) Kind() string { return "probe_processor" }

type probeWorker struct {
	river.WorkerDefaults[probeArgs]
}

func (*probeWorker) Work(context.Context, *river.Job[probeArgs]) error {
	return errors.New("stripe: 503 Service Unavailable")
}

// NextRetry keeps a failed probe waiting while the test looks.
func (*probeWorker) NextRetry(*river.Job[probeArgs]) time.Time { return time.Now().Add(time.Hour) }

func berlin(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	return loc
}

// setup gives an evaluator over a fresh database of engine whose emails go
// through real SMTP to the local mailbox and whose chat posts go to a
// Discord and a Slack endpoint, worked by a real job queue.
func setup(t *testing.T, engine sqldb.Engine) *testBundle {
	t.Helper()
	ctx := context.Background()
	b := &testBundle{url: sqldbtest.URL(t, engine), clock: sandboxtest.NewClock(t0)}
	var err error
	b.db, err = sqldb.Open(ctx, b.url)
	require.NoError(t, err)
	t.Cleanup(func() { b.db.Close() })
	_, err = b.db.Migrate(ctx, store.Migrations)
	require.NoError(t, err)
	_, err = queue.Migrate(ctx, b.db)
	require.NoError(t, err)
	b.store, err = store.New(b.db, b.clock.Now)
	require.NoError(t, err)
	log := slog.New(slog.DiscardHandler)

	b.mb, err = mailbox.Open(ctx, b.db, log)
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- b.mb.Serve(l) }()
	t.Cleanup(func() { b.mb.Close(); <-served })
	smtp, err := notify.NewSMTP("smtp://" + l.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { smtp.Close() })

	b.discord, b.slack = oncalltest.NewChatEndpoint(t, "discord"), oncalltest.NewChatEndpoint(t, "slack")
	b.rotation = oncall.Rotation{People: []string{ada, bob}, HandoffDay: time.Monday, HandoffTime: 9 * time.Hour, Location: berlin(t)}
	b.onCall = b.rotation.At(t0)
	b.outbox = &notify.Outbox{}
	channels := []oncall.Channel{{Kind: oncall.Discord, URL: b.discord.URL()}, {Kind: oncall.Slack, URL: b.slack.URL()}}
	b.eval = &oncall.Evaluator{Store: b.store, Outbox: b.outbox, Rotation: b.rotation,
		Rules:         oncall.Rules{UnfulfilledAfter: 15 * time.Minute, ProcessorJobs: []string{probeArgs{}.Kind()}},
		EscalateAfter: 15 * time.Minute, RepeatEvery: 30 * time.Minute, DigestTime: 8 * time.Hour,
		Chat: channels, PublicURL: "https://shop.example", Logger: log}
	b.ack = (&oncall.Acknowledger{Store: b.store, Evaluator: b.eval, Logger: log}).Handler()

	workers := river.NewWorkers()
	b.mailer = &refusingMailer{Mailer: smtp, refuse: "@down.example"}
	river.AddWorker(workers, &probeWorker{})
	river.AddWorker(workers, &notify.Sender{Store: b.store, Mailer: b.mailer, Outbox: b.outbox, Logger: log, Policy: &paidup.Policy{},
		From: "paidup <oncall@shop.example>", Business: "Test Shop", PublicURL: "https://shop.example", Now: b.clock.Now})
	b.chatLimit = &oncall.ChatWorker{Channels: channels, Logger: log}
	river.AddWorker(workers, b.chatLimit)
	jobs, err := queue.New(b.db, queue.Config{ID: "test", Workers: workers, Logger: log, PollInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	b.store.UseQueue(jobs)
	qctx, cancel := context.WithCancel(ctx)
	require.NoError(t, jobs.Start(qctx))
	t.Cleanup(func() {
		stop, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		jobs.Stop(stop)
		cancel()
	})
	require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
		b.customer, _, err = tx.MatchCustomer(ctx, "stripe", "cus_1", "ada.customer@example.com")
		return err
	}))
	return b
}

// pay records n payments that succeeded now, with nothing granted.
func (b *testBundle) pay(t *testing.T, n int) []string {
	t.Helper()
	var ids []string
	require.NoError(t, b.store.InTx(context.Background(), func(tx *store.Tx) error {
		for range n {
			b.payments++
			id := "pi_" + strings.Repeat("0", 3) + string(rune('a'+b.payments%26)) + time.Duration(b.payments).String()
			ids = append(ids, id)
			if err := tx.RecordPayment(context.Background(), paidup.Payment{Processor: "stripe", ID: id, CustomerID: b.customer, PlanID: "pro",
				Amount: paidup.Money{Amount: 24900, Currency: "usd"}, Status: paidup.PaymentSucceeded, PaidAt: tx.Now()}); err != nil {
				return err
			}
		}
		return nil
	}))
	return ids
}

// grant settles payments, as fulfilment does.
func (b *testBundle) grant(t *testing.T, ids []string) {
	t.Helper()
	require.NoError(t, b.store.InTx(context.Background(), func(tx *store.Tx) error {
		for _, id := range ids {
			if _, _, err := tx.InsertGrant(context.Background(), paidup.Grant{CustomerID: b.customer, Tier: "pro", PlanID: "pro",
				Source: paidup.SourcePurchase, SourceRef: "stripe:" + id, Start: tx.Now()}); err != nil {
				return err
			}
		}
		return nil
	}))
}

func (b *testBundle) evaluate(t *testing.T) {
	t.Helper()
	require.NoError(t, b.eval.Evaluate(context.Background()))
}

type received struct {
	subject, text string
}

// inbox waits until to has n messages (and no more arrive for a moment)
// and returns them oldest first.
func (b *testBundle) inbox(t *testing.T, to string, n int) []received {
	t.Helper()
	var msgs []mailbox.Message
	require.Eventually(t, func() bool {
		var err error
		msgs, err = b.mb.Messages(context.Background(), to, 100)
		require.NoError(t, err)
		return len(msgs) >= n
	}, 20*time.Second, 20*time.Millisecond, "waiting for %d emails to %s", n, to)
	time.Sleep(100 * time.Millisecond)
	msgs, err := b.mb.Messages(context.Background(), to, 100)
	require.NoError(t, err)
	if len(msgs) != n {
		var subjects []string
		for _, m := range msgs {
			subjects = append(subjects, m.Subject)
		}
		t.Fatalf("%d emails to %s, want %d: %q", len(msgs), to, n, subjects)
	}
	out := make([]received, len(msgs))
	for i, m := range msgs {
		out[len(msgs)-1-i] = parse(t, m.Raw)
	}
	return out
}

func parse(t *testing.T, raw []byte) received {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	require.NoError(t, err)
	r := received{}
	r.subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	require.NoError(t, err)
	require.NotEmpty(t, msg.Header.Get("Message-Id"))
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		body, err := io.ReadAll(p)
		require.NoError(t, err)
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			r.text = string(body)
		}
	}
	return r
}

// chat waits until an endpoint has n messages and returns them.
func chat(t *testing.T, c *oncalltest.ChatEndpoint, n int) []string {
	t.Helper()
	require.Eventually(t, func() bool { return len(c.Messages()) >= n }, 30*time.Second, 20*time.Millisecond,
		"waiting for %d %s messages, have %q", n, c.Kind, c.Messages())
	time.Sleep(100 * time.Millisecond)
	require.Len(t, c.Messages(), n)
	return c.Messages()
}

// requireSays checks that one of the chat messages says want: an
// endpoint's rate limit may reorder them.
func requireSays(t *testing.T, messages []string, want string) {
	t.Helper()
	for _, m := range messages {
		if strings.Contains(m, want) {
			return
		}
	}
	t.Fatalf("no chat message says %q: %q", want, messages)
}

var ackLink = regexp.MustCompile(`https://shop\.example(/oncall/ack/[A-Za-z0-9_\-.]+)`)

func ackPath(t *testing.T, text string) string {
	t.Helper()
	m := ackLink.FindStringSubmatch(text)
	require.NotNil(t, m, "no acknowledgement link in %q", text)
	return m[1]
}

func (b *testBundle) do(t *testing.T, method, path string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, "https://shop.example"+path, nil)
	if method == http.MethodPost {
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	rec := httptest.NewRecorder()
	b.ack.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func (b *testBundle) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.db.Read.QueryRow(query, args...).Scan(&n))
	return n
}

// An unfulfilled payment pages whoever is on call by email and chat;
// unacknowledged, it escalates to the other operator; acknowledged from
// the signed link, the pages stop; when it clears, both are told it is
// resolved.
func TestUnfulfilledPaymentPagesEscalatesAndStopsOnAck(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		first, other := b.onCall.OnCall, b.onCall.Other
		require.ElementsMatch(t, []string{ada, bob}, []string{first, other})
		ids := b.pay(t, 1)
		b.evaluate(t)
		require.Zero(t, b.count(t, `SELECT count(*) FROM alerts`), "a payment just made is not yet an alert")

		b.clock.Advance(16 * time.Minute)
		b.evaluate(t)
		page := b.inbox(t, first, 1)[0]
		require.Contains(t, page.subject, "Critical: 1 payment succeeded more than 15m0s ago with nothing granted")
		require.Contains(t, page.text, "stripe:"+ids[0])
		require.Contains(t, page.text, "paidup check")
		require.Len(t, b.inbox(t, other, 0), 0)
		requireSays(t, chat(t, b.discord, 1), "Critical, paging "+first)
		requireSays(t, chat(t, b.slack, 1), "Acknowledge: https://shop.example/oncall/ack/")

		// Evaluated again before anything is due: nothing more.
		b.clock.Advance(time.Minute)
		b.evaluate(t)
		b.inbox(t, first, 1)

		// Not acknowledged within 15 minutes: the other operator too.
		b.clock.Advance(14 * time.Minute)
		b.evaluate(t)
		escalated := b.inbox(t, other, 1)[0]
		require.Contains(t, escalated.subject, "Escalated:")
		require.Len(t, b.inbox(t, first, 2), 2)
		requireSays(t, chat(t, b.discord, 2), "Escalated")

		// Not acknowledged 30 minutes later: both again.
		b.clock.Advance(30 * time.Minute)
		b.evaluate(t)
		require.Contains(t, b.inbox(t, other, 2)[1].subject, "Still firing:")
		b.inbox(t, first, 3)

		// The link: GET only shows the button (a link scanner does not
		// acknowledge); POST acknowledges.
		link := ackPath(t, b.inbox(t, other, 2)[1].text)
		code, body := b.do(t, http.MethodGet, link)
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, `<button type="submit">Acknowledge</button>`)
		require.Equal(t, 0, b.count(t, `SELECT count(*) FROM alerts WHERE state = 'acknowledged'`))
		code, body = b.do(t, http.MethodPost, link)
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, "Acknowledged by "+other)
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM alerts WHERE state = 'acknowledged' AND acknowledged_by = $1`, other))
		requireSays(t, chat(t, b.slack, 4), "Acknowledged by "+other)
		code, body = b.do(t, http.MethodPost, link)
		require.Equal(t, http.StatusOK, code, "pressed twice")
		require.Contains(t, body, "Already acknowledged by "+other)

		// Acknowledged: no more pages, however long it lasts, and a new
		// payment in the same trouble joins the alert without paging.
		b.pay(t, 1)
		for range 4 {
			b.clock.Advance(30 * time.Minute)
			b.evaluate(t)
		}
		b.inbox(t, first, 3)
		b.inbox(t, other, 2)
		chat(t, b.discord, 4)
		require.Equal(t, 2, b.count(t, `SELECT instances FROM alerts`))

		// The payments are granted: resolved, and both are told.
		b.grant(t, []string{ids[0], "does-not-matter"})
		b.grant(t, b.unfulfilled(t))
		b.evaluate(t)
		require.Contains(t, b.inbox(t, first, 4)[3].subject, "Resolved:")
		require.Contains(t, b.inbox(t, other, 3)[2].text, "cleared by itself")
		requireSays(t, chat(t, b.discord, 5), "Resolved")
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM alerts WHERE state = 'resolved' AND resolved_at IS NOT NULL`))

		// A resolved alert's link acknowledges nothing.
		code, body = b.do(t, http.MethodGet, link)
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, "Resolved")
		require.NotContains(t, body, "<button")
	})
}

// unfulfilled lists the payments with no grant.
func (b *testBundle) unfulfilled(t *testing.T) []string {
	t.Helper()
	rows, err := b.db.Read.Query(`SELECT payment_id FROM payments p WHERE NOT EXISTS (SELECT 1 FROM grants g WHERE g.source_ref = 'stripe:' || p.payment_id)`)
	require.NoError(t, err)
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	return ids
}

// Twelve payments in the same trouble are one alert, one page.
func TestTwelveUnfulfilledPaymentsAreOneAlert(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		b.pay(t, 12)
		b.clock.Advance(20 * time.Minute)
		b.evaluate(t)
		page := b.inbox(t, b.onCall.OnCall, 1)[0]
		require.Contains(t, page.subject, "12 payments succeeded")
		require.Equal(t, 10, strings.Count(page.text, "  - stripe:pi_"), "names the first ten")
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM alerts`))
		require.Equal(t, 12, b.count(t, `SELECT instances FROM alerts`))
		chat(t, b.discord, 1)
		chat(t, b.slack, 1)
	})
}

// An acknowledgement link that is forged, damaged, for another alert, or
// expired is refused, and acknowledges nothing.
func TestAckLinkForgedOrExpiredIsRefused(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		b.pay(t, 1)
		b.clock.Advance(20 * time.Minute)
		b.evaluate(t)
		link := ackPath(t, b.inbox(t, b.onCall.OnCall, 1)[0].text)
		token := strings.TrimPrefix(link, "/oncall/ack/")
		payload, mac, _ := strings.Cut(token, ".")
		forgedWho := strings.TrimRight(payload, "=") + "A"
		for name, path := range map[string]string{
			"mac changed":     link[:len(link)-2] + map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(link, "AA")],
			"payload changed": "/oncall/ack/" + forgedWho + "." + mac,
			"no mac":          "/oncall/ack/" + payload,
			"garbage":         "/oncall/ack/" + url.PathEscape("<script>alert(1)</script>"),
			"empty mac":       "/oncall/ack/" + payload + ".",
		} {
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				code, body := b.do(t, method, path)
				require.Equal(t, http.StatusForbidden, code, "%s %s", name, method)
				require.Contains(t, body, "not valid, or has expired", name)
				require.NotContains(t, body, "<script>alert", name)
			}
		}
		require.Zero(t, b.count(t, `SELECT count(*) FROM alerts WHERE state = 'acknowledged'`))

		// A cross-site POST of the genuine link is refused: another site
		// cannot make a browser acknowledge.
		req := httptest.NewRequest(http.MethodPost, "https://shop.example"+link, nil)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		rec := httptest.NewRecorder()
		b.ack.ServeHTTP(rec, req)
		require.Equal(t, http.StatusForbidden, rec.Code)
		require.Zero(t, b.count(t, `SELECT count(*) FROM alerts WHERE state = 'acknowledged'`))

		// Past a week the genuine link has expired.
		b.clock.Advance(oncall.AckLinkTTL + time.Minute)
		code, _ := b.do(t, http.MethodPost, link)
		require.Equal(t, http.StatusForbidden, code)
		require.Zero(t, b.count(t, `SELECT count(*) FROM alerts WHERE state = 'acknowledged'`))
	})
}

// Warnings wait for the daily digest, which both operators get once a
// day with what was seen since the last one.
func TestDigestCollectsWarningsOnceADay(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		ctx := context.Background()
		// 10:00 Berlin: past today's 08:00 digest, which had nothing.
		b.evaluate(t)
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			_, _, err := tx.OpenCase(ctx, paidup.SupportCase{DedupeKey: "email:em_1", Kind: paidup.CaseEmailFailed,
				Summary: "The confirmation email to x@example.com could not be delivered: 550 no such user"})
			return err
		}))
		b.clock.Advance(time.Hour)
		b.evaluate(t)
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM alerts WHERE severity = 'warning'`))
		require.Zero(t, b.count(t, `SELECT count(*) FROM alert_notifications`), "a warning pages nobody")
		require.Zero(t, b.count(t, `SELECT count(*) FROM emails`))

		// The next morning at 08:00 Berlin (07:00 UTC): the digest, to both.
		b.clock.Set(time.Date(2026, 12, 8, 7, 0, 0, 0, time.UTC))
		b.evaluate(t)
		b.evaluate(t)
		for _, who := range []string{ada, bob} {
			d := b.inbox(t, who, 1)[0]
			require.Equal(t, "[paidup] Daily digest: 1 warning", d.subject)
			require.Contains(t, d.text, "1 email could not be delivered")
			require.Contains(t, d.text, "550 no such user")
		}
		chat(t, b.discord, 0)

		// Evaluated all day: no second digest.
		for range 10 {
			b.clock.Advance(time.Hour)
			b.evaluate(t)
		}
		b.inbox(t, ada, 1)
		// The day after, still there: in that digest too.
		b.clock.Set(time.Date(2026, 12, 9, 7, 5, 0, 0, time.UTC))
		b.evaluate(t)
		b.inbox(t, ada, 2)
		b.inbox(t, bob, 2)
	})
}

// Two evaluators at once — two goroutines, or two instances each with its
// own connections — send each notification once.
func TestTwoEvaluatorsNotifyOnce(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		b.evaluate(t) // on call's key is made: the evaluators race from here
		b.pay(t, 3)
		b.clock.Advance(20 * time.Minute)
		second, err := sqldb.Open(context.Background(), b.url)
		require.NoError(t, err)
		t.Cleanup(func() { second.Close() })
		other, err := store.New(second, b.clock.Now)
		require.NoError(t, err)
		e2 := *b.eval
		e2.Store = other
		var evaluators []*oncall.Evaluator
		for range 4 {
			evaluators = append(evaluators, b.eval, &e2)
		}
		// Each round has something to write: the alert raised, its
		// escalation, its resolution.
		for round := range 3 {
			switch round {
			case 1:
				b.clock.Advance(15 * time.Minute)
			case 2:
				b.grant(t, b.unfulfilled(t))
			}
			var wg sync.WaitGroup
			start := make(chan struct{})
			for _, e := range evaluators {
				wg.Go(func() {
					<-start
					require.NoError(t, e.Evaluate(context.Background()))
				})
			}
			close(start)
			wg.Wait()
		}
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM alerts`))
		require.Equal(t, 3, b.count(t, `SELECT count(*) FROM alert_notifications`))
		b.inbox(t, b.onCall.OnCall, 3)
		b.inbox(t, b.onCall.Other, 2)
		chat(t, b.discord, 3)
		chat(t, b.slack, 3)
	})
}

// A chat endpoint that answers 429 is waited for as its Retry-After says,
// and the message still arrives, once.
func TestChatRateLimitedIsRetriedAfter(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		b.discord.Throttle(2, "1.5")
		b.slack.Throttle(1, "1")
		b.pay(t, 1)
		b.clock.Advance(20 * time.Minute)
		start := time.Now()
		b.evaluate(t)
		requireSays(t, chat(t, b.discord, 1), "Critical")
		requireSays(t, chat(t, b.slack, 1), "Critical")
		require.GreaterOrEqual(t, time.Since(start), 2*time.Second, "waited as Retry-After said")
		for _, c := range []*oncalltest.ChatEndpoint{b.discord, b.slack} {
			_, bad := c.Refused()
			require.Zero(t, bad, "%s accepted every payload", c.Kind)
		}
		refused, _ := b.discord.Refused()
		require.Equal(t, 2, refused)
	})
}

// A case opened with a rotation configured pages by the rules (a
// chargeback is critical), not by an email to everyone per case; a second
// chargeback joins the alert.
func TestCasesFollowTheRotation(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		ctx := context.Background()
		open := func(key string) {
			require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
				return b.outbox.OpenCase(ctx, tx, paidup.SupportCase{DedupeKey: key, CustomerID: b.customer, Kind: paidup.CaseDispute,
					Summary: "Chargeback of $249.00 by ada.customer@example.com (fraudulent)"})
			}))
		}
		open("dispute:dp_1")
		b.evaluate(t)
		page := b.inbox(t, b.onCall.OnCall, 1)[0]
		require.Contains(t, page.subject, "Critical: 1 chargeback open")
		require.Contains(t, page.text, "answer it there before its deadline")
		open("dispute:dp_2")
		b.clock.Advance(time.Minute)
		b.evaluate(t)
		b.inbox(t, b.onCall.OnCall, 1)
		require.Equal(t, 2, b.count(t, `SELECT instances FROM alerts`))
		require.Zero(t, b.count(t, `SELECT count(*) FROM emails WHERE kind IN ('alert', 'dispute_alert')`))

		// A customer who wrote in and could not be helped by paidup
		// pages too: they are waiting for a person.
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			return b.outbox.OpenCase(ctx, tx, paidup.SupportCase{DedupeKey: "help:x", CustomerID: b.customer, Kind: paidup.CaseHelpRequest,
				Summary: "ada.customer@example.com wrote: charged $249, no access"})
		}))
		b.evaluate(t)
		require.Contains(t, b.inbox(t, b.onCall.OnCall, 2)[1].subject, "Critical: 1 help request from customers waiting for a person")
	})
}

// Emails the mail server keeps refusing, jobs that call the processor
// failing, and a job that exhausted its retries: the first two page, the
// last waits for the digest.
func TestFailingEmailProcessorAndJobs(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		ctx := context.Background()
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			for i := range 5 {
				email := string(rune('a'+i)) + "@down.example"
				id, _, err := tx.MatchCustomer(ctx, "stripe", "", email)
				if err != nil {
					return err
				}
				if _, err := b.outbox.QueueSignIn(ctx, tx, id, email); err != nil {
					return err
				}
			}
			for range 3 {
				if err := tx.Enqueue(ctx, probeArgs{}, &river.InsertOpts{MaxAttempts: 5}); err != nil {
					return err
				}
			}
			return tx.Enqueue(ctx, probeArgs{}, &river.InsertOpts{MaxAttempts: 1})
		}))
		require.Eventually(t, func() bool {
			return b.count(t, `SELECT count(*) FROM emails WHERE status = 'queued' AND attempts > 0`) == 5 &&
				b.count(t, `SELECT count(*) FROM river_job WHERE kind = $1 AND state = 'retryable'`, probeArgs{}.Kind()) == 3 &&
				b.count(t, `SELECT count(*) FROM river_job WHERE kind = $1 AND state = 'discarded'`, probeArgs{}.Kind()) == 1
		}, 20*time.Second, 50*time.Millisecond)
		b.evaluate(t)
		// Two pages; and, as it is past 08:00 and there has been no
		// digest yet, the digest with the warning.
		var subjects []string
		for _, m := range b.inbox(t, b.onCall.OnCall, 3) {
			subjects = append(subjects, m.subject)
		}
		require.ElementsMatch(t, []string{
			"[paidup] Critical: 5 emails waiting to be tried again: the mail server is failing",
			"[paidup] Critical: 3 jobs calling the payment processor failed and are waiting to be tried again",
			"[paidup] Daily digest: 1 warning",
		}, subjects)
		require.Contains(t, b.inbox(t, b.onCall.Other, 1)[0].text, "1 job exhausted its retries in the last day: probe_processor ×1")
		requireSays(t, chat(t, b.slack, 2), "mail server is failing")
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM alerts WHERE rule = 'jobs_discarded' AND severity = 'warning' AND notifications = 0`))

		// The mail server takes them again: the alert resolves.
		b.mailer.accept()
		_, err := b.db.Write.ExecContext(ctx, `UPDATE river_job SET scheduled_at = $1 WHERE kind = 'send_email' AND state = 'retryable'`, time.Now().UTC())
		require.NoError(t, err, "the retries are due now")
		require.Eventually(t, func() bool {
			return b.count(t, `SELECT count(*) FROM emails WHERE to_address LIKE '%@down.example' AND status = 'sent'`) == 5
		}, 20*time.Second, 50*time.Millisecond)
		b.evaluate(t)
		requireSays(t, chat(t, b.discord, 3), "Resolved: 5 emails")
	})
}

// An override set in the console pages its person instead of the
// rotation's, while it lasts; one removed, or run out, pages the rotation
// again. The latest set wins where two overlap, and before the config's.
func TestConsoleOverridePagesItsPerson(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		ctx := context.Background()
		scheduled, other := b.onCall.OnCall, b.onCall.Other
		b.eval.Rotation.Overrides = []oncall.Override{{Start: t0, End: t0.Add(48 * time.Hour), Who: scheduled}} // the config's
		var first string
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			_, err := tx.AddOnCallOverride(ctx, store.OnCallOverride{Who: scheduled, Start: t0, End: t0.Add(24 * time.Hour), CreatedBy: scheduled})
			return err
		}))
		b.clock.Advance(time.Second)
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			o, err := tx.AddOnCallOverride(ctx, store.OnCallOverride{Who: other, Start: t0, End: t0.Add(24 * time.Hour), CreatedBy: scheduled, Reason: "at the dentist"})
			first = o.ID
			return err
		}))
		rot, err := b.eval.RotationAt(ctx, t0)
		require.NoError(t, err)
		require.Equal(t, other, rot.At(t0.Add(time.Hour)).OnCall, "the latest set wins")
		require.Equal(t, scheduled, rot.At(t0.Add(25*time.Hour)).OnCall, "then the config's")

		b.pay(t, 1)
		b.clock.Advance(16 * time.Minute)
		b.evaluate(t)
		require.Contains(t, b.inbox(t, other, 1)[0].subject, "Critical:")
		require.Len(t, b.inbox(t, scheduled, 0), 0)

		// Removed: the rotation's person again (the config's override
		// puts the scheduled one on).
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			removed, err := tx.RemoveOnCallOverride(ctx, first, scheduled)
			require.True(t, removed)
			return err
		}))
		rot, err = b.eval.RotationAt(ctx, t0)
		require.NoError(t, err)
		require.Equal(t, scheduled, rot.At(t0.Add(time.Hour)).OnCall)
		left, err := b.store.OnCallOverrides(ctx, t0.Add(25*time.Hour))
		require.NoError(t, err)
		require.Empty(t, left, "run out")
	})
}
