package events

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/consumers/protocol"
)

// ClientError is an error a handler (or EventOptions.AuthorizeJoin) returns
// to choose what the client is told: the error event carries Code and
// Message, and Err goes only to the log. An empty Message is the code's
// default (say "forbidden"). Any other error a handler returns, and a
// ClientError without a Code, reaches the client as "internal" with the
// message "internal error" (see the package doc for the whole mapping).
type ClientError struct {
	Code    protocol.ErrorCode
	Message string
	Err     error
}

// NewError returns a *ClientError with code and message, for a handler to
// return: return events.NewError(protocol.CodeForbidden, "members only").
func NewError(code protocol.ErrorCode, message string) *ClientError {
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
func errorEvent(err error) (code protocol.ErrorCode, msg string, level slog.Level) {
	var ee *ClientError
	switch {
	case errors.As(err, &ee) && ee.Code != "":
		code, msg = ee.Code, ee.Message
	case errors.Is(err, channels.ErrBrokerUnavailable):
		code, msg = protocol.CodeUnavailable, "unavailable, try again later"
	case errors.Is(err, errTimeout):
		code, msg = protocol.CodeInternal, "handler timed out"
	case errors.Is(err, channels.ErrInvalidGroup):
		code, msg = protocol.CodeBadRequest, "invalid room name"
	case errors.Is(err, channels.ErrTooManyGroups):
		code, msg = protocol.CodeTooLarge, "too many rooms"
	case errors.Is(err, channels.ErrNoSuchChannel):
		code, msg = protocol.CodeNotFound, "no such connection"
	default:
		code = protocol.CodeInternal
	}
	if msg == "" {
		msg = code.DefaultMessage()
	}
	switch code {
	case protocol.CodeInternal:
		level = slog.LevelError
		if errors.Is(err, errTimeout) {
			level = slog.LevelWarn
		}
	case protocol.CodeUnavailable:
		level = slog.LevelWarn
	default:
		level = slog.LevelDebug
	}
	return code, msg, level
}

// Errors the event router answers with.
var (
	errRateLimited = NewError(protocol.CodeRateLimited, "rate limited")
	errReserved    = NewError(protocol.CodeForbidden, "this room is reserved")
	errNoRoom      = NewError(protocol.CodeBadRequest, "no room given")
)

// errUnknownEvent does not echo the event's name: the text of an error
// event never carries what the client sent.
func errUnknownEvent(name string) error {
	return &ClientError{Code: protocol.CodeNotFound, Message: "unknown event", Err: fmt.Errorf("events: no handler for event %q", name)}
}

// errEnvelope is the answer to an envelope that does not decode; a
// decoder that knows better returns a *ClientError (too_large, say).
func errEnvelope(err error) error {
	var ce *ClientError
	if errors.As(err, &ce) {
		return err
	}
	msg := "invalid envelope"
	if errors.Is(err, protocol.ErrNoEvent) {
		msg = "envelope without an event name"
	}
	return &ClientError{Code: protocol.CodeBadRequest, Message: msg, Err: err}
}

// errRefused is the answer to a join that EventOptions.AuthorizeJoin
// refused: the code its error chose, or forbidden. An outage stays one.
func errRefused(err error) error {
	var ee *ClientError
	if errors.As(err, &ee) || errors.Is(err, channels.ErrBrokerUnavailable) {
		return err
	}
	return &ClientError{Code: protocol.CodeForbidden, Message: "not allowed to join this room", Err: err}
}
