package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/config"
	"github.com/paidup/paidup/internal/reconcile"
	"github.com/paidup/paidup/internal/store"
	"github.com/paidup/paidup/internal/stripe"
)

// checkProcessor compares the refunds paidup has recorded with the
// configured processor's, for `paidup check --processor`: every payment
// paidup has marked refunded (in full or in part), and every payment paidup
// knows of that the processor refunded within the reconciler's refund
// window. It prints each disagreement and returns how many it found.
func checkProcessor(ctx context.Context, cfg *config.Config, s *store.Store, stdout io.Writer) (int, error) {
	p := configuredProcessor(cfg)
	c := refundComparison{ctx: ctx, s: s, p: p, out: stdout, seen: map[string]bool{}}
	refunded, err := s.RefundedPayments(ctx, p.Name(), time.Time{}, time.Time{}, 0)
	if err != nil {
		return 0, err
	}
	for _, pay := range refunded {
		pr, err := p.Refunds(ctx, pay.ID)
		if errors.Is(err, paidup.ErrNoSuchObject) {
			c.disagree(pay, "the processor has no such payment")
			continue
		}
		if err != nil {
			return c.found, fmt.Errorf("reading the refunds of %s from the processor: %w", pay.ID, err)
		}
		c.compare(pay, pr)
	}
	since := s.Now().Add(-reconcile.DefaultRefundWindow)
	err = p.ListRefunds(ctx, paidup.Created{Since: since}, func(_ paidup.Refund, pr paidup.PaymentRefunds) error {
		if c.seen[pr.PaymentID] {
			return nil
		}
		pay, known, err := s.Payment(ctx, p.Name(), pr.PaymentID)
		if err != nil || !known {
			return err // not known: none of paidup's, or not recorded yet
		}
		c.compare(pay, pr)
		return nil
	})
	if err != nil {
		return c.found, fmt.Errorf("listing the processor's refunds: %w", err)
	}
	fmt.Fprintf(stdout, "processor: compared %d payments' refunds with %s (refunds made since %s).\n",
		len(c.seen), p.Name(), since.Format("2 January 2006"))
	return c.found, nil
}

// refundComparison is one run of checkProcessor.
type refundComparison struct {
	ctx   context.Context
	s     *store.Store
	p     paidup.Processor
	out   io.Writer
	seen  map[string]bool // payments compared
	found int             // disagreements
}

// compare reports a payment whose refunded amount or status in paidup is
// not what the processor's succeeded refunds make it.
func (c *refundComparison) compare(pay paidup.Payment, pr paidup.PaymentRefunds) {
	c.seen[pay.ID] = true
	refunded := pr.Refunded()
	status := paidup.PaymentSucceeded
	if refunded >= pay.Amount.Amount {
		status = paidup.PaymentRefunded
	}
	if refunded == pay.AmountRefunded && status == pay.Status {
		return
	}
	c.disagree(pay, fmt.Sprintf("the processor has %s refunded (%s)", money(refunded, pay), describeRefunds(pr)))
}

func (c *refundComparison) disagree(pay paidup.Payment, processorSays string) {
	c.seen[pay.ID] = true
	c.found++
	fmt.Fprintf(c.out, "REFUND DISAGREEMENT: payment %s:%s (%s): paidup has %s of %s refunded (%s); %s\n",
		pay.Processor, pay.ID, cmp.Or(pay.CheckoutReference, "no reference"), money(pay.AmountRefunded, pay), pay.Amount, pay.Status, processorSays)
}

func money(amount int64, pay paidup.Payment) paidup.Money {
	return paidup.Money{Amount: amount, Currency: pay.Amount.Currency}
}

// describeRefunds lists a payment's refunds with their statuses.
func describeRefunds(pr paidup.PaymentRefunds) string {
	if len(pr.Refunds) == 0 {
		return "no refunds"
	}
	var parts []string
	for _, r := range pr.Refunds {
		parts = append(parts, fmt.Sprintf("%s %s %s", r.ID, r.Amount, r.Status))
	}
	return strings.Join(parts, ", ")
}

// configuredProcessor is the processor the configuration names, for a
// command that reads it while paidup runs: Stripe (or an API like it), or
// the sandbox that `paidup serve` runs on sandbox.listen.
func configuredProcessor(cfg *config.Config) paidup.Processor {
	if cfg.Processor.Kind == config.KindSandbox {
		return stripe.New(stripe.Config{SecretKey: sandboxKey, URL: "http://" + cfg.Sandbox.Listen})
	}
	return stripe.New(stripe.Config{SecretKey: cfg.Processor.Stripe.SecretKey.Reveal(), URL: cfg.Processor.Stripe.APIURL})
}
