package protocol

import "errors"

// Built-in event names: the client's join and leave, the server's
// answers.
const (
	EventJoin   = "join"
	EventLeave  = "leave"
	EventJoined = "joined"
	EventLeft   = "left"
	EventError  = "error"
	EventAck    = "ack"
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
	// CodeForbidden: the client may not do this (a join the application
	// refused, a reserved room).
	CodeForbidden ErrorCode = "forbidden"
	// CodeNotFound: no handler for the event, or no such connection.
	CodeNotFound ErrorCode = "not_found"
	// CodeRateLimited: the event was over the connection's rate limit.
	CodeRateLimited ErrorCode = "rate_limited"
	// CodeTooLarge: too much of something (a message, rooms joined).
	CodeTooLarge ErrorCode = "too_large"
	// CodeUnavailable: the broker could not be reached; try again later.
	CodeUnavailable ErrorCode = "unavailable"
	// CodeInternal: the handler failed, panicked or timed out.
	CodeInternal ErrorCode = "internal"
)

func (c ErrorCode) String() string { return string(c) }

// DefaultMessage is the message of an error event with code c when the
// server chose none: "bad request" for CodeBadRequest, and so on; the
// code itself for a code this package does not name.
func (c ErrorCode) DefaultMessage() string {
	switch c {
	case CodeBadRequest:
		return "bad request"
	case CodeUnavailable:
		return "unavailable, try again later"
	case CodeInternal:
		return "internal error"
	case CodeRateLimited:
		return "rate limited"
	case CodeTooLarge:
		return "too large"
	case CodeNotFound:
		return "not found"
	}
	return string(c)
}

// ErrorPayload is the payload of an error event.
type ErrorPayload struct {
	Code  ErrorCode `json:"code" msgpack:"code"`
	Error string    `json:"error" msgpack:"error"`
}

// ErrNoEvent is returned by Decode for an envelope without an event name
// (absent, empty, or not a string).
var ErrNoEvent = errors.New("protocol: envelope without an event name")

// ErrTooManyFields is returned by Decode for an envelope of more than
// MaxFields fields.
var ErrTooManyFields = errors.New("protocol: envelope has too many fields")
