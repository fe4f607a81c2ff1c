package oncall

import (
	"cmp"
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/store"
)

// Severities: a critical alert pages whoever is on call at once; a
// warning waits for the daily digest.
const (
	Critical = "critical"
	Warning  = "warning"
)

// Rules are the alert rules' thresholds.
type Rules struct {
	// UnfulfilledAfter is how long after it succeeded a payment with
	// nothing granted, no refund and no support case is an alert.
	UnfulfilledAfter time.Duration
	// EmailsRetrying is how many emails waiting to be tried again mean
	// the mail server is failing; zero means 5.
	EmailsRetrying int
	// ProcessorJobs are the kinds of jobs that call the processor; as
	// many as ProcessorRetrying of them waiting to be tried again after
	// an error mean the processor is failing (zero means 3).
	ProcessorJobs     []string
	ProcessorRetrying int
	// DiscardedWithin is how long a job that exhausted its retries is
	// reported; zero means a day.
	DiscardedWithin time.Duration
}

// Finding is a problem a rule sees in paidup's state now.
type Finding struct {
	Key, Rule, Severity string
	Summary             string
	Detail              []string // a few of its instances
	Instances           int
}

// maxDetail is how many of a problem's instances an alert names.
const maxDetail = 10

// rule kinds, as alerts and docs name them.
const (
	RuleUnfulfilled     = "unfulfilled"
	RuleDispute         = "dispute"
	RuleWebhookRefusals = "webhook_refusals"
	RuleEmailFailed     = "email_failed"
	RuleEmailRetrying   = "email_retrying"
	RuleJobsDiscarded   = "jobs_discarded"
	RuleProcessor       = "processor_failing"
	RuleHelpRequest     = "help_request"
	RuleCase            = "case"
)

// caseRules are the rules of the support cases of a kind, by kind; a
// kind not listed is a warning of RuleCase.
var caseRules = map[string]struct{ rule, severity string }{
	paidup.CaseDispute:           {RuleDispute, Critical},
	paidup.CaseWebhookRefusal:    {RuleWebhookRefusals, Critical},
	paidup.CaseEmailFailed:       {RuleEmailFailed, Warning},
	paidup.CaseHelpRequest:       {RuleHelpRequest, Critical},
	paidup.CaseUnknownPlan:       {RuleCase, Critical},
	paidup.CaseAmountMismatch:    {RuleCase, Critical},
	paidup.CaseBlockedPayer:      {RuleCase, Critical},
	paidup.CaseUnconfirmed:       {RuleCase, Critical},
	paidup.CaseRefundFailed:      {RuleCase, Critical},
	paidup.CaseDuplicatePurchase: {RuleCase, Critical},
	paidup.CaseForeignReference:  {RuleCase, Critical},
}

// Advice is what to do first about an alert of each rule.
var Advice = map[string]string{
	RuleUnfulfilled: "Run `paidup check` and look each payment up: the reconciler grants a payment it can confirm with the processor; " +
		"one it cannot is a processor outage or a fault in paidup. Never ask the customer to pay again.",
	RuleDispute: "Read the chargeback at the processor and answer it there before its deadline; the customer is blocked until `paidup block lift`.",
	RuleWebhookRefusals: "Compare processor.stripe.webhook_secrets with the endpoint's signing secret at the processor (a rotated secret is the usual cause); " +
		"until fixed, the reconciler's sweep still finds the payments.",
	RuleEmailFailed:   "Check the address and the mail server's log; resend once fixed.",
	RuleEmailRetrying: "The mail server is refusing or unreachable: check smtp.url and the provider's status. Emails are kept and sent when it answers.",
	RuleJobsDiscarded: "Look at the job's last error (paidup logs it); the work it did not do is named there. Fix the cause, then run it again.",
	RuleProcessor: "Check the processor's status page and paidup's log for the error; the jobs retry by themselves. " +
		"If the API key was rotated, update processor.stripe.secret_key.",
	RuleHelpRequest: "A customer wrote in and paidup could not find or repair their purchase: look them up by the email in the case, " +
		"settle it, and answer them within support.reply_within; they were told not to pay again.",
	RuleCase: "List the open cases with `paidup case list`, settle each (grant by hand or refund) and resolve it.",
}

// find runs every rule on the state the transaction sees at now; wall is
// River's clock, which stamps its jobs.
func (r Rules) find(ctx context.Context, tx *store.Tx, now, wall time.Time) ([]Finding, error) {
	var out []Finding
	unfulfilled, err := tx.UnfulfilledPayments(ctx, now.Add(-r.UnfulfilledAfter))
	if err != nil {
		return nil, fmt.Errorf("finding unfulfilled payments: %w", err)
	}
	if n := len(unfulfilled); n > 0 {
		out = append(out, Finding{Key: RuleUnfulfilled, Rule: RuleUnfulfilled, Severity: Critical, Instances: n, Detail: first(unfulfilled),
			Summary: fmt.Sprintf("%s succeeded more than %s ago with nothing granted", plural(n, "payment"), r.UnfulfilledAfter)})
	}
	cases, err := tx.OpenCasesByKind(ctx)
	if err != nil {
		return nil, err
	}
	kinds := make([]string, 0, len(cases))
	for k := range cases {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, kind := range kinds {
		out = append(out, caseFinding(kind, cases[kind]))
	}
	retrying, err := tx.EmailsRetrying(ctx)
	if err != nil {
		return nil, fmt.Errorf("counting emails retrying: %w", err)
	}
	if retrying >= cmp.Or(r.EmailsRetrying, 5) {
		out = append(out, Finding{Key: RuleEmailRetrying, Rule: RuleEmailRetrying, Severity: Critical, Instances: retrying,
			Summary: fmt.Sprintf("%s waiting to be tried again: the mail server is failing", plural(retrying, "email"))})
	}
	discarded, err := tx.JobsDiscarded(ctx, wall.Add(-cmp.Or(r.DiscardedWithin, 24*time.Hour)))
	if err != nil {
		return nil, fmt.Errorf("finding discarded jobs: %w", err)
	}
	if n := len(discarded); n > 0 {
		out = append(out, Finding{Key: RuleJobsDiscarded, Rule: RuleJobsDiscarded, Severity: Warning, Instances: n, Detail: tally(discarded),
			Summary: fmt.Sprintf("%s exhausted %s retries in the last day", plural(n, "job"), pick(n, "its", "their"))})
	}
	failing, err := tx.JobsRetrying(ctx, r.ProcessorJobs)
	if err != nil {
		return nil, fmt.Errorf("finding jobs retrying: %w", err)
	}
	if n := len(failing); n >= cmp.Or(r.ProcessorRetrying, 3) {
		out = append(out, Finding{Key: RuleProcessor, Rule: RuleProcessor, Severity: Critical, Instances: n, Detail: tally(failing),
			Summary: fmt.Sprintf("%s calling the payment processor failed and %s waiting to be tried again", plural(n, "job"), pick(n, "is", "are"))})
	}
	return out, nil
}

func caseFinding(kind string, cases []paidup.SupportCase) Finding {
	r, ok := caseRules[kind]
	if !ok {
		r.rule, r.severity = RuleCase, Warning
	}
	n := len(cases)
	f := Finding{Key: "case:" + kind, Rule: r.rule, Severity: r.severity, Instances: n}
	switch r.rule {
	case RuleDispute:
		f.Summary = fmt.Sprintf("%s open", plural(n, "chargeback"))
	case RuleWebhookRefusals:
		f.Summary = "Webhooks are being refused: a flood of webhooks failed verification"
	case RuleEmailFailed:
		f.Summary = fmt.Sprintf("%s could not be delivered", plural(n, "email"))
	case RuleHelpRequest:
		f.Summary = fmt.Sprintf("%s from customers waiting for a person", plural(n, "help request"))
	default:
		f.Summary = fmt.Sprintf("%s open: %s", plural(n, "support case"), strings.ReplaceAll(kind, "_", " "))
	}
	for _, c := range cases[:min(n, maxDetail)] {
		f.Detail = append(f.Detail, c.ID+": "+c.Summary)
	}
	return f
}

func first(s []string) []string { return s[:min(len(s), maxDetail)] }

// tally counts each kind: "send_email ×3".
func tally(kinds []string) []string {
	n := map[string]int{}
	var order []string
	for _, k := range kinds {
		if n[k] == 0 {
			order = append(order, k)
		}
		n[k]++
	}
	var out []string
	for _, k := range order {
		out = append(out, fmt.Sprintf("%s ×%d", k, n[k]))
	}
	return first(out)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func pick(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
