package events

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/sqldb"
)

// An event about a checkout or payment that merely names an attempt's
// reference acts on that checkout, never on the attempt: a foreign
// payment whose metadata names a fulfilled attempt is not passed over as
// "already settled" but granted on its own, and a foreign checkout that
// expires closes nobody else's.
func TestProcessWorkerForeignReference(t *testing.T) {
	ctx := context.Background()
	b := setupWorker(t, sqldb.SQLite)
	own, err := b.svc.Start(ctx, proAnnual, paidup.NewReference(), "ada@example.com")
	require.NoError(t, err)
	b.sb.Pay(t, own.CheckoutID, nil)
	b.deliver(t, b.eventOf(t, "checkout.session.completed", own.CheckoutID))
	fulfilled, err := b.store.CheckoutAttempt(ctx, own.Reference)
	require.NoError(t, err)
	require.Equal(t, paidup.AttemptFulfilled, fulfilled.Status)

	// Another integration's session, naming Ada's reference everywhere
	// paidup's own do; only its payment's event arrives.
	foreign := b.sb.CreateSession(t, url.Values{"client_reference_id": {own.Reference}, "metadata[paidup_checkout]": {own.Reference},
		"payment_intent_data[metadata][paidup_checkout]": {own.Reference}, "line_items[0][price]": {proAnnual.PriceID},
		"customer_email": {"eve@example.com"}})
	b.sb.Pay(t, foreign, nil)
	co, err := b.svc.Processor.Checkout(ctx, foreign)
	require.NoError(t, err)
	b.deliver(t, b.eventOf(t, "payment_intent.succeeded", co.PaymentID))

	got, err := b.store.CheckoutAttempt(ctx, own.Reference)
	require.NoError(t, err)
	require.Equal(t, fulfilled, got, "Ada's checkout is as it was")
	eve, err := b.store.CheckoutAttempt(ctx, "PROCESSOR-"+foreign)
	require.NoError(t, err, "the foreign payment is a purchase of its own")
	require.Equal(t, paidup.AttemptFulfilled, eve.Status)
	require.Equal(t, co.PaymentID, eve.PaymentID)
	c, err := b.store.Customer(ctx, eve.CustomerID)
	require.NoError(t, err)
	require.Equal(t, "eve@example.com", c.Email)
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM grants`))
	cases, err := b.store.OpenCases(ctx)
	require.NoError(t, err)
	require.Len(t, cases, 1)
	require.Equal(t, paidup.CaseForeignReference, cases[0].Kind)
	require.Equal(t, eve.Reference, cases[0].Reference)
	require.True(t, strings.HasPrefix(cases[0].Summary, "Checkout "+foreign+" named reference "+own.Reference+", which belongs to another checkout"), cases[0].Summary)
	timeline := b.timeline(t, own.Reference)
	require.Zero(t, countPrefix(timeline, "Webhook received: payment_intent.succeeded"), "the foreign payment's event is not on Ada's timeline: %q", timeline)
	require.Equal(t, 1, countPrefix(b.timeline(t, eve.Reference), "Webhook received: payment_intent.succeeded"))

	// The event again, and the session's own: nothing more.
	again := b.eventOf(t, "payment_intent.succeeded", co.PaymentID)
	again.ID += "_resent"
	b.deliver(t, again, b.eventOf(t, "checkout.session.completed", foreign))
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM grants`))
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM support_cases`))

	// A foreign session naming Bob's open checkout expires: Bob's stays
	// open.
	bob, err := b.svc.Start(ctx, proAnnual, paidup.NewReference(), "bob@example.com")
	require.NoError(t, err)
	stray := b.sb.CreateSession(t, url.Values{"client_reference_id": {bob.Reference}, "line_items[0][price]": {proAnnual.PriceID}})
	b.sb.Expire(t, stray)
	b.deliver(t, b.eventOf(t, "checkout.session.expired", stray))
	got, err = b.store.CheckoutAttempt(ctx, bob.Reference)
	require.NoError(t, err)
	require.Equal(t, paidup.AttemptOpen, got.Status)
	report, err := b.store.Check(ctx)
	require.NoError(t, err)
	require.Empty(t, report.Violations)
}
