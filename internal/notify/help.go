package notify

import (
	"cmp"
	"context"
	"fmt"

	"github.com/paidup/paidup/internal/store"
)

// Email kinds answering the help form ("I was charged but have no
// access"), always by email, never on the page.
const (
	KindHelpAccess   = "help_access"   // the customer has access: here is a sign-in link
	KindHelpReceived = "help_received" // a person will look at it, and by when
)

// Help answers a help request: which answer, to whom, for which request.
type Help struct {
	// RequestID makes the answer once per request.
	RequestID string
	// CustomerID is the customer the address belongs to; empty when
	// paidup has none.
	CustomerID, To string
	// Access is what the customer has now, e.g. "Pro, until 3 December
	// 2027"; set for KindHelpAccess.
	Access string
	// Case is the support case a person answers (KindHelpReceived).
	Case string
}

// QueueHelp queues the answer to a help request, once per request, in the
// caller's transaction: KindHelpAccess when the customer has access now,
// else KindHelpReceived.
func (o *Outbox) QueueHelp(ctx context.Context, tx *store.Tx, h Help) (bool, error) {
	if h.RequestID == "" || h.To == "" {
		return false, fmt.Errorf("queueing a help answer: the request and address are required")
	}
	kind, data := KindHelpReceived, map[string]string{"case": h.Case}
	if h.Access != "" {
		if h.CustomerID == "" {
			return false, fmt.Errorf("queueing a help answer with a sign-in link: the customer is required")
		}
		kind, data = KindHelpAccess, map[string]string{"access": h.Access}
	}
	return queueNew(ctx, tx, store.Email{DedupeKey: "help:" + h.RequestID, CustomerID: h.CustomerID, Kind: kind, To: h.To, Data: data}, "")
}

// helpData is what the help_access and help_received templates get.
type helpData struct {
	Business, SupportEmail string
	// Access is what the customer has now (help_access).
	Access                         string
	SignInURL, AccountURL, LinkTTL string
	// Case is the support case's number; ReplyWithin how soon a person
	// answers (help_received).
	Case, ReplyWithin string
}

func (s *Sender) help(e store.Email, signIn string) helpData {
	return helpData{Business: s.Business, SupportEmail: s.SupportEmail, Access: e.Data["access"], SignInURL: signIn,
		AccountURL: s.PublicURL + "/account", LinkTTL: HumanDuration(s.LinkTTL), Case: e.Data["case"],
		ReplyWithin: cmp.Or(s.ReplyWithin, "one business day")}
}
