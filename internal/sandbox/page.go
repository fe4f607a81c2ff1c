package sandbox

import (
	"embed"
	"errors"
	"html/template"
	"net/http"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFiles embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{"join": strings.Join}).ParseFS(templateFiles, "templates/*.html"))

type checkoutPage struct {
	ID, Business, Total, CancelURL string
	Lines                          []pageLine
	Email                          string
	EmailFixed                     bool
	CardNumber, Exp, Name, Error   string
}

type pageLine struct {
	Description string
	Quantity    int64
	Amount      string
}

type messagePage struct {
	Title, Text, Link, LinkText string
}

func render(w http.ResponseWriter, status int, name string, data any) {
	var b strings.Builder
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		http.Error(w, "The sandbox could not show this page.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

// showCheckoutPage is the hosted payment page at a session's url.
func (s *Sandbox) showCheckoutPage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	page, msg := s.checkoutPageLocked(r.PathValue("id"))
	s.mu.Unlock()
	if msg != nil {
		render(w, msg.status, "message.html", msg.page)
		return
	}
	render(w, http.StatusOK, "checkout.html", page)
}

type pageMessage struct {
	status int
	page   messagePage
}

// checkoutPageLocked builds the page for a session, or the message shown
// instead when it cannot be paid.
func (s *Sandbox) checkoutPageLocked(id string) (*checkoutPage, *pageMessage) {
	cs, ok := s.objects[id].(*CheckoutSession)
	if !ok {
		return nil, &pageMessage{http.StatusNotFound, messagePage{Title: "This payment link is not valid", Text: "Check the link, or go back to the shop and start again."}}
	}
	switch {
	case cs.Status == "complete":
		return nil, &pageMessage{http.StatusOK, messagePage{Title: "Payment complete", Text: "This checkout has been paid." + notAgain(cs), Link: successURL(cs), LinkText: "Continue"}}
	case cs.Status == "expired" || cs.ExpiresAt <= s.now().Unix():
		return nil, &pageMessage{http.StatusGone, messagePage{Title: "This checkout has expired", Text: "Nothing was charged. Go back to the shop to start again.", Link: deref(cs.CancelURL), LinkText: "Back to the shop"}}
	}
	p := &checkoutPage{ID: cs.ID, Business: s.opts.Business, Total: money(cs.AmountTotal, cs.Currency), CancelURL: deref(cs.CancelURL)}
	for _, li := range cs.LineItems {
		p.Lines = append(p.Lines, pageLine{Description: li.Description, Quantity: li.Quantity, Amount: money(li.AmountTotal, li.Currency)})
	}
	p.Email = deref(cs.CustomerEmail)
	if cs.Customer != nil {
		if cu, ok := s.objects[*cs.Customer].(*Customer); ok {
			p.Email = deref(cu.Email)
		}
	}
	p.EmailFixed = p.Email != ""
	if !p.EmailFixed {
		p.Email = cs.PrefilledEmail
	}
	return p, nil
}

func successURL(cs *CheckoutSession) string {
	return strings.ReplaceAll(deref(cs.SuccessURL), "{CHECKOUT_SESSION_ID}", cs.ID)
}

// completion is where a paid session sends its customer: to its success
// URL or, for a payment link that has none, to the link's confirmation.
// notAgain is what a paid checkout's page says of later charges: none for
// a payment, nothing for a subscription, which is charged again.
func notAgain(cs *CheckoutSession) string {
	if cs.Mode == "subscription" {
		return ""
	}
	return " You will not be charged again for it."
}

type completion struct {
	url, text string
}

func (s *Sandbox) completionLocked(cs *CheckoutSession) *completion {
	if u := successURL(cs); u != "" {
		return &completion{url: u}
	}
	text := "Your payment went through." + notAgain(cs)
	if pl, ok := s.objects[deref(cs.PaymentLink)].(*PaymentLink); ok && pl.AfterCompletion.HostedConfirmation != nil {
		if m := deref(pl.AfterCompletion.HostedConfirmation.CustomMessage); m != "" {
			text = m
		}
	}
	return &completion{text: text}
}

// submitCheckoutPage pays a session with the card typed on its page.
func (s *Sandbox) submitCheckoutPage(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			render(w, http.StatusRequestEntityTooLarge, "message.html", messagePage{Title: "That did not work", Text: "The form was too large to read, and nothing was charged. Go back and try again."})
			return
		}
		render(w, http.StatusBadRequest, "message.html", messagePage{Title: "That did not work", Text: "The form could not be read. Go back and try again."})
		return
	}
	id := r.PathValue("id")
	number := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, r.PostForm.Get("card_number"))
	email := strings.TrimSpace(r.PostForm.Get("email"))
	name := strings.TrimSpace(r.PostForm.Get("name"))
	exp := strings.TrimSpace(r.PostForm.Get("exp"))
	cvc := strings.TrimSpace(r.PostForm.Get("cvc"))

	var done *completion
	var page *checkoutPage
	var msg *pageMessage
	status := http.StatusOK
	err := s.update(r.Context(), nil, func(t *txn) error {
		if cs, ok := s.objects[id].(*CheckoutSession); ok && cs.Status == "complete" {
			done = s.completionLocked(cs) // a second click on Pay: already paid
			return nil
		}
		page, msg = s.checkoutPageLocked(id)
		if msg != nil {
			return nil
		}
		cs := s.objects[id].(*CheckoutSession)
		if page.EmailFixed {
			email = page.Email
		}
		page.Email, page.CardNumber, page.Exp, page.Name = email, r.PostForm.Get("card_number"), exp, name
		cd, problem := readCard(number, exp, cvc, t.now)
		if problem == "" && (len(email) > 254 || !validEmail(email)) {
			problem = "Your email address is incomplete."
		}
		if len(name) > 200 {
			problem = "The name on the card is too long."
		}
		if problem != "" {
			page.Error, status = problem, http.StatusUnprocessableEntity
			return nil
		}
		if err := t.payWith(cs, cd, email, name); err != nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.body.Type == "card_error" {
				page.Error, status = ae.body.Message, http.StatusPaymentRequired
				page.CardNumber = ""
				return err
			}
			return err
		}
		done = s.completionLocked(cs)
		return nil
	})
	switch {
	case done != nil && done.url != "":
		http.Redirect(w, r, done.url, http.StatusSeeOther)
	case done != nil:
		render(w, http.StatusOK, "message.html", messagePage{Title: "Thanks for your payment", Text: done.text})
	case msg != nil:
		render(w, msg.status, "message.html", msg.page)
	case page != nil && page.Error != "":
		render(w, status, "checkout.html", page)
	case err != nil:
		var ae *apiError
		if errors.As(err, &ae) && ae.status < 500 {
			render(w, ae.status, "message.html", messagePage{Title: "This payment cannot be taken", Text: ae.body.Message + " Nothing was charged."})
			return
		}
		s.log.Error("sandbox: checkout payment failed", "session", id, "err", err)
		render(w, http.StatusInternalServerError, "message.html", messagePage{Title: "That did not work", Text: "The sandbox could not take the payment, and nothing was charged. Try again."})
	}
}

func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && strings.Contains(s, "@")
}

// readCard checks what the customer typed and finds the test card it
// stands for. Numbers that pass the checksum but are not test cards are
// declined, as Stripe declines real cards in test mode.
func readCard(number, exp, cvc string, now time.Time) (card, string) {
	if number == "" {
		return card{}, "Your card number is incomplete."
	}
	if !luhn(number) {
		return card{}, "Your card number is invalid."
	}
	mm, yy, ok := strings.Cut(strings.ReplaceAll(exp, " ", ""), "/")
	month, err1 := strconv.Atoi(mm)
	year, err2 := strconv.Atoi(yy)
	if !ok || err1 != nil || err2 != nil || month < 1 || month > 12 || (len(yy) != 2 && len(yy) != 4) {
		return card{}, "Your card's expiration date is incomplete."
	}
	if year < 100 {
		year += 2000
	}
	if year < now.Year() || (year == now.Year() && month < int(now.Month())) {
		return card{}, "Your card's expiration year is in the past."
	}
	if year > now.Year()+50 {
		return card{}, "Your card's expiration year is invalid."
	}
	if len(cvc) < 3 || len(cvc) > 4 || strings.Trim(cvc, "0123456789") != "" {
		return card{}, "Your card's security code is incomplete."
	}
	cd := card{ExpMonth: int64(month), ExpYear: int64(year)}
	if id, tc, ok := cardByNumber(number); ok {
		cd.TestCard, cd.testCard = id, tc
	} else {
		cd.testCard = testCard{Number: number, Brand: brandOf(number), Decline: "live_card"}
	}
	return cd, ""
}

// consolePage is the sandbox's own dashboard.
type consolePage struct {
	BaseURL string
	// Clock is the default test clock's time.
	Clock         string
	Subscriptions []consoleSubscription
	Links         []Link
	Endpoints     []*WebhookEndpoint
	Faults        []Fault
	Payments      []consolePayment
	Invoices      []consoleInvoice
	Disputes      []consoleDispute
	Sessions      []consoleSession
	Events        []consoleEvent
}

type consolePayment struct {
	When, ID, Amount, Status, Customer, Refunded string
	Metadata                                     []string
}

// consoleInvoice is an invoice as the console lists it: a subscription's
// period, paid or still being tried.
type consoleInvoice struct {
	When, ID, Number, Subscription, Customer, Amount, Status, NextAttempt string
	Attempts                                                              int64
}

// consoleDispute is a chargeback as the console lists it.
type consoleDispute struct {
	When, ID, Payment, Customer, Amount, Reason, Status string
}

type consoleSubscription struct {
	ID, Customer, Status, PeriodEnd, Invoice string
	Ending                                   bool
}

type consoleSession struct {
	When, ID, URL, Amount, Status, PaymentStatus, Reference string
}

type consoleEvent struct {
	When, ID, Type string
	Deliveries     []consoleDelivery
}

type consoleDelivery struct {
	*Delivery
	Last *Attempt
}

func (s *Sandbox) showConsole(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p := consolePage{BaseURL: s.opts.BaseURL, Links: s.opts.Links, Faults: s.faultsLocked()}
	for _, id := range s.byType["webhook_endpoint"] {
		if we, ok := s.objects[id].(*WebhookEndpoint); ok {
			c := *we // a copy: the page is rendered after the lock is released
			c.EnabledEvents = slices.Clone(we.EnabledEvents)
			p.Endpoints = append(p.Endpoints, &c)
		}
	}
	when := func(unix int64) string { return time.Unix(unix, 0).UTC().Format("2006-01-02 15:04:05") }
	p.Clock = s.now().UTC().Format("2006-01-02 15:04:05 UTC")
	for _, id := range newest(s.byType["subscription"], 25) {
		sub := s.objects[id].(*Subscription)
		_, end := sub.period()
		cs := consoleSubscription{ID: sub.ID, Status: sub.Status, PeriodEnd: when(end), Ending: sub.CancelAtPeriodEnd}
		if cu, ok := s.objects[sub.Customer].(*Customer); ok {
			cs.Customer = deref(cu.Email)
		}
		if inv, ok := s.objects[deref(sub.LatestInvoice)].(*Invoice); ok {
			cs.Invoice = inv.Status
		}
		p.Subscriptions = append(p.Subscriptions, cs)
	}
	for _, id := range newest(s.byType["payment_intent"], 25) {
		pi := s.objects[id].(*PaymentIntent)
		cp := consolePayment{When: when(pi.Created), ID: pi.ID, Amount: money(pi.Amount, pi.Currency), Status: pi.Status, Metadata: pairs(pi.Metadata)}
		if cu, ok := s.objects[deref(pi.Customer)].(*Customer); ok {
			cp.Customer = deref(cu.Email)
		}
		if ch, ok := s.objects[deref(pi.LatestCharge)].(*Charge); ok && ch.AmountRefunded > 0 {
			cp.Refunded = money(ch.AmountRefunded, ch.Currency)
		}
		p.Payments = append(p.Payments, cp)
	}
	for _, id := range newest(s.byType["invoice"], 25) {
		in := s.objects[id].(*Invoice)
		ci := consoleInvoice{When: when(in.Created), ID: in.ID, Number: deref(in.Number), Customer: deref(in.CustomerEmail),
			Amount: money(in.AmountDue, in.Currency), Status: in.Status, Attempts: in.AttemptCount}
		if in.Parent != nil && in.Parent.SubscriptionDetails != nil {
			ci.Subscription = in.Parent.SubscriptionDetails.Subscription
		}
		if in.NextPaymentAttempt != nil {
			ci.NextAttempt = when(*in.NextPaymentAttempt)
		}
		p.Invoices = append(p.Invoices, ci)
	}
	for _, id := range newest(s.byType["dispute"], 25) {
		dp := s.objects[id].(*Dispute)
		cd := consoleDispute{When: when(dp.Created), ID: dp.ID, Payment: deref(dp.PaymentIntent), Amount: money(dp.Amount, dp.Currency),
			Reason: strings.ReplaceAll(dp.Reason, "_", " "), Status: strings.ReplaceAll(dp.Status, "_", " ")}
		if pi, ok := s.objects[cd.Payment].(*PaymentIntent); ok {
			if cu, ok := s.objects[deref(pi.Customer)].(*Customer); ok {
				cd.Customer = deref(cu.Email)
			}
		}
		p.Disputes = append(p.Disputes, cd)
	}
	for _, id := range newest(s.byType["checkout.session"], 25) {
		cs := s.objects[id].(*CheckoutSession)
		p.Sessions = append(p.Sessions, consoleSession{When: when(cs.Created), ID: cs.ID, URL: deref(cs.URL), Amount: money(cs.AmountTotal, cs.Currency),
			Status: cs.Status, PaymentStatus: cs.PaymentStatus, Reference: deref(cs.ClientReferenceID)})
	}
	for _, id := range newest(s.byType["event"], 50) {
		ev := s.objects[id].(*Event)
		ce := consoleEvent{When: when(ev.Created), ID: ev.ID, Type: ev.Type}
		for _, did := range s.deliveriesOf[ev.ID] {
			d := *s.objects[did].(*Delivery)
			d.Attempts = slices.Clone(d.Attempts)
			cd := consoleDelivery{Delivery: &d}
			if n := len(d.Attempts); n > 0 {
				cd.Last = &d.Attempts[n-1]
			}
			ce.Deliveries = append(ce.Deliveries, cd)
		}
		p.Events = append(p.Events, ce)
	}
	s.mu.Unlock()
	render(w, http.StatusOK, "console.html", p)
}

// advanceFromConsole moves the default clock forward by a day, a week or a
// month, from the console's buttons.
func (s *Sandbox) advanceFromConsole(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<10)
	if err := r.ParseForm(); err != nil {
		render(w, http.StatusBadRequest, "message.html", messagePage{Title: "That did not work", Text: "The form could not be read; the clock did not move.", Link: "/", LinkText: "Back to the console"})
		return
	}
	step := map[string][3]int{"day": {0, 0, 1}, "week": {0, 0, 7}, "month": {0, 1, 0}}
	by, ok := step[r.PostForm.Get("by")]
	if !ok {
		render(w, http.StatusBadRequest, "message.html", messagePage{Title: "That did not work", Text: "The clock moves by a day, a week or a month; it did not move.", Link: "/", LinkText: "Back to the console"})
		return
	}
	err := s.update(r.Context(), nil, func(t *txn) error {
		return t.advance(s.objects[DefaultClock].(*TestClock), t.now.AddDate(by[0], by[1], by[2]))
	})
	if err != nil {
		s.log.Error("sandbox: advancing the clock failed", "err", err)
		render(w, http.StatusInternalServerError, "message.html", messagePage{Title: "That did not work", Text: "The sandbox could not advance its clock; it did not move.", Link: "/", LinkText: "Back to the console"})
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// retryFromConsole makes a delivery due now, from the console's button.
func (s *Sandbox) retryFromConsole(w http.ResponseWriter, r *http.Request) {
	// Only the console's own form may ask: a page elsewhere cannot make
	// the browser post here.
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return
	}
	id := r.PathValue("id")
	err := s.update(r.Context(), nil, func(t *txn) error {
		if d, ok := s.objects[id].(*Delivery); ok {
			t.retry(d)
		}
		return nil
	})
	if err != nil {
		http.Error(w, "could not retry the delivery", http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// newest returns up to n ids from the end of a creation-ordered list,
// newest first.
func newest(ids []string, n int) []string {
	out := slices.Clone(ids[max(0, len(ids)-n):])
	slices.Reverse(out)
	return out
}

// pairs is metadata as people read it: "key: value", by key.
func pairs(m Metadata) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+": "+v)
	}
	slices.Sort(out)
	return out
}
