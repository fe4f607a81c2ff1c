package inbound_test

import (
	"bytes"
	"encoding/hex"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/inbound"
)

const mailgunKey = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"

// mailgunForm is the form Mailgun's route posts for an answer, signed
// with key at ts.
func mailgunForm(key string, ts time.Time, fields url.Values) url.Values {
	f := url.Values{"timestamp": {strconv.FormatInt(ts.Unix(), 10)}, "token": {"c4ba8dd4f1a0d0d36b0d2b2b3a1c5e9f0a9b8c7d6e5f4a3b2c"}}
	f.Set("signature", hex.EncodeToString(inbound.MailgunSignature(key, f.Get("timestamp"), f.Get("token"))))
	for k, v := range fields {
		f[k] = v
	}
	return f
}

func readMailgun(t *testing.T, g inbound.Mailgun, contentType string, body []byte) (inbound.Answer, error) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/inbound/mailgun", bytes.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	return g.Read(httptest.NewRecorder(), r)
}

// Mailgun's routes post the message parsed: paidup reads the answer to
// the reply address it went to, preferring Mailgun's own stripped text,
// from the form urlencoded or multipart (its attachments read past), and
// only when its signature is Mailgun's and recent.
func TestMailgunWebhook(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	g := inbound.Mailgun{Key: mailgunKey, Domain: "reply.example.com", Now: func() time.Time { return now }}
	token := strings.Repeat("k", 26)
	fields := url.Values{"recipient": {"reply+" + strings.ToUpper(token) + "@Reply.Example.com"}, "sender": {"bounces@mail.example.com"},
		"from": {"Ada <ada@example.com>"}, "subject": {"Re: Your access is ready"},
		"body-plain": {"Thanks!\n\nOn Tue wrote:\n> Hello"}, "stripped-text": {"Thanks!"}, "Message-Id": {"<m1@mail.example.com>"}}

	a, err := readMailgun(t, g, "application/x-www-form-urlencoded", []byte(mailgunForm(mailgunKey, now, fields).Encode()))
	require.NoError(t, err)
	require.Equal(t, inbound.Answer{Token: token, Via: paidup.ViaEmail, From: "Ada <ada@example.com>", Subject: "Re: Your access is ready",
		Text: "Thanks!", MessageID: "<m1@mail.example.com>"}, a)

	// Multipart, with an attachment; no stripped text, and the
	// Message-ID only among the headers.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	f := mailgunForm(mailgunKey, now.Add(-4*time.Minute), fields)
	f.Del("stripped-text")
	f.Del("Message-Id")
	f.Set("message-headers", `[["Received", "by mx"], ["Message-Id", "<m2@mail.example.com>"], ["Auto-Submitted", "auto-replied"]]`)
	for k, vs := range f {
		for _, v := range vs {
			require.NoError(t, mw.WriteField(k, v))
		}
	}
	fw, err := mw.CreateFormFile("attachment-1", "screen.png")
	require.NoError(t, err)
	fw.Write(bytes.Repeat([]byte{0x89}, 2<<20))
	require.NoError(t, mw.Close())
	a, err = readMailgun(t, g, mw.FormDataContentType(), body.Bytes())
	require.NoError(t, err)
	require.Equal(t, "Thanks!", a.Text, "body-plain without its quotation")
	require.Equal(t, "<m2@mail.example.com>", a.MessageID)
	require.True(t, a.Automatic, "an out-of-office, as its headers say")

	for _, tt := range []struct {
		name string
		form url.Values
		code string
	}{
		{"another key", mailgunForm("key-not-the-one-configured-here", now, fields), paidup.EUNAUTHORIZED},
		{"stale", mailgunForm(mailgunKey, now.Add(-6*time.Minute), fields), paidup.EUNAUTHORIZED},
		{"from the future", mailgunForm(mailgunKey, now.Add(6*time.Minute), fields), paidup.EUNAUTHORIZED},
		{"tampered timestamp", func() url.Values {
			f := mailgunForm(mailgunKey, now, fields)
			f.Set("timestamp", strconv.FormatInt(now.Unix()+1, 10))
			return f
		}(), paidup.EUNAUTHORIZED},
		{"not hex", func() url.Values { f := mailgunForm(mailgunKey, now, fields); f.Set("signature", "zz"); return f }(), paidup.EUNAUTHORIZED},
		{"unsigned", fields, paidup.EUNAUTHORIZED},
		{"another domain", mailgunForm(mailgunKey, now, url.Values{"recipient": {"reply+" + token + "@elsewhere.example"}}), paidup.ENOTFOUND},
		{"not a reply address", mailgunForm(mailgunKey, now, url.Values{"recipient": {"support@reply.example.com"}}), paidup.ENOTFOUND},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readMailgun(t, g, "application/x-www-form-urlencoded", []byte(tt.form.Encode()))
			require.Equal(t, tt.code, paidup.ErrorCode(err), "%v", err)
		})
	}
	_, err = readMailgun(t, g, "application/json", []byte(`{}`))
	require.Equal(t, paidup.EINVALID, paidup.ErrorCode(err))
	_, err = readMailgun(t, g, "multipart/form-data", []byte("--x"))
	require.Equal(t, paidup.EINVALID, paidup.ErrorCode(err))
	_, err = readMailgun(t, inbound.Mailgun{Domain: "reply.example.com"}, "application/x-www-form-urlencoded",
		[]byte(mailgunForm("", time.Now(), fields).Encode()))
	require.Equal(t, paidup.EUNAUTHORIZED, paidup.ErrorCode(err), "no key, nothing is signed")
}
