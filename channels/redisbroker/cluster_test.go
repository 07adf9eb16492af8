package redisbroker_test

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	gws "github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/internal/redistest"
)

// rueidis's cluster client closes the connections a topology refresh
// dropped 5s later, and delays a refresh asked for soon after another
// by up to a second, each on a goroutine of its own that outlives Close
// by at most that long.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*clusterClient)._refresh.func2"),
		goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*call).DelayDo.func1"))
}

// Three boxes, each with its own broker, against one Redis behave as one
// box: fan-out, sends to a channel or a user, presence, online users and
// their events, and history all cross nodes.
func TestThreeNodesBehaveAsOneBox(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	var rec recorder
	n1 := newNode(t, rs.URL(), nil, rec.options())
	n2 := newNode(t, rs.URL(), nil, rec.options())
	n3 := newNode(t, rs.URL(), nil, rec.options())

	a, aCh := n1.connect(query("group", "room", "user", "ada"))
	b, _ := n2.connect(query("group", "room", "user", "ada"))
	c, cCh := n3.connect(query("group", "room", "user", "cy"))
	d, dCh := n3.connect(query("user", "dee")) // in no group

	// Group fan-out reaches members on every node; the count is local.
	if n, err := n1.box.GroupSend(ctx, "room", "hello all"); err != nil || n != 1 {
		t.Fatalf("GroupSend: %d %v", n, err)
	}
	for i, conn := range []*gws.Conn{a, b, c} {
		if got := read(t, conn); got != "hello all" {
			t.Errorf("member %d got %q", i, got)
		}
	}
	// Except works across nodes, and a value is encoded for each node.
	n2.box.GroupSend(ctx, "room", map[string]int{"n": 2}, channels.Except(aCh.ID()))
	for i, conn := range []*gws.Conn{b, c} {
		if got := read(t, conn); got != `{"n":2}` {
			t.Errorf("member %d got %q", i, got)
		}
	}

	// SendTo a channel on another node; an unknown one is an error.
	if err := n1.box.SendTo(ctx, cCh.ID(), "direct"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, c); got != "direct" {
		t.Errorf("remote SendTo: %q", got)
	}
	if err := n1.box.SendTo(ctx, "gone", "x"); !errors.Is(err, channels.ErrNoSuchChannel) {
		t.Errorf("SendTo unknown across nodes: %v", err)
	}
	if err := n2.box.SendTo(ctx, dCh.ID(), "to dee"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, d); got != "to dee" {
		t.Errorf("SendTo a channel in no group: %q", got)
	}

	// SendToUser reaches every device, wherever it is.
	if n, err := n3.box.SendToUser(ctx, "ada", "every device"); err != nil || n != 2 {
		t.Fatalf("SendToUser: %d %v", n, err)
	}
	for i, conn := range []*gws.Conn{a, b} {
		if got := read(t, conn); got != "every device" {
			t.Errorf("device %d: %q", i, got)
		}
	}

	// Presence, online users and their events are cluster-wide.
	p, err := n2.box.Presence(ctx, "room")
	if err != nil || len(p) != 3 || p[0].User != "ada" || p[2].User != "cy" {
		t.Errorf("presence %v %v", p, err)
	}
	if on, _ := n1.box.OnlineUsers(ctx); !slices.Equal(on, []string{"ada", "cy", "dee"}) {
		t.Errorf("online %v", on)
	}
	eventually(t, "online events", func() bool { return rec.count("on:ada") == 1 && rec.count("on:cy") == 1 })
	a.Close()
	eventually(t, "ada's node-1 device gone", func() bool { p, _ := n3.box.Presence(ctx, "room"); return len(p) == 2 })
	if on, _ := n3.box.IsOnline(ctx, "ada"); !on {
		t.Error("ada offline while her node-2 device is connected")
	}
	b.Close()
	eventually(t, "ada offline", func() bool { return rec.count("off:ada") == 1 })
	if on, _ := n3.box.IsOnline(ctx, "ada"); on {
		t.Error("ada still online")
	}
	if rec.count("on:ada") != 1 || rec.count("off:ada") != 1 {
		t.Errorf("events %v: want one online and one offline for ada", rec.events)
	}

	// History written on one node is read on the others, with the same
	// positions.
	var pos channels.Position
	n1.box.GroupSend(ctx, "room", "kept", channels.SaveHistory(), channels.ReportPosition(&pos))
	if got := read(t, c); got != "kept" {
		t.Errorf("saved message: %q", got)
	}
	es, top, _, err := n2.box.History(ctx, "room", nil)
	if err != nil || len(es) != 1 || string(es[0].Message.Data) != "kept" || es[0].Position != pos || top != pos {
		t.Errorf("history seen from node 2: %v top %v, sent at %v (%v)", es, top, pos, err)
	}
	if es, top, _, err := n3.box.History(ctx, "room", &channels.Position{Offset: channels.PositionOnly}); err != nil || len(es) != 0 || top != pos {
		t.Errorf("position only: %d entries, top %v (%v)", len(es), top, err)
	}
}

// Saved messages published concurrently on two nodes reach every member
// on every node once each, in offset order.
func TestSavedMessagesInOffsetOrderOnEveryNode(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	n1 := newNode(t, rs.URL(), nil, nil)
	n2 := newNode(t, rs.URL(), nil, nil)
	a, _ := n1.connect(query("group", "g"))
	b, _ := n2.connect(query("group", "g"))
	const per = 200
	var wg sync.WaitGroup
	for _, n := range []*node{n1, n2} {
		wg.Go(func() {
			for i := range per {
				if _, err := n.box.GroupSend(ctx, "g", strconv.Itoa(i), channels.SaveHistory(), channels.Confirm()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	es, top, _, err := n1.box.History(ctx, "g", nil)
	if err != nil || top.Offset != 2*per {
		t.Fatalf("top %v %v", top, err)
	}
	// Every member gets all 400 in one order, the offsets' order, which
	// the history shows for its last 100 entries.
	var seqs [2][]string
	for k, conn := range []*gws.Conn{a, b} {
		for range 2 * per {
			seqs[k] = append(seqs[k], read(t, conn))
		}
	}
	if !slices.Equal(seqs[0], seqs[1]) {
		t.Error("the two nodes' members got the messages in different orders")
	}
	var want []string
	for _, e := range es {
		want = append(want, string(e.Message.Data))
	}
	if len(want) != 100 || !slices.Equal(seqs[0][2*per-100:], want) {
		t.Errorf("the last messages differ from the history's order")
	}
}

// The history in Redis is capped by count and by bytes like the memory
// one: the oldest go, the newest stay, offsets stay contiguous.
func TestHistoryCapsInRedis(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	n := newNode(t, rs.URL(), nil, &channels.Options{HistorySize: 5, HistoryMaxBytes: 1000})
	// Confirmed, so that the history is read once Redis saved them: a
	// send that does not wait may still be in the pipeline.
	for i := range 20 {
		for _, m := range []struct{ group, data string }{{"small", strconv.Itoa(i)}, {"big", strings.Repeat("x", 300) + strconv.Itoa(i)}} {
			if _, err := n.box.GroupSend(ctx, m.group, m.data, channels.SaveHistory(), channels.Confirm()); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(group string, lo, hi int) {
		t.Helper()
		es, top, _, err := n.box.History(ctx, group, nil)
		if err != nil || top.Offset != 20 || len(es) < lo || len(es) > hi {
			t.Fatalf("%s: %d entries, top %v (%v)", group, len(es), top, err)
		}
		for i, e := range es {
			if e.Position.Offset != 20-uint64(len(es)-1-i) {
				t.Errorf("%s: offsets %v", group, e.Position)
			}
		}
	}
	check("small", 5, 5) // the count cap
	check("big", 2, 3)   // 1000 bytes hold three 300-byte bodies at most
}
