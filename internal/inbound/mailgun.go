package inbound

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/paidup/paidup"
)

// MailgunMaxAge is how far a webhook's timestamp may be from now: an
// older request is a replay.
const MailgunMaxAge = 5 * time.Minute

// maxField is the most read of one of the webhook's fields; maxBody of
// its whole request, attachments and all (Mailgun takes messages up to
// 25 MB), whose attachments are read past and not kept.
const (
	maxField = 1 << 20
	maxBody  = 40 << 20
)

// Mailgun reads the inbound-mail webhook of Mailgun's routes
// (forward("https://…/inbound/mailgun")): a form, urlencoded or
// multipart, with the message parsed into fields (recipient, from,
// subject, body-plain, stripped-text, Message-Id), signed with the
// HMAC-SHA256 of its timestamp and token under the webhook signing key.
type Mailgun struct {
	// Key is Mailgun's HTTP webhook signing key.
	Key string
	// Domain is the domain of the reply addresses.
	Domain string
	// Now is the wall clock, which Mailgun's timestamps are on; nil
	// means time.Now.
	Now func() time.Time
}

var (
	errBadSignature = paidup.Errorf(paidup.EUNAUTHORIZED, "The request's signature does not match, or it is too old.")
	errNotReply     = paidup.Errorf(paidup.ENOTFOUND, "The recipient is not a reply address.")
	errBadForm      = paidup.Errorf(paidup.EINVALID, "The request is not a form paidup can read.")
)

// Read reads and verifies a webhook request: the answer it carries, to
// the reply address it was sent to. A request whose signature does not
// match, or whose timestamp is more than MailgunMaxAge from now, is
// EUNAUTHORIZED; one to another address, ENOTFOUND.
func (g Mailgun) Read(w http.ResponseWriter, r *http.Request) (Answer, error) {
	f, err := readForm(http.MaxBytesReader(w, r.Body, maxBody), r.Header.Get("Content-Type"))
	if err != nil {
		return Answer{}, err
	}
	if !g.signed(f.Get("timestamp"), f.Get("token"), f.Get("signature")) {
		return Answer{}, errBadSignature
	}
	token, ok := Token(f.Get("recipient"), g.Domain)
	if !ok {
		return Answer{}, errNotReply
	}
	text := f.Get("stripped-text")
	if strings.TrimSpace(text) == "" {
		text = StripQuoted(f.Get("body-plain"))
	}
	if strings.TrimSpace(text) == "" && f.Get("body-html") != "" {
		text = StripQuoted(HTMLText(f.Get("body-html")))
	}
	return Answer{Token: token, Via: paidup.ViaEmail, From: f.Get("from"), Subject: f.Get("subject"), Text: text,
		MessageID: messageID(f), Automatic: automatic(func(name string) string { return header(f, name) })}, nil
}

// signed reports whether signature is the HMAC-SHA256 of timestamp and
// token, in hex, and timestamp is within MailgunMaxAge of now.
func (g Mailgun) signed(timestamp, token, signature string) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || token == "" || g.Key == "" {
		return false
	}
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	if age := now().Sub(time.Unix(ts, 0)); age > MailgunMaxAge || age < -MailgunMaxAge {
		return false
	}
	sig, err := hex.DecodeString(signature)
	if err != nil {
		return false
	}
	return hmac.Equal(sig, MailgunSignature(g.Key, timestamp, token))
}

// MailgunSignature is what Mailgun signs a webhook with: the HMAC-SHA256
// of the timestamp and the token, under key.
func MailgunSignature(key, timestamp, token string) []byte {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(timestamp + token))
	return m.Sum(nil)
}

// messageID is the message's Message-ID: its field, else the one in
// message-headers (a JSON list of [name, value] pairs).
func messageID(f url.Values) string { return header(f, "Message-Id") }

// header is a header of the message Mailgun posted: a field of its own,
// or one of message-headers.
func header(f url.Values, name string) string {
	for k, v := range f {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	var headers [][2]string
	if json.Unmarshal([]byte(f.Get("message-headers")), &headers) == nil {
		for _, h := range headers {
			if strings.EqualFold(h[0], name) {
				return h[1]
			}
		}
	}
	return ""
}

// readForm reads a form's fields, each up to maxField, reading past its
// files (attachments) without keeping them.
func readForm(body io.Reader, contentType string) (url.Values, error) {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, errBadForm
	}
	switch mediaType {
	case "application/x-www-form-urlencoded":
		raw, err := io.ReadAll(io.LimitReader(body, 8*maxField))
		if err != nil {
			return nil, errBadForm
		}
		f, err := url.ParseQuery(string(raw))
		if err != nil {
			return nil, errBadForm
		}
		return f, nil
	case "multipart/form-data":
		return readMultipart(body, params["boundary"])
	}
	return nil, errBadForm
}

func readMultipart(body io.Reader, boundary string) (url.Values, error) {
	if boundary == "" {
		return nil, errBadForm
	}
	mr := multipart.NewReader(body, boundary)
	f := url.Values{}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return f, nil
		}
		if err != nil {
			return nil, errBadForm
		}
		if p.FileName() != "" || p.FormName() == "" {
			if _, err := io.Copy(io.Discard, p); err != nil {
				return nil, errBadForm
			}
			continue
		}
		v, err := io.ReadAll(io.LimitReader(p, maxField))
		if err != nil {
			return nil, errBadForm
		}
		f.Add(p.FormName(), string(v))
	}
}
