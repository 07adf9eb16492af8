// Command rooms is the chat room of the Nexios documentation, as a
// Switchboard consumer: connect to /ws/room/{room_id}?username=NAME, send
// {"type":"message","content":"..."}, and everyone in the room gets
// {"type":"chat","user":NAME,"message":"...","timestamp":...}; joins and
// leaves are announced as {"type":"system",...,"users":N}. Everything is
// kept in the room's history.
//
// The name (1 to 40 characters, trimmed; "anonymous" when empty) and each
// message (1 to 2000 bytes) are bounded, because they are copied into
// what every member receives, and a connection may send at most
// maxRate messages a second: past that it gets an error, and past three
// times that it is closed with 4003. A name the room refuses is accepted
// and then closed with 1008 and the reason, so that a browser, which
// cannot read the status of a refused handshake, can show it.
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
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

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
	rate       window
}

// Bounds on what a member sends; see the package doc.
const (
	maxName    = 40   // characters
	maxContent = 2000 // bytes
	maxRate    = 10   // messages a second
)

// window counts the messages of the current second.
type window struct {
	start time.Time
	n     int
}

// count adds a message at t and returns how many the window holds.
func (w *window) count(t time.Time) int {
	if t.Sub(w.start) >= time.Second {
		w.start, w.n = t, 0
	}
	w.n++
	return w.n
}

func now() float64 { return float64(time.Now().UnixNano()) / 1e9 }

func (r *Room) OnConnect(ctx context.Context) error {
	user := strings.TrimSpace(r.WebSocket().Query().Get("username"))
	if user == "" {
		user = "anonymous"
	}
	if err := r.Accept(ctx); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(user); n > maxName || !utf8.ValidString(user) {
		return websocket.NewCloseError(websocket.StatusPolicyViolation, "username: 1 to 40 characters")
	}
	r.room, r.user = "room:"+r.WebSocket().PathParam("room_id"), user
	if _, err := r.JoinGroup(ctx, r.room); err != nil {
		return err
	}
	_, err := r.Broadcast(ctx, r.room, map[string]any{
		"type": "system", "message": r.user + " joined the chat", "timestamp": now(), "users": len(r.Group(r.room)),
	}, channels.SaveHistory())
	return err
}

func (r *Room) OnReceive(ctx context.Context, msg any) error {
	switch n := r.rate.count(time.Now()); {
	case n > 3*maxRate:
		return websocket.NewCloseError(websocket.StatusRateLimited, "rate limited")
	case n > maxRate:
		return r.Send(map[string]any{"type": "error", "message": "slow down: at most 10 messages a second"})
	}
	m, _ := msg.(map[string]any)
	content, _ := m["content"].(string)
	if m["type"] != "message" || content == "" || len(content) > maxContent {
		return r.Send(map[string]any{"type": "error", "message": `send {"type":"message","content":"..."} of 1 to 2000 bytes`})
	}
	_, err := r.Broadcast(ctx, r.room, map[string]any{
		"type": "chat", "user": r.user, "message": content, "timestamp": now(),
	}, channels.SaveHistory())
	return err
}

// OnDisconnect announces the leave; the connection has already left the
// room, so the count is of those who stay.
func (r *Room) OnDisconnect(websocket.StatusCode) {
	if r.room == "" {
		return // refused: never joined
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.Broadcast(ctx, r.room, map[string]any{ //nolint:errcheck // nobody to report to
		"type": "system", "message": r.user + " left the chat", "timestamp": now(), "users": len(r.Group(r.room)),
	}, channels.SaveHistory())
}
