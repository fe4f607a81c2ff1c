package view

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/paidup/paidup"
)

// ErrorPage is what an error page says; Ref lets support find the log
// line.
type ErrorPage struct {
	Heading string
	Message string
	Ref     string
}

// ErrorFor is the error page of err: an application error's own message,
// anything else a message that reveals nothing.
func ErrorFor(err error, ref string) ErrorPage {
	p := ErrorPage{Heading: "Something went wrong on our side", Message: paidup.ErrorMessage(err), Ref: ref}
	switch paidup.ErrorCode(err) {
	case paidup.ENOTFOUND:
		p.Heading = "We could not find that page"
	case paidup.EINVALID:
		p.Heading = "Please check what you entered"
	case paidup.EUNAVAILABLE:
		p.Heading = "We could not finish that just now"
	}
	return p
}

// Logged reports whether an error is paidup's to look into, and so to be
// logged with its reference, rather than the request's.
func Logged(err error) bool {
	code := paidup.ErrorCode(err)
	return code == paidup.EINTERNAL || code == paidup.EUNAVAILABLE
}

// FallbackPage is the error page when even the error page's template
// fails.
func FallbackPage(ref string) string {
	return "<!doctype html><title>Something went wrong</title><h1>Something went wrong on our side</h1><p>Please try again in a minute. Reference: " + ref + "</p>"
}

// HTTPStatus is the status of an application error's code.
func HTTPStatus(code string) int {
	switch code {
	case paidup.EINVALID:
		return http.StatusBadRequest
	case paidup.ENOTFOUND:
		return http.StatusNotFound
	case paidup.ECONFLICT:
		return http.StatusConflict
	case paidup.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case paidup.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

type refKey struct{}

// NewRef is a new request reference, R- and twelve hex digits, which
// error pages show and log lines carry.
func NewRef() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "R-" + strings.ToUpper(hex.EncodeToString(b))
}

// WithRef gives a request's context its reference.
func WithRef(ctx context.Context, ref string) context.Context {
	return context.WithValue(ctx, refKey{}, ref)
}

// Ref is the request's reference, or "-" if it has none.
func Ref(r *http.Request) string {
	if ref, ok := r.Context().Value(refKey{}).(string); ok {
		return ref
	}
	return "-"
}
