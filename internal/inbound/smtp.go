package inbound

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/paidup/paidup"
)

// MaxMessage is the largest message the listener takes: an answer with a
// photo or two attached. Only its text is kept.
const MaxMessage = 10 << 20

// Listener is paidup's own SMTP listener for the reply addresses. It
// takes mail only for reply+TOKEN@Domain with a token paidup made,
// refusing any other recipient at RCPT TO, and takes each message into
// its case's thread (see Threads.Take).
type Listener struct {
	threads *Threads
	domain  string
	log     *slog.Logger
	srv     *smtp.Server
}

// NewListener is the listener for the reply addresses at domain.
func NewListener(threads *Threads, domain string, log *slog.Logger) *Listener {
	l := &Listener{threads: threads, domain: strings.ToLower(domain), log: log}
	l.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{l: l}, nil }))
	l.srv.Domain = l.domain
	l.srv.MaxMessageBytes = MaxMessage
	l.srv.MaxRecipients = 10
	l.srv.ReadTimeout = time.Minute
	l.srv.WriteTimeout = time.Minute
	// Customers' addresses may have non-ASCII local parts (RFC 6531).
	l.srv.EnableSMTPUTF8 = true
	l.srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	return l
}

// Serve takes connections on ln until Shutdown.
func (l *Listener) Serve(ln net.Listener) error {
	err := l.srv.Serve(ln)
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops taking connections and waits, until ctx ends, for those
// open to finish their messages.
func (l *Listener) Shutdown(ctx context.Context) error {
	err := l.srv.Shutdown(ctx)
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Token is the reply token of a reply address at domain,
// reply+TOKEN@domain, in any case; false for any other address.
func Token(address, domain string) (string, bool) {
	at := strings.LastIndexByte(address, '@')
	if at < 0 || !strings.EqualFold(address[at+1:], domain) {
		return "", false
	}
	local := strings.ToLower(address[:at])
	token, ok := strings.CutPrefix(local, "reply+")
	return token, ok && token != ""
}

var (
	errNoSuchAddress = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
		Message: "No such reply address: answer from the link in our email"}
	errTryLater = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Could not take the message now; try again later"}
	errNotMail  = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Not a message paidup can read"}
)

type session struct {
	l      *Listener
	tokens []string
}

func (s *session) Reset()                               { s.tokens = nil }
func (s *session) Logout() error                        { return nil }
func (s *session) Mail(string, *smtp.MailOptions) error { return nil }

// Rcpt takes only the reply addresses of tokens paidup made.
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	token, ok := Token(to, s.l.domain)
	if !ok {
		s.l.log.Info("inbound mail: refused a recipient that is not a reply address", "to", to)
		return errNoSuchAddress
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := s.l.threads.Store.ReplyTokenCase(ctx, token)
	switch {
	case paidup.ErrorCode(err) == paidup.ENOTFOUND:
		s.l.log.Info("inbound mail: refused a reply address paidup never made", "to", to)
		return errNoSuchAddress
	case err != nil:
		s.l.log.Error("inbound mail: looking a reply address up failed", "err", err)
		return errTryLater
	}
	s.tokens = append(s.tokens, token)
	return nil
}

// Data takes the message into the thread of each recipient's case. A
// message that cannot be read is refused for good; one that cannot be
// stored now, for a while, so that the sender's server tries again.
func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err // too big: go-smtp's own 552
	}
	m, err := ReadMail(bytes.NewReader(raw))
	if err != nil {
		s.l.log.Info("inbound mail: refused a message paidup cannot read", "err", err)
		return errNotMail
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, token := range s.tokens {
		_, err := s.l.threads.Take(ctx, Answer{Token: token, Via: paidup.ViaEmail, From: m.From, Subject: m.Subject,
			Text: m.Text, MessageID: m.MessageID, Automatic: m.Automatic})
		if err != nil {
			s.l.log.Error("inbound mail: taking a message failed", "err", err)
			return errTryLater
		}
	}
	return nil
}
