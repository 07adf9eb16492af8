// Command echo is the smallest Switchboard server: it echoes text as text
// and binary as binary on /ws, echoes JSON objects with an added field on
// /ws/json, and greets with the path parameter on /ws/rooms/{room}.
//
//	go run ./examples/echo               # listens on 127.0.0.1:8080
//	wscat -c ws://127.0.0.1:8080/ws      # (npm i -g wscat) then type
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/switchboard-go/switchboard/graceful"
	"github.com/switchboard-go/switchboard/router"
	"github.com/switchboard-go/switchboard/websocket"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	// The resolved address on stdout lets tests start the demo on port 0.
	slog.Info("echo server listening", "addr", ln.Addr().String(), "routes", "/ws /ws/json /ws/rooms/{room}")

	// The tracker lets the shutdown close the WebSockets, which
	// http.Server.Shutdown does not touch.
	tracker := websocket.NewTracker(nil)
	srv := &http.Server{Handler: newRouter(tracker), ReadHeaderTimeout: 10 * time.Second}
	stopper := graceful.Attach(srv, &graceful.Options{Tracker: tracker})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stopper.Shutdown(shutdownCtx) //nolint:errcheck // exiting anyway
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	<-stopped
}

// newRouter returns the echo routes; tracker (which may be nil) keeps the
// connections for the shutdown.
func newRouter(tracker *websocket.Tracker) *router.WSRouter {
	rt := router.NewWithOptions(&router.Options{WebSocket: &websocket.Options{Tracker: tracker}})
	rt.HandleFunc("/ws", echo)
	rt.HandleFunc("/ws/json", echoJSON)
	rt.HandleFunc("/ws/rooms/{room}", room)
	return rt
}

// echo sends every message back with its own type.
func echo(ws *websocket.WebSocket) error {
	if err := ws.Accept(ws.Context(), nil); err != nil {
		return err
	}
	for {
		typ, data, err := ws.Receive(ws.Context())
		if err != nil {
			return err // a *websocket.DisconnectError when the client leaves
		}
		if err := ws.Send(typ, data); err != nil {
			return err
		}
	}
}

// echoJSON decodes each text message as a JSON object and sends it back
// with "echoed": true; anything else gets an error message and the
// connection stays open.
func echoJSON(ws *websocket.WebSocket) error {
	if err := ws.Accept(ws.Context(), nil); err != nil {
		return err
	}
	for {
		var obj map[string]any
		err := ws.ReceiveJSON(ws.Context(), &obj)
		var decodeErr *websocket.DecodeError
		var typeErr *websocket.MessageTypeError
		switch {
		case errors.As(err, &decodeErr), errors.As(err, &typeErr), err == nil && obj == nil:
			if err := ws.SendJSON(map[string]string{"error": "send a JSON object as a text message"}); err != nil {
				return err
			}
			continue
		case err != nil:
			return err
		}
		obj["echoed"] = true
		if err := ws.SendJSON(obj); err != nil {
			return err
		}
	}
}

// room greets with the path parameter, then echoes text prefixed by it.
func room(ws *websocket.WebSocket) error {
	if err := ws.Accept(ws.Context(), nil); err != nil {
		return err
	}
	name := ws.PathParam("room")
	if err := ws.SendJSON(map[string]string{"room": name, "client": ws.Client().String()}); err != nil {
		return err
	}
	for {
		msg, err := ws.ReceiveText(ws.Context())
		var typeErr *websocket.MessageTypeError
		if errors.As(err, &typeErr) {
			continue
		}
		if err != nil {
			return err
		}
		if err := ws.SendText(name + ": " + msg); err != nil {
			return err
		}
	}
}
