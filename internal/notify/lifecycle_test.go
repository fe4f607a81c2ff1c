package notify_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/queue"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

var (
	proMonthly = paidup.Plan{ID: "pro-monthly", Name: "Pro, monthly", Tier: "pro", PriceID: "price_pro_monthly",
		Amount: paidup.Money{Amount: 900, Currency: "usd"}, Interval: paidup.Monthly}
	supporterLifetime = paidup.Plan{ID: "supporter-lifetime", Name: "Supporter, lifetime", Tier: "supporter", PriceID: "price_supporter",
		Amount: paidup.Money{Amount: 4900, Currency: "usd"}, Interval: paidup.Once}
	community = paidup.Policy{
		Tiers:     []paidup.Tier{{ID: "supporter", Name: "Supporter", Rank: 10}, {ID: "pro", Name: "Pro", Rank: 20}},
		Plans:     []paidup.Plan{supporterLifetime, proMonthly},
		Lifecycle: paidup.Lifecycle{Grace: 7 * 24 * time.Hour},
	}
	cardLink = regexp.MustCompile(regexp.QuoteMeta(publicURL) + `/card/([A-Za-z0-9_-]{43})`)
)

// subscriber is a customer of the community's monthly plan, known to the
// processor as cus_ada.
func (b *testBundle) subscriber(t *testing.T) string {
	t.Helper()
	b.sender.Policy = &community
	var id string
	require.NoError(t, b.store.InTx(context.Background(), func(tx *store.Tx) error {
		var err error
		id, _, err = tx.MatchCustomer(context.Background(), "stripe", "cus_ada", "ada@example.com")
		return err
	}))
	return id
}

func (b *testBundle) queueLifecycle(t *testing.T, e notify.LifecycleEmail) {
	t.Helper()
	require.NoError(t, b.store.InTx(context.Background(), func(tx *store.Tx) error {
		return b.outbox.QueueLifecycle(context.Background(), tx, e)
	}))
}

// sendAll works every queued email once.
func (b *testBundle) sendAll(t *testing.T) {
	t.Helper()
	rows, err := b.db.Read.Query(`SELECT id FROM emails WHERE status = 'queued' ORDER BY queued_at, id`)
	require.NoError(t, err)
	var ids []string
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	rows.Close()
	for _, id := range ids {
		require.NoError(t, b.sender.Work(context.Background(), job(id, 1, 10)))
	}
}

// Each lifecycle email, sent through SMTP to the local mailbox, says the
// key facts in its text and HTML, and carries a card link made when it
// was sent.
func TestLifecycleEmails(t *testing.T) {
	graceEnds := t0.Add(7 * 24 * time.Hour) // 30 November 2026
	base := notify.LifecycleEmail{To: "ada@example.com", PlanID: "pro-monthly", Tier: "pro", Amount: proMonthly.Amount,
		GraceEnds: graceEnds, Processor: "stripe", ProcessorCustomerID: "cus_ada", Reference: "PU-4RW2-8HNM"}
	tests := []struct {
		name    string
		email   func(e notify.LifecycleEmail) notify.LifecycleEmail
		subject string
		text    []string
		html    []string
		card    bool
	}{
		{"payment failed", func(e notify.LifecycleEmail) notify.LifecycleEmail { e.Kind = notify.KindPaymentFailed; return e },
			"Your payment for Pro, monthly didn't go through",
			[]string{"The renewal of Pro, monthly for $9.00 did not go through", "you keep Pro until 30 November 2026",
				"update your card here:\r\n" + publicURL + "/card/", "We will try the payment again", "not be charged twice",
				"Test Community", "help@paidup.test", "PU-4RW2-8HNM"},
			[]string{"<b>Pro, monthly</b> for <b>$9.00</b>", "until <b>30 November 2026</b>", ">Update your card</a>", "mailto:help@paidup.test"},
			true},
		{"reminder", func(e notify.LifecycleEmail) notify.LifecycleEmail { e.Kind = notify.KindPaymentReminder; return e },
			"A reminder: please update your card for Pro, monthly",
			[]string{"You still have Pro until 30 November 2026", "If you have already done it, thank you", "Test Community", "help@paidup.test"},
			[]string{">Update your card</a>", "<b>30 November 2026</b>"}, true},
		{"final reminder", func(e notify.LifecycleEmail) notify.LifecycleEmail {
			e.Kind = notify.KindPaymentFinalReminder
			return e
		},
			"Your Pro access ends on 30 November 2026",
			[]string{"your access to Pro ends on 30 November 2026", "We still could not take the payment of $9.00 for Pro, monthly", "help@paidup.test"},
			[]string{"ends on <b>30 November 2026</b>", ">Update your card</a>"}, true},
		{"reminder with a configured template", func(e notify.LifecycleEmail) notify.LifecycleEmail {
			e.Kind, e.Template = notify.KindPaymentReminder, notify.KindPaymentFinalReminder
			return e
		}, "Your Pro access ends on 30 November 2026", []string{"ends on 30 November 2026"}, nil, true},
		{"grace ended, keeping a tier", func(e notify.LifecycleEmail) notify.LifecycleEmail {
			e.Kind, e.Keeps, e.GraceEnds = notify.KindGraceEnded, "supporter", time.Time{}
			return e
		}, "Your Pro access has ended",
			[]string{"your Pro access has ended", "You still have Supporter, for good.", "Pro comes back as soon as the payment goes through",
				publicURL + "/card/", "choose a plan at " + publicURL + "/"},
			[]string{"You still have <b>Supporter</b>, for good.", ">Update your card</a>"}, true},
		{"grace ended, nothing left", func(e notify.LifecycleEmail) notify.LifecycleEmail {
			e.Kind, e.GraceEnds = notify.KindGraceEnded, time.Time{}
			return e
		}, "Your Pro access has ended", []string{"You have no other plan with us at the moment."}, []string{"no other plan"}, true},
		{"welcome back", func(e notify.LifecycleEmail) notify.LifecycleEmail {
			e.Kind, e.GraceEnds, e.Until = notify.KindWelcomeBack, time.Time{}, t0.AddDate(0, 1, 0)
			return e
		}, "Welcome back: Pro is yours again",
			[]string{"Your payment of $9.00 for Pro, monthly went through, and Pro is back, paid until 23 December 2026.", "nothing else to do"},
			[]string{"<b>Pro</b> is back, paid until <b>23 December 2026</b>"}, false},
	}
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		customerID := b.subscriber(t)
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := tt.email(base)
				e.Key, e.CustomerID = "test:"+tt.name, customerID
				links := b.count(t, `SELECT count(*) FROM card_links`)
				b.queueLifecycle(t, e)
				require.Equal(t, links, b.count(t, `SELECT count(*) FROM card_links`), "a card link is made when the email is sent, not queued")
				b.sendAll(t)

				inbox := b.inbox(t, "ada@example.com")
				require.Len(t, inbox, i+1)
				m := inbox[0] // newest first
				require.Equal(t, tt.subject, m.subject)
				require.Equal(t, e.Kind, m.header.Get("X-Paidup-Email"))
				for _, want := range tt.text {
					require.Contains(t, m.text, want)
				}
				for _, want := range tt.html {
					require.Contains(t, m.html, want)
				}
				require.Contains(t, m.html, "Test Community")
				link := cardLink.FindStringSubmatch(m.text)
				if !tt.card {
					require.Nil(t, link)
					require.Equal(t, links, b.count(t, `SELECT count(*) FROM card_links`))
					return
				}
				require.NotNil(t, link, m.text)
				require.Contains(t, m.html, `href="`+link[0]+`"`, "the button carries the same link")
				require.Equal(t, links+1, b.count(t, `SELECT count(*) FROM card_links`))
				l, err := b.store.CardLink(ctx, link[1])
				require.NoError(t, err)
				require.Equal(t, store.CardLink{CustomerID: customerID, Processor: "stripe", ProcessorCustomerID: "cus_ada", ExpiresAt: l.ExpiresAt}, l)
				expires := b.clock.Now().Add(7 * 24 * time.Hour)
				if !e.GraceEnds.IsZero() {
					expires = e.GraceEnds.Add(7 * 24 * time.Hour)
				}
				require.Equal(t, expires.UTC(), l.ExpiresAt, "a card link works through the grace and a week more")
			})
		}
		require.Contains(t, b.timeline(t, customerID), "Payment failed email sent to ada@example.com")
		require.Contains(t, b.timeline(t, customerID), "Welcome back email queued to ada@example.com")

		// A card link expires.
		link := cardLink.FindStringSubmatch(b.inbox(t, "ada@example.com")[1].text)
		b.clock.Set(t0.Add(7*24*time.Hour + time.Hour))
		_, err := b.store.CardLink(ctx, link[1])
		require.Equal(t, paidup.EUNAUTHORIZED, paidup.ErrorCode(err))
		_, err = b.store.CardLink(ctx, "forged")
		require.Equal(t, paidup.EUNAUTHORIZED, paidup.ErrorCode(err))
	})
}

// Without a processor customer the email points to the account page,
// where a signed-in customer finds the card button.
func TestLifecycleEmailWithoutProcessorCustomer(t *testing.T) {
	b := setup(t, sqldb.SQLite)
	customerID := b.subscriber(t)
	b.queueLifecycle(t, notify.LifecycleEmail{Kind: notify.KindPaymentFailed, Key: "k", CustomerID: customerID, To: "ada@example.com",
		PlanID: "pro-monthly", Tier: "pro", Amount: proMonthly.Amount, GraceEnds: t0.Add(72 * time.Hour)})
	b.sendAll(t)
	m := b.inbox(t, "ada@example.com")[0]
	require.Contains(t, m.text, "update your card here:\r\n"+publicURL+"/account\r\n")
	require.Zero(t, b.count(t, `SELECT count(*) FROM card_links`))
}

// A lifecycle email exists once per key, however often and with whatever
// data it is queued again.
func TestLifecycleEmailOncePerKey(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		customerID := b.subscriber(t)
		e := notify.LifecycleEmail{Kind: notify.KindPaymentReminder, Key: "reminder:stripe:in_123:1", CustomerID: customerID,
			To: "ada@example.com", PlanID: "pro-monthly", Tier: "pro", Amount: proMonthly.Amount, GraceEnds: t0.Add(96 * time.Hour),
			Processor: "stripe", ProcessorCustomerID: "cus_ada", Reference: "in_123"}
		for i := range 3 {
			b.clock.Advance(time.Hour)
			e.Amount.Amount = int64(900 + i)
			b.queueLifecycle(t, e)
		}
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM emails`))
		require.Equal(t, "900", b.email(t, b.emails(t, customerID)[0].ID).Data["amount"], "the first one queued wins")
		inserter, err := queue.NewInserter(b.db)
		require.NoError(t, err)
		jobs, err := inserter.JobList(ctx, river.NewJobListParams().Kinds(notify.SendArgs{}.Kind()))
		require.NoError(t, err)
		require.Len(t, jobs.Jobs, 1, "one sending job")

		// Another key is another email; a worked-again job sends nothing more.
		e.Key = "reminder:stripe:in_123:2"
		b.queueLifecycle(t, e)
		require.Equal(t, 2, b.count(t, `SELECT count(*) FROM emails`))
		b.sendAll(t)
		id := b.emails(t, customerID)[0].ID
		require.NoError(t, b.sender.Work(ctx, job(id, 2, 10)))
		require.Len(t, b.inbox(t, "ada@example.com"), 2)
		require.Equal(t, 2, b.count(t, `SELECT count(*) FROM card_links`))

		// Mistakes are refused.
		for _, bad := range []notify.LifecycleEmail{
			{Kind: notify.KindConfirmation, Key: "x", CustomerID: customerID, To: "ada@example.com"},
			{Kind: notify.KindPaymentFailed, CustomerID: customerID, To: "ada@example.com"},
			{Kind: notify.KindPaymentFailed, Key: "y", To: "ada@example.com"},
		} {
			require.Error(t, b.store.InTx(ctx, func(tx *store.Tx) error { return b.outbox.QueueLifecycle(ctx, tx, bad) }))
		}
		b.outbox.Templates, err = notify.LoadTemplates("")
		require.NoError(t, err)
		err = b.store.InTx(ctx, func(tx *store.Tx) error {
			return b.outbox.QueueLifecycle(ctx, tx, notify.LifecycleEmail{Kind: notify.KindPaymentReminder, Template: "shouting",
				Key: "z", CustomerID: customerID, To: "ada@example.com"})
		})
		require.ErrorContains(t, err, `no email template named "shouting"`)
		require.Equal(t, 2, b.count(t, `SELECT count(*) FROM emails`))
	})
}

func (b *testBundle) emails(t *testing.T, customerID string) []store.Email {
	t.Helper()
	es, err := b.store.Emails(context.Background(), customerID)
	require.NoError(t, err)
	return es
}

// A chargeback opens one support case and tells on-call what happened and
// how to lift the block.
func TestAlertDispute(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		customerID := b.subscriber(t)
		d := notify.DisputeAlert{CustomerID: customerID, Email: "ada@example.com", Processor: "stripe", Revoked: 2, Reference: "PU-4D7N-8WQE",
			Purchase: "PU-7K3M-Q9XD", Suspended: []string{"supporter"},
			Dispute: paidup.ProcessorDispute{ID: "dp_123", ChargeID: "ch_123", PaymentID: "pi_123", CustomerID: "cus_ada",
				Amount: paidup.Money{Amount: 900, Currency: "usd"}, Status: "needs_response", Reason: "product_not_received"}}
		for range 2 {
			require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error { return b.outbox.AlertDispute(ctx, tx, d) }))
		}
		cases, err := b.store.OpenCases(ctx)
		require.NoError(t, err)
		require.Len(t, cases, 1)
		require.Equal(t, notify.CaseDispute, cases[0].Kind)
		require.Equal(t, "pi_123", cases[0].PaymentID)
		require.Equal(t, "Chargeback of $9.00 by ada@example.com (product not received): blocked; 2 grants ended, 1 grant suspended", cases[0].Summary)
		require.Equal(t, "PU-4D7N-8WQE", cases[0].Reference, "the case is found by the dispute's reference")
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM emails WHERE kind = 'dispute_alert'`))
		require.Equal(t, 1, countPrefix(b.timeline(t, customerID), "Support case opened: Chargeback of $9.00"))

		b.sendAll(t)
		inbox := b.inbox(t, onCall[0])
		require.Len(t, inbox, 1)
		m := inbox[0]
		require.Equal(t, "[paidup] Chargeback: $9.00 by ada@example.com; access on hold and blocked", m.subject)
		require.Equal(t, "auto-generated", m.header.Get("Auto-Submitted"))
		for _, want := range []string{"ada@example.com (" + customerID + ")", "Amount:    $9.00", "Reason:    product not received",
			"dp_123 (stripe), needs_response", "Payment:   pi_123", "Grants ended: 2", cases[0].ID,
			"Reference: PU-4D7N-8WQE (the customer's for this chargeback)", "Purchase:  PU-7K3M-Q9XD",
			"Suspended: Supporter, back when the block is lifted", "paidup block show --customer PU-4D7N-8WQE",
			`paidup block lift --customer ` + customerID + ` --reason "…" --actor NAME`,
			"Lifting gives back what the block suspended and emails the customer that the hold is lifted",
			"paidup case resolve --case " + cases[0].ID + " --actor NAME"} {
			require.Contains(t, m.text, want)
		}
		// Nothing it says is untrue: no command grants by hand, and the
		// dispute has a reference.
		for _, never := range []string{"grant access by hand", "Reference: none", "removed all"} {
			require.NotContains(t, m.text, never)
			require.NotContains(t, m.html, never)
		}
		require.Contains(t, m.html, `paidup block lift --customer `+customerID+` --reason &#34;…&#34; --actor NAME`)
		require.Empty(t, b.inbox(t, "ada@example.com"), "the customer is not emailed about it")
	})
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
	return dir
}

// The override directory replaces built-in templates file by file, adds
// new ones, and is refused at start when a file is broken, with the file
// and the reason.
func TestTemplateOverrides(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"payment_failed.txt": `{{define "subject"}}Card trouble at {{.Business}}{{end}}{{define "text"}}Hi! {{.PlanName}}: {{.CardURL}}{{end}}`,
		"confirmation.html":  `{{define "html"}}<p>Thanks for {{.PlanName}}</p>{{end}}`,
		"payment_nudge.txt":  `{{define "subject"}}Nudge: {{.TierName}} until {{.GraceEnds}}{{end}}{{define "text"}}{{.CardURL}}{{end}}`,
		"payment_nudge.html": `{{define "html"}}<a href="{{.CardURL}}">card</a>{{end}}`,
		"README.md":          "not a template",
	})
	ts, err := notify.LoadTemplates(dir)
	require.NoError(t, err)
	require.True(t, ts.Has("payment_nudge"))
	require.False(t, ts.Has("README"))
	var list []string
	for _, i := range ts.List() {
		list = append(list, i.Name+" "+i.Text+" "+i.HTML)
	}
	require.Equal(t, []string{
		"confirmation built in " + filepath.Join(dir, "confirmation.html"), "sign_in built in built in",
		"payment_failed " + filepath.Join(dir, "payment_failed.txt") + " built in", "payment_reminder built in built in",
		"payment_final_reminder built in built in", "grace_ended built in built in", "welcome_back built in built in",
		"alert built in built in", "dispute_alert built in built in",
		"case_opened built in built in", "case_answered built in built in",
		"cancellation_confirmed built in built in", "subscription_resumed built in built in", "renewal_receipt built in built in",
		"access_on_hold built in built in", "access_restored built in built in",
		"refund_issued built in built in",
		"subscription_ended built in built in", "oncall_alert built in built in", "oncall_digest built in built in",
		"help_access built in built in",
		"help_received built in built in",
		"case_reply built in built in",
		"payment_nudge " + filepath.Join(dir, "payment_nudge.txt") + " " + filepath.Join(dir, "payment_nudge.html"),
	}, list)

	s := &notify.Sender{Policy: &community, From: "Test Community <hello@paidup.test>", Business: "Test Community",
		SupportEmail: "help@paidup.test", PublicURL: publicURL, Templates: ts, Now: func() time.Time { return t0 }}
	require.NoError(t, s.CheckTemplates())
	m, err := s.Preview(notify.KindPaymentFailed)
	require.NoError(t, err)
	require.Equal(t, "Card trouble at Test Community", m.Subject)
	require.Equal(t, "Hi! Pro, monthly: "+publicURL+"/card/preview", m.Text)
	require.Contains(t, m.HTML, ">Update your card</a>", "the HTML stays built in")
	m, err = s.Preview("payment_nudge")
	require.NoError(t, err)
	require.Equal(t, "Nudge: Pro until 27 November 2026", m.Subject)

	// HTML overrides are escaped like the built-in ones.
	hostileSender := *s
	hostileSender.Policy = &paidup.Policy{Tiers: policy.Tiers, Plans: []paidup.Plan{hostilePlan}}
	m, err = hostileSender.Preview(notify.KindConfirmation)
	require.NoError(t, err)
	require.Contains(t, m.HTML, "&lt;script&gt;")
	require.NotContains(t, m.HTML, "<script>")

	broken := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"syntax", map[string]string{"payment_failed.txt": "{{define \"subject\"}}x{{end}}\n{{define \"text\"}}{{.PlanName{{end}}"},
			[]string{"payment_failed.txt: template: payment_failed.txt:2: "}},
		{"no subject", map[string]string{"welcome_back.txt": `{{define "text"}}x{{end}}`},
			[]string{"welcome_back.txt: defines no \"subject\" template"}},
		{"no html", map[string]string{"welcome_back.html": `<p>{{.PlanName}}</p>`},
			[]string{"welcome_back.html: defines no \"html\" template"}},
		{"new without html", map[string]string{"payment_nudge.txt": `{{define "subject"}}x{{end}}{{define "text"}}x{{end}}`},
			[]string{"payment_nudge.txt: there is no built-in template \"payment_nudge\", so payment_nudge.html is needed too"}},
		{"bad name", map[string]string{"Payment Failed.txt": `x`}, []string{"Payment Failed.txt: a template's name is lower-case"}},
	}
	for _, tt := range broken {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, tt.files)
			_, err := notify.LoadTemplates(dir)
			require.Error(t, err)
			for _, want := range tt.want {
				require.Contains(t, err.Error(), filepath.Join(dir, want))
			}
		})
	}

	// A template that parses but cannot render is refused at start too.
	dir = writeFiles(t, map[string]string{"grace_ended.txt": "{{define \"subject\"}}x{{end}}{{define \"text\"}}\n\n{{.Nope}}{{end}}"})
	ts, err = notify.LoadTemplates(dir)
	require.NoError(t, err)
	s.Templates = ts
	err = s.CheckTemplates()
	require.Error(t, err)
	require.Contains(t, err.Error(), filepath.Join(dir, "grace_ended.txt")+": template: grace_ended.txt:3:")
	require.Contains(t, err.Error(), "can't evaluate field Nope")
	_, err = notify.LoadTemplates(filepath.Join(dir, "missing"))
	require.Error(t, err)
}

// The sender sends with the override directory's templates.
func TestSendWithOverriddenTemplate(t *testing.T) {
	t.Parallel()
	b := setup(t, sqldb.SQLite)
	customerID := b.subscriber(t)
	ts, err := notify.LoadTemplates(writeFiles(t, map[string]string{
		"payment_failed.txt": `{{define "subject"}}Card trouble at {{.Business}}{{end}}{{define "text"}}Update it: {{.CardURL}}{{end}}`,
	}))
	require.NoError(t, err)
	b.sender.Templates = ts
	b.queueLifecycle(t, notify.LifecycleEmail{Kind: notify.KindPaymentFailed, Key: "k", CustomerID: customerID, To: "ada@example.com",
		PlanID: "pro-monthly", Tier: "pro", Amount: proMonthly.Amount, GraceEnds: t0.Add(72 * time.Hour), Processor: "stripe", ProcessorCustomerID: "cus_ada"})
	b.sendAll(t)
	m := b.inbox(t, "ada@example.com")[0]
	require.Equal(t, "Card trouble at Test Community", m.subject)
	require.Regexp(t, `^Update it: `+cardLink.String()+`$`, m.text)
	require.Contains(t, m.html, ">Update your card</a>")
	require.True(t, strings.HasPrefix(m.header.Get("Message-ID"), "<em_"))
}
