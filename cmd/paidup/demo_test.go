package main

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// `paidup demo` tells the $249 story with what Ada sees at each step, read
// from the status page paidup serves: confirming while the processor
// cannot be asked, then "You're in" once the reconciler found the payment;
// and what a hand-rolled integration would have shown instead.
func TestDemoShowsWhatTheCustomerSees(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo")
	}
	out, err := exec.Command(buildPaidup(t), "demo").CombinedOutput()
	require.NoError(t, err, "%s", out)
	text := string(out)
	says := regexp.MustCompile(`says: "([^"]+)"`).FindAllStringSubmatch(text, -1)
	require.Len(t, says, 2, text)
	require.Contains(t, strings.ToLower(says[0][1]), "confirming", "first the page is confirming:\n%s", text)
	require.Equal(t, "You're in", says[1][1], "then the page says she is in:\n%s", text)
	require.Equal(t, 3, strings.Count(text, "A hand-rolled integration:"), text)
	require.Contains(t, text, "found by the reconciler")
	require.Contains(t, text, "1 email")
	require.Contains(t, text, "paidup check: every succeeded payment")
}
