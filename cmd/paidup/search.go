package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/paidup/paidup/internal/store"
)

const searchUsage = "usage: paidup search [--limit N] QUERY (an email or part of one, a PU- reference, a processor's id such as pi_… or cus_…, or a case sc_…)"

// search prints the customers a query finds, best first, with what of
// each matched: support's search box, from the command line.
func search(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("paidup search", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f commonFlags
	f.register(fs, getenv, "config", "database-url")
	limit := fs.Int("limit", store.SearchLimit, fmt.Sprintf("show at most this many customers (at most %d)", store.MaxSearchLimit))
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	query := strings.Join(fs.Args(), " ")
	if strings.TrimSpace(query) == "" {
		return usageError{searchUsage}
	}
	if *limit < 1 || *limit > store.MaxSearchLimit {
		return usageError{fmt.Sprintf("--limit must be between 1 and %d", store.MaxSearchLimit)}
	}
	cfg, err := f.load(io.Discard)
	if err != nil {
		return err
	}
	db, st, err := openStoreReadOnly(ctx, cfg.Database.URL.Reveal(), time.Now)
	if err != nil {
		return err
	}
	defer db.Close()
	r, err := st.Search(ctx, query, *limit)
	if err != nil {
		return err
	}
	if len(r.Hits) == 0 {
		fmt.Fprintf(stdout, "No customer matches %q.\n", query)
		return nil
	}
	for _, h := range r.Hits {
		switch {
		case h.CustomerID != "":
			fmt.Fprintf(stdout, "%s\t%s\n", h.CustomerID, h.Email)
		case h.Reference != "":
			fmt.Fprintf(stdout, "checkout %s\t%s\t(no customer yet: nothing was fulfilled)\n", h.Reference, h.Email)
		default:
			fmt.Fprintf(stdout, "no customer\n")
		}
		for _, m := range h.Matches {
			fmt.Fprintf(stdout, "\t%s\n", m)
		}
	}
	if r.More {
		fmt.Fprintln(stdout, "More match than are shown: type more of what you know.")
	}
	return nil
}
