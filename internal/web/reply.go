package web

import (
	"crypto/rand"
	"net/http"
	"net/url"
	"regexp"
	"unicode/utf8"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/inbound"
	"github.com/paidup/paidup/internal/store"
)

// replyPage is the reply page: a case's thread as its customer reads it,
// and the form to answer.
type replyPage struct {
	Token    string
	CaseID   string
	Messages []threadMessage
	// Closed: the case was resolved; an answer opens the one that
	// follows it.
	Closed bool
	// Sent: an answer was just taken.
	Sent  bool
	Error string
	// Text is what was typed, to fill the form again after an error.
	Text string
	// FormID takes the answer once, however often the form is sent.
	FormID  string
	MaxText int
}

// threadMessage is one message as the customer reads it.
type threadMessage struct {
	Yours             bool
	At, Subject, Text string
}

var errNoConversation = paidup.Errorf(paidup.ENOTFOUND, "This link does not lead to a conversation we know of. "+
	"If you copied it from our email, check that it was copied whole, or answer by replying to the email.")

var errCrossSite = paidup.Errorf(paidup.EUNAUTHORIZED, "This answer was sent from another site, so we did not take it. "+
	"Open the link in our email and write your answer there.")

// formID is what a form id looks like: rand.Text's.
var formID = regexp.MustCompile(`^[A-Z2-7]{26}$`)

// handleReplyPage shows the thread a reply's link leads to, however old
// the link, with the form to answer.
func (s *Server) handleReplyPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.replyPage(r, r.PathValue("token"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		p.Sent = r.URL.Query().Get("sent") == "1"
		s.render(w, r, http.StatusOK, "reply.html", "Your conversation with us", p)
	})
}

// handleReply takes the customer's answer into the thread, once however
// often the form is sent, and shows the thread with it.
func (s *Server) handleReply() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := store.ReplyToken(r.PathValue("token"))
		if !ok || s.Threads == nil {
			s.fail(w, r, errNoConversation)
			return
		}
		if l := s.limits.replyLink; l != nil {
			if ok, _ := l.clients.AllowName(token); !ok {
				s.countLimited(r, l.name, s.clientAddr(r))
				s.renderLimited(w, r, l.page)
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil || !formID.MatchString(r.PostForm.Get("message")) {
			s.fail(w, r, paidup.Errorf(paidup.EINVALID, "The form could not be read. Please go back and try again."))
			return
		}
		text := r.PostForm.Get("text")
		var err error
		if utf8.RuneCountInString(text) > inbound.MaxText {
			err = paidup.Errorf(paidup.EINVALID, "Your answer is longer than we can take (%d characters). Please shorten it, or send it in two.", inbound.MaxText)
		} else {
			_, err = s.Threads.Take(r.Context(), inbound.Answer{Token: token, Via: paidup.ViaWeb, Text: text, MessageID: "web:" + r.PostForm.Get("message")})
		}
		switch {
		case err == nil:
			http.Redirect(w, r, "/reply/"+url.PathEscape(token)+"?sent=1", http.StatusSeeOther)
		case paidup.ErrorCode(err) == paidup.EINVALID:
			p, perr := s.replyPage(r, token)
			if perr != nil {
				s.fail(w, r, perr)
				return
			}
			p.Error, p.Text = paidup.ErrorMessage(err), text
			s.render(w, r, http.StatusUnprocessableEntity, "reply.html", "Your conversation with us", p)
		default:
			s.fail(w, r, notFound(err))
		}
	})
}

// replyPage reads the thread a token leads to.
func (s *Server) replyPage(r *http.Request, token string) (replyPage, error) {
	if s.Threads == nil {
		return replyPage{}, errNoConversation
	}
	conv, err := s.Threads.Conversation(r.Context(), token)
	if err != nil {
		return replyPage{}, notFound(err)
	}
	p := replyPage{Token: token, CaseID: conv.Case.ID, Closed: conv.Case.Status != paidup.CaseOpen, FormID: rand.Text(), MaxText: inbound.MaxText}
	for _, m := range conv.Messages {
		p.Messages = append(p.Messages, threadMessage{Yours: m.Direction == paidup.MessageIn,
			At: m.At.UTC().Format("2 January 2006, 15:04 UTC"), Subject: m.Subject, Text: m.Text})
	}
	return p, nil
}

// notFound is the calm page's error for a token that leads nowhere.
func notFound(err error) error {
	if paidup.ErrorCode(err) == paidup.ENOTFOUND {
		return errNoConversation
	}
	return err
}

// crossOriginProtected refuses a form sent from another site, as the
// browser says where a request comes from (Sec-Fetch-Site, Origin): a
// page elsewhere cannot write into a customer's thread.
func (s *Server) crossOriginProtected(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	if u, err := url.Parse(s.PublicURL); err == nil && u.Host != "" {
		cop.AddTrustedOrigin(u.Scheme + "://" + u.Host)
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.fail(w, r, errCrossSite) }))
	return cop.Handler(next)
}
