package main

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// Spellings of one address: composed (NFC) and decomposed (NFD) accents,
// the domain in Unicode and in punycode, upper and lower case.
const (
	joseNFC      = "jos\u00e9@caf\u00e9.example"
	joseNFD      = "jose\u0301@cafe\u0301.example"
	josePunycode = "jos\u00e9@xn--caf-dma.example"
	joseShouted  = "JOSE\u0301@CAF\u00c9.EXAMPLE"
)

// mailboxMessage is a message in the sandbox's mailbox.
type mailboxMessage struct {
	ID        int64
	MessageID string `json:"message_id"`
	To        string
	Subject   string
	Text      string
}

func mailboxMessages(t *testing.T, sandboxURL, to string) []mailboxMessage {
	t.Helper()
	resp, err := http.Get(sandboxURL + "/mailbox/messages.json?to=" + url.QueryEscape(to))
	require.NoError(t, err)
	defer resp.Body.Close()
	var m struct{ Messages []mailboxMessage }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
	return m.Messages
}

func (l *life) accessOf(email string) (customerID string, grants int) {
	t := l.t
	req, err := http.NewRequest(http.MethodGet, l.in.shop+"/api/v1/access?email="+url.QueryEscape(email), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+lifecycleAPIKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var a struct {
		Customer *struct{ ID string }
		Grants   []json.RawMessage
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&a))
	if a.Customer == nil {
		return "", len(a.Grants)
	}
	return a.Customer.ID, len(a.Grants)
}

// Two spellings of josé@café.example are one customer, however they come:
// typed on the shop's form in NFC with the domain in Unicode, typed again
// in NFD with the domain in punycode, and handed back by the processor in
// NFD upper case; and the access API finds them by any spelling. Their
// emails go out to the one address, over SMTPUTF8, with the domain in
// ASCII, and the Message-ID names paidup's host, not the From domain.
func TestEmailSpellingsAreOneCustomer(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		l := startLife(t, engine, joseNFC)
		l.buy("supporter-lifetime", "4242 4242 4242 4242")
		l.wantAccess("supporter")

		// The second purchase: typed another way, and paid through the
		// sandbox's test helper as if the processor spelt the address
		// another way again.
		_, form := get(t, l.in.shop+"/buy/pro-annual")
		ref := regexp.MustCompile(`PU-[0-9A-Z]{4}-[0-9A-Z]{4}`).FindString(form)
		status, payPage, body := postForm(t, l.in.shop+"/buy/pro-annual", url.Values{"email": {"jose\u0301@xn--caf-dma.example"}, "reference": {ref}})
		require.Equal(t, http.StatusSeeOther, status, body)
		session := payPage[strings.LastIndex(payPage, "/")+1:]
		req, err := http.NewRequest(http.MethodPost, l.in.sandbox+"/v1/test_helpers/checkout/sessions/"+session+"/pay?"+
			url.Values{"payment_method": {"pm_card_visa"}, "email": {joseShouted}}.Encode(), nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer sk_test_lifecycle")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		paid, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, string(paid))
		var cs struct {
			CustomerDetails struct{ Email string } `json:"customer_details"`
		}
		require.NoError(t, json.Unmarshal(paid, &cs))
		require.Equal(t, joseShouted, cs.CustomerDetails.Email, "the processor has the other spelling")
		l.wantAccess("pro")

		require.Equal(t, 1, countRows(t, l.dbURL, `SELECT count(*) FROM customers`), "one customer")
		require.Equal(t, 2, countRows(t, l.dbURL, `SELECT count(*) FROM grants`))
		var id string
		for _, spelling := range []string{joseNFC, joseNFD, josePunycode, joseShouted} {
			got, grants := l.accessOf(spelling)
			require.NotEmpty(t, got, spelling)
			require.Equal(t, 2, grants, spelling)
			require.True(t, id == "" || id == got, spelling)
			id = got
		}

		// Both confirmations reached the one address, in ASCII after the @.
		var msgs []mailboxMessage
		require.Eventually(t, func() bool {
			msgs = mailboxMessages(t, l.in.sandbox, josePunycode)
			return len(msgs) == 2
		}, 20*time.Second, 50*time.Millisecond)
		for _, m := range msgs {
			require.Equal(t, josePunycode, m.To)
			require.True(t, strings.HasPrefix(m.Subject, "You're in"), m.Subject)
			require.Regexp(t, `^em_[0-9a-z]+@127\.0\.0\.1$`, m.MessageID, "the Message-ID is on the public URL's host, not example.com")
		}
	})
}

// startNoUTF8SMTP runs a mail server that does not offer SMTPUTF8 and
// takes whatever else it is sent, and returns its smtp:// URL.
func startNoUTF8SMTP(t *testing.T) string {
	t.Helper()
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return discardSession{}, nil }))
	srv.Domain, srv.AllowInsecureAuth = "ascii-only.test", true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Errorf("mail server: %v", err)
		}
	})
	return "smtp://" + ln.Addr().String()
}

type discardSession struct{}

func (discardSession) Mail(string, *smtp.MailOptions) error { return nil }
func (discardSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (discardSession) Data(r io.Reader) error               { _, err := io.Copy(io.Discard, r); return err }
func (discardSession) Reset()                               {}
func (discardSession) Logout() error                        { return nil }

// serveWithSMTP runs paidup serve with its sandbox, sending mail to smtpURL.
func serveWithSMTP(t *testing.T, smtpURL string) *instance {
	t.Helper()
	dir := t.TempDir()
	cfg := strings.Replace(string(exampleConfig(t)), `  url: ""
  # The From:`, "  url: "+smtpURL+"\n  # The From:", 1)
	path := filepath.Join(dir, "paidup.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	return start(t, nil, "serve", "--config", path, "--listen", "127.0.0.1:0", "--sandbox-listen", "127.0.0.1:0",
		"--database-url", "sqlite:"+filepath.Join(dir, "paidup.db"), "--sandbox-database-url", "sqlite:"+filepath.Join(dir, "sandbox.db"))
}

// An address with letters outside ASCII before the @ needs the mail
// server's SMTPUTF8. With a server that lacks it, the buy and sign-in
// forms refuse such an address with a clear message and start nothing;
// ASCII addresses still work. With Mailpit, which offers it, the address
// is taken and its confirmation delivered.
func TestNonASCIIAddressesNeedSMTPUTF8(t *testing.T) {
	const zoe = "zo\u00eb@example.com"
	t.Run("mail server without SMTPUTF8", func(t *testing.T) {
		in := serveWithSMTP(t, startNoUTF8SMTP(t))
		for _, form := range []string{"/buy/pro-annual", "/account/link"} {
			status, _, body := postForm(t, in.shop+form, url.Values{"email": {zoe}})
			require.Equal(t, http.StatusUnprocessableEntity, status, form)
			require.Contains(t, body, "Our mail server cannot deliver to an address with letters other than a to z", form)
			require.Contains(t, body, `value="`+zoe+`"`, "the form keeps what was typed")
		}
		status, _, body := postForm(t, in.shop+"/buy/pro-annual", url.Values{"email": {"ada@[192.0.2.1]"}})
		require.Equal(t, http.StatusUnprocessableEntity, status)
		require.Contains(t, body, "We cannot send email to an address at an IP address ([192.0.2.1])")
		status, loc, _ := postForm(t, in.shop+"/buy/pro-annual", url.Values{"email": {"zoe@caf\u00e9.example"}})
		require.Equal(t, http.StatusSeeOther, status, "a Unicode domain needs no SMTPUTF8: it is sent in ASCII")
		require.Contains(t, loc, in.sandbox)
		_, console := get(t, in.sandbox+"/")
		require.NotContains(t, console, "zo\u00eb", "no checkout was started for the refused address")
	})
	t.Run("Mailpit", func(t *testing.T) {
		mp := startMailpit(t)
		in := serveWithSMTP(t, mp.smtpURL())
		buyAndPay(t, in, "pro-annual", zoe)
		require.Eventually(t, func() bool {
			subjects := mp.messagesTo(t, zoe)
			return len(subjects) == 1 && strings.HasPrefix(subjects[0], "You're in")
		}, 20*time.Second, 50*time.Millisecond, "the confirmation reaches zoë")
	})
}
