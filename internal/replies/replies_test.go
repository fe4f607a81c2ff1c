package replies_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/replies"
)

var fields = replies.Fields{Business: "Test Community", SupportEmail: "help@example.com", CustomerEmail: "ada@example.com",
	Reference: "PU-7K3M-Q9XD", Case: "sc_1", Amount: "$249.00", Plan: "Pro, one year", Tier: "Pro", Until: "3 December 2027",
	ReplyWithin: "one business day"}

// Each built-in reply renders, names what it is about, and leaves the
// sign-in link to be made when it is sent.
func TestBuiltinReplies(t *testing.T) {
	set, err := replies.Load("")
	require.NoError(t, err)
	require.Equal(t, []string{"access_restored", "chargeback_received", "charged_no_access_refunded", "charged_no_access_repaired",
		"duplicate_subscription_refunded", "payment_failed"}, set.Names())
	for _, name := range set.Names() {
		r, err := set.Render(name, fields)
		require.NoError(t, err, name)
		require.NotEmpty(t, r.Subject, name)
		require.NotContains(t, r.Text+r.Subject, "{{", name)
		require.True(t, strings.HasPrefix(r.Text, "Hello,"), name)
		require.True(t, strings.HasSuffix(strings.TrimSpace(r.Text), "Test Community"), "%s: signed by the business", name)
		for _, never := range []string{"fraud", "you failed", "your fault", "unfortunately we cannot"} {
			require.NotContains(t, strings.ToLower(r.Text), never, name)
		}
		html, err := replies.HTML(r.Markdown)
		require.NoError(t, err, name)
		require.Contains(t, html, "<p>Hello,</p>", name)
	}
	r, err := set.Render("charged_no_access_repaired", fields)
	require.NoError(t, err)
	require.Contains(t, r.Text, "We found your payment of $249.00")
	require.Contains(t, r.Text, "you have **Pro** until 3 December 2027")
	require.Contains(t, r.Text, replies.SignInPlaceholder)
	require.Equal(t, "Your access is ready (PU-7K3M-Q9XD)", r.Subject)
	_, err = set.Render("nope", fields)
	require.ErrorContains(t, err, `no reply template named "nope"`)
}

// What a customer typed is a field's value, not Markdown or HTML: the
// plain text shows it as it is, the HTML part escaped; raw HTML in a
// template is not passed through.
func TestRepliesEscapeFields(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "raw.md"), []byte("Subject: Hi {{.CustomerEmail}}\n\nHello <b>{{.CustomerEmail}}</b>, **{{.Tier}}**.\n"), 0o600))
	set, err := replies.Load(dir)
	require.NoError(t, err)
	f := fields
	f.CustomerEmail, f.Tier = "*x*<script>alert(1)</script>", "[Pro](https://evil.example)"
	r, err := set.Render("raw", f)
	require.NoError(t, err)
	require.Contains(t, r.Text, "*x*<script>alert(1)</script>", "the text part as typed")
	html, err := replies.HTML(r.Markdown)
	require.NoError(t, err)
	require.NotContains(t, html, "<script>")
	require.NotContains(t, html, "<em>x</em>")
	require.NotContains(t, html, `href="https://evil.example"`)
	require.NotContains(t, html, "<b>", "raw HTML in a template is not passed through")
	require.Contains(t, html, "<strong>[Pro](https://evil.example)</strong>")
}

// An operator's directory replaces a built-in reply or adds one; a file
// that cannot be used is refused with its name and why.
func TestReplyOverrides(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600))
	}
	write("payment_failed.md", "Subject: Card trouble\n\nHello,\n\nYour card for {{.Plan}} was declined.\n")
	write("thanks.md", "Subject: Thank you\n\nHello,\n\nThanks, {{.CustomerEmail}}.\n")
	write("notes.txt", "ignored")
	set, err := replies.Load(dir)
	require.NoError(t, err)
	r, err := set.Render("payment_failed", fields)
	require.NoError(t, err)
	require.Equal(t, "Card trouble", r.Subject)
	tmpl, ok := set.Template("payment_failed")
	require.True(t, ok)
	require.Equal(t, filepath.Join(dir, "payment_failed.md"), tmpl.Source)
	require.Contains(t, set.Names(), "thanks")

	for file, want := range map[string]string{
		"nosubject.md": "want a first line \"Subject: …\"",
		"field.md":     "can't evaluate field Nope",
		"broken.md":    "unclosed action",
		"Bad Name.md":  "a template's name is lower-case letters",
	} {
		bad := t.TempDir()
		body := map[string]string{"nosubject.md": "Hello\n", "field.md": "Subject: x\n\n{{.Nope}}\n", "broken.md": "Subject: x\n\n{{.Plan\n",
			"Bad Name.md": "Subject: x\n\nHello\n"}[file]
		require.NoError(t, os.WriteFile(filepath.Join(bad, file), []byte(body), 0o600))
		_, err := replies.Load(bad)
		require.ErrorContains(t, err, file, file)
		require.ErrorContains(t, err, want, file)
	}
	_, err = replies.Load(filepath.Join(dir, "missing"))
	require.Error(t, err)
}
