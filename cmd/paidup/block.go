package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/lifecycle"
	"github.com/paidup/paidup/internal/store"
	"github.com/paidup/paidup/internal/support"
)

const blockUsage = "usage: paidup block show --customer WHO, paidup block lift --customer WHO --actor NAME --reason TEXT, " +
	"or paidup block add --customer WHO --actor NAME --reason TEXT (WHO: paidup's customer id, an email address, or a PU- reference)"

// block shows a customer's blocks and grants, lifts their blocks, or
// blocks them: a person's decision, taken through the support service,
// on the customer's timeline and in the audit log with who made it and
// why.
func block(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "lift" && args[0] != "show" && args[0] != "add") {
		return usageError{blockUsage}
	}
	sub := args[0]
	fs := flag.NewFlagSet("paidup block "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f commonFlags
	f.register(fs, getenv, "config", "database-url", "sandbox-database-url")
	who := fs.String("customer", "", "the customer: paidup's id (cu_…), their email address, or a reference of theirs (PU-…: a purchase's or a chargeback's)")
	var a actionFlags
	if sub != "show" {
		a.register(fs, getenv, map[string]string{"lift": "lifts the block", "add": "blocks the customer"}[sub])
	}
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *who == "" {
		return usageError{"--customer is required"}
	}
	if sub != "show" && (strings.TrimSpace(a.actor) == "" || strings.TrimSpace(a.reason) == "") {
		return usageError{"--actor and --reason are required: a block, and its lifting, are on the customer's record"}
	}
	cfg, err := f.load(io.Discard)
	if err != nil {
		return err
	}
	db, st, err := openChangingStore(ctx, cfg, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := supportService(cfg, st, nil)
	c, err := svc.Customer(ctx, *who)
	if err != nil {
		return err
	}
	switch sub {
	case "lift":
		res, lifted, err := svc.LiftBlocks(ctx, a.request(support.Key(paidup.ActionLift, c.ID, a.actor, a.reason)), c.ID)
		if err != nil {
			return err
		}
		if res.Repeat {
			printResult(stdout, res)
		}
		for _, b := range lifted {
			fmt.Fprintf(stdout, "Lifted %s block %s (%s).\n", b.Source, b.ID, b.Reason)
		}
		if len(lifted) == 0 {
			if blocks, err := st.Blocks(ctx, c.ID); err != nil {
				return err
			} else if !anyActive(blocks, st.Now()) {
				fmt.Fprintf(stdout, "%s (%s) has no active block.\n", c.Email, c.ID)
				return nil
			}
		}
	case "add":
		res, b, err := svc.Block(ctx, a.request(support.Key(paidup.ActionBlock, c.ID, a.actor, a.reason)), c.ID)
		if err != nil {
			return err
		}
		if res.Repeat {
			printResult(stdout, res)
		} else {
			fmt.Fprintf(stdout, "Blocked %s (%s): block %s. Every grant is suspended until the block is lifted.\n", c.Email, c.ID, b.ID)
		}
	}
	return showBlocks(ctx, st, &cfg.Policy, c, stdout)
}

// anyActive reports whether a block holds at t or after.
func anyActive(blocks []paidup.Block, t time.Time) bool {
	for _, b := range blocks {
		if b.Lifted.IsZero() || b.Lifted.After(t) {
			return true
		}
	}
	return false
}

// showBlocks prints a customer's blocks, grants and access, tiers by name.
func showBlocks(ctx context.Context, st *store.Store, policy *paidup.Policy, c paidup.Customer, stdout io.Writer) error {
	blocks, err := st.Blocks(ctx, c.ID)
	if err != nil {
		return err
	}
	grants, err := st.Grants(ctx, c.ID)
	if err != nil {
		return err
	}
	payments, err := st.Payments(ctx, c.ID)
	if err != nil {
		return err
	}
	for _, b := range blocks {
		state := "ACTIVE"
		if !b.Lifted.IsZero() {
			state = fmt.Sprintf("lifted %s by %s: %s", b.Lifted.Format(time.RFC3339), b.LiftedBy, b.LiftReason)
		}
		fmt.Fprintf(stdout, "block %s (%s, %s): %s — %s\n", b.ID, b.Source, b.CreatedAt.Format(time.RFC3339), b.Reason, state)
	}
	for _, p := range payments {
		if p.DisputeReference != "" {
			fmt.Fprintf(stdout, "chargeback %s of payment %s (%s, %s)\n", p.DisputeReference, p.ID, p.Amount, cmp.Or(p.CheckoutReference, "no checkout reference"))
		}
	}
	at := lifecycle.Moment(st.Now(), grants, blocks)
	a := policy.AccessAt(grants, blocks, at)
	for _, g := range grants {
		fmt.Fprintf(stdout, "grant %s: %s (%s, %s) — %s\n", g.ID, policy.TierName(g.Tier), g.Source, g.SourceRef, grantState(g, a, at))
	}
	switch {
	case a.Blocked:
		fmt.Fprintf(stdout, "%s (%s) is blocked: no access.\n", c.Email, c.ID)
	case a.Active:
		fmt.Fprintf(stdout, "%s (%s) has access: %s.\n", c.Email, c.ID, policy.TierName(a.Tier))
	default:
		fmt.Fprintf(stdout, "%s (%s) has no active grant.\n", c.Email, c.ID)
	}
	return nil
}

// grantState says what a grant gives at t.
func grantState(g paidup.Grant, a paidup.Access, t time.Time) string {
	until := "for good"
	if !g.End.IsZero() {
		until = "until " + g.End.Format(time.RFC3339)
	}
	switch {
	case !g.Revoked.IsZero():
		return fmt.Sprintf("ended %s: %s", g.Revoked.Format(time.RFC3339), g.RevokeReason)
	case !g.End.IsZero() && !t.Before(g.End):
		return "ran out " + g.End.Format(time.RFC3339)
	case t.Before(g.Start):
		return "from " + g.Start.Format(time.RFC3339) + ", " + until
	case a.Blocked:
		return "suspended by the block, " + until
	}
	return "active, " + until
}
