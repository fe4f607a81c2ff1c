// Package failpoint lets tests crash paidup at its durable boundaries: with
// PAIDUP_FAILPOINTS=name[,name…] set, reaching a named point kills the
// process at once, as kill -9 would, so that a test can restart paidup on
// the same database and prove nothing was lost and nothing happened twice.
package failpoint

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
)

// Point is a named place in paidup where a crash can be injected.
type Point struct {
	Name string
	Desc string
}

// Points lists every failpoint: the purchase path's in the order a
// purchase reaches them, then the subscription lifecycle's.
var Points = []Point{
	{"buy.after_attempt", "the checkout attempt is committed; the processor checkout is not created yet"},
	{"buy.after_checkout", "the processor checkout exists; paidup has not recorded it"},
	{"buy.after_record", "the processor checkout is recorded; the customer is not redirected yet"},
	{"webhook.before_commit", "a verified webhook is about to be committed; not acknowledged"},
	{"webhook.after_commit", "a webhook is committed with its processing job; not acknowledged"},
	{"event.before_process", "a stored event's processing job started; nothing done yet"},
	{"fulfil.after_confirm", "the processor confirmed the payment; nothing written yet"},
	{"fulfil.before_commit", "the grant, payment and email are written in a transaction not yet committed"},
	{"fulfil.after_commit", "the grant and its confirmation email job are committed"},
	{"return.after_fulfil", "the return page fulfilled the payment; the page is not shown yet"},
	{"email.before_send", "the confirmation is marked sending; not handed to the mail server"},
	{"email.after_send", "the mail server accepted the confirmation; paidup has not recorded it"},
	{"email.after_record", "the confirmation is recorded as sent"},
	{"reconcile.after_check", "the reconciler asked the processor about a checkout; nothing written yet"},
	{"lifecycle.before_commit", "a subscription's change (grants, grace, deadlines, emails) is written in a transaction not yet committed"},
	{"lifecycle.after_commit", "a subscription's change is committed"},
	{"deadline.before_commit", "a deadline's effect (a reminder, a grace's end) is written in a transaction not yet committed"},
	{"deadline.after_commit", "a deadline fired and its effect is committed"},
	{"dispute.before_commit", "a chargeback's block, ended grants and emails are written in a transaction not yet committed"},
	{"block.before_commit", "paidup block lift: the lift, its timeline entries and the hold-lifted email are written in a transaction not yet committed"},
	{"case.before_commit", "paidup case resolve: the resolution, its timeline entry and the answer's email are written in a transaction not yet committed"},
	{"account.after_cancel", "the processor cancelled or resumed a subscription as its customer asked; paidup has not read it back"},
	{"refund.after_refund", "the processor refunded a duplicate purchase; paidup has not recorded the refund"},
	{"refund.after_record", "a duplicate purchase's refund and its email are recorded"},
	{"support.after_refund", "the processor made a refund a person asked for; paidup has not recorded it"},
}

var (
	once    sync.Once
	enabled map[string]bool
)

// Enabled returns the failpoints named in PAIDUP_FAILPOINTS, or an error
// naming one that does not exist.
func Enabled(getenv func(string) string) (map[string]bool, error) {
	out := map[string]bool{}
	for name := range strings.SplitSeq(getenv("PAIDUP_FAILPOINTS"), ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !known(name) {
			return nil, fmt.Errorf("PAIDUP_FAILPOINTS: no failpoint %q (paidup failpoints lists them)", name)
		}
		out[name] = true
	}
	return out, nil
}

// Arm enables the given failpoints for this process.
func Arm(points map[string]bool) {
	once.Do(func() { enabled = points })
}

func known(name string) bool {
	for _, p := range Points {
		if p.Name == name {
			return true
		}
	}
	return false
}

// Inject kills the process if the named failpoint is armed. Reaching an
// unknown name is a bug.
func Inject(name string) {
	if !known(name) {
		panic("failpoint: unknown point " + name)
	}
	if enabled[name] {
		fmt.Fprintf(os.Stderr, "paidup: failpoint %s reached: killing the process\n", name)
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // wait for the signal
	}
}
