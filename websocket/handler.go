package websocket

import (
	"context"
	"fmt"
	"net/http"
	"runtime/debug"
	"sync"

	gws "github.com/gorilla/websocket"
)

// HandlerFunc handles one connection. It decides the handshake (Accept or
// Reject), then talks to the peer. When it returns, the connection is
// closed: with StatusNormalClosure after a nil error, with the code of a
// StatusError it returns or wraps (a *CloseError, or
// channels.ErrBrokerUnavailable, which carries StatusTryAgainLater), or
// with StatusInternalError (the error logged) otherwise. A panic is
// recovered and treated as an error. Returning without Accept or Reject
// rejects the handshake with 403 (500 after an error, 503 after one that
// carries StatusTryAgainLater, 403 after Refuse). Ending has the whole
// table, with the log levels.
//
// It is the one handler-func type of the module: router.WSRouter.Handle
// takes it as a router.Handler, for it has the method ServeWebSocket.
type HandlerFunc func(ws *WebSocket) error

// ServeWebSocket calls f(ws).
func (f HandlerFunc) ServeWebSocket(ws *WebSocket) error { return f(ws) }

// Handler returns an http.Handler that runs fn for every WebSocket
// handshake request, with the connection options opts (nil for defaults).
// A request that is not a WebSocket upgrade gets 426 Upgrade Required.
//
// fn runs on a goroutine of its own; the HTTP handler goroutine answers the
// handshake on fn's behalf and returns right after, so that net/http frees
// its per-request buffers while the connection lives on.
//
// Each call makes a Handler with buffer pools and a keepalive scheduler of
// its own, shared by its connections and by no other Handler (see State
// in the package doc).
func Handler(fn HandlerFunc, opts *Options) http.Handler {
	if fn == nil {
		panic("websocket: nil HandlerFunc")
	}
	return &handler{fn: fn, cfg: opts.resolve()}
}

type handler struct {
	fn  HandlerFunc
	cfg *config
}

// IsUpgrade reports whether r asks for a WebSocket upgrade.
func IsUpgrade(r *http.Request) bool { return gws.IsWebSocketUpgrade(r) }

// UpgradeRequired answers a request that is not a WebSocket upgrade with
// 426 Upgrade Required.
func UpgradeRequired(w http.ResponseWriter) {
	w.Header().Set("Upgrade", "websocket")
	w.Header().Set("Connection", "Upgrade")
	w.Header().Set("Sec-WebSocket-Version", "13")
	http.Error(w, "426 Upgrade Required: this endpoint speaks WebSocket", http.StatusUpgradeRequired)
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !IsUpgrade(r) {
		UpgradeRequired(w)
		return
	}
	if !r.ProtoAtLeast(1, 1) {
		// RFC 6455 section 4.1: the handshake is an HTTP/1.1 request
		// (or later).
		h.cfg.metrics.Rejected("handshake")
		refuse(w, http.StatusBadRequest, "400 Bad Request: a WebSocket handshake needs HTTP/1.1")
		return
	}
	if limit := h.cfg.maxHeader; limit > 0 && headerBytes(r, limit) > limit {
		h.cfg.metrics.Rejected("header_size")
		refuse(w, http.StatusRequestHeaderFieldsTooLarge, "431 Request Header Fields Too Large")
		return
	}
	ws := newWebSocket(r, h.cfg)
	// The handshake is set before the Tracker can see the connection: its
	// Shutdown may answer it.
	hs := newHandshake(w)
	ws.hs = hs
	if t := h.cfg.tracker; t != nil {
		if t.Draining() {
			h.cfg.metrics.Rejected("draining")
			refuseDraining(w)
			return
		}
		release, err := t.admit(r)
		if err != nil {
			h.cfg.metrics.Rejected(limitReason(err))
			refuseLimit(w, err)
			return
		}
		ws.release = release
		ws.OnClose(release)
		if !t.enter(ws) {
			release()
			h.cfg.metrics.Rejected("draining")
			refuseDraining(w)
			return
		}
	}
	go h.run(ws)
	hs.serve()
}

// refuse answers a handshake request with an HTTP error status and
// closes the HTTP connection, so that it keeps nothing of the request.
func refuse(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Connection", "close")
	http.Error(w, msg, status)
}

// headerBytes returns the size of r's request line and headers as they
// were on the wire (net/http moves the Host header to r.Host), or some
// size above limit once the count passes limit.
func headerBytes(r *http.Request, limit int) int {
	const crlf, sep = 2, 2 // "\r\n", ": "
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + crlf
	if r.Host != "" {
		n += len("Host") + sep + len(r.Host) + crlf
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + sep + len(v) + crlf
		}
		if n > limit {
			return n
		}
	}
	return n
}

func (h *handler) run(ws *WebSocket) {
	var err error
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("websocket: handler panic: %v\n%s", p, debug.Stack())
		}
		ws.finish(err)
	}()
	err = h.fn(ws)
}

// finish ends the connection after its handler returned err, as the
// close policy (EndingFor) says.
func (ws *WebSocket) finish(err error) {
	st := ws.State()
	e := EndingFor(err, st != StateConnecting)
	if err != nil {
		ws.cfg.logger.Log(context.Background(), e.Level, "websocket: handler returned: "+e.Kind.String(),
			"id", ws.id, "path", ws.path(), "err", err)
	}
	switch st {
	case StateConnecting:
		ws.Reject(e.HTTPStatus, http.StatusText(e.HTTPStatus)) //nolint:errcheck // the client may be gone
	case StateConnected:
		ws.Close(e.Code, e.Reason) //nolint:errcheck // EndingFor gives codes that may be sent
	}
	// Whatever happened, the connection is over now.
	ws.teardown()
}

// handshake hands the answer to the handshake request over to the HTTP
// handler goroutine, which owns the ResponseWriter. Exactly one answer is
// run; done is closed when it has run.
//
// The answer is left in a slot rather than sent on an unbuffered channel,
// so that the goroutine answering waits in a plain channel receive: a
// select parked there would deepen its stack, and the handler goroutine's
// stack keeps the size it reaches for the whole connection.
type handshake struct {
	w     http.ResponseWriter
	mu    sync.Mutex
	fn    func(http.ResponseWriter) // the answer to run; guarded by mu
	taken bool                      // serve took fn: it runs; guarded by mu
	ready chan struct{}             // capacity 1: fn may have been set
	done  chan struct{}
}

func newHandshake(w http.ResponseWriter) *handshake {
	return &handshake{w: w, ready: make(chan struct{}, 1), done: make(chan struct{})}
}

func (hs *handshake) serve() {
	defer func() {
		// The connection outlives this request: drop the ResponseWriter,
		// which holds net/http's per-connection buffers.
		hs.w = nil
		close(hs.done)
	}()
	// The handler always answers: Accept, Reject, or the Reject that
	// follows its return. (Watching the request context here would keep a
	// channel alive per connection for a rare case: a client that leaves
	// before the answer makes the answer's write fail instead.)
	for {
		<-hs.ready
		hs.mu.Lock()
		fn := hs.fn
		hs.taken = fn != nil
		hs.mu.Unlock()
		if fn != nil {
			fn(hs.w)
			return
		}
	}
}

// do runs fn on the HTTP handler goroutine and waits for it. It returns
// ErrHandshakeOver when another answer ran instead. done is nil-able: ctx
// may be the connection's own context, which cannot end before the
// handshake and whose Done channel is not worth allocating.
func (hs *handshake) do(done <-chan struct{}, fn func(http.ResponseWriter)) error {
	hs.mu.Lock()
	if hs.fn != nil || hs.taken {
		hs.mu.Unlock()
		select {
		case <-hs.done:
			return ErrHandshakeOver
		case <-done:
			return context.Canceled
		}
	}
	hs.fn = fn
	hs.mu.Unlock()
	select {
	case hs.ready <- struct{}{}:
	default: // a signal is pending already
	}
	if done == nil {
		<-hs.done
		return nil
	}
	select {
	case <-hs.done:
		return nil
	case <-done:
	}
	hs.mu.Lock()
	if hs.taken {
		// Too late to take it back: it runs.
		hs.mu.Unlock()
		<-hs.done
		return nil
	}
	hs.fn = nil
	hs.mu.Unlock()
	return context.Canceled
}
