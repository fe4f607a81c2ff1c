package view

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/paidup/paidup"
)

// A site's pages get the shared parts, and escape what they are given.
func TestParse(t *testing.T) {
	site := fstest.MapFS{
		"t/layout.html": {Data: []byte(`{{define "top"}}<html>{{template "style"}}{{end}}{{define "bottom"}}</html>{{end}}`)},
		"t/oops.html":   {Data: []byte(`{{template "top" .}}{{template "error_message" .}}{{template "bottom" .}}`)},
	}
	pages := Parse(site, "t/layout.html", "t/*.html", nil)
	if _, ok := pages["layout.html"]; ok || len(pages) != 1 {
		t.Fatalf("pages: %v", pages)
	}
	var b strings.Builder
	if err := pages.Execute(&b, "oops.html", ErrorPage{Heading: "<b>no</b>", Message: "m", Ref: "R-1"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<style>", "&lt;b&gt;no&lt;/b&gt;", "R-1", "</html>"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in %s", want, b.String())
		}
	}
	if err := pages.Execute(&b, "missing.html", nil); err == nil {
		t.Error("an unknown page renders")
	}
}

// Application errors keep their words and status; anything else says
// nothing of itself.
func TestErrorFor(t *testing.T) {
	tests := []struct {
		err     error
		heading string
		status  int
		logged  bool
	}{
		{paidup.Errorf(paidup.ENOTFOUND, "gone"), "We could not find that page", 404, false},
		{paidup.Errorf(paidup.EINVALID, "bad"), "Please check what you entered", 400, false},
		{paidup.Errorf(paidup.EUNAVAILABLE, "later"), "We could not finish that just now", 503, true},
		{paidup.Errorf(paidup.EUNAUTHORIZED, "who"), "Something went wrong on our side", 401, false},
		{errors.New("secret detail"), "Something went wrong on our side", 500, true},
	}
	for _, tt := range tests {
		p := ErrorFor(tt.err, "R-1")
		if p.Heading != tt.heading || HTTPStatus(paidup.ErrorCode(tt.err)) != tt.status || Logged(tt.err) != tt.logged {
			t.Errorf("%v: %+v, status %d", tt.err, p, HTTPStatus(paidup.ErrorCode(tt.err)))
		}
		if strings.Contains(p.Message, "secret") {
			t.Errorf("an internal error's words are shown: %s", p.Message)
		}
	}
}

func TestContentSecurityPolicy(t *testing.T) {
	got := ContentSecurityPolicy([]string{"https://checkout.example.com", "https://x.example.com/path", "javascript:alert(1)"})
	if !strings.Contains(got, "form-action 'self' https://checkout.example.com;") {
		t.Errorf("got %s", got)
	}
}

// The client is the peer, unless a trusted proxy forwarded the request.
func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	r := &http.Request{RemoteAddr: "10.0.0.2:1", Header: http.Header{"X-Forwarded-For": {"6.6.6.6, 203.0.113.1"}}}
	if got := ClientAddr(r, trusted).String(); got != "203.0.113.1" {
		t.Errorf("behind a proxy: %s", got)
	}
	if got := ClientAddr(r, nil).String(); got != "10.0.0.2" {
		t.Errorf("no trusted proxy: %s", got)
	}
}
