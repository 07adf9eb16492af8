package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/websocket"
)

// server is the soak's Switchboard side: a box and the HTTP server whose
// WebSocket handler registers every connection in it.
type server struct {
	box    *channels.ChannelBox
	groups []string
	url    string // ws://127.0.0.1:port/ws
	errs   *errorCounts
	http   *http.Server
	done   chan struct{} // closed when Serve has returned
}

// startServer serves WebSockets on a free loopback port. Each connection
// is registered in the box under the user named by its ?user= query
// parameter, joins one of n groups at random, and is read until it ends.
func startServer(n int, errs *errorCounts, logger *slog.Logger) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &server{
		box:  channels.NewBox(&channels.Options{Logger: logger}),
		url:  "ws://" + ln.Addr().String() + "/ws",
		errs: errs,
		done: make(chan struct{}),
	}
	for i := range n {
		s.groups = append(s.groups, fmt.Sprintf("g%02d", i))
	}
	s.http = &http.Server{
		Handler:           websocket.Handler(s.serveWS, &websocket.Options{Logger: logger}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          newHTTPLogger(errs),
	}
	go func() {
		defer close(s.done)
		s.http.Serve(ln) //nolint:errcheck // ErrServerClosed after close
	}()
	return s, nil
}

// serveWS is the handler of every connection: register, join a random
// group, read until the connection ends.
func (s *server) serveWS(ws *websocket.WebSocket) error {
	if err := ws.Accept(ws.Context(), nil); err != nil {
		return err
	}
	ch, err := s.box.Register(ws, &channels.RegisterOptions{User: ws.Query().Get("user")})
	if err != nil {
		return s.registerError("register", err)
	}
	if _, err := s.box.AddToGroup(ws.Context(), s.groups[rand.IntN(len(s.groups))], ch.ID()); err != nil {
		return s.registerError("join", err)
	}
	for {
		if _, _, err := ws.Receive(ws.Context()); err != nil {
			return err
		}
	}
}

// registerError turns a failed Register or AddToGroup into the close the
// client sees: 4000 (shutdown) once the box is closed, 1013 (try again
// later) otherwise. It is counted here, with its cause, and by the client.
func (s *server) registerError(step string, err error) error {
	reason := step + ": " + err.Error()
	s.errs.add("server " + reason)
	if errors.Is(err, channels.ErrBoxClosed) {
		return websocket.NewCloseError(websocket.StatusShutdown, reason)
	}
	return websocket.NewCloseError(websocket.StatusTryAgainLater, reason)
}

// close stops the HTTP server and waits for its accept loop.
func (s *server) close() {
	s.http.Close() //nolint:errcheck // nothing to do about it
	<-s.done
}

// registry is what the box still holds: local channels, users online and
// presence entries.
type registry struct {
	channels, users, presence int
}

func (r registry) empty() bool { return r == registry{} }

func (r registry) String() string {
	return fmt.Sprintf("%d channels, %d users online, %d presence entries", r.channels, r.users, r.presence)
}

// liveChannels counts the channels in the box's groups (each connection
// is in exactly one).
func liveChannels(box *channels.ChannelBox) int {
	n := 0
	for _, g := range box.Groups() {
		n += len(box.Members(g))
	}
	return n
}

// inspect reads what the box holds.
func inspect(box *channels.ChannelBox, groups []string) registry {
	ctx := context.Background()
	r := registry{channels: liveChannels(box)}
	if us, err := box.OnlineUsers(ctx); err == nil {
		r.users = len(us)
	}
	for _, g := range groups {
		if ps, err := box.Presence(ctx, g); err == nil {
			r.presence += len(ps)
		}
	}
	return r
}

// waitEmpty waits, at most bound, for the box to hold nothing, and returns
// what it holds.
func waitEmpty(box *channels.ChannelBox, groups []string, bound time.Duration) registry {
	deadline := time.Now().Add(bound)
	for {
		r := inspect(box, groups)
		if r.empty() || time.Now().After(deadline) {
			return r
		}
		time.Sleep(50 * time.Millisecond)
	}
}
