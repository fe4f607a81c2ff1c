package notify

import (
	"bytes"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
)

// Message is an email with a plain-text and an HTML part.
type Message struct {
	From, To    string // full addresses, "Name <addr>" or "addr"
	FromAddress string // bare address for the envelope
	ToAddress   string
	// ReplyTo is where replies go: support, not the From address.
	ReplyTo   string
	Subject   string
	MessageID string // without angle brackets
	Date      time.Time
	Text      string
	HTML      string
	// Headers are extra headers, e.g. Auto-Submitted.
	Headers map[string]string
}

// NewMessage addresses a message, checking the addresses.
func NewMessage(from, to string) (*Message, error) {
	f, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("from address %q: %w", from, err)
	}
	t, err := mail.ParseAddress(to)
	if err != nil {
		return nil, fmt.Errorf("to address %q: %w", to, err)
	}
	return &Message{From: f.String(), To: t.String(), FromAddress: f.Address, ToAddress: t.Address}, nil
}

// Bytes renders the message in MIME: multipart/alternative, each part
// quoted-printable, lines ending in CRLF.
func (m *Message) Bytes() []byte {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, part := range []struct{ ctype, content string }{
		{"text/plain; charset=utf-8", m.Text},
		{"text/html; charset=utf-8", m.HTML},
	} {
		pw, _ := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		qw := quotedprintable.NewWriter(pw)
		qw.Write([]byte(crlf(part.content)))
		qw.Close()
	}
	mw.Close()

	var out bytes.Buffer
	// A header value never carries a line break: no header injection.
	h := func(k, v string) { fmt.Fprintf(&out, "%s: %s\r\n", k, oneLine.Replace(v)) }
	h("From", m.From)
	h("To", m.To)
	if m.ReplyTo != "" {
		h("Reply-To", m.ReplyTo)
	}
	h("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	h("Date", m.Date.Format(time.RFC1123Z))
	h("Message-ID", "<"+m.MessageID+">")
	h("MIME-Version", "1.0")
	for k, v := range m.Headers {
		h(k, mime.QEncoding.Encode("utf-8", v))
	}
	h("Content-Type", "multipart/alternative; boundary="+mw.Boundary())
	out.WriteString("\r\n")
	out.Write(body.Bytes())
	return out.Bytes()
}

var oneLine = strings.NewReplacer("\r", " ", "\n", " ")

func crlf(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}
