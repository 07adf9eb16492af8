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
