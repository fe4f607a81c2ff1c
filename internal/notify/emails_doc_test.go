package notify_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/config"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/standing"
	"github.com/paidup/paidup/internal/standing/standingtest"
)

var update = flag.Bool("update", false, "rewrite docs/emails.md from the built-in templates")

// emailDoc says, for docs/emails.md, when paidup sends an email and to whom.
type emailDoc struct {
	kind, to, when string
}

// emailDocs are every built-in email, in the order docs/emails.md lists
// them. A new email adds a row.
var emailDocs = []emailDoc{
	{notify.KindConfirmation, "the customer",
		"A payment is confirmed and its grant made (by the return page, the webhook or the reconciler, whichever is first): once per grant. " +
			"It says what the purchase gives and what happens next for the plan's kind: for a one-time plan that nothing more is charged " +
			"(and, for a term, the day access ends); for a monthly or yearly plan the day it renews, the amount, and how to cancel. " +
			"It is worded as the purchase stands when it is sent, not when it was queued: sent after a refund, a hold, a cancellation " +
			"or the term's end (the mail server was down for a while), its subject is \"Your payment for …\" and it says that state instead of \"You're in\"."},
	{notify.KindSignIn, "the customer", "The customer asks for a sign-in link on the account page."},
	{notify.KindPaymentFailed, "the subscriber", "A renewal's payment fails (the first reminder of `lifecycle.reminders`, by default at once)."},
	{notify.KindPaymentReminder, "the subscriber", "A reminder of `lifecycle.reminders` during the grace (by default on day 3)."},
	{notify.KindPaymentFinalReminder, "the subscriber", "The last reminder of `lifecycle.reminders` before the grace ends (by default on day 6)."},
	{notify.KindGraceEnded, "the subscriber", "The grace ends unpaid: the subscription's tier ends, and the email says what the customer keeps."},
	{notify.KindWelcomeBack, "the subscriber", "A late payment goes through after a renewal failed: the tier is back; the email says when it renews and how to cancel."},
	{notify.KindCancellation, "the subscriber",
		"A subscription is set to end with its paid period (from the account page or the processor's portal): once per cancellation. " +
			"It says until when the tier lasts, what the customer keeps after, and that it can be resumed until then."},
	{notify.KindResumed, "the subscriber", "That cancellation is undone before the period ends: once per resumption. It says when it renews and for how much."},
	{notify.KindHelpAccess, "whoever wrote in",
		"Someone sends the help form (`/help`: \"I was charged but have no access\") and, once paidup has asked the processor about their " +
			"address and reference and repaired what it could, the address has access: once per request. It says what they have, with a sign-in link. When the repair itself granted the purchase, " +
			"its confirmation is the answer and this email is not sent. " +
			"The page says the same whatever the address; the answer is only ever this email or the next."},
	{notify.KindHelpReceived, "whoever wrote in",
		"The same form, when there is still no access to turn on: a support case opens (kind `help_request`) and this email says a person " +
			"will answer within `support.reply_within`, that their money is safe and not to pay again, and gives the case number. Once per request, " +
			"at most `support.help_answers_per_day` a day to one address."},
	{notify.KindCaseReply, "the customer of a case",
		"A person replies about a support case from a reply template (`paidup case reply`): once per case and text. Its subject and body are the " +
			"template's, rendered when the person sends it (shown to them first with `--preview`), and the sign-in link it names is made when it is sent. " +
			"It ends with the way to answer into the case's thread: the reply page's link (`/reply/…`, which keeps working), and, with " +
			"`support.inbound_domain`, the case's reply address as its `Reply-To:`. " +
			"The reply templates and their fields are in [operations](operations.md#replying-to-a-customer); " +
			"the thread in [operations](operations.md#replies-and-the-customers-answers)."},
	{notify.KindSubscriptionEnded, "the subscriber",
		"A subscription ends at once, not by the customer's cancellation at the period's end: cancelled in the processor's dashboard or by its portal's " +
			"\"cancel now\", or by paidup when the customer subscribed again while it was failing (`lifecycle.double_buy: cancel`): once per subscription, " +
			"and not while the customer is on hold. It says what ended and when, what the customer keeps (the paid period, a tier from another " +
			"purchase, or nothing), and their reference."},
	{notify.KindRenewalReceipt, "the subscriber", "A renewal is paid, only with `lifecycle.renewal_receipts: true` (off by default, as the processor sends receipts): once per invoice."},
	{notify.KindAlert, "everyone in `oncall.emails`", "A support case opens: something paidup could not repair by itself."},
	{notify.KindDisputeAlert, "everyone in `oncall.emails`", "A chargeback: the case, what was done, and how to lift the block."},
	{notify.KindOnCallAlert, "the operator on call in `oncall.rotation` (and, escalated, the other)",
		"A critical alert fires, escalates after `oncall.escalate_after`, repeats every `oncall.repeat_every` until acknowledged, " +
			"or resolves by itself: once per notification, with the link that acknowledges it. With a rotation set, it replaces `alert` and `dispute_alert` " +
			"(see [operations](operations.md#on-call))."},
	{notify.KindOnCallDigest, "every operator in `oncall.rotation`", "Once a day at `oncall.digest_at`, if paidup raised warnings since the last one: each warning, one line."},
	{notify.KindCaseOpened, "the customer",
		"A support case opens that leaves the customer's purchase waiting on a person (a payment for an unknown plan or the wrong amount, " +
			"a blocked customer paying, a checkout the processor never confirmed): once per case. It promises an answer within `support.reply_within`, " +
			"as the purchase's status page does."},
	{notify.KindCaseAnswered, "the customer", "A person resolves that case with `paidup case resolve --answer`: once per case, with their answer."},
	{notify.KindAccessOnHold, "the customer",
		"A chargeback blocks the customer: once per dispute. It names the disputed payment (amount, day, plan), says access is on hold " +
			"from that day, which tiers the chargeback ended (`lifecycle.chargeback.ends`) and which the hold only suspends, and how to reach " +
			"a person, with the dispute's reference; it never names the bank's reason."},
	{notify.KindAccessRestored, "the customer",
		"A person lifts a chargeback's block with `paidup block lift`: once per lift. It says what the customer has now and until when, " +
			"and what the chargeback ended for good; one email names every chargeback whose hold the lift ends. Lifting resolves each chargeback's support case. A person's own block (`paidup block add`) is lifted without an email, as none was sent when it was made."},
	{notify.KindRefundIssued, "the customer",
		"A refund of one of the customer's payments succeeds at the processor, however paidup learns of it (its own refund of a duplicate purchase, " +
			"or one made in the processor's dashboard, of a one-time purchase or a renewal, before or after paidup granted it): once per refund, " +
			"under the refund's own reference, with what it means for their access (never granted, ended on a date, kept until a date or for good, " +
			"or on hold). The sample is a duplicate purchase's refund."},
}

var kindNames = map[standing.Kind]string{standing.ForGood: "one-time, for good", standing.ForTerm: "one-time, for a term",
	standing.Monthly: "monthly", standing.Yearly: "yearly"}

// docs/emails.md lists every email paidup sends, when and to whom, with
// its text as the built-in templates render it. It is generated: run
// go test ./internal/notify -run TestEmailsDoc -update after changing a
// template.
func TestEmailsDoc(t *testing.T) {
	cfg, err := config.Load("", config.Overrides{})
	require.NoError(t, err)
	s := &notify.Sender{Policy: &cfg.Policy, From: cfg.SMTP.From, Business: cfg.Business.Name, SupportEmail: cfg.Business.SupportEmail,
		ReplyWithin: cfg.Support.ReplyWithin, PublicURL: "https://shop.example.com", LinkTTL: cfg.Accounts.SignInLinkTTL.D(),
		Now: func() time.Time { return time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC) }}
	documented := map[string]bool{}
	var b strings.Builder
	b.WriteString(`# Emails

Every email paidup sends: when, to whom, and its text as the built-in
templates render it, with the sample data ` + "`paidup preview-email NAME`" + ` uses (the
example configuration's plans). Each customer email carries one reference a
person can quote and no processor ids; its Reply-To is
` + "`business.support_email`" + `, its From ` + "`smtp.from`" + ` (or ` + "`smtp.from_by_kind.KIND`" + `).
Each is queued in the transaction of the change that causes it, once (a
dedupe key), and sent by a job with retries; one that cannot be delivered
opens a support case. Templates can be replaced (see
[configuration](configuration.md), ` + "`lifecycle.templates`" + `).

This page is generated from the templates by
` + "`go test ./internal/notify -run TestEmailsDoc -update`" + `.

| email | to |
|---|---|
`)
	for _, d := range emailDocs {
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s |\n", d.kind, d.kind, d.to)
	}
	for _, d := range emailDocs {
		documented[d.kind] = true
		m, err := s.Preview(d.kind)
		require.NoError(t, err, d.kind)
		fmt.Fprintf(&b, "\n## %s\n\nTo %s. %s\n\nSubject: %s\n\n```text\n%s\n```\n", d.kind, d.to, d.when, m.Subject, strings.TrimSpace(m.Text))
		if d.kind == notify.KindConfirmation {
			b.WriteString("\n\"What you have\" and the paragraph after the sign-in link, by plan kind (the status page says the same):\n\n")
			for _, k := range standing.Kinds {
				state := standing.In
				if k.Renews() {
					state = standing.Renewing
				}
				st := standingtest.Standing(k, state)
				fmt.Fprintf(&b, "- %s: \"What you have: %s.\" … \"%s\"\n", kindNames[k], st.Access(), st.Next())
			}
		}
	}
	for _, kind := range notify.BuiltinTemplates() {
		require.True(t, documented[kind], "email %s is not in emailDocs, so not in docs/emails.md", kind)
	}
	path := filepath.Join("..", "..", "docs", "emails.md")
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	}
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, b.String(), string(got), "docs/emails.md is not what the templates say: run go test ./internal/notify -run TestEmailsDoc -update")
}
