package main

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	stripego "github.com/stripe/stripe-go/v84"
	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/paidup/paidup/internal/sqldb"
)

// The real binary prunes old payloads, as the leader's job at its start:
// a purchase's events, processed, are kept whole until
// retention.event_payloads has passed on the business clock (here the
// sandbox's test clock, moved forward 31 days); then paidup, started
// again, empties their payloads and keeps the events. A webhook the
// processor delivers again after that is still a duplicate: no second
// grant, no second email.
func TestOldEventPayloadsArePruned(t *testing.T) {
	mp := startMailpitWith(t, false)
	bin := buildPaidup(t)
	c := newCrashSetup(t, bin, mp, sqldb.SQLite)
	api := sandboxAPI(c.sandboxURL, crashStripeKey)
	p := c.startPaidup(t, bin, mp, "", crashConfig{testClock: "clock_sandbox"})
	customer := "keeper-" + c.id + "@example.com"
	count := func(query string) int {
		t.Helper()
		var n int
		if err := c.db.Read.QueryRow(query).Scan(&n); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return n
	}

	_, form := p.request(http.MethodGet, "/buy/pro-annual", nil, http.StatusOK)
	ref := regexp.MustCompile(`name="reference" value="([^"]+)"`).FindStringSubmatch(form)
	if ref == nil {
		t.Fatalf("no reference on the buy form:\n%s", form)
	}
	resp, _ := p.request(http.MethodPost, "/buy/pro-annual", url.Values{"email": {customer}, "reference": {ref[1]}}, http.StatusSeeOther)
	p.customerSees(strings.TrimPrefix(payOnSandboxPage(t, resp.Header.Get("Location")), c.shop))
	p.waitSettled(customer, c.oncall, c.sandboxURL, c.db)
	events := count(`SELECT count(*) FROM webhook_events WHERE processed_at IS NOT NULL`)
	if events == 0 || count(`SELECT count(*) FROM webhook_events WHERE payload_pruned_at IS NOT NULL OR length(payload) = 0`) > 0 {
		t.Fatalf("%d events processed; some already pruned", events)
	}

	// A month and a day on, paidup starts again: its pruning job runs.
	tc, err := api.V1TestHelpersTestClocks.Retrieve(t.Context(), "clock_sandbox", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.V1TestHelpersTestClocks.Advance(t.Context(), "clock_sandbox", &stripego.TestHelpersTestClockAdvanceParams{
		FrozenTime: stripego.Int64(time.Unix(tc.FrozenTime, 0).Add(31 * 24 * time.Hour).Unix())}); err != nil {
		t.Fatal(err)
	}
	p.stopGracefully()
	p.start(false)
	deadline := time.Now().Add(30 * time.Second)
	for count(`SELECT count(*) FROM webhook_events WHERE payload_pruned_at IS NOT NULL AND length(payload) = 0`) < events {
		if time.Now().After(deadline) {
			t.Fatalf("the payloads were not pruned within 30 s:\n%s", logTail(p.lastLog))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(readLog(p.lastLog), `"msg":"pruned event payloads"`) {
		t.Errorf("no log line says what was pruned:\n%s", logTail(p.lastLog))
	}

	// The processor sends the checkout's event again, signed afresh.
	var eventID string
	if err := c.db.Read.QueryRow(`SELECT event_id FROM webhook_events WHERE type = 'checkout.session.completed'`).Scan(&eventID); err != nil {
		t.Fatal(err)
	}
	payload := sandboxCall(t, c.sandboxURL, http.MethodGet, "/v1/events/"+eventID, "")
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(payload), Secret: crashWebhookKey, Timestamp: time.Now()})
	req, _ := http.NewRequest(http.MethodPost, c.shop+"/webhooks/stripe", strings.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", signed.Header)
	redelivery, err := quickClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	redelivery.Body.Close()
	if redelivery.StatusCode != http.StatusOK {
		t.Fatalf("the redelivered event got %s", redelivery.Status)
	}
	p.waitSettled(customer, c.oncall, c.sandboxURL, c.db) // fails on a second grant or email
	// Other events may arrive meanwhile (the test clock's, redelivered
	// after the restart): only this one's jobs and rows count.
	if n := count(`SELECT count(*) FROM river_job WHERE kind = 'process_event' AND json(args) LIKE '%"` + eventID + `"%'`); n != 1 {
		t.Errorf("the redelivered event was processed again: %d processing jobs name it", n)
	}
	if n := count(`SELECT count(*) FROM webhook_events WHERE event_id = '` + eventID + `'`); n != 1 {
		t.Errorf("the event is stored %d times", n)
	}
	if n := count(`SELECT count(*) FROM webhook_events WHERE event_id = '` + eventID + `' AND length(payload) = 0`); n != 1 {
		t.Errorf("the redelivered event's payload is stored again")
	}
	if !regexp.MustCompile(`"route":"webhook_stripe","status":200,[^\n]*"result":"duplicate"`).MatchString(readLog(p.lastLog)) {
		t.Errorf("paidup did not take the redelivery as a duplicate:\n%s", logTail(p.lastLog))
	}
	if msgs := mp.messagesTo(t, customer); len(msgs) != 1 {
		t.Errorf("the customer got %d emails: %v", len(msgs), msgs)
	}
}
