package config

import (
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
	// The rotation's time zone is found on machines without a zone
	// database (a scratch container).
	_ "time/tzdata"
)

// OnCall is who hears about what paidup cannot repair by itself, and how.
type OnCall struct {
	// Emails are alerted of every support case, when no Rotation is set.
	Emails []string `yaml:"emails"`
	// Rotation are the operators, by email, on call a week each in turn.
	Rotation []string `yaml:"rotation"`
	// Handoff is when the week turns: a weekday and a time, "monday 09:00",
	// in TimeZone.
	Handoff  string `yaml:"handoff"`
	TimeZone string `yaml:"time_zone"`
	// Overrides put someone on call for a while, instead of the rotation.
	Overrides []OnCallOverride `yaml:"overrides"`
	// EscalateAfter is how long a critical alert waits to be acknowledged
	// before the other person is paged too; RepeatEvery how often it pages
	// again until acknowledged.
	EscalateAfter Duration `yaml:"escalate_after"`
	RepeatEvery   Duration `yaml:"repeat_every"`
	// UnfulfilledAfter is how long after it succeeded a payment with
	// nothing granted is an alert.
	UnfulfilledAfter Duration `yaml:"unfulfilled_after"`
	// DigestAt is the time of day, in TimeZone, the digest of warnings is
	// sent.
	DigestAt string `yaml:"digest_at"`
	// EvaluateEvery is how often the alert rules are evaluated.
	EvaluateEvery Duration `yaml:"evaluate_every"`
	// Chat are the chat channels critical alerts are posted to.
	Chat []ChatWebhook `yaml:"chat"`

	// Parsed from the above.
	Location    *time.Location `yaml:"-"`
	HandoffDay  time.Weekday   `yaml:"-"`
	HandoffTime time.Duration  `yaml:"-"` // since midnight
	DigestTime  time.Duration  `yaml:"-"` // since midnight
}

// OnCallOverride puts Who on call from From until To, written
// "2026-12-24 09:00" in the rotation's time zone (or RFC 3339).
type OnCallOverride struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
	Who  string `yaml:"who"`

	Start, End time.Time `yaml:"-"`
}

// ChatWebhook is a chat channel's incoming webhook.
type ChatWebhook struct {
	Kind string `yaml:"kind"` // discord or slack
	URL  Secret `yaml:"url"`
}

// Chat webhook kinds.
const (
	ChatDiscord = "discord"
	ChatSlack   = "slack"
)

func (o *OnCall) applyDefaults() {
	if o.Handoff == "" {
		o.Handoff = "monday 09:00"
	}
	if o.TimeZone == "" {
		o.TimeZone = "UTC"
	}
	if o.EscalateAfter == 0 {
		o.EscalateAfter = Duration(15 * time.Minute)
	}
	if o.RepeatEvery == 0 {
		o.RepeatEvery = Duration(30 * time.Minute)
	}
	if o.UnfulfilledAfter == 0 {
		o.UnfulfilledAfter = Duration(15 * time.Minute)
	}
	if o.DigestAt == "" {
		o.DigestAt = "08:00"
	}
	if o.EvaluateEvery == 0 {
		o.EvaluateEvery = Duration(time.Minute)
	}
}

func (c *Config) validateOnCall(v *validator) {
	o := &c.OnCall
	var err error
	if o.Location, err = time.LoadLocation(o.TimeZone); err != nil {
		v.errorf(v.line("oncall", "time_zone"), "oncall.time_zone: %q is not a time zone; want a name like Europe/Berlin or UTC", o.TimeZone)
		o.Location = time.UTC
	}
	for i, e := range o.Rotation {
		if a, err := mail.ParseAddress(e); err != nil || a.Name != "" {
			v.errorf(v.line("oncall", "rotation", i), "oncall.rotation[%d]: %q is not an email address", i, e)
		} else if slices.Index(o.Rotation, e) != i {
			v.errorf(v.line("oncall", "rotation", i), "oncall.rotation[%d]: %s is in the rotation twice", i, e)
		}
	}
	day, clock, _ := strings.Cut(strings.ToLower(strings.TrimSpace(o.Handoff)), " ")
	d, okDay := weekdays[day]
	t, okTime := clockTime(strings.TrimSpace(clock))
	if !okDay || !okTime {
		v.errorf(v.line("oncall", "handoff"), "oncall.handoff: %q: want a weekday and a time, like \"monday 09:00\"", o.Handoff)
	}
	o.HandoffDay, o.HandoffTime = d, t
	if o.DigestTime, okTime = clockTime(o.DigestAt); !okTime {
		v.errorf(v.line("oncall", "digest_at"), "oncall.digest_at: %q: want a time of day, like 08:00", o.DigestAt)
	}
	for i := range o.Overrides {
		c.validateOverride(v, i)
	}
	for i, ch := range o.Chat {
		if ch.Kind != ChatDiscord && ch.Kind != ChatSlack {
			v.errorf(v.line("oncall", "chat", i, "kind"), "oncall.chat[%d].kind: %q: want discord or slack", i, ch.Kind)
		}
		if u, err := url.Parse(ch.URL.Reveal()); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			v.errorf(v.line("oncall", "chat", i, "url"), "oncall.chat[%d].url: want the channel's incoming webhook URL (https://…)", i)
		}
	}
	if len(o.Rotation) == 0 && (len(o.Overrides) > 0 || len(o.Chat) > 0) {
		v.errorf(v.line("oncall", "rotation"), "oncall.rotation: list the operators on call, by email, for the overrides and chat channels to be used")
	}
	for _, f := range []struct {
		name string
		d    Duration
	}{{"escalate_after", o.EscalateAfter}, {"repeat_every", o.RepeatEvery}, {"evaluate_every", o.EvaluateEvery}} {
		if f.d.D() < time.Second {
			v.errorf(v.line("oncall", f.name), "oncall.%s: want at least 1s", f.name)
		}
	}
}

func (c *Config) validateOverride(v *validator, i int) {
	o := &c.OnCall
	ov := &o.Overrides[i]
	var okFrom, okTo bool
	ov.Start, okFrom = localTime(ov.From, o.Location)
	ov.End, okTo = localTime(ov.To, o.Location)
	switch {
	case !okFrom:
		v.errorf(v.line("oncall", "overrides", i, "from"), "oncall.overrides[%d].from: %q: want a time like \"2026-12-24 09:00\"", i, ov.From)
	case !okTo:
		v.errorf(v.line("oncall", "overrides", i, "to"), "oncall.overrides[%d].to: %q: want a time like \"2026-12-27 09:00\"", i, ov.To)
	case !ov.End.After(ov.Start):
		v.errorf(v.line("oncall", "overrides", i, "to"), "oncall.overrides[%d].to: ends before it starts", i)
	}
	if !slices.Contains(o.Rotation, ov.Who) {
		v.errorf(v.line("oncall", "overrides", i, "who"), "oncall.overrides[%d].who: %q is not in oncall.rotation", i, ov.Who)
	}
}

var weekdays = map[string]time.Weekday{
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
}

// clockTime parses a time of day, "09:00", as the time since midnight.
func clockTime(s string) (time.Duration, bool) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, false
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, true
}

// localTime parses "2026-12-24 09:00" in loc, or an RFC 3339 time.
func localTime(s string, loc *time.Location) (time.Time, bool) {
	if t, err := time.ParseInLocation("2006-01-02 15:04", s, loc); err == nil {
		return t, true
	}
	t, err := time.Parse(time.RFC3339, s)
	return t, err == nil
}

// String names the channel without revealing its webhook URL.
func (w ChatWebhook) String() string { return fmt.Sprintf("%s %s", w.Kind, w.URL) }
