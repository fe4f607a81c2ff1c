package inbound

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // the charsets mail clients write in (ISO-8859-1, Windows-1252, …)
	gomail "github.com/emersion/go-message/mail"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// maxPart is the most read of a message's text or HTML part.
const maxPart = 1 << 20

// Mail is what paidup reads of a message: who it is from, its subject,
// its Message-ID, and what its sender wrote (the plain-text part, else the
// text of the HTML part), without the reply it quotes.
type Mail struct {
	From, Subject, MessageID string
	Text                     string
	// Automatic: a machine sent it (an out-of-office, a vacation
	// responder), as its headers say.
	Automatic bool
}

// automatic reports whether a message's headers say a machine sent it:
// RFC 3834's Auto-Submitted (but for "no"), or the headers common
// responders set instead.
func automatic(get func(string) string) bool {
	if v := strings.ToLower(strings.TrimSpace(get("Auto-Submitted"))); v != "" && v != "no" {
		return true
	}
	if get("X-Autoreply") != "" || get("X-Autorespond") != "" {
		return true
	}
	switch strings.ToLower(strings.TrimSpace(get("Precedence"))) {
	case "auto_reply", "bulk", "junk":
		return true
	}
	return false
}

// ReadMail reads a MIME message. A part in a charset paidup does not know
// is read as it is.
func ReadMail(r io.Reader) (Mail, error) {
	mr, err := gomail.CreateReader(r)
	if err != nil && !message.IsUnknownCharset(err) {
		return Mail{}, fmt.Errorf("reading the message: %w", err)
	}
	defer mr.Close()
	var m Mail
	from, err := mr.Header.AddressList("From")
	if err != nil || len(from) == 0 {
		return Mail{}, errors.New("reading the message: it has no From: address")
	}
	m.From = from[0].Address
	if m.Subject, err = mr.Header.Subject(); err != nil {
		m.Subject = mr.Header.Get("Subject")
	}
	if m.MessageID, err = mr.Header.MessageID(); err != nil {
		m.MessageID = mr.Header.Get("Message-Id")
	}
	m.Automatic = automatic(mr.Header.Get)
	var plain, htm string
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !message.IsUnknownCharset(err) {
			return Mail{}, fmt.Errorf("reading the message: %w", err)
		}
		h, ok := p.Header.(*gomail.InlineHeader)
		if !ok {
			continue // an attachment: not read
		}
		ct, _, _ := h.ContentType()
		if (ct == "text/plain" && plain != "") || (ct == "text/html" && htm != "") || (ct != "text/plain" && ct != "text/html") {
			continue
		}
		body, err := io.ReadAll(io.LimitReader(p.Body, maxPart))
		if err != nil {
			return Mail{}, fmt.Errorf("reading the message's text: %w", err)
		}
		if ct == "text/plain" {
			plain = string(body)
		} else {
			htm = string(body)
		}
	}
	m.Text = plain
	if strings.TrimSpace(m.Text) == "" && htm != "" {
		m.Text = HTMLText(htm)
	}
	m.Text = StripQuoted(m.Text)
	return m, nil
}

// HTMLText is the text of an HTML message, as its reader sees it: one
// line per block, without what it quotes (blockquote, Gmail's and
// Outlook's quoted replies), scripts or styles.
func HTMLText(src string) string {
	doc, err := html.Parse(strings.NewReader(src))
	if err != nil {
		return ""
	}
	w := &textWriter{fresh: true}
	var walk func(n *html.Node) bool
	// walk writes n's text and reports whether to go on: Outlook's
	// quoted reply ends what its sender wrote.
	walk = func(n *html.Node) bool {
		switch {
		case n.Type == html.TextNode:
			w.words(n.Data)
			return true
		case n.Type != html.ElementNode && n.Type != html.DocumentNode:
			return true
		case outlookReply(n):
			return false
		case quoted(n):
			return true
		}
		block := blockAtoms[n.DataAtom]
		if block || n.DataAtom == atom.Br {
			w.newline()
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if !walk(c) {
				return false
			}
		}
		if block {
			w.newline()
		}
		return true
	}
	walk(doc)
	return strings.TrimSpace(w.b.String())
}

// textWriter writes words and line breaks as text, one space between
// words.
type textWriter struct {
	b     strings.Builder
	space bool // the text written ended with white space
	fresh bool // at the start of a line
}

func (w *textWriter) words(s string) {
	f := strings.Fields(s)
	if len(f) == 0 {
		w.space = w.space || s != ""
		return
	}
	if !w.fresh && (w.space || strings.IndexFunc(s, unicode.IsSpace) == 0) {
		w.b.WriteByte(' ')
	}
	w.b.WriteString(strings.Join(f, " "))
	last, _ := utf8.DecodeLastRuneInString(s)
	w.fresh, w.space = false, unicode.IsSpace(last)
}

func (w *textWriter) newline() {
	if !w.fresh {
		w.b.WriteByte('\n')
	}
	w.fresh, w.space = true, false
}

var blockAtoms = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Li: true, atom.Tr: true, atom.H1: true, atom.H2: true, atom.H3: true,
	atom.H4: true, atom.H5: true, atom.H6: true, atom.Pre: true, atom.Table: true, atom.Ul: true, atom.Ol: true,
}

// quoted reports whether an element holds no words of the sender's: a
// quotation of the reply (Gmail's, Thunderbird's), or a script or style.
func quoted(n *html.Node) bool {
	switch n.DataAtom {
	case atom.Blockquote, atom.Script, atom.Style, atom.Head, atom.Title:
		return true
	}
	for _, a := range n.Attr {
		if a.Key == "class" && (strings.Contains(a.Val, "gmail_quote") || strings.Contains(a.Val, "moz-cite-prefix")) {
			return true
		}
	}
	return false
}

// outlookReply reports whether an element begins Outlook's quoted reply,
// which runs to the end of the message.
func outlookReply(n *html.Node) bool {
	for _, a := range n.Attr {
		if a.Key == "id" && (a.Val == "appendonsend" || strings.HasPrefix(a.Val, "divRplyFwdMsg")) {
			return true
		}
	}
	return false
}
