package brokertest

import (
	"cmp"
	"context"
	"slices"
	"testing"

	"github.com/switchboard-go/switchboard/channels"
)

// sortPresence sorts presence entries by user, then channel id.
func sortPresence(p []channels.PresenceInfo) []channels.PresenceInfo {
	slices.SortFunc(p, func(a, b channels.PresenceInfo) int {
		return cmp.Or(cmp.Compare(a.User, b.User), cmp.Compare(a.ChannelID, b.ChannelID))
	})
	return p
}

// expectPresence fails the test unless the group's presence, read on b,
// holds want, in any order.
func expectPresence(t *testing.T, ctx context.Context, b channels.Broker, group string, want ...channels.PresenceInfo) {
	t.Helper()
	got, err := b.Presence(ctx, group)
	if err != nil {
		t.Fatalf("Presence(%q): %v", group, err)
	}
	if !slices.Equal(sortPresence(got), sortPresence(want)) {
		t.Fatalf("Presence(%q): %v, want %v", group, got, want)
	}
}

// Presence lists a group's members added on every node, once each
// however often they were added, with or without a user, until they are
// removed; groups do not share members.
func testPresence(t *testing.T, c Cluster) {
	ctx := callCtx(t)
	b1, b2, b3 := c.NewNode(t), c.NewNode(t), c.NewNode(t)
	ada := channels.PresenceInfo{ChannelID: "c1", User: "ada"}
	anon := channels.PresenceInfo{ChannelID: "c2"}
	bo := channels.PresenceInfo{ChannelID: "c3", User: "bo"}
	add := func(b channels.Broker, group string, p channels.PresenceInfo) {
		t.Helper()
		if err := b.AddPresence(ctx, group, p); err != nil {
			t.Fatalf("AddPresence(%q, %v): %v", group, p, err)
		}
	}
	expectPresence(t, ctx, b3, "g")
	add(b1, "g", ada)
	add(b2, "g", anon)
	add(b2, "g", bo)
	add(b2, "g", bo)
	add(b1, "other", ada)
	expectPresence(t, ctx, b3, "g", ada, anon, bo)
	expectPresence(t, ctx, b3, "other", ada)
	if err := b2.RemovePresence(ctx, "g", anon.ChannelID); err != nil {
		t.Fatalf("RemovePresence: %v", err)
	}
	if err := b2.RemovePresence(ctx, "g", "never-added"); err != nil {
		t.Errorf("RemovePresence of a channel never added: %v", err)
	}
	expectPresence(t, ctx, b3, "g", ada, bo)
	if err := b1.RemovePresence(ctx, "g", ada.ChannelID); err != nil {
		t.Fatalf("RemovePresence: %v", err)
	}
	expectPresence(t, ctx, b1, "g", bo)
	expectPresence(t, ctx, b1, "other", ada)
}

// Connected reports a user's first channel anywhere in the cluster, and
// Disconnected its last, each once; a channel of no user is neither.
func testConnectedDisconnected(t *testing.T, c Cluster) {
	ctx := callCtx(t)
	b1, b2 := c.NewNode(t), c.NewNode(t)
	h1, h2 := start(t, b1), start(t, b2)
	steps := []struct {
		b        channels.Broker
		h        *handler
		connect  bool
		id, user string
		edge     bool
		what     string
	}{
		{b1, h1, true, "a1", "ada", true, "ada's first channel"},
		{b2, h2, true, "a2", "ada", false, "ada's second channel, on another node"},
		{b1, h1, true, "n1", "", false, "a channel of no user"},
		{b2, h2, true, "b1", "bo", true, "bo's first channel"},
		{b1, h1, false, "a1", "ada", false, "ada's first channel going, the other left"},
		{b2, h2, false, "a2", "ada", true, "ada's last channel going"},
		{b2, h2, false, "a2", "ada", false, "ada's last channel going again"},
		{b1, h1, false, "n1", "", false, "the channel of no user going"},
		{b1, h1, true, "a3", "ada", true, "ada back"},
	}
	for _, s := range steps {
		var edge bool
		var err error
		if s.connect {
			edge, err = s.b.Connected(ctx, s.h, s.id, s.user)
		} else {
			edge, err = s.b.Disconnected(ctx, s.h, s.id, s.user)
		}
		if err != nil || edge != s.edge {
			t.Fatalf("%s: %v, %v; want %v", s.what, edge, err, s.edge)
		}
	}
}

// IsOnline tells, on any node, whether a user has a channel on any node.
func testIsOnline(t *testing.T, c Cluster) {
	ctx := callCtx(t)
	b1, b2, b3 := c.NewNode(t), c.NewNode(t), c.NewNode(t)
	h1, h2 := start(t, b1), start(t, b2)
	online := func(want bool, what string) {
		t.Helper()
		for i, b := range []channels.Broker{b1, b2, b3} {
			if on, err := b.IsOnline(ctx, "ada"); err != nil || on != want {
				t.Fatalf("%s: IsOnline on node %d: %v, %v; want %v", what, i+1, on, err, want)
			}
		}
	}
	online(false, "before any channel")
	h1.hold(t, ctx, b1, "a1", "ada")
	online(true, "with a channel on node 1")
	h2.hold(t, ctx, b2, "a2", "ada")
	h1.drop(t, ctx, b1, "a1")
	online(true, "with a channel left on node 2")
	h2.drop(t, ctx, b2, "a2")
	online(false, "after the last channel")
}

// OnlineUsers lists, sorted, the users with a channel on any node, each
// once; a channel of no user adds none.
func testOnlineUsers(t *testing.T, c Cluster) {
	ctx := callCtx(t)
	b1, b2 := c.NewNode(t), c.NewNode(t)
	h1, h2 := start(t, b1), start(t, b2)
	expect := func(what string, want ...string) {
		t.Helper()
		for i, b := range []channels.Broker{b1, b2} {
			got, err := b.OnlineUsers(ctx)
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("%s: OnlineUsers on node %d: %q, %v; want %q", what, i+1, got, err, want)
			}
		}
	}
	expect("before any channel")
	h1.hold(t, ctx, b1, "z1", "zoe")
	h2.hold(t, ctx, b2, "a1", "ada")
	h1.hold(t, ctx, b1, "a2", "ada")
	h2.hold(t, ctx, b2, "b1", "bo")
	h1.hold(t, ctx, b1, "n1", "")
	expect("with zoe, ada twice, bo and a channel of no user", "ada", "bo", "zoe")
	h2.drop(t, ctx, b2, "b1")
	h2.drop(t, ctx, b2, "a1")
	expect("after bo left and ada closed one of two", "ada", "zoe")
}
