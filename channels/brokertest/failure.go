package brokertest

import (
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/websocket"
)

// killTimeout bounds the wait for a dead node's entries to expire.
const killTimeout = 30 * time.Second

// A node that dies without cleaning up drops out of the cluster: its
// users go offline (OnOffline runs once, on a live node), its members
// leave presence (OnPresenceGone runs on the live node with members of
// the group), and its channels cannot be reached.
func testNodeKilled(t *testing.T, c Cluster) {
	k, ok := c.(Killer)
	if !ok {
		t.Skip("brokertest: the cluster cannot kill a node (it does not implement Killer)")
	}
	ctx := callCtx(t)
	b2 := c.NewNode(t)
	n1, n2 := newNode(t, c.NewNode(t)), newNode(t, b2)
	x := n1.connect("bo", "room")
	y := n2.connect("ada", "room")
	n2.connect("cy")
	expectPresence(t, ctx, n1.broker, "room",
		channels.PresenceInfo{ChannelID: y.id(), User: "ada"},
		channels.PresenceInfo{ChannelID: x.id(), User: "bo"})
	k.Kill(t, b2)
	eventuallyWithin(t, "the dead node's users offline", killTimeout, func() bool {
		on, err := n1.box.OnlineUsers(ctx)
		return err == nil && slices.Equal(on, []string{"bo"})
	})
	eventuallyWithin(t, "the dead node's members out of presence", killTimeout, func() bool {
		p, err := n1.box.Presence(ctx, "room")
		return err == nil && len(p) == 1 && p[0].ChannelID == x.id()
	})
	eventuallyWithin(t, "OnOffline and OnPresenceGone on the live node", killTimeout, func() bool {
		return count("off:ada", n1) == 1 && count("off:cy", n1) == 1 && count("gone:room:ada", n1) == 1
	})
	for _, u := range []string{"ada", "cy"} {
		if on, err := n1.box.IsOnline(ctx, u); err != nil || on {
			t.Errorf("IsOnline(%s) after its node died: %v, %v", u, on, err)
		}
	}
	if err := n1.box.SendTo(ctx, y.id(), "x"); !errors.Is(err, channels.ErrNoSuchChannel) {
		t.Errorf("SendTo a channel of the dead node: %v, want ErrNoSuchChannel", err)
	}
	if n := count("off:bo", n1) + count("gone:room:bo", n1); n > 0 {
		t.Errorf("the live node's user was reported gone")
	}
}

// While the server is unreachable, calls fail with errors that match
// channels.ErrBrokerUnavailable and carry close code 1013; those that
// need the server's answer fail, the others may succeed (a broker may
// queue them). Once it is back, the cluster works again by itself.
func testOutage(t *testing.T, c Cluster) {
	cut, ok := c.(Cutter)
	if !ok {
		t.Skip("brokertest: the cluster cannot make its server unreachable (it does not implement Cutter)")
	}
	ctx := callCtx(t)
	b1, b2 := c.NewNode(t), c.NewNode(t)
	h1, h2 := start(t, b1), start(t, b2)
	subscribe(t, ctx, b2, h2, "g")
	h1.hold(t, ctx, b1, "c1", "ada")
	h2.hold(t, ctx, b2, "c2", "bo")
	if err := b1.AddPresence(ctx, "g", channels.PresenceInfo{ChannelID: "c1", User: "ada"}); err != nil {
		t.Fatal(err)
	}
	publishSaved(t, ctx, b1, "g", h1.msg("before"))
	h2.await(t, groupsOf, "g", 1)

	cut.Cut(t)
	restored := false
	defer func() {
		if !restored {
			cut.Restore(t)
		}
	}()
	msg := func() *channels.Message { return h1.msg("during") }
	calls := []struct {
		name string
		must bool // the call cannot succeed without the server
		call func() error
	}{
		{"Publish saved", true, func() error { _, err := b1.Publish(ctx, "g", msg(), savedOpts(false)); return err }},
		{"Publish", false, func() error { _, err := b1.Publish(ctx, "g", msg(), channels.PublishOptions{}); return err }},
		{"Publish NoWait", false, func() error {
			_, err := b1.Publish(ctx, "g", msg(), channels.PublishOptions{NoWait: true})
			return err
		}},
		{"Publish saved NoWait", false, func() error { _, err := b1.Publish(ctx, "g", msg(), savedOpts(true)); return err }},
		{"PublishToChannel", false, func() error { return b1.PublishToChannel(ctx, "c2", msg()) }},
		{"PublishToUser", false, func() error { _, err := b1.PublishToUser(ctx, "bo", msg()); return err }},
		{"Subscribe", false, func() error { return b1.Subscribe(ctx, h1, "other") }},
		{"History", true, func() error { _, _, _, err := b1.History(ctx, "g", nil); return err }},
		{"FlushHistory", false, func() error { return b1.FlushHistory(ctx, "other") }},
		{"AddPresence", false, func() error {
			return b1.AddPresence(ctx, "g", channels.PresenceInfo{ChannelID: "c3", User: "cy"})
		}},
		{"Presence", true, func() error { _, err := b1.Presence(ctx, "g"); return err }},
		{"Connected", false, func() error { _, err := b1.Connected(ctx, h1, "c4", "dee"); return err }},
		{"IsOnline", true, func() error { _, err := b1.IsOnline(ctx, "bo"); return err }},
		{"OnlineUsers", true, func() error { _, err := b1.OnlineUsers(ctx); return err }},
	}
	for _, call := range calls {
		err := call.call()
		switch {
		case err == nil && call.must:
			t.Errorf("%s with the server unreachable succeeded", call.name)
		case err == nil:
		case !errors.Is(err, channels.ErrBrokerUnavailable):
			t.Errorf("%s with the server unreachable: %v, which does not match ErrBrokerUnavailable", call.name, err)
		case websocket.CloseStatus(err) != websocket.StatusTryAgainLater:
			t.Errorf("%s with the server unreachable: %v carries no close %d", call.name, err, websocket.StatusTryAgainLater)
		}
	}

	cut.Restore(t)
	restored = true
	// A saved message published once the server answers reaches the
	// node that was subscribed before the outage.
	var pos channels.Position
	eventually(t, "a saved publish after the outage", func() bool {
		var err error
		pos, err = b1.Publish(ctx, "g", h1.msg("after"), savedOpts(false))
		return err == nil
	})
	eventually(t, "the saved message after the outage on the other node", func() bool {
		return slices.ContainsFunc(h2.got(groupsOf, "g"), func(m *channels.Message) bool { return m.Position == pos })
	})
	eventually(t, "presence after the outage", func() bool {
		p, err := b2.Presence(ctx, "g")
		return err == nil && slices.Contains(p, channels.PresenceInfo{ChannelID: "c1", User: "ada"})
	})
}

// A box that closes takes its channels out of the cluster: the other
// nodes no longer see them in presence or its users online, and the
// closing box runs OnOffline for them.
func testBoxClose(t *testing.T, c Cluster) {
	ctx := callCtx(t)
	n1, n2 := newNode(t, c.NewNode(t)), newNode(t, c.NewNode(t))
	x, y := n1.connect("ada", "g"), n2.connect("bo", "g")
	// The client answers the close while the box waits for it.
	closed := make(chan error, 1)
	go func() { closed <- n1.box.Close(ctx) }()
	if code := x.closed(); code != int(websocket.StatusShutdown) {
		t.Errorf("the closed box's client got close %d, want %d", code, websocket.StatusShutdown)
	}
	if err := <-closed; err != nil {
		t.Fatalf("box.Close: %v", err)
	}
	expectPresence(t, ctx, n2.broker, "g", channels.PresenceInfo{ChannelID: y.id(), User: "bo"})
	if on, err := n2.box.OnlineUsers(ctx); err != nil || !slices.Equal(on, []string{"bo"}) {
		t.Errorf("OnlineUsers after a box closed: %q, %v", on, err)
	}
	if n := count("off:ada", n1); n != 1 {
		t.Errorf("OnOffline ran %d times for the closed box's user", n)
	}
	if _, err := n2.box.GroupSend(ctx, "g", "still here", channels.SaveHistory(), channels.Confirm()); err != nil {
		t.Fatalf("GroupSend on the other node: %v", err)
	}
	if got := y.read(); got != "still here" {
		t.Errorf("the other node's member got %q", got)
	}
}

// A broker that closes right after a box sent messages without waiting
// still delivers them, in order; where the nodes have brokers of their
// own, the others go on working.
func testBrokerClose(t *testing.T, c Cluster) {
	ctx := callCtx(t)
	b1, b2 := c.NewNode(t), c.NewNode(t)
	n1, n2 := newNode(t, b1), newNode(t, b2)
	n1.connect("ada", "g")
	y := n2.connect("bo", "g")
	var sent []string
	for i := range 200 {
		m := strconv.Itoa(i)
		var opts []channels.SendOption
		if i%2 == 0 {
			opts = append(opts, channels.SaveHistory())
		}
		if _, err := n1.box.GroupSend(ctx, "g", m, opts...); err != nil {
			t.Fatalf("GroupSend %d: %v", i, err)
		}
		sent = append(sent, m)
	}
	if err := b1.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := y.readN(len(sent)); !slices.Equal(got, sent) {
		t.Fatalf("the other node got %q, want %q", got, sent)
	}
	if _, err := n1.box.GroupSend(ctx, "g", "late"); !errors.Is(err, channels.ErrBrokerClosed) {
		t.Errorf("GroupSend over a closed broker: %v, want ErrBrokerClosed", err)
	}
	if b1 == b2 {
		t.Log("brokertest: the nodes share one broker; the others' work after it closed is not checked")
		return
	}
	if _, err := n2.box.GroupSend(ctx, "g", "after", channels.SaveHistory(), channels.Confirm()); err != nil {
		t.Fatalf("GroupSend on a node whose broker is open: %v", err)
	}
	if got := y.read(); got != "after" {
		t.Errorf("after the other broker closed: %q", got)
	}
}
