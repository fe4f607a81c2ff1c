package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/notify"
)

func runPaidup(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr)
	return stdout.String(), err
}

// paidup preview-email lists the emails and prints each with sample data,
// as text or HTML.
func TestPreviewEmail(t *testing.T) {
	t.Chdir(t.TempDir()) // no paidup.yaml: the built-in example
	out, err := runPaidup(t, "preview-email")
	require.NoError(t, err)
	for _, name := range notify.BuiltinTemplates() {
		require.Contains(t, out, "  "+name+" ")
	}
	require.Contains(t, out, "Preview one with: paidup preview-email NAME")

	wants := map[string]string{
		"confirmation":           "Subject: You're in: Supporter, lifetime (PU-7K3M-Q9XD)",
		"sign_in":                "Subject: Your sign-in link for Example Community",
		"payment_failed":         "The renewal of Pro, monthly for $19.00 did not go through",
		"payment_reminder":       "A reminder: please update your card for Pro, monthly",
		"payment_final_reminder": "Subject: Your Pro access ends on ",
		"grace_ended":            "You still have Supporter, for good.",
		"welcome_back":           "Subject: Welcome back: Pro is yours again",
		"alert":                  "Subject: [paidup] Needs a person: ",
		"dispute_alert":          `paidup block lift --customer cu_preview --reason "…" --actor NAME`,
		"case_opened":            "We'll write to you within one business day",
		"case_answered":          "Subject: About your purchase PU-7K3M-Q9XD",
		"access_on_hold":         "Supporter is not taken away: it is back as soon as the hold is lifted, with no end date.",
		"access_restored":        "Subject: The hold is lifted: Supporter is back (PU-4D7N-8WQE)",
	}
	for name, want := range wants {
		out, err := runPaidup(t, "preview-email", name)
		require.NoError(t, err, name)
		require.Contains(t, out, want, name)
		require.Contains(t, out, "Example Community", name)
		require.True(t, strings.HasPrefix(out, "Subject: "), name)
		html, err := runPaidup(t, "preview-email", "--html", name)
		require.NoError(t, err, name)
		require.True(t, strings.HasPrefix(html, "<!doctype html>"), name)
		require.Contains(t, html, "</html>", name)
	}
	out, err = runPaidup(t, "preview-email", "payment_failed", "--html")
	require.NoError(t, err)
	require.Contains(t, out, `<a href="http://127.0.0.1:8080/card/preview"`, "flags may follow the name")

	_, err = runPaidup(t, "preview-email", "nope")
	require.ErrorContains(t, err, `no email template named "nope"; paidup preview-email lists them`)
	_, err = runPaidup(t, "preview-email", "payment_failed", "extra")
	require.Equal(t, 2, exitCode(err))
}

// withTemplates writes a configuration whose lifecycle.templates is a
// directory holding files, with reminder templates replaced as asked.
func withTemplates(t *testing.T, files map[string]string, replace ...string) (cfgPath, dir string) {
	t.Helper()
	root := t.TempDir()
	dir = filepath.Join(root, "emails")
	require.NoError(t, os.Mkdir(dir, 0o700))
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
	cfg := strings.Replace(string(exampleConfig(t)), "\n  templates: \"\"", "\n  templates: "+dir, 1)
	for i := 0; i+1 < len(replace); i += 2 {
		cfg = strings.Replace(cfg, replace[i], replace[i+1], 1)
	}
	cfgPath = filepath.Join(root, "paidup.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
	return cfgPath, dir
}

// The override directory replaces templates file by file and adds new
// ones a reminder can name; previews show them.
func TestPreviewEmailWithOverrides(t *testing.T) {
	cfg, dir := withTemplates(t, map[string]string{
		"payment_failed.txt": `{{define "subject"}}Card trouble at {{.Business}}{{end}}{{define "text"}}{{.PlanName}}: {{.CardURL}}{{end}}`,
		"payment_nudge.txt":  `{{define "subject"}}A nudge about {{.TierName}}{{end}}{{define "text"}}{{.CardURL}}{{end}}`,
		"payment_nudge.html": `{{define "html"}}<p><a href="{{.CardURL}}">{{.TierName}}</a></p>{{end}}`,
	}, "template: payment_reminder", "template: payment_nudge")
	out, err := runPaidup(t, "preview-email", "--config", cfg)
	require.NoError(t, err)
	require.Contains(t, out, "payment_failed           text: "+filepath.Join(dir, "payment_failed.txt")+"; HTML: built in")
	require.Contains(t, out, "payment_nudge ")
	out, err = runPaidup(t, "preview-email", "payment_failed", "--config", cfg)
	require.NoError(t, err)
	require.Contains(t, out, "Subject: Card trouble at Example Community\n")
	out, err = runPaidup(t, "preview-email", "payment_failed", "--config", cfg, "--html")
	require.NoError(t, err)
	require.Contains(t, out, ">Update your card</a>", "the HTML stays built in")
	out, err = runPaidup(t, "preview-email", "payment_nudge", "--config", cfg)
	require.NoError(t, err)
	require.Contains(t, out, "Subject: A nudge about Pro\n")
}

// A broken template is refused at start, with its file and the reason,
// before anything is written.
func TestBrokenTemplateIsRefusedAtStart(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"syntax", map[string]string{"payment_reminder.html": "{{define \"html\"}}\n<p>{{.PlanName</p>{{end}}"},
			"payment_reminder.html: template: payment_reminder.html:2: "},
		{"unknown field", map[string]string{"welcome_back.txt": `{{define "subject"}}Hi {{.FirstName}}{{end}}{{define "text"}}x{{end}}`},
			`welcome_back.txt: template: welcome_back.txt:1:25: executing "subject" at <.FirstName>: can't evaluate field FirstName`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, dir := withTemplates(t, tt.files)
			dbPath := filepath.Join(t.TempDir(), "paidup.db")
			_, err := runPaidup(t, "serve", "--config", cfg, "--database-url", "sqlite:"+dbPath,
				"--listen", "127.0.0.1:0", "--sandbox-listen", "127.0.0.1:0", "--sandbox-database-url", "sqlite:"+filepath.Join(t.TempDir(), "sb.db"))
			require.Error(t, err)
			require.Contains(t, err.Error(), cfg+": lifecycle.templates: "+filepath.Join(dir, tt.want))
			_, statErr := os.Stat(dbPath)
			require.True(t, os.IsNotExist(statErr), "nothing is written")
			_, err = runPaidup(t, "preview-email", "--config", cfg)
			require.ErrorContains(t, err, filepath.Join(dir, tt.want))
		})
	}
	cfg, _ := withTemplates(t, nil, "template: payment_reminder", "template: payment_shove")
	_, err := runPaidup(t, "preview-email", "--config", cfg)
	require.ErrorContains(t, err, `lifecycle.reminders[1].template: "payment_shove" is not one of payment_failed, payment_reminder, payment_final_reminder, nor a template in lifecycle.templates`)
}

// In sandbox mode the previews are in the local mailbox, linked from the
// sandbox's console.
func TestSandboxMailboxPreviews(t *testing.T) {
	dir := t.TempDir()
	in := start(t, nil, "serve", "--listen", "127.0.0.1:0", "--sandbox-listen", "127.0.0.1:0",
		"--database-url", "sqlite:"+filepath.Join(dir, "paidup.db"), "--sandbox-database-url", "sqlite:"+filepath.Join(dir, "sandbox.db"))
	_, console := get(t, in.sandbox+"/")
	require.Contains(t, console, `href="/mailbox/previews/"`)
	status, list := get(t, in.sandbox+"/mailbox/previews/")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, list, `href="payment_failed"`)
	status, html := get(t, in.sandbox+"/mailbox/previews/payment_failed")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, html, in.shop+"/card/preview")
	status, text := get(t, in.sandbox+"/mailbox/previews/grace_ended.txt")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, text, "Subject: Your Pro access has ended")
	status, _ = get(t, in.sandbox+"/mailbox/previews/nope")
	require.Equal(t, http.StatusNotFound, status)
	require.NoError(t, in.stop())
}
