package brokertest

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/websocket"
)

// node is a ChannelBox over one broker of the cluster, behind a
// WebSocket server on 127.0.0.1. A client's query names its user and the
// groups its channel joins.
type node struct {
	t      *testing.T
	box    *channels.ChannelBox
	broker channels.Broker
	url    string
	reg    chan *channels.Channel
	events *events
}

// newNode starts a box over b; it is closed when the test ends, before
// the cluster closes b.
func newNode(t *testing.T, b channels.Broker) *node {
	t.Helper()
	n := &node{t: t, broker: b, reg: make(chan *channels.Channel, 64), events: &events{}}
	n.box = channels.NewBox(&channels.Options{
		Broker:         b,
		HistorySize:    1000,
		OnOnline:       func(u string) { n.events.add("on:" + u) },
		OnOffline:      func(u string) { n.events.add("off:" + u) },
		OnPresenceGone: n.events.presenceGone,
		DrainJitter:    -1,
		// The suite's outages and closed brokers make boxes log; what it
		// checks, it checks through the calls.
		Logger: slog.New(slog.DiscardHandler),
	})
	srv := httptest.NewServer(websocket.Handler(n.serve, nil))
	n.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		if err := n.box.Close(ctx); err != nil {
			t.Errorf("box.Close: %v", err)
		}
		srv.Close()
	})
	return n
}

func (n *node) serve(ws *websocket.WebSocket) error {
	if err := ws.Accept(ws.Context(), nil); err != nil {
		return err
	}
	q := ws.Query()
	ch, err := n.box.Register(ws, &channels.RegisterOptions{User: q.Get("user")})
	if err != nil {
		return err
	}
	for _, g := range q["group"] {
		if _, err := n.box.AddToGroup(ws.Context(), g, ch.ID()); err != nil {
			return err
		}
	}
	n.reg <- ch
	for {
		if _, _, err := ws.Receive(ws.Context()); err != nil {
			return err
		}
	}
}

// client is a WebSocket client of a node, and its channel there.
type client struct {
	t    *testing.T
	conn *gws.Conn
	ch   *channels.Channel
}

// connect dials the node as user ("" for none), joining groups, and
// waits until its channel is registered and in them.
func (n *node) connect(user string, groups ...string) *client {
	n.t.Helper()
	q := url.Values{"group": groups}
	if user != "" {
		q.Set("user", user)
	}
	d := gws.Dialer{HandshakeTimeout: waitTimeout}
	conn, _, err := d.Dial(n.url+"?"+q.Encode(), nil)
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { conn.Close() })
	select {
	case ch := <-n.reg:
		return &client{t: n.t, conn: conn, ch: ch}
	case <-time.After(waitTimeout):
		n.t.Fatal("channel not registered")
		return nil
	}
}

// id returns the client's channel id.
func (c *client) id() string { return c.ch.ID() }

// read reads one message.
func (c *client) read() string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	_, data, err := c.conn.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return string(data)
}

// readN reads n messages.
func (c *client) readN(n int) []string {
	c.t.Helper()
	out := make([]string, 0, n)
	for range n {
		out = append(out, c.read())
	}
	return out
}

// closed waits until the server closes the connection and returns the
// close code.
func (c *client) closed() int {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		_, _, err := c.conn.ReadMessage()
		if err == nil {
			continue
		}
		var ce *gws.CloseError
		if !errors.As(err, &ce) {
			c.t.Fatalf("connection ended with %v, not a close", err)
		}
		return ce.Code
	}
}

// events records a box's OnOnline, OnOffline and OnPresenceGone calls:
// "on:user", "off:user", "gone:group:user".
type events struct {
	mu   sync.Mutex
	list []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, s)
}

func (e *events) presenceGone(group string, gone []channels.PresenceInfo) {
	for _, p := range gone {
		e.add("gone:" + group + ":" + p.User)
	}
}

// count returns how many times s was recorded on the nodes.
func count(s string, nodes ...*node) int {
	n := 0
	for _, nd := range nodes {
		nd.events.mu.Lock()
		for _, x := range nd.events.list {
			if x == s {
				n++
			}
		}
		nd.events.mu.Unlock()
	}
	return n
}
