package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/paidup/paidup/internal/mailbox"
	"github.com/paidup/paidup/internal/sandbox"
)

// runSandbox runs the sandbox processor on its own, as Stripe runs apart
// from paidup: tests kill and restart paidup while the processor stays up.
func runSandbox(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("paidup sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f commonFlags
	f.register(fs, getenv, "config", "sandbox-listen", "sandbox-database-url", "log-level", "log-format")
	var webhookURL, webhookSecret, smtpListen string
	fs.StringVar(&webhookURL, "webhook-url", getenv("PAIDUP_SANDBOX_WEBHOOK_URL"), "`URL` to deliver webhooks to (default: server.public_url or http://server.listen, + /webhooks/stripe) [PAIDUP_SANDBOX_WEBHOOK_URL]")
	fs.StringVar(&webhookSecret, "webhook-secret", getenv("PAIDUP_SANDBOX_WEBHOOK_SECRET"), "`secret` (whsec_…) to sign webhooks with (default: sandbox.webhook_secret, else random and printed) [PAIDUP_SANDBOX_WEBHOOK_SECRET]")
	fs.StringVar(&smtpListen, "smtp-listen", or(getenv("PAIDUP_SANDBOX_SMTP_LISTEN"), "127.0.0.1:1025"), "`address` of the local mailbox's SMTP server, or off [PAIDUP_SANDBOX_SMTP_LISTEN]")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: paidup sandbox [flags]\n\nRuns the Stripe-compatible sandbox processor alone. Point paidup at it with\nprocessor.kind: stripe, processor.stripe.api_url: http://SANDBOX-ADDRESS, any sk_test_ key,\nand the webhook secret it prints.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := f.load(stdout)
	if err != nil {
		return err
	}
	// As serve's, the log waits for the banner.
	held := &heldWriter{w: stderr}
	defer held.release()
	log, err := f.logger(held)
	if err != nil {
		return err
	}
	if webhookSecret == "" {
		webhookSecret = cfg.Sandbox.WebhookSecret.Reveal()
	}
	if webhookSecret == "" {
		webhookSecret = randomSecret()
	} else if !strings.HasPrefix(webhookSecret, "whsec_") {
		return usageError{"--webhook-secret: want a secret starting with whsec_"}
	}
	if webhookURL == "" {
		webhookURL = or(cfg.Server.PublicURL, "http://"+cfg.Server.Listen) + "/webhooks/stripe"
	}

	ln, err := listen(cfg.Sandbox.Listen, "--sandbox-listen")
	if err != nil {
		return err
	}
	defer ln.Close()
	baseURL := "http://" + ln.Addr().String()
	db, err := openSandboxDatabase(ctx, cfg.Sandbox.DatabaseURL.Reveal())
	if err != nil {
		return err
	}
	defer db.Close()
	opts := sandboxOptions(cfg, db, baseURL, log, []sandbox.EndpointConfig{{URL: webhookURL, Secret: webhookSecret}})
	var mb *mailbox.Mailbox
	smtpURL := ""
	if smtpListen != "off" && smtpListen != "" {
		if mb, err = mailbox.Open(ctx, db, log.With("component", "mailbox")); err != nil {
			return err
		}
		mln, err := listen(smtpListen, "--smtp-listen")
		if err != nil {
			return err
		}
		defer mln.Close()
		go mb.Serve(mln)
		defer mb.Close()
		smtpURL = "smtp://" + mln.Addr().String()
		opts.Links = []sandbox.Link{{Name: "Mailbox", URL: "/mailbox/"}}
	}
	sb, err := sandbox.New(ctx, opts)
	if err != nil {
		return fmt.Errorf("starting the sandbox: %w", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan struct{})
	go func() { sb.Run(runCtx); close(done) }()
	handler := sb.Handler()
	if mb != nil {
		mux := http.NewServeMux()
		mux.Handle("/mailbox/", mb.Handler("/mailbox"))
		mux.Handle("/", handler)
		handler = mux
	}
	srv := newHTTPServer(handler, log)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "\npaidup sandbox is running.\n\n  API:      %s/v1   (any sk_test_ key)\n  Console:  %s/\n  Webhooks: %s\n  Signing secret: %s\n", baseURL, baseURL, webhookURL, webhookSecret)
	if smtpURL != "" {
		fmt.Fprintf(stdout, "  Mail:     %s   (read at %s/mailbox/)\n", smtpURL, baseURL)
	}
	fmt.Fprintf(stdout, "\nStop with Ctrl-C.\n")
	held.release()
	log.Info("sandbox started", "listen", ln.Addr().String(), "database", db.Location, "webhook_url", webhookURL)

	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serving the sandbox: %w", err)
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	srv.Shutdown(shutdownCtx)
	stop()
	<-done
	return nil
}
