package patchgate

import (
	"errors"
	"fmt"
)

// Code is a stable error class. The API returns it as JSON with a matching
// HTTP status; clients may switch on it.
type Code string

const (
	CodeInvalid      Code = "invalid"
	CodeNotFound     Code = "not_found"
	CodeConflict     Code = "conflict"
	CodeUnauthorized Code = "unauthorized"
	CodeForbidden    Code = "forbidden"
	CodeTooLarge     Code = "too_large"
	CodeInternal     Code = "internal"
)

// Error is an error with a stable code and a message that is safe to show to
// the caller. Field names the offending input field, when there is one.
type Error struct {
	Code    Code
	Field   string
	Message string
	Err     error // cause; logged, never returned to clients
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil && e.Code == CodeInternal {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an invalid-input error naming field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFound returns a not_found error.
func NotFound(format string, args ...any) *Error {
	return &Error{Code: CodeNotFound, Message: fmt.Sprintf(format, args...)}
}

// Internal wraps err as an internal error; its message is not shown to clients.
func Internal(err error, context string) *Error {
	return &Error{Code: CodeInternal, Message: context, Err: err}
}

// ErrorCode returns the code of err: CodeInternal for errors that carry none.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// IsNotFound reports whether err has code not_found.
func IsNotFound(err error) bool { return err != nil && ErrorCode(err) == CodeNotFound }
