package websocket

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/internal/ownstack"
	"github.com/switchboard-go/switchboard/internal/wire"
)

// State is the lifecycle state of a connection.
type State int32

const (
	// StateConnecting: the handshake has not been answered yet.
	StateConnecting State = iota
	// StateConnected: accepted; messages flow.
	StateConnected
	// StateClosed: rejected, or closed after Accept.
	StateClosed
)

func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateClosed:
		return "closed"
	}
	return "unknown"
}

// MessageType is the type of a data message.
type MessageType int

const (
	TextMessage   MessageType = gws.TextMessage
	BinaryMessage MessageType = gws.BinaryMessage
)

func (t MessageType) String() string {
	switch t {
	case TextMessage:
		return "text"
	case BinaryMessage:
		return "binary"
	}
	return "unknown"
}

// WebSocket is one WebSocket connection, from the handshake request to the
// end. A Handler creates it in StateConnecting and passes it to the
// application, which calls Accept or Reject, then Receive and Send, and
// returns (which closes it).
//
// All methods are safe for concurrent use. Sends never block: they enqueue
// for the connection's writer. Receive calls are served one at a time.
type WebSocket struct {
	id  string
	cfg *config
	// req is the request as the HTTP handler got it (its context ends
	// with the handshake), until Accept stores in accepted what the
	// connection keeps of it (see request.go) and then sets req to nil:
	// readers load req first, and accepted when req is nil. hdr is the
	// header map rebuilt, and reqCopy the request, each made on first use.
	req      atomic.Pointer[http.Request]
	accepted atomic.Pointer[acceptedReq]
	hdr      atomic.Pointer[http.Header]
	reqCopy  atomic.Pointer[http.Request]
	ctx      context.Context
	cancel   context.CancelFunc
	hs       *handshake // guarded by mu; nil once answered
	hsMu     sync.Mutex // serialises Accept and Reject

	state atomic.Int32 // State

	// Set by Accept under mu before the state becomes Connected; read-only
	// afterwards. compress is known from the request.
	conn        *gws.Conn
	bc          *wire.Conn
	subprotocol string
	compress    bool

	// rd is the read side beneath gorilla (see package wire): the lent
	// read buffer and the idle wait. Set up by Accept, then guarded by
	// readMu.
	rd wire.Reader

	// Read side: readMu serialises readers; readBroken is guarded by it.
	readMu     sync.Mutex
	readBroken bool
	kaIdx      int32         // index + 1 in cfg.keepalive's heap, 0 when not in it; guarded by its mu
	lastRead   atomic.Int64  // unix nanos of the last frame read
	activity   atomic.Uint64 // messages received and queued, for idle detection

	// Write side and closing, guarded by mu.
	mu           sync.Mutex
	queue        []outFrame
	spare        []outFrame
	queued       int // bytes in queue
	inflight     int // bytes of the batch the writer is writing
	pongAt       int // index + 1 in queue of the last pong queued, 0 when the writer took it
	writing      bool
	closing      bool
	writeFn      func() // ws.writeLoop, made once: a go statement on a method value allocates each time
	closeCode    StatusCode
	closeReason  string
	closeWritten chan struct{}
	abort        atomic.Bool // closing without flushing: the writer drops data frames
	discErr      *DisconnectError

	onClose []func() // run once by teardown, guarded by mu
	release func()   // frees the Tracker's limit slots (idempotent); set before the handler runs

	kaAt     int64 // unix nanos of the next keepalive check; guarded by cfg.keepalive's mu
	pingSent int64 // unix nanos; touched only by onKeepalive, which runs for one connection at a time

	storeMu sync.Mutex
	store   map[string]any
}

func newWebSocket(r *http.Request, cfg *config) *WebSocket {
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	ws := &WebSocket{
		id:       rand.Text(),
		cfg:      cfg,
		ctx:      ctx,
		cancel:   cancel,
		compress: cfg.compression && offersDeflate(r),
	}
	ws.req.Store(r)
	return ws
}

// keepRequest swaps the request for what an accepted connection keeps of
// it (see request.go). Accept has it called once the upgrade succeeded and
// the handshake no longer needs the request.
func (ws *WebSocket) keepRequest() {
	if r := ws.req.Load(); r != nil {
		ws.accepted.Store(newAcceptedReq(r))
		ws.req.Store(nil)
	}
}

// path returns the handshake request's URL path, for logs.
func (ws *WebSocket) path() string {
	if r := ws.req.Load(); r != nil {
		return r.URL.Path
	}
	return ws.accepted.Load().urlPath()
}

// ID returns the connection's id: 26 random base32 characters, unique
// across processes.
func (ws *WebSocket) ID() string { return ws.id }

// State returns the connection's current state.
func (ws *WebSocket) State() State { return State(ws.state.Load()) }

// IsConnected reports whether the connection is accepted and not closed.
func (ws *WebSocket) IsConnected() bool { return ws.State() == StateConnected }

// Context returns a context that is cancelled when the connection ends. It
// carries the handshake request's context values.
func (ws *WebSocket) Context() context.Context { return ws.ctx }

// Request returns the handshake request as the connection sees it, with
// Context() as its context. The first call makes it and later calls share
// it. Before and after Accept it holds the same: the method, URL,
// protocol, headers, host, addresses, RequestURI, TLS state and Pattern
// of the request the HTTP handler got, and as path values (PathValue)
// exactly the connection's path parameters (see PathParams). It has no
// body, and no parsed Form or PostForm (FormValue parses the query
// again). Made before Accept, it shares the request's header map, which
// the connection then keeps for its whole life; after Accept, it is
// rebuilt from what the connection kept.
func (ws *WebSocket) Request() *http.Request {
	// Made here, not by Accept: most handlers never ask, and an idle
	// connection would hold it for nothing.
	if r := ws.reqCopy.Load(); r != nil {
		return r
	}
	var r *http.Request
	if orig := ws.req.Load(); orig != nil {
		r = handshakeRequest(ws.ctx, orig, pathValues(orig))
	} else {
		r = ws.accepted.Load().request(ws.ctx, ws.Header())
	}
	ws.reqCopy.CompareAndSwap(nil, r)
	return ws.reqCopy.Load()
}

// Header returns the handshake request's headers. Until Accept it is the
// request's own map; an accepted connection keeps them packed as they were
// when it accepted and makes a map of them on the first call, which later
// calls share, and so does Request unless it was first called before
// Accept.
func (ws *WebSocket) Header() http.Header {
	if r := ws.req.Load(); r != nil {
		return r.Header
	}
	if h := ws.hdr.Load(); h != nil {
		return *h
	}
	var h http.Header
	var err error
	ownstack.Run(func() { h, err = unpackHeader(ws.accepted.Load().header) }) // as Query
	if err != nil {
		// packHeader wrote it, so this is a bug, not bad input (the
		// fuzz test round-trips every header): say so, and go on
		// without headers rather than fail the connection.
		ws.cfg.logger.Error("websocket: handshake headers lost", "id", ws.id, "err", err)
		h = http.Header{}
	}
	ws.hdr.CompareAndSwap(nil, &h)
	return *ws.hdr.Load()
}

// Query returns the handshake request's parsed query string.
//
// The parsing runs on a goroutine of its own (see the package doc on
// memory): it goes deep enough to double the stack of a handler that
// calls it before it waits for messages, one connection in ten or so.
func (ws *WebSocket) Query() (v url.Values) {
	ownstack.Run(func() {
		if r := ws.req.Load(); r != nil {
			v = r.URL.Query()
			return
		}
		v = ws.accepted.Load().query()
	})
	return v
}

// Client returns the peer's address and port, or the zero value when the
// request's RemoteAddr does not parse.
func (ws *WebSocket) Client() netip.AddrPort {
	addr := ""
	if r := ws.req.Load(); r != nil {
		addr = r.RemoteAddr
	} else {
		addr = ws.accepted.Load().remoteAddr
	}
	ap, _ := netip.ParseAddrPort(addr)
	return ap
}

// PathParam returns the value of the named path parameter, or "". The
// path parameters are the wildcards of the request's Pattern that
// ServeMux matched and those a router handed over with WithPathParams
// (the router package's WSRouter does); the same before and after Accept.
func (ws *WebSocket) PathParam(name string) string {
	if r := ws.req.Load(); r != nil {
		return pathValue(r, name)
	}
	return ws.accepted.Load().pathValue(name)
}

// PathParams returns the path parameters by name (see PathParam): a new
// map on each call, or nil when there are none.
func (ws *WebSocket) PathParams() map[string]string {
	var pairs []string
	if r := ws.req.Load(); r != nil {
		pairs = pathValues(r)
	} else {
		pairs = ws.accepted.Load().pathValues
	}
	if len(pairs) == 0 {
		return nil
	}
	m := make(map[string]string, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	return m
}

// Subprotocol returns the subprotocol chosen by Accept, or "".
func (ws *WebSocket) Subprotocol() string {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return ws.subprotocol
}

// Set stores a value under key in the connection's own store.
func (ws *WebSocket) Set(key string, value any) {
	ws.storeMu.Lock()
	if ws.store == nil {
		ws.store = make(map[string]any)
	}
	ws.store[key] = value
	ws.storeMu.Unlock()
}

// Get returns the value stored under key.
func (ws *WebSocket) Get(key string) (any, bool) {
	ws.storeMu.Lock()
	v, ok := ws.store[key]
	ws.storeMu.Unlock()
	return v, ok
}

// Delete removes key from the connection's store.
func (ws *WebSocket) Delete(key string) {
	ws.storeMu.Lock()
	delete(ws.store, key)
	ws.storeMu.Unlock()
}

// Activity returns a counter that grows with every message received or
// queued for sending. Comparing two readings tells whether the connection
// was idle in between, without a clock.
func (ws *WebSocket) Activity() uint64 { return ws.activity.Load() }

// OnClose registers fn to run once when the connection has ended, after
// its state is Closed and its context cancelled. fn runs on the goroutine
// that ended the connection and must not block for long. On a connection
// that has already ended, fn runs at once.
func (ws *WebSocket) OnClose(fn func()) {
	ws.mu.Lock()
	if ws.State() == StateClosed {
		ws.mu.Unlock()
		fn()
		return
	}
	ws.onClose = append(ws.onClose, fn)
	ws.mu.Unlock()
}
