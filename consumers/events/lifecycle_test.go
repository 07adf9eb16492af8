package events_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/consumers/events"
	"github.com/switchboard-go/switchboard/router"
	"github.com/switchboard-go/switchboard/websocket"
)

// serveLifecycle serves an endpoint whose OnAccept greets each client
// with its id, or fails as the query asks, and whose handlers emit to a
// room unsaved and to a list of connections.
func serveLifecycle(t *testing.T, disconnects chan<- websocket.StatusCode) (*channels.ChannelBox, string) {
	t.Helper()
	box := channels.NewBox(nil)
	ev := events.NewEvents(&events.EventOptions{
		Box:    box,
		Logger: slog.New(slog.DiscardHandler),
		OnAccept: func(ctx context.Context, c *events.EventConn) error {
			switch c.WebSocket().Query().Get("accept") {
			case "fail":
				return errors.New("main.greet: no database")
			case "close":
				return websocket.NewCloseError(4001, "not today")
			}
			return c.Emit("hello", map[string]string{"id": c.WebSocket().ID()})
		},
		OnDisconnect: func(c *events.EventConn, code websocket.StatusCode) {
			if disconnects != nil {
				disconnects <- code
			}
		},
	})
	events.On(ev, "typing", func(ctx context.Context, c *events.EventConn, p any) error {
		_, err := c.EmitToRoomUnsaved(ctx, events.EventOf(ctx).Room, "typing", p, c.ExceptSelf())
		return err
	})
	events.OnRequest(ev, "poke", func(ctx context.Context, c *events.EventConn, ids []string) (int, error) {
		return c.EmitToChannels(ctx, ids, "poked", "hey")
	})
	rt := router.New()
	rt.HandleFunc("/ws", ev.Handler())
	srv := httptest.NewServer(rt)
	t.Cleanup(func() {
		box.Close(context.Background())
		srv.Close()
	})
	return box, "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

// greeted dials and reads the greeting, returning the client and its id.
func greeted(t *testing.T, url string) (*client, string) {
	t.Helper()
	c := dialEvents(t, url)
	// The first event is sent before the greeting is read: the greeting
	// still comes first, for OnAccept runs before any event is read.
	c.send(`{"event":"nope","ref":"0"}`)
	got := c.recv()
	p, _ := got["payload"].(map[string]any)
	id, _ := p["id"].(string)
	if got["event"] != "hello" || id == "" {
		t.Fatalf("first frame %v, want the greeting with an id", got)
	}
	if e := c.recv(); e["event"] != "error" || e["ref"] != "0" {
		t.Fatalf("answer to the first event: %v", e)
	}
	return c, id
}

func TestOnAcceptGreets(t *testing.T) {
	t.Parallel()
	box, url := serveLifecycle(t, nil)
	_, id := greeted(t, url)
	if _, ok := box.Channel(id); !ok {
		t.Errorf("the greeting's id %q is no channel of the box", id)
	}
}

// An OnAccept that fails closes the connection with 1011 (or the code its
// error carries), and OnDisconnect gets that code.
func TestOnAcceptFails(t *testing.T) {
	t.Parallel()
	disconnects := make(chan websocket.StatusCode, 1)
	_, url := serveLifecycle(t, disconnects)
	for _, tt := range []struct {
		query string
		code  int
	}{{"fail", 1011}, {"close", 4001}} {
		c, _, err := gws.DefaultDialer.Dial(url+"?accept="+tt.query, nil)
		if err != nil {
			t.Fatalf("%s: the handshake must be accepted: %v", tt.query, err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, data, err := c.ReadMessage()
		var ce *gws.CloseError
		if !errors.As(err, &ce) || ce.Code != tt.code {
			t.Errorf("%s: read %q, %v; want close %d", tt.query, data, err, tt.code)
		}
		if ce != nil && strings.Contains(ce.Text, "database") {
			t.Errorf("%s: the close reason shows the error: %q", tt.query, ce.Text)
		}
		c.Close()
		select {
		case got := <-disconnects:
			if int(got) != tt.code {
				t.Errorf("%s: OnDisconnect got %d, want %d", tt.query, got, tt.code)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: OnDisconnect did not run", tt.query)
		}
	}
}

// A room event emitted unsaved reaches the other members with its room
// and no offset, and is not in the room's history.
func TestEmitToRoomUnsaved(t *testing.T) {
	t.Parallel()
	box, url := serveLifecycle(t, nil)
	ada, _ := greeted(t, url)
	bob, _ := greeted(t, url)
	for _, c := range []*client{ada, bob} {
		c.send(`{"event":"join","payload":{"room":"r1"},"ref":"j"}`)
		if got := c.recv(); got["event"] != "joined" {
			t.Fatalf("join: %v", got)
		}
	}
	ada.send(`{"event":"typing","room":"r1","payload":{"user":"ada"},"ref":"1"}`)
	if got := bob.recv(); jsonOf(got) != `{"event":"typing","payload":{"user":"ada"},"room":"r1"}` {
		t.Errorf("bob got %s", jsonOf(got))
	}
	// ada, left out, gets only the ack.
	if got := ada.recv(); got["event"] != "ack" || got["ref"] != "1" {
		t.Errorf("ada got %v, want the ack", got)
	}
	entries, pos, _, err := box.History(context.Background(), "r1", nil)
	if err != nil || len(entries) != 0 || pos.Offset != 0 {
		t.Errorf("history of r1: %v at %v (%v), want nothing saved", entries, pos, err)
	}
	// The endpoint's own groups stay closed to it.
	ada.send(`{"event":"typing","room":"events:all","payload":{},"ref":"2"}`)
	if got := ada.recv(); jsonOf(got["payload"]) != `{"code":"forbidden","error":"this room is reserved"}` {
		t.Errorf("typing to a reserved room: %v", got)
	}
}

// EmitToChannels reaches the connections named, once each, and says how
// many: an unknown id is not counted.
func TestEmitToChannels(t *testing.T) {
	t.Parallel()
	_, url := serveLifecycle(t, nil)
	ada, adaID := greeted(t, url)
	bob, bobID := greeted(t, url)
	cy, _ := greeted(t, url)
	cy.send(`{"event":"poke","payload":["` + adaID + `","nowhere","` + bobID + `","` + adaID + `"],"ref":"1"}`)
	if got := cy.recv(); jsonOf(got) != `{"event":"ack","payload":2,"ref":"1"}` {
		t.Errorf("cy got %s, want an ack counting 2", jsonOf(got))
	}
	for _, c := range []*client{ada, bob} {
		if got := c.recv(); jsonOf(got) != `{"event":"poked","payload":"hey"}` {
			t.Errorf("got %s", jsonOf(got))
		}
		// Once each: the next frame answers the next event.
		c.send(`{"event":"nope","ref":"n"}`)
		if got := c.recv(); got["event"] != "error" {
			t.Errorf("after the poke: %v", got)
		}
	}
}
