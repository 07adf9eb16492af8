package brokertest

import (
	"context"
	"errors"
	"testing"

	"github.com/switchboard-go/switchboard/channels"
)

// A node that stopped gets nothing more; another node on the same
// broker goes on getting its messages. (That one is the barrier: what
// the stopped node would have got comes before.)
func testStartStop(t *testing.T, c Cluster) {
	ctx := callCtx(t)
	b1, b2 := c.NewNode(t), c.NewNode(t)
	h1 := start(t, b1)
	stopped, other := newHandler(), start(t, b2)
	if err := b2.Start(stopped); err != nil {
		t.Fatalf("Start: %v", err)
	}
	subscribe(t, ctx, b2, stopped, "g")
	subscribe(t, ctx, b2, other, "g")
	stopped.hold(t, ctx, b2, "s1", "ada")
	other.hold(t, ctx, b2, "o1", "ada")
	b2.Stop(stopped)
	if _, err := b1.Publish(ctx, "g", h1.msg("unsaved"), channels.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	publishSaved(t, ctx, b1, "g", h1.msg("saved"))
	if err := b1.PublishToChannel(ctx, "s1", h1.msg("to s1")); err != nil && !errors.Is(err, channels.ErrNoSuchChannel) {
		t.Fatalf("PublishToChannel to a stopped node's channel: %v", err)
	}
	if _, err := b1.PublishToUser(ctx, "ada", h1.msg("to ada")); err != nil {
		t.Fatal(err)
	}
	if err := b1.PublishToChannel(ctx, "o1", h1.msg("to o1")); err != nil {
		t.Fatal(err)
	}
	expectTexts(t, "the running node", other.await(t, groupsOf, "g", 2), "unsaved", "saved")
	expectTexts(t, "the running node's user", other.await(t, usersOf, "ada", 1), "to ada")
	expectTexts(t, "the running node's channel", other.await(t, channelsOf, "o1", 1), "to o1")
	stopped.mu.Lock()
	defer stopped.mu.Unlock()
	if n := len(stopped.groups) + len(stopped.chans) + len(stopped.users); n > 0 {
		t.Errorf("a stopped node got %d messages", n)
	}
}

// A broker serves any number of nodes (boxes): two on one broker reach
// each other as they reach a node on another broker, and one that
// unsubscribes from a group does not take the group from the other.
func testBoxesSharingABroker(t *testing.T, c Cluster) {
	ctx := callCtx(t)
	b, b2 := c.NewNode(t), c.NewNode(t)
	ha, hb, hc := start(t, b), start(t, b), start(t, b2)
	subscribe(t, ctx, b, ha, "g")
	subscribe(t, ctx, b, hb, "g")
	subscribe(t, ctx, b2, hc, "g")
	if _, err := b.Publish(ctx, "g", ha.msg("unsaved"), channels.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	publishSaved(t, ctx, b, "g", hb.msg("saved"))
	expectTexts(t, "the publisher's neighbour", hb.await(t, groupsOf, "g", 2), "unsaved", "saved")
	expectTexts(t, "the node on the other broker", hc.await(t, groupsOf, "g", 2), "unsaved", "saved")
	expectTexts(t, "the publisher", ha.await(t, groupsOf, "g", 1), "saved")

	ha.hold(t, ctx, b, "a1", "ada")
	hb.hold(t, ctx, b, "b1", "ada")
	hc.hold(t, ctx, b2, "c1", "ada")
	if err := b.PublishToChannel(ctx, "b1", ha.msg("to b1")); err != nil {
		t.Fatalf("PublishToChannel to the neighbour's channel: %v", err)
	}
	expectTexts(t, "the neighbour's channel", hb.await(t, channelsOf, "b1", 1), "to b1")
	if n, err := b.PublishToUser(ctx, "ada", ha.msg("to ada")); err != nil || n != 2 {
		t.Fatalf("PublishToUser from a box sharing its broker: %d, %v; want 2", n, err)
	}
	expectTexts(t, "ada on the neighbour", hb.await(t, usersOf, "ada", 1), "to ada")
	expectTexts(t, "ada on the other broker", hc.await(t, usersOf, "ada", 1), "to ada")

	if err := b.Unsubscribe(ctx, ha, "g"); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	if _, err := b2.Publish(ctx, "g", hc.msg("after"), channels.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	expectTexts(t, "the box still subscribed", hb.await(t, groupsOf, "g", 3), "unsaved", "saved", "after")
}

// After Close, every call fails with ErrBrokerClosed, not with an error
// that says to try again later; Close again does no harm.
func testClose(t *testing.T, c Cluster) {
	ctx := callCtx(t)
	b := c.NewNode(t)
	h := start(t, b)
	subscribe(t, ctx, b, h, "g")
	h.hold(t, ctx, b, "c1", "ada")
	if err := b.AddPresence(ctx, "g", channels.PresenceInfo{ChannelID: "c1", User: "ada"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	msg := func() *channels.Message { return h.msg("late") }
	calls := []struct {
		name string
		call func() error
	}{
		{"Start", func() error { return b.Start(newHandler()) }},
		{"Publish", func() error { _, err := b.Publish(ctx, "g", msg(), channels.PublishOptions{}); return err }},
		{"Publish NoWait", func() error {
			_, err := b.Publish(ctx, "g", msg(), channels.PublishOptions{NoWait: true})
			return err
		}},
		{"Publish saved", func() error { _, err := b.Publish(ctx, "g", msg(), savedOpts(false)); return err }},
		{"Publish saved NoWait", func() error { _, err := b.Publish(ctx, "g", msg(), savedOpts(true)); return err }},
		{"PublishToChannel", func() error { return b.PublishToChannel(ctx, "c1", msg()) }},
		{"PublishToUser", func() error { _, err := b.PublishToUser(ctx, "ada", msg()); return err }},
		{"Subscribe", func() error { return b.Subscribe(ctx, h, "other") }},
		{"Unsubscribe", func() error { return b.Unsubscribe(ctx, h, "g") }},
		{"History", func() error { _, _, _, err := b.History(ctx, "g", nil); return err }},
		{"FlushHistory", func() error { return b.FlushHistory(ctx, "g") }},
		{"AddPresence", func() error {
			return b.AddPresence(ctx, "g", channels.PresenceInfo{ChannelID: "c2", User: "bo"})
		}},
		{"RemovePresence", func() error { return b.RemovePresence(ctx, "g", "c1") }},
		{"Presence", func() error { _, err := b.Presence(ctx, "g"); return err }},
		{"Connected", func() error { _, err := b.Connected(ctx, h, "c2", "bo"); return err }},
		{"Disconnected", func() error { _, err := b.Disconnected(ctx, h, "c1", "ada"); return err }},
		{"IsOnline", func() error { _, err := b.IsOnline(ctx, "ada"); return err }},
		{"OnlineUsers", func() error { _, err := b.OnlineUsers(ctx); return err }},
	}
	for _, call := range calls {
		if err := call.call(); !errors.Is(err, channels.ErrBrokerClosed) || errors.Is(err, channels.ErrBrokerUnavailable) {
			t.Errorf("%s after Close: %v, want ErrBrokerClosed", call.name, err)
		}
	}
	b.Stop(h)
	again, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if err := b.Close(again); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}
