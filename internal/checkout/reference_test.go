package checkout_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// lostAnswer is the processor with its answer to checkout creation lost
// on the way back: the checkout exists, and paidup never learns its id.
type lostAnswer struct{ paidup.Processor }

func (p lostAnswer) CreateCheckout(ctx context.Context, r paidup.CheckoutRequest) (paidup.Checkout, error) {
	if _, err := p.Processor.CreateCheckout(ctx, r); err != nil {
		return paidup.Checkout{}, err
	}
	return paidup.Checkout{}, paidup.Errorf(paidup.EUNAVAILABLE, "connection reset after the request was sent")
}

// sessions lists the processor's checkout sessions, as maps.
func (b *testBundle) sessions(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, s := range b.sb.Call(t, "GET", "/v1/checkout/sessions?limit=100", nil)["data"].([]any) {
		out = append(out, s.(map[string]any))
	}
	return out
}

// sessionFor finds the processor's session that carries ref.
func (b *testBundle) sessionFor(t *testing.T, ref string) map[string]any {
	t.Helper()
	for _, s := range b.sessions(t) {
		if s["client_reference_id"] == ref {
			return s
		}
	}
	t.Fatalf("no checkout session carries %s", ref)
	return nil
}

// A new attempt's checkout carries its status token in the success URL
// and its proof in the metadata; paidup keeps the token only until the
// checkout is recorded, and its hash for good. Only the submit that made
// the attempt gets the token back.
func TestStatusTokens(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		ref := paidup.NewReference()
		a, err := b.svc.Start(ctx, proAnnual, ref, "ada@example.com")
		require.NoError(t, err)
		require.Len(t, a.StatusToken, 43)
		require.True(t, a.OpensWith(a.StatusToken))
		s := b.sessionFor(t, ref)
		require.Equal(t, "http://paidup.test"+checkout.StatusPath(ref, a.StatusToken)+"&checkout={CHECKOUT_SESSION_ID}", s["success_url"])
		require.Equal(t, paidup.CheckoutProof(a.StatusToken), s["metadata"].(map[string]any)["paidup_proof"])

		stored, err := b.store.CheckoutAttempt(ctx, ref)
		require.NoError(t, err)
		require.Empty(t, stored.StatusToken, "forgotten once the checkout is recorded")
		require.Equal(t, paidup.HashStatusToken(a.StatusToken), stored.StatusTokenHash)
		require.Zero(t, b.count(t, `SELECT count(*) FROM checkout_attempts WHERE status_token_hash = $1 OR status_token = $1`, a.StatusToken),
			"the token is nowhere in the database")

		again, err := b.svc.Start(ctx, proAnnual, ref, "ada@example.com")
		require.NoError(t, err)
		require.Equal(t, a.CheckoutID, again.CheckoutID)
		require.Empty(t, again.StatusToken, "submitting the form again does not hand out the token")
	})
}

// Paid through a checkout paidup created but never recorded (its answer
// was lost, or paidup stopped first: failpoint buy.after_checkout), the
// attempt is fulfilled all the same, by the checkout's proof, and records
// the checkout; a checkout naming the same reference without the proof is
// a purchase of its own. A retried submit gets the very same checkout.
func TestCheckoutCreatedButNotRecorded(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		real := b.svc.Processor
		lost := *b.svc
		lost.Processor = lostAnswer{real}

		// Retried: the same checkout.
		retried := paidup.NewReference()
		_, err := lost.Start(ctx, proAnnual, retried, "bob@example.com")
		require.Equal(t, paidup.EUNAVAILABLE, paidup.ErrorCode(err))
		a, err := b.svc.Start(ctx, proAnnual, retried, "bob@example.com")
		require.NoError(t, err)
		require.Equal(t, b.sessionFor(t, retried)["id"], a.CheckoutID)
		require.Len(t, b.sessions(t), 1, "the retry repeats the request exactly, so the processor answers with the checkout it made")

		// Never retried: paid, and found by the webhook or the reconciler.
		ref := paidup.NewReference()
		_, err = lost.Start(ctx, proAnnual, ref, "ada@example.com")
		require.Error(t, err)
		own := b.sessionFor(t, ref)["id"].(string)
		forged := b.sb.CreateSession(t, url.Values{"client_reference_id": {ref}, "metadata[paidup_checkout]": {ref},
			"metadata[paidup_proof]": {paidup.CheckoutProof(paidup.NewStatusToken())}, "line_items[0][price]": {proAnnual.PriceID},
			"customer_email": {"mallory@example.com"}})
		b.sb.Pay(t, forged, nil)
		out, err := b.svc.Fulfil(ctx, forged, paidup.ByReconciler)
		require.NoError(t, err)
		require.Equal(t, "PROCESSOR-"+forged, out.Reference, "a wrong proof proves nothing")
		got, err := b.store.CheckoutAttempt(ctx, ref)
		require.NoError(t, err)
		require.Equal(t, paidup.AttemptCreated, got.Status)
		require.Empty(t, got.CheckoutID)

		b.sb.Pay(t, own, nil)
		out, err = b.svc.Fulfil(ctx, own, paidup.ByReconciler)
		require.NoError(t, err)
		require.Equal(t, paidup.AttemptFulfilled, out.State)
		require.Equal(t, ref, out.Reference)
		got, err = b.store.CheckoutAttempt(ctx, ref)
		require.NoError(t, err)
		require.Equal(t, paidup.AttemptFulfilled, got.Status)
		require.Equal(t, own, got.CheckoutID, "the proven checkout is recorded")
		require.Empty(t, got.StatusToken)
		again, err := b.svc.Fulfil(ctx, own, paidup.ByWebhook)
		require.NoError(t, err)
		require.Equal(t, out.Grant.ID, again.Grant.ID)

		report, err := b.store.Check(ctx)
		require.NoError(t, err)
		require.Empty(t, report.Violations)
		require.Equal(t, 2, b.count(t, `SELECT count(*) FROM grants`))
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM support_cases WHERE kind = $1`, paidup.CaseForeignReference))
	})
}

// An attempt from before status tokens, whose checkout paidup never
// recorded, has no proof to offer: a checkout naming it is settled as a
// purchase of its own (granted by its price, with a support case), never
// as that attempt.
func TestTokenlessAttemptNotRecorded(t *testing.T) {
	ctx := context.Background()
	b := setup(t, sqldb.SQLite)
	ref := paidup.NewReference()
	lost := *b.svc
	lost.Processor = lostAnswer{b.svc.Processor}
	_, err := lost.Start(ctx, proAnnual, ref, "ada@example.com")
	require.Error(t, err)
	_, err = b.db.Write.Exec(`UPDATE checkout_attempts SET status_token = NULL, status_token_hash = NULL WHERE reference = $1`, ref)
	require.NoError(t, err)
	id := b.sessionFor(t, ref)["id"].(string)
	b.sb.Pay(t, id, nil)
	out, err := b.svc.Fulfil(ctx, id, paidup.ByReconciler)
	require.NoError(t, err)
	require.Equal(t, paidup.AttemptFulfilled, out.State)
	require.Equal(t, "PROCESSOR-"+id, out.Reference)
	got, err := b.store.CheckoutAttempt(ctx, ref)
	require.NoError(t, err)
	require.Equal(t, paidup.AttemptCreated, got.Status)
}

// A second submit of the same email and plan, from a fresh form (another
// tab, another device), goes to the checkout already open for them rather
// than creating another, while that checkout leaves time to pay.
func TestStartReusesOpenCheckout(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		first, err := b.svc.Start(ctx, proAnnual, paidup.NewReference(), "ada@example.com")
		require.NoError(t, err)
		for range 5 {
			b.clock.Advance(time.Minute)
			a, err := b.svc.Start(ctx, proAnnual, paidup.NewReference(), "ada@example.com")
			require.NoError(t, err)
			require.Equal(t, first.Reference, a.Reference)
			require.Equal(t, first.CheckoutURL, a.CheckoutURL)
			require.Empty(t, a.StatusToken, "another form's submit does not get the first one's token")
		}
		require.Len(t, b.sessions(t), 1)
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM checkout_attempts`), "the fresh references are not even recorded")

		// Another plan, or another email, is another purchase.
		member, err := b.svc.Start(ctx, memberForLife, paidup.NewReference(), "ada@example.com")
		require.NoError(t, err)
		require.NotEqual(t, first.CheckoutID, member.CheckoutID)
		bob, err := b.svc.Start(ctx, proAnnual, paidup.NewReference(), "bob@example.com")
		require.NoError(t, err)
		require.NotEqual(t, first.CheckoutID, bob.CheckoutID)
		require.Len(t, b.sessions(t), 3)

		// Paid meanwhile in the other tab: the submit shows that purchase,
		// and opens no second payment page.
		b.sb.Pay(t, bob.CheckoutID, nil)
		a, err := b.svc.Start(ctx, proAnnual, paidup.NewReference(), "bob@example.com")
		require.NoError(t, err)
		require.Equal(t, bob.Reference, a.Reference)
		require.Equal(t, paidup.AttemptFulfilled, a.Status)
		require.Len(t, b.sessions(t), 3)

		// Closed at the processor: a new one.
		b.sb.Expire(t, member.CheckoutID)
		a, err = b.svc.Start(ctx, memberForLife, paidup.NewReference(), "ada@example.com")
		require.NoError(t, err)
		require.NotEqual(t, member.CheckoutID, a.CheckoutID)
		require.Len(t, b.sessions(t), 4)

		// Too close to its expiry to pay in: a new one.
		b.clock.Advance(checkout.Lifetime - time.Minute - 31*time.Minute - 5*time.Minute + time.Second)
		a, err = b.svc.Start(ctx, proAnnual, paidup.NewReference(), "ada@example.com")
		require.NoError(t, err)
		require.NotEqual(t, first.CheckoutID, a.CheckoutID)
		require.Len(t, b.sessions(t), 5)
		require.NotEmpty(t, a.StatusToken, "a new attempt's token goes to the browser that made it")
	})
}

// When the processor cannot say how the other form's checkout stands, the
// submit still goes to it (the processor's page will say), and no second
// checkout is made.
func TestStartReuseAsksTheProcessor(t *testing.T) {
	ctx := context.Background()
	b := setup(t, sqldb.SQLite)
	first, err := b.svc.Start(ctx, proAnnual, paidup.NewReference(), "ada@example.com")
	require.NoError(t, err)
	down := *b.svc
	down.Processor = unreachable{b.svc.Processor}
	a, err := down.Start(ctx, proAnnual, paidup.NewReference(), "ada@example.com")
	require.NoError(t, err, "the processor's page will say how it stands")
	require.Equal(t, first.CheckoutURL, a.CheckoutURL)
	require.Len(t, b.sessions(t), 1)
}

// unreachable is the processor when it cannot be reached.
type unreachable struct{ paidup.Processor }

func (unreachable) Checkout(context.Context, string) (paidup.Checkout, error) {
	return paidup.Checkout{}, errors.New("dial tcp: connection refused")
}

func (unreachable) CreateCheckout(context.Context, paidup.CheckoutRequest) (paidup.Checkout, error) {
	return paidup.Checkout{}, errors.New("dial tcp: connection refused")
}
