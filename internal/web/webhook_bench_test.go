package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/config"
	"github.com/paidup/paidup/internal/events"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/obs"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sandbox"
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
		b.Run(string(engine), func(b *testing.B) {
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
			h := web.NewServer(web.Deps{
				Store: s, DB: db, Queue: jobs, Ingester: ingester, Outbox: outbox,
				Checkout: &checkout.Service{Store: s, Policy: &cfg.Policy, Notify: outbox, Logger: log},
				Webhooks: stripe.Verifier{Secrets: []string{secret}}, Policy: &cfg.Policy,
				Business: web.Business{Name: "Bench", SupportEmail: "help@example.com"}, PublicURL: "http://paidup.test",
				SessionTTL: time.Hour, LinkTTL: time.Hour, Now: time.Now, Logger: log, Metrics: obs.NewMetrics(),
			})
			before, after := benchEvent(b)
			var next atomic.Int64
			b.SetParallelism(32)
			b.SetBytes(int64(len(before) + len(after) + 20))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					payload := fmt.Appendf(nil, "%sevt_bench_%d%s", before, next.Add(1), after)
					req := httptest.NewRequest(http.MethodPost, "/webhooks/stripe", bytes.NewReader(payload))
					req.Header.Set("Content-Type", "application/json; charset=utf-8")
					req.Header.Set("Stripe-Signature", sandbox.Sign(payload, secret, time.Now()))
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
