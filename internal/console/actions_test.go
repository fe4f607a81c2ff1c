package console_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/console"
	"github.com/paidup/paidup/internal/lifecycle"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/reconcile"
	"github.com/paidup/paidup/internal/replies"
	"github.com/paidup/paidup/internal/sandbox"
	"github.com/paidup/paidup/internal/sandbox/sandboxtest"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
	"github.com/paidup/paidup/internal/support"
)

var proAnnual = paidup.Plan{ID: "pro-annual", Name: "Pro, one year", Tier: "pro", PriceID: "price_pro_annual",
	Amount: paidup.Money{Amount: 24900, Currency: "usd"}, Interval: paidup.Once, Term: paidup.Term{N: 1, Unit: 'y'}}

// deskBundle is a console whose buttons reach a sandbox processor through
// the real Stripe adapter.
type deskBundle struct {
	*testBundle
	sb *sandboxtest.Server
	co *checkout.Service
}

func setupDesk(t *testing.T, engine sqldb.Engine) *deskBundle {
	t.Helper()
	b := setup(t, engine)
	sb := sandboxtest.Start(t, sandbox.Options{Now: b.clock, Prices: []sandbox.SeedPrice{
		{ID: proAnnual.PriceID, ProductName: proAnnual.Name, Amount: 24900, Currency: "usd"}}})
	pol := &paidup.Policy{Tiers: policy.Tiers, Plans: []paidup.Plan{proAnnual}}
	log := slog.New(slog.DiscardHandler)
	processor := sb.Processor()
	outbox := &notify.Outbox{OnCall: []string{"oncall@example.com"}}
	co := &checkout.Service{Store: b.store, Processor: processor, Policy: pol, Notify: outbox, Logger: log,
		PublicURL: "https://paidup.example.com", FirstCheck: time.Minute}
	life := &lifecycle.Service{Store: b.store, Processor: processor, Policy: pol, Notify: outbox, Logger: log}
	rec := &reconcile.Reconciler{Store: b.store, Checkout: co, Lifecycle: life, Notify: outbox, Logger: log, Schedule: reconcile.DefaultSchedule}
	set, err := replies.Load("")
	require.NoError(t, err)
	desk := &support.Service{Store: b.store, Policy: pol, Notify: outbox, Lifecycle: life, Checkout: co, Reconciler: rec, Refunds: processor,
		Replies: set, ReplyFields: replies.Fields{Business: "Example Co", SupportEmail: "help@example.com", ReplyWithin: "one working day"}}
	b.handler = console.NewServer(console.Deps{Store: b.store, Operators: b.ops, Support: desk, Policy: pol, Business: "Example Co",
		Logger: log, PublicURL: "https://paidup.example.com", Now: b.clock, Delays: console.NewDelays(b.clock)})
	return &deskBundle{testBundle: b, sb: sb, co: co}
}

var requestField = regexp.MustCompile(`action="([^"]+)">\s*<input type="hidden" name="request" value="(rq_[a-z0-9]+)"`)

// form finds the form posting to action on the page, and its request id.
func form(t *testing.T, body, action string) string {
	t.Helper()
	for _, m := range requestField.FindAllStringSubmatch(body, -1) {
		if m[1] == action {
			return m[2]
		}
	}
	t.Fatalf("no form posting to %s on the page:\n%s", action, body)
	return ""
}

// follow gets where a form's answer sends the browser.
func (b *testBundle) follow(t *testing.T, w interface{ Header() http.Header }, session string) string {
	t.Helper()
	loc := w.Header().Get("Location")
	require.NotEmpty(t, loc)
	loc, _, _ = strings.Cut(loc, "#") // a browser keeps the fragment to itself
	page := b.do(t, request{method: "GET", path: loc, cookie: session})
	require.Equal(t, http.StatusOK, page.Code, page.Body.String())
	return page.Body.String()
}

// A person fixes a customer from their page: each button's form has its
// own request, pressing it twice does it once, and the page says what
// came of it.
func TestActionsFromTheCustomerPage(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		customer := b.customer(t, 0)
		session := b.signIn(t)
		page := "/console/customers/" + customer
		body := b.do(t, request{method: "GET", path: page, cookie: session}).Body.String()
		require.Contains(t, body, "Yes: Pro")

		rq := form(t, body, page+"/block")
		block := url.Values{"request": {rq}, "reason": {"a chargeback, by " + hostile}}
		w := b.do(t, request{method: "POST", path: page + "/block", form: block, cookie: session})
		require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
		after := b.follow(t, w, session)
		require.Contains(t, after, "No: blocked.")
		require.Contains(t, after, `id="outcome"`)
		require.Contains(t, after, "ada@example.com")
		requireEscaped(t, after)
		// Pressed again (a double click): the same outcome, one block.
		w = b.do(t, request{method: "POST", path: page + "/block", form: block, cookie: session})
		require.Equal(t, http.StatusSeeOther, w.Code)
		blocks, err := b.store.Blocks(context.Background(), customer)
		require.NoError(t, err)
		require.Len(t, blocks, 1)
		// Each render gives each form a new request: the lift is its own.
		require.NotEqual(t, rq, form(t, after, page+"/lift"))
		w = b.do(t, request{method: "POST", path: page + "/lift", form: url.Values{"request": {form(t, after, page+"/lift")}, "reason": {"the bank sided with us"}}, cookie: session})
		require.Contains(t, b.follow(t, w, session), "Yes: Pro")

		// A goodwill grant to a day, a note, both on the page after.
		body = b.do(t, request{method: "GET", path: page, cookie: session}).Body.String()
		w = b.do(t, request{method: "POST", path: page + "/note", form: url.Values{"request": {form(t, body, page+"/note")}, "note": {"Called them at 9."}}, cookie: session})
		after = b.follow(t, w, session)
		require.Contains(t, after, "Noted.")
		require.Contains(t, after, "Called them at 9.")
		w = b.do(t, request{method: "POST", path: page + "/grant", form: url.Values{"request": {form(t, after, page+"/grant")}, "tier": {"pro"},
			"until": {"2028-06-30"}, "reason": {"a week of downtime"}}, cookie: session})
		after = b.follow(t, w, session)
		require.Contains(t, after, "Granted Pro")

		// A request's outcome is shown only on its own customer's page.
		other := b.do(t, request{method: "GET", path: "/console/?done=" + rq, cookie: session}).Body.String()
		require.NotContains(t, other, `id="outcome"`)

		entries, err := b.store.AuditLog(context.Background(), customer, 0, 10)
		require.NoError(t, err)
		var actions []string
		for _, e := range entries {
			actions = append(actions, e.Action+" by "+e.Actor)
		}
		require.Equal(t, []string{"grant by ada@example.com", "note by ada@example.com", "lift by ada@example.com", "block by ada@example.com"}, actions)
	})
}

// The customer the reconciler gave up on — charged, with nothing — is
// recovered from the case with one button, and then answered from a
// template.
func TestRecoverFromTheCase(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setupDesk(t, engine)
		ctx := context.Background()
		a, err := b.co.Start(ctx, proAnnual, paidup.NewReference(), "grace@example.com")
		require.NoError(t, err)
		b.sb.Pay(t, a.CheckoutID, nil)
		// paidup never heard of the payment, and the reconciler gave up.
		var caseID string
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			if err := tx.ResolveAttempt(ctx, a.Reference, paidup.AttemptUnknown, "", ""); err != nil {
				return err
			}
			c, _, err := tx.OpenCase(ctx, paidup.SupportCase{DedupeKey: "unconfirmed:" + a.Reference, Reference: a.Reference,
				Kind: paidup.CaseUnconfirmed, Summary: "Checkout " + a.Reference + " was never confirmed"})
			caseID = c.ID
			return err
		}))
		session := b.signIn(t)
		// Found by her address: her checkout, with its case.
		w := b.do(t, request{method: "GET", path: "/console/search?q=grace", cookie: session})
		require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
		require.Equal(t, "/console/checkouts/"+a.Reference, w.Header().Get("Location"))
		body := b.do(t, request{method: "GET", path: "/console/checkouts/" + a.Reference, cookie: session}).Body.String()
		require.Contains(t, body, "No: paidup has no payment recorded for this checkout")
		require.Contains(t, body, `href="/console/cases/`+caseID+`"`)
		casePage := "/console/cases/" + caseID
		body = b.do(t, request{method: "GET", path: casePage, cookie: session}).Body.String()
		require.Contains(t, body, "paidup has no customer for this case yet")
		w = b.do(t, request{method: "POST", path: casePage + "/recover", form: url.Values{"request": {form(t, body, casePage+"/recover")}}, cookie: session})
		require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
		after := b.follow(t, w, session)
		require.Contains(t, after, "Can get in: Pro")
		require.Contains(t, after, "granted Pro until")

		// The reply, previewed, then sent once.
		w = b.do(t, request{method: "POST", path: casePage + "/reply/preview", form: url.Values{"template": {"charged_no_access_repaired"}}, cookie: session})
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		preview := w.Body.String()
		require.Contains(t, preview, "To grace@example.com")
		require.Contains(t, preview, a.Reference)
		send := url.Values{"request": {form(t, preview, casePage+"/reply")}, "template": {"charged_no_access_repaired"}}
		for range 2 {
			w = b.do(t, request{method: "POST", path: casePage + "/reply", form: send, cookie: session})
			require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
		}
		after = b.follow(t, w, session)
		require.Contains(t, after, "the case now waits on them")
		c, err := b.store.CustomerByEmail(ctx, "grace@example.com")
		require.NoError(t, err)
		// Her checkout's page is now her page.
		w = b.do(t, request{method: "GET", path: "/console/checkouts/" + a.Reference, cookie: session})
		require.Equal(t, "/console/customers/"+c.ID, w.Header().Get("Location"))
		emails, err := b.store.Emails(ctx, c.ID)
		require.NoError(t, err)
		var replies int
		for _, e := range emails {
			if e.Kind == notify.KindCaseReply {
				replies++
			}
		}
		require.Equal(t, 1, replies)
	})
}

// A refund from the console is previewed, then made once at the
// processor, and shows on the customer's page.
func TestRefundFromTheConsole(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setupDesk(t, engine)
		ctx := context.Background()
		a, err := b.co.Start(ctx, proAnnual, paidup.NewReference(), "lin@example.com")
		require.NoError(t, err)
		b.sb.Pay(t, a.CheckoutID, nil)
		out, err := b.co.Fulfil(ctx, a.CheckoutID, paidup.ByWebhook)
		require.NoError(t, err)
		require.Equal(t, paidup.AttemptFulfilled, out.State)
		c, err := b.store.CustomerByEmail(ctx, "lin@example.com")
		require.NoError(t, err)
		payments, err := b.store.Payments(ctx, c.ID)
		require.NoError(t, err)
		require.Len(t, payments, 1)
		pi := payments[0].ID
		session := b.signIn(t)
		page := "/console/customers/" + c.ID
		body := b.do(t, request{method: "GET", path: page, cookie: session}).Body.String()
		require.Contains(t, body, page+"/refund?payment="+pi)

		for _, bad := range []string{"-5", "12.345", "a lot", "300.00"} {
			w := b.do(t, request{method: "POST", path: page + "/refund/preview", form: url.Values{"payment": {pi}, "amount": {bad}, "reason": {"x"}}, cookie: session})
			require.Equal(t, http.StatusBadRequest, w.Code, bad+": "+w.Body.String())
		}
		w := b.do(t, request{method: "POST", path: page + "/refund/preview", form: url.Values{"payment": {pi}, "amount": {"49.00"}, "reason": {"the price went down"}}, cookie: session})
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		preview := w.Body.String()
		require.Contains(t, preview, "What this refund will do")
		require.Contains(t, preview, "Refund $49.00 now")
		rq := form(t, preview, page+"/refund")
		refund := url.Values{"request": {rq}, "payment": {pi}, "amount": {"49.00"}, "reason": {"the price went down"}}
		for range 2 {
			w = b.do(t, request{method: "POST", path: page + "/refund", form: refund, cookie: session})
			require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
		}
		after := b.follow(t, w, session)
		require.Contains(t, after, `id="outcome"`)
		require.Contains(t, after, "Yes: Pro", "a partial refund ends nothing")
		require.Len(t, b.sb.Events(t, "charge.refunded"), 1, "one refund at the processor, however often the button is pressed")
	})
}

// After an outage left several payments unconfirmed, the inbox shows them
// as one group; its preview lists exactly what one press will do, and the
// press recovers each once — pressed twice, nothing happens twice — and
// leaves alone a case that came after the preview.
func TestBulkRecoverAfterAnOutage(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setupDesk(t, engine)
		ctx := context.Background()
		unconfirmed := func(email string, pay bool) paidup.CheckoutAttempt {
			a, err := b.co.Start(ctx, proAnnual, paidup.NewReference(), email)
			require.NoError(t, err)
			if pay {
				b.sb.Pay(t, a.CheckoutID, nil)
			}
			require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
				if err := tx.ResolveAttempt(ctx, a.Reference, paidup.AttemptUnknown, "", ""); err != nil {
					return err
				}
				_, _, err := tx.OpenCase(ctx, paidup.SupportCase{DedupeKey: "unconfirmed:" + a.Reference, Reference: a.Reference,
					Kind: paidup.CaseUnconfirmed, Summary: "Checkout " + a.Reference + " was never confirmed"})
				return err
			}))
			return a
		}
		paid := []string{"p1@example.com", "p2@example.com", "p3@example.com"}
		for _, e := range paid {
			unconfirmed(e, true)
		}
		unconfirmed("never-paid@example.com", false)
		session := b.signIn(t)

		inbox := b.do(t, request{method: "GET", path: "/console/", cookie: session}).Body.String()
		require.Contains(t, inbox, "4 open <span class=\"tag\">unconfirmed</span> cases")
		require.Contains(t, inbox, `href="/console/groups/unconfirmed"`)
		preview := b.do(t, request{method: "GET", path: "/console/groups/unconfirmed", cookie: session}).Body.String()
		require.Contains(t, preview, "Recover them now (4)")
		require.Equal(t, 4, strings.Count(preview, `name="case"`))
		rq := regexp.MustCompile(`name="request" value="(rq_[a-z0-9]+)"`).FindStringSubmatch(preview)[1]
		press := url.Values{"request": {rq}, "case": regexp.MustCompile(`name="case" value="(sc_[a-z0-9]+)"`).FindAllString(preview, -1)}
		for i, v := range press["case"] {
			press["case"][i] = strings.TrimSuffix(strings.TrimPrefix(v, `name="case" value="`), `"`)
		}
		late := unconfirmed("late@example.com", true) // after the preview

		w := b.do(t, request{method: "POST", path: "/console/groups/unconfirmed", form: press, cookie: session})
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		require.Contains(t, w.Body.String(), "<strong>recover</strong>: 4 done now")
		for _, e := range paid {
			c, err := b.store.CustomerByEmail(ctx, e)
			require.NoError(t, err, e)
			grants, err := b.store.Grants(ctx, c.ID)
			require.NoError(t, err)
			require.Len(t, grants, 1, e)
		}
		_, err := b.store.CustomerByEmail(ctx, late.Email)
		require.Equal(t, paidup.ENOTFOUND, paidup.ErrorCode(err), "a case that came after the preview is not acted on")

		// Pressed again: nothing done twice.
		w = b.do(t, request{method: "POST", path: "/console/groups/unconfirmed", form: press, cookie: session})
		require.Contains(t, w.Body.String(), "<strong>recover</strong>: 0 done now")
		for _, e := range paid {
			c, _ := b.store.CustomerByEmail(ctx, e)
			grants, err := b.store.Grants(ctx, c.ID)
			require.NoError(t, err)
			require.Len(t, grants, 1, e)
		}
		entries, err := b.store.AuditLog(ctx, "", 0, 100)
		require.NoError(t, err)
		require.Len(t, entries, 4, "one audit entry per case")

		// A forged press: a case of another kind, and no preview.
		w = b.do(t, request{method: "POST", path: "/console/groups/unconfirmed", form: url.Values{"request": {"rq_forged"}, "case": {"sc_nope"}}, cookie: session})
		require.Contains(t, w.Body.String(), "No open case of this kind.")
		w = b.do(t, request{method: "POST", path: "/console/groups/dispute", form: press, cookie: session})
		require.Equal(t, http.StatusBadRequest, w.Code)
		w = b.do(t, request{method: "POST", path: "/console/groups/unconfirmed", form: url.Values{"request": {rq}}, cookie: session})
		require.Equal(t, http.StatusBadRequest, w.Code)
	})
}
