package websocket

import "strconv"

// StatusCode is a WebSocket close status code: one of RFC 6455's, or one of
// Switchboard's own in the private range 4000–4999. The package doc lists
// them all in one table.
type StatusCode int

// RFC 6455 status codes (section 7.4.1) and the IANA registry.
const (
	StatusNormalClosure       StatusCode = 1000
	StatusGoingAway           StatusCode = 1001
	StatusProtocolError       StatusCode = 1002
	StatusUnsupportedData     StatusCode = 1003
	StatusNoStatusReceived    StatusCode = 1005 // never sent; reported when a close frame had no code
	StatusAbnormalClosure     StatusCode = 1006 // never sent; reported when the connection dropped without a close frame
	StatusInvalidPayload      StatusCode = 1007
	StatusPolicyViolation     StatusCode = 1008
	StatusMessageTooBig       StatusCode = 1009
	StatusMandatoryExtension  StatusCode = 1010
	StatusInternalError       StatusCode = 1011
	StatusServiceRestart      StatusCode = 1012
	StatusTryAgainLater       StatusCode = 1013
	StatusTLSHandshakeFailure StatusCode = 1015 // never sent
)

// Switchboard's own status codes.
const (
	// StatusShutdown: the server is shutting down; reconnect, with a jittered
	// delay, to this or another node.
	StatusShutdown StatusCode = 4000
	// StatusSlowConsumer: the peer did not read fast enough and its outbound
	// queue exceeded Options.MaxQueueBytes.
	StatusSlowConsumer StatusCode = 4001
	// StatusPongTimeout: no pong (or any other frame) arrived within
	// Options.PongTimeout of a ping.
	StatusPongTimeout StatusCode = 4002
	// StatusRateLimited: the peer sent more than its rate limit allows.
	StatusRateLimited StatusCode = 4003
	// StatusUnauthorized: authentication failed or its credentials expired.
	StatusUnauthorized StatusCode = 4004
	// StatusExpired: the connection was idle longer than its expiry.
	StatusExpired StatusCode = 4005
)

var statusNames = map[StatusCode]string{
	StatusNormalClosure:       "normal closure",
	StatusGoingAway:           "going away",
	StatusProtocolError:       "protocol error",
	StatusUnsupportedData:     "unsupported data",
	StatusNoStatusReceived:    "no status received",
	StatusAbnormalClosure:     "abnormal closure",
	StatusInvalidPayload:      "invalid payload",
	StatusPolicyViolation:     "policy violation",
	StatusMessageTooBig:       "message too big",
	StatusMandatoryExtension:  "mandatory extension",
	StatusInternalError:       "internal error",
	StatusServiceRestart:      "service restart",
	StatusTryAgainLater:       "try again later",
	StatusTLSHandshakeFailure: "TLS handshake failure",
	StatusShutdown:            "shutdown",
	StatusSlowConsumer:        "slow consumer",
	StatusPongTimeout:         "pong timeout",
	StatusRateLimited:         "rate limited",
	StatusUnauthorized:        "unauthorized",
	StatusExpired:             "expired",
}

// String returns the code's number and name, such as "1000 (normal closure)".
func (c StatusCode) String() string {
	if n, ok := statusNames[c]; ok {
		return strconv.Itoa(int(c)) + " (" + n + ")"
	}
	return strconv.Itoa(int(c))
}

// canSend reports whether c may appear in a close frame on the wire.
func (c StatusCode) canSend() bool {
	switch {
	case c == StatusNoStatusReceived, c == StatusAbnormalClosure, c == StatusTLSHandshakeFailure:
		return false
	case 1000 <= c && c <= 1014:
		return c != 1004
	case 3000 <= c && c <= 4999:
		return true
	}
	return false
}
