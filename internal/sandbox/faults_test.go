package sandbox_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	stripe "github.com/stripe/stripe-go/v84"
	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/paidup/paidup/internal/sandbox"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// setFaults replaces the fault rules through POST /_sandbox/faults.
func (b *bundle) setFaults(t *testing.T, jsonBody string) {
	t.Helper()
	status, body := b.control(t, http.MethodPost, "/_sandbox/faults", jsonBody)
	require.Equal(t, http.StatusOK, status, "%s", body)
}

// faults returns the rules in force as GET /_sandbox/faults shows them.
func (b *bundle) faults(t *testing.T) string {
	t.Helper()
	status, body := b.get(t, "/_sandbox/faults")
	require.Equal(t, http.StatusOK, status, "%s", body)
	return string(body)
}

// A dropped event never arrives and stays undelivered, until a retry
// through the control endpoint delivers it.
func TestFaultDrop(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine, setupOpts{faults: []sandbox.Fault{{Action: sandbox.FaultDrop, Event: "customer.created"}}})
		cus, ev := b.newCustomer(t, "lost@example.com")

		ds := b.deliveries(t, "event="+ev)
		require.Len(t, ds, 1)
		require.Equal(t, "dropped", ds[0].Status)
		require.Equal(t, "drop", ds[0].Fault)
		require.Empty(t, ds[0].Attempts)

		// A later event arrives; the dropped one still has not.
		_, err := b.client.V1Customers.Update(ctx, cus, &stripe.CustomerUpdateParams{Name: stripe.String("Ada")})
		require.NoError(t, err)
		b.hooks.waitFor(t, "customer.updated", func(got []string) bool { return slices.Contains(got, "customer.updated") })
		require.Empty(t, b.hooks.received("customer.created"), "a dropped event is never received")
		require.Empty(t, b.hooks.hitsFor(ev), "a dropped event is never sent")
		require.Contains(t, b.undelivered(t), ev)

		status, body := b.control(t, http.MethodPost, "/_sandbox/deliveries/"+ds[0].ID+"/retry", "")
		require.Equal(t, http.StatusOK, status, "%s", body)
		b.hooks.waitFor(t, "the retried customer.created", func(got []string) bool { return slices.Contains(got, "customer.created") })
		got := b.hooks.received("customer.created")
		require.Len(t, got, 1)
		require.Equal(t, cus, objectOf(t, got[0]))
		b.waitDelivery(t, ev, "succeeded")
		require.Eventually(t, func() bool { return !slices.Contains(b.undelivered(t), ev) }, 5*time.Second, 10*time.Millisecond)
	})
}

// A duplicated event arrives twice, each copy signed; the rule with count 1
// is spent afterwards.
func TestFaultDuplicate(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine, setupOpts{})
		b.settle(t)
		b.setFaults(t, `{"faults": [{"action": "duplicate", "event": "customer.created", "count": 1}]}`)
		_, ev := b.newCustomer(t, "twice@example.com")

		b.hooks.waitFor(t, "two customer.created", func(got []string) bool {
			return len(slices.DeleteFunc(got, func(s string) bool { return s != "customer.created" })) == 2
		})
		for _, d := range b.hooks.received("customer.created") {
			got, err := webhook.ConstructEvent(d.Body, d.Signature, webhookSecret)
			require.NoError(t, err, "each copy is signed")
			require.Equal(t, ev, got.ID, "both copies are the same event")
		}
		ds := b.deliveries(t, "event="+ev)
		require.Len(t, ds, 2)
		require.Equal(t, 1, len(slices.DeleteFunc(ds, func(d deliveryRecord) bool { return !d.Copy })))
		require.JSONEq(t, `{"faults": []}`, b.faults(t), "a rule with count 1 is spent")

		_, ev2 := b.newCustomer(t, "once@example.com")
		b.hooks.waitFor(t, "the next customer.created", func(got []string) bool {
			return len(slices.DeleteFunc(got, func(s string) bool { return s != "customer.created" })) >= 3
		})
		b.settle(t)
		require.Len(t, b.hooks.hitsFor(ev2), 1, "the next event is not duplicated")
		require.Len(t, b.hooks.hitsFor(ev), 2)
	})
}

// A delayed event is not received before the delay, and is received after.
func TestFaultDelay(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine, setupOpts{})
		b.settle(t)
		b.setFaults(t, `{"faults": [{"action": "delay", "event": "customer.created", "delay": "300ms"}]}`)
		start := time.Now()
		_, ev := b.newCustomer(t, "later@example.com")

		time.Sleep(time.Until(start.Add(100 * time.Millisecond)))
		early := b.hooks.hitsFor(ev)
		if time.Since(start) < 300*time.Millisecond { // else the machine was too slow to look in time
			require.Empty(t, early, "not sent before the delay")
		}
		require.Eventually(t, func() bool { return len(b.hooks.received("customer.created")) == 1 }, 2*time.Second, 10*time.Millisecond)
		got := b.hooks.received("customer.created")[0]
		require.GreaterOrEqual(t, got.At.Sub(start), 300*time.Millisecond, "received only after the delay")
		d := b.waitDelivery(t, ev, "succeeded")
		require.Equal(t, "delay", d.Fault)
	})
}

// A reorder rule holds three events and sends them newest first.
func TestFaultReorder(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine, setupOpts{})
		b.settle(t)
		b.setFaults(t, `{"faults": [{"action": "reorder", "event": "customer.created", "count": 3}]}`)
		var customers, events []string
		for i := range 3 {
			cus, ev := b.newCustomer(t, "order"+string(rune('a'+i))+"@example.com")
			customers, events = append(customers, cus), append(events, ev)
			if i < 2 {
				ds := b.deliveries(t, "event="+ev)
				require.Len(t, ds, 1)
				require.Equal(t, "held", ds[0].Status, "held until the third event")
			}
		}
		b.hooks.waitFor(t, "three customer.created", func(got []string) bool {
			return len(slices.DeleteFunc(got, func(s string) bool { return s != "customer.created" })) == 3
		})
		var order []string
		for _, d := range b.hooks.received("customer.created") {
			order = append(order, objectOf(t, d))
		}
		slices.Reverse(customers)
		require.Equal(t, customers, order, "newest first")
		require.JSONEq(t, `{"faults": []}`, b.faults(t), "the rule is spent once it has released its events")
	})
}

// A held delivery retried by hand is sent once: releasing the reorder rule
// later does not send it again.
func TestFaultReorderReleasesOnlyHeld(t *testing.T) {
	b := setup(t, sqldb.SQLite, setupOpts{})
	b.settle(t)
	b.setFaults(t, `{"faults": [{"action": "reorder", "event": "customer.created", "count": 2}]}`)
	_, first := b.newCustomer(t, "first@example.com")
	ds := b.deliveries(t, "event="+first)
	require.Equal(t, "held", ds[0].Status)
	status, body := b.control(t, http.MethodPost, "/_sandbox/deliveries/"+ds[0].ID+"/retry", "")
	require.Equal(t, http.StatusOK, status, "%s", body)
	b.waitDelivery(t, first, "succeeded")

	_, second := b.newCustomer(t, "second@example.com")
	b.waitDelivery(t, second, "succeeded")
	b.settle(t)
	require.Len(t, b.hooks.hitsFor(first), 1, "the retried delivery is not sent again")
	require.Len(t, b.deliveries(t, "event="+first)[0].Attempts, 1)
	require.Len(t, b.hooks.hitsFor(second), 1)
}

// A rule with count 1 changes only the next matching event.
func TestFaultCountAffectsOnlyNext(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine, setupOpts{faults: []sandbox.Fault{{Action: sandbox.FaultDrop, Event: "customer.created", Count: 1}}})
		_, first := b.newCustomer(t, "first@example.com")
		second, ev2 := b.newCustomer(t, "second@example.com")

		b.hooks.waitFor(t, "the second customer.created", func(got []string) bool { return slices.Contains(got, "customer.created") })
		got := b.hooks.received("customer.created")
		require.Len(t, got, 1)
		require.Equal(t, second, objectOf(t, got[0]))
		require.Equal(t, "dropped", b.deliveries(t, "event="+first)[0].Status)
		require.Equal(t, "succeeded", b.waitDelivery(t, ev2, "succeeded").Status)
		require.Empty(t, b.sb.Faults(), "the rule is spent")
	})
}

// A charge.* rule matches every charge event and nothing else.
func TestFaultEventPattern(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine, setupOpts{faults: []sandbox.Fault{{Action: sandbox.FaultDrop, Event: "charge.*"}}})
		cs := b.newSession(t, "PU-PAT")
		_, err := b.pay(cs.ID, "pm_card_chargeDeclined")
		require.Error(t, err)
		_, err = b.pay(cs.ID, "pm_card_visa")
		require.NoError(t, err)

		b.hooks.waitFor(t, "checkout.session.completed", func(got []string) bool { return slices.Contains(got, "checkout.session.completed") })
		b.settle(t)
		for _, typ := range []string{"charge.failed", "charge.succeeded"} {
			ds := b.deliveries(t, "event="+b.lastEvent(t, typ).ID)
			require.Len(t, ds, 1)
			require.Equal(t, "dropped", ds[0].Status, typ)
		}
		for _, typ := range []string{"customer.created", "payment_intent.payment_failed", "payment_intent.succeeded", "checkout.session.completed"} {
			require.Equal(t, 1, len(b.hooks.received(typ)), typ)
		}
		for _, typ := range b.hooks.types() {
			require.False(t, strings.HasPrefix(typ, "charge."), "received %s", typ)
		}
	})
}

// Bad fault rules are refused in Stripe's error shape and leave the rules
// in force unchanged.
func TestFaultRulesValidation(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine, setupOpts{})
		b.setFaults(t, `{"faults": [{"action": "delay", "event": "customer.*", "delay": "1h"}]}`)
		before := b.faults(t)
		require.Contains(t, before, `"1h0m0s"`)

		for _, tc := range []struct{ name, body, msg string }{
			{"not JSON", `drop everything`, "Send JSON like"},
			{"empty body", ``, "Send JSON like"},
			{"faults not a list", `{"faults": {"action": "drop"}}`, "Send JSON like"},
			{"unknown action", `{"faults": [{"action": "explode"}]}`, `unknown fault action "explode"`},
			{"delay without delay", `{"faults": [{"action": "delay"}]}`, "positive delay"},
			{"unreadable delay", `{"faults": [{"action": "delay", "delay": "soon"}]}`, "want a duration"},
			{"reorder of one", `{"faults": [{"action": "reorder", "count": 1}]}`, "count of at least 2"},
			{"negative count", `{"faults": [{"action": "drop", "count": -1}]}`, "must not be negative"},
			{"misspelt field", `{"faults": [{"action": "drop", "evnt": "charge.*"}]}`, `unknown field "evnt"`},
			{"unknown top-level field", `{"faults": [], "fault": [{"action": "drop"}]}`, `unknown field "fault"`},
			{"trailing data", `{"faults": []} {"faults": [{"action": "drop"}]}`, "unexpected data"},
			{"one bad rule among good", `{"faults": [{"action": "drop"}, {"action": "explode"}]}`, "fault 2"},
			{"wildcard without a dot", `{"faults": [{"action": "drop", "event": "charge*"}]}`, "a prefix such as charge.*"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, body := b.control(t, http.MethodPost, "/_sandbox/faults", tc.body)
				require.Equal(t, http.StatusBadRequest, status, "%s", body)
				e := requireStripeError(t, body)
				require.Equal(t, "invalid_request_error", e.Error.Type)
				require.Equal(t, "faults", e.Error.Param)
				require.Contains(t, e.Error.Message, tc.msg)
				require.JSONEq(t, before, b.faults(t), "the rules are unchanged")
			})
		}

		status, body := b.do(t, http.MethodPost, "/_sandbox/faults", `{"faults": []}`, map[string]string{"Authorization": ""})
		require.Equal(t, http.StatusUnauthorized, status)
		requireStripeError(t, body)
		require.JSONEq(t, before, b.faults(t))

		var rules []sandbox.Fault
		for _, f := range b.sb.Faults() {
			rules = append(rules, sandbox.Fault{Action: f.Action, Event: f.Event, Delay: f.Delay})
		}
		want, _ := json.Marshal(rules)
		require.JSONEq(t, `[{"action": "delay", "event": "customer.*", "delay": "1h0m0s"}]`, string(want))
	})
}
