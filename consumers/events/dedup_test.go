package events_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/channels/redisbroker"
	sbclient "github.com/switchboard-go/switchboard/consumers/client"
	"github.com/switchboard-go/switchboard/consumers/events"
	"github.com/switchboard-go/switchboard/consumers/eventstest"
	"github.com/switchboard-go/switchboard/consumers/protocol"
	"github.com/switchboard-go/switchboard/internal/redistest"
	"github.com/switchboard-go/switchboard/internal/tcpproxy"
	"github.com/switchboard-go/switchboard/router"
)

// counter is an endpoint whose "count" event counts its runs and replies
// with the count; while hold is set, a run waits for release first.
type counter struct {
	runs    atomic.Int32
	hold    atomic.Bool
	release chan struct{}
	started chan struct{}
}

func newCounter(box *channels.ChannelBox, opts *events.EventOptions) (*events.Events, *counter) {
	k := &counter{release: make(chan struct{}), started: make(chan struct{}, 16)}
	return k.endpoint(box, opts), k
}

// endpoint is an endpoint on box that counts into k.
func (k *counter) endpoint(box *channels.ChannelBox, opts *events.EventOptions) *events.Events {
	var o events.EventOptions
	if opts != nil {
		o = *opts
	}
	o.Box, o.Logger = box, slog.New(slog.DiscardHandler)
	ev := events.NewEvents(&o)
	ev.On("count", func(ctx context.Context, c *events.EventConn, e *events.Event) error {
		n := k.runs.Add(1)
		k.started <- struct{}{}
		if k.hold.Load() {
			<-k.release
		}
		return c.Reply(ctx, e, "counted", n)
	})
	return ev
}

func newBox(t *testing.T, broker channels.Broker) *channels.ChannelBox {
	box := channels.NewBox(&channels.Options{Broker: broker, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { box.Close(context.Background()) })
	return box
}

// callAcrossDrop makes a call whose answer is lost: the network drops
// while the handler runs (released after the drop when releaseAfterDrop,
// else once the client is back and has sent the event again). It returns
// what the call got.
func callAcrossDrop(t *testing.T, c *eventstest.Conn, k *counter, releaseAfterDrop bool) int {
	t.Helper()
	k.hold.Store(true)
	got := make(chan int, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		n, err := sbclient.Call[int](ctx, c.Client, "count", nil)
		if err != nil {
			t.Error(err)
		}
		got <- n
	}()
	<-k.started
	c.Drop()
	if releaseAfterDrop {
		close(k.release)
		c.Restore()
	} else {
		c.Restore()
		time.Sleep(50 * time.Millisecond) // the resend waits for the first run
		close(k.release)
	}
	return <-got
}

// An event sent again after a reconnect, with the same ref, is answered
// with the first run's answer, and the handler runs once: whether the
// first run had finished when the resend came or not.
func TestResendIsHandledOnce(t *testing.T) {
	for _, tc := range []struct {
		name             string
		releaseAfterDrop bool
	}{{"finished", true}, {"still running", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ev, k := newCounter(newBox(t, nil), nil)
			srv := eventstest.NewServer(t, ev, nil)
			c := srv.Connect(nil, nil)
			if n := callAcrossDrop(t, c, k, tc.releaseAfterDrop); n != 1 {
				t.Fatalf("the call got %d", n)
			}
			if n := k.runs.Load(); n != 1 {
				t.Fatalf("the handler ran %d times", n)
			}
			// A new event runs again.
			k.hold.Store(false)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if n, err := sbclient.Call[int](ctx, c.Client, "count", nil); err != nil || n != 2 {
				t.Fatalf("a new event got %d, %v", n, err)
			}
		})
	}
}

// Across two nodes on one Redis: the first run on node A, whose client
// drops and moves to node B, is answered from Redis on B.
func TestResendIsHandledOnceAcrossNodes(t *testing.T) {
	rs := redistest.Start(t)
	k := &counter{release: make(chan struct{}), started: make(chan struct{}, 16)}
	var addrs []string
	for range 2 {
		b, err := redisbroker.New(&redisbroker.Options{Addr: rs.URL()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close(context.Background()) })
		addrs = append(addrs, serve(t, k.endpoint(newBox(t, b), nil)))
	}
	p := tcpproxy.Start(t, addrs[0])
	var onB atomic.Bool
	c := sbclient.New("ws://"+addrs[0]+"/ws", &sbclient.Options{
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		NetDial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			if onB.Load() {
				return d.DialContext(ctx, network, addrs[1])
			}
			return d.DialContext(ctx, network, p.Addr())
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	k.hold.Store(true)
	got := make(chan int, 1)
	go func() {
		n, err := sbclient.Call[int](ctx, c, "count", nil)
		if err != nil {
			t.Error(err)
		}
		got <- n
	}()
	<-k.started
	onB.Store(true)
	p.Cut() // the client moves to B, and sends the event again there
	time.Sleep(50 * time.Millisecond)
	close(k.release)
	if n := <-got; n != 1 {
		t.Fatalf("the call got %d", n)
	}
	if n := k.runs.Load(); n != 1 {
		t.Fatalf("the handler ran %d times", n)
	}
}

func serve(t *testing.T, ev *events.Events) string {
	t.Helper()
	rt := router.New()
	rt.HandleFunc("/ws", ev.Handler())
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// Without a session, or with another one, or with deduplication off, the
// same ref runs the handler again.
func TestSameRefWithoutSessionRunsAgain(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sessions [2]string
		window   time.Duration
	}{
		{"no session", [2]string{"", ""}, 0},
		{"invalid session", [2]string{"short", "short"}, 0},
		{"two sessions", [2]string{"session-one-0123456789", "session-two-0123456789"}, 0},
		{"deduplication off", [2]string{"session-one-0123456789", "session-one-0123456789"}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, k := newCounter(newBox(t, nil), &events.EventOptions{DedupWindow: tc.window})
			addr := serve(t, ev)
			for _, s := range tc.sessions {
				u := "ws://" + addr + "/ws"
				if s != "" {
					u += "?" + url.Values{protocol.SessionParam: {s}}.Encode()
				}
				ws, _, err := gws.DefaultDialer.Dial(u, nil)
				if err != nil {
					t.Fatal(err)
				}
				ws.WriteMessage(gws.TextMessage, []byte(`{"event":"count","ref":"1"}`))
				var got map[string]any
				if err := ws.ReadJSON(&got); err != nil {
					t.Fatal(err)
				}
				ws.Close()
			}
			if n := k.runs.Load(); n != 2 {
				t.Fatalf("the handler ran %d times, want 2", n)
			}
		})
	}
}

// With the same session, a raw client gets the first answer again, on a
// new connection, in its own codec.
func TestResendAcrossCodecs(t *testing.T) {
	ev, k := newCounter(newBox(t, nil), nil)
	addr := serve(t, ev)
	u := "ws://" + addr + "/ws?" + url.Values{protocol.SessionParam: {"a-session-of-the-test"}}.Encode()
	var answers []string
	for _, sub := range []string{protocol.SubprotocolJSON, protocol.SubprotocolMsgpack} {
		d := gws.Dialer{Subprotocols: []string{sub}}
		ws, _, err := d.Dial(u, nil)
		if err != nil {
			t.Fatal(err)
		}
		codec := protocol.CodecFor(sub)
		frame, _ := protocol.Encode(codec, protocol.Envelope{Event: "count", Ref: "9"})
		typ := gws.TextMessage
		if codec.Binary() {
			typ = gws.BinaryMessage
		}
		ws.WriteMessage(typ, frame)
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		env, err := protocol.Decode(codec, data, protocol.Fields{})
		if err != nil {
			t.Fatal(err)
		}
		var n float64 // a JSON number, as msgpack carries it across
		if err := env.Payload.(protocol.RawPayload).Decode(&n); err != nil {
			t.Fatal(err)
		}
		answers = append(answers, fmt.Sprintf("%s/%s/%v", env.Event, env.Ref, n))
		ws.Close()
	}
	if answers[0] != "counted/9/1" || answers[1] != "counted/9/1" || k.runs.Load() != 1 {
		t.Fatalf("answers %v, runs %d", answers, k.runs.Load())
	}
}
