package consumers

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/switchboard-go/switchboard/channels"
)

// ErrorCode is the machine-readable code of an error event:
// {"event": "error", "payload": {"code": "forbidden", "error": "..."}}.
// Clients branch on the code; the message is for people.
type ErrorCode string

// The codes of error events. They are stable: clients may rely on them.
const (
	// CodeBadRequest: the envelope, its payload or a room name is invalid.
	CodeBadRequest ErrorCode = "bad_request"
	// CodeUnauthorized: the client must authenticate first.
	CodeUnauthorized ErrorCode = "unauthorized"
	// CodeForbidden: the client may not do this (a join refused by
	// EventOptions.AuthorizeJoin, a reserved room).
	CodeForbidden ErrorCode = "forbidden"
	// CodeNotFound: no handler for the event, or no such connection.
	CodeNotFound ErrorCode = "not_found"
	// CodeRateLimited: the event was over EventOptions.RateLimit.
	CodeRateLimited ErrorCode = "rate_limited"
	// CodeTooLarge: too much of something (a message, rooms joined).
	CodeTooLarge ErrorCode = "too_large"
	// CodeUnavailable: the broker could not be reached; try again later.
	CodeUnavailable ErrorCode = "unavailable"
	// CodeInternal: the handler failed, panicked or timed out.
	CodeInternal ErrorCode = "internal"
)

func (c ErrorCode) String() string { return string(c) }

// ClientError is an error a handler (or EventOptions.AuthorizeJoin) returns
// to choose what the client is told: the error event carries Code and
// Message, and Err goes only to the log. An empty Message is the code's
// default (say "forbidden"). Any other error a handler returns, and a
// ClientError without a Code, reaches the client as "internal" with the
// message "internal error" (see the package doc for the whole mapping).
type ClientError struct {
	Code    ErrorCode
	Message string
	Err     error
}

// NewError returns a *ClientError with code and message, for a handler to
// return: return consumers.NewError(consumers.CodeForbidden, "members only").
func NewError(code ErrorCode, message string) *ClientError {
	return &ClientError{Code: code, Message: message}
}

func (e *ClientError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = string(e.Code)
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

func (e *ClientError) Unwrap() error { return e.Err }

// errorEvent is the one place that decides what a client is told about an
// error, and at which level the whole error is logged. Client mistakes are
// logged at Debug (a hostile client must not flood the log), outages and
// timeouts at Warn, failures of the application at Error.
func errorEvent(err error) (code ErrorCode, msg string, level slog.Level) {
	var ee *ClientError
	switch {
	case errors.As(err, &ee) && ee.Code != "":
		code, msg = ee.Code, ee.Message
	case errors.Is(err, channels.ErrBrokerUnavailable):
		code, msg = CodeUnavailable, "unavailable, try again later"
	case errors.Is(err, errTimeout):
		code, msg = CodeInternal, "handler timed out"
	case errors.Is(err, channels.ErrInvalidGroup):
		code, msg = CodeBadRequest, "invalid room name"
	case errors.Is(err, channels.ErrTooManyGroups):
		code, msg = CodeTooLarge, "too many rooms"
	case errors.Is(err, channels.ErrNoSuchChannel):
		code, msg = CodeNotFound, "no such connection"
	default:
		code = CodeInternal
	}
	if msg == "" {
		msg = defaultMessages[code]
	}
	if msg == "" {
		msg = string(code)
	}
	switch code {
	case CodeInternal:
		level = slog.LevelError
		if errors.Is(err, errTimeout) {
			level = slog.LevelWarn
		}
	case CodeUnavailable:
		level = slog.LevelWarn
	default:
		level = slog.LevelDebug
	}
	return code, msg, level
}

var defaultMessages = map[ErrorCode]string{
	CodeBadRequest:   "bad request",
	CodeUnauthorized: "unauthorized",
	CodeForbidden:    "forbidden",
	CodeNotFound:     "not found",
	CodeRateLimited:  "rate limited",
	CodeTooLarge:     "too large",
	CodeUnavailable:  "unavailable, try again later",
	CodeInternal:     "internal error",
}

// Errors the event router answers with.
var (
	errRateLimited = NewError(CodeRateLimited, "rate limited")
	errReserved    = NewError(CodeForbidden, "this room is reserved")
	errNoRoom      = NewError(CodeBadRequest, "no room given")
)

// errUnknownEvent does not echo the event's name: the text of an error
// event never carries what the client sent.
func errUnknownEvent(name string) error {
	return &ClientError{Code: CodeNotFound, Message: "unknown event", Err: fmt.Errorf("consumers: no handler for event %q", name)}
}

// errEnvelope is the answer to an envelope that does not decode; a
// decoder that knows better returns a *ClientError (too_large, say).
func errEnvelope(err error) error {
	var ce *ClientError
	if errors.As(err, &ce) {
		return err
	}
	msg := "invalid envelope"
	if errors.Is(err, errNoEvent) {
		msg = "envelope without an event name"
	}
	return &ClientError{Code: CodeBadRequest, Message: msg, Err: err}
}

// errRefused is the answer to a join that EventOptions.AuthorizeJoin
// refused: the code its error chose, or forbidden. An outage stays one.
func errRefused(err error) error {
	var ee *ClientError
	if errors.As(err, &ee) || errors.Is(err, channels.ErrBrokerUnavailable) {
		return err
	}
	return &ClientError{Code: CodeForbidden, Message: "not allowed to join this room", Err: err}
}
