// Package paidup holds the domain of paidup: the policy that maps what a
// customer paid for to the access they get, and the application error type
// shared by every adapter.
//
// paidup stands between a payment processor and customer access: every
// customer who paid gets in, exactly once, and keeps access exactly as long as
// the policy says.
package paidup

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Interval is how often a plan is billed.
type Interval string

// Billing intervals.
const (
	Once    Interval = "once"
	Monthly Interval = "month"
	Yearly  Interval = "year"
)

// Recurring reports whether the plan renews by subscription.
func (i Interval) Recurring() bool { return i == Monthly || i == Yearly }

// Tier is a level of access. Access is the highest-ranked tier among a
// customer's active grants.
type Tier struct {
	ID   string
	Name string
	Rank int
}

// Plan is something a customer can buy: a processor price that grants a tier.
type Plan struct {
	ID          string
	Name        string
	Description string
	Tier        string   // Tier.ID
	PriceID     string   // the processor's price id, e.g. price_1Q…
	Amount      Money    // what the customer pays each interval
	Interval    Interval // once, month or year
	// Term is how long a one-time purchase grants its tier; zero means
	// permanent. Recurring plans grant for each paid period instead.
	Term Term
	// Grace is how long a subscription keeps its access after a renewal
	// fails, while the processor retries the card; zero means the policy's
	// default.
	Grace time.Duration
	// Extends: buying the plan while holding its tier for a term adds the
	// plan's term after the current one ends, rather than counting as a
	// duplicate purchase. Only one-time plans with a term extend.
	Extends bool
}

// Policy is the operator's human-edited rule set: tiers, the plans that
// grant them, and what happens over a subscription's life.
type Policy struct {
	Tiers     []Tier
	Plans     []Plan
	Lifecycle Lifecycle
}

// Lifecycle is the policy for subscriptions after their first payment.
type Lifecycle struct {
	// Grace is how long access lasts after a failed renewal, by default.
	Grace time.Duration
	// Reminders are the emails sent after a renewal fails, each at a delay
	// after the failure, in order.
	Reminders []Reminder
	// DoubleBuy says what happens to a failing subscription when its
	// customer buys another instead of fixing their card: DoubleBuyCancel
	// cancels it at the processor; DoubleBuyFlag opens a support case.
	DoubleBuy string
	// Chargeback says which grants a chargeback ends; it suspends the
	// rest until a person lifts its block.
	Chargeback Chargeback
	// RenewalReceipts: paidup emails a receipt for each paid renewal. Off
	// by default, since processors send their own.
	RenewalReceipts bool
	// DuplicatePurchase says what happens to a one-time purchase of a tier
	// the customer already holds, for a plan that does not extend it:
	// DuplicateRefund refunds it at the processor; DuplicateCase opens a
	// support case.
	DuplicatePurchase string
}

// Reminder is an email sent a while after a renewal fails.
type Reminder struct {
	After    time.Duration
	Template string // the email template, e.g. "payment_failed"
}

// What to do about a double buy.
const (
	DoubleBuyCancel = "cancel"
	DoubleBuyFlag   = "flag"
)

// What to do about a duplicate purchase.
const (
	DuplicateRefund = "refund"
	DuplicateCase   = "case"
)

// GraceFor is the grace a plan's subscriptions get after a failed renewal.
func (p *Policy) GraceFor(plan Plan) time.Duration {
	if plan.Grace > 0 {
		return plan.Grace
	}
	return p.Lifecycle.Grace
}

// Plan returns the plan with the given id.
func (p *Policy) Plan(id string) (Plan, bool) {
	for _, pl := range p.Plans {
		if pl.ID == id {
			return pl, true
		}
	}
	return Plan{}, false
}

// PlanByPrice returns the plan sold under a processor price id.
func (p *Policy) PlanByPrice(priceID string) (Plan, bool) {
	for _, pl := range p.Plans {
		if pl.PriceID == priceID {
			return pl, true
		}
	}
	return Plan{}, false
}

// Tier returns the tier with the given id.
func (p *Policy) Tier(id string) (Tier, bool) {
	for _, t := range p.Tiers {
		if t.ID == id {
			return t, true
		}
	}
	return Tier{}, false
}

// TierName is a tier's name for people; an unknown tier's id.
func (p *Policy) TierName(id string) string {
	if t, ok := p.Tier(id); ok {
		return t.Name
	}
	return id
}

// Rank is a tier's rank; a tier the policy no longer knows ranks below
// every known tier.
func (p *Policy) Rank(id string) int {
	if t, ok := p.Tier(id); ok {
		return t.Rank
	}
	return -1 << 31
}

// Term is a calendar length: a number of days, months or years.
type Term struct {
	N    int
	Unit byte // 'd', 'm' or 'y'; 0 for the zero (permanent) term
}

// ParseTerm reads a term such as "30d", "6m" or "1y". The empty string is
// the zero term.
func ParseTerm(s string) (Term, error) {
	if s == "" {
		return Term{}, nil
	}
	unit := s[len(s)-1]
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n <= 0 || (unit != 'd' && unit != 'm' && unit != 'y') {
		return Term{}, fmt.Errorf("invalid term %q: want a positive number followed by d, m or y, like 30d, 6m or 1y", s)
	}
	return Term{N: n, Unit: unit}, nil
}

// IsZero reports whether the term is unset (permanent).
func (t Term) IsZero() bool { return t.N == 0 }

// AddTo returns the end of a term that starts at start. Months and years
// clamp to the end of a shorter month, as processors bill: one month from
// 31 January is 28 (or 29) February, not 3 March.
func (t Term) AddTo(start time.Time) time.Time {
	switch t.Unit {
	case 'd':
		return start.AddDate(0, 0, t.N)
	case 'm':
		return addMonths(start, t.N)
	case 'y':
		return addMonths(start, 12*t.N)
	}
	return start
}

func addMonths(start time.Time, n int) time.Time {
	y, m, d := start.Date()
	first := time.Date(y, m+time.Month(n), 1, start.Hour(), start.Minute(), start.Second(), start.Nanosecond(), start.Location())
	if last := first.AddDate(0, 1, -1).Day(); d > last {
		d = last
	}
	return first.AddDate(0, 0, d-1)
}

func (t Term) String() string {
	if t.IsZero() {
		return ""
	}
	return strconv.Itoa(t.N) + string(t.Unit)
}

// Money is an amount in the currency's minor unit (cents for USD), as
// processors count it. Floating point never touches it.
type Money struct {
	Amount   int64
	Currency string // lower-case ISO 4217 code, e.g. "usd"
}

// zeroDecimal lists currencies without a minor unit, as Stripe documents them.
var zeroDecimal = map[string]bool{
	"bif": true, "clp": true, "djf": true, "gnf": true, "jpy": true, "kmf": true,
	"krw": true, "mga": true, "pyg": true, "rwf": true, "ugx": true, "vnd": true,
	"vuv": true, "xaf": true, "xof": true, "xpf": true,
}

// threeDecimal lists currencies with three decimal digits, as Stripe
// documents them.
var threeDecimal = map[string]bool{"bhd": true, "jod": true, "kwd": true, "omr": true, "tnd": true}

// MinorDigits is the number of decimal digits of the currency's minor unit.
func MinorDigits(currency string) int {
	switch c := strings.ToLower(currency); {
	case zeroDecimal[c]:
		return 0
	case threeDecimal[c]:
		return 3
	}
	return 2
}

// ParseMoney reads a decimal amount such as "249", "249.00" or "9.5" in the
// given currency, exactly.
func ParseMoney(s, currency string) (Money, error) {
	currency = strings.ToLower(currency)
	if len(currency) != 3 {
		return Money{}, fmt.Errorf("invalid currency %q: want a three-letter ISO code like usd", currency)
	}
	digits := MinorDigits(currency)
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" || (hasFrac && frac == "") || len(frac) > digits || strings.Trim(whole+frac, "0123456789") != "" {
		if digits == 0 {
			return Money{}, fmt.Errorf("invalid amount %q: want a whole number for %s", s, strings.ToUpper(currency))
		}
		return Money{}, fmt.Errorf("invalid amount %q: want a decimal like 249 or 249.00", s)
	}
	frac += strings.Repeat("0", digits-len(frac))
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || n > 99999999*100 {
		return Money{}, fmt.Errorf("invalid amount %q: too large", s)
	}
	return Money{Amount: n, Currency: currency}, nil
}

// String formats the amount for people, e.g. "$249.00" or "249.00 EUR".
func (m Money) String() string {
	digits := MinorDigits(m.Currency)
	s := strconv.FormatInt(m.Amount, 10)
	if digits > 0 {
		for len(s) <= digits {
			s = "0" + s
		}
		s = s[:len(s)-digits] + "." + s[len(s)-digits:]
	}
	switch m.Currency {
	case "usd":
		return "$" + s
	case "eur":
		return "€" + s
	case "gbp":
		return "£" + s
	}
	return s + " " + strings.ToUpper(m.Currency)
}
