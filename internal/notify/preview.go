package notify

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/replies"
	"github.com/paidup/paidup/internal/store"
)

// Preview renders the template name as it would be sent, with realistic
// sample data from the configured plans: a customer whose renewal failed,
// who bought the first plan, and so on.
func (s *Sender) Preview(name string) (*Message, error) {
	ts := s.templates()
	et := ts.byName[name]
	if et == nil {
		return nil, fmt.Errorf("no email template named %q", name)
	}
	if s.Policy == nil {
		cp := *s
		cp.Policy = &paidup.Policy{}
		s = &cp
	}
	e, l := s.sample(et.kind)
	if name != et.kind {
		e.Data["template"] = name
	}
	return s.compose(context.Background(), e, l)
}

// CheckTemplates renders every template with sample data, so that a
// template that cannot render is refused at start, not when a customer
// is waiting for it.
func (s *Sender) CheckTemplates() error {
	errs := []error{s.checkFromByKind()}
	for _, t := range s.templates().List() {
		if _, err := s.Preview(t.Name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// sample is an email of kind with realistic data, and the links it would
// carry.
func (s *Sender) sample(kind string) (store.Email, links) {
	now := s.now().UTC().Truncate(time.Second)
	e := store.Email{ID: "em_preview", CustomerID: "cu_preview", Kind: kind, To: "ada@example.com", Data: map[string]string{}}
	money := func(m paidup.Money) {
		e.Data["amount"], e.Data["currency"] = strconv.FormatInt(m.Amount, 10), m.Currency
	}
	var l links
	switch kind {
	case KindConfirmation:
		p := s.samplePlan(false)
		e.Data["reference"], e.Data["plan"], e.Data["tier"] = "PU-7K3M-Q9XD", p.ID, p.Tier
		money(p.Amount)
		switch {
		case !p.Term.IsZero():
			e.Data["until"] = p.Term.AddTo(now).Format(time.RFC3339)
		case p.Interval.Recurring():
			e.Data["until"] = paidup.Term{N: 1, Unit: p.Interval[0]}.AddTo(now).Format(time.RFC3339)
		}
		l.signIn = s.PublicURL + "/account/sign-in?token=preview"
	case KindSignIn:
		l.signIn = s.PublicURL + "/account/sign-in?token=preview"
	case KindAlert:
		e.To = "oncall@example.com"
		e.Data = map[string]string{"case": "sc_preview", "kind": paidup.CaseUnconfirmed, "reference": "PU-7K3M-Q9XD",
			"summary": "Checkout PU-7K3M-Q9XD by ada@example.com: the processor never said how it ended",
			"payment": "pi_3QpreviewA1b2C3", "opened": now.Format(time.RFC3339), "customer_email": "ada@example.com"}
	case KindCaseOpened, KindCaseAnswered:
		p := s.samplePlan(false)
		e.Data = map[string]string{"case": "sc_preview", "kind": paidup.CaseAmountMismatch, "reference": "PU-7K3M-Q9XD", "plan": p.ID, "paid": "yes"}
		if kind == KindCaseAnswered {
			e.Data["answer"] = "Your payment was for last year's price. We have granted your access as bought, and refunded the difference; it shows on your statement in a few days."
		}
	case KindDisputeAlert:
		p := s.samplePlan(true)
		e.To = "oncall@example.com"
		e.Data = map[string]string{"case": "sc_preview", "kind": CaseDispute, "reference": "PU-4D7N-8WQE", "purchase": "PU-7K3M-Q9XD",
			"summary": "Chargeback of " + p.Amount.String() + " by ada@example.com (fraudulent): blocked; 1 grant ended, 1 grant suspended",
			"payment": "pi_3QpreviewA1b2C3", "opened": now.Format(time.RFC3339), "customer_email": "ada@example.com",
			"processor": "stripe", "dispute": "dp_1QpreviewD4e5F6", "charge": "ch_3QpreviewA1b2C3", "reason": "fraudulent",
			"status": "needs_response", "revoked": "1"}
		if t, ok := s.sampleKept(p); ok {
			e.Data["suspended"] = t.ID
		}
		money(p.Amount)
	case KindAccessOnHold, KindAccessRestored:
		s.sampleHold(&e, now)
	case KindOnCallAlert, KindOnCallDigest:
		e.To, e.CustomerID = "oncall@example.com", ""
		e.Data = map[string]string{"event": "firing", "severity": "critical", "rule": "unfulfilled",
			"summary": "2 payments succeeded more than 15m ago with nothing granted", "first_seen": now.Format(time.RFC3339),
			"detail": "stripe:pi_3QpreviewA1b2C3 (PU-7K3M-Q9XD)\nstripe:pi_3QpreviewD4e5F6 (PU-4RW2-8HNM)", "on_call": "oncall@example.com",
			"advice":  "Look each payment up and recover it; if the reconciler cannot, the processor or paidup's database is the cause.",
			"ack_url": s.PublicURL + "/oncall/ack/preview", "items": "warning: 1 job exhausted its retries (send_email)"}
	case KindHelpAccess:
		p := s.samplePlan(false)
		e.Data["access"] = s.Policy.TierName(p.Tier) + ", for good"
		if !p.Term.IsZero() {
			e.Data["access"] = s.Policy.TierName(p.Tier) + ", until " + p.Term.AddTo(now).Format("2 January 2006")
		}
		l.signIn = s.PublicURL + "/account/sign-in?token=preview"
	case KindHelpReceived:
		e.Data["case"] = "sc_preview"
	case KindCaseReply:
		p := s.samplePlan(false)
		set, err := replies.Load("")
		if err != nil {
			panic(err) // the built-in replies are checked by their tests
		}
		r, _ := set.Render("charged_no_access_repaired", replies.Fields{Business: s.Business, Reference: "PU-7K3M-Q9XD", Case: "sc_preview",
			Amount: p.Amount.String(), Plan: p.Name, Tier: s.Policy.TierName(p.Tier)})
		e.Data = map[string]string{"case": "sc_preview", "reference": "PU-7K3M-Q9XD", "reply_template": r.Template, "subject": r.Subject,
			"text": r.Text, "markdown": r.Markdown}
		e.CustomerID = "cu_preview"
		l.signIn = s.PublicURL + "/account/sign-in?token=preview"
		l.replyURL, l.replyAddress = s.replyLinks("preview")
	case KindRefundIssued:
		p := s.samplePlan(false)
		e.Data["reference"], e.Data["plan"], e.Data["tier"], e.Data["purchase"] = "PU-4TQ8-ZK2M", p.ID, p.Tier, "PU-7K3M-Q9XD"
		money(p.Amount)
		e.Data["paid"], e.Data["full"], e.Data["duplicate"], e.Data["keeps"] = e.Data["amount"], "1", "1", p.Tier
		if !p.Term.IsZero() {
			e.Data["keeps_until"] = p.Term.AddTo(now.AddDate(0, -1, 0)).Format(time.RFC3339)
		}
	default: // the lifecycle kinds, and templates of the override directory
		p := s.samplePlan(true)
		e.Data["plan"], e.Data["tier"], e.Data["reference"] = p.ID, p.Tier, "PU-4RW2-8HNM"
		if _, ok := s.Policy.Plan(p.ID); !ok {
			e.Data["plan"] = p.Name // made up: named as it is
		}
		e.Data["processor"], e.Data["processor_customer"] = "stripe", "cus_Qpreview"
		money(p.Amount)
		failed := now.Add(-3 * 24 * time.Hour)
		switch kind {
		case KindPaymentFailed:
			failed = now
		case KindPaymentFinalReminder:
			failed = now.Add(-6 * 24 * time.Hour)
		}
		grace := s.Policy.GraceFor(p)
		if grace <= 0 {
			grace = 7 * 24 * time.Hour
		}
		e.Data["grace_ends"] = failed.Add(grace).Format(time.RFC3339)
		switch kind {
		case KindGraceEnded:
			delete(e.Data, "grace_ends")
			if t, ok := s.sampleKept(p); ok {
				e.Data["keeps"] = t.ID
			}
		case KindWelcomeBack:
			delete(e.Data, "grace_ends")
			e.Data["until"] = paidup.Term{N: 1, Unit: 'm'}.AddTo(now).Format(time.RFC3339)
			if p.Interval == paidup.Yearly {
				e.Data["until"] = paidup.Term{N: 1, Unit: 'y'}.AddTo(now).Format(time.RFC3339)
			}
		case KindCancellation, KindResumed, KindRenewalReceipt:
			delete(e.Data, "grace_ends")
			unit := byte('m')
			if p.Interval == paidup.Yearly {
				unit = 'y'
			}
			e.Data["until"] = paidup.Term{N: 1, Unit: unit}.AddTo(now).Format(time.RFC3339)
			if kind == KindCancellation {
				e.Data["reference"] = "PU-7K3M-Q9XD" // the subscription's checkout
				if t, ok := s.sampleKept(p); ok {
					e.Data["keeps"] = t.ID
				}
			}
			if kind == KindResumed {
				e.Data["reference"] = "PU-7K3M-Q9XD"
			}
			if kind == KindRenewalReceipt {
				e.Data["renews"] = "true"
			}
		case KindSubscriptionEnded:
			// Cancelled now by the business, in the paid period.
			delete(e.Data, "grace_ends")
			e.Data["ended"] = now.Format(time.RFC3339)
			e.Data["until"] = now.AddDate(0, 0, 12).Format(time.RFC3339)
			e.Data["reference"] = "PU-7K3M-Q9XD"
			if t, ok := s.sampleKept(p); ok {
				e.Data["keeps"] = t.ID
			}
		}
		if carriesCardLink(kind) {
			l.card = s.PublicURL + "/card/preview"
			l.cardExpires = s.cardLinkExpiry(e, now)
		}
	}
	return e, l
}

// sampleHold fills e as a chargeback of a subscription's renewal would,
// for a customer who also holds a permanent tier the hold suspends.
func (s *Sender) sampleHold(e *store.Email, now time.Time) {
	p := s.samplePlan(true)
	since := now.Add(-2 * 24 * time.Hour)
	e.Data = map[string]string{"reference": "PU-4D7N-8WQE", "plan": p.ID, "amount": strconv.FormatInt(p.Amount.Amount, 10),
		"currency": p.Amount.Currency, "paid_at": since.Add(-20 * 24 * time.Hour).Format(time.RFC3339),
		"since": since.Format(time.RFC3339), "ended": p.Tier, "kept": "[]"}
	if _, ok := s.Policy.Plan(p.ID); !ok {
		e.Data["plan"] = p.Name // made up: named as it is
	}
	kept, hasKept := s.sampleKept(p)
	if hasKept {
		e.Data["kept"] = `[{"tier":"` + kept.ID + `"}]`
	}
	if e.Kind == KindAccessRestored {
		e.Data = map[string]string{"reference": e.Data["reference"], "lifted": now.Format(time.RFC3339), "ended": p.Tier}
		if hasKept {
			e.Data["tier"] = kept.ID
		}
	}
}

// samplePlan is a plan to show: the first subscription (or one-time
// plan) configured. With none of that kind, a monthly plan of the highest
// tier is made up.
func (s *Sender) samplePlan(recurring bool) paidup.Plan {
	for _, p := range s.Policy.Plans {
		if p.Interval.Recurring() == recurring {
			return p
		}
	}
	if !recurring && len(s.Policy.Plans) > 0 {
		return s.Policy.Plans[0]
	}
	p := paidup.Plan{ID: "pro-monthly", Name: "Pro, monthly", Tier: "pro", Amount: paidup.Money{Amount: 900, Currency: "usd"}, Interval: paidup.Monthly}
	var top *paidup.Tier
	for i, t := range s.Policy.Tiers {
		if top == nil || t.Rank > top.Rank {
			top = &s.Policy.Tiers[i]
		}
	}
	if top != nil {
		p.ID, p.Name, p.Tier = top.ID+"-monthly", top.Name+", monthly", top.ID
	}
	if len(s.Policy.Plans) > 0 {
		p.Amount.Currency = s.Policy.Plans[0].Amount.Currency
	}
	return p
}

// sampleKept is a lower tier a permanent plan grants, which a customer
// whose subscription ended would keep.
func (s *Sender) sampleKept(sub paidup.Plan) (paidup.Tier, bool) {
	top, _ := s.Policy.Tier(sub.Tier)
	for _, p := range s.Policy.Plans {
		if p.Interval == paidup.Once && p.Term.IsZero() {
			if t, ok := s.Policy.Tier(p.Tier); ok && t.Rank < top.Rank {
				return t, true
			}
		}
	}
	return paidup.Tier{}, false
}

// PreviewHandler serves the previews for people trying paidup out: at its
// root a list, at NAME the HTML part, at NAME.txt the subject and text.
// It is for the sandbox's mailbox, not for production.
func (s *Sender) PreviewHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		previewList.Execute(w, s.templates().List())
	})
	mux.HandleFunc("GET /{name}", func(w http.ResponseWriter, r *http.Request) {
		name, asText := r.PathValue("name"), false
		if n, ok := strings.CutSuffix(name, ".txt"); ok {
			name, asText = n, true
		}
		m, err := s.Preview(name)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
		if asText {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintf(w, "Subject: %s\nFrom: %s\nTo: %s\n\n%s", m.Subject, m.From, m.To, m.Text)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(m.HTML))
	})
	return mux
}

var previewList = template.Must(template.New("list").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Email previews · paidup</title>
<style>body{font:15px/1.5 system-ui,sans-serif;color:#1d2330;max-width:760px;margin:24px auto;padding:0 20px}td{padding:4px 14px 4px 0}.muted{color:#5d6778}</style></head>
<body><h1>Email previews</h1>
<p class="muted">Every email paidup sends, rendered with sample data from the configured plans. <a href="./..">Back to the mailbox</a></p>
<table>{{range .}}<tr><td><b>{{.Name}}</b></td><td><a href="{{.Name}}">HTML</a> · <a href="{{.Name}}.txt">text</a></td>
<td class="muted">{{if eq .Text "built in"}}{{if eq .HTML "built in"}}built in{{else}}{{.HTML}}{{end}}{{else}}{{.Text}}{{if ne .HTML "built in"}}, {{.HTML}}{{end}}{{end}}</td></tr>{{end}}</table>
</body></html>`))
