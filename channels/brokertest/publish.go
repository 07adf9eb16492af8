package brokertest

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/switchboard-go/switchboard/channels"
)

// savedOpts are the settings of the suite's saved publishes.
func savedOpts(noWait bool) channels.PublishOptions {
	return channels.PublishOptions{History: true, Size: 1000, NoWait: noWait}
}

// publishSaved publishes a saved message and waits for its position.
func publishSaved(t *testing.T, ctx context.Context, b channels.Broker, group string, msg *channels.Message) channels.Position {
	t.Helper()
	pos, err := b.Publish(ctx, group, msg, savedOpts(false))
	if err != nil {
		t.Fatalf("saved Publish to %q: %v", group, err)
	}
	return pos
}

// An unsaved message reaches the group on the other nodes, in the order
// published, and not the node that published it. Saved messages reach
// every node, the publisher's too, after the node's earlier unsaved
// ones: a saved message is the barrier after which the publisher must
// not have got its unsaved ones.
func testPublishUnsaved(t *testing.T, c Cluster, noWait bool) {
	ctx := callCtx(t)
	b1, b2 := c.NewNode(t), c.NewNode(t)
	h1, h2 := start(t, b1), start(t, b2)
	subscribe(t, ctx, b1, h1, "g")
	subscribe(t, ctx, b2, h2, "g")
	var want []string
	for i := range 3 {
		m := h1.msg("u" + strconv.Itoa(i))
		pos, err := b1.Publish(ctx, "g", m, channels.PublishOptions{NoWait: noWait})
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
		if pos != (channels.Position{}) || m.Position != (channels.Position{}) {
			t.Errorf("an unsaved Publish gave the position %v (message %v)", pos, m.Position)
		}
		want = append(want, string(m.Data))
	}
	publishSaved(t, ctx, b1, "g", h1.msg("end"))
	got := h2.await(t, groupsOf, "g", 4)
	expectTexts(t, "the other node", got, append(want, "end")...)
	for _, m := range got[:3] {
		if m.Origin != h1.id || m.Position.Offset != 0 {
			t.Errorf("an unsaved message arrived from %q at %v, want from %q unsaved", m.Origin, m.Position, h1.id)
		}
	}
	expectTexts(t, "the publishing node", h1.await(t, groupsOf, "g", 1), "end")
}

// A saved message gets the next offset of the group's epoch (the one an
// empty history showed before it), and reaches every node, the
// publisher's included, with its position, in offset order. With NoWait
// a broker may return before it knows the position: it then returns the
// zero Position.
func testPublishSaved(t *testing.T, c Cluster, noWait bool) {
	ctx := callCtx(t)
	b1, b2 := c.NewNode(t), c.NewNode(t)
	h1, h2 := start(t, b1), start(t, b2)
	subscribe(t, ctx, b1, h1, "g")
	subscribe(t, ctx, b2, h2, "g")
	_, top, _, err := b2.History(ctx, "g", nil)
	if err != nil || top.Epoch == "" {
		t.Fatalf("History of an empty group: top %v, %v; want an epoch", top, err)
	}
	opts := savedOpts(noWait)
	var want []channels.Position
	for i := range 3 {
		m := h1.msg("s" + strconv.Itoa(i))
		p := channels.Position{Offset: top.Offset + uint64(i) + 1, Epoch: top.Epoch}
		want = append(want, p)
		pos, err := b1.Publish(ctx, "g", m, opts)
		switch {
		case err != nil:
			t.Fatalf("Publish: %v", err)
		case noWait && pos == (channels.Position{}):
		case pos != p:
			t.Errorf("saved message %d at %v, want %v", i, pos, p)
		}
	}
	for _, h := range []*handler{h1, h2} {
		got := h.await(t, groupsOf, "g", 3)
		expectTexts(t, h.id, got, "s0", "s1", "s2")
		for i, m := range got {
			if m.Position != want[i] {
				t.Errorf("%s got message %d at %v, want %v", h.id, i, m.Position, want[i])
			}
		}
	}
	es, last, _, err := b2.History(ctx, "g", nil)
	if err != nil || last != want[2] || len(es) != 3 {
		t.Fatalf("History after 3 saves: %d entries, top %v, %v; want 3, top %v", len(es), last, err, want[2])
	}
}

// Every field of a message that a box sets reaches the other nodes: the
// kind and payload of text, binary and value messages (a value as its
// JSON), Except, Origin and the fields that show a position, saved or not.
func testMessageCrossesWhole(t *testing.T, c Cluster) {
	ctx := callCtx(t)
	b1, b2 := c.NewNode(t), c.NewNode(t)
	h1, h2 := start(t, b1), start(t, b2)
	subscribe(t, ctx, b1, h1, "g")
	subscribe(t, ctx, b2, h2, "g")
	payloads := []any{"text é", []byte{0, 0xff, 'b'}, map[string]any{"n": 1, "s": "v"}}
	var sent []*channels.Message
	for _, save := range []bool{false, true} {
		for _, p := range payloads {
			m := channels.NewMessage(p)
			m.Origin, m.Except = h1.id, "channel-x"
			m.OffsetField, m.EpochField = "offset", "epoch"
			opts := channels.PublishOptions{}
			if save {
				// A box encodes a saved message before it publishes it.
				if err := m.Encode(); err != nil {
					t.Fatal(err)
				}
				opts = savedOpts(false)
			}
			if _, err := b1.Publish(ctx, "g", m, opts); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			sent = append(sent, m)
		}
	}
	got := h2.await(t, groupsOf, "g", len(sent))
	for i, m := range got {
		w := sent[i]
		if err := m.Encode(); err != nil {
			t.Errorf("message %d: Encode: %v", i, err)
		}
		if err := w.Encode(); err != nil {
			t.Fatal(err)
		}
		if m.Kind != w.Kind || !bytes.Equal(m.Data, w.Data) || m.Origin != w.Origin || m.Except != w.Except ||
			m.OffsetField != w.OffsetField || m.EpochField != w.EpochField {
			t.Errorf("message %d arrived as kind %d %q origin %q except %q fields %q %q; sent kind %d %q origin %q except %q fields %q %q",
				i, m.Kind, m.Data, m.Origin, m.Except, m.OffsetField, m.EpochField,
				w.Kind, w.Data, w.Origin, w.Except, w.OffsetField, w.EpochField)
		}
		if (i >= len(payloads)) != (m.Position.Offset != 0) {
			t.Errorf("message %d arrived at %v", i, m.Position)
		}
	}
}

// PublishToChannel reaches the channel on the other node that holds it,
// a channel of no user too; a channel no other node holds (unknown,
// gone, or on the publishing node, which delivers to it itself) is
// ErrNoSuchChannel.
func testPublishToChannel(t *testing.T, c Cluster) {
	ctx := callCtx(t)
	b1, b2, b3 := c.NewNode(t), c.NewNode(t), c.NewNode(t)
	h1, h2, h3 := start(t, b1), start(t, b2), start(t, b3)
	h1.hold(t, ctx, b1, "c1", "")
	h2.hold(t, ctx, b2, "c2", "ada")
	h3.hold(t, ctx, b3, "c3", "")
	if err := b1.PublishToChannel(ctx, "c2", h1.msg("to c2")); err != nil {
		t.Fatalf("PublishToChannel to a channel on another node: %v", err)
	}
	if err := b1.PublishToChannel(ctx, "c3", h1.msg("to c3")); err != nil {
		t.Fatalf("PublishToChannel to a channel of no user: %v", err)
	}
	expectTexts(t, "c2", h2.await(t, channelsOf, "c2", 1), "to c2")
	expectTexts(t, "c3", h3.await(t, channelsOf, "c3", 1), "to c3")
	for _, id := range []string{"nowhere", "c1"} {
		if err := b1.PublishToChannel(ctx, id, h1.msg("to "+id)); !errors.Is(err, channels.ErrNoSuchChannel) {
			t.Errorf("PublishToChannel(%q) from %s: %v, want ErrNoSuchChannel", id, h1.id, err)
		}
	}
	// c1's node gets only what another node sends it.
	if err := b2.PublishToChannel(ctx, "c1", h2.msg("from h2")); err != nil {
		t.Fatalf("PublishToChannel to c1 from another node: %v", err)
	}
	expectTexts(t, "c1", h1.await(t, channelsOf, "c1", 1), "from h2")
	h2.drop(t, ctx, b2, "c2")
	if err := b1.PublishToChannel(ctx, "c2", h1.msg("late")); !errors.Is(err, channels.ErrNoSuchChannel) {
		t.Errorf("PublishToChannel to a channel that disconnected: %v, want ErrNoSuchChannel", err)
	}
}

// PublishToUser reaches the user's channels on the other nodes, once per
// node, and counts those channels.
func testPublishToUser(t *testing.T, c Cluster) {
	ctx := callCtx(t)
	b1, b2, b3 := c.NewNode(t), c.NewNode(t), c.NewNode(t)
	h1, h2, h3 := start(t, b1), start(t, b2), start(t, b3)
	h1.hold(t, ctx, b1, "a1", "ada")
	h2.hold(t, ctx, b2, "a2", "ada")
	h2.hold(t, ctx, b2, "a3", "ada")
	h3.hold(t, ctx, b3, "a4", "ada")
	h3.hold(t, ctx, b3, "b1", "bo")
	count := func(b channels.Broker, from *handler, user string, want int) {
		t.Helper()
		n, err := b.PublishToUser(ctx, user, from.msg("to "+user+" from "+from.id))
		if err != nil || n != want {
			t.Fatalf("PublishToUser(%q) from %s: %d, %v; want %d", user, from.id, n, err, want)
		}
	}
	count(b1, h1, "ada", 3)
	count(b1, h1, "nobody", 0)
	count(b1, h1, "bo", 1)
	expectTexts(t, "ada's node 2", h2.await(t, usersOf, "ada", 1), "to ada from "+h1.id)
	expectTexts(t, "ada's node 3", h3.await(t, usersOf, "ada", 1), "to ada from "+h1.id)
	expectTexts(t, "bo's node", h3.await(t, usersOf, "bo", 1), "to bo from "+h1.id)
	// The publishing node gets only what another node sends.
	count(b2, h2, "ada", 2)
	expectTexts(t, "ada's node 1", h1.await(t, usersOf, "ada", 1), "to ada from "+h2.id)
	h3.drop(t, ctx, b3, "a4")
	count(b1, h1, "ada", 2)
}

// A node receives a group's messages once Subscribe returns, and again
// after it unsubscribed and subscribed anew. (A broker may go on
// delivering a group to a node that unsubscribed: its box has no members
// there and drops them.)
func testSubscribeUnsubscribe(t *testing.T, c Cluster) {
	ctx := callCtx(t)
	b1, b2 := c.NewNode(t), c.NewNode(t)
	h1, h2 := start(t, b1), start(t, b2)
	subscribe(t, ctx, b2, h2, "g")
	if _, err := b1.Publish(ctx, "g", h1.msg("first"), channels.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	expectTexts(t, "the subscribed node", h2.await(t, groupsOf, "g", 1), "first")
	if err := b2.Unsubscribe(ctx, h2, "g"); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	subscribe(t, ctx, b2, h2, "g")
	if _, err := b1.Publish(ctx, "g", h1.msg("again"), channels.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a message after subscribing again", func() bool {
		got := texts(h2.got(groupsOf, "g"))
		return len(got) > 0 && got[len(got)-1] == "again"
	})
}
