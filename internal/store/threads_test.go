package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

// A case's reply tokens lead to it for good, in any case, and only its;
// each message is taken once; the thread reads oldest first across the
// cases that carry it on, with each reply's delivery; and the addresses
// its customer is known by are those its replies went to and its
// customers' and checkouts'.
func TestCaseThread(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		ada := b.newCustomer(t, "ada@example.com")
		_, _, err := b.store.CreateCheckoutAttempt(ctx, attempt("PU-AAAA-0001"))
		require.NoError(t, err)
		inTx := func(fn func(tx *store.Tx) error) {
			t.Helper()
			require.NoError(t, b.store.InTx(ctx, fn))
			b.now = b.now.Add(time.Minute)
		}
		var first, follow paidup.SupportCase
		var token string
		inTx(func(tx *store.Tx) (err error) {
			first, _, err = tx.OpenCase(ctx, paidup.SupportCase{DedupeKey: "help:1", CustomerID: ada, Reference: "PU-AAAA-0001",
				Kind: paidup.CaseHelpRequest, Summary: "wrote in"})
			if err != nil {
				return err
			}
			em, _, err := tx.QueueEmail(ctx, store.Email{DedupeKey: "case_reply:1", CustomerID: ada, Kind: "case_reply", To: "ada@example.com"})
			if err != nil {
				return err
			}
			if _, _, err = tx.AddCaseMessage(ctx, paidup.CaseMessage{CaseID: first.ID, Direction: paidup.MessageOut, Via: paidup.ViaEmail,
				To: "ada.old@example.com", Subject: "Your access is ready", Text: "Hello", MessageID: em.ID, EmailID: em.ID, Actor: "sam"}); err != nil {
				return err
			}
			token, err = tx.CreateReplyToken(ctx, first.ID, em.ID)
			return err
		})
		require.Len(t, token, 26)
		require.Equal(t, strings.ToLower(token), token, "a token survives an address folded to lower case")
		for _, spelled := range []string{token, strings.ToUpper(token)} {
			c, err := b.store.ReplyTokenCase(ctx, spelled)
			require.NoError(t, err)
			require.Equal(t, first.ID, c.ID)
		}
		for _, bad := range []string{"", "short", strings.Repeat("a", 26), token + "a", token[:25] + "!", "'; DROP TABLE case_messages; --"} {
			_, err := b.store.ReplyTokenCase(ctx, bad)
			require.Equal(t, paidup.ENOTFOUND, paidup.ErrorCode(err), "%q", bad)
		}
		var plain int
		require.NoError(t, b.db.Read.QueryRowContext(ctx, `SELECT count(*) FROM case_reply_tokens WHERE token_hash = $1`, token).Scan(&plain))
		require.Zero(t, plain, "only the token's hash is kept")

		answer := paidup.CaseMessage{CaseID: first.ID, Direction: paidup.MessageIn, Via: paidup.ViaEmail, From: "ada@example.com",
			Subject: "Re: Your access is ready", Text: "Thanks!", MessageID: "m1@mail.example"}
		var added, again, taken bool
		inTx(func(tx *store.Tx) (err error) {
			if _, added, err = tx.AddCaseMessage(ctx, answer); err != nil {
				return err
			}
			taken, err = tx.CaseMessageTaken(ctx, answer.MessageID)
			return err
		})
		require.True(t, added)
		require.True(t, taken)
		inTx(func(tx *store.Tx) (err error) {
			twice := answer
			twice.Text = "Thanks again!"
			_, again, err = tx.AddCaseMessage(ctx, twice)
			return err
		})
		require.False(t, again, "the same Message-ID twice is taken once")

		// Resolved, then answered: a case follows it, and the thread
		// reads across both, from either.
		inTx(func(tx *store.Tx) error {
			_, _, err := tx.ResolveCase(ctx, first.ID, "sam", "done")
			return err
		})
		inTx(func(tx *store.Tx) (err error) {
			follow, _, err = tx.OpenCase(ctx, paidup.SupportCase{DedupeKey: "follow_up:" + first.ID, CustomerID: ada, Kind: paidup.CaseFollowUp,
				Summary: "answered after", Follows: first.ID})
			if err != nil {
				return err
			}
			_, _, err = tx.AddCaseMessage(ctx, paidup.CaseMessage{CaseID: follow.ID, Direction: paidup.MessageIn, Via: paidup.ViaWeb,
				Text: "It stopped working", MessageID: "web:1"})
			return err
		})
		c, err := b.store.Case(ctx, follow.ID)
		require.NoError(t, err)
		require.Equal(t, first.ID, c.Follows)
		for _, id := range []string{first.ID, follow.ID} {
			thread, err := b.store.Thread(ctx, id)
			require.NoError(t, err)
			var texts []string
			for _, m := range thread {
				texts = append(texts, m.Text)
			}
			require.Equal(t, []string{"Hello", "Thanks!", "It stopped working"}, texts, "from %s", id)
			require.Equal(t, store.EmailQueued, thread[0].Delivery, "a reply's delivery")
			require.Equal(t, "sam", thread[0].Actor)
			require.Empty(t, thread[1].Delivery)
		}
		var last paidup.SupportCase
		var addrs []string
		inTx(func(tx *store.Tx) (err error) {
			if last, err = tx.LastInThread(ctx, first); err != nil {
				return err
			}
			addrs, err = tx.ThreadAddresses(ctx, follow.ID)
			return err
		})
		require.Equal(t, follow.ID, last.ID)
		require.ElementsMatch(t, []string{"ada@example.com", "ada.old@example.com"}, addrs)
		thread, err := b.store.Thread(ctx, "sc_nope")
		require.NoError(t, err)
		require.Empty(t, thread)
	})
}

// Replies sent before the thread existed are in it once the migration
// has run, their sign-in link written in words: their emails said what
// they said.
func TestMigrationThreadsTheRepliesSent(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		db := sqldbtest.Open(t, engine)
		old := store.Migrations
		old.SQLite, old.Postgres = upTo(t, old.SQLite, "00021"), upTo(t, old.Postgres, "00021")
		_, err := db.Migrate(ctx, old)
		require.NoError(t, err)
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		for _, q := range []string{
			`INSERT INTO customers (id, email, created_at) VALUES ('cu_1', 'ada@example.com', $1)`,
			`INSERT INTO support_cases (id, dedupe_key, customer_id, kind, summary, status, created_at) VALUES ('sc_1', 'help:1', 'cu_1', 'help_request', 's', 'open', $1)`,
			`INSERT INTO emails (id, dedupe_key, customer_id, kind, to_address, data, status, queued_at) VALUES ('em_1', 'case_reply:sc_1:x', 'cu_1', 'case_reply',
				'ada@example.com', '{"case":"sc_1","subject":"Your access is ready","text":"Sign in: \u0000sign-in-link\u0000","markdown":"\u0000sign-in-link\u0000"}', 'sent', $1)`,
			`INSERT INTO emails (id, dedupe_key, customer_id, kind, to_address, data, status, queued_at) VALUES ('em_2', 'case_reply:sc_gone:x', 'cu_1', 'case_reply',
				'ada@example.com', '{"case":"sc_gone","subject":"s","text":"t"}', 'sent', $1)`,
			`INSERT INTO emails (id, dedupe_key, customer_id, kind, to_address, data, status, queued_at) VALUES ('em_3', 'sign_in:1', 'cu_1', 'sign_in',
				'ada@example.com', '{"case":"sc_1"}', 'sent', $1)`,
		} {
			_, err := db.Write.ExecContext(ctx, q, at)
			require.NoError(t, err)
		}
		_, err = db.Migrate(ctx, store.Migrations)
		require.NoError(t, err)
		st, err := store.New(db, func() time.Time { return at })
		require.NoError(t, err)
		thread, err := st.Thread(ctx, "sc_1")
		require.NoError(t, err)
		require.Len(t, thread, 1, "the case's reply, not another case's nor another kind of email")
		m := thread[0]
		require.Equal(t, paidup.MessageOut, m.Direction)
		require.Equal(t, "Your access is ready", m.Subject)
		require.Equal(t, "Sign in: [a sign-in link, in the email]", m.Text)
		require.Equal(t, "em_1", m.EmailID)
		require.Equal(t, store.EmailSent, m.Delivery)
		require.Equal(t, at, m.At)
	})
}
