package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// periodicJobs are the kinds the leader enqueues on a timer: one may be
// waiting or running at any moment.
var periodicJobs = []string{"reconcile", "deadline_sweep", "prune_event_payloads"}

// paidSession is a Checkout Session the processor says was paid.
type paidSession struct {
	ID            string `json:"id"`
	Status        string `json:"status"`
	PaymentStatus string `json:"payment_status"`
	PaymentIntent string `json:"payment_intent"`
	Reference     string `json:"client_reference_id"`
	Email         string `json:"customer_email"`
	Details       *struct {
		Email string `json:"email"`
	} `json:"customer_details"`
}

func (s paidSession) email() string {
	if s.Details != nil && s.Details.Email != "" {
		return s.Details.Email
	}
	return s.Email
}

// paidSessions asks the processor for every paid Checkout Session.
func (f *fleet) paidSessions() []paidSession {
	f.t.Helper()
	var paid []paidSession
	after := ""
	for {
		q := url.Values{"limit": {"100"}}
		if after != "" {
			q.Set("starting_after", after)
		}
		var page struct {
			Data    []paidSession `json:"data"`
			HasMore bool          `json:"has_more"`
		}
		if err := json.Unmarshal([]byte(sandboxCall(f.t, f.sandboxURL, http.MethodGet, "/v1/checkout/sessions?"+q.Encode(), "")), &page); err != nil {
			f.t.Fatalf("listing checkout sessions: %v", err)
		}
		for _, s := range page.Data {
			if s.Status == "complete" && s.PaymentStatus == "paid" {
				paid = append(paid, s)
			}
		}
		if !page.HasMore || len(page.Data) == 0 {
			return paid
		}
		after = page.Data[len(page.Data)-1].ID
	}
}

// mailMessage is a message Mailpit accepted.
type mailMessage struct {
	MessageID string        `json:"MessageID"`
	Subject   string        `json:"Subject"`
	To        []mailAddress `json:"To"`
}

// allMessages is every message the mail server accepted, copies included.
func (m *mailpit) allMessages(t interface{ Fatalf(string, ...any) }) []mailMessage {
	var all []mailMessage
	for start := 0; ; {
		resp, err := quickClient.Get(fmt.Sprintf("%s/api/v1/messages?start=%d&limit=500", m.api, start))
		if err != nil {
			t.Fatalf("asking Mailpit: %v", err)
		}
		var page struct {
			Messages []mailMessage `json:"messages"`
			Total    int           `json:"total"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("reading Mailpit's answer: %v", err)
		}
		all = append(all, page.Messages...)
		start += len(page.Messages)
		if len(page.Messages) == 0 || start >= page.Total {
			return all
		}
	}
}

// confirmations groups the confirmations each address received by
// Message-ID: how many copies of each message.
func confirmations(msgs []mailMessage) map[string]map[string]int {
	out := map[string]map[string]int{}
	for _, m := range msgs {
		if !strings.HasPrefix(m.Subject, "You're in") {
			continue
		}
		for _, a := range m.To {
			addr := strings.ToLower(a.Address)
			if out[addr] == nil {
				out[addr] = map[string]int{}
			}
			out[addr][m.MessageID]++
		}
	}
	return out
}

// waitSettled waits until everything the customers started has come to
// rest: the processor has delivered every webhook, every paid checkout
// is granted and confirmed, and no job but the periodic ones is left.
func (f *fleet) waitSettled(c *customers) {
	f.t.Helper()
	const limit = 90 * time.Second
	deadline := time.Now().Add(limit)
	for {
		why := f.unsettled()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("not settled %s after the load: %s", limit, why)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (f *fleet) unsettled() string {
	var unsent, jobs int
	if err := f.db.Read.QueryRow(`SELECT count(*) FROM emails WHERE status <> 'sent'`).Scan(&unsent); err != nil {
		return "reading emails: " + err.Error()
	}
	if err := f.db.Read.QueryRow(`SELECT count(*) FROM river_job WHERE state <> 'completed' AND NOT kind = ANY($1)`, periodicJobs).Scan(&jobs); err != nil {
		return "reading jobs: " + err.Error()
	}
	switch {
	case unsent > 0:
		return fmt.Sprintf("%d emails not sent", unsent)
	case jobs > 0:
		return fmt.Sprintf("%d jobs not completed", jobs)
	}
	for _, status := range []string{"pending", "held"} {
		var ds struct {
			Deliveries []struct{} `json:"deliveries"`
		}
		json.Unmarshal([]byte(sandboxCall(f.t, f.sandboxURL, http.MethodGet, "/_sandbox/deliveries?status="+status, "")), &ds)
		if n := len(ds.Deliveries); n > 0 {
			return fmt.Sprintf("%d webhooks %s at the processor", n, status)
		}
	}
	var grants int
	if err := f.db.Read.QueryRow(`SELECT count(*) FROM grants`).Scan(&grants); err != nil {
		return "reading grants: " + err.Error()
	}
	paid := f.paidSessions()
	if grants < len(paid) {
		return fmt.Sprintf("%d grants for %d paid checkouts", grants, len(paid))
	}
	mailed := confirmations(f.mail.allMessages(f.t))
	confirmed := 0
	for _, s := range paid {
		if len(mailed[strings.ToLower(s.email())]) > 0 {
			confirmed++
		}
	}
	if confirmed < len(paid) {
		return fmt.Sprintf("%d of %d paid checkouts confirmed at the mail server", confirmed, len(paid))
	}
	return ""
}

// outcome is what the run left, for the checks and the report.
type outcome struct {
	paid            int
	duplicateCopies int // confirmations that arrived more than once, same Message-ID
}

// checkOutcome asserts what several instances must leave behind.
func (f *fleet) checkOutcome(c *customers, killed, restarted *member) outcome {
	t := f.t
	t.Helper()
	var out outcome
	paid := f.paidSessions()
	out.paid = len(paid)
	if len(paid) < len(c.purchases) {
		t.Errorf("the processor has %d paid checkouts; customers made %d purchases", len(paid), len(c.purchases))
	}

	// Exactly one grant per paid checkout, to its buyer, and no other.
	grants := map[string][]string{} // payment → buyers' emails
	rows, err := f.db.Read.Query(`SELECT g.source_ref, c.email FROM grants g JOIN customers c ON c.id = g.customer_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var ref, email string
		rows.Scan(&ref, &email)
		grants[ref] = append(grants[ref], email)
	}
	rows.Close()
	mailed := confirmations(f.mail.allMessages(t))
	for _, s := range paid {
		buyers := grants["stripe:"+s.PaymentIntent]
		if len(buyers) != 1 || !strings.EqualFold(buyers[0], s.email()) {
			t.Errorf("paid checkout %s (%s, %s): grants to %v, want one to its buyer", s.ID, s.Reference, s.email(), buyers)
		}
		delete(grants, "stripe:"+s.PaymentIntent)
		ids := mailed[strings.ToLower(s.email())]
		if len(ids) != 1 {
			t.Errorf("paid checkout %s (%s): %d distinct confirmations to %s, want 1: %v", s.ID, s.Reference, len(ids), s.email(), ids)
		}
		for _, copies := range ids {
			out.duplicateCopies += copies - 1
		}
	}
	if len(grants) > 0 {
		t.Errorf("grants without a paid checkout: %v", grants)
	}

	// Every job completed; none given up, retrying or left behind.
	rows, err = f.db.Read.Query(`SELECT kind, state, count(*) FROM river_job WHERE state <> 'completed' GROUP BY kind, state`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var kind, state string
		var n int
		rows.Scan(&kind, &state, &n)
		if !slices.Contains(periodicJobs, kind) || (state != "available" && state != "running" && state != "scheduled") {
			t.Errorf("%d %s jobs %s", n, kind, state)
		}
	}
	rows.Close()

	// Nothing needed a person.
	var cases int
	f.db.Read.QueryRow(`SELECT count(*) FROM support_cases`).Scan(&cases)
	if cases > 0 {
		t.Errorf("%d support cases opened", cases)
	}
	if alerts := f.mail.messagesTo(t, f.oncall); len(alerts) > 0 {
		t.Errorf("on-call was alerted: %v", alerts)
	}

	// The leadership moved away from the instances stopped while leading.
	if !f.leaders.replaced(killed.id, killed.killedAt) {
		t.Errorf("no other instance led after %s, the leader, was killed: %v", killed.name, f.leaders.history())
	}
	if !f.leaders.replaced(restarted.id, restarted.stoppedAt) {
		t.Errorf("no other instance led after %s was stopped: %v", restarted.name, f.leaders.history())
	}
	for _, in := range f.instances {
		if in.lb.webhooks.Load() == 0 {
			t.Errorf("%s received no webhooks", in.name)
		}
	}

	out2, err := runCheck(f.bin, f.instances[0].config, f.pg.URL)
	if err != nil || !strings.Contains(out2, "OK") {
		t.Errorf("paidup check: %v\n%s", err, out2)
	}

	// Each customer's status page, loaded again now, says they are in.
	for _, p := range c.purchases {
		_, _, body, err := c.visit(p.browser, http.MethodGet, p.status, nil)
		if err != nil {
			t.Errorf("%s's status page: %v", p.email, err)
		} else if h := statusHeading(body); h != "You're in" {
			t.Errorf("%s paid; their status page %s says %q", p.email, p.status, h)
		}
	}
	return out
}

// report logs what each instance did, and what the run as a whole saw.
func (f *fleet) report(c *customers, out outcome) {
	f.t.Helper()
	attempts := f.attemptsBy(`SELECT a, count(*) FROM river_job, unnest(attempted_by) a GROUP BY a`)
	reconciles := f.attemptsBy(`SELECT a, count(*) FROM river_job, unnest(attempted_by) a WHERE kind = 'reconcile' GROUP BY a`)
	var retried int
	f.db.Read.QueryRow(`SELECT count(*) FROM river_job WHERE attempt > 1`).Scan(&retried)

	var passes int
	var mean, longest float64
	f.db.Read.QueryRow(`SELECT count(*), coalesce(avg(extract(epoch FROM finalized_at - attempted_at)), 0), coalesce(max(extract(epoch FROM finalized_at - attempted_at)), 0)
		FROM river_job WHERE kind = 'reconcile' AND state = 'completed'`).Scan(&passes, &mean, &longest)

	var b strings.Builder
	fmt.Fprintf(&b, "several instances: %d purchases by %d customers (who reloaded %d pages); %d paid checkouts, each with one grant and one confirmation; %d confirmation copies with a repeated Message-ID; %d jobs retried; %d reconciler passes (mean %.2fs, longest %.2fs)\n",
		len(c.purchases), c.n, c.reloads.Load(), out.paid, out.duplicateCopies, retried, passes, mean, longest)
	b.WriteString(strings.Join(f.notes, "\n") + "\n")
	fmt.Fprintf(&b, "%-9s %-6s %-7s %-7s %-8s %-8s %-4s %-7s %-7s %-12s %-10s %-12s\n",
		"instance", "starts", "SIGKILL", "SIGTERM", "requests", "webhooks", "5xx", "refused", "dropped", "job attempts", "reconciles", "leader terms")
	for _, in := range f.instances {
		fmt.Fprintf(&b, "%-9s %-6d %-7d %-7d %-8d %-8d %-4d %-7d %-7d %-12d %-10d %-12d\n",
			in.name, in.starts, in.kills, in.graceful, in.lb.pages.Load(), in.lb.webhooks.Load(), in.lb.errors.Load(),
			in.lb.refused.Load(), in.lb.dropped.Load(), attempts[in.id], reconciles[in.id], f.leaders.termsOf(in.id))
	}
	b.WriteString("leaders:")
	start := f.leaders.history()[0].from
	for _, lt := range f.leaders.history() {
		name := "none"
		for _, in := range f.instances {
			if in.id == lt.id {
				name = in.name
			}
		}
		fmt.Fprintf(&b, " %s from %s;", name, lt.from.Sub(start).Round(100*time.Millisecond))
	}
	f.t.Log(b.String())
}

// attemptsBy counts, by instance id, what query counts.
func (f *fleet) attemptsBy(query string) map[string]int {
	f.t.Helper()
	rows, err := f.db.Read.Query(query)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		rows.Scan(&id, &n)
		out[id] = n
	}
	return out
}
