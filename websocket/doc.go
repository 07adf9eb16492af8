// Package websocket is Switchboard's connection type: one WebSocket
// connection with the shape of an ASGI WebSocket scope, from the handshake
// request to the close.
//
// A Handler (or a router.WSRouter route) creates a *WebSocket for each
// handshake request and runs the application's HandlerFunc on a goroutine
// of its own. The handler decides: Accept (with a subprotocol and extra
// headers) or Reject with an HTTP status. Then it receives (ReceiveText,
// ReceiveBytes, ReceiveJSON, ReceiveMsgpack, Receive) and sends (SendText,
// SendBytes, SendJSON, SendMsgpack, Send, SendPrepared). When it returns,
// the connection closes.
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
// to the connection's outbound queue, bounded by Options.MaxQueueBytes, and
// one writer goroutine, which runs only while the queue is non-empty,
// writes it out. When several frames wait, the writer gathers them in a
// pooled buffer and pays one write syscall for the burst. A peer that does
// not read is a slow consumer: the send that overflows its queue returns
// ErrSlowConsumer and the connection is closed with StatusSlowConsumer;
// nobody waits for it.
//
// Receive must be called for the connection to be read at all: pongs,
// pings and the peer's close frame are processed inside Receive. A handler
// that only sends should still run a Receive loop.
//
// # Memory
//
// An idle connection holds one goroutine (the handler's), gorilla's
// connection, what it keeps of the handshake request and its own state: no
// read buffer, no write buffer and no writer goroutine. While the peer is
// silent Receive waits on the socket itself (on Linux), so the handler's
// goroutine stays shallow; a 512-byte read buffer is lent from a pool only
// while a message is read, and the keepalive's pings and pongs are
// answered without it. Keepalive needs no timer per connection: one timer
// serves every connection of a Handler, from a heap of their next
// checks, and is stopped while the Handler has no connection. net/http's
// own per-request buffers are released right after the handshake, and so
// is the request: an accepted connection keeps only what its methods
// read (the URL's path and query, the protocol, host, addresses, pattern,
// path values and TLS state) and the headers packed in one string, not
// in net/http's map; Header and Request rebuild the map and the request
// on first use. A handler that calls Request before Accept keeps the
// request it made, with net/http's header map.
//
// A goroutine's stack usually starts at 2 KiB and doubles whenever it
// runs out; one that waits never gets the space back. Accept, Receive,
// Query, Header and the channels package's Register and AddToGroup stay
// within 2 KiB (Query, Header, Register and AddToGroup do their deep work
// on a short-lived goroutine of their own); what a handler adds is its own
// frames and whatever else it calls before it waits. A handler whose functions are small (a large closure with every
// branch inline is not) costs 2 KiB of stack per idle connection; one that
// goes deeper costs 4 KiB, and so does a connection whose handler has
// processed messages of any weight.
//
// # State
//
// The package keeps no mutable state of its own. What connections share
// belongs to the Handler that accepted them: each call to Handler (and so
// each router.WSRouter route) resolves its Options into a configuration
// of its own, with its buffer pools (sync.Pool) and its keepalive
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
