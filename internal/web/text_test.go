package web_test

import (
	"html"
	"regexp"
	"strings"
)

var (
	invisible = regexp.MustCompile(`(?s)<(style|script|head)\b.*?</(style|script|head)>`)
	tag       = regexp.MustCompile(`(?s)<[^>]*>`)
	space     = regexp.MustCompile(`\s+`)
)

// visibleText is the text of a page a person reads: no markup, styles or
// attribute values, with its spaces folded.
func visibleText(page string) string {
	s := invisible.ReplaceAllString(page, " ")
	s = tag.ReplaceAllString(s, " ")
	return strings.TrimSpace(space.ReplaceAllString(html.UnescapeString(s), " "))
}
