// Package eventstest tests event endpoints (events.NewEvents) the way
// their clients use them: it serves an endpoint on 127.0.0.1, connects
// real clients (consumers/client) through a network the test can cut,
// pushes events and asserts replies, broadcasts, close codes, drops and
// recoveries.
//
//	srv := eventstest.NewServer(t, events, nil)
//	ada := srv.Connect(url.Values{"user": {"ada"}}, nil)
//	ada.Join("lobby")
//	ada.Call("message", Msg{Text: "hi"}, client.InRoom("lobby"))
//	got := eventstest.Expect[Msg](bob, "message")
//	ada.Drop()    // the network goes
//	...           // others talk meanwhile
//	ada.Restore() // it comes back: ada reconnects and recovers
//
// Every wait is bounded (Options.Timeout), and a failed expectation fails
// the test with what came instead.
package eventstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-go/switchboard/consumers/client"
	"github.com/switchboard-go/switchboard/consumers/events"
	"github.com/switchboard-go/switchboard/internal/tcpproxy"
	"github.com/switchboard-go/switchboard/router"
	"github.com/switchboard-go/switchboard/websocket"
)

// TB is what the harness needs of a test: *testing.T and *testing.B
// have it.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
}

// Options adjust a Server.
type Options struct {
	// WebSocket are the connections' options (keepalive, limits); nil
	// takes the defaults.
	WebSocket *websocket.Options
	// Timeout bounds every wait of the Server's clients: a connection, an
	// answer, an expected event or close. Default 5s.
	Timeout time.Duration
}

// Server serves an event endpoint at /ws on 127.0.0.1 until the test
// ends.
type Server struct {
	// URL is the endpoint's ws:// URL.
	URL string
	t   TB
	o   Options
	srv *httptest.Server
}

// NewServer serves events for the test t; it is closed when t ends.
func NewServer(t TB, endpoint *events.Events, opts *Options) *Server {
	t.Helper()
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	rt := router.NewWithOptions(&router.Options{WebSocket: o.WebSocket})
	rt.HandleFunc("/ws", endpoint.Handler())
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	return &Server{URL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws", t: t, o: o, srv: srv}
}

// Conn is a client of the Server, with every event it receives recorded
// for Expect, every end of a connection for ExpectClose, and every loss
// for ExpectMissed. Its Client reconnects by itself, as in production.
type Conn struct {
	*client.Client
	t       TB
	timeout time.Duration
	proxy   *tcpproxy.Proxy

	mu      sync.Mutex
	changed chan struct{} // closed and replaced when something is recorded
	events  []*client.Event
	ends    []error
	missed  []string
}

// Connect connects a client, with query added to the endpoint's URL (a
// user's name, say), and fails the test when it cannot. opts may set the
// codec, headers or credentials; the callbacks are the harness's, and
// the backoff is shortened to tens of milliseconds.
func (s *Server) Connect(query url.Values, opts *client.Options) *Conn {
	s.t.Helper()
	c, err := s.Dial(query, opts)
	if err != nil {
		s.t.Fatalf("eventstest: connect: %v", err)
	}
	return c
}

// Dial is Connect, returning the error (a refused handshake, say); the
// client is closed then.
func (s *Server) Dial(query url.Values, opts *client.Options) (*Conn, error) {
	var o client.Options
	if opts != nil {
		o = *opts
	}
	proxy, err := tcpproxy.New(s.srv.Listener.Addr().String())
	if err != nil {
		return nil, err
	}
	c := &Conn{t: s.t, timeout: s.o.Timeout, proxy: proxy, changed: make(chan struct{})}
	o.MinBackoff, o.MaxBackoff = 10*time.Millisecond, 100*time.Millisecond
	o.NetDial = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, c.proxy.Addr())
	}
	o.OnState = func(st client.State, err error) {
		if err != nil && (st == client.StateWaiting || st == client.StateClosed) {
			c.record(func() { c.ends = append(c.ends, err) })
		}
	}
	o.OnMissed = func(room string) { c.record(func() { c.missed = append(c.missed, room) }) }
	o.OnError = func(err error) { s.t.Logf("eventstest: client: %v", err) }
	u := s.URL
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	c.Client = client.New(u, &o)
	c.Client.OnAny(func(_ context.Context, ev *client.Event) { c.record(func() { c.events = append(c.events, ev) }) })
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if err := c.Client.Connect(ctx); err != nil {
		c.Client.Close()
		proxy.Close()
		return nil, err
	}
	s.t.Cleanup(func() {
		c.Client.Close()
		proxy.Close()
	})
	return c, nil
}

func (c *Conn) record(fn func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn()
	close(c.changed)
	c.changed = make(chan struct{})
}

// await waits until take finds what it looks for in the records, or the
// timeout; take runs with c.mu held.
func (c *Conn) await(d time.Duration, take func() bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		if take() {
			c.mu.Unlock()
			return true
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

func (c *Conn) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.timeout)
}

// Call sends an event and returns its answer (the reply, or an ack),
// failing the test on an error event or no answer.
func (c *Conn) Call(event string, payload any, opts ...client.CallOption) *client.Event {
	c.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	ev, err := c.Client.Call(ctx, event, payload, opts...)
	if err != nil {
		c.t.Fatalf("eventstest: %s: %v", event, err)
	}
	return ev
}

// CallError sends an event that must fail, and returns the error event's
// code and words; it fails the test on any other answer.
func (c *Conn) CallError(event string, payload any, opts ...client.CallOption) *client.ServerError {
	c.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	ev, err := c.Client.Call(ctx, event, payload, opts...)
	var se *client.ServerError
	if !errors.As(err, &se) {
		c.t.Fatalf("eventstest: %s: want an error event, got %v, %v", event, describe(ev), err)
	}
	return se
}

// Join joins a room, failing the test when the join is refused.
func (c *Conn) Join(room string) *client.Joined {
	c.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	j, err := c.Client.Join(ctx, room, nil)
	if err != nil {
		c.t.Fatalf("eventstest: join %q: %v", room, err)
	}
	return j
}

// Expect returns the first event named name that the client received and
// no Expect took yet, waiting for one up to the timeout; it fails the test
// otherwise, listing what came.
func (c *Conn) Expect(name string) *client.Event {
	c.t.Helper()
	var got *client.Event
	if !c.await(c.timeout, func() bool {
		i := slices.IndexFunc(c.events, func(ev *client.Event) bool { return ev.Name == name })
		if i < 0 {
			return false
		}
		got = c.events[i]
		c.events = slices.Delete(c.events, i, i+1)
		return true
	}) {
		c.t.Fatalf("eventstest: no %q event within %v; received and not yet expected: %s", name, c.timeout, c.pending())
	}
	return got
}

// Expect is Conn.Expect with the payload decoded into a T.
func Expect[T any](c *Conn, name string) T {
	c.t.Helper()
	ev := c.Expect(name)
	var v T
	if err := ev.Decode(&v); err != nil {
		c.t.Fatalf("eventstest: %v", err)
	}
	return v
}

// Refute fails the test if an event named name comes within d (or came
// and was not taken by Expect).
func (c *Conn) Refute(name string, d time.Duration) {
	c.t.Helper()
	var got *client.Event
	if c.await(d, func() bool {
		i := slices.IndexFunc(c.events, func(ev *client.Event) bool { return ev.Name == name })
		if i >= 0 {
			got = c.events[i]
		}
		return i >= 0
	}) {
		c.t.Fatalf("eventstest: unexpected %s", describe(got))
	}
}

// ExpectClose waits until a connection of the client ends with the close
// code, and returns the close's reason.
func (c *Conn) ExpectClose(code int) string {
	c.t.Helper()
	var reason string
	if !c.await(c.timeout, func() bool {
		for i, err := range c.ends {
			var ce *client.CloseError
			if errors.As(err, &ce) && ce.Code == code {
				reason = ce.Reason
				c.ends = slices.Delete(c.ends, i, i+1)
				return true
			}
		}
		return false
	}) {
		c.mu.Lock()
		ends := slices.Clone(c.ends)
		c.mu.Unlock()
		c.t.Fatalf("eventstest: no close with %d within %v; ends seen: %v", code, c.timeout, ends)
	}
	return reason
}

// ExpectMissed waits until the client is told that messages of room may
// be missing (client.Options.OnMissed).
func (c *Conn) ExpectMissed(room string) {
	c.t.Helper()
	if !c.await(c.timeout, func() bool {
		i := slices.Index(c.missed, room)
		if i >= 0 {
			c.missed = slices.Delete(c.missed, i, i+1)
		}
		return i >= 0
	}) {
		c.t.Fatalf("eventstest: not told of missed messages in %q within %v", room, c.timeout)
	}
}

// Missed returns the rooms the client was told of losses in so far, and
// not yet taken by ExpectMissed.
func (c *Conn) Missed() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.missed)
}

// Drop cuts the client's network: its connection ends without a close
// frame, and it cannot reconnect until Restore.
func (c *Conn) Drop() {
	c.t.Helper()
	c.proxy.Cut()
	c.waitState(func(s client.State) bool { return s != client.StateConnected }, "notice the drop")
}

// Restore gives the network back and waits until the client has
// reconnected (and rejoined its rooms).
func (c *Conn) Restore() {
	c.t.Helper()
	c.proxy.Restore()
	c.waitState(func(s client.State) bool { return s == client.StateConnected }, "reconnect")
}

func (c *Conn) waitState(ok func(client.State) bool, what string) {
	c.t.Helper()
	deadline := time.Now().Add(c.timeout)
	for !ok(c.State()) {
		if time.Now().After(deadline) {
			c.t.Fatalf("eventstest: the client did not %s within %v (state %v)", what, c.timeout, c.State())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// pending lists the recorded events not yet expected.
func (c *Conn) pending() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.events) == 0 {
		return "none"
	}
	var s []string
	for _, ev := range c.events {
		s = append(s, describe(ev))
	}
	return strings.Join(s, ", ")
}

func describe(ev *client.Event) string {
	if ev == nil {
		return "nothing"
	}
	var p any
	if ev.Decode(&p) != nil {
		p = ev.Payload
	}
	s := fmt.Sprintf("%s %v", ev.Name, p)
	if ev.Room != "" {
		s += fmt.Sprintf(" (room %s, offset %d)", ev.Room, ev.Offset)
	}
	return s
}
