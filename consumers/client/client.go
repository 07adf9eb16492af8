package client

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/consumers/protocol"
)

// State is where a client is in its life.
type State int32

const (
	// StateIdle: made by New, Connect not called yet.
	StateIdle State = iota
	// StateConnecting: a handshake is under way.
	StateConnecting
	// StateConnected: the connection is open, rooms have been rejoined
	// and unanswered calls sent again.
	StateConnected
	// StateWaiting: the connection ended; the client waits before it
	// connects again.
	StateWaiting
	// StateClosed: for good, by Close or by a refusal the client must
	// not retry (see Options.OnState).
	StateClosed
)

var stateNames = [...]string{"idle", "connecting", "connected", "waiting", "closed"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Options configure a Client. The zero value works: JSON, the documented
// defaults, nothing reported.
type Options struct {
	// Codec is the envelope encoding, offered as the only subprotocol.
	// Defaults to JSON.
	Codec protocol.Codec
	// Header is sent with every handshake.
	Header http.Header
	// Credentials, when set, is called before every handshake, the first
	// and each reconnect, and the headers it returns are added to Header:
	// a token that expires is fetched afresh each time. An error fails
	// that attempt, which is retried like a failed dial.
	Credentials func(ctx context.Context) (http.Header, error)
	// NetDial dials the server's TCP connection; nil uses net.Dialer.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)

	// MinBackoff and MaxBackoff bound the wait before a reconnect: it
	// starts at MinBackoff, doubles after each failed attempt up to
	// MaxBackoff, and each wait is a random time between half of it and
	// all of it. A connection that stayed open for MaxBackoff resets it.
	// Close codes that ask for more patience (1013, 4001, 4003, HTTP 429
	// and 503) wait at least half of MaxBackoff; a server shutting down
	// (4000) or restarting (1012) is retried at once, with jitter.
	// Default 500ms and 10s.
	MinBackoff, MaxBackoff time.Duration
	// HandshakeTimeout bounds each handshake. Default 10s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds each frame's write. Default 10s.
	WriteTimeout time.Duration
	// PingInterval is how often the client pings the server; with no
	// frame from the server for PingInterval and PongTimeout together, it
	// takes the connection for dead and reconnects. Default 10s each.
	PingInterval, PongTimeout time.Duration
	// HandlerQueue is how many events may wait for the handlers. Past it
	// the client does what a server does with a slow consumer: it drops
	// the connection and reconnects, rejoining its rooms from their
	// positions, and reports ErrHandlersBehind to OnError. Default 1024.
	HandlerQueue int

	// OnState is called on every change of state, with the error that
	// caused it: why the connection ended (a *CloseError, a
	// *HandshakeError or a network error) on StateWaiting and
	// StateClosed, nil otherwise and after Close. It runs on the
	// client's connection goroutine and must not block.
	OnState func(s State, err error)
	// OnMissed is called when messages of a room the client is in may be
	// missing: a rejoin that did not recover (see Joined.Recovered), or a
	// message that came in a new epoch. It runs before the first event
	// that follows the loss is handed to a handler, on the client's read
	// goroutine, and must not block.
	OnMissed func(room string)
	// OnError receives errors that have no caller: a handler's error or
	// panic, a rejoin refused, an event that does not decode, the
	// handlers falling behind. Defaults to logging them on Logger.
	OnError func(err error)
	// Logger is used when OnError is nil. Defaults to slog.Default().
	Logger *slog.Logger
}

// Defaults, as documented on Options.
const (
	DefaultMinBackoff       = 500 * time.Millisecond
	DefaultMaxBackoff       = 10 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultPingInterval     = 10 * time.Second
	DefaultPongTimeout      = 10 * time.Second
	DefaultHandlerQueue     = 1024
)

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.MinBackoff, DefaultMinBackoff)
	def(&o.MaxBackoff, DefaultMaxBackoff)
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	def(&o.HandshakeTimeout, DefaultHandshakeTimeout)
	def(&o.WriteTimeout, DefaultWriteTimeout)
	def(&o.PingInterval, DefaultPingInterval)
	def(&o.PongTimeout, DefaultPongTimeout)
	if o.HandlerQueue <= 0 {
		o.HandlerQueue = DefaultHandlerQueue
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.OnError == nil {
		log := o.Logger
		o.OnError = func(err error) { log.Warn("switchboard client", "err", err) }
	}
	return o
}

// Errors a client returns.
var (
	// ErrClosed: the client was closed, or stopped for good.
	ErrClosed = errors.New("client: closed")
	// ErrNotConnected: Emit while the client has no open connection.
	ErrNotConnected = errors.New("client: not connected")
	// ErrHandlersBehind: more events waited for the handlers than
	// Options.HandlerQueue; the client reconnected to recover.
	ErrHandlersBehind = errors.New("client: handlers fell behind; reconnecting to recover")
)

// CloseError is why the server closed a connection: its close code and
// reason.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("client: closed by the server with %d", e.Code)
	}
	return fmt.Sprintf("client: closed by the server with %d: %s", e.Code, e.Reason)
}

// HandshakeError is a handshake the server refused with an HTTP status.
type HandshakeError struct {
	Status int
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("client: handshake refused with %d %s", e.Status, http.StatusText(e.Status))
}

// ServerError is an error event answering a call: its stable code
// (docs/PROTOCOL.md, "Errors") and its words.
type ServerError struct {
	Code    protocol.ErrorCode
	Message string
}

func (e *ServerError) Error() string {
	return "client: " + string(e.Code) + ": " + e.Message
}

// Client is a connection to a Switchboard event endpoint (docs/PROTOCOL.md)
// that stays connected: it reconnects with backoff, rejoins its rooms
// from their positions and sends its unanswered calls again. Its methods
// are safe for concurrent use.
type Client struct {
	url     string
	opts    Options
	session string

	mu       sync.Mutex
	state    State
	conn     *conn // the open connection, nil when none
	handlers map[string]func(context.Context, *Event)
	fallback func(context.Context, *Event) // OnAny's
	calls    map[string]*call              // unanswered calls, by ref
	nextRef  uint64
	rooms    map[string]*room // rooms joined, by name
	closed   chan struct{}    // closed by Close
	done     chan struct{}    // closed when the connection goroutine ends
	started  bool
	firstErr chan error // the first connection's outcome, for Connect

	queue chan *Event // events for the handlers
	ctx   context.Context
	stop  context.CancelFunc
}

// New makes a client of the event endpoint at url (ws:// or wss://). It
// does not connect: register handlers with On, then call Connect.
func New(url string, opts *Options) *Client {
	var o Options
	if opts != nil {
		o = *opts
	}
	o = o.withDefaults()
	ctx, stop := context.WithCancel(context.Background())
	return &Client{
		url:      url,
		opts:     o,
		session:  newSession(),
		handlers: map[string]func(context.Context, *Event){},
		calls:    map[string]*call{},
		rooms:    map[string]*room{},
		closed:   make(chan struct{}),
		done:     make(chan struct{}),
		firstErr: make(chan error, 1),
		queue:    make(chan *Event, o.HandlerQueue),
		ctx:      ctx,
		stop:     stop,
	}
}

// newSession returns a random session name (protocol.SessionParam).
func newSession() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Session returns the session the client names in every handshake
// (protocol.SessionParam): the server handles an event that the client
// sends again after a reconnect, with the same ref, only once.
func (c *Client) Session() string { return c.session }

// State returns the client's state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// setState changes the state and reports it. c.mu must not be held.
func (c *Client) setState(s State, err error) {
	c.mu.Lock()
	if c.state == s || c.state == StateClosed {
		c.mu.Unlock()
		return
	}
	c.state = s
	c.mu.Unlock()
	if c.opts.OnState != nil {
		c.opts.OnState(s, err)
	}
}

// Connect starts the client and waits for its first connection: it
// returns nil once connected, the refusal when the server refused in a
// way the client must not retry (a *HandshakeError with 401 or 403, say),
// or ctx's error; the client then keeps trying in the background until
// Close, unless it was refused for good. A client connects once: later
// calls return ErrClosed after Close and nil otherwise.
func (c *Client) Connect(ctx context.Context) error {
	c.mu.Lock()
	if c.state == StateClosed {
		c.mu.Unlock()
		return ErrClosed
	}
	if c.started {
		c.mu.Unlock()
		return nil
	}
	c.started = true
	c.mu.Unlock()
	go c.dispatch()
	go c.run()
	select {
	case err := <-c.firstErr:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close closes the connection with 1000 and stops the client: calls
// waiting for an answer fail with ErrClosed, and events not yet handed
// to a handler are dropped. It waits up to a second for the server's
// answer, and returns once the connection goroutine has ended (a handler
// still running finishes on its own; its context is cancelled).
func (c *Client) Close() error {
	c.mu.Lock()
	if c.state == StateClosed {
		c.mu.Unlock()
		<-c.done
		return nil
	}
	started := c.started
	c.started = true
	cn := c.conn
	c.mu.Unlock()
	c.setState(StateClosed, nil)
	close(c.closed)
	c.stop()
	if cn != nil {
		cn.closeNormally()
	}
	if !started {
		close(c.done)
	}
	<-c.done
	c.failCalls(ErrClosed)
	return nil
}

// On sets the handler of the events named name: the server's own events
// and messages of the rooms the client is in, but not the answers to its
// calls. Handlers run one at a time, in the order the events came, on a
// goroutine of the client's, off the connection's read loop: a handler
// may Call and wait. A later On for the same name replaces the handler.
func (c *Client) On(name string, fn func(ctx context.Context, ev *Event)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.handlers[name] = fn
}

// OnAny sets the handler of the events that have none of their own (see
// On); without it they are dropped.
func (c *Client) OnAny(fn func(ctx context.Context, ev *Event)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fallback = fn
}

// dispatch runs handlers until the client stops.
func (c *Client) dispatch() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case ev := <-c.queue:
			c.mu.Lock()
			fn := c.handlers[ev.Name]
			if fn == nil {
				fn = c.fallback
			}
			c.mu.Unlock()
			if fn != nil {
				c.safely(ev, fn)
			}
		}
	}
}

func (c *Client) safely(ev *Event, fn func(context.Context, *Event)) {
	defer func() {
		if p := recover(); p != nil {
			c.opts.OnError(fmt.Errorf("client: handler of %q panicked: %v", ev.Name, p))
		}
	}()
	fn(c.ctx, ev)
}

// run is the connection goroutine: it connects, serves the connection,
// and waits before the next attempt, until Close or a final refusal.
func (c *Client) run() {
	defer close(c.done)
	var b backoff
	first := true
	report := func(err error) {
		if first {
			first = false
			c.firstErr <- err
		}
	}
	for {
		c.setState(StateConnecting, nil)
		cn, err := c.dial()
		if err == nil {
			report(nil)
			opened := time.Now()
			err = c.serve(cn)
			if time.Since(opened) >= c.opts.MaxBackoff {
				b.reset()
			}
		}
		if c.ctx.Err() != nil {
			report(ErrClosed)
			return
		}
		wait, final := c.policy(err, &b)
		if final {
			c.setState(StateClosed, err)
			c.stop()
			c.failCalls(err)
			report(err)
			return
		}
		c.setState(StateWaiting, err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			report(ErrClosed)
			return
		}
	}
}

// dial makes one connection.
func (c *Client) dial() (*conn, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.HandshakeTimeout)
	defer cancel()
	h := http.Header{}
	for k, vs := range c.opts.Header {
		h[k] = append([]string(nil), vs...)
	}
	if c.opts.Credentials != nil {
		more, err := c.opts.Credentials(ctx)
		if err != nil {
			return nil, fmt.Errorf("client: credentials: %w", err)
		}
		for k, vs := range more {
			h[k] = append(h[k], vs...)
		}
	}
	d := gws.Dialer{
		NetDialContext:   c.opts.NetDial,
		HandshakeTimeout: c.opts.HandshakeTimeout,
		Subprotocols:     []string{subprotocol(c.opts.Codec)},
	}
	u, err := url.Parse(c.url)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	q := u.Query()
	q.Set(protocol.SessionParam, c.session)
	u.RawQuery = q.Encode()
	ws, resp, err := d.DialContext(ctx, u.String(), h)
	if err != nil {
		if resp != nil && errors.Is(err, gws.ErrBadHandshake) {
			resp.Body.Close()
			return nil, &HandshakeError{Status: resp.StatusCode}
		}
		return nil, err
	}
	resp.Body.Close()
	if ws.Subprotocol() == "" && c.opts.Codec == protocol.Msgpack {
		// A server that does not speak msgpack answers in JSON.
		ws.Close()
		return nil, errors.New("client: the server did not accept switchboard.v1.msgpack")
	}
	return newConn(c, ws), nil
}

// serve runs one open connection: it rejoins the rooms, sends the
// unanswered calls again, and reads until the connection ends.
func (c *Client) serve(cn *conn) error {
	c.mu.Lock()
	if c.state == StateClosed {
		c.mu.Unlock()
		cn.closeNormally()
		return ErrClosed
	}
	c.conn = cn
	c.mu.Unlock()
	readDone := make(chan error, 1)
	go func() { readDone <- cn.readLoop() }()
	go cn.pinger()

	// Rejoin first, then the calls, in the order they were made: the
	// server handles a connection's events in order.
	c.rejoin()
	if c.resend(cn) {
		if c.opts.OnState != nil {
			c.opts.OnState(StateConnected, nil)
		}
	}

	err := <-readDone
	c.mu.Lock()
	c.conn = nil
	c.mu.Unlock()
	cn.shut()
	var ce *CloseError
	if errors.As(err, &ce) && ce.Code == 1009 {
		// The server would not take a message: which one is unknown, so
		// none of the calls written on this connection is sent again.
		c.failCallsOn(cn, err)
	}
	return err
}
