package brokertest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/websocket"
)

// Saved messages sent to a group from two nodes at once, one node
// waiting for each (Confirm) and the other not, reach the members on
// both nodes once each, in the offset order the history shows.
func testSavedFromTwoNodes(t *testing.T, c Cluster) {
	ctx := callCtx(t)
	n1, n2 := newNode(t, c.NewNode(t)), newNode(t, c.NewNode(t))
	x, y := n1.connect("", "g"), n2.connect("", "g")
	const per = 100
	var wg sync.WaitGroup
	for _, s := range []struct {
		n    *node
		name string
		opts []channels.SendOption
	}{
		{n1, "a", []channels.SendOption{channels.SaveHistory(), channels.Confirm()}},
		{n2, "b", []channels.SendOption{channels.SaveHistory()}},
	} {
		wg.Go(func() {
			for i := range per {
				if _, err := s.n.box.GroupSend(ctx, "g", s.name+strconv.Itoa(i), s.opts...); err != nil {
					t.Errorf("GroupSend %s%d: %v", s.name, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	gotX, gotY := x.readN(2*per), y.readN(2*per)
	es, top, _, err := n1.box.History(ctx, "g", nil)
	if err != nil || len(es) != 2*per {
		t.Fatalf("History: %d entries, %v; want %d", len(es), err, 2*per)
	}
	var hist []string
	for i, e := range es {
		if i > 0 && e.Position.Offset != es[i-1].Position.Offset+1 {
			t.Fatalf("history offsets %v then %v", es[i-1].Position, e.Position)
		}
		hist = append(hist, string(e.Message.Data))
	}
	if es[len(es)-1].Position != top {
		t.Errorf("history ends at %v, top %v", es[len(es)-1].Position, top)
	}
	if !slices.Equal(gotX, hist) || !slices.Equal(gotY, hist) {
		t.Fatalf("members got the saved messages in another order than the offsets':\nnode 1 %q\nnode 2 %q\nhistory %q", gotX, gotY, hist)
	}
	for _, name := range []string{"a", "b"} {
		var want, got []string
		for i := range per {
			want = append(want, name+strconv.Itoa(i))
		}
		for _, m := range hist {
			if strings.HasPrefix(m, name) {
				got = append(got, m)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("node %s's messages saved in another order than sent: %q", name, got)
		}
	}
}

// A node's messages to a group, saved and unsaved mixed and sent without
// waiting, reach every other node in the order sent. On the sending
// node, where unsaved ones are delivered at once and saved ones when the
// broker delivers them, each kind keeps its order.
func testNodeOrderKept(t *testing.T, c Cluster) {
	ctx := callCtx(t)
	n1, n2, n3 := newNode(t, c.NewNode(t)), newNode(t, c.NewNode(t)), newNode(t, c.NewNode(t))
	local, y, z := n1.connect("", "g"), n2.connect("", "g"), n3.connect("", "g")
	const total = 300
	var sent, unsaved, saved []string
	for i := range total {
		m := "u" + strconv.Itoa(i)
		var opts []channels.SendOption
		if i%3 == 0 {
			m = "s" + strconv.Itoa(i)
			opts = append(opts, channels.SaveHistory())
			saved = append(saved, m)
		} else {
			unsaved = append(unsaved, m)
		}
		sent = append(sent, m)
		if _, err := n1.box.GroupSend(ctx, "g", m, opts...); err != nil {
			t.Fatalf("GroupSend %d: %v", i, err)
		}
	}
	for i, cl := range []*client{y, z} {
		if got := cl.readN(total); !slices.Equal(got, sent) {
			t.Errorf("the member on node %d got another order than sent: %q", i+2, got)
		}
	}
	var gotU, gotS []string
	for _, m := range local.readN(total) {
		if strings.HasPrefix(m, "u") {
			gotU = append(gotU, m)
		} else {
			gotS = append(gotS, m)
		}
	}
	if !slices.Equal(gotU, unsaved) || !slices.Equal(gotS, saved) {
		t.Errorf("the sending node's member got the unsaved %q and the saved %q, out of the order sent", gotU, gotS)
	}
}

// A client that saw a group up to a position and comes back on another
// node recovers what it missed, saved from any node, with the positions
// it would have seen, and then gets the live messages after it, none
// twice.
func testRecovery(t *testing.T, c Cluster) {
	ctx := callCtx(t)
	n1, n2 := newNode(t, c.NewNode(t)), newNode(t, c.NewNode(t))
	x := n1.connect("ada", "g")
	var p [5]channels.Position
	send := func(n *node, i int) {
		t.Helper()
		if _, err := n.box.GroupSend(ctx, "g", strconv.Itoa(i), channels.SaveHistory(), channels.ReportPosition(&p[i])); err != nil {
			t.Fatalf("GroupSend %d: %v", i, err)
		}
	}
	send(n2, 0)
	send(n1, 1)
	if got := x.readN(2); !slices.Equal(got, []string{"0", "1"}) {
		t.Fatalf("live messages: %q", got)
	}
	x.conn.Close()
	send(n2, 2)
	send(n1, 3)

	y := n2.connect("ada")
	var recovered bool
	var got []channels.Position
	_, err := n2.box.JoinWithHistory(ctx, "g", y.id(), &p[1], func(es []channels.Entry, top channels.Position, ok bool) error {
		recovered = ok
		for _, e := range es {
			got = append(got, e.Position)
			if err := y.ch.Send(string(e.Message.Data)); err != nil {
				return err
			}
		}
		if top != p[3] {
			t.Errorf("JoinWithHistory: top %v, want %v", top, p[3])
		}
		return nil
	})
	if err != nil || !recovered || !slices.Equal(got, p[2:4]) {
		t.Fatalf("JoinWithHistory since %v: entries at %v, recovered %v, %v; want %v, true", p[1], got, recovered, err, p[2:4])
	}
	send(n1, 4)
	if got := y.readN(3); !slices.Equal(got, []string{"2", "3", "4"}) {
		t.Fatalf("recovered then live: %q", got)
	}
	es, _, ok, err := n1.box.History(ctx, "g", &p[3])
	if err != nil || !ok || len(es) != 1 || es[0].Position != p[4] {
		t.Errorf("History since the last but one: %d entries, complete %v, %v", len(es), ok, err)
	}
}

// SendTo reaches a channel on any node, SendToUser every channel of the
// user on every node, and both count what they reached.
func testSendToChannelAndUser(t *testing.T, c Cluster) {
	ctx := callCtx(t)
	n1, n2, n3 := newNode(t, c.NewNode(t)), newNode(t, c.NewNode(t)), newNode(t, c.NewNode(t))
	a, b := n1.connect("ada"), n2.connect("ada")
	cy, anon := n3.connect("cy"), n3.connect("")
	if err := n1.box.SendTo(ctx, cy.id(), "direct"); err != nil {
		t.Fatalf("SendTo a channel on another node: %v", err)
	}
	if err := n2.box.SendTo(ctx, anon.id(), "to anon"); err != nil {
		t.Fatalf("SendTo a channel of no user on another node: %v", err)
	}
	if err := n1.box.SendTo(ctx, "nowhere", "x"); !errors.Is(err, channels.ErrNoSuchChannel) {
		t.Errorf("SendTo an unknown channel: %v, want ErrNoSuchChannel", err)
	}
	if got := cy.read(); got != "direct" {
		t.Errorf("cy got %q", got)
	}
	if got := anon.read(); got != "to anon" {
		t.Errorf("the channel of no user got %q", got)
	}
	for _, s := range []struct {
		from  *node
		users []string
		want  int
	}{
		{n3, []string{"ada"}, 2},
		{n1, []string{"ada"}, 2},
		{n2, []string{"ada", "cy"}, 3},
		{n2, []string{"nobody"}, 0},
	} {
		n, err := s.from.box.SendToUsers(ctx, s.users, "to "+strings.Join(s.users, ","))
		if err != nil || n != s.want {
			t.Fatalf("SendToUsers(%q): %d, %v; want %d", s.users, n, err, s.want)
		}
	}
	// Sends from different nodes may arrive in any order.
	want := []string{"to ada", "to ada", "to ada,cy"}
	for i, cl := range []*client{a, b} {
		if got := cl.readN(3); !slices.Equal(slices.Sorted(slices.Values(got)), want) {
			t.Errorf("ada's device %d got %q, want %q in any order", i+1, got, want)
		}
	}
	if got := cy.read(); got != "to ada,cy" {
		t.Errorf("cy got %q", got)
	}
}

// Presence and online status are the cluster's: every node sees the
// members and users of every node, OnOnline runs once for a user's first
// channel anywhere and OnOffline once after its last.
func testPresenceAndOnline(t *testing.T, c Cluster) {
	ctx := callCtx(t)
	n1, n2, n3 := newNode(t, c.NewNode(t)), newNode(t, c.NewNode(t)), newNode(t, c.NewNode(t))
	nodes := []*node{n1, n2, n3}
	a, b, cy := n1.connect("ada", "room"), n2.connect("ada", "room"), n2.connect("cy", "room")
	expectPresence(t, ctx, n3.broker, "room",
		channels.PresenceInfo{ChannelID: a.id(), User: "ada"},
		channels.PresenceInfo{ChannelID: b.id(), User: "ada"},
		channels.PresenceInfo{ChannelID: cy.id(), User: "cy"})
	if on, err := n3.box.OnlineUsers(ctx); err != nil || !slices.Equal(on, []string{"ada", "cy"}) {
		t.Errorf("OnlineUsers: %q, %v", on, err)
	}
	eventually(t, "OnOnline for ada and cy", func() bool { return count("on:ada", nodes...) == 1 && count("on:cy", nodes...) == 1 })
	a.conn.Close()
	eventually(t, "ada's first device out of presence", func() bool { p, _ := n3.box.Presence(ctx, "room"); return len(p) == 2 })
	if on, err := n3.box.IsOnline(ctx, "ada"); err != nil || !on {
		t.Errorf("ada with a device left: IsOnline %v, %v", on, err)
	}
	b.conn.Close()
	eventually(t, "ada offline", func() bool { on, err := n1.box.IsOnline(ctx, "ada"); return err == nil && !on })
	eventually(t, "OnOffline for ada", func() bool { return count("off:ada", nodes...) == 1 })
	expectPresence(t, ctx, n1.broker, "room", channels.PresenceInfo{ChannelID: cy.id(), User: "cy"})
	if n := count("on:ada", nodes...); n != 1 {
		t.Errorf("OnOnline ran %d times for ada", n)
	}
}

// SendToChannels reaches the channels named, on every node, once each,
// and counts those it reached: not an unknown id, nor a repeated one.
func testSendToChannels(t *testing.T, c Cluster) {
	ctx := callCtx(t)
	n1, n2, n3 := newNode(t, c.NewNode(t)), newNode(t, c.NewNode(t)), newNode(t, c.NewNode(t))
	a, b := n1.connect("ada"), n2.connect("bob")
	cy, dee := n3.connect("cy"), n3.connect("")
	for _, s := range []struct {
		from *node
		to   []*client
		ids  []string
		want int
	}{
		{n1, []*client{a, b, cy, dee}, []string{a.id(), b.id(), cy.id(), dee.id()}, 4},
		{n2, []*client{cy, dee}, []string{cy.id(), "nowhere", dee.id(), cy.id()}, 2},
		{n3, nil, []string{"nowhere", "gone"}, 0},
		{n3, []*client{a}, []string{a.id()}, 1},
		{n1, nil, nil, 0},
	} {
		msg := fmt.Sprintf("to %d", len(s.ids))
		n, err := s.from.box.SendToChannels(ctx, s.ids, msg)
		if err != nil || n != s.want {
			t.Fatalf("SendToChannels(%q): %d, %v; want %d", s.ids, n, err, s.want)
		}
		for _, cl := range s.to {
			if got := cl.read(); got != msg {
				t.Errorf("channel %s got %q, want %q", cl.id(), got, msg)
			}
		}
	}
	// Nothing more came: each got one message a send, the repeated id too.
	for _, cl := range []*client{a, b, cy, dee} {
		if err := n1.box.SendTo(ctx, cl.id(), "end"); err != nil {
			t.Fatal(err)
		}
		if got := cl.read(); got != "end" {
			t.Errorf("channel %s got %q after its sends, want end", cl.id(), got)
		}
	}
	// A value is encoded for each node; invalid UTF-8 reaches no one.
	if n, err := n2.box.SendToChannels(ctx, []string{a.id(), b.id()}, map[string]int{"n": 1}); err != nil || n != 2 {
		t.Fatalf("SendToChannels of a value: %d, %v", n, err)
	}
	for _, cl := range []*client{a, b} {
		if got := cl.read(); got != `{"n":1}` {
			t.Errorf("channel %s got %q", cl.id(), got)
		}
	}
	if n, err := n1.box.SendToChannels(ctx, []string{a.id(), cy.id()}, "\xff"); !errors.Is(err, websocket.ErrInvalidUTF8) || n != 0 {
		t.Errorf("SendToChannels of invalid UTF-8: %d, %v", n, err)
	}
}
