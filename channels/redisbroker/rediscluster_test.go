package redisbroker_test

import (
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"github.com/redis/rueidis"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/channels/brokertest"
	"github.com/switchboard-go/switchboard/channels/redisbroker"
	"github.com/switchboard-go/switchboard/consumers/events"
	"github.com/switchboard-go/switchboard/consumers/protocol"
	"github.com/switchboard-go/switchboard/internal/redistest"
)

// onCluster is brokers on a Redis Cluster, under a key prefix of their
// own (and so a partition table of their own).
type onCluster struct {
	addrs  []string
	prefix string
}

func (c *onCluster) NewNode(t *testing.T) channels.Broker {
	t.Helper()
	return suiteBroker(t, &redisbroker.Options{
		Cluster: c.addrs,
		Prefix:  c.prefix,
		// Short, so that a killed node's entries expire within seconds.
		PresenceTTL: 3 * time.Second,
		Logger:      slog.New(slog.DiscardHandler),
	})
}

// Kill closes the broker, as redisCluster's Kill does.
func (c *onCluster) Kill(t *testing.T, b channels.Broker) { killBroker(t, b) }

// cutCluster is onCluster on a cluster behind proxies, which it can cut.
type cutCluster struct {
	onCluster
	c *redistest.Cluster
}

func (c *cutCluster) Cut(*testing.T)     { c.c.Cut() }
func (c *cutCluster) Restore(*testing.T) { c.c.Restore() }

// The conformance suite on a Redis Cluster of 3 masters and 3 replicas,
// every subtest a cluster of nodes of its own. The outage subtest runs
// on a second Redis Cluster, behind proxies, of its own: cutting a
// cluster cuts every broker on it.
func TestConformanceRedisCluster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 1)
	cut := redistest.StartClusterBehindProxies(t, 3, 0)
	var n atomic.Int64
	brokertest.Run(t, func(t *testing.T) brokertest.Cluster {
		on := onCluster{addrs: c.Addrs(), prefix: "btc" + strconv.FormatInt(n.Add(1), 10) + ":"}
		if strings.HasSuffix(t.Name(), "/Outage") {
			on.addrs = cut.Addrs()
			return &cutCluster{onCluster: on, c: cut}
		}
		return &on
	})
}

// roomsByMaster returns, for each master of c, a room whose keys and
// channel live on it.
func roomsByMaster(t *testing.T, c *redistest.Cluster, b *redisbroker.Broker) map[string]string {
	t.Helper()
	slots := c.Slots()
	rooms := map[string]string{}
	for i := 0; len(rooms) < len(c.Masters()); i++ {
		if i == 10000 {
			t.Fatalf("no room on every master: %v", rooms)
		}
		g := "room" + strconv.Itoa(i)
		s := redisbroker.GroupSlot(b, g)
		for _, r := range slots {
			if r.Start <= s && s <= r.End && rooms[r.Master] == "" {
				rooms[r.Master] = g
			}
		}
	}
	return rooms
}

// Two nodes on a cluster behave as one box, for rooms on every master:
// group messages (saved and not) cross nodes both ways, and so do sends
// to a channel and to a user, whose records live in other slots.
func TestClusterNodesBehaveAsOneBox(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 1)
	bo := &redisbroker.Options{Cluster: c.Addrs(), Logger: slog.New(slog.DiscardHandler)}
	n1 := newNode(t, "", bo, nil)
	n2 := newNode(t, "", bo, nil)
	for master, room := range roomsByMaster(t, c, n1.broker) {
		a, aCh := n1.connect(query("group", room, "user", "ada-"+room))
		b, bCh := n2.connect(query("group", room, "user", "bo-"+room))
		if _, err := n1.box.GroupSend(ctx, room, "from 1"); err != nil {
			t.Fatal(err)
		}
		if got := read(t, b); got != "from 1" {
			t.Errorf("%s on %s: node 2 got %q", room, master, got)
		}
		if got := read(t, a); got != "from 1" {
			t.Errorf("%s on %s: node 1 got %q", room, master, got)
		}
		if _, err := n2.box.GroupSend(ctx, room, "saved from 2", channels.SaveHistory(), channels.Confirm()); err != nil {
			t.Fatal(err)
		}
		for i, conn := range []*gws.Conn{a, b} {
			if got := read(t, conn); got != "saved from 2" {
				t.Errorf("%s on %s: member %d got %q", room, master, i, got)
			}
		}
		h, _, _, err := n1.broker.History(ctx, room, nil)
		if err != nil || len(h) != 1 {
			t.Errorf("%s on %s: history %v, %v", room, master, h, err)
		}
		if err := n1.box.SendTo(ctx, bCh.ID(), "to b"); err != nil {
			t.Fatal(err)
		}
		if got := read(t, b); got != "to b" {
			t.Errorf("SendTo: %q", got)
		}
		if _, err := n2.box.SendToUser(ctx, "ada-"+room, "to ada"); err != nil {
			t.Fatal(err)
		}
		if got := read(t, a); got != "to ada" {
			t.Errorf("SendToUser: %q", got)
		}
		if err := n2.box.SendTo(ctx, aCh.ID()+"-gone", "x"); !errors.Is(err, channels.ErrNoSuchChannel) {
			t.Errorf("SendTo an unknown channel: %v", err)
		}
	}

	// Each node subscribes over one connection per master: with members
	// in a room on every master, each master has one subscribing
	// connection from each node.
	for _, m := range c.Masters() {
		if n := shardedSubscribers(t, m); n != 2 {
			t.Errorf("master %s: %d connections with sharded subscriptions, want 2 (one per node)", m, n)
		}
	}

	// A node with another number of partitions than the cluster's table
	// is refused, as are options that name a cluster and something else,
	// and a server that is not in cluster mode.
	rs := redistest.Start(t)
	for name, o := range map[string]*redisbroker.Options{
		"other partitions": {Cluster: c.Addrs(), Partitions: 64},
		"with Addr":        {Cluster: c.Addrs(), Addr: c.Addrs()[0]},
		"with Shards":      {Cluster: c.Addrs(), Shards: c.Addrs()},
		"empty address":    {Cluster: []string{""}},
		"not a cluster":    {Cluster: []string{rs.Addr()}},
	} {
		o.Logger = slog.New(slog.DiscardHandler)
		if b, err := redisbroker.New(o); err == nil {
			b.Close(ctx)
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// A master is killed while saved messages go to a room on it and to a
// room on another master, each read by a member on another node. Its
// replica takes over: every message acknowledged in the killed master's
// room reaches the member or the member is told (a close to rejoin, or a
// new epoch); the other room's member gets every acknowledged message and
// is told nothing, since nothing of its room was lost.
func TestClusterMasterKilled(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 1)
	bo := &redisbroker.Options{Cluster: c.Addrs(), Timeout: time.Second, Logger: slog.New(slog.DiscardHandler)}
	opts := &channels.Options{HistorySize: 10000}
	pub := newNode(t, "", bo, opts)
	sub := newNode(t, "", bo, opts)
	rooms := roomsByMaster(t, c, pub.broker)
	killedRoom, otherRoom := rooms[c.Masters()[0]], rooms[c.Masters()[1]]

	readers := map[string]*lossClient{}
	for _, room := range []string{killedRoom, otherRoom} {
		x := sub.events("x-" + room)
		j := x.join(room, nil)
		l := &lossClient{got: make(map[int]bool), done: make(chan struct{}), quiet: 20 * time.Second}
		l.epoch, l.last = joinedPos(j).Epoch, joinedPos(j).Offset
		readers[room] = l
		go l.read(x, room)
	}

	// Each room's publisher sends until 100 messages were acknowledged
	// after the kill, or 30s have passed; the killed room's kills its
	// master after its 100th.
	var killed atomic.Bool
	type result struct {
		acked map[int]bool
		last  int
		after int
		gap   time.Duration // the longest wait between two acknowledgements
	}
	results := map[string]*result{}
	var wg sync.WaitGroup
	for _, room := range []string{killedRoom, otherRoom} {
		r := &result{acked: map[int]bool{}}
		results[room] = r
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(30 * time.Second)
			prev := time.Now()
			for i := 1; r.after < 100 && time.Now().Before(deadline); i++ {
				var pos channels.Position
				_, err := events.EmitToRoom(ctx, pub.box, protocol.DefaultFields(), room, "message",
					map[string]any{"i": i}, channels.ReportPosition(&pos))
				if err == nil && pos.Offset != 0 {
					r.acked[i], r.last = true, i
					r.gap, prev = max(r.gap, time.Since(prev)), time.Now()
					if killed.Load() {
						r.after++
					}
				}
				if room == killedRoom && i == 100 {
					c.KillMaster(0)
					killed.Store(true)
				}
				if err != nil {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()

	for _, room := range []string{killedRoom, otherRoom} {
		r, l := results[room], readers[room]
		if r.after < 100 {
			t.Errorf("%s: only %d messages acknowledged after the kill", room, r.after)
		}
		l.mu.Lock()
		l.want = r.last
		end := l.got[r.last]
		l.mu.Unlock()
		if !end {
			<-l.done
		}
		l.mu.Lock()
		var missing []int
		for i := range r.acked {
			if !l.got[i] {
				missing = append(missing, i)
			}
		}
		told := l.told
		l.mu.Unlock()
		t.Logf("%s: acknowledged %d, missing %d, told %q; longest wait between acknowledgements %v",
			room, len(r.acked), len(missing), told, r.gap.Round(time.Millisecond))
		if len(missing) > 0 && len(told) == 0 {
			t.Errorf("%s: %d of %d acknowledged messages silently lost", room, len(missing), len(r.acked))
		}
		if room == otherRoom && (len(missing) > 0 || len(told) > 0) {
			t.Errorf("%s, on a master that stayed up: %d messages missing, told %q", room, len(missing), told)
		}
	}
}

// A room's slot moves to another master, keys and all (resharding),
// while saved messages go to it and its member on another node reads:
// the subscription follows the slot (the old master ends it with a
// sunsubscribe push; the topology check finds the new owner) and every
// acknowledged message arrives, with nothing told, since nothing was
// lost.
func TestClusterResharding(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 0)
	bo := &redisbroker.Options{Cluster: c.Addrs(), Logger: slog.New(slog.DiscardHandler)}
	opts := &channels.Options{HistorySize: 10000}
	pub := newNode(t, "", bo, opts)
	sub := newNode(t, "", bo, opts)
	room := roomsByMaster(t, c, pub.broker)[c.Masters()[0]]

	x := sub.events("x")
	j := x.join(room, nil)
	l := &lossClient{got: make(map[int]bool), done: make(chan struct{}), quiet: 10 * time.Second}
	l.epoch, l.last = joinedPos(j).Epoch, joinedPos(j).Offset
	go l.read(x, room)

	acked := map[int]bool{}
	last := 0
	for i := 1; i <= 200; i++ {
		if i == 100 {
			c.MoveSlot(redisbroker.GroupSlot(pub.broker, room), c.Masters()[1])
		}
		var pos channels.Position
		_, err := events.EmitToRoom(ctx, pub.box, protocol.DefaultFields(), room, "message",
			map[string]any{"i": i}, channels.ReportPosition(&pos))
		if err == nil && pos.Offset != 0 {
			acked[i], last = true, i
		}
	}
	if !acked[200] || len(acked) < 190 {
		t.Fatalf("acknowledged %d of 200, the last %d", len(acked), last)
	}
	l.mu.Lock()
	l.want = last
	end := l.got[last]
	l.mu.Unlock()
	if !end {
		<-l.done
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var missing []int
	for i := range acked {
		if !l.got[i] {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 || len(l.told) > 0 {
		t.Errorf("%d of %d acknowledged messages missing, told %q", len(missing), len(acked), l.told)
	}
	slots, err := c.SlotsNow(c.Masters()[1])
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range slots {
		if s := redisbroker.GroupSlot(pub.broker, room); r.Start <= s && s <= r.End && r.Master != c.Masters()[1] {
			t.Errorf("slot %d is on %s, not moved", s, r.Master)
		}
	}
}

// shardedSubscribers counts the connections to the server at addr that
// hold sharded subscriptions (CLIENT LIST's ssub field).
func shardedSubscribers(t *testing.T, addr string) int {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, ForceSingleClient: true, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out, err := c.Do(ctx, c.B().ClientList().Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(out, "\n") {
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "ssub="); ok && v != "0" {
				n++
			}
		}
	}
	return n
}
