package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/url"
	"time"
)

// Mailer hands messages to a mail server.
type Mailer interface {
	Send(ctx context.Context, m *Message) error
}

// SMTP sends mail through an SMTP server: smtp://USER:PASS@HOST:PORT uses
// STARTTLS when the server offers it; smtps://… uses TLS from the start.
type SMTP struct {
	url  *url.URL
	Helo string // the name paidup gives in HELO; defaults to "localhost"
	// Timeout bounds one whole delivery; defaults to 30 s.
	Timeout time.Duration
}

// NewSMTP returns a mailer for the server at rawURL.
func NewSMTP(rawURL string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return nil, fmt.Errorf("SMTP URL: want smtp://HOST:PORT or smtps://HOST:PORT")
	}
	return &SMTP{url: u}, nil
}

// Send delivers m. An error means the server did not take the message; it
// may be retried.
func (s *SMTP) Send(ctx context.Context, m *Message) error {
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	host := s.url.Hostname()
	port := s.url.Port()
	if port == "" {
		port = map[string]string{"smtp": "587", "smtps": "465"}[s.url.Scheme]
	}
	addr := net.JoinHostPort(host, port)
	d := net.Dialer{Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var conn net.Conn
	var err error
	if s.url.Scheme == "smtps" {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: &tls.Config{ServerName: host}}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("connecting to mail server %s: %w", addr, err)
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("mail server %s: %w", addr, err)
	}
	defer c.Close()
	helo := s.Helo
	if helo == "" {
		helo = "localhost"
	}
	if err := c.Hello(helo); err != nil {
		return fmt.Errorf("mail server %s: %w", addr, err)
	}
	if s.url.Scheme == "smtp" {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(&tls.Config{ServerName: host}); err != nil {
				return fmt.Errorf("mail server %s: STARTTLS: %w", addr, err)
			}
		}
	}
	if user := s.url.User; user != nil {
		pass, _ := user.Password()
		if err := c.Auth(smtp.PlainAuth("", user.Username(), pass, host)); err != nil {
			return fmt.Errorf("mail server %s: signing in: %w", addr, err)
		}
	}
	if err := c.Mail(m.FromAddress); err != nil {
		return fmt.Errorf("mail server %s: MAIL FROM: %w", addr, err)
	}
	if err := c.Rcpt(m.ToAddress); err != nil {
		return fmt.Errorf("mail server %s: RCPT TO: %w", addr, err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("mail server %s: DATA: %w", addr, err)
	}
	if _, err := w.Write(m.Bytes()); err != nil {
		w.Close()
		return fmt.Errorf("mail server %s: writing message: %w", addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("mail server %s: the message was not accepted: %w", addr, err)
	}
	if err := c.Quit(); err != nil && !errors.Is(err, net.ErrClosed) {
		// The message was accepted (DATA succeeded); a failed QUIT does not
		// undo that.
		return nil
	}
	return nil
}

// Redacted describes the server without its password, for logs.
func (s *SMTP) String() string {
	u := *s.url
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	return u.String()
}
