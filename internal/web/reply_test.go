package web_test

import (
	"context"
	"encoding/hex"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/inbound"
	"github.com/paidup/paidup/internal/limit"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/replies"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
	"github.com/paidup/paidup/internal/web"
)

// replied opens a case for ada@example.com, replies to it, marks it
// waiting on her, and makes the token the reply's email carries, as
// sending it does.
func (b *testBundle) replied(t *testing.T) (paidup.SupportCase, string) {
	t.Helper()
	ctx := context.Background()
	var c paidup.SupportCase
	var token string
	require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
		customerID, _, err := tx.MatchCustomer(ctx, "stripe", "", "ada@example.com")
		if err != nil {
			return err
		}
		if c, _, err = tx.OpenCase(ctx, paidup.SupportCase{DedupeKey: "help:ada", CustomerID: customerID, Kind: paidup.CaseHelpRequest,
			Summary: "internal: the customer seems upset"}); err != nil {
			return err
		}
		if _, err := b.outbox.QueueReply(ctx, tx, notify.Reply{CaseID: c.ID, CustomerID: customerID, To: "ada@example.com", Actor: "sam@ops.example",
			Reply: replies.Reply{Subject: "Your access is ready", Text: "Hello,\nYou're in.", Markdown: "Hello"}}); err != nil {
			return err
		}
		if _, _, err := tx.TriageCase(ctx, c.ID, "sam@ops.example", time.Time{}, true); err != nil {
			return err
		}
		token, err = tx.CreateReplyToken(ctx, c.ID, "em_1")
		return err
	}))
	return c, token
}

var formIDPattern = regexp.MustCompile(`name="message" value="([A-Z2-7]{26})"`)

// The reply page shows the case's thread as its customer may read it —
// the replies sent to them and their answers, nothing internal, nobody
// on the team by name — however old the link, and takes an answer: once
// however often it is sent, escaped when shown, the case open again for
// a person. A link paidup never made is a calm 404.
func TestReplyPage(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		c, token := b.replied(t)

		r := b.do(t, "GET", "/reply/"+token, nil, nil)
		require.Equal(t, http.StatusOK, r.status)
		require.Equal(t, "no-store", r.header.Get("Cache-Control"))
		require.Contains(t, r.header.Get("Content-Security-Policy"), "form-action 'self'")
		require.Equal(t, "same-origin", r.header.Get("Referrer-Policy"), "the link's token stays on paidup")
		text := visibleText(r.body)
		require.Contains(t, text, "Your conversation with us")
		require.Contains(t, text, "Case "+c.ID)
		require.Contains(t, text, "Your access is ready")
		require.Contains(t, r.body, "Hello,\nYou&#39;re in.")
		require.NotContains(t, text, "upset", "the case's own summary is internal")
		require.NotContains(t, r.body, "sam@ops.example", "nobody on the team by name")
		require.Equal(t, http.StatusOK, b.do(t, "GET", "/reply/"+strings.ToUpper(token), nil, nil).status, "as a mail client may fold it")

		for _, bad := range []string{"/reply/" + strings.Repeat("a", 26), "/reply/nope", "/reply/%3Cscript%3E"} {
			r := b.do(t, "GET", bad, nil, nil)
			require.Equal(t, http.StatusNotFound, r.status, bad)
			require.Contains(t, visibleText(r.body), "This link does not lead to a conversation we know of", bad)
			require.NotContains(t, r.body, "<script>")
		}

		id := formIDPattern.FindStringSubmatch(r.body)
		require.NotNil(t, id, "the form carries its id")
		hostile := "<script>alert(1)</script>\r\nIt still doesn't work \"quoted\" & more"
		answer := url.Values{"message": {id[1]}, "text": {hostile}}
		r = b.do(t, "POST", "/reply/"+token, answer, nil)
		require.Equal(t, http.StatusSeeOther, r.status, r.body)
		require.Equal(t, "/reply/"+token+"?sent=1", r.header.Get("Location"))
		require.Equal(t, http.StatusSeeOther, b.do(t, "POST", "/reply/"+token, answer, nil).status, "sent twice")
		r = b.do(t, "GET", "/reply/"+token+"?sent=1", nil, nil)
		require.Contains(t, visibleText(r.body), "we've got your message")
		require.NotContains(t, r.body, "<script>alert(1)</script>")
		require.Contains(t, r.body, "&lt;script&gt;alert(1)&lt;/script&gt;\nIt still doesn&#39;t work &#34;quoted&#34; &amp; more")
		thread, err := b.store.Thread(ctx, c.ID)
		require.NoError(t, err)
		require.Len(t, thread, 2, "taken once")
		require.Equal(t, paidup.ViaWeb, thread[1].Via)
		now, err := b.store.Case(ctx, c.ID)
		require.NoError(t, err)
		require.Equal(t, paidup.CaseOpen, now.State(time.Now()), "no longer waiting on the customer")

		// Too long: asked again, with what was typed, escaped.
		long := "<b>" + strings.Repeat("x", inbound.MaxText)
		r = b.do(t, "POST", "/reply/"+token, url.Values{"message": {id[1][:25] + "Q"}, "text": {long}}, nil)
		require.Equal(t, http.StatusUnprocessableEntity, r.status)
		require.Contains(t, visibleText(r.body), "longer than we can take")
		require.Contains(t, r.body, "&lt;b&gt;xxx")
		r = b.do(t, "POST", "/reply/"+token, url.Values{"message": {"ZZZZZZZZZZZZZZZZZZZZZZZZZZ"}, "text": {"  "}}, nil)
		require.Equal(t, http.StatusUnprocessableEntity, r.status)
		require.Contains(t, visibleText(r.body), "Please write your answer first.")

		for name, form := range map[string]url.Values{
			"no form id":  {"text": {"hi"}},
			"bad form id": {"message": {"<x>"}, "text": {"hi"}},
		} {
			require.Equal(t, http.StatusBadRequest, b.do(t, "POST", "/reply/"+token, form, nil).status, name)
		}
		require.Equal(t, http.StatusNotFound, b.do(t, "POST", "/reply/"+strings.Repeat("a", 26), url.Values{"message": {id[1]}, "text": {"hi"}}, nil).status)

		// Another site's form is refused, whatever the browser says of it.
		other := url.Values{"message": {"CCCCCCCCCCCCCCCCCCCCCCCCCC"}, "text": {"from elsewhere"}}
		r = b.do(t, "POST", "/reply/"+token, other, map[string]string{"Sec-Fetch-Site": "cross-site"})
		require.Equal(t, http.StatusUnauthorized, r.status)
		require.Contains(t, visibleText(r.body), "sent from another site, so we did not take it")
		require.Equal(t, http.StatusForbidden, b.do(t, "POST", "/reply/"+token, other, map[string]string{"Origin": "https://evil.example"}).status)
		thread, err = b.store.Thread(ctx, c.ID)
		require.NoError(t, err)
		require.Len(t, thread, 2, "nothing taken from another site")
	})
}

// One client, or one link from many clients, answering over and over is
// refused past its limit, calmly.
func TestReplyPageIsLimited(t *testing.T) {
	b := setup(t, sqldb.SQLite, withLimits(web.Limits{Reply: limit.Rule{PerMinute: 1, Burst: 2}, ReplyLink: limit.Rule{PerMinute: 1, Burst: 3},
		MaxClients: 1000}), func(d *web.Deps) { d.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} })
	_, token := b.replied(t)
	send := func(client string, n int) int {
		form := url.Values{"message": {strings.Repeat(string(rune('A'+n)), 26)}, "text": {"answer " + strconv.Itoa(n)}}
		return b.do(t, "POST", "/reply/"+token, form, map[string]string{"X-Forwarded-For": client}).status
	}
	require.Equal(t, http.StatusSeeOther, send("192.0.2.1", 0))
	require.Equal(t, http.StatusSeeOther, send("192.0.2.1", 1))
	require.Equal(t, http.StatusTooManyRequests, send("192.0.2.1", 2), "the client's limit")
	require.Equal(t, http.StatusSeeOther, send("192.0.2.2", 3))
	r := b.do(t, "POST", "/reply/"+token, url.Values{"message": {strings.Repeat("E", 26)}, "text": {"again"}},
		map[string]string{"X-Forwarded-For": "192.0.2.3"})
	require.Equal(t, http.StatusTooManyRequests, r.status, "the link's limit, from a fresh client")
	require.Contains(t, visibleText(r.body), "what you sent before has reached us")
	require.Equal(t, "60", r.header.Get("Retry-After"))
}

// The inbound-mail webhook takes Mailgun's signed posts into the thread
// (200), refuses a bad or old signature (401) and answers 406 for mail to
// anything but a reply address paidup made, so that Mailgun does not send
// it again; it is off without a key.
func TestMailgunInbound(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		const key = "key-web-test-0123456789abcdef"
		b := setup(t, engine, func(d *web.Deps) { d.Mailgun = &inbound.Mailgun{Key: key, Domain: "reply.example.com"} })
		c, token := b.replied(t)
		signed := func(key string, ts time.Time, f url.Values) url.Values {
			f.Set("timestamp", strconv.FormatInt(ts.Unix(), 10))
			f.Set("token", "0123456789abcdef0123456789abcdef0123456789abcdef01")
			f.Set("signature", hex.EncodeToString(inbound.MailgunSignature(key, f.Get("timestamp"), f.Get("token"))))
			return f
		}
		answer := func() url.Values {
			return url.Values{"recipient": {"reply+" + token + "@reply.example.com"}, "from": {"Ada <ada@example.com>"},
				"subject": {"Re: Your access is ready"}, "body-plain": {"Thank you!\n> Hello"}, "Message-Id": {"<mg1@mail.example.com>"}}
		}
		r := b.do(t, "POST", "/inbound/mailgun", signed(key, time.Now(), answer()), nil)
		require.Equal(t, http.StatusOK, r.status, r.body)
		require.Equal(t, http.StatusOK, b.do(t, "POST", "/inbound/mailgun", signed(key, time.Now(), answer()), nil).status, "again: taken once")
		thread, err := b.store.Thread(context.Background(), c.ID)
		require.NoError(t, err)
		require.Len(t, thread, 2)
		require.Equal(t, "Thank you!", thread[1].Text)

		require.Equal(t, http.StatusUnauthorized, b.do(t, "POST", "/inbound/mailgun", signed("key-someone-else-entirely", time.Now(), answer()), nil).status)
		require.Equal(t, http.StatusUnauthorized, b.do(t, "POST", "/inbound/mailgun", signed(key, time.Now().Add(-time.Hour), answer()), nil).status)
		unknown := answer()
		unknown.Set("recipient", "reply+"+strings.Repeat("a", 26)+"@reply.example.com")
		require.Equal(t, http.StatusNotAcceptable, b.do(t, "POST", "/inbound/mailgun", signed(key, time.Now(), unknown), nil).status)
		thread, err = b.store.Thread(context.Background(), c.ID)
		require.NoError(t, err)
		require.Len(t, thread, 2)

		off := setup(t, engine)
		require.Equal(t, http.StatusNotFound, off.do(t, "POST", "/inbound/mailgun", signed(key, time.Now(), answer()), nil).status)
	})
}
