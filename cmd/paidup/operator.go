package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/paidup/paidup/internal/config"
	"github.com/paidup/paidup/internal/operator"
	"github.com/paidup/paidup/internal/store"
)

const operatorUsage = "usage: paidup operator add EMAIL, paidup operator remove EMAIL, paidup operator reset EMAIL, or paidup operator list"

// operatorCommand adds, removes, resets or lists the operators who sign in
// to the console. What a new or reset operator signs in with is printed
// once, and kept by paidup only as hashes (but the TOTP secret).
func operatorCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || !strings.Contains(" add remove reset list ", " "+args[0]+" ") {
		return usageError{operatorUsage}
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("paidup operator "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f commonFlags
	f.register(fs, getenv, "config", "database-url")
	// The address may come before the flags or after them.
	var email string
	if sub != "list" && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		email, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return parseError(err)
	}
	if sub != "list" && email == "" && fs.NArg() == 1 {
		email = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if sub != "list" && email == "" {
		return usageError{"the operator's email address is required: " + operatorUsage}
	}
	cfg, err := f.load(io.Discard)
	if err != nil {
		return err
	}
	// The first operator may be added before paidup first runs: the
	// tables are made as serve makes them.
	db, err := openDatabase(ctx, cfg.Database.URL.Reveal())
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := store.New(db, time.Now)
	if err != nil {
		return err
	}
	svc := operators(cfg)
	svc.Store = st
	switch sub {
	case "list":
		ops, err := svc.List(ctx)
		if err != nil {
			return err
		}
		if len(ops) == 0 {
			fmt.Fprintln(stdout, "No operators. Add one with: paidup operator add EMAIL")
		}
		for _, op := range ops {
			fmt.Fprintf(stdout, "%s\t%s\tadded %s\t%d recovery codes left\n", op.Email, op.ID, op.CreatedAt.Format(time.RFC3339), op.RecoveryCodes)
		}
		return nil
	case "remove":
		if err := svc.Remove(ctx, email); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Removed operator %s: their sessions have ended, and they cannot sign in.\n", email)
		return nil
	}
	var setup operator.Setup
	if sub == "add" {
		setup, err = svc.Add(ctx, email)
	} else {
		setup, err = svc.Reset(ctx, email)
	}
	if err != nil {
		return err
	}
	verb := "Added"
	if sub == "reset" {
		verb = "Reset"
	}
	printSetup(stdout, verb, setup, cmp.Or(cfg.Server.PublicURL, "http://"+cfg.Server.Listen))
	return nil
}

// printSetup prints what an operator signs in with: shown this once.
func printSetup(w io.Writer, verb string, s operator.Setup, publicURL string) {
	fmt.Fprintf(w, "%s operator %s (%s).\n", verb, s.Operator.Email, s.Operator.ID)
	if verb == "Reset" {
		fmt.Fprintln(w, "Their old password, authenticator code and recovery codes no longer work, and their sessions have ended.")
	}
	fmt.Fprintf(w, `
Give them what follows, privately; it is shown this once.

Password:     %s
TOTP secret:  %s
  (add it to an authenticator app: type the secret, or open this URI or
  make it a QR code)
TOTP URI:     %s

Recovery codes (each works once, in place of the app's code, e.g. after
losing the phone):
`, s.Password, s.TOTPSecret, s.TOTPURI)
	for _, c := range s.RecoveryCodes {
		fmt.Fprintf(w, "  %s\n", c)
	}
	fmt.Fprintf(w, "\nSign in at %s/console/sign-in\n", strings.TrimSuffix(publicURL, "/"))
}

// operators is the operator service as the configuration sets it up,
// without its store.
func operators(cfg *config.Config) *operator.Service {
	return &operator.Service{Issuer: cfg.Business.Name, IdleTimeout: cfg.Console.SessionIdle.D(), Lifetime: cfg.Console.SessionLifetime.D(), Now: time.Now}
}

func parseError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{err.Error()}
}
