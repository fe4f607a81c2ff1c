package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	stripego "github.com/stripe/stripe-go/v84"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

const foreignAPIKey = "foreign-test-api-key-0123456789ab"

// A reference is a hint, never an authority. Anyone can put another
// customer's reference in a payment link's client_reference_id, and any
// integration holding the key can make a session carry it; such a paid
// checkout is a purchase of its own, granted by its price, with a support
// case, and the customer whose reference it named is untouched: their page
// does not say "You're in" before they pay, and when they pay, the webhook
// (or, without webhooks, their return page) grants them at once. The
// reconciler runs once an hour here, so it settles none of this.
func TestForeignReference(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		s := startForeignShop(t, engine)
		link := s.paymentLink("price_pro_annual")

		t.Run("a payment link naming an open checkout, then the webhook", func(t *testing.T) {
			s := s.on(t)
			ada := s.begin("ada@example.com")
			s.buyThroughLink(link, ada.ref, "mallory@example.com")
			s.settle()
			s.requireForeign(ada, "mallory@example.com")

			s.pay(ada) // and closes the tab: only the webhook can grant
			require.Eventually(t, func() bool { return s.access("ada@example.com").Active }, 20*time.Second, 50*time.Millisecond,
				"the webhook grants the real buyer")
			s.settle()
			require.Equal(t, 1, s.count(`SELECT count(*) FROM timeline WHERE reference = $1 AND summary = $2`, ada.ref,
				"Payment of $249.00 confirmed by the processor (webhook)"))
			s.requireOwnPage(ada)
		})

		t.Run("a payment link naming an open checkout, then the return page", func(t *testing.T) {
			s := s.on(t)
			bob := s.begin("bob@example.com")
			s.buyThroughLink(link, bob.ref, "mallory+2@example.com")
			s.settle()
			s.requireForeign(bob, "mallory+2@example.com")

			s.faults(`[{"action": "drop"}]`)
			defer s.faults(`[]`)
			s.pay(bob)
			body := s.page(bob.back)
			require.Contains(t, body, "<h1>You're in</h1>", "the return page grants the real buyer on the first visit")
			require.Contains(t, body, "Your payment of $249.00 went through")
			require.True(t, s.access("bob@example.com").Active)
			require.Equal(t, 1, s.count(`SELECT count(*) FROM timeline WHERE reference = $1 AND summary = $2`, bob.ref,
				"Payment of $249.00 confirmed by the processor (the customer returned from paying)"))
		})

		t.Run("a payment link naming a fulfilled checkout", func(t *testing.T) {
			s := s.on(t)
			carol := s.begin("carol@example.com")
			s.pay(carol)
			require.Contains(t, s.page(carol.back), "<h1>You're in</h1>")
			s.settle()
			before := s.attempt(carol.ref)

			s.buyThroughLink(link, carol.ref, "mallory+3@example.com")
			s.settle()
			require.True(t, s.access("mallory+3@example.com").Active)
			require.Equal(t, before, s.attempt(carol.ref), "the fulfilled checkout is not re-pointed at the link's buyer")
			body := s.page(carol.status)
			require.Contains(t, body, "Your payment of $249.00 went through")
			require.Contains(t, body, "carol@example.com")
			require.Equal(t, 1, s.count(`SELECT count(*) FROM support_cases WHERE kind = 'foreign_reference' AND summary LIKE $1`, "% named reference "+carol.ref+",%"))
		})

		t.Run("another integration's session naming a checkout", func(t *testing.T) {
			s := s.on(t)
			dave := s.begin("dave@example.com")
			p := &stripego.CheckoutSessionCreateParams{
				Mode:              stripego.String("payment"),
				ClientReferenceID: stripego.String(dave.ref),
				CustomerEmail:     stripego.String("eve@example.com"),
				SuccessURL:        stripego.String("https://elsewhere.example/done"),
				LineItems:         []*stripego.CheckoutSessionCreateLineItemParams{{Price: stripego.String("price_pro_annual"), Quantity: stripego.Int64(1)}},
				PaymentIntentData: &stripego.CheckoutSessionCreatePaymentIntentDataParams{Metadata: map[string]string{"paidup_checkout": dave.ref}},
			}
			p.AddMetadata("paidup_checkout", dave.ref)
			p.AddMetadata("paidup_plan", "pro-annual")
			cs, err := s.api.V1CheckoutSessions.Create(t.Context(), p)
			require.NoError(t, err)
			require.Equal(t, http.StatusSeeOther, payPage(t, cs.URL, "eve@example.com"))
			s.settle()
			s.requireForeign(dave, "eve@example.com")

			s.pay(dave)
			require.Eventually(t, func() bool { return s.access("dave@example.com").Active }, 20*time.Second, 50*time.Millisecond)
			s.settle()
			s.requireOwnPage(dave)
		})

		t.Run("a payment link with a reference that is not paidup's", func(t *testing.T) {
			s := s.on(t)
			s.buyThroughLink(link, "user_42", "frank@example.com")
			stray := s.strayLink()
			s.buyThroughLink(stray, "user_43", "grace@example.com")
			s.settle()
			require.True(t, s.access("frank@example.com").Active, "a plan's price grants on its own merits")
			require.Zero(t, s.count(`SELECT count(*) FROM checkout_attempts WHERE reference LIKE 'user_%'`), "a foreign client reference is never a key")
			require.Equal(t, 1, s.count(`SELECT count(*) FROM checkout_attempts a JOIN customers c ON c.id = a.customer_id
				WHERE c.email = 'frank@example.com' AND a.reference LIKE 'PROCESSOR-cs_test_%'`))
			require.Zero(t, s.count(`SELECT count(*) FROM customers WHERE email = 'grace@example.com'`), "a price no plan sells is none of paidup's business")
			require.Zero(t, s.count(`SELECT count(*) FROM support_cases WHERE summary LIKE '%user_4%'`))
		})

		// Every paid checkout has one grant, every foreign one one case,
		// nothing else needed a person, and paidup check agrees.
		require.Equal(t, 9, s.count(`SELECT count(*) FROM grants`), "ada, bob, carol, dave and frank, and the four who named their references")
		require.Equal(t, 4, s.count(`SELECT count(*) FROM support_cases WHERE kind = 'foreign_reference'`))
		require.Equal(t, 4, s.count(`SELECT count(*) FROM support_cases`))
		out, err := s.check()
		require.NoError(t, err, out)
		require.Contains(t, out, "OK")

		// paidup check notices an attempt whose payment is another
		// checkout's.
		var carol, mallory string
		require.NoError(t, s.db().Read.QueryRow(`SELECT a.reference FROM checkout_attempts a JOIN customers c ON c.id = a.customer_id
			WHERE c.email = 'carol@example.com'`).Scan(&carol))
		require.NoError(t, s.db().Read.QueryRow(`SELECT p.payment_id FROM payments p JOIN customers c ON c.id = p.customer_id
			WHERE c.email = 'mallory+3@example.com'`).Scan(&mallory))
		_, err = s.db().Write.Exec(`UPDATE checkout_attempts SET payment_id = $1 WHERE reference = $2`, mallory, carol)
		require.NoError(t, err)
		out, err = s.check()
		require.Error(t, err)
		require.Contains(t, out, "VIOLATION: a checkout attempt's payment was not made through its own checkout: "+carol+" records payment "+mallory)
	})
}

// foreignShop is paidup serve, with its sandbox and mailbox, for
// TestForeignReference.
type foreignShop struct {
	t              *testing.T
	in             *instance
	cfgPath, dbURL string
	api            *stripego.Client
	database       *sqldb.DB
}

func startForeignShop(t *testing.T, engine sqldb.Engine) *foreignShop {
	dir := t.TempDir()
	cfg := strings.Replace(string(exampleConfig(t)), "keys: []", "keys: ["+foreignAPIKey+"]", 1)
	cfg = strings.Replace(cfg, "  interval: 15s", "  interval: 1h", 1)
	cfgPath := filepath.Join(dir, "paidup.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
	dbURL := sqldbtest.URL(t, engine)
	in := start(t, nil, "serve", "--config", cfgPath, "--listen", "127.0.0.1:0", "--sandbox-listen", "127.0.0.1:0",
		"--database-url", dbURL, "--sandbox-database-url", "sqlite:"+filepath.Join(dir, "sandbox.db"))
	db, err := sqldb.Open(t.Context(), dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return &foreignShop{t: t, in: in, cfgPath: cfgPath, dbURL: dbURL, api: sandboxAPI(in.sandbox, "sk_test_foreign"), database: db}
}

func (s *foreignShop) db() *sqldb.DB { return s.database }

// on is the shop as seen by a subtest.
func (s *foreignShop) on(t *testing.T) *foreignShop {
	c := *s
	c.t = t
	return &c
}

// purchase is a customer's checkout on the shop: its reference, payment
// page, status page (opened by its token) and return address.
type purchase struct {
	email, ref, payPage, status, back string
}

// begin fills in the shop's buy form for Pro, one year, and stops at the
// payment page.
func (s *foreignShop) begin(email string) purchase {
	t := s.t
	_, form := get(t, s.in.shop+"/buy/pro-annual")
	ref := regexp.MustCompile(`PU-[0-9A-Z]{4}-[0-9A-Z]{4}`).FindString(form)
	status, payPage, _ := postForm(t, s.in.shop+"/buy/pro-annual", url.Values{"email": {email}, "reference": {ref}})
	require.Equal(t, http.StatusSeeOther, status)
	id := payPage[strings.LastIndex(payPage, "/")+1:]
	cs, err := s.api.V1CheckoutSessions.Retrieve(t.Context(), id, nil)
	require.NoError(t, err)
	back := strings.ReplaceAll(strings.TrimPrefix(cs.SuccessURL, s.in.shop), "{CHECKOUT_SESSION_ID}", id)
	return purchase{email: email, ref: ref, payPage: payPage, status: strings.Split(back, "&")[0], back: back}
}

// pay pays on the purchase's payment page.
func (s *foreignShop) pay(p purchase) {
	require.Equal(s.t, http.StatusSeeOther, payPage(s.t, p.payPage, p.email))
}

// payPage pays on a sandbox payment page with the test card and returns
// the status of the answer.
func payPage(t *testing.T, page, email string) int {
	t.Helper()
	status, _, body := postForm(t, page, url.Values{"card_number": {"4242 4242 4242 4242"}, "exp": {"12/34"}, "cvc": {"123"}, "email": {email}})
	if status != http.StatusSeeOther && status != http.StatusOK {
		t.Fatalf("paying on %s: %d\n%s", page, status, body)
	}
	return status
}

// paymentLink makes a payment link for a price, as the operator might
// in Stripe's dashboard.
func (s *foreignShop) paymentLink(price string) *stripego.PaymentLink {
	pl, err := s.api.V1PaymentLinks.Create(s.t.Context(), &stripego.PaymentLinkCreateParams{
		LineItems: []*stripego.PaymentLinkCreateLineItemParams{{Price: stripego.String(price), Quantity: stripego.Int64(1)}},
		AfterCompletion: &stripego.PaymentLinkCreateAfterCompletionParams{Type: stripego.String("redirect"),
			Redirect: &stripego.PaymentLinkCreateAfterCompletionRedirectParams{URL: stripego.String(s.in.shop + "/")}},
	})
	require.NoError(s.t, err)
	return pl
}

// strayLink is a payment link for something no plan sells.
func (s *foreignShop) strayLink() *stripego.PaymentLink {
	pr, err := s.api.V1Prices.Create(s.t.Context(), &stripego.PriceCreateParams{Currency: stripego.String("usd"), UnitAmount: stripego.Int64(999),
		ProductData: &stripego.PriceCreateProductDataParams{Name: stripego.String("A T-shirt")}})
	require.NoError(s.t, err)
	return s.paymentLink(pr.ID)
}

// buyThroughLink opens a payment link with a client reference and an
// email in its URL, as anyone can, and pays.
func (s *foreignShop) buyThroughLink(pl *stripego.PaymentLink, clientRef, email string) {
	t := s.t
	status, page, _ := getNoFollow(t, pl.URL+"?client_reference_id="+url.QueryEscape(clientRef)+"&prefilled_email="+url.QueryEscape(email))
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, http.StatusSeeOther, payPage(t, page, email))
}

// requireForeign checks that a checkout another buyer paid naming p's
// reference left p as it was and was granted on its own.
func (s *foreignShop) requireForeign(p purchase, buyer string) {
	t := s.t
	t.Helper()
	a := s.attempt(p.ref)
	require.Equal(t, attemptRow{Status: "open"}, a, "the checkout whose reference was named is untouched")
	require.False(t, s.access(p.email).Active)
	for _, path := range []string{p.status, "/checkout/" + p.ref} {
		body := s.page(path)
		require.NotContains(t, body, "You're in", path)
		require.NotContains(t, body, "went through", path)
	}
	require.Contains(t, s.page(p.status), "Your payment is not finished")

	require.True(t, s.access(buyer).Active, "the link's buyer is granted by the price they paid")
	var ref, summary string
	require.NoError(t, s.db().Read.QueryRow(`SELECT a.reference FROM checkout_attempts a JOIN customers c ON c.id = a.customer_id
		WHERE c.email = $1`, buyer).Scan(&ref))
	require.True(t, strings.HasPrefix(ref, "PROCESSOR-cs_test_"), ref)
	require.NoError(t, s.db().Read.QueryRow(`SELECT summary FROM support_cases WHERE kind = 'foreign_reference' AND reference = $1`, ref).Scan(&summary))
	require.Contains(t, summary, "Checkout "+strings.TrimPrefix(ref, "PROCESSOR-")+" named reference "+p.ref+", which belongs to another checkout")
}

// requireOwnPage checks the buyer's own status page after they paid.
func (s *foreignShop) requireOwnPage(p purchase) {
	s.t.Helper()
	body := s.page(p.back)
	require.Contains(s.t, body, "<h1>You're in</h1>")
	require.Contains(s.t, body, "Your payment of $249.00 went through")
	require.Contains(s.t, body, p.email)
}

// attemptRow is what matters of a checkout attempt here.
type attemptRow struct {
	Status, Customer, Payment string
}

func (s *foreignShop) attempt(ref string) attemptRow {
	var a attemptRow
	require.NoError(s.t, s.db().Read.QueryRow(`SELECT status, COALESCE(customer_id, ''), COALESCE(payment_id, '') FROM checkout_attempts
		WHERE reference = $1`, ref).Scan(&a.Status, &a.Customer, &a.Payment))
	return a
}

func (s *foreignShop) access(email string) accessView {
	req, _ := http.NewRequest(http.MethodGet, s.in.shop+"/api/v1/access?email="+url.QueryEscape(email), nil)
	req.Header.Set("Authorization", "Bearer "+foreignAPIKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	var a accessView
	require.NoError(s.t, json.NewDecoder(resp.Body).Decode(&a))
	return a
}

func (s *foreignShop) page(path string) string {
	s.t.Helper()
	status, body := get(s.t, s.in.shop+path)
	require.Equal(s.t, http.StatusOK, status, body)
	return body
}

func (s *foreignShop) count(query string, args ...any) int {
	s.t.Helper()
	var n int
	require.NoError(s.t, s.db().Read.QueryRow(query, args...).Scan(&n))
	return n
}

func (s *foreignShop) faults(rules string) {
	req, err := http.NewRequest(http.MethodPost, s.in.sandbox+"/_sandbox/faults", strings.NewReader(`{"faults": `+rules+`}`))
	require.NoError(s.t, err)
	req.Header.Set("Authorization", "Bearer sk_test_foreign")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	resp.Body.Close()
	require.Equal(s.t, http.StatusOK, resp.StatusCode)
}

// settle waits until every webhook is delivered and processed.
func (s *foreignShop) settle() {
	s.t.Helper()
	require.Eventually(s.t, func() bool {
		return !strings.Contains(sandboxGet(s.t, s.in.sandbox, "/_sandbox/deliveries?status=pending"), `"id"`) &&
			s.count(`SELECT count(*) FROM webhook_events WHERE processed_at IS NULL`) == 0 &&
			s.count(`SELECT count(*) FROM river_job WHERE state IN ('available', 'running', 'retryable') AND kind NOT IN ('reconcile', 'deadline_sweep')`) == 0
	}, 30*time.Second, 50*time.Millisecond)
}

func (s *foreignShop) check() (string, error) {
	var stdout, stderr strings.Builder
	err := run(s.t.Context(), []string{"check", "--config", s.cfgPath, "--database-url", s.dbURL}, func(string) string { return "" }, &stdout, &stderr)
	return stdout.String(), err
}

func getNoFollow(t *testing.T, target string) (int, string, string) {
	t.Helper()
	resp, err := noRedirect.Get(target)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}
