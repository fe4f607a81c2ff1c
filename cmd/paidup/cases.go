package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/config"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/replies"
	"github.com/paidup/paidup/internal/store"
	"github.com/paidup/paidup/internal/support"
)

// supportCase lists the open support cases in the order a person should
// take them, triages one (take it, snooze it, mark it waiting on the
// customer), or resolves one: a person's decision, on the customer's
// timeline with who made it. A customer whose purchase waited on the case
// is emailed the answer.
func supportCase(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const usage = `usage: paidup case list [--all]
       paidup case take|wait|snooze --case ID --actor NAME [--for 4h | --until TIME]
       paidup case reply --case ID --template NAME --actor NAME [--preview]   (no --template: the templates)
       paidup case resolve --case ID --answer TEXT --actor NAME`
	if len(args) == 0 || !slices.Contains([]string{"list", "take", "wait", "snooze", "reply", "resolve"}, args[0]) {
		return usageError{usage}
	}
	sub := args[0]
	fs := flag.NewFlagSet("paidup case "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f commonFlags
	f.register(fs, getenv, "config", "database-url", "sandbox-database-url")
	id, answer, actor, until := new(string), new(string), new(string), new(string)
	all, preview := new(bool), new(bool)
	replyTemplate := new(string)
	snoozeFor := new(time.Duration)
	switch sub {
	case "list":
		fs.BoolVar(all, "all", false, "list snoozed cases too")
	default:
		fs.StringVar(id, "case", "", "the support case (sc_…), as paidup case list shows it")
		fs.StringVar(actor, "actor", getenv("USER"), "who does it, for the audit trail [USER]")
	}
	switch sub {
	case "resolve":
		fs.StringVar(answer, "answer", "", "what was found and done, in words for the customer: it is emailed to them when they wait on the case")
	case "reply":
		fs.StringVar(replyTemplate, "template", "", "the reply template (paidup case reply --case ID lists them)")
		fs.BoolVar(preview, "preview", false, "print the reply as it would be sent, and send nothing")
	case "snooze":
		fs.DurationVar(snoozeFor, "for", 0, "snooze for this long (e.g. 4h)")
		fs.StringVar(until, "until", "", "snooze until this time (RFC 3339, e.g. 2026-12-05T09:00:00Z)")
	}
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if sub == "reply" && *replyTemplate == "" && *id != "" {
		*actor = cmp.Or(strings.TrimSpace(*actor), "-") // listing the templates needs no one
	}
	if sub != "list" && (*id == "" || strings.TrimSpace(*actor) == "") {
		return usageError{"--case and --actor are required: " + usage}
	}
	var snoozeUntil time.Time
	if sub == "snooze" {
		switch {
		case *until != "" && *snoozeFor != 0, *until == "" && *snoozeFor <= 0:
			return usageError{"paidup case snooze needs one of --for (a positive duration) or --until: " + usage}
		case *until != "":
			t, err := time.Parse(time.RFC3339, *until)
			if err != nil {
				return usageError{fmt.Sprintf("--until %q: want a time like 2026-12-05T09:00:00Z", *until)}
			}
			snoozeUntil = t
		}
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
	switch sub {
	case "list":
		return listCases(ctx, st, *all, stdout)
	case "reply":
		return replyToCase(ctx, cfg, st, *id, *replyTemplate, strings.TrimSpace(*actor), *preview, stdout)
	case "take", "wait", "snooze":
		if sub == "snooze" && snoozeUntil.IsZero() {
			snoozeUntil = st.Now().Add(*snoozeFor)
		}
		return triageCase(ctx, st, sub, *id, strings.TrimSpace(*actor), snoozeUntil, stdout)
	}
	res, err := supportService(cfg, st, nil).Resolve(ctx,
		support.Request{ID: support.Key(paidup.ActionResolve, *id, *answer), Actor: strings.TrimSpace(*actor)}, *id, *answer)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, res.Outcome())
	return nil
}

// casesListed is how many open cases `paidup case list` prints in the
// inbox's order, and how many `--all` reads at a time.
const casesListed = 1000

// listCases prints the open cases in the order a person should take them
// (with all, every open case, oldest first), then the kinds that have
// several open cases, which usually share a cause.
func listCases(ctx context.Context, st *store.Store, all bool, stdout io.Writer) error {
	now := st.Now()
	listed := 0
	show := func(cases []paidup.SupportCase) {
		listed += len(cases)
		for _, c := range cases {
			stake, ref, who := "-", cmp.Or(c.Reference, "-"), cmp.Or(c.Assignee, "-")
			if c.Stake.Amount > 0 {
				stake = c.Stake.String()
			}
			state := c.State(now)
			if state == paidup.CaseSnoozed {
				state += " until " + c.SnoozedUntil.Format(time.RFC3339)
			}
			fmt.Fprintf(stdout, "%s\t%s\twaiting %s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.CreatedAt.Format(time.RFC3339),
				notify.HumanDuration(now.Sub(c.CreatedAt).Truncate(time.Minute)), state, stake, c.Kind, ref, who, c.Summary)
		}
	}
	if all {
		// Every open case, oldest first, printed a page at a time as it
		// is read: the first lines come at once however many are open.
		after := paidup.SupportCase{}
		for {
			page, err := st.OpenCasesPage(ctx, after, casesListed)
			if err != nil {
				return err
			}
			show(page)
			if len(page) < casesListed {
				break
			}
			after = page[len(page)-1]
		}
	} else {
		cases, err := st.Inbox(ctx, now, casesListed)
		if err != nil {
			return err
		}
		show(cases)
	}
	if listed == 0 {
		fmt.Fprintln(stdout, "No open support cases.")
	}
	groups, err := st.CaseGroups(ctx)
	if err != nil {
		return err
	}
	for _, g := range groups {
		var stakes []string
		for _, m := range g.Stakes {
			stakes = append(stakes, m.String())
		}
		line := fmt.Sprintf("%d open %s cases, the oldest since %s", g.Count, g.Kind, g.Oldest.Format(time.RFC3339))
		if len(stakes) > 0 {
			line += ", " + strings.Join(stakes, " + ") + " at stake"
		}
		fmt.Fprintln(stdout, line+": likely one cause.")
	}
	return nil
}

// triageCase takes a case (the actor works on it), marks it waiting on
// the customer, or snoozes it until until, on the customer's timeline.
func triageCase(ctx context.Context, st *store.Store, how, id, actor string, until time.Time, stdout io.Writer) error {
	c, changed, err := support.Triage(ctx, st, how, id, actor, until)
	if err != nil {
		return err
	}
	if !changed {
		fmt.Fprintf(stdout, "%s is already %s; nothing changed.\n", id, describeTriage(c, st.Now()))
		return nil
	}
	fmt.Fprintf(stdout, "%s is now %s.\n", id, describeTriage(c, st.Now()))
	return nil
}

// describeTriage says where a case stands: "open, taken by sam",
// "snoozed until …", "waiting on the customer".
func describeTriage(c paidup.SupportCase, now time.Time) string {
	var s string
	switch c.State(now) {
	case paidup.CaseSnoozed:
		s = "snoozed until " + c.SnoozedUntil.Format(time.RFC3339)
	case paidup.CaseWaiting:
		s = "waiting on the customer"
	default:
		s = "open"
	}
	if c.Assignee != "" {
		s += ", taken by " + c.Assignee
	}
	return s
}

// replyToCase sends a reply to a case's customer from a reply template,
// with the case's fields, and marks the case waiting on them; with
// preview, prints it and sends nothing. Without a template, it lists them.
func replyToCase(ctx context.Context, cfg *config.Config, st *store.Store, id, name, actor string, preview bool, stdout io.Writer) error {
	svc, err := replyService(cfg, st)
	if err != nil {
		return err
	}
	if name == "" {
		for _, n := range svc.Replies.Names() {
			t, _ := svc.Replies.Template(n)
			fmt.Fprintf(stdout, "%s\t%s\n", n, t.Source)
		}
		return nil
	}
	pv, err := svc.PreviewReply(ctx, id, name)
	if err != nil {
		return err
	}
	if preview {
		fmt.Fprintf(stdout, "To: %s\nSubject: %s\n\n%s", pv.To, pv.Reply.Subject, pv.Text())
		return nil
	}
	res, err := svc.Reply(ctx, support.Request{ID: support.Key(paidup.ActionReply, id, name, pv.Reply.Text), Actor: actor}, id, name)
	if err != nil {
		return err
	}
	if res.Repeat {
		fmt.Fprintf(stdout, "This reply was sent to the customer of %s before; nothing sent again.\n", id)
		return nil
	}
	fmt.Fprintln(stdout, res.Outcome(), "(sent by the running paidup serve)")
	return nil
}

// replyService is the support service with the reply templates.
func replyService(cfg *config.Config, st *store.Store) (*support.Service, error) {
	set, err := replies.Load(cfg.Support.ReplyTemplates)
	if err != nil {
		return nil, err
	}
	svc := supportService(cfg, st, nil)
	svc.Replies, svc.ReplyFields = set, replyFields(cfg)
	return svc, nil
}

// replyFields are the fields every reply gets.
func replyFields(cfg *config.Config) replies.Fields {
	return replies.Fields{Business: cfg.Business.Name, SupportEmail: cfg.Business.SupportEmail, ReplyWithin: cfg.Support.ReplyWithin}
}
