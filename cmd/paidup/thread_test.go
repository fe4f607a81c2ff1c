package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/http"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/inbound"
	"github.com/paidup/paidup/internal/mailbox"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

const threadWebhookKey = "key-thread-test-0123456789abcdef"

// A reply and the customer's answers form one thread, told from outside:
// paidup serve with its own SMTP listener and the Mailgun webhook. Ada's
// bank disputes her payment, and a person replies from a template; the
// email, read from the mail server,
// carries the case's reply address as its Reply-To and the reply page's
// link. The customer answers by mail to the listener: threaded, the case
// back to open, on the timeline; the same message again is taken once; a
// forged sender is not threaded; an unknown address is refused at RCPT.
// They answer on the reply page and through Mailgun too.
func TestRepliesAndAnswersAreOneThread(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		dir := t.TempDir()
		cfg := strings.Replace(string(exampleConfig(t)), `  inbound_domain: ""
  inbound_smtp_listen: ""
  inbound_webhook_key: ""`, `  inbound_domain: reply.paidup.test
  inbound_smtp_listen: 127.0.0.1:0
  inbound_webhook_key: `+threadWebhookKey, 1)
		require.Contains(t, cfg, "inbound_domain: reply.paidup.test")
		cfgPath := filepath.Join(dir, "paidup.yaml")
		require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
		dbURL := sqldbtest.URL(t, engine)
		in := start(t, nil, "serve", "--config", cfgPath, "--listen", "127.0.0.1:0", "--sandbox-listen", "127.0.0.1:0",
			"--database-url", dbURL, "--sandbox-database-url", "sqlite:"+filepath.Join(dir, "sandbox.db"))
		require.NotEmpty(t, in.inbound, "the banner names the inbound listener:\n%s", in.stdout.String())

		// Ada pays with the card whose payment her bank disputes: a case.
		const ada = "ada@example.com"
		buyAndPayWith(t, in, "pro-monthly", ada, "4000 0000 0000 0259")
		require.Eventually(t, func() bool {
			return countRows(t, dbURL, `SELECT count(*) FROM support_cases WHERE kind = 'dispute'`) == 1
		}, 30*time.Second, 100*time.Millisecond)
		caseID := queryString(t, dbURL, `SELECT id FROM support_cases WHERE kind = 'dispute'`)

		out, err := runCLI(t, "case", "reply", "--case", caseID, "--template", "chargeback_received", "--actor", "sam", "--database-url", dbURL,
			"--config", cfgPath)
		require.NoError(t, err, out)
		require.Equal(t, "waiting", caseState(t, dbURL, caseID))

		var reply mailboxMessage
		require.Eventually(t, func() bool {
			for _, m := range mailboxMessages(t, in.sandbox, ada) {
				if strings.HasPrefix(m.Subject, "About the dispute of your payment") {
					reply = m
				}
			}
			return reply.ID != 0
		}, 30*time.Second, 100*time.Millisecond)
		_, raw := get(t, in.sandbox+"/mailbox/"+strconv.FormatInt(reply.ID, 10)+"/raw")
		msg, err := mail.ReadMessage(strings.NewReader(raw))
		require.NoError(t, err)
		replyTo, err := mail.ParseAddress(msg.Header.Get("Reply-To"))
		require.NoError(t, err)
		m := regexp.MustCompile(`^reply\+([0-9a-z]{26})@reply\.paidup\.test$`).FindStringSubmatch(replyTo.Address)
		require.NotNil(t, m, "the case's reply address: %s", replyTo.Address)
		token := m[1]
		link := in.shop + "/reply/" + token
		text, html := mailbox.Parts([]byte(raw))
		require.Contains(t, text, "write here (the link keeps working): "+link)
		require.Contains(t, html, `href="`+link+`"`)

		// Ada answers by mail, quoting the reply.
		answer := func(from, messageID, words string) string {
			return strings.Join([]string{"From: " + from, "To: " + replyTo.Address, "Subject: Re: " + reply.Subject,
				"Message-ID: <" + messageID + ">", "Content-Type: text/plain; charset=utf-8", "", words, "",
				"On Tue, 3 Dec 2026, " + replyTo.String() + " wrote:", "> " + strings.SplitN(text, "\n", 2)[0], ""}, "\r\n")
		}
		sendTo := func(rcpt, raw string) error {
			return smtp.SendMail(strings.TrimPrefix(in.inbound, "smtp://"), nil, ada, []string{rcpt}, []byte(raw))
		}
		require.NoError(t, sendTo(replyTo.Address, answer("Ada <ADA@example.com>", "a1@mail.example.com", "Thank you, I see the refund.")))
		require.Equal(t, "Thank you, I see the refund.", queryString(t, dbURL,
			`SELECT body FROM case_messages WHERE direction = 'in' AND case_id = $1`, caseID), "threaded, without the quote")
		require.Equal(t, "open", caseState(t, dbURL, caseID), "back to a person")
		require.Equal(t, 1, countRows(t, dbURL, `SELECT count(*) FROM timeline WHERE summary = $1`,
			"The customer answered case "+caseID+" by email: Re: "+reply.Subject), "on the timeline")

		require.NoError(t, sendTo(replyTo.Address, answer("Ada <ada@example.com>", "a1@mail.example.com", "Thank you, I see the refund.")))
		require.Equal(t, 1, countRows(t, dbURL, `SELECT count(*) FROM case_messages WHERE direction = 'in'`), "the same Message-ID once")

		require.NoError(t, sendTo(replyTo.Address, answer("Mallory <mallory@example.net>", "f1@example.net", "Send the link to me")))
		require.Equal(t, 1, countRows(t, dbURL, `SELECT count(*) FROM case_messages WHERE direction = 'in'`), "a forged sender is not threaded")
		require.Equal(t, 1, countRows(t, dbURL, `SELECT count(*) FROM support_cases WHERE kind = 'unmatched_answer'`), "but left to a person")

		err = sendTo("reply+"+strings.Repeat("a", 26)+"@reply.paidup.test", answer(ada, "a2@mail.example.com", "hi"))
		var refusal *textproto.Error
		require.True(t, errors.As(err, &refusal), "%v", err)
		require.Equal(t, 550, refusal.Code, "an unknown reply address is refused at RCPT")

		// On the reply page: the thread, and an answer.
		_, page := get(t, link)
		require.Contains(t, page, "Thank you, I see the refund.")
		require.NotContains(t, page, "Send the link to me")
		id := regexp.MustCompile(`name="message" value="([A-Z2-7]{26})"`).FindStringSubmatch(page)
		require.NotNil(t, id)
		status, location, _ := postForm(t, link, url.Values{"message": {id[1]}, "text": {"One more question: does it show on my statement?"}})
		require.Equal(t, http.StatusSeeOther, status)
		_, page = get(t, in.shop+location)
		require.Contains(t, page, "One more question")

		// Through Mailgun's routes, signed; and refused, unsigned.
		form := url.Values{"recipient": {replyTo.Address}, "from": {"Ada <ada@example.com>"}, "subject": {"Re: " + reply.Subject},
			"body-plain": {"And thanks again."}, "Message-Id": {"<mg1@mail.example.com>"},
			"timestamp": {strconv.FormatInt(time.Now().Unix(), 10)}, "token": {strings.Repeat("t", 50)}}
		form.Set("signature", hex.EncodeToString(inbound.MailgunSignature(threadWebhookKey, form.Get("timestamp"), form.Get("token"))))
		status, _, body := postForm(t, in.shop+"/inbound/mailgun", form)
		require.Equal(t, http.StatusOK, status, body)
		form.Set("signature", strings.Repeat("0", 64))
		form.Set("Message-Id", "<mg2@mail.example.com>")
		status, _, _ = postForm(t, in.shop+"/inbound/mailgun", form)
		require.Equal(t, http.StatusUnauthorized, status)
		require.Equal(t, 3, countRows(t, dbURL, `SELECT count(*) FROM case_messages WHERE direction = 'in'`))

		// Stopped, the listener takes nothing more.
		require.NoError(t, in.stop())
		require.Error(t, sendTo(replyTo.Address, answer(ada, "a3@mail.example.com", "after")))
		require.Contains(t, in.stdout.String(), "Inbound mail:")
	})
}

// caseState is a case's state as the inbox has it: open, waiting or
// resolved.
func caseState(t *testing.T, dbURL, caseID string) string {
	t.Helper()
	return queryString(t, dbURL, `SELECT CASE WHEN status <> 'open' THEN status WHEN waiting_since IS NOT NULL THEN 'waiting' ELSE 'open' END
		FROM support_cases WHERE id = $1`, caseID)
}

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), args, func(string) string { return "" }, &stdout, &stderr)
	return stdout.String() + stderr.String(), err
}
