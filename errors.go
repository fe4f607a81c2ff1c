package paidup

import (
	"errors"
	"fmt"
)

// Error codes, a small set mapped to HTTP statuses in one place (web).
const (
	EINVALID      = "invalid"      // bad input from the caller
	ENOTFOUND     = "not_found"    // no such thing
	ECONFLICT     = "conflict"     // the state forbids this now
	EUNAUTHORIZED = "unauthorized" // missing or wrong credentials
	EUNAVAILABLE  = "unavailable"  // a dependency (processor, SMTP) failed; try again
	EINTERNAL     = "internal"     // a bug or an unexpected failure
)

// Error is paidup's application error. Message is safe to show to the
// person who caused it; anything else stays in the logs.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("paidup: %s: %s", e.Code, e.Message) }

// Errorf returns an application error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err's application error, or EINTERNAL.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of err's application error, or a generic
// message that reveals nothing.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Something went wrong on our side."
}
