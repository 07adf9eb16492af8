package client_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/consumers/client"
	"github.com/switchboard-go/switchboard/consumers/events"
	"github.com/switchboard-go/switchboard/router"
)

type Message struct {
	Text string `json:"text"`
}

func Example() {
	// A server: rooms, and a "message" event that says its payload in a
	// room.
	box := channels.NewBox(nil)
	defer box.Close(context.Background())
	endpoint := events.NewEvents(&events.EventOptions{Box: box})
	endpoint.On("message", func(ctx context.Context, c *events.EventConn, ev *events.Event) error {
		var m Message
		if err := ev.Decode(&m); err != nil {
			return err
		}
		_, err := c.EmitToRoom(ctx, ev.Room, "message", m)
		return err
	})
	rt := router.New()
	rt.HandleFunc("/ws", endpoint.Handler())
	srv := httptest.NewServer(rt)
	defer srv.Close()

	// The client.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := client.New("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	got := make(chan string, 1)
	client.On(c, "message", func(_ context.Context, m Message, ev *client.Event) {
		got <- fmt.Sprintf("%s #%d: %s", ev.Room, ev.Offset, m.Text)
	})
	if err := c.Connect(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	if _, err := c.Join(ctx, "lobby", nil); err != nil {
		fmt.Println(err)
		return
	}
	ack, err := c.Call(ctx, "message", Message{Text: "hello"}, client.InRoom("lobby"))
	fmt.Println(ack.Name, err)
	fmt.Println(<-got)
	_, err = c.Call(ctx, "dance", nil)
	fmt.Println(err)
	// Output:
	// ack <nil>
	// lobby #1: hello
	// client: not_found: unknown event
}
