// Command rooms is the chat room of the Nexios documentation, as a
// Switchboard consumer: connect to /ws/room/{room_id}?username=NAME, send
// {"type":"message","content":"..."}, and everyone in the room gets
// {"type":"chat","user":NAME,"message":"...","timestamp":...}; joins and
// leaves are announced as {"type":"system",...,"users":N}. Everything is
// kept in the room's history.
//
//	go run ./examples/rooms              # listens on 127.0.0.1:8080
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

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/consumers"
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
	box := channels.NewBox(nil)
	slog.Info("rooms server listening", "addr", ln.Addr().String(), "route", "/ws/room/{room_id}?username=NAME")
	srv := &http.Server{Handler: newRouter(box), ReadHeaderTimeout: 10 * time.Second}
	// Every connection is in the box: closing it closes them all.
	stopper := graceful.Attach(srv, &graceful.Options{Boxes: []*channels.ChannelBox{box}})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopper.Shutdown(shutdown) //nolint:errcheck // exiting
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	<-stopped
}

func newRouter(box *channels.ChannelBox) *router.WSRouter {
	rt := router.New()
	rt.HandleFunc("/ws/room/{room_id}", consumers.Handler(func() consumers.Consumer { return &Room{} },
		&consumers.Options{Box: box}))
	return rt
}

// Room is one member of a chat room.
type Room struct {
	consumers.Base
	room, user string
}

func now() float64 { return float64(time.Now().UnixNano()) / 1e9 }

func (r *Room) OnConnect(ctx context.Context) error {
	r.room = "room:" + r.WebSocket().PathParam("room_id")
	r.user = r.WebSocket().Query().Get("username")
	if r.user == "" {
		r.user = "anonymous"
	}
	if err := r.Accept(ctx); err != nil {
		return err
	}
	if _, err := r.JoinGroup(ctx, r.room); err != nil {
		return err
	}
	_, err := r.Broadcast(ctx, r.room, map[string]any{
		"type": "system", "message": r.user + " joined the chat", "timestamp": now(), "users": len(r.Group(r.room)),
	}, channels.SaveHistory())
	return err
}

func (r *Room) OnReceive(ctx context.Context, msg any) error {
	m, _ := msg.(map[string]any)
	content, _ := m["content"].(string)
	if m["type"] != "message" || content == "" {
		return r.Send(map[string]any{"type": "error", "message": `send {"type":"message","content":"..."}`})
	}
	_, err := r.Broadcast(ctx, r.room, map[string]any{
		"type": "chat", "user": r.user, "message": content, "timestamp": now(),
	}, channels.SaveHistory())
	return err
}

// OnDisconnect announces the leave; the connection has already left the
// room, so the count is of those who stay.
func (r *Room) OnDisconnect(websocket.StatusCode) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.Broadcast(ctx, r.room, map[string]any{ //nolint:errcheck // nobody to report to
		"type": "system", "message": r.user + " left the chat", "timestamp": now(), "users": len(r.Group(r.room)),
	}, channels.SaveHistory())
}
