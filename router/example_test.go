package router_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/router"
	"github.com/switchboard-go/switchboard/websocket"
)

// Typed path parameters, middleware that rejects before the handshake,
// and a router mounted under a prefix.
func Example() {
	rooms := router.New()
	rooms.HandleFunc("/{room:slug}/seat/{n:int}", func(ws *websocket.WebSocket) error {
		if err := ws.Accept(ws.Context(), nil); err != nil {
			return err
		}
		return ws.SendText(fmt.Sprintf("room %s, seat %s", ws.PathParam("room"), ws.PathParam("n")))
	})

	rt := router.New()
	rt.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("token") == "" {
				http.Error(w, "token required", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	rt.Mount("/rooms", rooms)

	srv := httptest.NewServer(rt)
	defer srv.Close()
	base := "ws" + strings.TrimPrefix(srv.URL, "http")

	_, resp, _ := gws.DefaultDialer.Dial(base+"/rooms/lobby/seat/3", nil)
	fmt.Println(resp.StatusCode)

	c, _, _ := gws.DefaultDialer.Dial(base+"/rooms/lobby/seat/3?token=t", nil)
	defer c.Close()
	_, msg, _ := c.ReadMessage()
	fmt.Println(string(msg))
	// Output:
	// 401
	// room lobby, seat 3
}
