package client_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/channels/redisbroker"
	"github.com/switchboard-go/switchboard/consumers/client"
	"github.com/switchboard-go/switchboard/internal/redistest"
)

// Two nodes over one Redis. The client starts on node A; when A shuts
// down it moves to node B, rejoins from its position and gets what was
// said meanwhile; when Redis loses its data (FLUSHALL), the next message
// comes in a new epoch and the client is told that messages may be
// missing.
func TestClientMovesBetweenRedisNodes(t *testing.T) {
	rs := redistest.Start(t)
	redisNode := func() *server {
		return startServer(t, &server{broker: func() channels.Broker {
			b, err := redisbroker.New(&redisbroker.Options{Addr: rs.URL()})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}})
	}
	a, b := redisNode(), redisNode()

	// The client dials A while it is up, then B: what a load balancer in
	// front of both would do.
	var onB atomic.Bool
	var rec recorder
	o := rec.options(&client.Options{NetDial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		if !onB.Load() {
			if c, err := d.DialContext(ctx, network, a.addr); err == nil {
				return c, nil
			}
			onB.Store(true)
		}
		return d.DialContext(ctx, network, b.addr)
	}})
	c := client.New(a.url(), o)
	rec.onMessage(c)
	ctx := testCtx(t)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bob := connect(t, b.url(), nil)
	for _, cl := range []*client.Client{c, bob} {
		if _, err := cl.Join(ctx, "lobby", nil); err != nil {
			t.Fatal(err)
		}
	}
	say := func(text string) {
		t.Helper()
		if _, err := bob.Call(ctx, "message", map[string]string{"text": text}, client.InRoom("lobby")); err != nil {
			t.Fatal(err)
		}
	}
	say("one")
	waitFor(t, "the first message across nodes", func() bool { return len(rec.messages()) == 1 })

	a.stop()
	say("two")
	say("three")
	waitFor(t, "the move to B", func() bool { return onB.Load() && c.State() == client.StateConnected })
	waitFor(t, "what was said during the move", func() bool { return len(rec.messages()) == 3 })
	if m := rec.missedRooms(); len(m) != 0 {
		t.Fatalf("told of a loss in %v, though all was recovered", m)
	}

	if _, err := rs.Command("FLUSHALL"); err != nil {
		t.Fatal(err)
	}
	say("four")
	waitFor(t, "the message after FLUSHALL", func() bool { return len(rec.messages()) == 4 })
	waitFor(t, "the loss to be told", func() bool { return slices.Equal(rec.missedRooms(), []string{"lobby"}) })
	got := rec.messages()
	if want := []string{"one@1", "two@2", "three@3"}; !slices.Equal(got[:3], want) {
		t.Fatalf("got %v, want %v first", got, want)
	}
	if got[3][:5] != "four@" {
		t.Fatalf("got %v", got)
	}
	var shutdown bool
	rec.mu.Lock()
	for _, err := range rec.errs {
		var ce *client.CloseError
		shutdown = shutdown || errors.As(err, &ce) && ce.Code == 4000
	}
	rec.mu.Unlock()
	if !shutdown {
		t.Fatal("A's shutdown (4000) was not reported")
	}
}
