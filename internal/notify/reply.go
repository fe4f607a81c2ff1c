package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"strings"

	"github.com/paidup/paidup/internal/replies"
	"github.com/paidup/paidup/internal/store"
)

// KindCaseReply is a person's reply to a customer about a support case,
// from a reply template.
const KindCaseReply = "case_reply"

// Reply is a person's reply about a case, to its customer.
type Reply struct {
	CaseID, CustomerID, To string
	// Reference is what the customer may quote (the case's reference).
	Reference string
	Reply     replies.Reply
}

// QueueReply queues a reply in the caller's transaction, once per case and
// text: the same reply sent twice is sent once.
func (o *Outbox) QueueReply(ctx context.Context, tx *store.Tx, r Reply) (bool, error) {
	if r.CaseID == "" || r.To == "" || r.Reply.Text == "" {
		return false, fmt.Errorf("queueing a reply: the case, the address and the text are required")
	}
	sum := sha256.Sum256([]byte(r.Reply.Subject + "\x00" + r.Reply.Text))
	return queueNew(ctx, tx, store.Email{DedupeKey: "case_reply:" + r.CaseID + ":" + hex.EncodeToString(sum[:8]), CustomerID: r.CustomerID,
		Kind: KindCaseReply, To: r.To, Data: map[string]string{"case": r.CaseID, "reference": r.Reference,
			"reply_template": r.Reply.Template, "subject": r.Reply.Subject, "text": r.Reply.Text, "markdown": r.Reply.Markdown}}, r.Reference)
}

// needsSignIn reports whether an email carries a sign-in link made when it
// is sent.
func needsSignIn(e store.Email) bool {
	switch e.Kind {
	case KindConfirmation, KindSignIn, KindHelpAccess:
		return true
	case KindCaseReply:
		return e.CustomerID != "" && strings.Contains(e.Data["text"], replies.SignInPlaceholder)
	}
	return false
}

// replyData is what the case_reply template gets: the reply as rendered
// when it was queued, with its sign-in link now.
type replyData struct {
	Business, Subject, Text string
	// Body is the reply's HTML, from its Markdown, without raw HTML.
	Body template.HTML
}

func (s *Sender) reply(e store.Email, signIn string) (replyData, error) {
	link := signIn
	if link == "" {
		link = s.PublicURL + "/account"
	}
	body, err := replies.HTML(strings.ReplaceAll(e.Data["markdown"], replies.SignInPlaceholder, "<"+link+">"))
	if err != nil {
		return replyData{}, err
	}
	return replyData{Business: s.Business, Subject: e.Data["subject"], Text: strings.ReplaceAll(e.Data["text"], replies.SignInPlaceholder, link),
		Body: template.HTML(body)}, nil
}
