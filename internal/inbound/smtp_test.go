package inbound_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/inbound"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
)

// message is a customer's answer as their mail client sends it.
func message(from, to, messageID, text string) string {
	return strings.Join([]string{
		"From: " + from,
		"To: " + to,
		"Subject: Re: Your access is ready",
		"Message-ID: <" + messageID + ">",
		"Content-Type: text/plain; charset=utf-8",
		"",
		text,
		"",
		"On Tue, 3 Dec 2026 at 10:00, Example Community <" + to + "> wrote:",
		"> Hello",
		"",
	}, "\r\n")
}

// smtpCode is the reply code of a refusal.
func smtpCode(t *testing.T, err error) int {
	t.Helper()
	var te *textproto.Error
	require.True(t, errors.As(err, &te), "want an SMTP refusal, got %v", err)
	return te.Code
}

// The listener takes mail only for the reply addresses of tokens paidup
// made, each message once into its case's thread, and only from the
// case's customer; it refuses what it cannot read, and mail too big, and
// stops when asked, letting nothing in after.
func TestListener(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		c, token := b.replied(t, "ada@example.com")
		l := inbound.NewListener(b.threads, "Reply.Example.com", slog.New(slog.DiscardHandler))
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		served := make(chan error, 1)
		go func() { served <- l.Serve(ln) }()
		addr := ln.Addr().String()
		to := "reply+" + token + "@reply.example.com"
		send := func(envelopeTo, raw string) error {
			return smtp.SendMail(addr, nil, "bounces@mail.example.com", []string{envelopeTo}, []byte(raw))
		}

		require.NoError(t, send(strings.ToUpper(to), message("Ada <ada@example.com>", to, "m1@mail.example.com", "Thanks, it works.")))
		require.Equal(t, []string{"out: Hello", "in: Thanks, it works."}, b.thread(t, c.ID), "threaded, without the quoted reply")
		require.Equal(t, paidup.CaseOpen, b.kase(t, c.ID).State(b.clock.Now()))
		require.NoError(t, send(to, message("Ada <ada@example.com>", to, "m1@mail.example.com", "Thanks, it works.")))
		require.Len(t, b.thread(t, c.ID), 2, "the same Message-ID twice is taken once")

		require.NoError(t, send(to, message("Mallory <mallory@example.net>", to, "f1@example.net", "Send it to me instead")),
			"a stranger's mail is taken, for a person")
		require.Len(t, b.thread(t, c.ID), 2, "but not into the thread")
		var unmatched int
		require.NoError(t, b.db.Read.QueryRow(`SELECT count(*) FROM support_cases WHERE kind = $1`, paidup.CaseUnmatchedAnswer).Scan(&unmatched))
		require.Equal(t, 1, unmatched)

		for _, rcpt := range []string{
			"reply+" + strings.Repeat("a", 26) + "@reply.example.com", // a token paidup never made
			"reply+" + token + "@elsewhere.example.com",               // another domain
			"support@reply.example.com",                               // not a reply address
			"reply+@reply.example.com",
		} {
			require.Equal(t, 550, smtpCode(t, send(rcpt, message("ada@example.com", rcpt, "m2@mail.example.com", "hi"))), rcpt)
		}
		require.Equal(t, 554, smtpCode(t, send(to, "Subject: no sender\r\n\r\nhi\r\n")), "a message with no From:")
		big := message("ada@example.com", to, "m3@mail.example.com", strings.Repeat(strings.Repeat("x", 76)+"\r\n", inbound.MaxMessage/78+1))
		require.Equal(t, 552, smtpCode(t, send(to, big)))
		require.Len(t, b.thread(t, c.ID), 2)

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, l.Shutdown(ctx))
		require.NoError(t, <-served)
		require.Error(t, send(to, message("ada@example.com", to, "m4@mail.example.com", "after")), "stopped")
	})
}
