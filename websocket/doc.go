// Package websocket is Switchboard's connection type: one WebSocket
// connection with the shape of an ASGI WebSocket scope, from the handshake
// request to the close.
//
// # Using a connection
//
// Handler turns a HandlerFunc into an http.Handler. For each handshake
// request it makes a *WebSocket and runs the function on a goroutine of
// its own; when the function returns, the connection closes: with 1000
// after a nil error, with the code of a *CloseError it returns (see
// NewCloseError), and with 1011 for any other error or a panic.
//
//	h := websocket.Handler(func(ws *websocket.WebSocket) error {
//		if err := ws.Accept(ws.Context(), nil); err != nil {
//			return err
//		}
//		for {
//			msg, err := ws.ReceiveText(ws.Context())
//			if err != nil {
//				return err // *DisconnectError when the peer left
//			}
//			ws.SendText("echo: " + msg)
//		}
//	}, nil)
//	http.ListenAndServe("127.0.0.1:8080", h)
//
// Accept. The connection starts in StateConnecting, before the handshake
// is answered: the function may read Request, Header, Query, PathParam
// and Client to decide. Accept upgrades it (AcceptOptions picks a
// subprotocol from the client's and adds response headers); Reject
// answers the handshake with an HTTP status instead. Close before Accept
// is a reject with 403.
//
// Read. Receive returns the next message and its type; ReceiveText,
// ReceiveBytes, ReceiveJSON and ReceiveMsgpack want one type and decode
// it. A message of the other type is a *MessageTypeError and one that
// does not decode a *DecodeError: the connection stays usable. When the
// connection ends, every receive returns a *DisconnectError with the
// close code (CloseStatus extracts it). Receive must be called for the
// connection to be read at all: pings, pongs and the peer's close frame
// are handled inside it, so a handler that only sends should still run a
// Receive loop. A ctx that ends while Receive waits closes the connection
// with 1001.
//
// Write. SendText, SendBytes, SendJSON, SendMsgpack, Send and
// SendPrepared (one message encoded once for many connections) are safe
// from any goroutine and never block: they queue the message and return.
// A text message must be valid UTF-8 (ErrInvalidUTF8). After the close
// they return ErrClosed.
//
// Close. Close(code, reason) sends what is queued (within
// Options.CloseTimeout), sends the close frame, waits for the peer's and
// ends the connection; it is idempotent. Abort ends it at once. Context
// is cancelled when the connection ends, and OnClose registers functions
// to run then.
//
// Options. The Options given to Handler set, for every connection it
// accepts, the largest message (ReadLimit), keepalive (PingInterval,
// PongTimeout), the outbound queue bound (MaxQueueBytes), timeouts,
// allowed origins, compression, logging, metrics and a Tracker for
// shutdown and per-client limits; see Defaults below.
//
// # Path parameters
//
// PathParam and PathParams give the path parameters of the handshake
// request: the wildcards of the net/http ServeMux pattern that matched it
// (r.Pattern, such as "GET /rooms/{room}/{rest...}"), and those a router
// handed over with WithPathParams. A router.WSRouter route hands over its
// own; any other router can do the same in a middleware of a few lines
// (examples/chi does it for chi). Request's PathValue gives the same
// parameters, before Accept and after.
//
// # Concurrency and back-pressure
//
// Every method is safe for concurrent use. Sends never block: they append
// to the connection's outbound queue, bounded by Options.MaxQueueBytes,
// which a writer writes out, a burst coalesced into one write. The writers
// are a pool shared by a Handler's connections, at most one per CPU, that
// write only what a socket takes at once; a connection whose socket is
// full, or that compresses, gets a writer goroutine of its own until its
// queue is empty. A peer that does not read is a
// slow consumer: the send that overflows its queue returns ErrSlowConsumer
// and the connection is closed with StatusSlowConsumer; nobody waits for
// it.
//
// # Memory
//
// An idle connection costs the server about 5 KiB of heap and stack and
// one goroutine (TestIdleConnectionMemory holds it under 7 KiB). How it
// stays that small, and what a handler can do to keep it so, is told in
// docs/CONNECTION-MEMORY.md.
//
// # Beneath gorilla
//
// gorilla/websocket does the handshake and reads data frames. What the
// package does beneath it (frame encoding, burst coalescing, the lent
// read buffer and the wait between messages that answers pings) lives in
// internal/wire, whose package doc lists the rules that code keeps.
//
// # Conformance
//
// The package passes a suite modelled on Autobahn's fuzzing-client cases
// (TestConformance); docs/CONFORMANCE.md lists every case and its grade.
//
// # State
//
// The package keeps no mutable state of its own. What connections share
// belongs to the Handler that accepted them: each call to Handler (and so
// each router.WSRouter route) resolves its Options into a configuration
// of its own, with its buffer pools (a wire.Pools) and its keepalive
// scheduler. Two Handlers share neither, even when made from the same
// *Options, and one Handler's connections never wait on another's.
// Package-level variables are read-only: the error values, the names of
// the close codes and the bytes of the ping frame.
//
// # Close codes
//
// Close codes are StatusCode values. Receive reports the code of a finished
// connection in a *DisconnectError; CloseStatus extracts it from any error.
//
// What a handler's error does to its connection (the close code after
// Accept, the HTTP status before it, the level it is logged at) is one
// table, in the doc of Ending, that EndingFor computes and that Handler,
// package router and package consumers all follow. An error takes part
// by implementing StatusError (as *CloseError and
// channels.ErrBrokerUnavailable do), or by being marked with Refuse.
//
//	Code  Constant                  Meaning
//	1000  StatusNormalClosure       the handler returned, or the peer said goodbye
//	1001  StatusGoingAway           the peer is leaving; also a Receive whose ctx ended
//	1002  StatusProtocolError       the peer broke the protocol
//	1003  StatusUnsupportedData     a message of a type the endpoint cannot take
//	1005  StatusNoStatusReceived    reported only: the close frame had no code
//	1006  StatusAbnormalClosure     reported only: the connection dropped without a close frame
//	1007  StatusInvalidPayload      a text message that is not UTF-8, or a message that does not decode
//	1008  StatusPolicyViolation     a message that breaks the application's policy
//	1009  StatusMessageTooBig       a message bigger than Options.ReadLimit
//	1010  StatusMandatoryExtension  the client needed an extension the server lacks
//	1011  StatusInternalError       the handler failed (error or panic)
//	1012  StatusServiceRestart      the server is restarting
//	1013  StatusTryAgainLater       temporary overload, or a broker outage
//	1015  StatusTLSHandshakeFailure reported only
//	4000  StatusShutdown            the server is shutting down: reconnect with jitter
//	4001  StatusSlowConsumer        the peer's outbound queue overflowed
//	4002  StatusPongTimeout         no pong within Options.PongTimeout of a ping
//	4003  StatusRateLimited         the peer sent faster than its rate limit
//	4004  StatusUnauthorized        authentication failed or expired (for applications to
//	                                send: the library refuses a failed authentication with
//	                                401 before the upgrade)
//	4005  StatusExpired             the connection outlived its expiry
//
// # Defaults
//
// ReadLimit 64 KiB, PingInterval 25s, PongTimeout 10s, WriteTimeout 10s,
// MaxQueueBytes 1 MiB, MaxHeaderBytes 16 KiB, HandshakeTimeout 10s,
// CloseTimeout 5s, same-origin only, compression off. See Options.
//
// A handshake over HTTP/1.0 is refused with 400 (RFC 6455 asks for
// HTTP/1.1), and one whose headers pass MaxHeaderBytes with 431.
package websocket
