package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"strings"

	"github.com/paidup/paidup"
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
	// Actor is the person who replies.
	Actor string
}

// signInInThread is how a case's thread writes the sign-in link of a
// reply: the link is made when the email is sent, and kept nowhere.
const signInInThread = "[a sign-in link, in the email]"

// QueueReply queues a reply in the caller's transaction, once per case and
// text: the same reply sent twice is sent once. A new reply is the case
// thread's next message.
func (o *Outbox) QueueReply(ctx context.Context, tx *store.Tx, r Reply) (bool, error) {
	if r.CaseID == "" || r.To == "" || r.Reply.Text == "" {
		return false, fmt.Errorf("queueing a reply: the case, the address and the text are required")
	}
	sum := sha256.Sum256([]byte(r.Reply.Subject + "\x00" + r.Reply.Text))
	em, created, err := queueEmail(ctx, tx, store.Email{DedupeKey: "case_reply:" + r.CaseID + ":" + hex.EncodeToString(sum[:8]), CustomerID: r.CustomerID,
		Kind: KindCaseReply, To: r.To, Data: map[string]string{"case": r.CaseID, "reference": r.Reference,
			"reply_template": r.Reply.Template, "subject": r.Reply.Subject, "text": r.Reply.Text, "markdown": r.Reply.Markdown}}, r.Reference)
	if err != nil || !created {
		return false, err
	}
	_, _, err = tx.AddCaseMessage(ctx, paidup.CaseMessage{CaseID: r.CaseID, Direction: paidup.MessageOut, Via: paidup.ViaEmail, To: r.To,
		Subject: r.Reply.Subject, Text: strings.ReplaceAll(r.Reply.Text, replies.SignInPlaceholder, signInInThread),
		MessageID: em.ID, EmailID: em.ID, Actor: r.Actor})
	return err == nil, err
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
// when it was queued, with its sign-in link now, and the ways to answer
// it into the case's thread.
type replyData struct {
	Business, Subject string
	// Text is the reply's plain text, without the line breaks it ends
	// with.
	Text string
	// Body is the reply's HTML, from its Markdown, without raw HTML.
	Body template.HTML
	// ReplyURL is the page where the customer reads the thread and
	// answers, however long after; ReplyAddress the address their
	// answer by email goes to (the Reply-To), empty without an inbound
	// domain (their answer then reaches the support address).
	ReplyURL, ReplyAddress string
}

func (s *Sender) reply(e store.Email, l links) (replyData, error) {
	link := l.signIn
	if link == "" {
		link = s.PublicURL + "/account"
	}
	body, err := replies.HTML(strings.ReplaceAll(e.Data["markdown"], replies.SignInPlaceholder, "<"+link+">"))
	if err != nil {
		return replyData{}, err
	}
	text := strings.TrimRight(strings.ReplaceAll(e.Data["text"], replies.SignInPlaceholder, link), "\n")
	return replyData{Business: s.Business, Subject: e.Data["subject"], Text: text,
		Body: template.HTML(body), ReplyURL: l.replyURL, ReplyAddress: l.replyAddress}, nil
}

// replyLinks are the web link and the reply address of a reply with
// token.
func (s *Sender) replyLinks(token string) (url, address string) {
	if s.InboundDomain != "" {
		address = "reply+" + token + "@" + s.InboundDomain
	}
	return s.PublicURL + "/reply/" + token, address
}
