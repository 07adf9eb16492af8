package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboard-go/switchboard/consumers/client"
	"github.com/switchboard-go/switchboard/internal/wstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The bot joins the chat example's lobby and answers ada's /roll there.
func TestBotAnswersInTheChat(t *testing.T) {
	addr := wstest.StartExampleIn(t, "../chat")
	url := "ws://" + addr + "/ws"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	botCtx, stopBot := context.WithCancel(ctx)
	botDone := make(chan error, 1)
	go func() { botDone <- run(botCtx, url, "bot", "lobby", slog.New(slog.DiscardHandler)) }()
	defer func() {
		stopBot()
		if err := <-botDone; err != nil {
			t.Errorf("bot: %v", err)
		}
	}()

	ada := client.New(url+"?name=ada", nil)
	got := make(chan message, 16)
	client.On(ada, "message", func(_ context.Context, m message, _ *client.Event) { got <- m })
	if err := ada.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer ada.Close()
	if _, err := ada.Join(ctx, "lobby", nil); err != nil {
		t.Fatal(err)
	}
	// The bot may join after ada's first /roll: say it until it answers.
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := ada.Call(ctx, "message", map[string]string{"text": "/roll"}, client.InRoom("lobby")); err != nil {
			t.Fatal(err)
		}
		for waiting := true; waiting; {
			select {
			case m := <-got:
				if m.User == "bot" {
					if !strings.HasPrefix(m.Text, "ada rolled ") {
						t.Fatalf("the bot said %q", m.Text)
					}
					return
				}
			case <-tick.C:
				waiting = false
			case <-ctx.Done():
				t.Fatal("the bot never answered")
			}
		}
	}
}

func TestAnswers(t *testing.T) {
	for _, tc := range []struct{ text, prefix string }{
		{"/roll", "ada rolled "}, {" /time ", "it is "}, {"/help", "I answer"}, {"hello", ""},
	} {
		got := answer(message{User: "ada", Text: tc.text})
		if (tc.prefix == "") != (got == "") || !strings.HasPrefix(got, tc.prefix) {
			t.Errorf("%q: got %q", tc.text, got)
		}
	}
}
