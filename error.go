package pushgate

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Error codes. They are part of the API: clients read them from the "code"
// field of every error answer, and httpapi maps each to one HTTP status.
const (
	EINVALID       = "validation_failed" // the request is malformed or a field is wrong
	EUNAUTHORIZED  = "unauthorized"      // no or unknown credentials
	EFORBIDDEN     = "forbidden"         // credentials valid, action not allowed
	ENOTFOUND      = "not_found"
	ECONFLICT      = "conflict"
	ETOOLARGE      = "too_large"     // body or collection over its limit
	EUNPROCESSABLE = "unprocessable" // well-formed but cannot be acted on
	ERATELIMITED   = "rate_limited"
	EUNAVAILABLE   = "unavailable" // a dependency is down or the node is draining
	EINTERNAL      = "internal"
)

// Error is the one error type that crosses package boundaries. Message is
// safe to show to API clients; Err (if any) is the underlying cause and is
// only logged.
type Error struct {
	Code    string
	Message string
	// Fields lists per-field problems ("receivers[3].token: is required").
	Fields []string
	// RetryAfter is set with ERATELIMITED and EUNAVAILABLE when the caller
	// should wait before trying again.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Code
	}
	if len(e.Fields) > 0 {
		msg += " (" + strings.Join(e.Fields, "; ") + ")"
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error listing field problems.
func Invalid(message string, fields ...string) *Error {
	return &Error{Code: EINVALID, Message: message, Fields: fields}
}

// NotFound returns an ENOTFOUND error for a kind of thing ("app", "bucket").
func NotFound(what string) *Error {
	return &Error{Code: ENOTFOUND, Message: what + " not found"}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err: the Message of an
// *Error, or a generic text for anything else so internals never leak.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	if err == nil {
		return ""
	}
	return "internal error"
}
