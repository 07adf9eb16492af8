package websocket_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/websocket"
)

// An echo handler, served on a real socket and driven by a client.
func ExampleHandler() {
	h := websocket.Handler(func(ws *websocket.WebSocket) error {
		if err := ws.Accept(ws.Context(), nil); err != nil {
			return err
		}
		for {
			msg, err := ws.ReceiveText(ws.Context())
			if err != nil {
				return err
			}
			if err := ws.SendText("echo: " + msg); err != nil {
				return err
			}
		}
	}, nil)
	srv := httptest.NewServer(h)
	defer srv.Close()

	c, _, _ := gws.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	defer c.Close()
	c.WriteMessage(gws.TextMessage, []byte("hello"))
	_, reply, _ := c.ReadMessage()
	fmt.Println(string(reply))
	// Output: echo: hello
}

// A handler that closes with its own code; the peer sees code and reason.
func ExampleWebSocket_Close() {
	h := websocket.Handler(func(ws *websocket.WebSocket) error {
		if err := ws.Accept(ws.Context(), nil); err != nil {
			return err
		}
		return ws.Close(websocket.StatusTryAgainLater, "busy, come back later")
	}, nil)
	srv := httptest.NewServer(h)
	defer srv.Close()

	c, _, _ := gws.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	defer c.Close()
	_, _, err := c.ReadMessage()
	fmt.Println(err)
	// Output: websocket: close 1013: busy, come back later
}

// Typed receive: JSON into a struct; a malformed message is a DecodeError
// and the connection stays open.
func ExampleWebSocket_ReceiveJSON() {
	type move struct {
		X, Y int
	}
	done := make(chan struct{})
	h := websocket.Handler(func(ws *websocket.WebSocket) error {
		defer close(done)
		if err := ws.Accept(context.Background(), nil); err != nil {
			return err
		}
		for range 2 {
			var m move
			if err := ws.ReceiveJSON(context.Background(), &m); err != nil {
				fmt.Println("error:", err)
				continue
			}
			fmt.Printf("move to %d,%d\n", m.X, m.Y)
		}
		return nil
	}, nil)
	srv := httptest.NewServer(h)
	defer srv.Close()

	c, _, _ := gws.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	defer c.Close()
	c.WriteMessage(gws.TextMessage, []byte(`{"X":3,"Y":4}`))
	c.WriteMessage(gws.TextMessage, []byte(`{"X":`))
	<-done
	// Output:
	// move to 3,4
	// error: websocket: json decode: unexpected end of JSON input
}

func ExampleCloseStatus() {
	err := fmt.Errorf("receive: %w", &websocket.DisconnectError{Code: websocket.StatusGoingAway})
	fmt.Println(websocket.CloseStatus(err))
	fmt.Println(websocket.CloseStatus(fmt.Errorf("not a close")))
	// Output:
	// 1001 (going away)
	// -1
}

// Path parameters from a ServeMux pattern, and one a router's middleware
// hands over (here a stand-in for chi or any other router).
func ExampleWithPathParams() {
	h := websocket.Handler(func(ws *websocket.WebSocket) error {
		if err := ws.Accept(ws.Context(), nil); err != nil {
			return err
		}
		return ws.SendText(fmt.Sprint(ws.PathParams()))
	}, nil)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /rooms/{room}/{rest...}", func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, websocket.WithPathParams(r, websocket.Param{Name: "tenant", Value: "acme"}))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	c, _, _ := gws.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/rooms/lobby/a/b", nil)
	defer c.Close()
	_, reply, _ := c.ReadMessage()
	fmt.Println(string(reply))
	// Output: map[rest:a/b room:lobby tenant:acme]
}

// The close policy: what a handler's error does to its connection.
func ExampleEndingFor() {
	for _, err := range []error{
		nil,
		websocket.NewCloseError(websocket.StatusPolicyViolation, "no spam"),
		websocket.Refuse(fmt.Errorf("token expired")),
		fmt.Errorf("db down"),
	} {
		before := websocket.EndingFor(err, false)
		after := websocket.EndingFor(err, true)
		fmt.Printf("%v: before Accept %d, after %d, %s\n", err, before.HTTPStatus, int(after.Code), before.Kind)
	}
	// Output:
	// <nil>: before Accept 403, after 1000, normal
	// websocket: close with 1008 (policy violation): no spam: before Accept 500, after 1008, close requested
	// token expired: before Accept 403, after 1011, refused
	// db down: before Accept 500, after 1011, failed
}
