// Package obs is paidup's observability: structured logs that never carry
// card data or secrets, and Prometheus metrics on paidup's own registry.
package obs

import (
	"context"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
)

// NewLogger returns a JSON logger writing to w that redacts secrets and card
// numbers from every record, whatever the code logging it passed.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(&redactor{next: slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})})
}

// NewTextLogger is NewLogger writing key=value lines, for a person
// reading a terminal.
func NewTextLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(&redactor{next: slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})})
}

// Terminal reports whether w is a terminal.
func Terminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// sensitiveKeys are attribute names whose values are never logged.
var sensitiveKeys = []string{"password", "secret", "authorization", "card", "cvc", "payload", "body", "token", "api_key", "apikey"}

var (
	secretPattern = regexp.MustCompile(`\b(sk|rk|pk)_(test|live)_[A-Za-z0-9]+|\bwhsec_[A-Za-z0-9]+`)
	urlPassword   = regexp.MustCompile(`(://[^:/@\s]+):[^@/\s]+@`)
	digitRun      = regexp.MustCompile(`\b(?:\d[ -]?){12,18}\d\b`)
)

// Redact removes secrets, passwords in URLs and card numbers from s.
func Redact(s string) string {
	s = secretPattern.ReplaceAllStringFunc(s, func(m string) string {
		i := strings.LastIndex(m, "_")
		return m[:i+1] + "[redacted]"
	})
	s = urlPassword.ReplaceAllString(s, "$1:[redacted]@")
	return digitRun.ReplaceAllStringFunc(s, func(m string) string {
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, m)
		if luhn(digits) {
			return "[card number redacted]"
		}
		return m
	})
}

func luhn(number string) bool {
	if len(number) < 13 || len(number) > 19 {
		return false
	}
	sum, double := 0, false
	for i := len(number) - 1; i >= 0; i-- {
		d := int(number[i] - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

type redactor struct {
	next slog.Handler
}

func (h *redactor) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *redactor) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Redact(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *redactor) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = redactAttr(a)
	}
	return &redactor{next: h.next.WithAttrs(clean)}
}

func (h *redactor) WithGroup(name string) slog.Handler {
	return &redactor{next: h.next.WithGroup(name)}
}

func redactAttr(a slog.Attr) slog.Attr {
	key := strings.ToLower(a.Key)
	for _, k := range sensitiveKeys {
		if strings.Contains(key, k) {
			return slog.String(a.Key, "[redacted]")
		}
	}
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		attrs := v.Group()
		clean := make([]any, len(attrs))
		for i, g := range attrs {
			clean[i] = redactAttr(g)
		}
		return slog.Group(a.Key, clean...)
	case slog.KindString:
		return slog.String(a.Key, Redact(v.String()))
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, Redact(err.Error()))
		}
		return slog.String(a.Key, Redact(v.String()))
	}
	return slog.Attr{Key: a.Key, Value: v}
}
