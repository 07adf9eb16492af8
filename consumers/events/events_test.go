package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"github.com/vmihailenco/msgpack/v5"
	"go.uber.org/goleak"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/consumers/events"
	"github.com/switchboard-go/switchboard/consumers/protocol"
	"github.com/switchboard-go/switchboard/router"
	"github.com/switchboard-go/switchboard/websocket"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startEvents(t *testing.T, opts *events.EventOptions) (*events.Events, string) {
	t.Helper()
	box := channels.NewBox(nil)
	if opts == nil {
		opts = &events.EventOptions{}
	}
	opts.Box = box
	opts.Logger = slog.New(slog.DiscardHandler)
	ev := events.NewEvents(opts)
	ev.On("echo", func(ctx context.Context, c *events.EventConn, e *events.Event) error {
		var p any
		if err := e.Decode(&p); err != nil {
			return err
		}
		return c.Reply(ctx, e, "echo", p)
	})
	ev.On("fire", func(ctx context.Context, c *events.EventConn, e *events.Event) error { return nil })
	ev.On("fail", func(context.Context, *events.EventConn, *events.Event) error { return errors.New("nope") })
	ev.On("boom", func(context.Context, *events.EventConn, *events.Event) error { panic("bug") })
	ev.On("slow", func(ctx context.Context, c *events.EventConn, e *events.Event) error {
		<-ctx.Done()
		return ctx.Err()
	})
	ev.On("message", func(ctx context.Context, c *events.EventConn, e *events.Event) error {
		var p map[string]any
		if err := e.Decode(&p); err != nil {
			return err
		}
		_, err := c.EmitToRoom(ctx, e.Room, "message", p)
		return err
	})
	ev.On("relay", func(ctx context.Context, c *events.EventConn, e *events.Event) error {
		var p struct{ Room string }
		if err := e.Decode(&p); err != nil {
			return err
		}
		_, err := c.EmitToRoom(ctx, p.Room, "relayed", nil)
		return err
	})
	ev.On("shout", func(ctx context.Context, c *events.EventConn, e *events.Event) error {
		_, err := c.EmitToAll(ctx, "shout", "hey")
		return err
	})
	ev.On("whisper", func(ctx context.Context, c *events.EventConn, e *events.Event) error {
		_, err := c.EmitToOthers(ctx, "whisper", "psst")
		return err
	})
	rt := router.New()
	rt.HandleFunc("/ws", ev.Handler())
	srv := httptest.NewServer(rt)
	t.Cleanup(func() {
		box.Close(context.Background())
		srv.Close()
	})
	return ev, "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

type client struct {
	t *testing.T
	c *gws.Conn
}

func dialEvents(t *testing.T, url string, protocols ...string) *client {
	t.Helper()
	d := gws.Dialer{Subprotocols: protocols}
	c, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t, c}
}

func (cl *client) send(v string) {
	cl.t.Helper()
	if err := cl.c.WriteMessage(gws.TextMessage, []byte(v)); err != nil {
		cl.t.Fatal(err)
	}
}

func (cl *client) recv() map[string]any {
	cl.t.Helper()
	cl.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := cl.c.ReadMessage()
	if err != nil {
		cl.t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		cl.t.Fatalf("%s: %v", data, err)
	}
	return m
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestEventRoutingRepliesAndErrors(t *testing.T) {
	t.Parallel()
	_, url := startEvents(t, &events.EventOptions{HandlerTimeout: 50 * time.Millisecond})
	c := dialEvents(t, url)
	tests := []struct {
		send, want string
	}{
		{`{"event":"echo","payload":{"a":1},"ref":"1"}`, `{"event":"echo","payload":{"a":1},"ref":"1"}`},
		{`{"event":"echo","payload":[1,2],"ref":7}`, `{"event":"echo","payload":[1,2],"ref":"7"}`},
		{`{"event":"fire","payload":null,"ref":"2"}`, `{"event":"ack","payload":null,"ref":"2"}`},
		{`{"event":"nope","ref":"3"}`, `{"event":"error","payload":{"code":"not_found","error":"unknown event"},"ref":"3"}`},
		{`{"event":"fail","ref":"4"}`, `{"event":"error","payload":{"code":"internal","error":"internal error"},"ref":"4"}`},
		{`{"event":"boom","ref":"5"}`, `{"event":"error","payload":{"code":"internal","error":"internal error"},"ref":"5"}`},
		{`{"event":"slow","ref":"6"}`, `{"event":"error","payload":{"code":"internal","error":"handler timed out"},"ref":"6"}`},
		{`{"payload":1}`, `{"event":"error","payload":{"code":"bad_request","error":"envelope without an event name"}}`},
		{`not json`, ``},
		{`{"event":"echo","payload":"still open"}`, `{"event":"echo","payload":"still open"}`},
	}
	for _, tt := range tests {
		c.send(tt.send)
		got := c.recv()
		if tt.want == "" {
			if got["event"] != "error" {
				t.Errorf("%s: got %v, want an error event", tt.send, got)
			}
			continue
		}
		if jsonOf(got) != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.send, jsonOf(got), tt.want)
		}
	}
}

func TestChannelDataEnvelope(t *testing.T) {
	t.Parallel()
	_, url := startEvents(t, &events.EventOptions{Fields: protocol.ChannelDataFields()})
	c := dialEvents(t, url)
	c.send(`{"channel":"echo","data":"x","ref":"r"}`)
	if got := jsonOf(c.recv()); got != `{"channel":"echo","data":"x","ref":"r"}` {
		t.Errorf("got %s", got)
	}
}

func TestMsgpackSubprotocol(t *testing.T) {
	t.Parallel()
	_, url := startEvents(t, nil)
	c := dialEvents(t, url, protocol.SubprotocolMsgpack)
	if c.c.Subprotocol() != protocol.SubprotocolMsgpack {
		t.Fatalf("subprotocol %q", c.c.Subprotocol())
	}
	b, _ := msgpack.Marshal(map[string]any{"event": "echo", "payload": map[string]any{"n": 5}, "ref": "m1"})
	c.c.WriteMessage(gws.BinaryMessage, b)
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, data, err := c.c.ReadMessage()
	if err != nil || typ != gws.BinaryMessage {
		t.Fatalf("%d %v", typ, err)
	}
	var got map[string]any
	msgpack.Unmarshal(data, &got)
	if got["event"] != "echo" || got["ref"] != "m1" || jsonOf(got["payload"]) != `{"n":5}` {
		t.Errorf("got %v", got)
	}
	// A text frame on a msgpack connection is the wrong frame type.
	c.c.WriteMessage(gws.TextMessage, []byte(`{"event":"echo"}`))
	for {
		_, _, err := c.c.ReadMessage()
		var ce *gws.CloseError
		if errors.As(err, &ce) {
			if ce.Code != 1003 {
				t.Errorf("close %d, want 1003", ce.Code)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestRoomsJoinRecoveryAndEmit(t *testing.T) {
	t.Parallel()
	_, url := startEvents(t, nil)
	a := dialEvents(t, url)
	b := dialEvents(t, url)
	a.send(`{"event":"join","payload":{"room":"r1"},"ref":"j"}`)
	joined := a.recv()
	if joined["event"] != "joined" || joined["ref"] != "j" || jsonOf(joined["payload"].(map[string]any)["room"]) != `"r1"` {
		t.Fatalf("joined: %v", joined)
	}
	b.send(`{"event":"joinRoom","payload":"r1"}`) // Vania-style alias, bare room name
	b.recv()
	a.send(`{"event":"message","room":"r1","payload":{"text":"one"},"ref":"m1"}`)
	epoch := joined["payload"].(map[string]any)["epoch"]
	var last map[string]any
	for _, cl := range []*client{a, b} {
		got := cl.recv()
		if got["event"] == "ack" {
			got = cl.recv()
		}
		if got["room"] != "r1" || got["offset"] != float64(1) || got["epoch"] != epoch || jsonOf(got["payload"]) != `{"text":"one"}` {
			t.Fatalf("room message: %v", got)
		}
		last = got
	}
	if ack := a.recv(); ack["event"] != "ack" && ack["event"] != "message" {
		t.Fatalf("expected the ack, got %v", ack)
	}
	_ = last
	// b leaves; two more messages; b comes back with its position and gets
	// exactly what it missed, in order.
	b.send(`{"event":"leave","payload":{"room":"r1"},"ref":"l"}`)
	if left := b.recv(); left["event"] != "left" {
		t.Fatalf("left: %v", left)
	}
	a.send(`{"event":"message","room":"r1","payload":{"text":"two"}}`)
	a.recv()
	a.send(`{"event":"message","room":"r1","payload":{"text":"three"}}`)
	a.recv()
	b.send(`{"event":"join","payload":{"room":"r1","since":{"epoch":` + jsonOf(epoch) + `,"offset":1}},"ref":"rj"}`)
	rj := b.recv()
	p := rj["payload"].(map[string]any)
	if p["recovered"] != true || p["offset"] != float64(3) || rj["ref"] != "rj" {
		t.Fatalf("rejoin: %v", rj)
	}
	for _, want := range []string{"two", "three"} {
		got := b.recv()
		if jsonOf(got["payload"]) != `{"text":"`+want+`"}` || got["room"] != "r1" || got["epoch"] != epoch {
			t.Fatalf("missed message: %v, want %s", got, want)
		}
	}
	// A position from another epoch is not recovered.
	c := dialEvents(t, url)
	c.send(`{"event":"join","payload":{"room":"r1","since":{"epoch":"gone","offset":1}}}`)
	if p := c.recv()["payload"].(map[string]any); p["recovered"] != false {
		t.Errorf("recovered across epochs: %v", p)
	}
	for range 3 { // what the history still has
		c.recv()
	}
	// EmitToAll reaches every connection of the endpoint, EmitToOthers all
	// but the sender.
	a.send(`{"event":"shout"}`)
	for _, cl := range []*client{a, b, c} {
		got := cl.recv()
		for got["event"] != "shout" {
			got = cl.recv()
		}
	}
	a.send(`{"event":"whisper","ref":"w"}`)
	for _, cl := range []*client{b, c} {
		got := cl.recv()
		for got["event"] != "whisper" {
			got = cl.recv()
		}
	}
	if got := a.recv(); got["event"] != "ack" || got["ref"] != "w" {
		t.Errorf("the sender got %v, want only its ack", got)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	_, url := startEvents(t, &events.EventOptions{RateLimit: 0.001, RateBurst: 2, MaxViolations: 3})
	c := dialEvents(t, url)
	for i := 0; i < 2; i++ {
		c.send(`{"event":"echo","payload":1}`)
		if got := c.recv(); got["event"] != "echo" {
			t.Fatalf("within the burst: %v", got)
		}
	}
	for i := 0; i < 2; i++ {
		c.send(`{"event":"echo","payload":1}`)
		if got := c.recv(); jsonOf(got["payload"]) != `{"code":"rate_limited","error":"rate limited"}` {
			t.Fatalf("over the limit: %v", got)
		}
	}
	c.send(`{"event":"echo","payload":1}`)
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := c.c.ReadMessage()
	var ce *gws.CloseError
	if !errors.As(err, &ce) || ce.Code != int(websocket.StatusRateLimited) {
		t.Errorf("sustained flooding: %v, want close %d", err, websocket.StatusRateLimited)
	}
}
