package events_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/consumers/events"
	"github.com/switchboard-go/switchboard/consumers/protocol"
	"github.com/switchboard-go/switchboard/router"
	"github.com/switchboard-go/switchboard/websocket"
)

// A room "team:NAME" is open only to the members of that team; a refused
// join gets an error event with the code and message chosen here.
func ExampleEventOptions_authorizeJoin() {
	box := channels.NewBox(nil)
	defer box.Close(context.Background())
	teams := map[string]string{"ada": "core", "bob": "docs"}
	ev := events.NewEvents(&events.EventOptions{
		Box:  box,
		User: func(ws *websocket.WebSocket) string { return ws.Query().Get("user") },
		AuthorizeJoin: func(ctx context.Context, c *events.EventConn, j events.JoinRequest) error {
			if team, ok := strings.CutPrefix(j.Room, "team:"); ok && teams[j.User] != team {
				return events.NewError(protocol.CodeForbidden, "members of the team only")
			}
			return nil
		},
	})
	rt := router.New()
	rt.HandleFunc("/ws", ev.Handler())
	srv := httptest.NewServer(rt)
	defer srv.Close()

	bob, _, _ := gws.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws?user=bob", nil)
	defer bob.Close()
	bob.WriteMessage(gws.TextMessage, []byte(`{"event":"join","payload":{"room":"team:core"},"ref":"1"}`))
	var got map[string]any
	bob.ReadJSON(&got)
	fmt.Println(got["event"], got["payload"])
	// Output:
	// error map[code:forbidden error:members of the team only]
}

// Typed handlers: On decodes the payload into the handler's type, and
// OnRequest's result is the payload of the ack.
func ExampleOn() {
	box := channels.NewBox(nil)
	defer box.Close(context.Background())
	ev := events.NewEvents(&events.EventOptions{Box: box})

	type message struct {
		Text string `json:"text"`
	}
	events.On(ev, "message", func(ctx context.Context, c *events.EventConn, m message) error {
		room := events.EventOf(ctx).Room // the room the event is aimed at
		_, err := c.EmitToRoom(ctx, room, "message", m)
		return err
	})
	type sum struct{ A, B int }
	events.OnRequest(ev, "add", func(ctx context.Context, c *events.EventConn, s sum) (int, error) {
		return s.A + s.B, nil
	})

	rt := router.New()
	rt.HandleFunc("/ws", ev.Handler())
	srv := httptest.NewServer(rt)
	defer srv.Close()
	ws, _, _ := gws.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	defer ws.Close()
	for _, frame := range []string{
		`{"event":"add","payload":{"A":2,"B":40},"ref":"1"}`,
		`{"event":"add","payload":"two and forty","ref":"2"}`,
	} {
		ws.WriteMessage(gws.TextMessage, []byte(frame))
		_, got, _ := ws.ReadMessage()
		fmt.Println(string(got))
	}
	// Output:
	// {"event":"ack","payload":42,"ref":"1"}
	// {"event":"error","payload":{"code":"bad_request","error":"invalid payload for add"},"ref":"2"}
}

// OnAccept greets each client once its handshake is accepted, before its
// first event is read; EmitToRoomUnsaved sends what is worth only now.
func ExampleEventOptions_onAccept() {
	box := channels.NewBox(nil)
	defer box.Close(context.Background())
	ev := events.NewEvents(&events.EventOptions{
		Box: box,
		OnAccept: func(ctx context.Context, c *events.EventConn) error {
			return c.Emit("welcome", map[string]any{"rooms": []string{"lobby"}})
		},
	})
	events.On(ev, "typing", func(ctx context.Context, c *events.EventConn, p struct{ User string }) error {
		_, err := c.EmitToRoomUnsaved(ctx, events.EventOf(ctx).Room, "typing", p.User, c.ExceptSelf())
		return err
	})
	rt := router.New()
	rt.HandleFunc("/ws", ev.Handler())
	srv := httptest.NewServer(rt)
	defer srv.Close()

	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	ada, _, _ := gws.DefaultDialer.Dial(url, nil)
	defer ada.Close()
	bob, _, _ := gws.DefaultDialer.Dial(url, nil)
	defer bob.Close()
	for _, c := range []*gws.Conn{ada, bob} {
		_, hello, _ := c.ReadMessage()
		fmt.Println(string(hello))
		c.WriteMessage(gws.TextMessage, []byte(`{"event":"join","payload":"lobby","ref":"1"}`))
		c.ReadMessage() // joined
	}
	ada.WriteMessage(gws.TextMessage, []byte(`{"event":"typing","room":"lobby","payload":{"User":"ada"}}`))
	_, typing, _ := bob.ReadMessage()
	fmt.Println(string(typing))
	// Output:
	// {"event":"welcome","payload":{"rooms":["lobby"]}}
	// {"event":"welcome","payload":{"rooms":["lobby"]}}
	// {"event":"typing","payload":"ada","room":"lobby"}
}
