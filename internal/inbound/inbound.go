// Package inbound takes the customers' answers to support replies into
// their case's thread: by mail to paidup's own SMTP listener, by an
// inbound-mail webhook (Mailgun's routes), and from the reply page. Every
// reply carries a token, in its reply address (reply+TOKEN@domain) and
// its web link (/reply/TOKEN); an answer is matched by that token and, by
// mail, by its sender too, so that nobody but the case's customer writes
// into their thread.
package inbound

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/store"
)

// Limits on an answer, in characters: its text (longer mail is cut,
// the web form refuses more) and its subject.
const (
	MaxText    = 10_000
	maxSubject = 200
)

// Answer is a customer's answer to a reply, as it arrived.
type Answer struct {
	// Token is the reply token it was addressed with.
	Token string
	// Via is paidup.ViaEmail or paidup.ViaWeb.
	Via string
	// From is the sender's address as the message's From: says; empty
	// on the web, where the token alone is the permission.
	From    string
	Subject string
	// Text is what the customer wrote, without the reply they quote.
	Text string
	// MessageID takes the answer once: the Message-ID of its mail, the
	// id of its web form. Empty: one made from what it says.
	MessageID string
	// Automatic: a machine answered (an out-of-office). It is not taken.
	Automatic bool
}

// Outcomes of an answer.
const (
	// Threaded: the answer is the thread's next message, and the case
	// is a person's to take again.
	Threaded = "threaded"
	// AlreadyTaken: an answer with its message id was taken before.
	AlreadyTaken = "already_taken"
	// NotTheCustomer: mail came from an address that is not the case's
	// customer's. It is not in the thread; a case for a person says who
	// wrote and what.
	NotTheCustomer = "not_the_customer"
	// Automatic: a machine answered (an out-of-office): not in the
	// thread, and the case still waits on the customer.
	Automatic = "automatic"
)

// Taken is what became of an answer: its Outcome, and the case it went
// to (for NotTheCustomer, the case opened for a person).
type Taken struct {
	Outcome string
	Case    paidup.SupportCase
}

// Threads takes the customers' answers into their cases' threads.
type Threads struct {
	Store *store.Store
	// Outbox opens the cases a person looks at (an answer to a resolved
	// case, mail from a stranger), alerting on-call.
	Outbox *notify.Outbox
	Logger *slog.Logger
}

// noText is what an answer by mail says when it has no words of its own:
// only the reply it quotes, or attachments.
const noText = "[The message had no text of its own: only what it quoted, or attachments, which paidup does not keep.]"

var errEmpty = paidup.Errorf(paidup.EINVALID, "Please write your answer first.")

// errTakenMeanwhile rolls back an answer that another took at the same
// time.
var errTakenMeanwhile = errors.New("the answer was taken meanwhile")

// Take takes an answer into the thread of the case its token leads to:
// once per message id. The case is open again for a person (no longer
// waiting on the customer, nor snoozed), and the answer is on the
// customer's timeline. An answer to a resolved case opens the case that
// follows it (paidup.CaseFollowUp), which the thread and later answers go
// on to; the resolved case stays as it was decided. Mail from anyone but
// the case's customer is left out of the thread (NotTheCustomer). A token
// paidup never made is ENOTFOUND.
func (t *Threads) Take(ctx context.Context, a Answer) (Taken, error) {
	a = a.tidy()
	if a.Text == "" {
		return Taken{}, errEmpty
	}
	var out Taken
	err := t.Store.InTx(ctx, func(tx *store.Tx) error {
		c, err := tx.ReplyTokenCase(ctx, a.Token)
		if err != nil {
			return err
		}
		out.Case = c
		if a.Automatic {
			out.Outcome = Automatic
			return nil
		}
		if taken, err := tx.CaseMessageTaken(ctx, a.MessageID); err != nil || taken {
			out.Outcome = AlreadyTaken
			return err
		}
		if a.Via == paidup.ViaEmail {
			ok, err := fromCustomer(ctx, tx, c, a.From)
			if err != nil {
				return err
			}
			if !ok {
				out.Outcome = NotTheCustomer
				out.Case, err = t.notTheCustomer(ctx, tx, c, a)
				return err
			}
		}
		if c, err = t.openFor(ctx, tx, c, a); err != nil {
			return err
		}
		out.Outcome, out.Case = Threaded, c
		return thread(ctx, tx, c, a)
	})
	if errors.Is(err, errTakenMeanwhile) {
		out.Outcome, err = AlreadyTaken, nil
	}
	if err == nil {
		t.Logger.Info("answer taken", "case", out.Case.ID, "via", a.Via, "outcome", out.Outcome)
	}
	return out, err
}

// thread adds the answer to case c's thread, opens c for a person again,
// and puts the answer on the customer's timeline.
func thread(ctx context.Context, tx *store.Tx, c paidup.SupportCase, a Answer) error {
	m, added, err := tx.AddCaseMessage(ctx, paidup.CaseMessage{CaseID: c.ID, Direction: paidup.MessageIn, Via: a.Via, From: a.From,
		Subject: a.Subject, Text: a.Text, MessageID: a.MessageID})
	if err != nil {
		return err
	}
	if !added {
		return errTakenMeanwhile
	}
	if !c.WaitingSince.IsZero() || !c.SnoozedUntil.IsZero() {
		if _, _, err := tx.TriageCase(ctx, c.ID, c.Assignee, time.Time{}, false); err != nil {
			return err
		}
	}
	how := "by email"
	if a.Via == paidup.ViaWeb {
		how = "on the reply page"
	}
	summary := fmt.Sprintf("The customer answered case %s %s", c.ID, how)
	if a.Subject != "" {
		summary += ": " + a.Subject
	}
	return tx.Append(ctx, paidup.TimelineEntry{CustomerID: c.CustomerID, Reference: c.Reference, Kind: paidup.EventSupportCase,
		Source: paidup.ByCustomer, Summary: summary, Data: map[string]string{"case": c.ID, "message": m.ID, "via": a.Via}})
}

// openFor is the open case of c's thread that an answer goes to: the
// last case of the thread, or, when that is resolved, the case opened to
// follow it.
func (t *Threads) openFor(ctx context.Context, tx *store.Tx, c paidup.SupportCase, a Answer) (paidup.SupportCase, error) {
	last, err := tx.LastInThread(ctx, c)
	if err != nil || last.Status == paidup.CaseOpen {
		return last, err
	}
	follow := paidup.SupportCase{DedupeKey: "follow_up:" + last.ID, CustomerID: last.CustomerID, Reference: last.Reference,
		Kind: paidup.CaseFollowUp, Follows: last.ID,
		Summary: fmt.Sprintf("The customer answered after case %s was resolved: %s", last.ID, excerpt(a.Text, 300))}
	if err := t.Outbox.OpenCase(ctx, tx, follow); err != nil {
		return follow, err
	}
	id, _, err := tx.CaseID(ctx, follow.DedupeKey)
	if err != nil {
		return follow, err
	}
	return tx.Case(ctx, id)
}

// notTheCustomer opens, once per message, the case that tells a person
// mail reached case c's reply address from someone else. Their words are
// in its summary, not in the thread.
func (t *Threads) notTheCustomer(ctx context.Context, tx *store.Tx, c paidup.SupportCase, a Answer) (paidup.SupportCase, error) {
	sc := paidup.SupportCase{DedupeKey: "unmatched_answer:" + a.MessageID, CustomerID: c.CustomerID, Reference: c.Reference,
		Kind: paidup.CaseUnmatchedAnswer,
		Summary: fmt.Sprintf("Mail to the reply address of case %s came from %s, not from the case's customer, so it was not added to the thread. "+
			"Check who wrote before answering them. Subject: %q. It says: %s", c.ID, cmp.Or(a.From, "no address"), a.Subject, excerpt(a.Text, 500))}
	if err := t.Outbox.OpenCase(ctx, tx, sc); err != nil {
		return sc, err
	}
	id, _, err := tx.CaseID(ctx, sc.DedupeKey)
	if err != nil {
		return sc, err
	}
	return tx.Case(ctx, id)
}

// fromCustomer reports whether from is an address case c's customer is
// known by in its thread.
func fromCustomer(ctx context.Context, tx *store.Tx, c paidup.SupportCase, from string) (bool, error) {
	addr, err := paidup.NormaliseEmail(from)
	if err != nil {
		return false, nil
	}
	known, err := tx.ThreadAddresses(ctx, c.ID)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(known, func(k string) bool {
		n, err := paidup.NormaliseEmail(k)
		return err == nil && n == addr
	}), nil
}

// tidy makes an answer fit to keep: its text and subject printable (a
// mail's empty text said to be so), the text at most MaxText characters,
// the subject one line, the sender a bare address, and a message id.
func (a Answer) tidy() Answer {
	a.Text = printable(a.Text, true)
	if a.Text == "" && a.Via == paidup.ViaEmail {
		a.Text = noText
	}
	if utf8.RuneCountInString(a.Text) > MaxText {
		a.Text = strings.TrimSpace(string([]rune(a.Text)[:MaxText])) + "\n[…the rest was cut]"
	}
	a.Subject = excerpt(printable(a.Subject, false), maxSubject)
	if addr, err := mail.ParseAddress(a.From); err == nil {
		a.From = addr.Address
	} else {
		a.From = excerpt(printable(a.From, false), 254)
	}
	a.MessageID = strings.Trim(strings.TrimSpace(a.MessageID), "<>")
	if a.MessageID == "" || len(a.MessageID) > 500 {
		sum := sha256.Sum256([]byte(a.Token + "\x00" + a.From + "\x00" + a.Subject + "\x00" + a.Text))
		a.MessageID = "sha256:" + hex.EncodeToString(sum[:16])
	}
	return a
}

// printable is s as valid UTF-8 without control or format characters
// (with multiline, line breaks and tabs stay, as \n), trimmed.
func printable(s string, multiline bool) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		switch {
		case multiline && (r == '\n' || r == '\t'):
			return r
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return -1
		}
		return r
	}, s))
}

// excerpt is s cut to at most n characters, on one line.
func excerpt(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// Conversation is a thread as its customer may read it: the replies sent
// to them and their own answers, oldest first, without who on the team
// wrote each.
type Conversation struct {
	// Case is the last case of the thread: the one a token leads to, or
	// the one that follows it. An answer to it, resolved, opens the next.
	Case     paidup.SupportCase
	Messages []paidup.CaseMessage
}

// Conversation is the thread a reply token leads to; ENOTFOUND for a
// token paidup never made.
func (t *Threads) Conversation(ctx context.Context, token string) (Conversation, error) {
	c, err := t.Store.ReplyTokenCase(ctx, token)
	if err != nil {
		return Conversation{}, err
	}
	if c, err = t.Store.LastInThread(ctx, c); err != nil {
		return Conversation{}, err
	}
	msgs, err := t.Store.Thread(ctx, c.ID)
	if err != nil {
		return Conversation{}, err
	}
	for i := range msgs {
		msgs[i].Actor, msgs[i].EmailID, msgs[i].Delivery = "", "", ""
	}
	return Conversation{Case: c, Messages: msgs}, nil
}
