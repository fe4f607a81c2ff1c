package help_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/help"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sandbox/sandboxtest"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/standing/standingtest"
	"github.com/paidup/paidup/internal/store"
)

type bundle struct {
	store   *store.Store
	clock   *sandboxtest.Clock
	worker  *help.Worker
	recover []string // who Recover was asked about
	// recoverErr, if set, is Recover's answer.
	recoverErr error
}

func setup(t *testing.T, engine sqldb.Engine) *bundle {
	t.Helper()
	ctx := context.Background()
	db := sqldbtest.Open(t, engine)
	_, err := db.Migrate(ctx, store.Migrations)
	require.NoError(t, err)
	_, err = queue.Migrate(ctx, db)
	require.NoError(t, err)
	b := &bundle{clock: sandboxtest.NewClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))}
	b.store, err = store.New(db, b.clock.Now)
	require.NoError(t, err)
	b.worker = &help.Worker{Store: b.store, Policy: standingtest.Policy(), Outbox: &notify.Outbox{OnCall: []string{"oncall@example.com"}},
		Logger: slog.New(slog.DiscardHandler), Recover: func(_ context.Context, who string) error {
			b.recover = append(b.recover, who)
			return b.recoverErr
		}}
	return b
}

// ask runs a help request as its job would.
func (b *bundle) ask(t *testing.T, a help.RequestArgs) {
	t.Helper()
	a, err := a.Tidy()
	require.NoError(t, err)
	require.NoError(t, b.worker.Work(context.Background(), &river.Job[help.RequestArgs]{JobRow: &rivertype.JobRow{Attempt: 1}, Args: a}))
}

// answers lists the help answers queued to an address: kind and data.
func (b *bundle) answers(t *testing.T, to string) []store.Email {
	t.Helper()
	rows, err := b.store.DB().Read.Query(`SELECT id FROM emails WHERE to_address = $1 AND kind IN ($2, $3) ORDER BY queued_at, id`,
		to, notify.KindHelpAccess, notify.KindHelpReceived)
	require.NoError(t, err)
	defer rows.Close()
	var out []store.Email
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		e, err := b.store.Email(context.Background(), id)
		require.NoError(t, err)
		out = append(out, e)
	}
	return out
}

func (b *bundle) customer(t *testing.T, email string, grant bool) string {
	t.Helper()
	ctx := context.Background()
	var id string
	require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if id, _, err = tx.MatchCustomer(ctx, "stripe", "", email); err != nil || !grant {
			return err
		}
		_, _, err = tx.InsertGrant(ctx, paidup.Grant{CustomerID: id, Tier: "pro", PlanID: "pro-annual", Source: paidup.SourcePurchase,
			SourceRef: "stripe:pi_" + email, Start: tx.Now(), End: tx.Now().AddDate(1, 0, 0)})
		return err
	}))
	return id
}

// Whoever writes in is answered by email, once per request: a sign-in
// link when they have access (after paidup asked the processor about
// them), else a support case and an acknowledgement; never more than the
// day's answers to one address.
func TestHelpRequests(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		ada := b.customer(t, "ada@example.com", true)

		// Access: a sign-in link, after asking about the address and the
		// reference given.
		req := help.RequestArgs{ID: "hr_1", Email: " Ada@Example.com ", Reference: "pu-7k3m-q9xd", Amount: "$249", Date: "yesterday"}
		b.ask(t, req)
		b.ask(t, req) // the job again: once per request
		require.Equal(t, []string{"ada@example.com", "PU-7K3M-Q9XD"}, b.recover[:2])
		got := b.answers(t, "ada@example.com")
		require.Len(t, got, 1)
		require.Equal(t, notify.KindHelpAccess, got[0].Kind)
		require.Equal(t, ada, got[0].CustomerID)
		require.Equal(t, "Pro, until 23 November 2027", got[0].Data["access"])
		cases, err := b.store.OpenCases(ctx)
		require.NoError(t, err)
		require.Empty(t, cases, "nothing for a person when access is there")

		// No customer at all: a case, and an acknowledgement naming it.
		b.ask(t, help.RequestArgs{ID: "hr_2", Email: "bo@example.com", Message: `I paid <b>twice</b> "help"`})
		got = b.answers(t, "bo@example.com")
		require.Len(t, got, 1)
		require.Equal(t, notify.KindHelpReceived, got[0].Kind)
		require.Empty(t, got[0].CustomerID)
		cases, err = b.store.OpenCases(ctx)
		require.NoError(t, err)
		require.Len(t, cases, 1)
		require.Equal(t, paidup.CaseHelpRequest, cases[0].Kind)
		require.Equal(t, cases[0].ID, got[0].Data["case"])
		require.Contains(t, cases[0].Summary, `"I paid <b>twice</b> \"help\""`, "their words, quoted")
		require.Contains(t, cases[0].Summary, "The processor shows nothing paidup could grant")

		// The same address again the same day: the same case; answers up
		// to the day's limit, then none.
		for i := 3; i <= 5; i++ {
			b.ask(t, help.RequestArgs{ID: "hr_" + string(rune('0'+i)), Email: "bo@example.com"})
		}
		require.Len(t, b.answers(t, "bo@example.com"), help.DefaultAnswersPerDay)
		cases, err = b.store.OpenCases(ctx)
		require.NoError(t, err)
		require.Len(t, cases, 1, "one case a day per address")
		b.clock.Advance(24 * time.Hour)
		b.ask(t, help.RequestArgs{ID: "hr_6", Email: "bo@example.com"})
		require.Len(t, b.answers(t, "bo@example.com"), help.DefaultAnswersPerDay+1, "a new day, a new answer")

		// Blocked, or the processor unreachable: a person looks.
		cy := b.customer(t, "cy@example.com", true)
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			_, _, err := tx.AddBlock(ctx, paidup.Block{CustomerID: cy, Source: paidup.BlockStaff, Reason: "looking into it"}, "")
			return err
		}))
		b.recoverErr = errors.New("processor down")
		b.ask(t, help.RequestArgs{ID: "hr_7", Email: "cy@example.com"})
		got = b.answers(t, "cy@example.com")
		require.Len(t, got, 1)
		require.Equal(t, notify.KindHelpReceived, got[0].Kind, "blocked: no sign-in link, a person answers")
		b.ask(t, help.RequestArgs{ID: "hr_8", Email: "dee@example.com"})
		cases, err = b.store.OpenCases(ctx)
		require.NoError(t, err)
		var dee []string
		for _, c := range cases {
			if strings.HasPrefix(c.Summary, "dee@example.com ") {
				dee = append(dee, c.Summary)
			}
		}
		require.Len(t, dee, 1)
		require.Contains(t, dee[0], "could not ask the processor about them")

		// The repair itself grants: the purchase's confirmation answers,
		// not a second email.
		b.recoverErr = nil
		eve := b.customer(t, "eve@example.com", false)
		b.worker.Recover = func(ctx context.Context, who string) error {
			return b.store.InTx(ctx, func(tx *store.Tx) error {
				_, _, err := tx.InsertGrant(ctx, paidup.Grant{CustomerID: eve, Tier: "pro", PlanID: "pro-annual", Source: paidup.SourcePurchase,
					SourceRef: "stripe:pi_eve", Start: tx.Now(), End: tx.Now().AddDate(1, 0, 0)})
				return err
			})
		}
		b.ask(t, help.RequestArgs{ID: "hr_9", Email: "eve@example.com"})
		require.Empty(t, b.answers(t, "eve@example.com"))
		timeline, err := b.store.Timeline(ctx, eve, "")
		require.NoError(t, err)
		require.Contains(t, timeline[len(timeline)-1].Summary, "the confirmation is the answer")
		cases, err = b.store.OpenCases(ctx)
		require.NoError(t, err)

		// On-call hears of each case.
		var alerts int
		require.NoError(t, b.store.DB().Read.QueryRow(`SELECT count(*) FROM emails WHERE kind = $1`, notify.KindAlert).Scan(&alerts))
		require.Equal(t, len(cases), alerts)
	})
}

// What the form takes is tidied and bounded; a bad address is refused.
func TestHelpRequestTidy(t *testing.T) {
	_, err := help.RequestArgs{Email: "not an address"}.Tidy()
	require.Equal(t, paidup.EINVALID, paidup.ErrorCode(err))
	long := make([]rune, 5000)
	for i := range long {
		long[i] = 'é'
	}
	a, err := help.RequestArgs{Email: "a@example.com", Message: string(long), Amount: string(long) + "\xff"}.Tidy()
	require.NoError(t, err)
	require.Len(t, []rune(a.Message), help.MaxMessage)
	require.Len(t, []rune(a.Amount), 100)
}
