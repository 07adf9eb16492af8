package events_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/consumers/events"
	"github.com/switchboard-go/switchboard/consumers/protocol"
	"github.com/switchboard-go/switchboard/router"
	"github.com/switchboard-go/switchboard/websocket"
)

func serveEvents(t *testing.T, box *channels.ChannelBox, ev *events.Events) string {
	t.Helper()
	rt := router.New()
	rt.HandleFunc("/ws", ev.Handler())
	srv := httptest.NewServer(rt)
	t.Cleanup(func() { box.Close(context.Background()); srv.Close() })
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

// A handler past its timeout cannot answer any more: one ref, one answer.
func TestLateReplyIsRefused(t *testing.T) {
	t.Parallel()
	box := channels.NewBox(nil)
	late := make(chan error, 1)
	ev := events.NewEvents(&events.EventOptions{Box: box, HandlerTimeout: 30 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	ev.On("late", func(ctx context.Context, c *events.EventConn, e *events.Event) error {
		time.Sleep(100 * time.Millisecond) // ignores ctx
		err := c.Reply(ctx, e, "late", "done")
		late <- err
		return err
	})
	ev.On("ping", func(ctx context.Context, c *events.EventConn, e *events.Event) error {
		return c.Reply(ctx, e, "pong", nil)
	})
	c := dialEvents(t, serveEvents(t, box, ev))
	c.send(`{"event":"late","ref":"1"}`)
	if got := c.recv(); got["event"] != "error" || got["ref"] != "1" {
		t.Fatalf("first answer %v", got)
	}
	if err := <-late; !errors.Is(err, events.ErrHandlerTimedOut) {
		t.Errorf("late Reply returned %v", err)
	}
	c.send(`{"event":"ping","ref":"2"}`)
	if got := c.recv(); got["event"] != "pong" || got["ref"] != "2" {
		t.Fatalf("after the late handler: %v (a second answer for ref 1?)", got)
	}
}

// Handlers that ignore ctx cannot pile up: past 8 of them the connection
// closes.
func TestLeftoverHandlersAreBounded(t *testing.T) {
	t.Parallel()
	box := channels.NewBox(nil)
	release := make(chan struct{})
	ev := events.NewEvents(&events.EventOptions{Box: box, HandlerTimeout: 5 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	ev.On("stuck", func(context.Context, *events.EventConn, *events.Event) error {
		<-release
		return nil
	})
	c := dialEvents(t, serveEvents(t, box, ev))
	defer close(release)
	for i := 0; i < 20; i++ {
		c.send(`{"event":"stuck"}`)
		c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := c.c.ReadMessage()
		var ce *gws.CloseError
		if errors.As(err, &ce) {
			if ce.Code != 1011 || i < 8 {
				t.Fatalf("closed with %d after %d stuck handlers", ce.Code, i+1)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("20 stuck handlers and the connection is still open")
}

// Malformed envelopes take tokens too.
func TestGarbageIsRateLimited(t *testing.T) {
	t.Parallel()
	_, url := startEvents(t, &events.EventOptions{RateLimit: 0.001, RateBurst: 1, MaxViolations: 3})
	c := dialEvents(t, url)
	for range 10 {
		c.send(`{}`)
		c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := c.c.ReadMessage()
		var ce *gws.CloseError
		if errors.As(err, &ce) {
			if ce.Code != int(websocket.StatusRateLimited) {
				t.Fatalf("closed with %d", ce.Code)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("10 invalid envelopes at a 0.001/s limit, still open")
}

// An override of "join" also covers its alias "joinRoom".
func TestJoinOverrideCoversAlias(t *testing.T) {
	t.Parallel()
	box := channels.NewBox(nil)
	ev := events.NewEvents(&events.EventOptions{Box: box, Logger: slog.New(slog.DiscardHandler)})
	ev.On("join", func(context.Context, *events.EventConn, *events.Event) error {
		return events.NewError(protocol.CodeForbidden, "members only")
	})
	c := dialEvents(t, serveEvents(t, box, ev))
	c.send(`{"event":"joinRoom","payload":"secret","ref":"1"}`)
	if got := c.recv(); got["event"] != "error" || jsonOf(got["payload"]) != `{"code":"forbidden","error":"members only"}` {
		t.Fatalf("joinRoom went around the join override: %v", got)
	}
}

// hookBroker runs a hook once, inside History.
type hookBroker struct {
	channels.Broker
	mu   sync.Mutex
	hook func()
}

func (b *hookBroker) History(ctx context.Context, g string, since *channels.Position) ([]channels.Entry, channels.Position, bool, error) {
	b.mu.Lock()
	h := b.hook
	b.hook = nil
	b.mu.Unlock()
	if h != nil {
		h()
	}
	return b.Broker.History(ctx, g, since)
}

// A room message published while a join reads the history reaches the
// joining client once, after "joined" and the replay, in offset order.
func TestJoinIsAtomicWithRoomMessages(t *testing.T) {
	t.Parallel()
	hb := &hookBroker{Broker: channels.NewMemoryBroker(nil)}
	box := channels.NewBox(&channels.Options{Broker: hb})
	ev := events.NewEvents(&events.EventOptions{Box: box, Logger: slog.New(slog.DiscardHandler)})
	url := serveEvents(t, box, ev)
	ctx := context.Background()
	events.EmitToRoom(ctx, box, protocol.Fields{}, "r1", "message", "m1")
	events.EmitToRoom(ctx, box, protocol.Fields{}, "r1", "message", "m2")
	_, pos, _, _ := box.History(ctx, "r1", nil)
	published := make(chan struct{})
	hb.hook = func() {
		go func() { // a concurrent publisher hits the join's window
			events.EmitToRoom(ctx, box, protocol.Fields{}, "r1", "message", "m3")
			close(published)
		}()
		time.Sleep(20 * time.Millisecond)
	}
	c := dialEvents(t, url)
	c.send(`{"event":"join","payload":{"room":"r1","since":{"epoch":"` + pos.Epoch + `","offset":1}},"ref":"1"}`)
	<-published
	var seq []string
	for range 3 {
		m := c.recv()
		seq = append(seq, jsonOf(m["event"])+":"+jsonOf(m["payload"])+":"+jsonOf(m["offset"]))
	}
	want := []string{`"joined"`, `"message":"m2":2`, `"message":"m3":3`}
	if !strings.HasPrefix(seq[0], want[0]) || seq[1] != want[1] || seq[2] != want[2] {
		t.Fatalf("got %v, want joined, m2 (replayed), m3 (live)", seq)
	}
	c.c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, data, err := c.c.ReadMessage(); err == nil {
		t.Fatalf("a fourth message: %s", data)
	}
}
