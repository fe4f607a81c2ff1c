// Command paidup stands between a payment processor and customer access:
// every customer who paid gets in, exactly once.
//
//	paidup serve      run paidup (with its sandbox processor by default)
//	paidup sandbox    run only the Stripe-compatible sandbox processor
//	paidup migrate    create or upgrade the database tables
//	paidup check      verify paidup's invariants on a live database
//	paidup case       list the open support cases, or resolve one
//	paidup operator   add, remove, reset or list the console's operators
//	paidup search     find customers by email, reference or processor id
//	paidup demo       replay a crash after a charge, and the recovery
//	paidup preview-email  print an email with sample data, or list them
//	paidup failpoints list the crash points for tests
//	paidup version    print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/paidup/paidup/internal/failpoint"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "paidup:", err)
		}
		os.Exit(exitCode(err))
	}
}

// exitCode is 2 for usage errors and 1 for everything else.
func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

const usage = `paidup stands between a payment processor and customer access.

Usage:
  paidup serve [flags]     run paidup; with no configuration it runs the
                           built-in sandbox processor and a local mailbox
  paidup sandbox [flags]   run only the Stripe-compatible sandbox processor
  paidup migrate [flags]   create or upgrade the database tables and exit
  paidup check [flags]     verify paidup's invariants on a live database
  paidup block show|lift|add
                           show a customer's blocks and grants, lift them,
                           or block them (a person's decision, with --actor
                           and --reason)
  paidup case list|take|wait|snooze|reply|resolve
                           the open support cases in the order to take them;
                           take one, mark it waiting on the customer, snooze
                           it, reply from a template, or resolve it (--case,
                           --actor; --answer is emailed to the customer
                           whose purchase waited on it)
  paidup operator add|remove|reset|list [EMAIL]
                           add an operator of the console (printing their
                           password, TOTP secret and recovery codes once),
                           remove one, reset one (a lost phone: new
                           credentials, their sessions end), or list them
  paidup customer show|recover|resend|refund|grant|end-grant|note
                           what paidup knows of a customer, and the support
                           actions on them (--actor, --reason; a refund
                           shows its preview, and needs --yes to run)
  paidup audit [--customer WHO]
                           the audit log: every action people took
  paidup search QUERY      find customers by email (or part of one), a PU-
                           reference, a processor's id (pi_…, cus_…) or a case
  paidup demo              replay the $249 story: a crash after the charge,
                           and the recovery, on a throwaway database
  paidup preview-email [NAME] [--html]
                           print the email NAME with sample data from the
                           configured plans; without NAME, list the emails
  paidup failpoints        list the crash points PAIDUP_FAILPOINTS can arm
  paidup version           print the version

Run "paidup COMMAND -h" for a command's flags.
`

// run is paidup's whole program, so that tests can run it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, rest, getenv, stdout, stderr)
	case "sandbox":
		return runSandbox(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return migrate(ctx, rest, getenv, stdout, stderr)
	case "check":
		return check(ctx, rest, getenv, stdout, stderr)
	case "block":
		return block(ctx, rest, getenv, stdout, stderr)
	case "case":
		return supportCase(ctx, rest, getenv, stdout, stderr)
	case "operator":
		return operatorCommand(ctx, rest, getenv, stdout, stderr)
	case "customer":
		return customerCommand(ctx, rest, getenv, stdout, stderr)
	case "audit":
		return audit(ctx, rest, getenv, stdout, stderr)
	case "search":
		return search(ctx, rest, getenv, stdout, stderr)
	case "failpoints":
		for _, p := range failpoint.Points {
			fmt.Fprintf(stdout, "%s\t%s\n", p.Name, p.Desc)
		}
		return nil
	case "demo":
		return demo(ctx, rest, getenv, stdout, stderr)
	case "preview-email":
		return previewEmail(ctx, rest, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "paidup", version())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}

// buildVersion is set at link time (-ldflags "-X main.buildVersion=v1.2.3").
var buildVersion string

func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	if info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "(devel)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "(devel " + rev + ")"
}
