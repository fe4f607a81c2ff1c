package support_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/lifecycle"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/reconcile"
	"github.com/paidup/paidup/internal/replies"
	"github.com/paidup/paidup/internal/sandbox"
	"github.com/paidup/paidup/internal/sandbox/sandboxtest"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
	"github.com/paidup/paidup/internal/stripe"
	"github.com/paidup/paidup/internal/support"
)

func usd(cents int64) paidup.Money { return paidup.Money{Amount: cents, Currency: "usd"} }

var (
	proAnnual = paidup.Plan{ID: "pro-annual", Name: "Pro, one year", Tier: "pro", PriceID: "price_pro_annual",
		Amount: usd(24900), Interval: paidup.Once, Term: paidup.Term{N: 1, Unit: 'y'}}
	proMonthly = paidup.Plan{ID: "pro-monthly", Name: "Pro, monthly", Tier: "pro", PriceID: "price_pro_monthly",
		Amount: usd(900), Interval: paidup.Monthly}
	policy = paidup.Policy{
		Tiers: []paidup.Tier{{ID: "member", Name: "Member", Rank: 10}, {ID: "pro", Name: "Pro", Rank: 20}},
		Plans: []paidup.Plan{proAnnual, proMonthly},
	}
	onCall = []string{"oncall@example.com"}
)

type testBundle struct {
	db    *sqldb.DB
	store *store.Store
	sb    *sandboxtest.Server
	clock *sandboxtest.Clock
	co    *checkout.Service
	svc   *support.Service
}

// setup runs the support service on a fresh database of engine, against
// a sandbox processor behind the real Stripe adapter (stripe-go).
func setup(t *testing.T, engine sqldb.Engine) *testBundle {
	t.Helper()
	ctx := context.Background()
	db := sqldbtest.Open(t, engine)
	_, err := db.Migrate(ctx, store.Migrations)
	require.NoError(t, err)
	_, err = queue.Migrate(ctx, db)
	require.NoError(t, err)
	b := &testBundle{db: db, clock: sandboxtest.NewClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))}
	b.sb = sandboxtest.Start(t, sandbox.Options{Now: b.clock.Now, Prices: []sandbox.SeedPrice{
		{ID: proAnnual.PriceID, ProductName: proAnnual.Name, Amount: 24900, Currency: "usd"},
		{ID: proMonthly.PriceID, ProductName: proMonthly.Name, Amount: 900, Currency: "usd", Interval: "month"},
	}})
	b.store, err = store.New(db, b.clock.Now)
	require.NoError(t, err)
	b.svc = b.service(b.sb.Processor())
	b.co = b.svc.Checkout
	return b
}

// service is the support service with processor as its processor.
func (b *testBundle) service(processor *stripe.Client) *support.Service {
	log := slog.New(slog.DiscardHandler)
	outbox := &notify.Outbox{OnCall: onCall}
	co := &checkout.Service{Store: b.store, Processor: processor, Policy: &policy, Notify: outbox, Logger: log,
		PublicURL: "http://paidup.test", FirstCheck: time.Minute}
	life := &lifecycle.Service{Store: b.store, Processor: processor, Policy: &policy, Notify: outbox, Logger: log}
	rec := &reconcile.Reconciler{Store: b.store, Checkout: co, Lifecycle: life, Notify: outbox, Logger: log,
		Schedule: reconcile.DefaultSchedule}
	return &support.Service{Store: b.store, Policy: &policy, Notify: outbox, Lifecycle: life, Checkout: co, Reconciler: rec, Refunds: processor}
}

// paid starts a checkout for Pro, pays it at the processor, and returns
// the attempt, not fulfilled: paidup has not heard of the payment.
func (b *testBundle) paid(t *testing.T, email string) paidup.CheckoutAttempt {
	t.Helper()
	a, err := b.co.Start(context.Background(), proAnnual, paidup.NewReference(), email)
	require.NoError(t, err)
	b.sb.Pay(t, a.CheckoutID, nil)
	b.clock.Advance(time.Minute)
	return a
}

// bought is paid, fulfilled: the customer has Pro for a year.
func (b *testBundle) bought(t *testing.T, email string) (paidup.Customer, checkout.Outcome) {
	t.Helper()
	a := b.paid(t, email)
	out, err := b.co.Fulfil(context.Background(), a.CheckoutID, paidup.ByWebhook)
	require.NoError(t, err)
	require.Equal(t, paidup.AttemptFulfilled, out.State)
	c, err := b.store.CustomerByEmail(context.Background(), email)
	require.NoError(t, err)
	return c, out
}

func (b *testBundle) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.db.Read.QueryRow(query, args...).Scan(&n))
	return n
}

// rows counts what the support actions write.
func (b *testBundle) rows(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"audit_log", "timeline", "grants", "blocks", "emails", "river_job", "support_cases"} {
		out[table] = b.count(t, "SELECT count(*) FROM "+table)
	}
	out["revoked"] = b.count(t, "SELECT count(*) FROM grants WHERE revoked_at IS NOT NULL")
	out["refunded"] = b.count(t, "SELECT COALESCE(SUM(amount_refunded), 0) FROM payments")
	return out
}

// processorRefunds lists the processor's refunds of a payment.
func (b *testBundle) processorRefunds(t *testing.T, paymentID string) paidup.PaymentRefunds {
	t.Helper()
	pr, err := b.sb.Processor().Refunds(context.Background(), paymentID)
	require.NoError(t, err)
	return pr
}

func (b *testBundle) access(t *testing.T, customerID string) paidup.Access {
	t.Helper()
	grants, err := b.store.Grants(context.Background(), customerID)
	require.NoError(t, err)
	blocks, err := b.store.Blocks(context.Background(), customerID)
	require.NoError(t, err)
	return policy.AccessAt(grants, blocks, b.clock.Now())
}

func req(id, reason string) support.Request {
	return support.Request{ID: id, Actor: "sam", Reason: reason}
}

// A person refunds part or all of a payment, ending its grant or not. The
// preview says exactly what will happen and changes nothing; the refund
// does it once, however many times it is asked, and is recorded as the
// processor confirms it; a refund without a reason is refused.
func TestRefund(t *testing.T) {
	for _, tc := range []struct {
		name        string
		amount      int64
		endGrant    bool
		wantPreview []string
		wantAccess  bool
		wantEmails  int
	}{
		{name: "partial, the grant stays", amount: 5000, wantAccess: true,
			wantPreview: []string{"Refund $50.00 of payment pi_", "$199.00 of it stays paid.", "stays: a partial refund ends nothing", "after: Pro until"}},
		{name: "partial, the grant ends", amount: 5000, endGrant: true,
			wantPreview: []string{"Refund $50.00 of payment", "$199.00 of it stays paid.", "ends now", "after: none"}},
		{name: "full", wantPreview: []string{"Refund $249.00 of payment", "nothing of it stays paid", "ends when the processor confirms the refund", "after: none"}},
		{name: "full, the grant ends now", endGrant: true, wantPreview: []string{"Refund $249.00", "ends now", "after: none"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
				ctx := context.Background()
				b := setup(t, engine)
				c, bought := b.bought(t, "ada@example.com")
				paymentID := strings.TrimPrefix(bought.Grant.SourceRef, "stripe:")
				rr := support.RefundRequest{PaymentID: paymentID, Amount: tc.amount, EndGrant: tc.endGrant}

				before := b.rows(t)
				pv, err := b.svc.PreviewRefund(ctx, c.ID, rr)
				require.NoError(t, err)
				words := strings.Join(pv.Lines, "\n")
				for _, w := range tc.wantPreview {
					require.Contains(t, words, w)
				}
				require.Equal(t, before, b.rows(t), "a preview changes nothing")
				require.Empty(t, b.processorRefunds(t, paymentID).Refunds)

				_, err = b.svc.Refund(ctx, support.Request{ID: "rq_1", Actor: "sam"}, c.ID, rr)
				require.Equal(t, paidup.EINVALID, paidup.ErrorCode(err), "%v", err)
				require.Equal(t, before, b.rows(t), "a refund without a reason changes nothing")

				out, err := b.svc.Refund(ctx, req("rq_1", "charged twice by her bank"), c.ID, rr)
				require.NoError(t, err)
				require.False(t, out.Repeat)
				require.False(t, out.Pending, "the sandbox confirms the refund at once")
				require.Contains(t, out.Outcome(), "Refund re_")
				want := cmpOr(tc.amount, 24900)
				require.Equal(t, want, out.Refund.Amount.Amount)
				after := b.rows(t)
				require.Equal(t, int(want), after["refunded"])
				require.Equal(t, before["audit_log"]+1, after["audit_log"])
				require.Equal(t, tc.wantAccess, b.access(t, c.ID).Active)
				require.Equal(t, 1, b.count(t, `SELECT count(*) FROM emails WHERE kind = $1`, notify.KindRefundIssued), "the customer is told of the refund")

				again, err := b.svc.Refund(ctx, req("rq_1", "charged twice by her bank"), c.ID, rr)
				require.NoError(t, err)
				require.True(t, again.Repeat)
				require.Equal(t, out.Outcome(), again.Outcome())
				require.Equal(t, after, b.rows(t), "asked twice, refunded once")
				require.Len(t, b.processorRefunds(t, paymentID).Refunds, 1)

				log, err := b.svc.AuditLog(ctx, c.ID, 0, 10)
				require.NoError(t, err)
				require.Len(t, log, 1)
				e := log[0]
				require.Equal(t, []string{"rq_1", "sam", paidup.ActionRefund, c.ID, paymentID, "charged twice by her bank"},
					[]string{e.RequestID, e.Actor, e.Action, e.CustomerID, e.Target, e.Reason})
				require.Equal(t, 1, b.count(t, `SELECT count(*) FROM timeline WHERE source = 'staff' AND kind = 'payment' AND summary LIKE '%asked of the processor by sam%'`))

				// The same request for another action is refused.
				_, err = b.svc.Note(ctx, req("rq_1", ""), c.ID, "hello")
				require.Equal(t, paidup.ECONFLICT, paidup.ErrorCode(err), "%v", err)
				if tc.amount == 0 {
					// Nothing is left to refund.
					_, err = b.svc.PreviewRefund(ctx, c.ID, rr)
					require.Equal(t, paidup.ECONFLICT, paidup.ErrorCode(err), "%v", err)
				}
			})
		})
	}
}

func cmpOr(a, b int64) int64 {
	if a != 0 {
		return a
	}
	return b
}

// What a refund refuses: more than is left, another customer's payment,
// a payment paidup does not know.
func TestRefundRefused(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		c, bought := b.bought(t, "ada@example.com")
		other, _ := b.bought(t, "bo@example.com")
		paymentID := strings.TrimPrefix(bought.Grant.SourceRef, "stripe:")
		before := b.rows(t)
		for _, tc := range []struct {
			customer string
			rr       support.RefundRequest
			code     string
		}{
			{c.ID, support.RefundRequest{PaymentID: paymentID, Amount: 24901}, paidup.EINVALID},
			{c.ID, support.RefundRequest{PaymentID: paymentID, Amount: -1}, paidup.EINVALID},
			{other.ID, support.RefundRequest{PaymentID: paymentID}, paidup.ENOTFOUND},
			{c.ID, support.RefundRequest{PaymentID: "pi_nothing"}, paidup.ENOTFOUND},
		} {
			_, err := b.svc.Refund(ctx, req(support.Key("refund", tc.customer, tc.rr.PaymentID), "why not"), tc.customer, tc.rr)
			require.Equal(t, tc.code, paidup.ErrorCode(err), "%+v: %v", tc, err)
		}
		require.Equal(t, before, b.rows(t))
		require.Empty(t, b.processorRefunds(t, paymentID).Refunds)
	})
}

// faultyProcessor stands between paidup and the sandbox: its refunds fail
// (the processor answers 500 and refunds nothing), or are made and the
// answer is lost (the processor refunds, paidup times out).
type faultyProcessor struct {
	mode atomic.Value // "", "fail" or "lose"
	url  string
}

func newFaultyProcessor(t *testing.T, sb *sandboxtest.Server) *faultyProcessor {
	f := &faultyProcessor{}
	f.mode.Store("")
	target, _ := url.Parse(sb.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/refunds" {
			proxy.ServeHTTP(w, r)
			return
		}
		switch f.mode.Load() {
		case "fail":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"error":{"type":"api_error","message":"An unknown error occurred"}}`)
			return
		case "lose":
			body, _ := io.ReadAll(r.Body)
			fwd, _ := http.NewRequest(http.MethodPost, sb.URL+r.URL.Path, bytes.NewReader(body))
			fwd.Header = r.Header.Clone()
			if resp, err := http.DefaultClient.Do(fwd); err == nil {
				resp.Body.Close()
			}
			<-r.Context().Done() // the answer never comes
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *faultyProcessor) client() *stripe.Client {
	return stripe.New(stripe.Config{SecretKey: sandboxtest.Key, URL: f.url, Retries: -1, Timeout: time.Second})
}

// The processor fails a refund, or makes it and its answer is lost:
// nothing is recorded as refunded, the error says so, and the same
// request asked again refunds once — never twice.
func TestRefundProcessorFails(t *testing.T) {
	for _, tc := range []struct {
		mode   string
		amount int64 // zero: in full
	}{{"fail", 5000}, {"lose", 5000}, {"fail", 0}, {"lose", 0}} {
		mode, want := tc.mode, cmpOr(tc.amount, 24900)
		t.Run(fmt.Sprintf("%s_%d", mode, tc.amount), func(t *testing.T) {
			sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
				ctx := context.Background()
				b := setup(t, engine)
				c, bought := b.bought(t, "ada@example.com")
				paymentID := strings.TrimPrefix(bought.Grant.SourceRef, "stripe:")
				f := newFaultyProcessor(t, b.sb)
				svc := b.service(f.client())
				rr := support.RefundRequest{PaymentID: paymentID, Amount: tc.amount, EndGrant: true}
				before := b.rows(t)

				f.mode.Store(mode)
				_, err := svc.Refund(ctx, req("rq_refund", "goodwill"), c.ID, rr)
				require.ErrorContains(t, err, fmt.Sprintf("the processor did not refund %s of %s", usd(want), paymentID))
				require.ErrorContains(t, err, "asking again with the same request is safe")
				require.Equal(t, before, b.rows(t), "nothing recorded: no refund, no grant ended, no audit entry")
				require.True(t, b.access(t, c.ID).Active)
				made := len(b.processorRefunds(t, paymentID).Refunds)
				require.Equal(t, map[string]int{"fail": 0, "lose": 1}[mode], made)

				f.mode.Store("")
				out, err := svc.Refund(ctx, req("rq_refund", "goodwill"), c.ID, rr)
				require.NoError(t, err)
				require.False(t, out.Repeat)
				pr := b.processorRefunds(t, paymentID)
				require.Len(t, pr.Refunds, 1, "one refund, however the first ask ended")
				require.Equal(t, want, pr.Refunded())
				require.Equal(t, pr.Refunds[0].ID, out.Refund.ID)
				require.Equal(t, int(want), b.rows(t)["refunded"])
				require.False(t, b.access(t, c.ID).Active, "the grant ended, as asked")
				require.Equal(t, before["audit_log"]+1, b.rows(t)["audit_log"])
			})
		})
	}
}

// The processor down: a refund and a recovery say so and record nothing.
func TestProcessorDown(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		c, bought := b.bought(t, "ada@example.com")
		svc := b.service(sandboxtest.Unreachable(t))
		before := b.rows(t)
		_, err := svc.Refund(ctx, req("rq_r", "goodwill"), c.ID, support.RefundRequest{PaymentID: strings.TrimPrefix(bought.Grant.SourceRef, "stripe:")})
		require.ErrorContains(t, err, "nothing was refunded or recorded")
		_, err = svc.Recover(ctx, req("rq_rec", ""), c.Email)
		require.ErrorContains(t, err, "asking the processor about ada@example.com")
		require.Equal(t, before, b.rows(t))
	})
}

// A person grants a tier until a date, ends a grant, blocks and lifts,
// and notes: each once however many times asked, each on the timeline
// and in the audit log; a grant, an end or a block without a reason is
// refused, as is text no person typed.
func TestGrantEndBlockNote(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		c, _ := b.bought(t, "ada@example.com")
		until := b.clock.Now().AddDate(0, 2, 0)

		twice := func(what string, do func() (support.Result, error)) support.Result {
			t.Helper()
			first, err := do()
			require.NoError(t, err, what)
			require.False(t, first.Repeat, what)
			rows := b.rows(t)
			again, err := do()
			require.NoError(t, err, what)
			require.True(t, again.Repeat, what)
			require.Equal(t, first.Outcome(), again.Outcome(), what)
			require.Equal(t, rows, b.rows(t), "%s: asked twice, done once", what)
			return first
		}
		refused := func(what string, code string, do func() error) {
			t.Helper()
			rows := b.rows(t)
			err := do()
			require.Equal(t, code, paidup.ErrorCode(err), "%s: %v", what, err)
			require.Equal(t, rows, b.rows(t), "%s: refused, nothing changed", what)
		}

		refused("grant without a reason", paidup.EINVALID, func() error {
			_, _, err := b.svc.Grant(ctx, req("rq_g", " "), c.ID, "member", until)
			return err
		})
		refused("grant of an unknown tier", paidup.EINVALID, func() error {
			_, _, err := b.svc.Grant(ctx, req("rq_g", "goodwill"), c.ID, "gold", until)
			return err
		})
		refused("grant ending in the past", paidup.EINVALID, func() error {
			_, _, err := b.svc.Grant(ctx, req("rq_g", "goodwill"), c.ID, "member", b.clock.Now().Add(-time.Hour))
			return err
		})
		refused("grant without an actor", paidup.EINVALID, func() error {
			_, _, err := b.svc.Grant(ctx, support.Request{ID: "rq_g", Reason: "goodwill"}, c.ID, "member", until)
			return err
		})
		refused("an actor with a line break", paidup.EINVALID, func() error {
			_, _, err := b.svc.Grant(ctx, support.Request{ID: "rq_g", Actor: "sam\nroot", Reason: "goodwill"}, c.ID, "member", until)
			return err
		})
		refused("a reason with a control character", paidup.EINVALID, func() error {
			_, _, err := b.svc.Grant(ctx, req("rq_g", "good\x1b[2Jwill"), c.ID, "member", until)
			return err
		})

		var g paidup.Grant
		res := twice("grant", func() (support.Result, error) {
			r, gr, err := b.svc.Grant(ctx, req("rq_g", "the outage cost her a week"), c.ID, "member", until)
			if !r.Repeat {
				g = gr
			}
			return r, err
		})
		require.Contains(t, res.Outcome(), "Granted Member until")
		require.Equal(t, paidup.SourceManual, g.Source)
		require.True(t, g.End.Equal(until.UTC().Truncate(time.Microsecond)))

		refused("end without a reason", paidup.EINVALID, func() error { _, err := b.svc.EndGrant(ctx, req("rq_e", ""), c.ID, g.ID); return err })
		refused("end another's grant", paidup.ENOTFOUND, func() error {
			_, err := b.svc.EndGrant(ctx, req("rq_e", "x"), c.ID, "gr_nothing")
			return err
		})
		res = twice("end grant", func() (support.Result, error) { return b.svc.EndGrant(ctx, req("rq_e", "asked by her"), c.ID, g.ID) })
		require.Contains(t, res.Outcome(), "Ended grant "+g.ID)
		require.Contains(t, res.Outcome(), "Access now: Pro until")
		res = twice("end an ended grant", func() (support.Result, error) { return b.svc.EndGrant(ctx, req("rq_e2", "again"), c.ID, g.ID) })
		require.Contains(t, res.Outcome(), "Nothing to do")

		refused("block without a reason", paidup.EINVALID, func() error { _, _, err := b.svc.Block(ctx, req("rq_b", ""), c.ID); return err })
		res = twice("block", func() (support.Result, error) {
			r, _, err := b.svc.Block(ctx, req("rq_b", "abuse"), c.ID)
			return r, err
		})
		require.Contains(t, res.Outcome(), "Blocked: block bl_")
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM blocks`))
		require.True(t, b.access(t, c.ID).Blocked)
		refused("lift without a reason", paidup.EINVALID, func() error { _, _, err := b.svc.LiftBlocks(ctx, req("rq_l", ""), c.ID); return err })
		res = twice("lift", func() (support.Result, error) {
			r, _, err := b.svc.LiftBlocks(ctx, req("rq_l", "apologised"), c.ID)
			return r, err
		})
		require.Contains(t, res.Outcome(), "Lifted bl_")
		require.False(t, b.access(t, c.ID).Blocked)
		res = twice("lift nothing", func() (support.Result, error) {
			r, _, err := b.svc.LiftBlocks(ctx, req("rq_l2", "again"), c.ID)
			return r, err
		})
		require.Contains(t, res.Outcome(), "Nothing to do: no active block.")

		refused("empty note", paidup.EINVALID, func() error { _, err := b.svc.Note(ctx, req("rq_n", ""), c.ID, "  "); return err })
		res = twice("note", func() (support.Result, error) {
			return b.svc.Note(ctx, req("rq_n", ""), c.ID, "Called; <b>card</b> expired")
		})
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM timeline WHERE kind = $1 AND summary = $2`, support.EventNote, "Note by sam: Called; <b>card</b> expired"))

		log, err := b.svc.AuditLog(ctx, c.ID, 0, 100)
		require.NoError(t, err)
		var actions []string
		for _, e := range log {
			actions = append(actions, e.Action)
		}
		require.Equal(t, []string{"note", "lift", "lift", "block", "end_grant", "end_grant", "grant"}, actions, "newest first")
		older, err := b.svc.AuditLog(ctx, "", log[1].ID, 100)
		require.NoError(t, err)
		require.Len(t, older, 5)
	})
}

// The audit log is append-only: the database refuses to change or remove
// an entry.
func TestAuditLogAppendOnly(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		c, _ := b.bought(t, "ada@example.com")
		_, err := b.svc.Note(ctx, req("rq_n", ""), c.ID, "first contact")
		require.NoError(t, err)
		_, err = b.db.Write.Exec(`UPDATE audit_log SET outcome = 'nothing happened'`)
		require.ErrorContains(t, err, "append-only")
		_, err = b.db.Write.Exec(`DELETE FROM audit_log`)
		require.ErrorContains(t, err, "append-only")
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM audit_log WHERE outcome = 'Noted.'`))
	})
}

// A person resends the confirmation, or another email, with a fresh
// sign-in link: a new email of its own per request, sent by the email job.
func TestResend(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		c, _ := b.bought(t, "ada@example.com")
		other, _ := b.bought(t, "bo@example.com")
		emails := func() int { return b.count(t, `SELECT count(*) FROM emails WHERE customer_id = $1`, c.ID) }
		jobs := func() int { return b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'send_email'`) }
		had, hadJobs := emails(), jobs()

		res, err := b.svc.Resend(ctx, req("rq_1", ""), c.ID, "")
		require.NoError(t, err)
		require.Contains(t, res.Outcome(), "Queued a copy of confirmation email em_")
		require.Equal(t, had+1, emails())
		require.Equal(t, hadJobs+1, jobs())
		again, err := b.svc.Resend(ctx, req("rq_1", ""), c.ID, "")
		require.NoError(t, err)
		require.True(t, again.Repeat)
		require.Equal(t, had+1, emails(), "the same request resends once")
		_, err = b.svc.Resend(ctx, req("rq_2", "she deleted it"), c.ID, "")
		require.NoError(t, err)
		require.Equal(t, had+2, emails(), "another request, another copy")
		require.Equal(t, 2, b.count(t, `SELECT count(*) FROM emails WHERE customer_id = $1 AND kind = 'confirmation' AND dedupe_key LIKE 'resend:%'`, c.ID))

		theirs, err := b.store.Emails(ctx, other.ID)
		require.NoError(t, err)
		_, err = b.svc.Resend(ctx, req("rq_3", ""), c.ID, theirs[0].ID)
		require.Equal(t, paidup.ENOTFOUND, paidup.ErrorCode(err), "another customer's email: %v", err)

		// An alert to on-call is not the customer's to resend.
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			return b.svc.Notify.OpenCase(ctx, tx, paidup.SupportCase{DedupeKey: "test:1", CustomerID: c.ID, Kind: paidup.CaseUnknownPlan, Summary: "a test case"})
		}))
		var alert string
		all, err := b.store.Emails(ctx, c.ID)
		require.NoError(t, err)
		for _, e := range all {
			if e.Kind == notify.KindAlert {
				alert = e.ID
			}
		}
		require.NotEmpty(t, alert)
		_, err = b.svc.Resend(ctx, req("rq_alert", ""), c.ID, alert)
		require.Equal(t, paidup.EINVALID, paidup.ErrorCode(err), "%v", err)

		// An email that carries no sign-in link is followed by one.
		var refundEmail string
		_, err = b.svc.Refund(ctx, req("rq_refund", "goodwill"), c.ID, support.RefundRequest{PaymentID: paymentOf(t, b, c.ID), Amount: 100})
		require.NoError(t, err)
		mine, err := b.store.Emails(ctx, c.ID)
		require.NoError(t, err)
		for _, e := range mine {
			if e.Kind == notify.KindRefundIssued {
				refundEmail = e.ID
			}
		}
		require.NotEmpty(t, refundEmail)
		n := emails()
		_, err = b.svc.Resend(ctx, req("rq_4", ""), c.ID, refundEmail)
		require.NoError(t, err)
		require.Equal(t, n+2, emails(), "the refund's email again, and a sign-in link")
	})
}

func paymentOf(t *testing.T, b *testBundle, customerID string) string {
	t.Helper()
	ps, err := b.store.Payments(context.Background(), customerID)
	require.NoError(t, err)
	require.NotEmpty(t, ps)
	return ps[0].ID
}

// The $249 story: paid, and paidup never heard. A person recovers the
// customer — by email, before paidup knows them as a customer — and is
// told what changed; asked again, nothing changes, and it says so.
func TestRecover(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		a := b.paid(t, "ada@example.com")
		_, err := b.store.CustomerByEmail(ctx, "ada@example.com")
		require.Equal(t, paidup.ENOTFOUND, paidup.ErrorCode(err), "paidup has not heard of the payment")

		res, err := b.svc.Recover(ctx, req("rq_1", "she wrote in"), "Ada@Example.com")
		require.NoError(t, err)
		require.Regexp(t, `^Recorded payment pi_\w+ of \$249\.00; granted Pro until \d+ November 2027 from `+a.Reference+`; access was none, now Pro until `, res.Outcome())
		c, err := b.store.CustomerByEmail(ctx, "ada@example.com")
		require.NoError(t, err)
		require.Equal(t, c.ID, res.Entry.CustomerID)
		require.True(t, b.access(t, c.ID).Active)
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM emails WHERE kind = 'confirmation'`), "one confirmation")
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM timeline WHERE source = 'staff' AND kind = 'reconciler' AND customer_id = $1`, c.ID))

		rows := b.rows(t)
		again, err := b.svc.Recover(ctx, req("rq_1", "she wrote in"), a.Reference)
		require.NoError(t, err)
		require.True(t, again.Repeat)
		require.Equal(t, rows, b.rows(t))

		res, err = b.svc.Recover(ctx, req("rq_2", ""), c.ID)
		require.NoError(t, err)
		require.Equal(t, "Nothing to do: the processor agrees with paidup's records.", res.Outcome())
		require.Equal(t, rows["grants"], b.rows(t)["grants"])

		// A refund made at the processor whose webhook was lost.
		b.sb.Call(t, http.MethodPost, "/v1/refunds", url.Values{"payment_intent": {paymentOf(t, b, c.ID)}})
		res, err = b.svc.Recover(ctx, req("rq_3", ""), c.Email)
		require.NoError(t, err)
		require.Contains(t, res.Outcome(), "as $249.00 refunded; ended Pro (payment refunded); access was Pro until")
		require.False(t, b.access(t, c.ID).Active)

		_, err = b.svc.Recover(ctx, req("rq_4", ""), "nobody@example.com")
		require.NoError(t, err, "no one by that address: nothing to do")
		_, err = b.svc.Recover(ctx, req("rq_5", ""), "cu_nothing")
		require.Equal(t, paidup.ENOTFOUND, paidup.ErrorCode(err), "%v", err)
	})
}

// A subscription cancelled at the processor, its webhooks lost: recovering
// the customer syncs it, and says what that changed.
func TestRecoverSubscription(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		a, err := b.co.Start(ctx, proMonthly, paidup.NewReference(), "ada@example.com")
		require.NoError(t, err)
		b.sb.Pay(t, a.CheckoutID, nil)
		b.clock.Advance(time.Minute)
		out, err := b.co.Fulfil(ctx, a.CheckoutID, paidup.ByWebhook)
		require.NoError(t, err)
		require.Equal(t, paidup.AttemptFulfilled, out.State)
		co, err := b.co.Processor.Checkout(ctx, a.CheckoutID)
		require.NoError(t, err)
		require.NotEmpty(t, co.SubscriptionID)
		// The sync the fulfilment enqueued, as its job runs it.
		require.NoError(t, b.svc.Lifecycle.SyncSubscription(ctx, co.SubscriptionID, "", paidup.ByWebhook))
		res, err := b.svc.Recover(ctx, req("rq_1", ""), "ada@example.com")
		require.NoError(t, err)
		require.Equal(t, "Nothing to do: the processor agrees with paidup's records.", res.Outcome())

		b.sb.Call(t, http.MethodDelete, "/v1/subscriptions/"+co.SubscriptionID, nil)
		res, err = b.svc.Recover(ctx, req("rq_2", "she says she cancelled"), "ada@example.com")
		require.NoError(t, err)
		require.Contains(t, res.Outcome(), "access was Pro until")
		require.NotContains(t, res.Outcome(), "Nothing to do")
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM subscriptions WHERE status = 'canceled'`))
	})
}

// A reply to someone who wrote in on the help form, and of whom paidup
// knows nothing else, goes to the address they gave; a case with no
// address at all is refused, and nothing is sent.
func TestReplyToAHelpRequest(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		ctx := context.Background()
		set, err := replies.Load("")
		require.NoError(t, err)
		b.svc.Replies, b.svc.ReplyFields = set, replies.Fields{Business: "Example Co", SupportEmail: "help@example.com", ReplyWithin: "a day"}
		var help, bare paidup.SupportCase
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			var err error
			if help, _, err = tx.OpenCase(ctx, paidup.SupportCase{DedupeKey: paidup.HelpRequestKey("erin@example.com", tx.Now()),
				Kind: paidup.CaseHelpRequest, Summary: "erin@example.com wrote in"}); err != nil {
				return err
			}
			bare, _, err = tx.OpenCase(ctx, paidup.SupportCase{DedupeKey: "webhook_refusals", Kind: paidup.CaseWebhookRefusal, Summary: "refusals"})
			return err
		}))
		pv, err := b.svc.PreviewReply(ctx, help.ID, "charged_no_access_refunded")
		require.NoError(t, err)
		require.Equal(t, "erin@example.com", pv.To)
		res, err := b.svc.Reply(ctx, support.Request{ID: "rq_help_reply", Actor: "sam"}, help.ID, "charged_no_access_refunded")
		require.NoError(t, err)
		require.Contains(t, res.Outcome(), "to erin@example.com")
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM emails WHERE kind = 'case_reply' AND to_address = 'erin@example.com'`))

		_, err = b.svc.Reply(ctx, support.Request{ID: "rq_bare_reply", Actor: "sam"}, bare.ID, "charged_no_access_refunded")
		require.ErrorContains(t, err, "no customer or checkout with an address")
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM emails WHERE kind = 'case_reply'`))
	})
}
