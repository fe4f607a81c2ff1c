// Package standingtest is the table of what customer-facing texts must and
// must not say, for each plan kind and state, and the fixtures to render
// them with. The status page's tests and the emails' tests render every
// template in every combination that applies and check each text here.
package standingtest

import (
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/standing"
)

// Rule is a statement a customer's text must, or must not, make.
type Rule struct {
	Name string
	// Applies says whether the rule holds for a text rendered for st.
	Applies func(st standing.Standing) bool
	// Forbid, if set, must not match the text.
	Forbid *regexp.Regexp
	// Require, if set, returns what the text must contain.
	Require func(st standing.Standing) string
}

func is(states ...standing.State) func(standing.Standing) bool {
	return func(st standing.Standing) bool {
		for _, s := range states {
			if st.State == s {
				return true
			}
		}
		return false
	}
}

func always(standing.Standing) bool { return true }

// paid reports whether a payment is known to have succeeded.
func paid(st standing.Standing) bool { return st.State != standing.Confirming }

// Rules are the statements every customer text is checked against.
var Rules = []Rule{
	{Name: `"not be charged again" never while a plan renews`, Applies: is(standing.Renewing, standing.InGrace),
		Forbid: regexp.MustCompile(`(?i)not be charged again|no(thing)? (more|further) (will be |is )?charged|won't be charged`)},
	{Name: `"nothing was charged" never once a payment succeeded`, Applies: paid,
		Forbid: regexp.MustCompile(`(?i)nothing (was|has been|is) charged|not been charged|were not charged`)},
	{Name: "a date whenever access ends", Applies: func(st standing.Standing) bool { return !st.Until.IsZero() },
		Require: func(st standing.Standing) string { return standing.Day(st.Until) }},
	{Name: "the renewal date while a plan renews", Applies: func(st standing.Standing) bool { return st.State == standing.Renewing && !st.Renews.IsZero() },
		Require: func(st standing.Standing) string { return standing.Day(st.Renews) }},
	{Name: "how to cancel while a plan renews", Applies: is(standing.Renewing),
		Require: func(standing.Standing) string { return "cancel" }},
	{Name: `"for good" only for a permanent purchase`, Applies: func(st standing.Standing) bool { return st.Kind != standing.ForGood || st.State != standing.In },
		Forbid: regexp.MustCompile(`(?i)\bfor good\b`)},
	{Name: `"You're in" only while the purchase gives access`, Applies: is(standing.Ended, standing.Refunded, standing.OnHold, standing.NeedsPerson),
		Forbid: regexp.MustCompile(`(?i)you're in\b|you are in\b|your access is ready`)},
	{Name: "no raw processor ids", Applies: always,
		Forbid: regexp.MustCompile(`\b(in|ch|re|dp|cus|pi|py|cs|sub|pm|evt|price|prod)_[A-Za-z0-9]{4,}`)},
	{Name: "the reply time from the configuration", Applies: is(standing.NeedsPerson),
		Require: func(st standing.Standing) string { return st.ReplyWithin }},
	{Name: "no hard-coded reply time", Applies: always,
		Forbid: regexp.MustCompile(`(?i)one business day`)},
}

// ReplyWithin is the reply time the fixtures configure: not the default,
// so that a hard-coded one shows.
const ReplyWithin = "two working days"

// Now is the fixtures' moment.
var Now = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// Plans are a plan of each kind.
var Plans = map[standing.Kind]paidup.Plan{
	standing.ForGood: {ID: "lifetime", Name: "Lifetime", Tier: "member", Amount: paidup.Money{Amount: 4900, Currency: "usd"}, Interval: paidup.Once},
	standing.ForTerm: {ID: "pro-annual", Name: "Pro, one year", Tier: "pro", Amount: paidup.Money{Amount: 24900, Currency: "usd"}, Interval: paidup.Once, Term: paidup.Term{N: 1, Unit: 'y'}},
	standing.Monthly: {ID: "pro-monthly", Name: "Pro, monthly", Tier: "pro", Amount: paidup.Money{Amount: 900, Currency: "usd"}, Interval: paidup.Monthly},
	standing.Yearly:  {ID: "pro-yearly", Name: "Pro, yearly", Tier: "pro", Amount: paidup.Money{Amount: 9000, Currency: "usd"}, Interval: paidup.Yearly},
}

// Policy sells Plans.
func Policy() *paidup.Policy {
	p := &paidup.Policy{Tiers: []paidup.Tier{{ID: "member", Name: "Member", Rank: 1}, {ID: "pro", Name: "Pro", Rank: 2}}}
	for _, k := range standing.Kinds {
		p.Plans = append(p.Plans, Plans[k])
	}
	return p
}

// Standing is a purchase of kind k in state s at Now, with the dates such
// a purchase has.
func Standing(k standing.Kind, s standing.State) standing.Standing {
	plan := Plans[k]
	st := standing.Standing{Kind: k, State: s, Tier: "Pro", Amount: plan.Amount, ReplyWithin: ReplyWithin}
	if plan.Tier == "member" {
		st.Tier = "Member"
	}
	period := paidup.Term{N: 1, Unit: 'm'}
	if k == standing.Yearly {
		period.Unit = 'y'
	}
	switch s {
	case standing.In:
		if k == standing.ForTerm {
			st.Until = plan.Term.AddTo(Now)
		}
	case standing.Renewing:
		st.Renews = period.AddTo(Now)
	case standing.CancelledUntil:
		st.Until = period.AddTo(Now)
	case standing.InGrace:
		st.Until = Now.AddDate(0, 0, 7)
	case standing.Ended:
		st.EndedAt = Now.AddDate(0, 0, -2)
	}
	return st
}

// Each calls fn for every plan kind and state that applies.
func Each(fn func(k standing.Kind, s standing.State)) {
	for _, k := range standing.Kinds {
		for _, s := range standing.States {
			if standing.Applies(k, s) {
				fn(k, s)
			}
		}
	}
}

var tags = regexp.MustCompile(`(?s)<style.*?</style>|<[^>]*>`)

// Text is what a reader sees of an HTML page or email: its text, without
// tags, with entities decoded and spaces collapsed.
func Text(s string) string {
	s = html.UnescapeString(tags.ReplaceAllString(s, " "))
	return strings.Join(strings.Fields(s), " ")
}

// Check reports, for the text name rendered for st, every rule it breaks.
func Check(t testing.TB, name, text string, st standing.Standing) {
	t.Helper()
	for _, r := range Broken(text, st) {
		t.Errorf("%s (%s, %s): breaks %s\n%s", name, st.Kind, st.State, r, text)
	}
}

// CheckForbidden is Check for a text too short to say everything (a
// subject), or one that speaks of no purchase (a sign-in link): only what
// it must not say is checked.
func CheckForbidden(t testing.TB, name, text string, st standing.Standing) {
	t.Helper()
	for _, r := range broken(text, st, true) {
		t.Errorf("%s (%s, %s): breaks %s\n%s", name, st.Kind, st.State, r, text)
	}
}

// Broken lists the rules text breaks for st.
func Broken(text string, st standing.Standing) []string { return broken(text, st, false) }

func broken(text string, st standing.Standing, forbiddenOnly bool) []string {
	text = strings.ReplaceAll(text, "’", "'")
	var out []string
	for _, r := range Rules {
		if !r.Applies(st) || (forbiddenOnly && r.Forbid == nil) {
			continue
		}
		if r.Forbid != nil {
			if m := r.Forbid.FindString(text); m != "" {
				out = append(out, r.Name+": says "+`"`+m+`"`)
			}
		}
		if r.Require != nil && !forbiddenOnly {
			if want := r.Require(st); want != "" && !strings.Contains(strings.ToLower(text), strings.ToLower(want)) {
				out = append(out, r.Name+": lacks "+`"`+want+`"`)
			}
		}
	}
	return out
}
