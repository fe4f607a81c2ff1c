package sandbox

import (
	"errors"
	"net/http"
	"strings"
	"time"
)

// PortalSession is a Stripe billing portal session: a link that lets a
// customer manage their subscriptions and card on the sandbox's portal page.
type PortalSession struct {
	meta
	Configuration string    `json:"configuration"`
	Customer      string    `json:"customer"`
	Flow          *struct{} `json:"flow"`
	Locale        *string   `json:"locale"`
	OnBehalfOf    *string   `json:"on_behalf_of"`
	ReturnURL     *string   `json:"return_url"`
	URL           string    `json:"url"`
}

// portalConfiguration is the id the sandbox gives its one portal
// configuration.
const portalConfiguration = "bpc_sandbox"

func (s *Sandbox) createPortalSession(c *call) (any, error) {
	var p struct {
		Customer      string   `form:"customer,required"`
		ReturnURL     *string  `form:"return_url"`
		Configuration *string  `form:"configuration"`
		Locale        *string  `form:"locale"`
		Expand        []string `form:"expand"`
	}
	if err := c.decode(&p); err != nil {
		return nil, err
	}
	cu, err := get[*Customer](s, p.Customer, "customer", "customer")
	if err != nil {
		return nil, err
	}
	if p.ReturnURL != nil && !validURL(*p.ReturnURL) {
		return nil, invalidRequest("return_url", "Not a valid URL")
	}
	if p.Configuration != nil && *p.Configuration != portalConfiguration {
		return nil, errNoSuch("billing portal configuration", *p.Configuration, "configuration")
	}
	ps := &PortalSession{
		meta:          meta{ID: newID("bps"), Object: "billing_portal.session", Created: c.t.now.Unix()},
		Configuration: portalConfiguration,
		Customer:      cu.ID,
		Locale:        p.Locale,
		ReturnURL:     p.ReturnURL,
	}
	ps.URL = s.opts.BaseURL + "/p/" + ps.ID
	c.t.put(ps)
	c.t.emit("billing_portal.session.created", ps, nil)
	return c.object(ps)
}

type portalPage struct {
	ID, Business, Email, ReturnURL, Card, Error string
	Notices                                     []string
	Subscriptions                               []portalSubscription
	Invoices                                    []portalInvoice
}

type portalSubscription struct {
	ID, Plan, Status, PeriodEnd string
	Ending                      bool
}

type portalInvoice struct {
	Number, Amount, NextAttempt string
	Attempts                    int64
}

// portalPageLocked builds the portal page of a session, or nil when there
// is no such session or its customer is gone.
func (s *Sandbox) portalPageLocked(id string) *portalPage {
	ps, ok := s.objects[id].(*PortalSession)
	if !ok {
		return nil
	}
	cu, ok := s.objects[ps.Customer].(*Customer)
	if !ok {
		return nil
	}
	day := func(unix int64) string { return time.Unix(unix, 0).UTC().Format("2 January 2006") }
	p := &portalPage{ID: ps.ID, Business: s.opts.Business, Email: deref(cu.Email), ReturnURL: deref(ps.ReturnURL)}
	if pm, ok := s.objects[deref(cu.InvoiceSettings.DefaultPaymentMethod)].(*PaymentMethod); ok {
		p.Card = pm.Card.Brand + " ending " + pm.Card.Last4
	}
	for _, sid := range s.byType["subscription"] {
		sub := s.objects[sid].(*Subscription)
		if sub.Customer != cu.ID || sub.ended() {
			continue
		}
		var plans []string
		for _, it := range sub.Items.Data {
			name := it.Price.ID
			if pr, ok := s.objects[it.Price.Product].(*Product); ok {
				name = pr.Name
			}
			plans = append(plans, name+" ("+money(deref(it.Price.UnitAmount), it.Price.Currency)+" / "+it.Price.Recurring.Interval+")")
		}
		_, end := sub.period()
		p.Subscriptions = append(p.Subscriptions, portalSubscription{ID: sub.ID, Plan: strings.Join(plans, ", "), Status: sub.Status, PeriodEnd: day(end), Ending: sub.CancelAtPeriodEnd})
	}
	for _, inv := range s.openInvoices(cu.ID) {
		pi := portalInvoice{Number: deref(inv.Number), Amount: money(inv.AmountRemaining, inv.Currency), Attempts: inv.AttemptCount}
		if inv.NextPaymentAttempt != nil {
			pi.NextAttempt = day(*inv.NextPaymentAttempt)
		}
		p.Invoices = append(p.Invoices, pi)
	}
	return p
}

// openInvoices are a customer's invoices waiting for payment, oldest first.
func (s *Sandbox) openInvoices(customer string) []*Invoice {
	var out []*Invoice
	for _, id := range s.byType["invoice"] {
		if inv := s.objects[id].(*Invoice); inv.Customer == customer && inv.Status == "open" {
			out = append(out, inv)
		}
	}
	return out
}

var portalGone = messagePage{Title: "This link is not valid", Text: "Go back to the shop and open your billing page again."}

func (s *Sandbox) showPortal(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p := s.portalPageLocked(r.PathValue("id"))
	s.mu.Unlock()
	if p == nil {
		render(w, http.StatusNotFound, "message.html", portalGone)
		return
	}
	render(w, http.StatusOK, "portal.html", p)
}

// portalForm reads a form posted on the portal page, refusing posts from
// other sites and oversized bodies. It writes the refusal and returns false.
func portalForm(w http.ResponseWriter, r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
		render(w, http.StatusForbidden, "message.html", messagePage{Title: "That did not work", Text: "This form can only be sent from the billing page itself. Nothing was changed."})
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		render(w, status, "message.html", messagePage{Title: "That did not work", Text: "The form could not be read. Nothing was changed; go back and try again."})
		return false
	}
	return true
}

// savePortalCard attaches the card typed on the portal page, makes it the
// default of the customer and of their subscriptions, and pays their open
// invoices with it at once, as Stripe's portal does.
func (s *Sandbox) savePortalCard(w http.ResponseWriter, r *http.Request) {
	if !portalForm(w, r) {
		return
	}
	id := r.PathValue("id")
	number := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, r.PostForm.Get("card_number"))
	name := strings.TrimSpace(r.PostForm.Get("name"))
	var notices []string
	var problem string
	status := http.StatusOK
	found := false
	err := s.update(r.Context(), nil, func(t *txn) error {
		ps, ok := s.objects[id].(*PortalSession)
		if !ok {
			return nil
		}
		cu, ok := s.objects[ps.Customer].(*Customer)
		if !ok {
			return nil
		}
		found = true
		t.now = s.timeOn(cu.TestClock)
		cd, msg := readCard(number, strings.TrimSpace(r.PostForm.Get("exp")), strings.TrimSpace(r.PostForm.Get("cvc")), t.now)
		if msg == "" && len(name) > 200 {
			msg = "The name on the card is too long."
		}
		if msg == "" && cd.Decline != "" {
			msg, status = declineMessages[cd.Decline].message+" Nothing was changed.", http.StatusPaymentRequired
		}
		if msg != "" {
			problem = msg
			if status == http.StatusOK {
				status = http.StatusUnprocessableEntity
			}
			return nil
		}
		pm := t.newPaymentMethod(cd, deref(cu.Email), name, &cu.ID)
		t.emit("payment_method.attached", pm, nil)
		before := s.render(cu)
		cu.InvoiceSettings.DefaultPaymentMethod = &pm.ID
		t.changed("customer.updated", cu, before)
		for _, sid := range s.byType["subscription"] {
			if sub := s.objects[sid].(*Subscription); sub.Customer == cu.ID && !sub.ended() && sub.DefaultPaymentMethod != nil {
				before := s.render(sub)
				sub.DefaultPaymentMethod = &pm.ID
				t.changed("customer.subscription.updated", sub, before)
			}
		}
		notices = append(notices, "Your card ending "+pm.Card.Last4+" is saved and will be used for future payments.")
		for _, inv := range s.openInvoices(cu.ID) {
			if err := t.attemptInvoice(inv, pm, false); err != nil {
				var ae *apiError
				if !errors.As(err, &ae) || !ae.keep {
					return err
				}
				notices = append(notices, "Invoice "+deref(inv.Number)+" could not be paid with this card: "+ae.body.Message)
				continue
			}
			notices = append(notices, "Invoice "+deref(inv.Number)+" ("+money(inv.AmountPaid, inv.Currency)+") is paid. Thank you!")
		}
		return nil
	})
	s.finishPortal(w, r, id, found, err, status, notices, problem)
}

// finishPortal shows the portal page again after a change, with what
// happened.
func (s *Sandbox) finishPortal(w http.ResponseWriter, r *http.Request, id string, found bool, err error, status int, notices []string, problem string) {
	if err != nil {
		s.log.Error("sandbox: portal change failed", "session", id, "err", err)
		render(w, http.StatusInternalServerError, "message.html", messagePage{Title: "That did not work", Text: "The sandbox could not make the change, and nothing was changed. Try again."})
		return
	}
	if !found {
		render(w, http.StatusNotFound, "message.html", portalGone)
		return
	}
	s.mu.Lock()
	p := s.portalPageLocked(id)
	s.mu.Unlock()
	p.Notices, p.Error = notices, problem
	render(w, status, "portal.html", p)
}

// setPortalCancel schedules a subscription's cancellation at period end, or
// undoes it, from the portal page.
func (s *Sandbox) setPortalCancel(cancel bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !portalForm(w, r) {
			return
		}
		id, subID := r.PathValue("id"), r.PathValue("sub")
		var notices []string
		found := false
		err := s.update(r.Context(), nil, func(t *txn) error {
			ps, ok := s.objects[id].(*PortalSession)
			if !ok {
				return nil
			}
			sub, ok := s.objects[subID].(*Subscription)
			if !ok || sub.Customer != ps.Customer || sub.ended() {
				return nil
			}
			found = true
			t.now = s.timeOn(sub.TestClock)
			if sub.CancelAtPeriodEnd == cancel {
				return nil
			}
			before := s.render(sub)
			sub.setCancelAtPeriodEnd(cancel, t.now)
			notices = append(notices, "Your subscription will continue.")
			if cancel {
				_, end := sub.period()
				notices[0] = "Your subscription will end on " + time.Unix(end, 0).UTC().Format("2 January 2006") + ". You keep access until then."
			}
			t.changed("customer.subscription.updated", sub, before)
			return nil
		})
		s.finishPortal(w, r, id, found, err, http.StatusOK, notices, "")
	}
}
