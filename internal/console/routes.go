package console

import (
	"net/http"

	"github.com/paidup/paidup/internal/support"
)

// routes is the console's whole route table. Everything but the sign-in
// pages needs an operator signed in.
func (s *Server) routes() {
	s.mux.Handle("GET /console/sign-in", s.handleSignInForm())
	s.mux.Handle("POST /console/sign-in", s.handleSignIn())
	s.mux.Handle("POST /console/sign-in/code", s.handleSignInCode())
	s.mux.Handle("POST /console/sign-out", s.signedIn(s.handleSignOut(false)))
	s.mux.Handle("POST /console/sign-out-everywhere", s.signedIn(s.handleSignOut(true)))
	s.mux.Handle("GET /console/{$}", s.signedIn(s.handleCases()))
	s.mux.Handle("GET /console/customers/{id}", s.signedIn(s.handleCustomer()))
	s.mux.Handle("GET /console/customers/{id}/account", s.signedIn(s.handleAccountView()))
	s.mux.Handle("GET /console/search", s.signedIn(s.handleSearch()))
	s.mux.Handle("POST /console/cases/{id}/take", s.signedIn(s.handleTriage(support.TriageTake)))
	s.mux.Handle("POST /console/cases/{id}/wait", s.signedIn(s.handleTriage(support.TriageWait)))
	s.mux.Handle("POST /console/cases/{id}/snooze", s.signedIn(s.handleTriage(support.TriageSnooze)))
	s.mux.Handle("GET /console/cases/{id}", s.signedIn(s.handleCase()))
	s.mux.Handle("POST /console/cases/{id}/recover", s.signedIn(s.handleCaseRecover()))
	s.mux.Handle("POST /console/cases/{id}/reply/preview", s.signedIn(s.handleReplyPreview()))
	s.mux.Handle("POST /console/cases/{id}/reply", s.signedIn(s.handleReply()))
	s.mux.Handle("POST /console/cases/{id}/resolve", s.signedIn(s.handleResolve()))
	s.mux.Handle("POST /console/customers/{id}/recover", s.signedIn(s.handleCustomerAction(s.recoverCustomer)))
	s.mux.Handle("POST /console/customers/{id}/resend", s.signedIn(s.handleCustomerAction(s.resend)))
	s.mux.Handle("POST /console/customers/{id}/note", s.signedIn(s.handleCustomerAction(s.note)))
	s.mux.Handle("POST /console/customers/{id}/grant", s.signedIn(s.handleCustomerAction(s.grant)))
	s.mux.Handle("POST /console/customers/{id}/end-grant", s.signedIn(s.handleCustomerAction(s.endGrant)))
	s.mux.Handle("POST /console/customers/{id}/block", s.signedIn(s.handleCustomerAction(s.block)))
	s.mux.Handle("POST /console/customers/{id}/lift", s.signedIn(s.handleCustomerAction(s.lift)))
	s.mux.Handle("GET /console/customers/{id}/refund", s.signedIn(s.handleRefundForm(false)))
	s.mux.Handle("POST /console/customers/{id}/refund/preview", s.signedIn(s.handleRefundForm(true)))
	s.mux.Handle("POST /console/customers/{id}/refund", s.signedIn(s.handleRefund()))
	s.mux.Handle("GET /console/checkouts/{ref}", s.signedIn(s.handleCheckout()))
	s.mux.Handle("POST /console/checkouts/{ref}/recover", s.signedIn(s.handleCheckoutRecover()))
	s.mux.Handle("GET /console/groups/{kind}", s.signedIn(s.handleGroup()))
	s.mux.Handle("POST /console/groups/{kind}", s.signedIn(s.handleGroupAction()))
	s.mux.Handle("GET /console/oncall", s.signedIn(s.handleOnCall()))
	s.mux.Handle("POST /console/oncall/alerts/{id}/ack", s.signedIn(s.handleAcknowledge()))
	s.mux.Handle("POST /console/oncall/overrides", s.signedIn(s.handleOverride()))
	s.mux.Handle("POST /console/oncall/overrides/{id}/end", s.signedIn(s.handleEndOverride()))
	s.mux.Handle("GET /console/audit", s.signedIn(s.handleAudit()))
	s.mux.Handle("/console/", s.signedIn(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, errNotFound)
	})))
}
