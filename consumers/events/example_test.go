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
