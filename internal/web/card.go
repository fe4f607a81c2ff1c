package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/paidup/paidup"
)

// cardPage is the page a lifecycle email's card link opens.
type cardPage struct {
	Token   string
	Expired bool // the link is unknown or has expired: offer a sign-in link
}

// portalTimeout bounds the call that opens the processor's card page.
const portalTimeout = 15 * time.Second

// errCardPortal is shown when the processor's card page cannot be opened.
var errCardPortal = paidup.Errorf(paidup.EUNAVAILABLE, "We could not open the card page just now. Nothing has changed, and your access is as it was. Please try again in a minute.")

// validCardToken reports whether a token looks like one paidup makes, so
// that junk is answered without a database query.
func validCardToken(token string) bool {
	if len(token) < 20 || len(token) > 100 {
		return false
	}
	for _, c := range token {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// handleCardForm shows the page of a card link: a button that opens the
// processor's card page. Opening the link changes nothing: mail scanners
// open links.
func (s *Server) handleCardForm() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := r.PathValue("token")
		if !validCardToken(token) {
			s.render(w, r, http.StatusNotFound, "card.html", "Update your card", cardPage{Expired: true})
			return
		}
		if _, err := s.Store.CardLink(r.Context(), token); err != nil {
			if paidup.ErrorCode(err) == paidup.EUNAUTHORIZED {
				s.render(w, r, http.StatusGone, "card.html", "Update your card", cardPage{Expired: true})
				return
			}
			s.fail(w, r, err)
			return
		}
		s.render(w, r, http.StatusOK, "card.html", "Update your card", cardPage{Token: token})
	})
}

// handleCard opens the processor's card page for the link's customer and
// sends them there. The token in the path is the capability; the customer
// comes back to their account page.
func (s *Server) handleCard() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := r.PathValue("token")
		if !validCardToken(token) {
			s.render(w, r, http.StatusNotFound, "card.html", "Update your card", cardPage{Expired: true})
			return
		}
		l, err := s.Store.UseCardLink(r.Context(), token)
		if err != nil {
			if paidup.ErrorCode(err) == paidup.EUNAUTHORIZED {
				s.render(w, r, http.StatusGone, "card.html", "Update your card", cardPage{Expired: true})
				return
			}
			s.fail(w, r, err)
			return
		}
		s.toPortal(w, r, l.Processor, l.ProcessorCustomerID)
	})
}

// handleAccountCard sends a signed-in customer to the processor's card
// page.
func (s *Server) handleAccountCard() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		customerID, ok := s.signedIn(r)
		if !ok {
			http.Redirect(w, r, "/account", http.StatusSeeOther)
			return
		}
		c, err := s.Store.Customer(r.Context(), customerID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		processor, id := s.cardCustomer(r.Context(), c)
		if id == "" {
			s.fail(w, r, paidup.Errorf(paidup.ENOTFOUND, "There is no card on file for your account."))
			return
		}
		s.toPortal(w, r, processor, id)
	})
}

// cardCustomer is the processor customer whose card a customer can update
// here, if any: the one their latest running subscription bills, else the
// one linked last.
func (s *Server) cardCustomer(ctx context.Context, c paidup.Customer) (processor, id string) {
	if subs, err := s.Store.Subscriptions(ctx, c.ID); err == nil {
		for _, sub := range slices.Backward(subs) {
			if sub.EndedAt.IsZero() && sub.Status != paidup.SubscriptionCanceled && sub.ProcessorCustomerID != "" && s.Billing[sub.Processor] != nil {
				return sub.Processor, sub.ProcessorCustomerID
			}
		}
	}
	for p, ids := range c.ProcessorIDs {
		if s.Billing[p] != nil && len(ids) > 0 && (processor == "" || p < processor) {
			processor, id = p, ids[len(ids)-1]
		}
	}
	return processor, id
}

// toPortal opens a session of the processor's customer portal, outside
// any transaction, and redirects there.
func (s *Server) toPortal(w http.ResponseWriter, r *http.Request, processor, processorCustomerID string) {
	billing := s.Billing[processor]
	if billing == nil {
		s.fail(w, r, errors.Join(errCardPortal, errors.New("no billing for processor "+processor)))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), portalTimeout)
	defer cancel()
	portal, err := billing.PortalURL(ctx, processorCustomerID, s.PublicURL+"/account")
	if err == nil {
		if u, perr := url.Parse(portal); perr != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			err = errors.New("the processor's portal address is not an http(s) URL")
		}
	}
	if err != nil {
		s.fail(w, r, errors.Join(errCardPortal, err))
		return
	}
	http.Redirect(w, r, portal, http.StatusSeeOther)
}
