// Command bot is a chat bot written with the Go client of the event
// protocol (consumers/client): it joins a room of the chat example and
// answers "/roll" and "/time". It reconnects by itself when the chat
// restarts, and says so when messages may have been missed.
//
//	go run ./examples/chat &
//	go run ./examples/bot -room lobby
//
// then say "/roll" in the lobby at http://127.0.0.1:8080.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/switchboard-go/switchboard/consumers/client"
)

// message is the chat's message event, as its members get it.
type message struct {
	User string `json:"user"`
	Text string `json:"text"`
}

func main() {
	server := flag.String("url", "ws://127.0.0.1:8080/ws", "the chat's WebSocket URL")
	room := flag.String("room", "lobby", "the room to join")
	name := flag.String("name", "bot", "the bot's name in the chat")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *server, *name, *room, slog.Default()); err != nil {
		slog.Error("bot", "err", err)
		os.Exit(1)
	}
}

// run keeps the bot in room until ctx ends, or the chat refuses it.
func run(ctx context.Context, server, name, room string, log *slog.Logger) error {
	u, err := url.Parse(server)
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("name", name)
	u.RawQuery = q.Encode()

	refused := make(chan error, 1)
	c := client.New(u.String(), &client.Options{
		OnState: func(s client.State, err error) {
			log.Info("bot", "state", s, "why", err)
			if s == client.StateClosed && err != nil {
				refused <- err
			}
		},
		OnMissed: func(room string) { log.Warn("bot: messages may have been missed", "room", room) },
		Logger:   log,
	})
	client.On(c, "message", func(ctx context.Context, m message, ev *client.Event) {
		if m.User == name {
			return // the bot's own answers come back too
		}
		if reply := answer(m); reply != "" {
			if _, err := c.Call(ctx, "message", map[string]string{"text": reply}, client.InRoom(ev.Room)); err != nil {
				log.Warn("bot: could not answer", "err", err)
			}
		}
	})
	if err := c.Connect(ctx); err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Join(ctx, room, nil); err != nil {
		return fmt.Errorf("join %s: %w", room, err)
	}
	log.Info("bot: in the room", "room", room, "name", name)
	select {
	case <-ctx.Done():
		return nil
	case err := <-refused:
		return err
	}
}

// answer is the bot's reply to a message, or "".
func answer(m message) string {
	switch cmd := strings.TrimSpace(m.Text); cmd {
	case "/roll":
		return fmt.Sprintf("%s rolled %d", m.User, 1+rand.IntN(6))
	case "/time":
		return "it is " + time.Now().UTC().Format("15:04 UTC")
	case "/help":
		return "I answer /roll and /time"
	}
	return ""
}
