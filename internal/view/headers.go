package view

import (
	"net/http"
	"net/url"
)

// SecurityHeaders tells the browser to keep a page to paidup: the
// Content-Security-Policy csp, no framing, no sniffing, no referrer to
// other sites, no caching (pages carry a customer's data).
func SecurityHeaders(h http.Header, csp string) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// ContentSecurityPolicy is the pages' policy: everything from paidup
// itself, and forms that lead only to paidup or to formOrigins (the
// processor's checkout and card pages, which a form's redirect reaches).
func ContentSecurityPolicy(formOrigins []string) string {
	formAction := "'self'"
	for _, o := range formOrigins {
		if u, err := url.Parse(o); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && o == u.Scheme+"://"+u.Host {
			formAction += " " + o
		}
	}
	return "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action " + formAction + "; frame-ancestors 'none'"
}
