package config

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Secret is a configuration value that may be a credential. Written as
// ${NAME} it is read from the environment variable NAME. It prints
// redacted, so that logging a Config never reveals it.
type Secret string

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// UnmarshalYAML expands ${NAME} references.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &Error{Line: n.Line, Msg: fmt.Sprintf("%q: want text", n.Value)}
	}
	var missing string
	v := envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
		name := envRef.FindStringSubmatch(ref)[1]
		val, ok := os.LookupEnv(name)
		if !ok && missing == "" {
			missing = name
		}
		return val
	})
	if missing != "" {
		return &Error{Line: n.Line, Msg: fmt.Sprintf("environment variable %s is not set", missing)}
	}
	*s = Secret(v)
	return nil
}

// Reveal returns the secret itself, for the code that must use it.
func (s Secret) Reveal() string { return string(s) }

// String returns the secret redacted: its prefix (sk_test_, whsec_, smtp://)
// and nothing else.
func (s Secret) String() string {
	v := string(s)
	if v == "" {
		return ""
	}
	if i := strings.Index(v, "://"); i >= 0 {
		return v[:i+3] + "…"
	}
	if i := strings.LastIndex(v, "_"); i >= 0 && i < 12 {
		return v[:i+1] + "…"
	}
	return "…"
}

// Duration is a length of time written like 10s, 5m, 2h or 7d.
type Duration time.Duration

// UnmarshalYAML parses Go durations plus a d (day) unit.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return &Error{Line: n.Line, Msg: fmt.Sprintf("%q: want a duration like 30s, 5m, 2h or 7d", n.Value)}
	}
	*d = Duration(v)
	return nil
}

// ParseDuration parses Go durations plus a d (day) unit, such as 7d.
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
