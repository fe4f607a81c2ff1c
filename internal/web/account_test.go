package web_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	stripego "github.com/stripe/stripe-go/v84"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/lifecycle"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/web"
)

// subscribers is a test bundle whose account page cancels and resumes
// subscriptions at the sandbox, through the real Stripe adapter, and syncs
// them with the real lifecycle.
type subscribers struct {
	*testBundle
	life   *lifecycle.Service
	stripe *stripego.Client
	seen   map[string]bool // subscriptions already handed out
}

func setupSubscribers(t *testing.T, engine sqldb.Engine, options ...func(*web.Deps)) *subscribers {
	s := &subscribers{seen: map[string]bool{}}
	s.testBundle = setup(t, engine, append(options, func(d *web.Deps) {
		p := d.Checkout.Processor
		s.life = &lifecycle.Service{Store: d.Store, Processor: p, Policy: d.Policy, Notify: d.Outbox, Logger: slog.New(slog.DiscardHandler)}
		d.Billing = map[string]paidup.Billing{"stripe": p}
		d.Subscriptions = map[string]web.SubscriptionSyncer{"stripe": s.life}
	})...)
	s.stripe = stripego.NewClient("sk_test_web", stripego.WithBackends(stripego.NewBackendsWithConfig(
		&stripego.BackendConfig{URL: stripego.String(s.sandboxURL), LeveledLogger: &stripego.LeveledLogger{Level: stripego.LevelNull}})))
	return s
}

// subscribe buys Pro monthly for email, syncs the subscription as its
// webhook would, and returns its id and a signed-in cookie.
func (s *subscribers) subscribe(t *testing.T, email string) (string, map[string]string) {
	t.Helper()
	ctx := context.Background()
	ref := formReference(t, s.do(t, "GET", "/buy/pro-monthly", nil, nil).body)
	r := s.do(t, "POST", "/buy/pro-monthly", url.Values{"email": {email}, "reference": {ref}}, nil)
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	payPage := r.header.Get("Location")
	s.pay(t, payPage)
	require.Contains(t, s.do(t, "GET", s.returnPath(t, payPage), nil, nil).body, "You're in")
	var subID string
	for sub, err := range s.stripe.V1Subscriptions.List(ctx, &stripego.SubscriptionListParams{}) {
		require.NoError(t, err)
		if !s.seen[sub.ID] {
			subID, s.seen[sub.ID] = sub.ID, true
		}
	}
	require.NotEmpty(t, subID)
	require.NoError(t, s.life.SyncSubscription(ctx, subID, "", paidup.ByWebhook))
	c, err := s.store.CustomerByEmail(ctx, email)
	require.NoError(t, err)
	token, err := s.store.CreateSignInLink(ctx, c.ID, time.Hour)
	require.NoError(t, err)
	r = s.do(t, "POST", "/account/sign-in", url.Values{"token": {token}}, nil)
	require.Equal(t, http.StatusSeeOther, r.status)
	return subID, map[string]string{"Cookie": strings.SplitN(r.header.Get("Set-Cookie"), ";", 2)[0]}
}

func (s *subscribers) cancelsAtPeriodEnd(t *testing.T, subID string) bool {
	t.Helper()
	sub, err := s.stripe.V1Subscriptions.Retrieve(context.Background(), subID, nil)
	require.NoError(t, err)
	return sub.CancelAtPeriodEnd
}

// emails lists the kinds of the lifecycle emails queued to an address.
func (s *subscribers) emails(t *testing.T, to string) []string {
	t.Helper()
	rows, err := s.db.Read.Query(`SELECT kind FROM emails WHERE to_address = $1 AND dedupe_key LIKE 'lifecycle:%' ORDER BY queued_at, id`, to)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		out = append(out, k)
	}
	return out
}

// refusing is a processor that refuses to change subscriptions.
type refusing struct{ paidup.Processor }

func (refusing) SetCancelAtPeriodEnd(context.Context, string, bool) (paidup.ProcessorSubscription, error) {
	return paidup.ProcessorSubscription{}, errors.New("stripe: 503 api_error: the processor is having a moment")
}

var periodEnd = regexp.MustCompile(`until ([0-9]{1,2} [A-Z][a-z]+ [0-9]{4})`)

// A subscriber cancels at the period's end from the account page, and
// resumes: each at the processor, each read back, each confirmed by one
// email; a cancellation made at the processor (its portal) reads the
// same. Forged, cross-site and another customer's attempts change
// nothing, and a processor that fails is reported as it is.
func TestAccountCancelAndResume(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		s := setupSubscribers(t, engine)
		ada, adaCookie := s.subscribe(t, "ada@example.com")
		_, bobCookie := s.subscribe(t, "bob@example.com")
		page := func() string { return visibleText(s.do(t, "GET", "/account", nil, adaCookie).body) }
		before := page()
		require.Contains(t, before, "Renews on ")
		require.Contains(t, before, "for $19.00")
		require.NotContains(t, before, "Cancelled")
		require.Contains(t, before, "Update your card", "a subscriber has the card box")
		form := url.Values{"subscription": {ada}}

		// Refused: signed out, cross-site, someone else's.
		r := s.do(t, "POST", "/account/cancel", form, nil)
		require.Equal(t, http.StatusSeeOther, r.status)
		require.Equal(t, "/account", r.header.Get("Location"))
		r = s.do(t, "POST", "/account/cancel", form, map[string]string{"Cookie": adaCookie["Cookie"], "Origin": "https://evil.example"})
		require.Equal(t, http.StatusForbidden, r.status)
		r = s.do(t, "POST", "/account/cancel", form, bobCookie)
		require.Equal(t, http.StatusNotFound, r.status)
		require.Contains(t, visibleText(r.body), "Nothing has changed")
		require.False(t, s.cancelsAtPeriodEnd(t, ada))

		// The processor fails: the page says so, and nothing changed.
		s.processor.Processor = refusing{s.processor.Processor}
		r = s.do(t, "POST", "/account/cancel", form, adaCookie)
		require.Equal(t, http.StatusServiceUnavailable, r.status)
		text := visibleText(r.body)
		require.Contains(t, text, "We could not cancel your subscription just now")
		require.Contains(t, text, "Nothing has changed")
		require.Contains(t, text, "Renews on ")
		require.NotContains(t, text, "Cancelled:")
		s.processor.Processor = s.processor.Processor.(refusing).Processor
		require.False(t, s.cancelsAtPeriodEnd(t, ada))
		require.Empty(t, s.emails(t, "ada@example.com"))

		// Cancelled, twice (a double click): once at the processor's
		// word, one email.
		for range 2 {
			r = s.do(t, "POST", "/account/cancel", form, adaCookie)
			require.Equal(t, http.StatusSeeOther, r.status, r.body)
			require.Equal(t, "/account?done=cancelled", r.header.Get("Location"))
		}
		require.True(t, s.cancelsAtPeriodEnd(t, ada))
		text = visibleText(s.do(t, "GET", "/account?done=cancelled", nil, adaCookie).body)
		require.Contains(t, text, "Your subscription is cancelled. It will not renew")
		require.Contains(t, text, "Cancelled: you keep Pro until ")
		require.Contains(t, text, "Resume the subscription")
		require.NotContains(t, text, "Renews on")
		require.NotEqual(t, before, page(), "the page reads differently once cancelled")
		require.Equal(t, []string{notify.KindCancellation}, s.emails(t, "ada@example.com"))
		emails, err := s.store.Emails(context.Background(), mustCustomer(t, s.testBundle, "ada@example.com"))
		require.NoError(t, err)
		for _, e := range emails {
			if e.Kind == notify.KindCancellation {
				require.True(t, paidup.IsReference(e.Data["reference"]), "the subscription's checkout reference: %q", e.Data["reference"])
				until, err := time.Parse(time.RFC3339, e.Data["until"])
				require.NoError(t, err)
				require.Equal(t, until.Format("2 January 2006"), periodEnd.FindStringSubmatch(text)[1], "the page and the email name the same end")
			}
		}
		require.Empty(t, s.emails(t, "bob@example.com"))

		// Resumed.
		r = s.do(t, "POST", "/account/resume", form, adaCookie)
		require.Equal(t, http.StatusSeeOther, r.status)
		require.False(t, s.cancelsAtPeriodEnd(t, ada))
		text = visibleText(s.do(t, "GET", "/account?done=resumed", nil, adaCookie).body)
		require.Contains(t, text, "no longer cancelled")
		require.Contains(t, text, "Renews on ")
		require.Equal(t, []string{notify.KindCancellation, notify.KindResumed}, s.emails(t, "ada@example.com"))

		// Cancelled at the processor's portal: the same page, and email.
		_, err = s.stripe.V1Subscriptions.Update(context.Background(), ada, &stripego.SubscriptionUpdateParams{CancelAtPeriodEnd: stripego.Bool(true)})
		require.NoError(t, err)
		require.NoError(t, s.life.SyncSubscription(context.Background(), ada, "", paidup.ByWebhook))
		text = page()
		require.Contains(t, text, "Cancelled: you keep Pro until ")
		require.NotContains(t, text, "Your subscription is cancelled.", "no notice without the customer's own action")
		require.Equal(t, []string{notify.KindCancellation, notify.KindResumed, notify.KindCancellation}, s.emails(t, "ada@example.com"))

		// An address saying it was resumed, while it is not, says nothing.
		require.NotContains(t, visibleText(s.do(t, "GET", "/account?done=resumed", nil, adaCookie).body), "no longer cancelled")
	})
}

func mustCustomer(t *testing.T, b *testBundle, email string) string {
	t.Helper()
	c, err := b.store.CustomerByEmail(context.Background(), email)
	require.NoError(t, err)
	return c.ID
}
