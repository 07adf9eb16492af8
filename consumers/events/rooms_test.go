package events_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/consumers/events"
	"github.com/switchboard-go/switchboard/consumers/protocol"
	"github.com/switchboard-go/switchboard/router"
	"github.com/switchboard-go/switchboard/websocket"
)

// until reads events up to the first one named name, which it returns,
// and fails on any error event on the way.
func (cl *client) until(name string) map[string]any {
	cl.t.Helper()
	for range 100 {
		got := cl.recv()
		if got["event"] == name {
			return got
		}
		if got["event"] == "error" {
			cl.t.Fatalf("waiting for %s: %v", name, got)
		}
	}
	cl.t.Fatalf("no %s in 100 events", name)
	return nil
}

// quiet checks that nothing reached the client before the answer to an
// echo sent now: what the server queued for it earlier comes first.
func (cl *client) quiet(what string) {
	cl.t.Helper()
	cl.send(`{"event":"echo","payload":"quiet?","ref":"q"}`)
	if got := cl.recv(); got["event"] != "echo" || got["ref"] != "q" {
		cl.t.Fatalf("%s: got %v", what, got)
	}
}

// wantError reads the next event and checks it is an error event with
// code and ref.
func (cl *client) wantError(ref, code string) map[string]any {
	cl.t.Helper()
	got := cl.recv()
	p, _ := got["payload"].(map[string]any)
	if got["event"] != "error" || got["ref"] != ref || p["code"] != code {
		cl.t.Fatalf("ref %s: got %v, want an error event with code %s", ref, got, code)
	}
	return p
}

// The endpoint's all-connections group is not a room: a client can
// neither join nor leave it, nor send to it.
func TestReservedGroupsAreRefused(t *testing.T) {
	t.Parallel()
	_, url := startEvents(t, nil)
	a := dialEvents(t, url)
	b := dialEvents(t, url)
	b.quiet("registered") // b is in the endpoint's group
	for i, send := range []string{
		`{"event":"join","payload":{"room":"events:all","history":true},"ref":"0"}`,
		`{"event":"joinRoom","payload":"events:all","ref":"1"}`,
		`{"event":"leave","payload":{"room":"events:all"},"ref":"2"}`,
		`{"event":"message","room":"events:all","payload":{"text":"to everyone"},"ref":"3"}`,
		`{"event":"echo","room":"events:all","payload":1,"ref":"4"}`,
		`{"event":"join","payload":{"room":"events:anything"},"ref":"5"}`,
	} {
		a.send(send)
		a.wantError(string(rune('0'+i)), "forbidden")
	}
	// A handler that takes its room from the payload cannot reach the
	// endpoint's group either.
	a.send(`{"event":"relay","payload":{"room":"events:all"},"ref":"6"}`)
	a.wantError("6", "forbidden")
	a.quiet("after the refusals")
	b.quiet("a's message to the reserved group")
	// a is still in the endpoint's group: EmitToAll reaches it.
	b.send(`{"event":"shout","ref":"s"}`)
	a.until("shout")
}

// An AllGroup named by the application is reserved too.
func TestNamedAllGroupIsRefused(t *testing.T) {
	t.Parallel()
	_, url := startEvents(t, &events.EventOptions{AllGroup: "everyone"})
	a := dialEvents(t, url)
	a.send(`{"event":"join","payload":{"room":"everyone"},"ref":"1"}`)
	a.wantError("1", "forbidden")
	a.send(`{"event":"join","payload":{"room":"lobby"},"ref":"2"}`)
	a.until("joined")
}

// Two endpoints on one box have their own all-connections groups:
// EmitToAll and EmitToOthers of one do not reach the other's clients.
func TestEndpointsOnOneBoxDoNotShareAllGroup(t *testing.T) {
	t.Parallel()
	box := channels.NewBox(nil)
	rt := router.New()
	names := make(chan []string, 1)
	for _, path := range []string{"/a", "/b"} {
		ev := events.NewEvents(&events.EventOptions{Box: box, Logger: slog.New(slog.DiscardHandler)})
		ev.On("shout", func(ctx context.Context, c *events.EventConn, e *events.Event) error {
			_, err := c.EmitToAll(ctx, "shout", path)
			return err
		})
		ev.On("whisper", func(ctx context.Context, c *events.EventConn, e *events.Event) error {
			_, err := c.EmitToOthers(ctx, "whisper", path)
			return err
		})
		ev.On("echo", func(ctx context.Context, c *events.EventConn, e *events.Event) error {
			return c.Reply(ctx, e, "echo", nil)
		})
		ev.On("groups", func(ctx context.Context, c *events.EventConn, e *events.Event) error {
			names <- box.GroupsOf(c.Channel().ID())
			return nil
		})
		rt.HandleFunc(path, ev.Handler())
	}
	srv := httptest.NewServer(rt)
	t.Cleanup(func() { box.Close(context.Background()); srv.Close() })
	base := "ws" + strings.TrimPrefix(srv.URL, "http")
	a1, a2 := dialEvents(t, base+"/a"), dialEvents(t, base+"/a")
	b := dialEvents(t, base+"/b")
	b.quiet("b registered")
	a2.quiet("a2 registered")

	a1.send(`{"event":"shout","ref":"s"}`)
	for _, cl := range []*client{a1, a2} {
		if got := cl.until("shout"); got["payload"] != "/a" {
			t.Errorf("shout: %v", got)
		}
	}
	a1.until("ack")
	a1.send(`{"event":"whisper","ref":"w"}`)
	a2.until("whisper")
	a1.until("ack")
	b.quiet("the other endpoint's EmitToAll and EmitToOthers")

	b.send(`{"event":"shout","ref":"s"}`)
	b.until("shout")
	b.until("ack")
	a1.quiet("b's shout, at a1")
	a2.quiet("b's shout, at a2")

	b.send(`{"event":"groups","ref":"g"}`)
	b.until("ack")
	if got := <-names; !slices.Equal(got, []string{events.DefaultAllGroup + ":2"}) {
		t.Errorf("the second endpoint's groups: %q", got)
	}
}

// AuthorizeJoin refuses a join: the client gets an error event with the
// hook's code, and neither the room's history, nor membership, nor a
// presence entry.
func TestAuthorizeJoin(t *testing.T) {
	t.Parallel()
	box := channels.NewBox(nil)
	var mu sync.Mutex
	var asked []events.JoinRequest
	ev := events.NewEvents(&events.EventOptions{
		Box:    box,
		Logger: slog.New(slog.DiscardHandler),
		User:   func(ws *websocket.WebSocket) string { return ws.Query().Get("user") },
		AuthorizeJoin: func(ctx context.Context, c *events.EventConn, j events.JoinRequest) error {
			mu.Lock()
			asked = append(asked, j)
			mu.Unlock()
			var p struct {
				Token string `json:"token"`
			}
			j.Event.Decode(&p) //nolint:errcheck // a bare room name has no token
			switch {
			case j.Room == "vip" && p.Token != "gold":
				return events.NewError(protocol.CodeUnauthorized, "show your ticket")
			case strings.HasPrefix(j.Room, "dm:"):
				if !slices.Contains(strings.Split(j.Room, ":")[1:], j.User) {
					return errors.New("dm: " + j.User + " is not in " + j.Room)
				}
			}
			return nil
		},
	})
	ev.On("echo", func(ctx context.Context, c *events.EventConn, e *events.Event) error {
		return c.Reply(ctx, e, "echo", nil)
	})
	ev.On("message", func(ctx context.Context, c *events.EventConn, e *events.Event) error {
		_, err := c.EmitToRoom(ctx, e.Room, "message", "hi")
		return err
	})
	url := serveEvents(t, box, ev)
	const room = "dm:alice:bob"
	alice := dialEvents(t, url+"?user=alice")
	alice.send(`{"event":"join","payload":{"room":"` + room + `"},"ref":"1"}`)
	alice.until("joined")
	alice.send(`{"event":"message","room":"` + room + `","ref":"m"}`)
	alice.until("ack")

	mallory := dialEvents(t, url+"?user=mallory")
	mallory.send(`{"event":"join","payload":{"room":"` + room + `","history":true},"ref":"j"}`)
	if p := mallory.wantError("j", "forbidden"); p["error"] != "not allowed to join this room" {
		t.Errorf("refusal message %q", p["error"])
	}
	mallory.quiet("after a refused join (the room's history?)")
	if m := box.Members(room); len(m) != 1 || m[0].User() != "alice" {
		t.Errorf("members after the refusal: %v", m)
	}
	pr, err := box.Presence(context.Background(), room)
	if err != nil || len(pr) != 1 || pr[0].User != "alice" {
		t.Errorf("presence after the refusal: %v %v", pr, err)
	}
	alice.send(`{"event":"message","room":"` + room + `","ref":"m2"}`)
	alice.until("ack")
	mallory.quiet("a message to the room it was refused")

	// The hook's own code and message; an allowed join with a token.
	mallory.send(`{"event":"join","payload":{"room":"vip"},"ref":"v"}`)
	if p := mallory.wantError("v", "unauthorized"); p["error"] != "show your ticket" {
		t.Errorf("coded refusal %v", p)
	}
	mallory.send(`{"event":"join","payload":{"room":"vip","token":"gold"},"ref":"v2"}`)
	mallory.until("joined")

	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 4 || asked[1].Room != room || asked[1].User != "mallory" || asked[1].Event.Ref != "j" {
		t.Errorf("the hook was asked %+v", asked)
	}
}
