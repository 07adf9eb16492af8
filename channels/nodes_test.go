package channels_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/channels"
)

// Two boxes sharing one MemoryBroker behave as two nodes of one cluster:
// what crosses is exactly what the Broker interface carries.
func TestTwoNodesShareABroker(t *testing.T) {
	t.Parallel()
	broker := channels.NewMemoryBroker(nil)
	defer broker.Close(ctx)
	var mu sync.Mutex
	var events []string
	rec := func(kind string) func(string) {
		return func(u string) { mu.Lock(); events = append(events, kind+":"+u); mu.Unlock() }
	}
	opts := &channels.Options{Broker: broker, OnOnline: rec("on"), OnOffline: rec("off")}
	n1 := newEnv(t, opts, nil)
	n2 := newEnv(t, opts, nil)

	a, aCh := n1.connect(query("group", "room", "user", "ada"))
	b, _ := n2.connect(query("group", "room", "user", "ada"))
	c, cCh := n2.connect(query("user", "cy"))

	// Group fan-out reaches members on both nodes; the count is local.
	if n, err := n1.box.GroupSend(ctx, "room", "hello both"); err != nil || n != 1 {
		t.Fatalf("GroupSend: %d %v", n, err)
	}
	if _, d := read(t, a); d != "hello both" {
		t.Errorf("node 1 member got %q", d)
	}
	if _, d := read(t, b); d != "hello both" {
		t.Errorf("node 2 member got %q", d)
	}
	// Except works across nodes too.
	n1.box.GroupSend(ctx, "room", "not for a", channels.Except(aCh.ID()))
	if _, d := read(t, b); d != "not for a" {
		t.Errorf("node 2 got %q", d)
	}

	// SendTo a channel that lives on the other node.
	if err := n1.box.SendTo(ctx, cCh.ID(), "direct"); err != nil {
		t.Fatal(err)
	}
	if _, d := read(t, c); d != "direct" {
		t.Errorf("remote SendTo: %q", d)
	}
	if err := n1.box.SendTo(ctx, "gone", "x"); !errors.Is(err, channels.ErrNoSuchChannel) {
		t.Errorf("SendTo unknown across nodes: %v", err)
	}

	// SendToUser reaches the user's devices on both nodes.
	if n, err := n2.box.SendToUser(ctx, "ada", "every device"); err != nil || n != 2 {
		t.Fatalf("SendToUser: %d %v", n, err)
	}
	if _, d := read(t, a); d != "every device" {
		t.Errorf("ada on node 1: %q", d)
	}
	if _, d := read(t, b); d != "every device" {
		t.Errorf("ada on node 2: %q", d)
	}

	// Presence and online users are cluster-wide; OnOnline fired once per user.
	p, _ := n2.box.Presence(ctx, "room")
	if len(p) != 2 {
		t.Errorf("presence %v", p)
	}
	if on, _ := n1.box.OnlineUsers(ctx); !slices.Equal(on, []string{"ada", "cy"}) {
		t.Errorf("online %v", on)
	}
	eventually(t, "online events", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) == 2
	})
	a.Close()
	eventually(t, "ada's node-1 device gone", func() bool { p, _ := n2.box.Presence(ctx, "room"); return len(p) == 1 })
	if on, _ := n1.box.IsOnline(ctx, "ada"); !on {
		t.Error("ada offline while her node-2 device is connected")
	}
	b.Close()
	eventually(t, "offline event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(events, "off:ada")
	})
	mu.Lock()
	got := strings.Join(events, ",")
	mu.Unlock()
	if strings.Count(got, "on:ada") != 1 || strings.Count(got, "off:ada") != 1 {
		t.Errorf("events %s: want one online and one offline for ada", got)
	}

	// History written on one node is read on the other.
	n1.box.GroupSend(ctx, "room", "kept", channels.SaveHistory())
	es, _, _, _ := n2.box.History(ctx, "room", nil)
	if len(es) != 1 || string(es[0].Message.Data) != "kept" {
		t.Errorf("history seen from node 2: %v", es)
	}
}

// plainBroker hides the MemoryBroker's PublishToChannels: a broker that
// sends to one channel a call.
type plainBroker struct{ channels.Broker }

// SendToChannels works over a broker without ChannelsPublisher too, one
// PublishToChannel a channel on another node.
func TestSendToChannelsOneCallEach(t *testing.T) {
	t.Parallel()
	mem := channels.NewMemoryBroker(nil)
	defer mem.Close(ctx)
	opts := &channels.Options{Broker: plainBroker{mem}}
	n1 := newEnv(t, opts, nil)
	n2 := newEnv(t, opts, nil)
	a, aCh := n1.connect(query())
	b, bCh := n2.connect(query())
	n, err := n1.box.SendToChannels(ctx, []string{bCh.ID(), "nowhere", aCh.ID(), bCh.ID()}, "to both")
	if err != nil || n != 2 {
		t.Fatalf("SendToChannels: %d, %v; want 2", n, err)
	}
	for i, c := range []*gws.Conn{a, b} {
		if _, d := read(t, c); d != "to both" {
			t.Errorf("node %d got %q", i+1, d)
		}
	}
}
