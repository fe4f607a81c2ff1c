package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/failpoint"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/store"
)

// supportCase lists the open support cases, or resolves one: a person's
// decision, on the customer's timeline with who made it. A customer whose
// purchase waited on the case is emailed the answer.
func supportCase(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const usage = `usage: paidup case list, or paidup case resolve --case ID --answer TEXT --actor NAME`
	if len(args) == 0 || (args[0] != "list" && args[0] != "resolve") {
		return usageError{usage}
	}
	sub := args[0]
	fs := flag.NewFlagSet("paidup case "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f commonFlags
	f.register(fs, getenv, "config", "database-url", "sandbox-database-url")
	id, answer, actor := new(string), new(string), new(string)
	if sub == "resolve" {
		fs.StringVar(id, "case", "", "the support case (sc_…), as paidup case list shows it")
		fs.StringVar(answer, "answer", "", "what was found and done, in words for the customer: it is emailed to them when they wait on the case")
		fs.StringVar(actor, "actor", getenv("USER"), "who resolves the case, for the audit trail [USER]")
	}
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if sub == "resolve" && (*id == "" || strings.TrimSpace(*actor) == "") {
		return usageError{"--case and --actor are required: " + usage}
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
	if sub == "list" {
		cases, err := st.OpenCases(ctx)
		if err != nil {
			return err
		}
		if len(cases) == 0 {
			fmt.Fprintln(stdout, "No open support cases.")
		}
		for _, c := range cases {
			ref := c.Reference
			if ref == "" {
				ref = "-"
			}
			fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.CreatedAt.Format(time.RFC3339), c.Kind, ref, c.Summary)
		}
		return nil
	}
	outbox := &notify.Outbox{}
	var resolved paidup.SupportCase
	err = st.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if resolved, err = outbox.ResolveCase(ctx, tx, *id, *actor, *answer); err != nil {
			return err
		}
		failpoint.Inject("case.before_commit")
		return nil
	})
	if err != nil {
		return err
	}
	if resolved.Reference != "" {
		fmt.Fprintf(stdout, "Resolved %s (%s, %s).\n", resolved.ID, resolved.Kind, resolved.Reference)
	} else {
		fmt.Fprintf(stdout, "Resolved %s (%s).\n", resolved.ID, resolved.Kind)
	}
	return nil
}
