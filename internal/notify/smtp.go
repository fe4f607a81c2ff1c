package notify

import (
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

	mu     sync.Mutex
	idle   []*smtpConn // most recently used last
	closed bool
}

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
		if err == nil {
			s.put(sc)
			return nil
		}
		sc.close()
		if reused && !handedOver && connectionLost(err) && ctx.Err() == nil {
			continue // a stale connection: the message is still unsent
		}
		return err
	}
}

// deliver sends one message on an open connection. handedOver reports
// whether the message's data was written, after which the server may
// have taken it whatever the error.
func (s *SMTP) deliver(sc *smtpConn, m *Message, data []byte, reused bool) (handedOver bool, err error) {
	addr := sc.conn.RemoteAddr().String()
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
