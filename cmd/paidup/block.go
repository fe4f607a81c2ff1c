package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/lifecycle"
)

// block shows a customer's blocks or lifts them: a person's decision, on
// the customer's timeline with who made it and why.
func block(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "lift" && args[0] != "show") {
		return usageError{"usage: paidup block show --customer ID|EMAIL, or paidup block lift --customer ID|EMAIL --actor NAME --reason TEXT"}
	}
	sub := args[0]
	fs := flag.NewFlagSet("paidup block "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f commonFlags
	f.register(fs, getenv, "config", "database-url", "sandbox-database-url")
	who := fs.String("customer", "", "the customer: paidup's id (cu_…) or their email address")
	actor, reason := new(string), new(string)
	if sub == "lift" {
		fs.StringVar(actor, "actor", getenv("USER"), "who lifts the block, for the audit trail [USER]")
		fs.StringVar(reason, "reason", "", "why the block is lifted, for the audit trail")
	}
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *who == "" {
		return usageError{"--customer is required"}
	}
	if sub == "lift" && (strings.TrimSpace(*actor) == "" || strings.TrimSpace(*reason) == "") {
		return usageError{"--actor and --reason are required: lifting a block is on the customer's record"}
	}
	cfg, err := f.load(io.Discard)
	if err != nil {
		return err
	}
	now, err := businessClock(ctx, cfg)
	if err != nil {
		return err
	}
	db, st, err := openStore(ctx, cfg.Database.URL.Reveal(), now)
	if err != nil {
		return err
	}
	defer db.Close()
	var c paidup.Customer
	if strings.Contains(*who, "@") {
		email, err := paidup.NormaliseEmail(*who)
		if err != nil {
			return err
		}
		c, err = st.CustomerByEmail(ctx, email)
		if err != nil {
			return fmt.Errorf("no customer with email %s: %w", email, err)
		}
	} else if c, err = st.Customer(ctx, *who); err != nil {
		return fmt.Errorf("no customer %s: %w", *who, err)
	}
	if sub == "lift" {
		lifted, err := lifecycle.LiftBlocks(ctx, st, c.ID, *actor, *reason)
		if err != nil {
			return err
		}
		if len(lifted) == 0 {
			fmt.Fprintf(stdout, "%s (%s) has no active block.\n", c.Email, c.ID)
			return nil
		}
		for _, b := range lifted {
			fmt.Fprintf(stdout, "Lifted %s block %s (%s).\n", b.Source, b.ID, b.Reason)
		}
	}
	blocks, err := st.Blocks(ctx, c.ID)
	if err != nil {
		return err
	}
	grants, err := st.Grants(ctx, c.ID)
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
	a := cfg.Policy.AccessAt(grants, blocks, st.Now())
	switch {
	case a.Blocked:
		fmt.Fprintf(stdout, "%s (%s) is blocked: no access.\n", c.Email, c.ID)
	case a.Active:
		fmt.Fprintf(stdout, "%s (%s) has access: %s.\n", c.Email, c.ID, cfg.Policy.TierName(a.Tier))
	default:
		fmt.Fprintf(stdout, "%s (%s) has no active grant.\n", c.Email, c.ID)
	}
	return nil
}
