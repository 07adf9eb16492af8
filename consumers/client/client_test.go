package client_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/consumers/client"
	"github.com/switchboard-go/switchboard/consumers/events"
	"github.com/switchboard-go/switchboard/consumers/protocol"
	"github.com/switchboard-go/switchboard/internal/tcpproxy"
	"github.com/switchboard-go/switchboard/internal/wstest"
	"github.com/switchboard-go/switchboard/router"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server is an event endpoint on 127.0.0.1 that a test can stop and start
// again on the same address, with a box of its own each time.
type server struct {
	t      testing.TB
	addr   string
	broker func() channels.Broker // a broker for each start; nil: the box's own memory broker
	box    *channels.ChannelBox
	closer func(context.Context) error // closes the start's broker
	srv    *http.Server
	done   chan struct{}
	wrap   func(http.Handler) http.Handler
}

func startServer(t testing.TB, s *server) *server {
	t.Helper()
	s.t = t
	if s.addr == "" {
		s.addr = "127.0.0.1:0"
	}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) url() string { return "ws://" + s.addr + "/ws" }

func (s *server) start() {
	s.t.Helper()
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	var b channels.Broker
	if s.broker != nil {
		b = s.broker()
		s.closer = b.Close
	}
	s.box = channels.NewBox(&channels.Options{Broker: b, Logger: slog.New(slog.DiscardHandler)})
	ev := events.NewEvents(&events.EventOptions{Box: s.box, Logger: slog.New(slog.DiscardHandler)})
	ev.On("echo", func(ctx context.Context, c *events.EventConn, e *events.Event) error {
		var p any
		if err := e.Decode(&p); err != nil {
			return err
		}
		return c.Reply(ctx, e, "echo", p)
	})
	ev.On("message", func(ctx context.Context, c *events.EventConn, e *events.Event) error {
		var p any
		if err := e.Decode(&p); err != nil {
			return err
		}
		if !slices.Contains(c.Box().GroupsOf(c.Channel().ID()), e.Room) {
			return events.NewError(protocol.CodeForbidden, "join the room first")
		}
		_, err := c.EmitToRoom(ctx, e.Room, "message", p)
		return err
	})
	ev.On("tick", func(ctx context.Context, c *events.EventConn, e *events.Event) error {
		var n int
		if err := e.Decode(&n); err != nil {
			return err
		}
		for i := range n {
			if err := c.Emit("tock", i); err != nil {
				return err
			}
		}
		return nil
	})
	rt := router.New()
	rt.HandleFunc("/ws", ev.Handler())
	var h http.Handler = rt
	if s.wrap != nil {
		h = s.wrap(h)
	}
	s.srv = &http.Server{Handler: h}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		s.srv.Serve(ln) //nolint:errcheck // ends with Shutdown
	}()
}

// stop shuts the server down: its connections are closed with 4000.
func (s *server) stop() {
	if s.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.box.Close(ctx)    //nolint:errcheck // closing anyway
	s.srv.Shutdown(ctx) //nolint:errcheck // closing anyway
	<-s.done
	s.srv = nil
	if s.closer != nil {
		s.closer(ctx) //nolint:errcheck // closing anyway
		s.closer = nil
	}
}

// recorder collects what a client's callbacks and handlers get.
type recorder struct {
	mu     sync.Mutex
	states []client.State
	errs   []error
	missed []string
	msgs   []string
}

func (r *recorder) options(o *client.Options) *client.Options {
	if o == nil {
		o = &client.Options{}
	}
	o.MinBackoff, o.MaxBackoff = 10*time.Millisecond, 100*time.Millisecond
	o.OnState = func(s client.State, err error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.states = append(r.states, s)
		if err != nil {
			r.errs = append(r.errs, err)
		}
	}
	o.OnMissed = func(room string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.missed = append(r.missed, room)
	}
	o.OnError = func(err error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.errs = append(r.errs, err)
	}
	return o
}

func (r *recorder) onMessage(c *client.Client) {
	client.On(c, "message", func(_ context.Context, v struct{ Text string }, ev *client.Event) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.msgs = append(r.msgs, fmt.Sprintf("%s@%d", v.Text, ev.Offset))
	})
}

func (r *recorder) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

func (r *recorder) missedRooms() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.missed)
}

func (r *recorder) count(s client.State) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, x := range r.states {
		if x == s {
			n++
		}
	}
	return n
}

// waitFor polls cond for up to 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	wstest.Eventually(t, what, 10*time.Second, 5*time.Millisecond, cond)
}

func connect(t testing.TB, url string, o *client.Options) *client.Client {
	t.Helper()
	c := client.New(url, o)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestCallsReplyAckAndError(t *testing.T) {
	for _, codec := range []protocol.Codec{protocol.JSON, protocol.Msgpack} {
		t.Run(codec.String(), func(t *testing.T) {
			s := startServer(t, &server{})
			c := connect(t, s.url(), &client.Options{Codec: codec})
			ctx := testCtx(t)

			type point struct{ X, Y int }
			got, err := client.Call[point](ctx, c, "echo", point{1, 2})
			if err != nil || got != (point{1, 2}) {
				t.Fatalf("echo: %v, %v", got, err)
			}
			if _, err := c.Join(ctx, "lobby", nil); err != nil {
				t.Fatal(err)
			}
			ev, err := c.Call(ctx, "message", map[string]string{"text": "hi"}, client.InRoom("lobby"))
			if err != nil || ev.Name != "ack" {
				t.Fatalf("message: %+v, %v", ev, err)
			}
			_, err = c.Call(ctx, "message", map[string]string{"text": "hi"}, client.InRoom("kitchen"))
			var se *client.ServerError
			if !errors.As(err, &se) || se.Code != protocol.CodeForbidden || se.Message != "join the room first" {
				t.Fatalf("message to a room not joined: %v", err)
			}
			_, err = c.Call(ctx, "dance", nil)
			if !errors.As(err, &se) || se.Code != protocol.CodeNotFound {
				t.Fatalf("unknown event: %v", err)
			}
			if _, err := c.Join(ctx, "events:all", nil); !errors.As(err, &se) || se.Code != protocol.CodeForbidden {
				t.Fatalf("reserved room: %v", err)
			}
			if _, _, ok := c.Position("events:all"); ok {
				t.Fatal("a refused room has a position")
			}
		})
	}
}

// A handler that calls the server and waits for the answer does not hold
// up the read loop that must deliver that answer.
func TestHandlerMayCall(t *testing.T) {
	s := startServer(t, &server{})
	c := client.New(s.url(), nil)
	got := make(chan string, 10)
	client.On(c, "tock", func(ctx context.Context, n int, _ *client.Event) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		r, err := client.Call[string](ctx, c, "echo", fmt.Sprint("tock ", n))
		if err != nil {
			r = err.Error()
		}
		got <- r
	})
	ctx := testCtx(t)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Call(ctx, "tick", 3); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		select {
		case r := <-got:
			if want := fmt.Sprint("tock ", i); r != want {
				t.Fatalf("got %q, want %q", r, want)
			}
		case <-ctx.Done():
			t.Fatal("a handler's call never got its answer")
		}
	}
}

// After a network drop the client reconnects, rejoins from its position
// and gets what it missed, once each, in order.
func TestDropRecovers(t *testing.T) {
	s := startServer(t, &server{})
	p := tcpproxy.Start(t, s.addr)
	var rec recorder
	c := client.New("ws://"+p.Addr()+"/ws", rec.options(nil))
	rec.onMessage(c)
	ctx := testCtx(t)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bob := connect(t, s.url(), nil)
	for _, cl := range []*client.Client{c, bob} {
		if _, err := cl.Join(ctx, "lobby", nil); err != nil {
			t.Fatal(err)
		}
	}
	say := func(text string) {
		t.Helper()
		if _, err := bob.Call(ctx, "message", map[string]string{"text": text}, client.InRoom("lobby")); err != nil {
			t.Fatal(err)
		}
	}
	say("one")
	waitFor(t, "the first message", func() bool { return len(rec.messages()) == 1 })
	p.Cut()
	waitFor(t, "the client to notice the drop", func() bool { return c.State() != client.StateConnected })
	say("two")
	say("three")
	p.Restore()
	waitFor(t, "what was missed", func() bool { return len(rec.messages()) == 3 })
	say("four")
	waitFor(t, "the live message", func() bool { return len(rec.messages()) == 4 })
	if got, want := rec.messages(), []string{"one@1", "two@2", "three@3", "four@4"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if m := rec.missedRooms(); len(m) != 0 {
		t.Fatalf("told of missed messages in %v, though all were recovered", m)
	}
	if rec.count(client.StateConnected) < 2 {
		t.Fatal("no reconnect reported")
	}
}

// A server that restarts without its history: the client reconnects
// after the 4000, rejoins, and is told that messages may be missing.
func TestServerRestartTellsOfLoss(t *testing.T) {
	s := startServer(t, &server{})
	var rec recorder
	c := client.New(s.url(), rec.options(nil))
	rec.onMessage(c)
	ctx := testCtx(t)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Join(ctx, "lobby", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Call(ctx, "message", map[string]string{"text": "before"}, client.InRoom("lobby")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the message", func() bool { return len(rec.messages()) == 1 })
	s.stop()
	waitFor(t, "the client to notice the shutdown", func() bool { return c.State() != client.StateConnected })
	s.start()
	waitFor(t, "the loss to be told", func() bool { return slices.Equal(rec.missedRooms(), []string{"lobby"}) })
	waitFor(t, "the reconnect", func() bool { return c.State() == client.StateConnected })
	if _, err := c.Call(ctx, "message", map[string]string{"text": "after"}, client.InRoom("lobby")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the message after", func() bool { return len(rec.messages()) == 2 })
	var sawShutdown bool
	rec.mu.Lock()
	for _, err := range rec.errs {
		var ce *client.CloseError
		if errors.As(err, &ce) && ce.Code == 4000 {
			sawShutdown = true
		}
	}
	rec.mu.Unlock()
	if !sawShutdown {
		t.Fatal("the 4000 was not reported")
	}
}

// A call made while the client is away is sent once it is back.
func TestCallWaitsForReconnect(t *testing.T) {
	s := startServer(t, &server{})
	p := tcpproxy.Start(t, s.addr)
	var rec recorder
	c := connect(t, "ws://"+p.Addr()+"/ws", rec.options(nil))
	p.Cut()
	waitFor(t, "the client to notice the drop", func() bool { return c.State() != client.StateConnected })
	if err := c.Emit("echo", "lost"); !errors.Is(err, client.ErrNotConnected) {
		t.Fatalf("Emit while away: %v", err)
	}
	ctx := testCtx(t)
	got := make(chan string, 1)
	go func() {
		r, err := client.Call[string](ctx, c, "echo", "later")
		if err != nil {
			r = err.Error()
		}
		got <- r
	}()
	time.Sleep(50 * time.Millisecond) // the call is made while the network is cut
	p.Restore()
	if r := <-got; r != "later" {
		t.Fatalf("got %q", r)
	}
}

// 401 and 403 stop the client: Connect returns the refusal.
func TestRefusedHandshakeStops(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			s := startServer(t, &server{wrap: func(http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", status) })
			}})
			var rec recorder
			c := client.New(s.url(), rec.options(nil))
			err := c.Connect(testCtx(t))
			var he *client.HandshakeError
			if !errors.As(err, &he) || he.Status != status {
				t.Fatalf("Connect: %v", err)
			}
			if c.State() != client.StateClosed {
				t.Fatalf("state %v", c.State())
			}
			if _, err := c.Call(testCtx(t), "echo", 1); !errors.Is(err, client.ErrClosed) {
				t.Fatalf("Call after the refusal: %v", err)
			}
			c.Close()
		})
	}
}

// Credentials are fetched before every handshake, so that a reconnect
// carries a fresh token.
func TestCredentialsOnEveryHandshake(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	s := startServer(t, &server{wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, r.Header.Get("Authorization"))
			mu.Unlock()
			h.ServeHTTP(w, r)
		})
	}})
	p := tcpproxy.Start(t, s.addr)
	n := 0
	var rec recorder
	o := rec.options(&client.Options{Credentials: func(context.Context) (http.Header, error) {
		n++
		return http.Header{"Authorization": {fmt.Sprint("Bearer token-", n)}}, nil
	}})
	c := connect(t, "ws://"+p.Addr()+"/ws", o)
	p.Cut()
	waitFor(t, "the drop", func() bool { return c.State() != client.StateConnected })
	p.Restore()
	waitFor(t, "the reconnect", func() bool { return c.State() == client.StateConnected })
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 2 || seen[0] != "Bearer token-1" || !strings.HasPrefix(seen[len(seen)-1], "Bearer token-") || seen[len(seen)-1] == seen[0] {
		t.Fatalf("tokens seen: %v", seen)
	}
}

// Handlers that fall behind make the client reconnect and recover, as a
// server does with a slow consumer: nothing saved is lost, and the
// client is told.
func TestHandlersBehindRecover(t *testing.T) {
	s := startServer(t, &server{})
	var rec recorder
	gate := make(chan struct{})
	o := rec.options(&client.Options{HandlerQueue: 4})
	c := client.New(s.url(), o)
	var once sync.Once
	client.On(c, "message", func(_ context.Context, v struct{ Text string }, ev *client.Event) {
		once.Do(func() { <-gate }) // the first message holds the handlers up
		rec.mu.Lock()
		rec.msgs = append(rec.msgs, fmt.Sprintf("%s@%d", v.Text, ev.Offset))
		rec.mu.Unlock()
	})
	ctx := testCtx(t)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bob := connect(t, s.url(), nil)
	for _, cl := range []*client.Client{c, bob} {
		if _, err := cl.Join(ctx, "lobby", nil); err != nil {
			t.Fatal(err)
		}
	}
	const n = 20
	for i := range n {
		if _, err := bob.Call(ctx, "message", map[string]string{"text": fmt.Sprint(i)}, client.InRoom("lobby")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the client to fall behind", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return slices.ContainsFunc(rec.errs, func(err error) bool { return errors.Is(err, client.ErrHandlersBehind) })
	})
	close(gate)
	waitFor(t, "every message", func() bool { return len(rec.messages()) == n })
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("%d@%d", i, i+1))
	}
	if got := rec.messages(); !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// A server that stops answering without closing (a black hole) is taken
// for dead after PingInterval+PongTimeout, and the client reconnects.
func TestDeadServerDetected(t *testing.T) {
	s := startServer(t, &server{})
	p := tcpproxy.Start(t, s.addr)
	var rec recorder
	o := rec.options(&client.Options{PingInterval: 50 * time.Millisecond, PongTimeout: 100 * time.Millisecond})
	c := connect(t, "ws://"+p.Addr()+"/ws", o)
	p.Stall()
	waitFor(t, "the dead connection to be noticed", func() bool { return c.State() != client.StateConnected })
	p.Restore()
	waitFor(t, "the reconnect", func() bool { return c.State() == client.StateConnected })
	if r, err := client.Call[string](testCtx(t), c, "echo", "back"); err != nil || r != "back" {
		t.Fatalf("after the reconnect: %q, %v", r, err)
	}
}
