// Package config reads paidup's one human-edited configuration file: the
// policy (tiers and plans) and how paidup reaches its database, processor and
// mail server. A bad file is refused as a whole, with the file, line and
// reason of every problem.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/paidup/paidup"
)

// Config is a loaded, validated configuration.
type Config struct {
	// Source names where the configuration came from, for messages.
	Source string

	Server     Server     `yaml:"server"`
	Database   Database   `yaml:"database"`
	Business   Business   `yaml:"business"`
	Processor  Processor  `yaml:"processor"`
	Sandbox    Sandbox    `yaml:"sandbox"`
	Tiers      []Tier     `yaml:"tiers"`
	Plans      []Plan     `yaml:"plans"`
	SMTP       SMTP       `yaml:"smtp"`
	OnCall     OnCall     `yaml:"oncall"`
	API        API        `yaml:"api"`
	Reconciler Reconciler `yaml:"reconciler"`
	Accounts   Accounts   `yaml:"accounts"`
	Lifecycle  Lifecycle  `yaml:"lifecycle"`
	Limits     Limits     `yaml:"limits"`
	Retention  Retention  `yaml:"retention"`
	Support    Support    `yaml:"support"`
	Console    Console    `yaml:"console"`

	// Policy is built from Tiers and Plans.
	Policy paidup.Policy `yaml:"-"`
}

// Server is where paidup listens.
type Server struct {
	Listen string `yaml:"listen"`
	// PublicURL is how customers reach paidup; empty means http://LISTEN.
	PublicURL string `yaml:"public_url"`
	// TrustedProxies are the proxies (addresses or CIDR prefixes) whose
	// X-Forwarded-For paidup believes.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Proxies are TrustedProxies, parsed.
	Proxies []netip.Prefix `yaml:"-"`
}

// Database is where paidup keeps its state.
type Database struct {
	URL Secret `yaml:"url"`
}

// Business is how paidup names the operator to customers.
type Business struct {
	Name         string `yaml:"name"`
	SupportEmail string `yaml:"support_email"`
}

// Support is what customers are promised about reaching a person.
type Support struct {
	// ReplyWithin is how soon a person answers, in the words pages and
	// emails use after "within": "one business day".
	ReplyWithin string `yaml:"reply_within"`
	// HelpAnswersPerDay is how many answers to the help form one address
	// gets a day.
	HelpAnswersPerDay int `yaml:"help_answers_per_day"`
	// ReplyTemplates is a directory of reply templates (NAME.md) that
	// replace or add to the built-in ones; empty for the built-in only.
	ReplyTemplates string `yaml:"reply_templates"`
	// InboundDomain is the domain of the cases' reply addresses
	// (reply+TOKEN@domain), each reply's Reply-To; mail to them is taken
	// into the case's thread. Empty: replies go to the support address,
	// and the reply page is the only way back.
	InboundDomain string `yaml:"inbound_domain"`
	// InboundSMTPListen is where paidup's own SMTP listener takes the
	// mail for those addresses; empty for none.
	InboundSMTPListen string `yaml:"inbound_smtp_listen"`
	// InboundWebhookKey is the signing key of the inbound-mail webhook
	// (Mailgun's routes, POST /inbound/mailgun); empty turns it off.
	InboundWebhookKey Secret `yaml:"inbound_webhook_key"`
}

// Processor kinds.
const (
	KindSandbox = "sandbox"
	KindStripe  = "stripe"
)

// Processor chooses the payment processor.
type Processor struct {
	Kind   string `yaml:"kind"`
	Stripe Stripe `yaml:"stripe"`
	// StatementDescriptorSuffix is what a one-time payment's line on the
	// customer's bank statement carries after the business's descriptor;
	// {reference} stands for the purchase's reference. Unset: the
	// reference; empty: nothing.
	StatementDescriptorSuffix *string `yaml:"statement_descriptor_suffix"`
}

// StatementSuffix is the statement descriptor suffix to use.
func (p Processor) StatementSuffix() string {
	if p.StatementDescriptorSuffix == nil {
		return "{reference}"
	}
	return *p.StatementDescriptorSuffix
}

// Stripe holds the Stripe API credentials.
type Stripe struct {
	SecretKey      Secret   `yaml:"secret_key"`
	WebhookSecrets []Secret `yaml:"webhook_secrets"`
	APIURL         string   `yaml:"api_url"`
	// TestClock, in test mode, makes paidup's business clock follow a
	// processor test clock (e.g. the sandbox's clock_sandbox).
	TestClock string `yaml:"test_clock"`
}

// Sandbox configures the built-in Stripe-compatible sandbox.
type Sandbox struct {
	Listen        string     `yaml:"listen"`
	DatabaseURL   Secret     `yaml:"database_url"`
	WebhookSecret Secret     `yaml:"webhook_secret"`
	RetrySchedule []Duration `yaml:"retry_schedule"`
	Faults        []Fault    `yaml:"faults"`
}

// Fault is a sandbox fault-injection rule.
type Fault struct {
	Action string   `yaml:"action"`
	Event  string   `yaml:"event"`
	Count  int      `yaml:"count"`
	Delay  Duration `yaml:"delay"`
}

// Fault actions.
var faultActions = []string{"drop", "duplicate", "delay", "reorder"}

// Tier is a tier as written in the file.
type Tier struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	Rank *int   `yaml:"rank"`
}

// Plan is a plan as written in the file.
type Plan struct {
	ID          string   `yaml:"id"`
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Tier        string   `yaml:"tier"`
	Price       string   `yaml:"price"`
	Amount      string   `yaml:"amount"`
	Currency    string   `yaml:"currency"`
	Interval    string   `yaml:"interval"`
	Term        string   `yaml:"term"`
	Grace       Duration `yaml:"grace"`
	Extends     bool     `yaml:"extends"`
}

// Lifecycle is the subscription policy as written in the file.
type Lifecycle struct {
	Grace     Duration   `yaml:"grace"`
	Reminders []Reminder `yaml:"reminders"`
	DoubleBuy string     `yaml:"double_buy"`
	Templates string     `yaml:"templates"`
	// RenewalReceipts: paidup emails a receipt for each paid renewal.
	RenewalReceipts bool `yaml:"renewal_receipts"`
	// DuplicatePurchase: refund or case (see paidup.Lifecycle).
	DuplicatePurchase string `yaml:"duplicate_purchase"`
	// Chargeback says which grants a chargeback ends.
	Chargeback Chargeback `yaml:"chargeback"`
}

// Chargeback is the chargeback policy as written in the file.
type Chargeback struct {
	// Ends lists the kinds of grant a chargeback ends: disputed (always),
	// recurring, one_time, manual.
	Ends []string `yaml:"ends"`
}

// Reminder is a reminder email as written in the file.
type Reminder struct {
	After    Duration `yaml:"after"`
	Template string   `yaml:"template"`
}

// SMTP is the outgoing mail server.
type SMTP struct {
	URL  Secret `yaml:"url"`
	From string `yaml:"from"`
	// FromByKind is the From: of the emails of a kind (e.g. alert),
	// where it is not From.
	FromByKind map[string]string `yaml:"from_by_kind"`
}

// API configures the operator's app's access to paidup.
type API struct {
	Keys []Secret `yaml:"keys"`
}

// Reconciler configures the janitor.
type Reconciler struct {
	Interval Duration   `yaml:"interval"`
	Recheck  []Duration `yaml:"recheck"`
	Overlap  Duration   `yaml:"overlap"`
	Lookback Duration   `yaml:"lookback"`
}

// Accounts configures customers' sign-in.
type Accounts struct {
	SignInLinkTTL Duration `yaml:"sign_in_link_ttl"`
	SessionTTL    Duration `yaml:"session_ttl"`
	// SignInLinks is how many sign-in links an address gets in each
	// SignInLinksWindow.
	SignInLinks       int      `yaml:"sign_in_links"`
	SignInLinksWindow Duration `yaml:"sign_in_links_window"`
}

// Overrides are settings from flags and environment variables; they win over
// the file. Empty fields change nothing.
type Overrides struct {
	Listen             string
	SandboxListen      string
	DatabaseURL        string
	SandboxDatabaseURL string
	SMTPURL            string
}

// Load reads and validates the configuration file at path. An empty path
// loads the shipped example configuration (sandbox mode).
func Load(path string, o Overrides) (*Config, error) {
	data, source := paidup.ExampleConfig, "built-in example configuration"
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("reading configuration: %w", err)
		}
		source = path
	}
	return Parse(source, data, o)
}

// Parse reads and validates a configuration document; source names it in
// errors.
func Parse(source string, data []byte, o Overrides) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(source, err)
	}
	if len(root.Content) == 0 {
		return nil, &Error{File: source, Line: 1, Msg: "the file is empty"}
	}
	c := &Config{Source: source}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, yamlError(source, err)
	}
	c.applyOverrides(o)
	c.applyDefaults()
	v := validator{source: source, root: root.Content[0]}
	c.validate(&v)
	if len(v.errs) > 0 {
		slices.SortStableFunc(v.errs, func(a, b *Error) int { return a.Line - b.Line })
		errs := make([]error, len(v.errs))
		for i, e := range v.errs {
			errs[i] = e
		}
		return nil, errors.Join(errs...)
	}
	return c, nil
}

func (c *Config) applyOverrides(o Overrides) {
	if o.Listen != "" {
		c.Server.Listen = o.Listen
	}
	if o.SandboxListen != "" {
		c.Sandbox.Listen = o.SandboxListen
	}
	if o.DatabaseURL != "" {
		c.Database.URL = Secret(o.DatabaseURL)
	}
	if o.SandboxDatabaseURL != "" {
		c.Sandbox.DatabaseURL = Secret(o.SandboxDatabaseURL)
	}
	if o.SMTPURL != "" {
		c.SMTP.URL = Secret(o.SMTPURL)
	}
}

func (c *Config) applyDefaults() {
	if c.Server.Listen == "" {
		c.Server.Listen = "127.0.0.1:8080"
	}
	c.Server.PublicURL = strings.TrimRight(c.Server.PublicURL, "/")
	if c.Database.URL == "" {
		c.Database.URL = "sqlite:paidup.db"
	}
	if c.Business.Name == "" {
		c.Business.Name = "paidup"
	}
	if c.Processor.Kind == "" {
		c.Processor.Kind = KindSandbox
	}
	if c.Sandbox.Listen == "" {
		c.Sandbox.Listen = "127.0.0.1:8081"
	}
	if c.Sandbox.DatabaseURL == "" {
		c.Sandbox.DatabaseURL = "sqlite:paidup-sandbox.db"
	}
	if c.Sandbox.RetrySchedule == nil {
		for _, d := range []time.Duration{10 * time.Second, time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 12 * time.Hour} {
			c.Sandbox.RetrySchedule = append(c.Sandbox.RetrySchedule, Duration(d))
		}
	}
	for i := range c.Plans {
		c.Plans[i].Currency = strings.ToLower(c.Plans[i].Currency)
	}
	if c.SMTP.From == "" {
		c.SMTP.From = c.Business.Name + " <billing@example.com>"
	}
	if c.Support.HelpAnswersPerDay == 0 {
		c.Support.HelpAnswersPerDay = 3
	}
	if c.Support.ReplyWithin == "" {
		c.Support.ReplyWithin = "one business day"
	}
	c.Support.InboundDomain = strings.ToLower(c.Support.InboundDomain)
	c.OnCall.applyDefaults()
	r := &c.Reconciler
	if r.Interval == 0 {
		r.Interval = Duration(15 * time.Second)
	}
	if r.Recheck == nil {
		for _, d := range []time.Duration{time.Minute, 5 * time.Minute, time.Hour, 24 * time.Hour, 24 * time.Hour,
			24 * time.Hour, 24 * time.Hour, 24 * time.Hour, 24 * time.Hour, 24 * time.Hour} {
			r.Recheck = append(r.Recheck, Duration(d))
		}
	}
	if r.Overlap == 0 {
		r.Overlap = Duration(10 * time.Minute)
	}
	if r.Lookback == 0 {
		r.Lookback = Duration(72 * time.Hour)
	}
	if c.Accounts.SignInLinkTTL == 0 {
		c.Accounts.SignInLinkTTL = Duration(24 * time.Hour)
	}
	if c.Accounts.SessionTTL == 0 {
		c.Accounts.SessionTTL = Duration(30 * 24 * time.Hour)
	}
	if c.Accounts.SignInLinks == 0 {
		c.Accounts.SignInLinks = 3
	}
	if c.Accounts.SignInLinksWindow == 0 {
		c.Accounts.SignInLinksWindow = Duration(10 * time.Minute)
	}
	l := &c.Lifecycle
	if l.Grace == 0 {
		l.Grace = Duration(7 * 24 * time.Hour)
	}
	if l.Reminders == nil {
		l.Reminders = []Reminder{
			{After: 0, Template: "payment_failed"},
			{After: Duration(3 * 24 * time.Hour), Template: "payment_reminder"},
			{After: Duration(6 * 24 * time.Hour), Template: "payment_final_reminder"},
		}
	}
	if l.DoubleBuy == "" {
		l.DoubleBuy = paidup.DoubleBuyCancel
	}
	if l.Chargeback.Ends == nil {
		l.Chargeback.Ends = slices.Clone(paidup.DefaultChargebackEnds)
	}
	if l.DuplicatePurchase == "" {
		l.DuplicatePurchase = paidup.DuplicateRefund
	}
	c.applyLimitDefaults()
	c.Retention.applyDefaults()
	c.Console.applyDefaults()
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// domainPattern is a domain name in ASCII, of two labels or more.
var domainPattern = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// validateInbound checks how the customers' answers reach paidup: a
// domain for the reply addresses, and a way for its mail to arrive.
func (c *Config) validateInbound(v *validator) {
	s := c.Support
	if s.InboundDomain != "" && (len(s.InboundDomain) > 200 || !domainPattern.MatchString(s.InboundDomain)) {
		v.errorf(v.line("support", "inbound_domain"), "support.inbound_domain: %q is not a domain name; want the domain of the reply addresses, like reply.example.com (no @)",
			s.InboundDomain)
	}
	if s.InboundSMTPListen != "" && !validListen(s.InboundSMTPListen) {
		v.errorf(v.line("support", "inbound_smtp_listen"), "support.inbound_smtp_listen: %q is not HOST:PORT", s.InboundSMTPListen)
	}
	if k := s.InboundWebhookKey.Reveal(); k != "" && (len(k) < 16 || strings.ContainsAny(k, " \t\r\n")) {
		v.errorf(v.line("support", "inbound_webhook_key"), "support.inbound_webhook_key: want the provider's signing key (Mailgun's HTTP webhook signing key), at least 16 characters")
	}
	receives := s.InboundSMTPListen != "" || s.InboundWebhookKey != ""
	switch {
	case s.InboundDomain != "" && !receives:
		v.errorf(v.line("support", "inbound_domain"), "support.inbound_domain: set support.inbound_smtp_listen or support.inbound_webhook_key too, or the customers' answers to the reply addresses reach nobody")
	case s.InboundDomain == "" && receives:
		v.errorf(v.line("support"), "support.inbound_domain is required with support.inbound_smtp_listen or support.inbound_webhook_key: it is the domain of the reply addresses the mail comes to")
	}
}

func (c *Config) validate(v *validator) {
	if !validListen(c.Server.Listen) {
		v.errorf(v.line("server", "listen"), "server.listen: %q is not HOST:PORT", c.Server.Listen)
	}
	if u, err := url.Parse(c.Server.PublicURL); c.Server.PublicURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "") {
		v.errorf(v.line("server", "public_url"), "server.public_url: %q is not an http(s) URL", c.Server.PublicURL)
	}
	if !validDatabaseURL(c.Database.URL.Reveal()) {
		v.errorf(v.line("database", "url"), "database.url: want sqlite:PATH or postgres://…")
	}
	if c.Business.SupportEmail != "" {
		if _, err := mail.ParseAddress(c.Business.SupportEmail); err != nil {
			v.errorf(v.line("business", "support_email"), "business.support_email: %q is not an email address", c.Business.SupportEmail)
		}
	}
	c.validateProcessor(v)
	c.validateSandbox(v)
	c.validatePolicy(v)
	if u := c.SMTP.URL.Reveal(); u != "" {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "smtp" && pu.Scheme != "smtps") || pu.Hostname() == "" {
			v.errorf(v.line("smtp", "url"), "smtp.url: want smtp://HOST:PORT or smtps://HOST:PORT")
		}
	}
	if _, err := mail.ParseAddress(c.SMTP.From); err != nil {
		v.errorf(v.line("smtp", "from"), "smtp.from: %q is not an email address", c.SMTP.From)
	}
	for _, kind := range slices.Sorted(maps.Keys(c.SMTP.FromByKind)) {
		if _, err := mail.ParseAddress(c.SMTP.FromByKind[kind]); err != nil {
			v.errorf(v.line("smtp", "from_by_kind", kind), "smtp.from_by_kind.%s: %q is not an email address", kind, c.SMTP.FromByKind[kind])
		}
	}
	if c.Support.HelpAnswersPerDay < 1 || c.Support.HelpAnswersPerDay > 50 {
		v.errorf(v.line("support", "help_answers_per_day"), "support.help_answers_per_day: want a whole number from 1 to 50")
	}
	if len(c.Support.ReplyWithin) > 60 || strings.ContainsAny(c.Support.ReplyWithin, "\r\n") {
		v.errorf(v.line("support", "reply_within"), "support.reply_within: want a few words on one line, like \"one business day\"")
	}
	c.validateInbound(v)
	if c.Processor.Kind == KindStripe && c.SMTP.URL == "" {
		v.errorf(v.line("smtp", "url"), "smtp.url is required when processor.kind is stripe: paidup must be able to email customers (set it, or PAIDUP_SMTP_URL)")
	}
	c.validateOnCall(v)
	for i, e := range c.OnCall.Emails {
		if a, err := mail.ParseAddress(e); err != nil || a.Name != "" {
			v.errorf(v.line("oncall", "emails", i), "oncall.emails[%d]: %q is not an email address", i, e)
		}
	}
	for i, k := range c.API.Keys {
		if len(k.Reveal()) < 24 {
			v.errorf(v.line("api", "keys", i), "api.keys[%d]: too short; use at least 24 random characters (openssl rand -hex 24)", i)
		}
	}
	r := c.Reconciler
	if r.Interval < Duration(100*time.Millisecond) {
		v.errorf(v.line("reconciler", "interval"), "reconciler.interval: want at least 100ms")
	}
	if len(r.Recheck) == 0 {
		v.errorf(v.line("reconciler", "recheck"), "reconciler.recheck: at least one delay is required")
	}
	for i, d := range r.Recheck {
		if d <= 0 {
			v.errorf(v.line("reconciler", "recheck", i), "reconciler.recheck[%d]: want a positive duration", i)
		}
	}
	if r.Overlap < 0 || r.Lookback < 0 {
		v.errorf(v.line("reconciler"), "reconciler.overlap and reconciler.lookback must not be negative")
	}
	if c.Accounts.SignInLinkTTL < Duration(time.Minute) || c.Accounts.SessionTTL < Duration(time.Minute) {
		v.errorf(v.line("accounts"), "accounts: sign_in_link_ttl and session_ttl must be at least 1m")
	}
	if c.Accounts.SignInLinks < 1 || c.Accounts.SignInLinks > 20 {
		v.errorf(v.line("accounts", "sign_in_links"), "accounts.sign_in_links: %d is not from 1 to 20", c.Accounts.SignInLinks)
	}
	if w := c.Accounts.SignInLinksWindow; w < Duration(time.Minute) || w > Duration(24*time.Hour) {
		v.errorf(v.line("accounts", "sign_in_links_window"), "accounts.sign_in_links_window: %s is not from 1m to 24h", w.D())
	}
	c.validateLifecycle(v)
	c.validateTrustedProxies(v)
	c.validateLimits(v)
	c.Retention.validate(v)
	c.Console.validate(v)
}

// Email templates a reminder may name.
var reminderTemplates = []string{"payment_failed", "payment_reminder", "payment_final_reminder"}

func (c *Config) validateLifecycle(v *validator) {
	l := c.Lifecycle
	if l.Grace < 0 {
		v.errorf(v.line("lifecycle", "grace"), "lifecycle.grace: must not be negative")
	}
	var prev Duration
	for i, r := range l.Reminders {
		switch {
		case r.After < 0:
			v.errorf(v.line("lifecycle", "reminders", i, "after"), "lifecycle.reminders[%d].after: must not be negative", i)
		case r.After < prev:
			v.errorf(v.line("lifecycle", "reminders", i, "after"), "lifecycle.reminders[%d].after: reminders must be in order", i)
		}
		prev = r.After
		switch {
		case slices.Contains(reminderTemplates, r.Template):
		case l.Templates == "" || !idPattern.MatchString(r.Template):
			v.errorf(v.line("lifecycle", "reminders", i, "template"), "lifecycle.reminders[%d].template: %q is not one of %s", i, r.Template, strings.Join(reminderTemplates, ", "))
		default:
			// A template of the override directory; its content is checked
			// when paidup starts.
			if _, err := os.Stat(filepath.Join(l.Templates, r.Template+".txt")); err != nil {
				v.errorf(v.line("lifecycle", "reminders", i, "template"), "lifecycle.reminders[%d].template: %q is not one of %s, nor a template in lifecycle.templates (there is no %s)",
					i, r.Template, strings.Join(reminderTemplates, ", "), filepath.Join(l.Templates, r.Template+".txt"))
			}
		}
	}
	if l.DoubleBuy != paidup.DoubleBuyCancel && l.DoubleBuy != paidup.DoubleBuyFlag {
		v.errorf(v.line("lifecycle", "double_buy"), "lifecycle.double_buy: %q is not one of cancel, flag", l.DoubleBuy)
	}
	if l.DuplicatePurchase != paidup.DuplicateRefund && l.DuplicatePurchase != paidup.DuplicateCase {
		v.errorf(v.line("lifecycle", "duplicate_purchase"), "lifecycle.duplicate_purchase: %q is not one of refund, case", l.DuplicatePurchase)
	}
	if l.Templates != "" {
		if fi, err := os.Stat(l.Templates); err != nil || !fi.IsDir() {
			v.errorf(v.line("lifecycle", "templates"), "lifecycle.templates: %q is not a directory", l.Templates)
		}
	}
	for i, kind := range l.Chargeback.Ends {
		if !slices.Contains(paidup.ChargebackEndKinds, kind) {
			v.errorf(v.line("lifecycle", "chargeback", "ends", i), "lifecycle.chargeback.ends[%d]: %q is not one of %s", i, kind, strings.Join(paidup.ChargebackEndKinds, ", "))
		}
	}
	if !slices.Contains(l.Chargeback.Ends, paidup.EndsDisputed) {
		v.errorf(v.line("lifecycle", "chargeback", "ends"), "lifecycle.chargeback.ends: must include disputed: the grant the disputed payment bought always ends, as its money was taken back")
	}
	c.Policy.Lifecycle = paidup.Lifecycle{Grace: l.Grace.D(), DoubleBuy: l.DoubleBuy, RenewalReceipts: l.RenewalReceipts,
		Chargeback: paidup.Chargeback{Ends: slices.Clone(l.Chargeback.Ends)}, DuplicatePurchase: l.DuplicatePurchase}
	for _, r := range l.Reminders {
		c.Policy.Lifecycle.Reminders = append(c.Policy.Lifecycle.Reminders, paidup.Reminder{After: r.After.D(), Template: r.Template})
	}
}

func (c *Config) validateProcessor(v *validator) {
	p := c.Processor
	if msg := statementSuffixProblem(p.StatementSuffix()); msg != "" {
		v.errorf(v.line("processor", "statement_descriptor_suffix"), "processor.statement_descriptor_suffix: %s", msg)
	}
	switch p.Kind {
	case KindSandbox:
	case KindStripe:
		key := p.Stripe.SecretKey.Reveal()
		if key == "" {
			v.errorf(v.line("processor", "stripe", "secret_key"), "processor.stripe.secret_key is required when processor.kind is stripe")
		} else if !strings.HasPrefix(key, "sk_") && !strings.HasPrefix(key, "rk_") {
			v.errorf(v.line("processor", "stripe", "secret_key"), "processor.stripe.secret_key: want a secret (sk_…) or restricted (rk_…) key")
		}
		if len(p.Stripe.WebhookSecrets) == 0 {
			v.errorf(v.line("processor", "stripe", "webhook_secrets"), "processor.stripe.webhook_secrets: at least one signing secret (whsec_…) is required when processor.kind is stripe")
		}
	default:
		v.errorf(v.line("processor", "kind"), "processor.kind: %q is not one of sandbox, stripe", p.Kind)
	}
	for i, s := range p.Stripe.WebhookSecrets {
		if !strings.HasPrefix(s.Reveal(), "whsec_") {
			v.errorf(v.line("processor", "stripe", "webhook_secrets", i), "processor.stripe.webhook_secrets[%d]: want a signing secret starting with whsec_", i)
		}
	}
	if c := p.Stripe.TestClock; c != "" {
		if !strings.HasPrefix(c, "clock_") {
			v.errorf(v.line("processor", "stripe", "test_clock"), "processor.stripe.test_clock: %q is not a test clock id (clock_…)", c)
		} else if key := p.Stripe.SecretKey.Reveal(); p.Kind == KindStripe && !strings.HasPrefix(key, "sk_test_") && !strings.HasPrefix(key, "rk_test_") {
			v.errorf(v.line("processor", "stripe", "test_clock"), "processor.stripe.test_clock: test clocks are for test mode; the secret key is not a test key")
		}
	}
	if p.Stripe.APIURL != "" {
		if u, err := url.Parse(p.Stripe.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			v.errorf(v.line("processor", "stripe", "api_url"), "processor.stripe.api_url: %q is not a base URL like http://127.0.0.1:8081", p.Stripe.APIURL)
		}
	}
}

func (c *Config) validateSandbox(v *validator) {
	s := c.Sandbox
	if !validListen(s.Listen) {
		v.errorf(v.line("sandbox", "listen"), "sandbox.listen: %q is not HOST:PORT", s.Listen)
	}
	if c.Processor.Kind == KindSandbox && s.Listen == c.Server.Listen && !strings.HasSuffix(s.Listen, ":0") {
		v.errorf(v.line("sandbox", "listen"), "sandbox.listen: the sandbox needs an address of its own, not server.listen (%s)", s.Listen)
	}
	if !validDatabaseURL(s.DatabaseURL.Reveal()) {
		v.errorf(v.line("sandbox", "database_url"), "sandbox.database_url: want sqlite:PATH or postgres://…")
	}
	if c.Processor.Kind == KindSandbox && s.DatabaseURL == c.Database.URL {
		v.errorf(v.line("sandbox", "database_url"), "sandbox.database_url: the sandbox keeps the processor's records, which must not share paidup's database URL")
	}
	if w := s.WebhookSecret.Reveal(); w != "" && !strings.HasPrefix(w, "whsec_") {
		v.errorf(v.line("sandbox", "webhook_secret"), "sandbox.webhook_secret: want a signing secret starting with whsec_")
	}
	for i, d := range s.RetrySchedule {
		if d <= 0 {
			v.errorf(v.line("sandbox", "retry_schedule", i), "sandbox.retry_schedule[%d]: want a positive duration like 10s", i)
		}
	}
	for i, f := range s.Faults {
		if !slices.Contains(faultActions, f.Action) {
			v.errorf(v.line("sandbox", "faults", i, "action"), "sandbox.faults[%d].action: %q is not one of %s", i, f.Action, strings.Join(faultActions, ", "))
		}
		if f.Count < 0 {
			v.errorf(v.line("sandbox", "faults", i, "count"), "sandbox.faults[%d].count: must not be negative", i)
		}
		if f.Action == "delay" && f.Delay <= 0 {
			v.errorf(v.line("sandbox", "faults", i, "delay"), "sandbox.faults[%d].delay: a delay rule needs a positive delay like 30s", i)
		}
		if p := strings.TrimSuffix(f.Event, ".*"); p != "*" && strings.ContainsAny(p, "* ") {
			v.errorf(v.line("sandbox", "faults", i, "event"), "sandbox.faults[%d].event: %q: want an event type, a prefix such as charge.*, or *", i, f.Event)
		}
		if f.Action == "reorder" && f.Count < 2 {
			v.errorf(v.line("sandbox", "faults", i, "count"), "sandbox.faults[%d].count: a reorder rule needs a count of at least 2", i)
		}
	}
}

func (c *Config) validatePolicy(v *validator) {
	if len(c.Tiers) == 0 {
		v.errorf(v.line("tiers"), "tiers: at least one tier is required")
	}
	ids, ranks := map[string]bool{}, map[int]string{}
	for i, t := range c.Tiers {
		switch {
		case !idPattern.MatchString(t.ID):
			v.errorf(v.line("tiers", i, "id"), "tiers[%d].id: %q: want lower-case letters, digits, - and _", i, t.ID)
		case ids[t.ID]:
			v.errorf(v.line("tiers", i, "id"), "tiers[%d].id: %q is used twice", i, t.ID)
		}
		ids[t.ID] = true
		if t.Rank == nil {
			v.errorf(v.line("tiers", i), "tiers[%d].rank is required (a higher rank wins when a customer has several tiers)", i)
			continue
		}
		if other, dup := ranks[*t.Rank]; dup {
			v.errorf(v.line("tiers", i, "rank"), "tiers[%d].rank: %d is also the rank of %q; ranks must differ", i, *t.Rank, other)
		}
		ranks[*t.Rank] = t.ID
		name := t.Name
		if name == "" {
			name = t.ID
		}
		c.Policy.Tiers = append(c.Policy.Tiers, paidup.Tier{ID: t.ID, Name: name, Rank: *t.Rank})
	}
	if len(c.Plans) == 0 {
		v.errorf(v.line("plans"), "plans: at least one plan is required")
	}
	planIDs, prices := map[string]bool{}, map[string]bool{}
	for i, p := range c.Plans {
		at := func(key string) int { return v.line("plans", i, key) }
		bad := false
		fail := func(key, format string, args ...any) {
			bad = true
			msg := fmt.Sprintf(format, args...)
			if strings.HasPrefix(msg, "is ") {
				v.errorf(at(key), "plans[%d].%s %s", i, key, msg)
			} else {
				v.errorf(at(key), "plans[%d].%s: %s", i, key, msg)
			}
		}
		switch {
		case !idPattern.MatchString(p.ID):
			fail("id", "%q: want lower-case letters, digits, - and _", p.ID)
		case planIDs[p.ID]:
			fail("id", "%q is used twice", p.ID)
		}
		planIDs[p.ID] = true
		if strings.TrimSpace(p.Name) == "" {
			fail("name", "is required")
		}
		if !ids[p.Tier] {
			fail("tier", "%q is not a tier (tiers are: %s)", p.Tier, strings.Join(slices.Sorted(maps.Keys(ids)), ", "))
		}
		switch {
		case p.Price == "":
			fail("price", "the processor's price id is required")
		case prices[p.Price]:
			fail("price", "%q is used by two plans", p.Price)
		}
		prices[p.Price] = true
		amount, err := paidup.ParseMoney(p.Amount, p.Currency)
		if err != nil {
			key := "amount"
			if strings.Contains(err.Error(), "currency") {
				key = "currency"
			}
			fail(key, "%v", err)
		} else if amount.Amount <= 0 {
			fail("amount", "must be more than zero")
		}
		interval := paidup.Interval(p.Interval)
		if interval != paidup.Once && interval != paidup.Monthly && interval != paidup.Yearly {
			fail("interval", "%q is not one of once, month, year", p.Interval)
		}
		term, err := paidup.ParseTerm(p.Term)
		if err != nil {
			fail("term", "%v", err)
		} else if !term.IsZero() && interval.Recurring() {
			fail("term", "only one-time plans have a term; a %sly plan lasts as long as it is paid", p.Interval)
		}
		if p.Grace < 0 {
			fail("grace", "must not be negative")
		} else if p.Grace > 0 && !interval.Recurring() {
			fail("grace", "only subscriptions (month or year) have a grace period")
		}
		if p.Extends && (interval != paidup.Once || term.IsZero()) {
			fail("extends", "only one-time plans with a term extend access; a subscription renews, and a permanent plan has nothing to add")
		}
		if !bad {
			c.Policy.Plans = append(c.Policy.Plans, paidup.Plan{
				ID: p.ID, Name: p.Name, Description: p.Description, Tier: p.Tier,
				PriceID: p.Price, Amount: amount, Interval: interval, Term: term, Grace: p.Grace.D(), Extends: p.Extends,
			})
		}
	}
}

func validListen(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n < 65536 && !strings.ContainsAny(host, "/ ")
}

func validDatabaseURL(u string) bool {
	if rest, ok := strings.CutPrefix(u, "sqlite:"); ok {
		return rest != "" && !strings.Contains(rest, ":memory:")
	}
	pu, err := url.Parse(u)
	return err == nil && (pu.Scheme == "postgres" || pu.Scheme == "postgresql")
}

// Retention is how long paidup keeps what it needs only for a while.
type Retention struct {
	// EventPayloads is how long the payload of a processed webhook event
	// is kept, counted from when it was received; then the leader's
	// pruning job empties it. The event itself (id, type, object, times)
	// is kept for good, so that a redelivery is still a duplicate. Zero
	// keeps payloads for good. Unset, it is DefaultEventPayloadRetention.
	EventPayloads *Duration `yaml:"event_payloads"`
}

// DefaultEventPayloadRetention keeps processed events' payloads 30 days.
const DefaultEventPayloadRetention = 30 * 24 * time.Hour

func (r *Retention) applyDefaults() {
	if r.EventPayloads == nil {
		d := Duration(DefaultEventPayloadRetention)
		r.EventPayloads = &d
	}
}

func (r *Retention) validate(v *validator) {
	if d := *r.EventPayloads; d != 0 && d < Duration(time.Hour) {
		v.errorf(v.line("retention", "event_payloads"), "retention.event_payloads: want 0 (keep them) or at least 1h, like 30d")
	}
}
