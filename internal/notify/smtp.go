package notify

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"net/url"
	"sync"
	"time"

	"github.com/paidup/paidup"
)

// Mailer hands messages to a mail server.
type Mailer interface {
	Send(ctx context.Context, m *Message) error
}

// SMTP sends mail through an SMTP server: smtp://USER:PASS@HOST:PORT uses
// STARTTLS when the server offers it; smtps://… uses TLS from the start.
//
// Connections are kept open between messages and reused, so that a
// message costs one SMTP transaction rather than a connection, a greeting,
// TLS and a sign-in. A reused connection is checked with RSET (which also
// clears whatever an earlier message left) before each message. If a
// reused connection turns out to be dead before the message's data is
// handed over — RSET, MAIL, RCPT or DATA fail on the network, or the
// server says it is closing the connection (421) — the message is sent
// again on a fresh connection: the server cannot have taken it yet, so
// this sends nothing twice. A failure once the data is handed over is
// returned, as on a fresh connection: the server may have taken the
// message, and the caller's retry resends it with the same Message-ID, so
// the receiving side can recognise the copy.
//
// Whether the server offers SMTPUTF8 (RFC 6531), which a recipient with a
// non-ASCII local part needs, is learnt from its EHLO answer on every new
// connection, and asked with a connection of its own when nothing is known
// yet (see SMTPUTF8).
type SMTP struct {
	url  *url.URL
	Helo string // the name paidup gives in HELO; defaults to "localhost"
	// Timeout bounds one whole delivery; defaults to 30 s.
	Timeout time.Duration
	// MaxIdle is how many connections are kept open between messages;
	// defaults to 32. Negative: none, a connection per message.
	MaxIdle int
	// IdleTimeout is how long an unused connection is kept; defaults to
	// 30 s, well within the 5 minutes RFC 5321 asks servers to wait.
	IdleTimeout time.Duration
	// ReprobeAfter is how long a failed attempt to learn the server's
	// extensions stands before the server is asked again; defaults to
	// 30 s.
	ReprobeAfter time.Duration

	mu     sync.Mutex
	idle   []*smtpConn // most recently used last
	closed bool

	// probing is held while a connection is opened only to learn the
	// server's extensions, so that one probe runs at a time.
	probing sync.Mutex
	ext     extensions
}

// extensions is what paidup knows of the server's SMTPUTF8 extension.
type extensions struct {
	mu       sync.Mutex
	known    bool
	smtpUTF8 bool
	// probed is when a probe last failed, and err why.
	probed time.Time
	err    error
}

// probeTimeout bounds a probe: a page waits on it.
const probeTimeout = 5 * time.Second

// ErrNoSMTPUTF8 is the error sending to a non-ASCII local part through a
// server that does not offer SMTPUTF8.
var ErrNoSMTPUTF8 = errors.New("the mail server does not offer SMTPUTF8, which an address with non-ASCII characters before the @ needs")

// smtpConn is an open, signed-in connection to the mail server.
type smtpConn struct {
	conn      net.Conn
	c         *smtp.Client
	idleSince time.Time
}

// NewSMTP returns a mailer for the server at rawURL.
func NewSMTP(rawURL string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return nil, fmt.Errorf("SMTP URL: want smtp://HOST:PORT or smtps://HOST:PORT")
	}
	return &SMTP{url: u}, nil
}

// Send delivers m. An error means the server did not take the message, or
// may not have; it may be retried.
func (s *SMTP) Send(ctx context.Context, m *Message) error {
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	data := m.Bytes()
	for {
		sc := s.take()
		reused := sc != nil
		if !reused {
			var err error
			if sc, err = s.dial(ctx); err != nil {
				return err
			}
		}
		sc.conn.SetDeadline(deadline)
		handedOver, err := s.deliver(sc, m, data, reused)
		if err == nil || errors.Is(err, ErrNoSMTPUTF8) {
			s.put(sc) // refused before a command was sent: still good
			return err
		}
		sc.close()
		if reused && !handedOver && connectionLost(err) && ctx.Err() == nil {
			continue // a stale connection: the message is still unsent
		}
		return err
	}
}

// SMTPUTF8 reports whether the mail server offers the SMTPUTF8 extension.
// The answer is the EHLO of the latest connection; with none yet, it opens
// one (kept for the next message) to ask. While the server cannot be
// reached the error says so, and it is asked again at most every
// ReprobeAfter.
func (s *SMTP) SMTPUTF8(ctx context.Context) (bool, error) {
	reprobe := cmp.Or(s.ReprobeAfter, 30*time.Second)
	if ok, known, err := s.ext.get(time.Now(), reprobe); known || err != nil {
		return ok, err
	}
	s.probing.Lock()
	defer s.probing.Unlock()
	if ok, known, err := s.ext.get(time.Now(), reprobe); known || err != nil {
		return ok, err // another probe answered meanwhile
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	sc, err := s.dial(ctx)
	if err != nil {
		s.ext.failed(time.Now(), err)
		return false, err
	}
	s.put(sc)
	ok, _, err := s.ext.get(time.Now(), reprobe)
	return ok, err
}

// get returns what is known; err is that of a probe that failed less
// than reprobe ago.
func (e *extensions) get(now time.Time, reprobe time.Duration) (smtpUTF8, known bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.known {
		return e.smtpUTF8, true, nil
	}
	if e.err != nil && now.Sub(e.probed) < reprobe {
		return false, false, e.err
	}
	return false, false, nil
}

// learn records a server's EHLO answer.
func (e *extensions) learn(c *smtp.Client) {
	ok, _ := c.Extension("SMTPUTF8")
	e.mu.Lock()
	e.known, e.smtpUTF8, e.err = true, ok, nil
	e.mu.Unlock()
}

func (e *extensions) failed(now time.Time, err error) {
	e.mu.Lock()
	e.probed, e.err = now, err
	e.mu.Unlock()
}

// deliver sends one message on an open connection. handedOver reports
// whether the message's data was written, after which the server may
// have taken it whatever the error.
func (s *SMTP) deliver(sc *smtpConn, m *Message, data []byte, reused bool) (handedOver bool, err error) {
	addr := sc.conn.RemoteAddr().String()
	if paidup.NeedsSMTPUTF8(m.ToAddress) || paidup.NeedsSMTPUTF8(m.FromAddress) {
		// net/smtp adds SMTPUTF8 to MAIL FROM whenever the server offers
		// it; without it, such an address cannot be sent.
		if ok, _ := sc.c.Extension("SMTPUTF8"); !ok {
			return false, fmt.Errorf("mail server %s: %w", addr, ErrNoSMTPUTF8)
		}
	}
	if reused {
		if err := sc.c.Reset(); err != nil {
			return false, fmt.Errorf("mail server %s: RSET: %w", addr, err)
		}
	}
	if err := sc.c.Mail(m.FromAddress); err != nil {
		return false, fmt.Errorf("mail server %s: MAIL FROM: %w", addr, err)
	}
	if err := sc.c.Rcpt(m.ToAddress); err != nil {
		return false, fmt.Errorf("mail server %s: RCPT TO: %w", addr, err)
	}
	w, err := sc.c.Data()
	if err != nil {
		return false, fmt.Errorf("mail server %s: DATA: %w", addr, err)
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return true, fmt.Errorf("mail server %s: writing message: %w", addr, err)
	}
	if err := w.Close(); err != nil {
		return true, fmt.Errorf("mail server %s: the message was not accepted: %w", addr, err)
	}
	return true, nil
}

// connectionLost reports whether err means the connection is gone, as
// opposed to the server refusing something.
func connectionLost(err error) bool {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code == 421 // the server is closing the connection
	}
	return true // a network error: the reply never came
}

// dial opens a connection and signs in.
func (s *SMTP) dial(ctx context.Context) (*smtpConn, error) {
	host := s.url.Hostname()
	port := s.url.Port()
	if port == "" {
		port = map[string]string{"smtp": "587", "smtps": "465"}[s.url.Scheme]
	}
	addr := net.JoinHostPort(host, port)
	d := net.Dialer{Timeout: 10 * time.Second}
	var conn net.Conn
	var err error
	if s.url.Scheme == "smtps" {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: &tls.Config{ServerName: host}}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("connecting to mail server %s: %w", addr, err)
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("mail server %s: %w", addr, err)
	}
	sc := &smtpConn{conn: conn, c: c}
	helo := s.Helo
	if helo == "" {
		helo = "localhost"
	}
	if err := c.Hello(helo); err != nil {
		sc.close()
		return nil, fmt.Errorf("mail server %s: %w", addr, err)
	}
	if s.url.Scheme == "smtp" {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(&tls.Config{ServerName: host}); err != nil {
				sc.close()
				return nil, fmt.Errorf("mail server %s: STARTTLS: %w", addr, err)
			}
		}
	}
	if user := s.url.User; user != nil {
		pass, _ := user.Password()
		if err := c.Auth(smtp.PlainAuth("", user.Username(), pass, host)); err != nil {
			sc.close()
			return nil, fmt.Errorf("mail server %s: signing in: %w", addr, err)
		}
	}
	// The extensions as offered after STARTTLS, which net/smtp asks for
	// again.
	s.ext.learn(c)
	return sc, nil
}

func (s *SMTP) maxIdle() int {
	if s.MaxIdle == 0 {
		return 32
	}
	return max(s.MaxIdle, 0)
}

func (s *SMTP) idleTimeout() time.Duration {
	if s.IdleTimeout == 0 {
		return 30 * time.Second
	}
	return s.IdleTimeout
}

// take returns the most recently used idle connection, or nil. Connections
// idle too long are closed on the way.
func (s *SMTP) take() *smtpConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(time.Now())
	n := len(s.idle)
	if n == 0 {
		return nil
	}
	sc := s.idle[n-1]
	s.idle[n-1] = nil
	s.idle = s.idle[:n-1]
	return sc
}

// put keeps a connection for the next message, or ends it.
func (s *SMTP) put(sc *smtpConn) {
	now := time.Now()
	sc.conn.SetDeadline(time.Time{})
	sc.idleSince = now
	s.mu.Lock()
	s.expireLocked(now)
	if s.closed || len(s.idle) >= s.maxIdle() {
		s.mu.Unlock()
		sc.quit()
		return
	}
	s.idle = append(s.idle, sc)
	s.mu.Unlock()
}

// expireLocked closes the connections idle longer than the idle timeout;
// they are the oldest, first in the list.
func (s *SMTP) expireLocked(now time.Time) {
	n := 0
	for n < len(s.idle) && now.Sub(s.idle[n].idleSince) > s.idleTimeout() {
		s.idle[n].close()
		n++
	}
	if n > 0 {
		s.idle = append(s.idle[:0], s.idle[n:]...)
	}
}

// Close ends the idle connections (with QUIT); messages sent afterwards
// use a connection each.
func (s *SMTP) Close() error {
	s.mu.Lock()
	idle := s.idle
	s.idle, s.closed = nil, true
	s.mu.Unlock()
	for _, sc := range idle {
		sc.quit()
	}
	return nil
}

// quit ends a connection politely, not waiting long for the answer.
func (sc *smtpConn) quit() {
	sc.conn.SetDeadline(time.Now().Add(time.Second))
	if err := sc.c.Quit(); err != nil {
		sc.close()
	}
}

func (sc *smtpConn) close() { sc.c.Close() }

// Redacted describes the server without its password, for logs.
func (s *SMTP) String() string {
	u := *s.url
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	return u.String()
}
