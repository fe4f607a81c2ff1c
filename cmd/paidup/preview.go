package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// previewEmail prints an email as paidup would send it, with sample data
// from the configured plans, or lists the emails there are.
func previewEmail(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("paidup preview-email", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f commonFlags
	f.register(fs, getenv, "config", "listen")
	var asHTML bool
	fs.BoolVar(&asHTML, "html", false, "print the HTML part instead of the subject and text")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: paidup preview-email [NAME] [--config FILE] [--html]\n\nPrints the email NAME as paidup would send it, with sample data from the\nconfigured plans and the templates of lifecycle.templates. Without NAME, lists\nthe emails.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	// NAME may come before or after the flags.
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	var name string
	if fs.NArg() > 0 {
		name = fs.Arg(0)
		if err := parse(fs, fs.Args()[1:]); err != nil {
			return err
		}
	}
	cfg, err := f.load(stdout)
	if err != nil {
		return err
	}
	publicURL := or(cfg.Server.PublicURL, "http://"+cfg.Server.Listen)
	templates, err := emailTemplates(cfg, publicURL)
	if err != nil {
		return err
	}
	if name == "" {
		fmt.Fprintf(stdout, "Emails paidup sends (%s):\n\n", cfg.Source)
		tw := tabwriter.NewWriter(stdout, 0, 0, 3, ' ', 0)
		for _, t := range templates.List() {
			from := "built in"
			if t.Text != "built in" || t.HTML != "built in" {
				from = "text: " + t.Text + "; HTML: " + t.HTML
			}
			fmt.Fprintf(tw, "  %s\t%s\n", t.Name, from)
		}
		tw.Flush()
		fmt.Fprintf(stdout, "\nPreview one with: paidup preview-email NAME [--html]\n")
		return nil
	}
	m, err := newSender(cfg, publicURL, templates).Preview(name)
	if err != nil {
		return fmt.Errorf("%w; paidup preview-email lists them", err)
	}
	if asHTML {
		io.WriteString(stdout, m.HTML)
		return nil
	}
	text := m.Text
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	fmt.Fprintf(stdout, "Subject: %s\nFrom: %s\nTo: %s\n\n%s", m.Subject, m.From, m.To, text)
	return nil
}
