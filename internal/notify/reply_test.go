package notify_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/replies"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

var replyLink = regexp.MustCompile(regexp.QuoteMeta(publicURL) + `/reply/([0-9a-z]+)`)

// A reply is its case thread's next message when it is queued, once
// however often it is sent; the email carries the way back into the
// thread: the case's reply address as its Reply-To (with an inbound
// domain; the support address without one) and, always, the web link,
// in both parts, both leading to the case.
func TestReplyCarriesTheWayBack(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		var c paidup.SupportCase
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			customerID, _, err := tx.MatchCustomer(ctx, "stripe", "", "ada@example.com")
			if err != nil {
				return err
			}
			c, _, err = tx.OpenCase(ctx, paidup.SupportCase{DedupeKey: "help:ada", CustomerID: customerID, Kind: paidup.CaseHelpRequest, Summary: "wrote in"})
			return err
		}))
		reply := func(text string) bool {
			t.Helper()
			var sent bool
			require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) (err error) {
				sent, err = b.outbox.QueueReply(ctx, tx, notify.Reply{CaseID: c.ID, CustomerID: c.CustomerID, To: "ada@example.com", Actor: "sam",
					Reply: replies.Reply{Template: "t", Subject: "Your access is ready", Text: text, Markdown: text}})
				return err
			}))
			return sent
		}
		text := "Sign in here: " + replies.SignInPlaceholder
		require.True(t, reply(text))
		require.False(t, reply(text), "the same reply twice is sent once")
		thread, err := b.store.Thread(ctx, c.ID)
		require.NoError(t, err)
		require.Len(t, thread, 1)
		m := thread[0]
		require.Equal(t, paidup.MessageOut, m.Direction)
		require.Equal(t, "sam", m.Actor)
		require.Equal(t, "Sign in here: [a sign-in link, in the email]", m.Text, "the link is kept nowhere")
		require.Equal(t, store.EmailQueued, m.Delivery)

		b.sender.InboundDomain = "reply.paidup.test"
		require.NoError(t, b.sender.Work(ctx, job(m.EmailID, 1, 10)))
		got := b.inbox(t, "ada@example.com")
		require.Len(t, got, 1)
		link := replyLink.FindStringSubmatch(got[0].text)
		require.NotNil(t, link, got[0].text)
		token := link[1]
		require.Equal(t, `"Test Community" <reply+`+token+`@reply.paidup.test>`, got[0].header.Get("Reply-To"))
		require.Contains(t, got[0].text, "To answer us, reply to this email, or write here (the link keeps working): "+link[0])
		require.Contains(t, got[0].html, `href="`+link[0]+`"`)
		require.Regexp(t, signInLink, got[0].text, "the sign-in link is made when it is sent")
		led, err := b.store.ReplyTokenCase(ctx, token)
		require.NoError(t, err)
		require.Equal(t, c.ID, led.ID)

		// Without an inbound domain, answers by email reach the support
		// address; the web link still leads back.
		b.sender.InboundDomain = ""
		b.clock.Advance(time.Minute)
		require.True(t, reply("A second word."))
		thread, err = b.store.Thread(ctx, c.ID)
		require.NoError(t, err)
		require.Len(t, thread, 2)
		require.Equal(t, store.EmailSent, thread[0].Delivery)
		require.NoError(t, b.sender.Work(ctx, job(thread[1].EmailID, 1, 10)))
		got = b.inbox(t, "ada@example.com")
		require.Len(t, got, 2)
		second := got[0] // newest first
		require.Equal(t, "<help@paidup.test>", second.header.Get("Reply-To"))
		link = replyLink.FindStringSubmatch(second.text)
		require.NotNil(t, link, second.text)
		require.NotEqual(t, token, link[1], "each reply its own token")
		led, err = b.store.ReplyTokenCase(ctx, link[1])
		require.NoError(t, err)
		require.Equal(t, c.ID, led.ID)
	})
}
