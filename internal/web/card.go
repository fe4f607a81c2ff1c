package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/store"
)

// cardPage is the page a lifecycle email's card link opens.
type cardPage struct {
	Token string
	// Page names this rendering of the page, so that its button pressed
	// twice (a double click) spends the link once and works both times.
	Page    string
	Expired bool // the link is unknown or has expired: offer a sign-in link
	Used    bool // the link has been spent: offer a sign-in link
}

// portalTimeout bounds the call that opens the processor's card page.
const portalTimeout = 15 * time.Second

// errCardPortal is shown when the processor's card page cannot be opened.
// The customer is signed in by then (by the card link, if not before),
// so their account page has the button to try again.
var errCardPortal = paidup.Errorf(paidup.EUNAVAILABLE, "We could not open the card page just now. Nothing has changed, and your access is as it was. Please try again in a minute with the \"Update your card\" button on your account page.")

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
// processor's card page, or, for a spent link, a way to sign in. Opening
// the link changes nothing: mail scanners open links.
func (s *Server) handleCardForm() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := r.PathValue("token")
		l, ok := s.cardLink(w, r, token)
		if !ok {
			return
		}
		if !l.UsedAt.IsZero() && !s.signedInAs(r, l.CustomerID) {
			s.render(w, r, http.StatusGone, "card.html", "Update your card", cardPage{Used: true})
			return
		}
		s.render(w, r, http.StatusOK, "card.html", "Update your card", cardPage{Token: token, Page: newPageID()})
	})
}

// handleCard opens the processor's card page for the link's customer and
// sends them there. The first use spends the link and signs the customer
// in; after that, the link opens the page only for a browser signed in as
// that customer, or the same page's button pressed again within a couple
// of minutes. They come back to their account page.
func (s *Server) handleCard() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := r.PathValue("token")
		l, ok := s.cardLink(w, r, token)
		if !ok {
			return
		}
		if !l.UsedAt.IsZero() && s.signedInAs(r, l.CustomerID) {
			s.toPortal(w, r, l.Processor, l.ProcessorCustomerID)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
		if err := r.ParseForm(); err != nil {
			s.fail(w, r, paidup.Errorf(paidup.EINVALID, "The form could not be read. Please go back and try again."))
			return
		}
		spent, session, err := s.Store.UseCardLink(r.Context(), token, r.PostForm.Get("page"), s.SessionTTL)
		switch {
		case err == nil:
			s.startSession(w, session)
			s.toPortal(w, r, spent.Processor, spent.ProcessorCustomerID)
		case errors.Is(err, store.ErrCardLinkUsed):
			s.render(w, r, http.StatusGone, "card.html", "Update your card", cardPage{Used: true})
		default:
			s.cardLinkFailed(w, r, err)
		}
	})
}

// newPageID names one rendering of a page.
func newPageID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// cardLink reads the card link of a token, or answers the request with the
// page of an unknown or expired link.
func (s *Server) cardLink(w http.ResponseWriter, r *http.Request, token string) (store.CardLink, bool) {
	if !validCardToken(token) {
		s.render(w, r, http.StatusNotFound, "card.html", "Update your card", cardPage{Expired: true})
		return store.CardLink{}, false
	}
	l, err := s.Store.CardLink(r.Context(), token)
	if err != nil {
		s.cardLinkFailed(w, r, err)
		return l, false
	}
	return l, true
}

// cardLinkFailed answers a card link that could not be read or spent.
func (s *Server) cardLinkFailed(w http.ResponseWriter, r *http.Request, err error) {
	if paidup.ErrorCode(err) == paidup.EUNAUTHORIZED {
		s.render(w, r, http.StatusGone, "card.html", "Update your card", cardPage{Expired: true})
		return
	}
	s.fail(w, r, err)
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

// signedInAs reports whether the request's session is the customer's.
func (s *Server) signedInAs(r *http.Request, customerID string) bool {
	id, ok := s.signedIn(r)
	return ok && id == customerID
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
