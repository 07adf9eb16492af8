package websocket

import (
	"errors"
	"fmt"
)

var (
	// ErrClosed is returned by sends and handshake calls on a connection
	// that is closing or closed.
	ErrClosed = errors.New("websocket: connection closed")
	// ErrNotAccepted is returned by Receive and Send before Accept.
	ErrNotAccepted = errors.New("websocket: connection not accepted yet")
	// ErrAlreadyAccepted is returned by Accept or Reject after Accept.
	ErrAlreadyAccepted = errors.New("websocket: connection already accepted")
	// ErrSlowConsumer is returned by the send that found the peer's outbound
	// queue full; the connection is being closed with StatusSlowConsumer.
	ErrSlowConsumer = errors.New("websocket: slow consumer: outbound queue full")
	// ErrHandshakeOver is returned by Accept or Reject when the HTTP request
	// they answer has ended (the client went away before the handshake).
	ErrHandshakeOver = errors.New("websocket: handshake request is over")
	// ErrInvalidStatusCode is returned by Close for a code that may not be
	// sent in a close frame (such as 1005 or 1006); the connection is then
	// closed with StatusInternalError.
	ErrInvalidStatusCode = errors.New("websocket: status code cannot be sent")
	// ErrInvalidUTF8 is returned by a send of a text message that is not
	// valid UTF-8 (SendText, Send, SendJSON, NewPreparedMessage): a peer
	// must fail the connection on such a message, so nothing is sent.
	ErrInvalidUTF8 = errors.New("websocket: text message is not valid UTF-8")
)

// DisconnectError is returned by every Receive call once the connection has
// ended. Code is the close code the peer sent (or we sent, when we closed
// first); StatusAbnormalClosure when the connection dropped without a close
// frame.
type DisconnectError struct {
	Code   StatusCode
	Reason string
}

func (e *DisconnectError) Error() string {
	if e.Reason == "" {
		return "websocket: disconnected: " + e.Code.String()
	}
	return fmt.Sprintf("websocket: disconnected: %s: %s", e.Code, e.Reason)
}

// CloseError is an error that carries the close code and reason a handler
// wants its connection closed with. Return one from a handler (or wrap one)
// to close with that code instead of StatusInternalError. It is the
// StatusError that a handler builds; see Ending for the whole policy.
type CloseError struct {
	Code   StatusCode
	Reason string
}

// NewCloseError returns a *CloseError.
func NewCloseError(code StatusCode, reason string) error {
	return &CloseError{Code: code, Reason: reason}
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return "websocket: close with " + e.Code.String()
	}
	return fmt.Sprintf("websocket: close with %s: %s", e.Code, e.Reason)
}

// MessageTypeError is returned by a typed Receive call (ReceiveText,
// ReceiveBytes, ReceiveJSON, ReceiveMsgpack) when the message that arrived
// has the other type. The message is consumed; the connection stays usable.
type MessageTypeError struct {
	Want, Got MessageType
}

func (e *MessageTypeError) Error() string {
	return fmt.Sprintf("websocket: expected a %s message, got a %s message", e.Want, e.Got)
}

// DecodeError is returned by ReceiveJSON and ReceiveMsgpack when the message
// does not decode. The message is consumed; the connection stays usable.
type DecodeError struct {
	Codec string // "json" or "msgpack"
	Err   error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("websocket: %s decode: %v", e.Codec, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// CloseStatus returns the close code carried by err (a *DisconnectError,
// or a StatusError such as a *CloseError or channels.ErrBrokerUnavailable,
// anywhere in its chain), or -1 when err carries none. Only a
// *DisconnectError says that a connection ended; EndingFor says what a
// handler's error does to its connection.
func CloseStatus(err error) StatusCode {
	var de *DisconnectError
	if errors.As(err, &de) {
		return de.Code
	}
	if se, ok := statusErrorOf(err); ok {
		return se.CloseStatus()
	}
	return -1
}
