package eventstest_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/consumers/client"
	"github.com/switchboard-go/switchboard/consumers/events"
	"github.com/switchboard-go/switchboard/consumers/eventstest"
	"github.com/switchboard-go/switchboard/consumers/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newBox(t *testing.T) *channels.ChannelBox {
	box := channels.NewBox(nil)
	t.Cleanup(func() { box.Close(context.Background()) })
	return box
}

func TestBroadcastDropAndRecovery(t *testing.T) {
	srv := eventstest.NewServer(t, chat(newBox(t)), nil)
	ada := srv.Connect(url.Values{"name": {"ada"}}, nil)
	bob := srv.Connect(url.Values{"name": {"bob"}}, &client.Options{Codec: protocol.Msgpack})
	if j := ada.Join("lobby"); j.Recovered || j.Offset != 0 {
		t.Fatalf("joined %+v", j)
	}
	bob.Join("lobby")
	ada.Call("say", Msg{Text: "one"}, client.InRoom("lobby"))
	if m := eventstest.Expect[Msg](bob, "said"); m != (Msg{"ada", "one"}) {
		t.Fatalf("got %+v", m)
	}
	if m := eventstest.Expect[Msg](ada, "said"); m != (Msg{"ada", "one"}) {
		t.Fatalf("the sender got %+v", m)
	}
	bob.Drop()
	ada.Call("say", Msg{Text: "two"}, client.InRoom("lobby"))
	ada.Call("say", Msg{Text: "three"}, client.InRoom("lobby"))
	bob.Restore()
	for _, want := range []string{"two", "three"} {
		if ev := bob.Expect("said"); ev.Room != "lobby" {
			t.Fatalf("room %q", ev.Room)
		} else if m := decode(t, ev); m.Text != want {
			t.Fatalf("got %q, want %q", m.Text, want)
		}
	}
	bob.Refute("said", 20*time.Millisecond)
	if m := bob.Missed(); len(m) != 0 {
		t.Fatalf("told of losses in %v", m)
	}
}

func decode(t *testing.T, ev *client.Event) Msg {
	t.Helper()
	var m Msg
	if err := ev.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// A shutdown closes clients with 4000, which they see; a flush of a
// room's history tells its members of the loss on their next message.
func TestCloseAndLoss(t *testing.T) {
	box := newBox(t)
	srv := eventstest.NewServer(t, chat(box), nil)
	ada := srv.Connect(url.Values{"name": {"ada"}}, nil)
	ada.Join("lobby")
	ada.Call("say", Msg{Text: "one"}, client.InRoom("lobby"))
	ada.Expect("said")
	if err := box.FlushHistory(context.Background(), "lobby"); err != nil {
		t.Fatal(err)
	}
	ada.Call("say", Msg{Text: "two"}, client.InRoom("lobby"))
	ada.Expect("said")
	ada.ExpectMissed("lobby")

	if se := ada.CallError("nope", nil); se.Code != protocol.CodeNotFound {
		t.Fatalf("got %v", se)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := box.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if reason := ada.ExpectClose(4000); reason != "server shutting down" {
		t.Fatalf("reason %q", reason)
	}
}

// Dial returns a refusal, as a refused client sees it.
func TestDialRefused(t *testing.T) {
	box := newBox(t)
	ev := events.NewEvents(&events.EventOptions{Box: box, OnConnect: func(context.Context, *events.EventConn) error {
		return events.NewError(protocol.CodeUnauthorized, "no")
	}})
	srv := eventstest.NewServer(t, ev, nil)
	_, err := srv.Dial(nil, nil)
	var he *client.HandshakeError
	if !errors.As(err, &he) || he.Status != 403 {
		t.Fatalf("got %v", err)
	}
}
