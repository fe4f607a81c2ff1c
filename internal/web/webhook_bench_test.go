package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/config"
	"github.com/paidup/paidup/internal/events"
	"github.com/paidup/paidup/internal/limit"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/obs"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sandbox"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
	"github.com/paidup/paidup/internal/stripe"
	"github.com/paidup/paidup/internal/web"
)

// BenchmarkWebhook measures the acknowledgement path of a Stripe webhook,
// from many senders at once, in the process: reading the body, checking
// its signature, decoding it, committing it with its processing job (group
// commit, synchronous=FULL on SQLite) and answering 200. No job is worked
// meanwhile, and no TCP is involved: this is the path's own capacity, not
// paidup's sustained rate (see cmd/paidup-load). Each event is a
// checkout.session.completed of about 2.5 kB, as Stripe sends them.
func BenchmarkWebhook(b *testing.B) {
	for _, engine := range sqldbtest.Engines {
		for _, limits := range []string{"limits=off", "limits=on"} {
			b.Run(string(engine)+"/"+limits, func(b *testing.B) {
				h := newBenchServer(b, engine, limits == "limits=on")
				before, after := benchEvent(b)
				var next atomic.Int64
				b.SetParallelism(32)
				b.SetBytes(int64(len(before) + len(after) + 20))
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						n := next.Add(1)
						payload := fmt.Appendf(nil, "%sevt_bench_%d%s", before, n, after)
						req := httptest.NewRequest(http.MethodPost, "/webhooks/stripe", bytes.NewReader(payload))
						req.Header.Set("Content-Type", "application/json; charset=utf-8")
						req.Header.Set("Stripe-Signature", sandbox.Sign(payload, secret, time.Now()))
						req.Header.Set("X-Forwarded-For", benchClient(n))
						rec := httptest.NewRecorder()
						h.ServeHTTP(rec, req)
						if rec.Code != http.StatusOK {
							b.Errorf("webhook answered %d: %s", rec.Code, rec.Body)
							return
						}
					}
				})
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "acks/s")
			})
		}
	}
}

// newBenchServer is paidup's web server on a fresh database of engine,
// with its event ingester running and no processor. With limits, the
// shipped per-client limits apply, behind a trusted proxy on loopback,
// over https (HSTS).
func newBenchServer(b *testing.B, engine sqldb.Engine, limits bool) *web.Server {
	b.Helper()
	ctx := context.Background()
	cfg, err := config.Load("", config.Overrides{})
	if err != nil {
		b.Fatal(err)
	}
	db := sqldbtest.Open(b, engine)
	if _, err := db.Migrate(ctx, store.Migrations); err != nil {
		b.Fatal(err)
	}
	if _, err := queue.Migrate(ctx, db); err != nil {
		b.Fatal(err)
	}
	jobs, err := queue.NewInserter(db)
	if err != nil {
		b.Fatal(err)
	}
	s, err := store.New(db, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	outbox := &notify.Outbox{}
	ingester := events.NewIngester(s, log)
	ictx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { ingester.Run(ictx); close(done) }()
	b.Cleanup(func() { stop(); <-done })
	d := web.Deps{
		Store: s, DB: db, Queue: jobs, Ingester: ingester, Outbox: outbox,
		Checkout: &checkout.Service{Store: s, Policy: &cfg.Policy, Notify: outbox, Logger: log},
		Webhooks: stripe.Verifier{Secrets: []string{secret}}, Policy: &cfg.Policy,
		Business: web.Business{Name: "Bench", SupportEmail: "help@example.com"}, PublicURL: "http://paidup.test",
		SessionTTL: time.Hour, LinkTTL: time.Hour, Now: time.Now, Logger: log, Metrics: obs.NewMetrics(),
	}
	if limits {
		rule := func(r config.Rate) limit.Rule { return limit.Rule{PerMinute: float64(r.PerMinute), Burst: r.Burst} }
		l := cfg.Limits
		d.Limits = web.Limits{Checkout: rule(l.Checkout), SignInLink: rule(l.SignInLink), SignIn: rule(l.SignIn), Status: rule(l.Status),
			APIAuthFailures: rule(l.APIAuthFailures), MaxClients: l.MaxClients, AlertAfter: l.AlertAfter}
		d.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
		d.PublicURL = "https://paidup.test"
	}
	return web.NewServer(d)
}

// benchClient is the nth of many customers' addresses.
func benchClient(n int64) string {
	return fmt.Sprintf("10.%d.%d.%d", byte(n>>16), byte(n>>8), byte(n))
}

// BenchmarkStatusPage is a status lookup (a reference that does not
// exist: one database read and the page) with and without the per-client
// limits, each request from another customer behind the trusted proxy:
// what the limit costs a page.
func BenchmarkStatusPage(b *testing.B) {
	for _, limits := range []string{"limits=off", "limits=on"} {
		b.Run(limits, func(b *testing.B) {
			h := newBenchServer(b, sqldb.SQLite, limits == "limits=on")
			var next atomic.Int64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := next.Add(1)
					req := httptest.NewRequest(http.MethodGet, "/checkout/PU-0000-0000", nil)
					req.Header.Set("X-Forwarded-For", benchClient(n))
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusNotFound {
						b.Errorf("status page answered %d", rec.Code)
						return
					}
				}
			})
		})
	}
}

// benchEvent is a checkout.session.completed event, pretty-printed as
// Stripe sends it, split where its id goes.
func benchEvent(b *testing.B) (before, after []byte) {
	b.Helper()
	session := map[string]any{
		"id": "cs_test_a1b2c3d4e5f6g7h8i9j0", "object": "checkout.session", "after_expiration": nil, "allow_promotion_codes": nil,
		"amount_subtotal": 24900, "amount_total": 24900, "automatic_tax": map[string]any{"enabled": false, "liability": nil, "status": nil},
		"billing_address_collection": nil, "cancel_url": "https://shop.example.com/buy/pro-annual?cancelled=PU-4F7K-9QXD",
		"client_reference_id": "PU-4F7K-9QXD", "client_secret": nil, "consent": nil, "consent_collection": nil, "created": 1763900000,
		"currency": "usd", "custom_fields": []any{}, "custom_text": map[string]any{"after_submit": nil, "shipping_address": nil, "submit": nil, "terms_of_service_acceptance": nil},
		"customer": "cus_R4nd0mCust0m3r", "customer_creation": "always",
		"customer_details": map[string]any{"address": nil, "email": "ada@example.com", "name": "Ada Lovelace", "phone": nil, "tax_exempt": "none", "tax_ids": []any{}},
		"customer_email":   "ada@example.com", "expires_at": 1763986340, "invoice": nil, "invoice_creation": map[string]any{"enabled": false, "invoice_data": map[string]any{}},
		"livemode": false, "locale": nil, "metadata": map[string]any{"paidup_checkout": "PU-4F7K-9QXD", "paidup_plan": "pro-annual"},
		"mode": "payment", "payment_intent": "pi_3Q9zYxAbCdEfGhIj", "payment_link": nil, "payment_method_collection": "if_required",
		"payment_method_configuration_details": nil, "payment_method_options": map[string]any{"card": map[string]any{"request_three_d_secure": "automatic"}},
		"payment_method_types": []any{"card"}, "payment_status": "paid", "phone_number_collection": map[string]any{"enabled": false},
		"recovered_from": nil, "saved_payment_method_options": nil, "setup_intent": nil, "shipping_address_collection": nil,
		"shipping_cost": nil, "shipping_details": nil, "shipping_options": []any{}, "status": "complete", "submit_type": nil,
		"subscription": nil, "success_url": "https://shop.example.com/checkout/PU-4F7K-9QXD?checkout={CHECKOUT_SESSION_ID}",
		"total_details": map[string]any{"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0}, "ui_mode": "hosted", "url": nil,
	}
	ev := map[string]any{
		"id": "\x00", "object": "event", "api_version": "2025-03-31.basil", "created": 1763900001,
		"data": map[string]any{"object": session}, "livemode": false, "pending_webhooks": 1,
		"request": map[string]any{"id": nil, "idempotency_key": nil}, "type": "checkout.session.completed",
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(ev); err != nil {
		b.Fatal(err)
	}
	before, after, _ = bytes.Cut(buf.Bytes(), []byte(`\u0000`))
	return before, after
}
