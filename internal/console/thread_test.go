package console_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/inbound"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

// The case page shows the case's thread in its Reply section, oldest
// first: each reply, to whom, by whom and how its email stands, and the
// customer's answers and how they came, escaped.
func TestCasePageShowsTheThread(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		caseID := b.caseOf(t, b.customer(t, 0))
		session := b.signIn(t)
		page := "/console/cases/" + caseID
		body := b.do(t, request{method: "GET", path: page, cookie: session}).Body.String()
		require.Contains(t, body, "Nothing sent to the customer or answered yet.")

		w := b.do(t, request{method: "POST", path: page + "/reply/preview", form: url.Values{"template": {"access_restored"}}, cookie: session})
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		w = b.do(t, request{method: "POST", path: page + "/reply", form: url.Values{"request": {form(t, w.Body.String(), page+"/reply")},
			"template": {"access_restored"}}, cookie: session})
		require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())

		// The customer follows the reply's link and answers.
		var token string
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) (err error) {
			token, err = tx.CreateReplyToken(ctx, caseID, "em_sent")
			return err
		}))
		b.advance(time.Minute)
		threads := &inbound.Threads{Store: b.store, Outbox: &notify.Outbox{}, Logger: slog.New(slog.DiscardHandler)}
		taken, err := threads.Take(ctx, inbound.Answer{Token: token, Via: paidup.ViaWeb, Text: "Thanks " + hostile, MessageID: "web:1"})
		require.NoError(t, err)
		require.Equal(t, inbound.Threaded, taken.Outcome)

		body = b.follow(t, w, session)
		reply := body[strings.Index(body, `id="reply"`):]
		require.NotContains(t, reply, "Nothing sent to the customer")
		sent := strings.Index(reply, "Your access is back (PU-7K3M-Q9XD)")
		answered := strings.Index(reply, "the customer answered")
		require.Positive(t, sent)
		require.Greater(t, answered, sent, "oldest first")
		require.Contains(t, reply, ", by ada@example.com")
		require.Contains(t, reply, `<span class="tag">queued</span>`, "how the reply's email stands")
		require.Contains(t, reply, "on the reply page")
		require.Contains(t, reply, "Thanks &lt;script&gt;")
		requireEscaped(t, body)
	})
}
