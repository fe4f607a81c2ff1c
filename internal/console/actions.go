package console

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/support"
)

// formLimit bounds what a console form may post.
const formLimit = 32 << 10

// newRequestID names the request a form asks for. Each form the console
// renders gets its own, so that pressing its button twice, or posting it
// again after a timeout, is the same request, taken once.
func newRequestID() string { return "rq_" + strings.ToLower(rand.Text()) }

// readForm reads a posted form; false: it could not be, and the error
// page is written.
func (s *Server) readForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, formLimit)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, paidup.Errorf(paidup.EINVALID, "The form could not be read."))
		return false
	}
	return true
}

// acting reads a posted form asking for an action of the support
// service; false: it cannot be taken, and the error page is written.
func (s *Server) acting(w http.ResponseWriter, r *http.Request) bool {
	if !s.readForm(w, r) {
		return false
	}
	if s.Support == nil {
		s.fail(w, r, errNoSupport)
		return false
	}
	return true
}

// supportRequest is the request a posted form asks for: the form's id,
// the operator signed in, and the reason they typed.
func supportRequest(r *http.Request) support.Request {
	op, _ := operatorOf(r.Context())
	return support.Request{ID: r.PostForm.Get("request"), Actor: op.Email, Reason: r.PostForm.Get("reason")}
}

var errNoSupport = paidup.Errorf(paidup.EUNAVAILABLE, "This console cannot take actions: paidup was started without its support service.")

// customerAction is an action on the customer of the path.
type customerAction func(ctx context.Context, rq support.Request, customerID string, form url.Values) (support.Result, error)

// handleCustomerAction takes an action on a customer and goes back to
// their page, which shows what came of it.
func (s *Server) handleCustomerAction(act customerAction) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.acting(w, r) {
			return
		}
		c, err := s.Store.Customer(r.Context(), r.PathValue("id"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		rq := supportRequest(r)
		if _, err := act(r.Context(), rq, c.ID, r.PostForm); err != nil {
			s.fail(w, r, err)
			return
		}
		done(w, r, "/console/customers/"+c.ID, rq.ID)
	})
}

// done goes back to a page, which shows the outcome of the request.
func done(w http.ResponseWriter, r *http.Request, page, requestID string) {
	http.Redirect(w, r, page+"?done="+url.QueryEscape(requestID)+"#outcome", http.StatusSeeOther)
}

// outcome is the audit entry of the request a page was sent back from,
// if it was about subject (a customer, a case): what came of it.
func (s *Server) outcome(r *http.Request, subject func(paidup.AuditEntry) bool) (paidup.AuditEntry, bool) {
	id := r.URL.Query().Get("done")
	if id == "" {
		return paidup.AuditEntry{}, false
	}
	e, found, err := s.Store.Audit(r.Context(), id)
	if err != nil || !found || !subject(e) {
		return paidup.AuditEntry{}, false
	}
	return e, true
}

func (s *Server) recoverCustomer(ctx context.Context, rq support.Request, customerID string, _ url.Values) (support.Result, error) {
	return s.Support.Recover(ctx, rq, customerID)
}

func (s *Server) resend(ctx context.Context, rq support.Request, customerID string, f url.Values) (support.Result, error) {
	return s.Support.Resend(ctx, rq, customerID, f.Get("email"))
}

func (s *Server) note(ctx context.Context, rq support.Request, customerID string, f url.Values) (support.Result, error) {
	return s.Support.Note(ctx, rq, customerID, f.Get("note"))
}

func (s *Server) block(ctx context.Context, rq support.Request, customerID string, _ url.Values) (support.Result, error) {
	res, _, err := s.Support.Block(ctx, rq, customerID)
	return res, err
}

func (s *Server) lift(ctx context.Context, rq support.Request, customerID string, _ url.Values) (support.Result, error) {
	res, _, err := s.Support.LiftBlocks(ctx, rq, customerID)
	return res, err
}

func (s *Server) endGrant(ctx context.Context, rq support.Request, customerID string, f url.Values) (support.Result, error) {
	return s.Support.EndGrant(ctx, rq, customerID, f.Get("grant"))
}

// grant gives a tier until the end of the day the form names, in UTC.
func (s *Server) grant(ctx context.Context, rq support.Request, customerID string, f url.Values) (support.Result, error) {
	day, err := time.Parse(time.DateOnly, strings.TrimSpace(f.Get("until")))
	if err != nil {
		return support.Result{}, paidup.Errorf(paidup.EINVALID, "Say until which day the grant lasts, as 2027-01-31.")
	}
	res, _, err := s.Support.Grant(ctx, rq, customerID, f.Get("tier"), day.Add(24*time.Hour-time.Second))
	return res, err
}

// refundForm is the refund page: the payment, the form to say how much,
// and, once asked, the preview of exactly what the refund will do.
type refundForm struct {
	Customer paidup.Customer
	Payment  paidup.Payment
	// Amount is what was typed ("" for all that is left); EndGrant the
	// box to end the grant it paid for.
	Amount   string
	EndGrant bool
	Reason   string
	// Preview is what the refund will do; nil before it is asked.
	Preview *support.RefundPreview
	Request string
}

// handleRefundForm shows the refund form for one of a customer's
// payments; posted (…/refund/preview), it shows what the refund will do
// with the button that does it.
func (s *Server) handleRefundForm(preview bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if preview && !s.readForm(w, r) {
			return
		}
		if s.Support == nil {
			s.fail(w, r, errNoSupport)
			return
		}
		ctx := r.Context()
		c, err := s.Store.Customer(ctx, r.PathValue("id"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		p := refundForm{Customer: c, Request: newRequestID()}
		if p.Payment, err = s.customerPayment(ctx, c.ID, r.FormValue("payment")); err != nil {
			s.fail(w, r, err)
			return
		}
		if preview {
			p.Amount, p.EndGrant, p.Reason = strings.TrimSpace(r.PostForm.Get("amount")), r.PostForm.Get("end_grant") != "", r.PostForm.Get("reason")
			rr, err := refundRequest(p.Payment, p.Amount, p.EndGrant)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			pv, err := s.Support.PreviewRefund(ctx, c.ID, rr)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			p.Preview = &pv
		}
		s.render(w, r, http.StatusOK, "refund.html", "Refund "+p.Payment.ID, p)
	})
}

// customerPayment is one of a customer's payments.
func (s *Server) customerPayment(ctx context.Context, customerID, paymentID string) (paidup.Payment, error) {
	payments, err := s.Store.Payments(ctx, customerID)
	if err != nil {
		return paidup.Payment{}, err
	}
	for _, p := range payments {
		if p.ID == paymentID {
			return p, nil
		}
	}
	return paidup.Payment{}, paidup.Errorf(paidup.ENOTFOUND, "The customer has no payment %q.", paymentID)
}

// refundRequest reads what the refund form asks of payment p: an amount
// in its currency ("12.50"), or nothing for all that is left.
func refundRequest(p paidup.Payment, amount string, endGrant bool) (support.RefundRequest, error) {
	rr := support.RefundRequest{PaymentID: p.ID, EndGrant: endGrant}
	if amount == "" {
		return rr, nil
	}
	m, err := paidup.ParseMoney(strings.TrimLeft(amount, "$€£ "), p.Amount.Currency)
	if err != nil || m.Amount <= 0 {
		return rr, paidup.Errorf(paidup.EINVALID, "Write the amount to refund as 12.50, or leave it empty to refund all that is left.")
	}
	rr.Amount = m.Amount
	return rr, nil
}

// handleRefund refunds as the previewed form says, and goes back to the
// customer's page: the refund shows there as pending until the processor
// confirms it.
func (s *Server) handleRefund() http.Handler {
	return s.handleCustomerAction(func(ctx context.Context, rq support.Request, customerID string, f url.Values) (support.Result, error) {
		p, err := s.customerPayment(ctx, customerID, f.Get("payment"))
		if err != nil {
			return support.Result{}, err
		}
		rr, err := refundRequest(p, strings.TrimSpace(f.Get("amount")), f.Get("end_grant") != "")
		if err != nil {
			return support.Result{}, err
		}
		out, err := s.Support.Refund(ctx, rq, customerID, rr)
		return out.Result, err
	})
}
