package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"regexp"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// Each command's -h lists the flags that command reads, and no other.
func TestHelpListsACommandsOwnFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"sandbox", "-h"}, []string{"config", "log-format", "log-level", "sandbox-database-url", "sandbox-listen", "smtp-listen", "webhook-secret", "webhook-url"}},
		{[]string{"check", "-h"}, []string{"config", "database-url", "processor", "sandbox-database-url", "strict"}},
		{[]string{"block", "show", "-h"}, []string{"config", "customer", "database-url", "sandbox-database-url"}},
		{[]string{"block", "lift", "-h"}, []string{"actor", "config", "customer", "database-url", "reason", "request", "sandbox-database-url"}},
		{[]string{"customer", "refund", "-h"}, []string{"actor", "amount", "config", "customer", "database-url", "end-grant", "payment", "reason", "request",
			"sandbox-database-url", "sandbox-listen", "yes"}},
		{[]string{"customer", "show", "-h"}, []string{"config", "customer", "database-url", "sandbox-database-url"}},
		{[]string{"audit", "-h"}, []string{"before", "config", "customer", "database-url", "limit", "sandbox-database-url"}},
		{[]string{"case", "list", "-h"}, []string{"all", "config", "database-url", "sandbox-database-url"}},
		{[]string{"case", "snooze", "-h"}, []string{"actor", "case", "config", "database-url", "for", "sandbox-database-url", "until"}},
		{[]string{"case", "reply", "-h"}, []string{"actor", "case", "config", "database-url", "preview", "sandbox-database-url", "template"}},
		{[]string{"case", "resolve", "-h"}, []string{"actor", "answer", "case", "config", "database-url", "sandbox-database-url"}},
		{[]string{"migrate", "-h"}, []string{"config", "database-url", "log-format", "log-level"}},
		{[]string{"preview-email", "-h"}, []string{"config", "html", "listen"}},
		{[]string{"serve", "-h"}, []string{"config", "database-url", "listen", "log-format", "log-level", "sandbox-database-url", "sandbox-listen", "smtp-url"}},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), c.args, func(string) string { return "" }, &stdout, &stderr)
		require.True(t, errors.Is(err, flag.ErrHelp), "%v: %v", c.args, err)
		var listed []string
		for _, m := range regexp.MustCompile(`(?m)^  -([a-z-]+)`).FindAllStringSubmatch(stderr.String(), -1) {
			listed = append(listed, m[1])
		}
		slices.Sort(listed)
		require.Equal(t, c.want, listed, "paidup %v -h:\n%s", c.args, stderr.String())
	}
}
