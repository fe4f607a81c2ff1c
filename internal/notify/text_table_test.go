package notify_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/checkout"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/replies"
	"github.com/paidup/paidup/internal/standing"
	"github.com/paidup/paidup/internal/standing/standingtest"
	"github.com/paidup/paidup/internal/store"
)

// customerEmail is a built-in email a customer gets: the states it is sent
// in, and its queued data for a purchase of that standing.
type customerEmail struct {
	kind   string
	states []standing.State
	data   func(st standing.Standing) map[string]string
	// forbiddenOnly: the email does not describe the purchase (a sign-in
	// link; a person's answer, in their words), so only what it must not
	// say is checked.
	forbiddenOnly bool
	// sentAsItStands: the email is worded from how its purchase stands
	// when it is sent, which may have changed since it was queued.
	sentAsItStands bool
}

const rfc = time.RFC3339

// planData is the data every email about a purchase carries.
func planData(st standing.Standing) map[string]string {
	p := standingtest.Plans[st.Kind]
	return map[string]string{"reference": "PU-7K3M-Q9XD", "plan": p.ID, "tier": p.Tier,
		"amount": strconv.FormatInt(p.Amount.Amount, 10), "currency": p.Amount.Currency}
}

// lifecycleData is a lifecycle email's data: the card's customer, and
// the grace's end while in grace.
func lifecycleData(st standing.Standing) map[string]string {
	d := planData(st)
	d["processor"], d["processor_customer"] = "stripe", "cus_Test1234"
	if st.State == standing.InGrace {
		d["grace_ends"] = st.Until.Format(rfc)
	}
	if st.State == standing.Renewing {
		d["until"] = st.Renews.Format(rfc)
	}
	return d
}

// customerEmails are the built-in emails to customers. A new email adds a
// row; TestEveryCustomerEmailIsInTheTable fails until it does.
var customerEmails = []customerEmail{
	// A confirmation queued when the payment was confirmed may be sent
	// after a refund, a hold, a cancellation or the term's end.
	{kind: notify.KindConfirmation, sentAsItStands: true, states: []standing.State{standing.In, standing.Renewing, standing.CancelledUntil,
		standing.InGrace, standing.Ended, standing.Refunded, standing.OnHold}, data: func(st standing.Standing) map[string]string {
		d := planData(st)
		switch {
		case !st.Until.IsZero():
			d["until"] = st.Until.Format(rfc)
		case !st.Renews.IsZero():
			d["until"] = st.Renews.Add(checkout.SubscriptionLeeway).Format(rfc)
			d["period_end"] = st.Renews.Format(rfc)
		}
		return d
	}},
	{kind: notify.KindSignIn, states: []standing.State{standing.In, standing.Renewing}, data: func(standing.Standing) map[string]string { return map[string]string{} }, forbiddenOnly: true},
	{kind: notify.KindPaymentFailed, states: []standing.State{standing.InGrace}, data: lifecycleData},
	{kind: notify.KindPaymentReminder, states: []standing.State{standing.InGrace}, data: lifecycleData},
	{kind: notify.KindPaymentFinalReminder, states: []standing.State{standing.InGrace}, data: lifecycleData},
	{kind: notify.KindGraceEnded, states: []standing.State{standing.Ended}, data: lifecycleData},
	{kind: notify.KindWelcomeBack, states: []standing.State{standing.Renewing}, data: lifecycleData},
	{kind: notify.KindCancellation, states: []standing.State{standing.CancelledUntil}, data: func(st standing.Standing) map[string]string {
		d := lifecycleData(st)
		d["until"] = st.Until.Format(rfc)
		return d
	}},
	{kind: notify.KindResumed, states: []standing.State{standing.Renewing}, data: lifecycleData},
	// Ended: ended at once, access with it; CancelledUntil: ended at once,
	// the paid period kept.
	{kind: notify.KindSubscriptionEnded, states: []standing.State{standing.Ended, standing.CancelledUntil}, data: func(st standing.Standing) map[string]string {
		d := lifecycleData(st)
		d["ended"] = standingtest.Now.Format(rfc)
		if st.State == standing.CancelledUntil {
			d["until"] = st.Until.Format(rfc)
		}
		return d
	}},
	{kind: notify.KindRenewalReceipt, states: []standing.State{standing.Renewing}, data: func(st standing.Standing) map[string]string {
		d := lifecycleData(st)
		d["renews"] = "true"
		return d
	}},
	{kind: notify.KindCaseOpened, states: []standing.State{standing.NeedsPerson}, data: func(st standing.Standing) map[string]string {
		d := planData(st)
		d["case"], d["kind"], d["paid"] = "sc_test", paidup.CaseAmountMismatch, "yes"
		return d
	}},
	{kind: notify.KindCaseAnswered, states: []standing.State{standing.In, standing.Renewing}, data: func(st standing.Standing) map[string]string {
		d := planData(st)
		d["case"], d["kind"], d["answer"] = "sc_test", paidup.CaseAmountMismatch, "We have granted your access as you bought it."
		return d
	}, forbiddenOnly: true},
	{kind: notify.KindAccessOnHold, states: []standing.State{standing.OnHold}, data: func(st standing.Standing) map[string]string {
		d := planData(st)
		d["paid_at"], d["since"] = standingtest.Now.AddDate(0, 0, -20).Format(rfc), standingtest.Now.Format(rfc)
		d["ended"], d["kept"] = d["tier"], `[{"tier":"member"}]`
		return d
	}},
	{kind: notify.KindAccessRestored, states: []standing.State{standing.In, standing.Renewing}, data: func(st standing.Standing) map[string]string {
		d := map[string]string{"reference": "PU-7K3M-Q9XD", "lifted": standingtest.Now.Format(rfc), "tier": standingtest.Plans[st.Kind].Tier}
		if !st.Until.IsZero() {
			d["until"] = st.Until.Format(rfc)
		}
		if !st.Renews.IsZero() {
			d["until"], d["renews"] = st.Renews.Add(checkout.SubscriptionLeeway).Format(rfc), st.Renews.Format(rfc)
		}
		return d
	}},
	// Refunded: the refund ended the access; In: a duplicate purchase
	// refunded, and the customer keeps what they had.
	{kind: notify.KindRefundIssued, states: []standing.State{standing.Refunded, standing.In}, data: func(st standing.Standing) map[string]string {
		d := planData(st)
		d["paid"], d["full"] = d["amount"], "1"
		if st.State == standing.Refunded {
			d["ended"] = standingtest.Now.Format(rfc)
		}
		if st.State == standing.In {
			d["duplicate"], d["keeps"] = "1", d["tier"]
			if !st.Until.IsZero() {
				d["keeps_until"] = st.Until.Format(rfc)
			}
		}
		return d
	}},
	// The help form's answers describe no purchase (the access is the
	// customer's whole access; the acknowledgement found nothing to turn
	// on), so only what they must not say is checked.
	{kind: notify.KindHelpAccess, states: []standing.State{standing.In, standing.Renewing}, forbiddenOnly: true,
		data: func(st standing.Standing) map[string]string { return map[string]string{"access": st.Access()} }},
	{kind: notify.KindCaseReply, states: []standing.State{standing.In, standing.Renewing}, forbiddenOnly: true,
		data: func(st standing.Standing) map[string]string {
			return map[string]string{"case": "sc_test", "subject": "Your access is ready (PU-7K3M-Q9XD)",
				"text": "Hello,\n\nYou have Pro now: " + replies.SignInPlaceholder + "\n", "markdown": "Hello,\n\nYou have **Pro** now: " + replies.SignInPlaceholder + "\n"}
		}},
	{kind: notify.KindHelpReceived, states: []standing.State{standing.NeedsPerson, standing.Confirming}, forbiddenOnly: true,
		data: func(standing.Standing) map[string]string { return map[string]string{"case": "sc_test"} }},
}

// onCallEmails go to whoever is on call, not to customers: they name the
// processor's objects on purpose.
var onCallEmails = []string{notify.KindAlert, notify.KindDisputeAlert, notify.KindOnCallAlert, notify.KindOnCallDigest}

// Every built-in email a customer gets, rendered for every plan kind and
// state it is sent in, keeps the table of what customers may be told.
func TestCustomerEmailsKeepTheTable(t *testing.T) {
	s := &notify.Sender{Policy: standingtest.Policy(), From: "Test Community <hello@paidup.test>", Business: "Test Community",
		SupportEmail: "help@paidup.test", ReplyWithin: standingtest.ReplyWithin, PublicURL: publicURL, LinkTTL: 24 * time.Hour,
		Now: func() time.Time { return standingtest.Now }}
	checked := 0
	for _, ce := range customerEmails {
		standingtest.Each(func(k standing.Kind, state standing.State) {
			if !slices.Contains(ce.states, state) {
				return
			}
			st := standingtest.Standing(k, state)
			e := store.Email{ID: "em_test", CustomerID: "cu_test", Kind: ce.kind, To: "ada@example.com", Data: ce.data(st)}
			compose := s.Compose
			if ce.sentAsItStands {
				compose = func(e store.Email) (*notify.Message, error) { return s.ComposeNow(e, st) }
			}
			m, err := compose(e)
			require.NoError(t, err, ce.kind)
			name := ce.kind + " (" + string(k) + ", " + string(state) + ")"
			check := standingtest.Check
			if ce.forbiddenOnly {
				check = standingtest.CheckForbidden
			}
			standingtest.CheckForbidden(t, name+" subject", m.Subject, st)
			check(t, name+" text", m.Text, st)
			check(t, name+" html", standingtest.Text(m.HTML), st)
			checked++
		})
	}
	require.Greater(t, checked, 20)
}

// A built-in kind is either a customer's email, in the table above, or
// on-call's.
func TestEveryCustomerEmailIsInTheTable(t *testing.T) {
	for _, kind := range notify.BuiltinTemplates() {
		inTable := slices.ContainsFunc(customerEmails, func(ce customerEmail) bool { return ce.kind == kind })
		require.True(t, inTable || slices.Contains(onCallEmails, kind), "email %s is in neither customerEmails nor onCallEmails", kind)
	}
}

// Every built-in email's replies go to support, whoever it is from.
func TestEveryEmailRepliesToSupport(t *testing.T) {
	s := &notify.Sender{Policy: standingtest.Policy(), From: "Test Community <hello@paidup.test>", Business: "Test Community",
		SupportEmail: "Support <help@paidup.test>", PublicURL: publicURL, LinkTTL: 24 * time.Hour,
		FromByKind: map[string]string{notify.KindAlert: "paidup <oncall@paidup.test>"}}
	for _, kind := range notify.BuiltinTemplates() {
		m, err := s.Preview(kind)
		require.NoError(t, err, kind)
		require.Equal(t, `"Support" <help@paidup.test>`, m.ReplyTo, kind)
		want := "<hello@paidup.test>"
		if kind == notify.KindAlert {
			want = "<oncall@paidup.test>"
		}
		require.Contains(t, m.From, want, kind)
		require.Contains(t, string(m.Bytes()), "Reply-To: \"Support\" <help@paidup.test>\r\n", kind)
	}
}
