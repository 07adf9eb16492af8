package channels_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/websocket"
)

// A chat room: every connection joins "room:lobby"; messages are saved in
// the room's history, and a client that reconnects asks for what it missed
// after the last position it saw.
func ExampleChannelBox_GroupSend() {
	box := channels.NewBox(nil)
	defer box.Close(context.Background())

	joined := make(chan struct{})
	srv := httptest.NewServer(websocket.Handler(func(ws *websocket.WebSocket) error {
		if err := ws.Accept(ws.Context(), nil); err != nil {
			return err
		}
		ch, err := box.Register(ws, nil)
		if err != nil {
			return err
		}
		box.AddToGroup(ws.Context(), "room:lobby", ch.ID())
		joined <- struct{}{}
		for {
			if _, _, err := ws.Receive(ws.Context()); err != nil {
				return err
			}
		}
	}, nil))
	defer srv.Close()

	c, _, _ := gws.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	defer c.Close()
	<-joined

	ctx := context.Background()
	var seen channels.Position // a real server sends it along with the message
	box.GroupSend(ctx, "room:lobby", map[string]string{"from": "ada", "text": "hi"},
		channels.SaveHistory(), channels.ReportPosition(&seen))
	_, msg, _ := c.ReadMessage()
	fmt.Println(seen.Offset, string(msg))

	box.GroupSend(ctx, "room:lobby", map[string]string{"from": "bob", "text": "hello"}, channels.SaveHistory())
	missed, _, recovered, _ := box.History(ctx, "room:lobby", &seen)
	for _, e := range missed {
		fmt.Println(e.Position.Offset, string(e.Message.Data))
	}
	fmt.Println("recovered:", recovered)
	// Output:
	// 1 {"from":"ada","text":"hi"}
	// 2 {"from":"bob","text":"hello"}
	// recovered: true
}

// Notifications: an ordinary HTTP endpoint (or a background job) sends to
// every device of a user.
func ExampleChannelBox_SendToUser() {
	box := channels.NewBox(nil)
	defer box.Close(context.Background())

	registered := make(chan struct{})
	mux := http.NewServeMux()
	mux.Handle("/ws", websocket.Handler(func(ws *websocket.WebSocket) error {
		if err := ws.Accept(ws.Context(), nil); err != nil {
			return err
		}
		// A real server takes the user from authentication.
		if _, err := box.Register(ws, &channels.RegisterOptions{User: ws.Query().Get("user")}); err != nil {
			return err
		}
		registered <- struct{}{}
		for {
			if _, _, err := ws.Receive(ws.Context()); err != nil {
				return err
			}
		}
	}, nil))
	mux.HandleFunc("POST /notify/{user}", func(w http.ResponseWriter, r *http.Request) {
		n, err := box.SendToUser(r.Context(), r.PathValue("user"), map[string]string{"notice": r.FormValue("text")})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%d devices", n)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	var phones []*gws.Conn
	for range 2 {
		c, _, _ := gws.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws?user=ada", nil)
		defer c.Close()
		<-registered
		phones = append(phones, c)
	}
	resp, _ := http.Post(srv.URL+"/notify/ada?text=build+passed", "text/plain", nil)
	body := make([]byte, 64)
	n, _ := resp.Body.Read(body)
	resp.Body.Close()
	fmt.Println(string(body[:n]))
	for _, c := range phones {
		_, msg, _ := c.ReadMessage()
		fmt.Println(string(msg))
	}
	// Output:
	// 2 devices
	// {"notice":"build passed"}
	// {"notice":"build passed"}
}

// SendToChannels sends one message to connections picked by id (the
// players of a match, say), wherever they live, and counts those it
// reached.
func ExampleChannelBox_SendToChannels() {
	box := channels.NewBox(nil)
	defer box.Close(context.Background())

	ids := make(chan string, 2)
	srv := httptest.NewServer(websocket.Handler(func(ws *websocket.WebSocket) error {
		if err := ws.Accept(ws.Context(), nil); err != nil {
			return err
		}
		ch, err := box.Register(ws, nil)
		if err != nil {
			return err
		}
		ids <- ch.ID()
		for {
			if _, _, err := ws.Receive(ws.Context()); err != nil {
				return err
			}
		}
	}, nil))
	defer srv.Close()

	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	ada, _, _ := gws.DefaultDialer.Dial(url, nil)
	defer ada.Close()
	bob, _, _ := gws.DefaultDialer.Dial(url, nil)
	defer bob.Close()
	players := []string{<-ids, <-ids, "left-an-hour-ago"}

	n, err := box.SendToChannels(context.Background(), players, map[string]string{"match": "starts"})
	fmt.Println(n, err)
	_, got, _ := bob.ReadMessage()
	fmt.Println(string(got))
	// Output:
	// 2 <nil>
	// {"match":"starts"}
}
