package consumers_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/consumers"
	"github.com/switchboard-go/switchboard/router"
	"github.com/switchboard-go/switchboard/websocket"
)

// Chat joins the room named in the path and relays every message to it.
type Chat struct {
	consumers.Base
	room string
	left chan<- websocket.StatusCode
}

func (c *Chat) OnConnect(ctx context.Context) error {
	c.room = "room:" + c.WebSocket().PathParam("room")
	if err := c.Accept(ctx); err != nil {
		return err
	}
	_, err := c.JoinGroup(ctx, c.room)
	return err
}

func (c *Chat) OnReceive(ctx context.Context, msg any) error {
	_, err := c.Broadcast(ctx, c.room, map[string]any{"from": c.WebSocket().ID()[:4], "said": msg}, c.ExceptSelf())
	return err
}

func (c *Chat) OnDisconnect(code websocket.StatusCode) {
	c.left <- code
}

func Example() {
	box := channels.NewBox(nil)
	defer box.Close(context.Background())
	rt := router.New()
	left := make(chan websocket.StatusCode, 2)
	rt.HandleFunc("/ws/{room}", consumers.Handler(func() consumers.Consumer { return &Chat{left: left} },
		&consumers.Options{Box: box}))
	srv := httptest.NewServer(rt)
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/lobby"

	alice, _, _ := gws.DefaultDialer.Dial(url, nil)
	bob, _, _ := gws.DefaultDialer.Dial(url, nil)
	defer bob.Close()
	for len(box.Members("room:lobby")) < 2 { // both joined
		time.Sleep(time.Millisecond)
	}
	alice.WriteMessage(gws.TextMessage, []byte(`{"text":"hi bob"}`))
	var got map[string]any
	bob.ReadJSON(&got)
	fmt.Println(got["said"])

	alice.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
	fmt.Println("left with", <-left)
	fmt.Println("members:", len(box.Members("room:lobby"))) // alice left the room by herself
	alice.Close()
	// Output:
	// map[text:hi bob]
	// left with 1000 (normal closure)
	// members: 1
}

// A room "team:NAME" is open only to the members of that team; a refused
// join gets an error event with the code and message chosen here.
func ExampleEventOptions_authorizeJoin() {
	box := channels.NewBox(nil)
	defer box.Close(context.Background())
	teams := map[string]string{"ada": "core", "bob": "docs"}
	events := consumers.NewEvents(&consumers.EventOptions{
		Box:  box,
		User: func(ws *websocket.WebSocket) string { return ws.Query().Get("user") },
		AuthorizeJoin: func(ctx context.Context, c *consumers.EventConn, j consumers.JoinRequest) error {
			if team, ok := strings.CutPrefix(j.Room, "team:"); ok && teams[j.User] != team {
				return consumers.NewError(consumers.CodeForbidden, "members of the team only")
			}
			return nil
		},
	})
	rt := router.New()
	rt.HandleFunc("/ws", events.Handler())
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
