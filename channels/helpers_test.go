package channels_test

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/internal/wstest"
	"github.com/switchboard-go/switchboard/websocket"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is a box behind a real WebSocket server on 127.0.0.1. A client's
// query string says how its channel registers: type, user, expires, and
// the groups to join.
type env struct {
	t   testing.TB
	box *channels.ChannelBox
	url string
	reg chan *channels.Channel
}

func newEnv(t testing.TB, opts *channels.Options, wsOpts *websocket.Options) *env {
	return newEnvSndbuf(t, opts, wsOpts, 0)
}

// newEnvSndbuf is newEnv with the server's socket send buffers set to
// sndbuf bytes (0 leaves them to the kernel).
func newEnvSndbuf(t testing.TB, opts *channels.Options, wsOpts *websocket.Options, sndbuf int) *env {
	t.Helper()
	box := channels.NewBox(opts)
	e := &env{t: t, box: box, reg: make(chan *channels.Channel, 4096)}
	srv := httptest.NewUnstartedServer(websocket.Handler(func(ws *websocket.WebSocket) error {
		if err := ws.Accept(ws.Context(), nil); err != nil {
			return err
		}
		q := ws.Query()
		ro := &channels.RegisterOptions{User: q.Get("user")}
		switch q.Get("type") {
		case "text":
			ro.PayloadType = channels.Text
		case "bytes":
			ro.PayloadType = channels.Bytes
		case "msgpack":
			ro.PayloadType = channels.Msgpack
		}
		if d, err := time.ParseDuration(q.Get("expires")); err == nil {
			ro.Expires = d
		}
		ch, err := box.Register(ws, ro)
		if err != nil {
			return err
		}
		for _, g := range q["group"] {
			if _, err := box.AddToGroup(ws.Context(), g, ch.ID()); err != nil {
				return err
			}
		}
		e.reg <- ch
		for {
			if _, _, err := ws.Receive(ws.Context()); err != nil {
				return err
			}
		}
	}, wsOpts))
	if sndbuf > 0 {
		srv.Listener = smallSendBuffers{srv.Listener, sndbuf}
	}
	srv.Start()
	e.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// A test that closed the box with an ended context gets that
		// result again here.
		if err := box.Close(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("box.Close: %v", err)
		}
		srv.Close()
	})
	return e
}

// connect dials with the given query and waits for the channel.
func (e *env) connect(q url.Values) (*gws.Conn, *channels.Channel) {
	e.t.Helper()
	return e.connectWith(gws.DefaultDialer, q)
}

func (e *env) connectWith(d *gws.Dialer, q url.Values) (*gws.Conn, *channels.Channel) {
	e.t.Helper()
	c, _, err := d.Dial(e.url+"?"+q.Encode(), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	select {
	case ch := <-e.reg:
		return c, ch
	case <-time.After(10 * time.Second):
		e.t.Fatal("channel not registered")
		return nil, nil
	}
}

func query(kv ...string) url.Values { return wstest.Query(kv...) }

// read reads one message with a deadline.
func read(t testing.TB, c *gws.Conn) (int, string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	typ, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return typ, string(data)
}

// eventually polls cond for up to 10s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	wstest.Eventually(t, what, 10*time.Second, 5*time.Millisecond, cond)
}

// fakeClock is a settable clock for expiry and history ages.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

var ctx = context.Background()

func itoa(i int) string { return strconv.Itoa(i) }

// connectSmallWindow dials with a 4 KiB receive buffer, so that a client
// that stops reading fills the server's queue after kilobytes, not after
// the megabytes that loopback's autotuned buffers would hold.
func (e *env) connectSmallWindow(q url.Values) (*gws.Conn, *channels.Channel) {
	e.t.Helper()
	d := gws.Dialer{NetDialContext: (&net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return serr
	}}).DialContext}
	return e.connectWith(&d, q)
}

type smallSendBuffers struct {
	net.Listener
	size int
}

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(l.size)
	}
	return c, err
}
