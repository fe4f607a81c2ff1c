package inbound

import (
	"regexp"
	"strings"
)

// attribution is the line a mail client writes above the reply it quotes
// ("On Tue, 3 Dec 2026 at 10:00, Example <…> wrote:", "Am …
// schrieb Example <…>:"), in the languages customers most often write
// in; a client may wrap it over two lines.
var attribution = regexp.MustCompile(`(?i)^\s*(on|le|am|el|il|op|den|em|w dniu)\b.{0,300}\b(wrote|a écrit|schrieb|escribió|ha scritto|schreef|skrev|escreveu|napisał)(\s.{0,300})?:\s*$`)

// separator is a line that begins a message quoted without ">": Outlook's
// original-message line, its header block ("From: …" with a Sent:, Date:
// or To: line after it), and the way to answer that paidup's replies end
// with.
type separator struct {
	line *regexp.Regexp
	// header: only with a header line after it; "From: …" alone may be
	// the customer's words.
	header bool
}

var separators = []separator{
	{line: regexp.MustCompile(`(?i)^\s*-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|mensaje original)\s*-{2,}\s*$`)},
	{line: regexp.MustCompile(`^\s*_{10,}\s*$`)},
	{line: regexp.MustCompile(`(?i)^\s*(from|von|de|van):\s.+$`), header: true},
	{line: regexp.MustCompile(`^\s*To answer us, reply to this email, or write here`)},
}

var headerLine = regexp.MustCompile(`(?i)^\s*(sent|date|gesendet|envoyé|enviado|verzonden|to|an|à):\s`)

// StripQuoted is the text of a reply without the message it quotes: cut
// at the attribution line or the separator that begins the quotation,
// and without the lines quoted with ">".
func StripQuoted(text string) string {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	end := len(lines)
	for i := range lines {
		if quotationStarts(lines, i) {
			end = i
			break
		}
	}
	var out []string
	for _, l := range lines[:end] {
		if strings.HasPrefix(strings.TrimLeft(l, " \t"), ">") {
			continue
		}
		out = append(out, strings.TrimRight(l, " \t"))
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}

// quotationStarts reports whether line i begins the quoted message.
func quotationStarts(lines []string, i int) bool {
	l := lines[i]
	if attribution.MatchString(l) || (i+1 < len(lines) && attribution.MatchString(l+" "+lines[i+1])) {
		return true
	}
	for _, s := range separators {
		if s.line.MatchString(l) {
			return !s.header || (i+1 < len(lines) && headerLine.MatchString(lines[i+1]))
		}
	}
	return false
}
