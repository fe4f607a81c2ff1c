package config

import (
	"fmt"
	"strings"
	"unicode"
)

// statementSuffixProblem is why a statement descriptor suffix cannot be
// used, or "". The processor shows at most 22 characters of its own
// descriptor and the suffix together, refuses < > \ ' " * and wants a
// letter. Kept to 17 characters, with a 12-character reference in it, it
// leaves room for a short descriptor of the business's own.
func statementSuffixProblem(template string) string {
	if template == "" {
		return ""
	}
	v := strings.ReplaceAll(template, "{reference}", "PU-7K3M-Q9XD")
	switch {
	case strings.Contains(strings.ReplaceAll(template, "{reference}", ""), "{"):
		return fmt.Sprintf("%q: the only placeholder is {reference}", template)
	case len(v) > 17:
		return fmt.Sprintf("%q is %d characters with a reference in it; the bank statement shows at most 22, with the business's own descriptor first, so keep it to 17", template, len(v))
	case strings.ContainsAny(v, `<>\'"*`):
		return fmt.Sprintf(`%q: the processor refuses any of < > \ ' " *`, template)
	case !strings.ContainsFunc(v, unicode.IsLetter):
		return fmt.Sprintf("%q: the processor wants at least one letter", template)
	}
	return ""
}
