package redisbroker_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/channels/redisbroker"
	"github.com/switchboard-go/switchboard/consumers/events"
	"github.com/switchboard-go/switchboard/internal/wstest"
	"github.com/switchboard-go/switchboard/router"
	"github.com/switchboard-go/switchboard/websocket"
)

var ctx = context.Background()

// node is one member of a cluster: a box over its own Redis broker (on
// the Redis at redisURL, or on bopts.Shards when set) behind a WebSocket
// server on 127.0.0.1. Clients on /raw register with the query's user
// and join its groups; clients on /events speak the event protocol.
type node struct {
	t      testing.TB
	box    *channels.ChannelBox
	broker *redisbroker.Broker
	url    string
	reg    chan *channels.Channel
}

func newNode(t testing.TB, redisURL string, bopts *redisbroker.Options, opts *channels.Options) *node {
	t.Helper()
	var bo redisbroker.Options
	if bopts != nil {
		bo = *bopts
	}
	if len(bo.Shards) == 0 {
		bo.Addr = redisURL
	}
	broker, err := redisbroker.New(&bo)
	if err != nil {
		t.Fatal(err)
	}
	var o channels.Options
	if opts != nil {
		o = *opts
	}
	o.Broker = broker
	box := channels.NewBox(&o)
	n := &node{t: t, box: box, broker: broker, reg: make(chan *channels.Channel, 1024)}
	rt := router.New()
	rt.HandleFunc("/raw", func(ws *websocket.WebSocket) error {
		if err := ws.Accept(ws.Context(), nil); err != nil {
			return err
		}
		q := ws.Query()
		ch, err := box.Register(ws, &channels.RegisterOptions{User: q.Get("user")})
		if err != nil {
			return err
		}
		for _, g := range q["group"] {
			if _, err := box.AddToGroup(ws.Context(), g, ch.ID()); err != nil {
				return err
			}
		}
		n.reg <- ch
		for {
			if _, _, err := ws.Receive(ws.Context()); err != nil {
				return err
			}
		}
	})
	ev := events.NewEvents(&events.EventOptions{
		Box:  box,
		User: func(ws *websocket.WebSocket) string { return ws.Query().Get("user") },
	})
	// shout goes to every connection of the endpoint, on every node.
	ev.On("shout", func(ctx context.Context, c *events.EventConn, ev *events.Event) error {
		var p any
		if err := ev.Decode(&p); err != nil {
			return err
		}
		_, err := c.EmitToAll(ctx, "shout", p)
		return err
	})
	rt.Handle("/events", ev.Handler())
	srv := httptest.NewServer(rt)
	n.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := box.Close(c); err != nil {
			t.Errorf("box.Close: %v", err)
		}
		srv.Close()
		if err := broker.Close(c); err != nil {
			t.Errorf("broker.Close: %v", err)
		}
	})
	return n
}

// connect dials /raw with the query and waits for the channel.
func (n *node) connect(q url.Values) (*gws.Conn, *channels.Channel) {
	n.t.Helper()
	c, _, err := gws.DefaultDialer.Dial(n.url+"/raw?"+q.Encode(), nil)
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { c.Close() })
	select {
	case ch := <-n.reg:
		return c, ch
	case <-time.After(10 * time.Second):
		n.t.Fatal("channel not registered")
		return nil, nil
	}
}

func query(kv ...string) url.Values { return wstest.Query(kv...) }

// read reads one message with a deadline.
func read(t testing.TB, c *gws.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(data)
}

// eventually polls cond for up to 15s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	wstest.Eventually(t, what, 15*time.Second, 10*time.Millisecond, cond)
}

// recorder collects OnOnline/OnOffline calls.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) options() *channels.Options {
	return &channels.Options{
		OnOnline:  func(u string) { r.add("on:" + u) },
		OnOffline: func(u string) { r.add("off:" + u) },
		OnPresenceGone: func(g string, gone []channels.PresenceInfo) {
			for _, p := range gone {
				r.add("gone:" + g + ":" + p.User)
			}
		},
	}
}

func (r *recorder) add(e string) { r.mu.Lock(); r.events = append(r.events, e); r.mu.Unlock() }

func (r *recorder) count(e string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, x := range r.events {
		if x == e {
			n++
		}
	}
	return n
}
