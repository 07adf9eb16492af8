// Command chi serves Switchboard inside a go-chi/chi router, behind chi's
// RequestID, Logger and Recoverer middleware: a WSRouter mounted under /ws
// echoes every message on /ws/echo, and on /ws/rooms/{room} greets with the
// room and chi's request ID, then echoes text prefixed with the room name;
// /live/{room} is the same room handler on a chi route of its own, whose
// path parameters chiPathParams hands to the connection; GET
// /api/rooms/{room} is an ordinary chi JSON route. It is a module of its
// own, so that chi never enters the library's go.mod.
//
//	cd examples/chi && go run .          # listens on 127.0.0.1:8080
//	wscat -c ws://127.0.0.1:8080/ws/rooms/lobby
//	wscat -c ws://127.0.0.1:8080/live/lobby
//	curl http://127.0.0.1:8080/api/rooms/lobby
package main

import (
	"context"
	"encoding/json"
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

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

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
	// The resolved address on stderr lets tests start the demo on port 0.
	slog.Info("chi server listening", "addr", ln.Addr().String(),
		"routes", "/ws/echo /ws/rooms/{room} /live/{room} GET /api/rooms/{room}")

	// The tracker lets the shutdown close the WebSockets, which
	// http.Server.Shutdown does not touch.
	tracker := websocket.NewTracker(nil)
	wsOpts := &websocket.Options{Tracker: tracker}
	ws := newWSRouter(&router.Options{WebSocket: wsOpts})
	h := newRouter(ws, wsOpts, middleware.RequestID, middleware.Logger, middleware.Recoverer)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
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

// newRouter is the application's chi router: mws (chi middleware, the
// first outermost) for every request, an ordinary JSON route, the
// WebSocket routes of ws under /ws, and a WebSocket on a chi route of its
// own, configured by wsOpts (nil for defaults). chi's Mount leaves
// r.URL.Path whole, so http.StripPrefix hands ws the rest of the path: its
// patterns do not depend on where it is mounted.
func newRouter(ws *router.WSRouter, wsOpts *websocket.Options, mws ...func(http.Handler) http.Handler) *chi.Mux {
	r := chi.NewRouter()
	r.Use(mws...)
	r.Get("/api/rooms/{room}", roomInfo)
	r.With(chiPathParams).Get("/live/{room:[a-z0-9-]+}", websocket.Handler(room, wsOpts).ServeHTTP)
	r.Mount("/ws", http.StripPrefix("/ws", ws))
	return r
}

// chiPathParams is the adapter that hands the path parameters chi matched
// to the WebSocket connection, for its PathParam and PathParams. A
// WebSocket lists by itself only the wildcards of a ServeMux-style
// pattern in r.Pattern, which chi's {name:regexp} and * are not. Use it
// on a route (chi's With or Group), where chi has matched them; a Use
// middleware of the whole router runs before routing.
func chiPathParams(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rctx := chi.RouteContext(r.Context()); rctx != nil {
			keys, values := rctx.URLParams.Keys, rctx.URLParams.Values
			ps := make([]websocket.Param, 0, len(keys))
			for i, k := range keys {
				if i < len(values) {
					ps = append(ps, websocket.Param{Name: k, Value: values[i]})
				}
			}
			r = websocket.WithPathParams(r, ps...)
		}
		next.ServeHTTP(w, r)
	})
}

// newWSRouter returns the WebSocket routes; opts as in router.NewWithOptions.
func newWSRouter(opts *router.Options) *router.WSRouter {
	ws := router.NewWithOptions(opts)
	ws.HandleFunc("/echo", echo)
	ws.HandleFunc("/rooms/{room}", room)
	return ws
}

// roomInfo answers with the chi path parameter, chi's request ID and the
// WebSocket address of the room.
func roomInfo(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "room")
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{ //nolint:errcheck // the client may be gone
		"room":      name,
		"requestId": middleware.GetReqID(r.Context()),
		"websocket": "/ws/rooms/" + name,
	})
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

// room greets with the path parameter and the request ID that chi's
// RequestID middleware put in the handshake's context, then echoes text
// prefixed with the room name.
func room(ws *websocket.WebSocket) error {
	if err := ws.Accept(ws.Context(), nil); err != nil {
		return err
	}
	name := ws.PathParam("room")
	if err := ws.SendJSON(map[string]string{
		"room":      name,
		"requestId": middleware.GetReqID(ws.Request().Context()),
	}); err != nil {
		return err
	}
	for {
		msg, err := ws.ReceiveText(ws.Context())
		var typeErr *websocket.MessageTypeError
		if errors.As(err, &typeErr) {
			continue // binary: not for this room
		}
		if err != nil {
			return err
		}
		if err := ws.SendText(name + ": " + msg); err != nil {
			return err
		}
	}
}
