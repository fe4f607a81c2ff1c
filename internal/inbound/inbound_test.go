package inbound_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/inbound"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/replies"
	"github.com/paidup/paidup/internal/sandbox/sandboxtest"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

type testBundle struct {
	store   *store.Store
	db      *sqldb.DB
	clock   *sandboxtest.Clock
	outbox  *notify.Outbox
	threads *inbound.Threads
}

func setup(t *testing.T, engine sqldb.Engine) *testBundle {
	t.Helper()
	ctx := context.Background()
	db := sqldbtest.Open(t, engine)
	_, err := db.Migrate(ctx, store.Migrations)
	require.NoError(t, err)
	_, err = queue.Migrate(ctx, db)
	require.NoError(t, err)
	b := &testBundle{db: db, clock: sandboxtest.NewClock(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)),
		outbox: &notify.Outbox{OnCall: []string{"oncall@example.com"}}}
	b.store, err = store.New(db, b.clock.Now)
	require.NoError(t, err)
	b.threads = &inbound.Threads{Store: b.store, Outbox: b.outbox, Logger: slog.New(slog.DiscardHandler)}
	return b
}

// replied opens a case for the customer at email, replies to it, and
// makes the token the reply's email carries, as sending it does.
func (b *testBundle) replied(t *testing.T, email string) (paidup.SupportCase, string) {
	t.Helper()
	ctx := context.Background()
	var c paidup.SupportCase
	var token string
	require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
		customerID, _, err := tx.MatchCustomer(ctx, "stripe", "", email)
		if err != nil {
			return err
		}
		if c, _, err = tx.OpenCase(ctx, paidup.SupportCase{DedupeKey: "help:" + email, CustomerID: customerID, Kind: paidup.CaseHelpRequest,
			Summary: "wrote in"}); err != nil {
			return err
		}
		if _, err := b.outbox.QueueReply(ctx, tx, notify.Reply{CaseID: c.ID, CustomerID: customerID, To: email, Actor: "sam",
			Reply: replies.Reply{Subject: "Your access is ready", Text: "Hello", Markdown: "Hello"}}); err != nil {
			return err
		}
		if _, _, err := tx.TriageCase(ctx, c.ID, "sam", time.Time{}, true); err != nil {
			return err
		}
		token, err = tx.CreateReplyToken(ctx, c.ID, "em_1")
		return err
	}))
	b.clock.Advance(time.Minute)
	return c, token
}

func (b *testBundle) take(t *testing.T, a inbound.Answer) inbound.Taken {
	t.Helper()
	taken, err := b.threads.Take(context.Background(), a)
	require.NoError(t, err)
	b.clock.Advance(time.Minute)
	return taken
}

func (b *testBundle) thread(t *testing.T, caseID string) []string {
	t.Helper()
	msgs, err := b.store.Thread(context.Background(), caseID)
	require.NoError(t, err)
	var out []string
	for _, m := range msgs {
		out = append(out, m.Direction+": "+m.Text)
	}
	return out
}

func (b *testBundle) kase(t *testing.T, id string) paidup.SupportCase {
	t.Helper()
	c, err := b.store.Case(context.Background(), id)
	require.NoError(t, err)
	return c
}

// The customer's answer by mail, from their address however spelled, is
// the thread's next message; the case is a person's again (no longer
// waiting on the customer), keeps who works on it, and the answer is on
// the customer's timeline. The same Message-ID again is taken once.
func TestAnswerIsThreaded(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		c, token := b.replied(t, "ada@example.com")
		require.Equal(t, paidup.CaseWaiting, b.kase(t, c.ID).State(b.clock.Now()))

		answer := inbound.Answer{Token: strings.ToUpper(token), Via: paidup.ViaEmail, From: `"Ada" <ADA@Example.COM>`,
			Subject: "Re: Your access is ready\r\nBcc: x@example.com", Text: "Thanks!\r\nIt works.\x00\u202e", MessageID: "<m1@mail.example.com>"}
		taken := b.take(t, answer)
		require.Equal(t, inbound.Threaded, taken.Outcome)
		require.Equal(t, c.ID, taken.Case.ID)
		require.Equal(t, []string{"out: Hello", "in: Thanks!\nIt works."}, b.thread(t, c.ID), "control and format characters dropped")
		now := b.kase(t, c.ID)
		require.Equal(t, paidup.CaseOpen, now.State(b.clock.Now()), "open again for a person")
		require.Equal(t, "sam", now.Assignee)
		msgs, err := b.store.Thread(ctx, c.ID)
		require.NoError(t, err)
		require.Equal(t, "ADA@Example.COM", msgs[1].From)
		require.Equal(t, "Re: Your access is ready Bcc: x@example.com", msgs[1].Subject, "one line")
		require.Equal(t, "m1@mail.example.com", msgs[1].MessageID)
		entries, err := b.store.Timeline(ctx, c.CustomerID, "")
		require.NoError(t, err)
		var summaries []string
		for _, e := range entries {
			summaries = append(summaries, e.Summary)
		}
		require.Contains(t, summaries, "The customer answered case "+c.ID+" by email: Re: Your access is ready Bcc: x@example.com")

		answer.Text = "A resend of the same message"
		require.Equal(t, inbound.AlreadyTaken, b.take(t, answer).Outcome)
		require.Len(t, b.thread(t, c.ID), 2, "the same Message-ID twice is taken once")

		// Without a Message-ID, the same words from the same sender are
		// one message.
		noID := inbound.Answer{Token: token, Via: paidup.ViaEmail, From: "ada@example.com", Subject: "Re: x", Text: "One more thing"}
		require.Equal(t, inbound.Threaded, b.take(t, noID).Outcome)
		require.Equal(t, inbound.AlreadyTaken, b.take(t, noID).Outcome)

		// Mail with nothing of its own says so; a web answer must say
		// something.
		require.Equal(t, inbound.Threaded, b.take(t, inbound.Answer{Token: token, Via: paidup.ViaEmail, From: "ada@example.com", MessageID: "m2"}).Outcome)
		require.Contains(t, b.thread(t, c.ID)[3], "no text of its own")
		_, err = b.threads.Take(ctx, inbound.Answer{Token: token, Via: paidup.ViaWeb, Text: " \n\t", MessageID: "web:1"})
		require.Equal(t, paidup.EINVALID, paidup.ErrorCode(err))

		long := strings.Repeat("é", inbound.MaxText+10)
		require.Equal(t, inbound.Threaded, b.take(t, inbound.Answer{Token: token, Via: paidup.ViaWeb, Text: long, MessageID: "web:2"}).Outcome)
		last := b.thread(t, c.ID)[4]
		require.True(t, strings.HasSuffix(last, "[…the rest was cut]"))

		for _, bad := range []string{"", "nope", strings.Repeat("a", 26)} {
			_, err := b.threads.Take(ctx, inbound.Answer{Token: bad, Via: paidup.ViaWeb, Text: "hi"})
			require.Equal(t, paidup.ENOTFOUND, paidup.ErrorCode(err), "%q", bad)
		}
	})
}

// Mail to a case's reply address from anyone but its customer is not
// taken into the thread: a case, once per message, tells a person who
// wrote and what, and the customer's case still waits on them.
func TestStrangerIsNotThreaded(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		c, token := b.replied(t, "ada@example.com")
		forged := inbound.Answer{Token: token, Via: paidup.ViaEmail, From: "Mallory <mallory@example.net>", Subject: "Re: Your access",
			Text: "Please send the sign-in link to mallory@example.net instead", MessageID: "<f1@example.net>"}
		taken := b.take(t, forged)
		require.Equal(t, inbound.NotTheCustomer, taken.Outcome)
		require.Equal(t, paidup.CaseUnmatchedAnswer, taken.Case.Kind)
		require.NotEqual(t, c.ID, taken.Case.ID)
		require.Equal(t, c.CustomerID, taken.Case.CustomerID, "on the customer's page, for a person")
		require.Contains(t, taken.Case.Summary, "came from mallory@example.net, not from the case's customer")
		require.Contains(t, taken.Case.Summary, "Please send the sign-in link")
		require.Equal(t, []string{"out: Hello"}, b.thread(t, c.ID))
		require.Equal(t, paidup.CaseWaiting, b.kase(t, c.ID).State(b.clock.Now()))

		again := b.take(t, forged)
		require.Equal(t, taken.Case.ID, again.Case.ID, "the same message, one case")
		for _, from := range []string{"", "not an address", "ada@example.com.evil.example", "ada+x@example.com"} {
			forged.From, forged.MessageID = from, "<f-"+from+"@example.net>"
			require.Equal(t, inbound.NotTheCustomer, b.take(t, forged).Outcome, "%q", from)
		}
		require.Equal(t, []string{"out: Hello"}, b.thread(t, c.ID))
	})
}

// An answer to a resolved case opens, once, the case that follows it,
// which the thread goes on to: later answers through the same link go
// there too, and the resolved case stays as it was decided. When that
// one is resolved in turn, the next answer opens the next.
func TestAnswerAfterResolveFollowsUp(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		c, token := b.replied(t, "ada@example.com")
		resolve := func(id string) {
			t.Helper()
			require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
				_, err := b.outbox.ResolveCase(ctx, tx, id, "sam", "")
				return err
			}))
			b.clock.Advance(time.Minute)
		}
		resolve(c.ID)
		first := b.take(t, inbound.Answer{Token: token, Via: paidup.ViaWeb, Text: "It stopped working again", MessageID: "web:1"})
		require.Equal(t, inbound.Threaded, first.Outcome)
		follow := first.Case
		require.Equal(t, paidup.CaseFollowUp, follow.Kind)
		require.Equal(t, c.ID, follow.Follows)
		require.Equal(t, c.CustomerID, follow.CustomerID)
		require.Equal(t, paidup.CaseOpen, follow.Status)
		require.Contains(t, follow.Summary, "answered after case "+c.ID+" was resolved: It stopped working again")
		require.Equal(t, paidup.CaseResolved, b.kase(t, c.ID).Status, "the decision stands")

		second := b.take(t, inbound.Answer{Token: token, Via: paidup.ViaEmail, From: "ada@example.com", Text: "Still broken", MessageID: "m9"})
		require.Equal(t, follow.ID, second.Case.ID, "one case follows")
		want := []string{"out: Hello", "in: It stopped working again", "in: Still broken"}
		require.Equal(t, want, b.thread(t, c.ID))
		require.Equal(t, want, b.thread(t, follow.ID))
		conv, err := b.threads.Conversation(ctx, token)
		require.NoError(t, err)
		require.Equal(t, follow.ID, conv.Case.ID, "the conversation is at the case that follows")
		require.Len(t, conv.Messages, 3)
		require.Empty(t, conv.Messages[0].Actor, "nobody on the team is named to the customer")

		resolve(follow.ID)
		third := b.take(t, inbound.Answer{Token: token, Via: paidup.ViaWeb, Text: "Sorry, once more", MessageID: "web:3"})
		require.Equal(t, follow.ID, third.Case.Follows)
		require.Len(t, b.thread(t, c.ID), 4)
	})
}

// An out-of-office answer is not the customer's: it is not threaded, and
// the case still waits on them. Its headers say so, by mail or Mailgun.
func TestAutomaticAnswerIsNotTaken(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		c, token := b.replied(t, "ada@example.com")
		taken := b.take(t, inbound.Answer{Token: token, Via: paidup.ViaEmail, From: "ada@example.com", Subject: "Out of office",
			Text: "I am away until Monday.", MessageID: "<ooo@mail.example.com>", Automatic: true})
		require.Equal(t, inbound.Automatic, taken.Outcome)
		require.Equal(t, []string{"out: Hello"}, b.thread(t, c.ID))
		require.Equal(t, paidup.CaseWaiting, b.kase(t, c.ID).State(b.clock.Now()))
	})
	for _, tt := range []struct {
		header string
		auto   bool
	}{
		{"Auto-Submitted: auto-replied", true},
		{"Auto-Submitted: no", false},
		{"X-Autoreply: yes", true},
		{"Precedence: bulk", true},
		{"Precedence: list", false},
		{"", false},
	} {
		raw := "From: ada@example.com\r\nSubject: Re: hi\r\nMessage-ID: <m@x>\r\n" + tt.header + "\r\n\r\nAway.\r\n"
		if tt.header == "" {
			raw = "From: ada@example.com\r\nSubject: Re: hi\r\nMessage-ID: <m@x>\r\n\r\nAway.\r\n"
		}
		m, err := inbound.ReadMail(strings.NewReader(raw))
		require.NoError(t, err, tt.header)
		require.Equal(t, tt.auto, m.Automatic, tt.header)
	}
}
