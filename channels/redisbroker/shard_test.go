package redisbroker_test

import (
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"github.com/redis/rueidis"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/channels/redisbroker"
	"github.com/switchboard-go/switchboard/internal/redistest"
	"github.com/switchboard-go/switchboard/websocket"
)

const prefix = redisbroker.DefaultPrefix

// startShards starts n redis-servers and returns them with their URLs.
func startShards(t *testing.T, n int) ([]*redistest.Server, []string) {
	t.Helper()
	var rss []*redistest.Server
	var urls []string
	for range n {
		rs := redistest.Start(t)
		rss = append(rss, rs)
		urls = append(urls, rs.URL())
	}
	return rss, urls
}

// nameOn returns the first of base0, base1, … that lives on shard k of n.
func nameOn(t *testing.T, base string, k, n int) string {
	t.Helper()
	for i := range 1000 {
		if name := base + strconv.Itoa(i); redisbroker.ShardIndex(name, n) == k {
			return name
		}
	}
	t.Fatalf("no name %s… on shard %d of %d", base, k, n)
	return ""
}

// command runs a command on a server and fails the test on an error.
func command(t *testing.T, rs *redistest.Server, args ...string) string {
	t.Helper()
	line, err := rs.Command(args...)
	if err != nil {
		t.Fatal(err)
	}
	return line
}

// Two nodes over three shards behave as one box: groups spread over the
// shards, each group's keys on its shard only; fan-out, history and
// recovery, presence, sends to a channel and to a user, online users and
// their events all cross nodes and shards.
func TestShardsBehaveAsOneRedis(t *testing.T) {
	t.Parallel()
	rss, urls := startShards(t, 3)
	var rec recorder
	bo := &redisbroker.Options{Shards: urls}
	n1 := newNode(t, "", bo, rec.options())
	n2 := newNode(t, "", bo, rec.options())

	// Saved messages in many groups spread over every shard.
	const spread = 30
	for i := range spread {
		if _, err := n1.box.GroupSend(ctx, "spread-"+strconv.Itoa(i), "x", channels.SaveHistory(), channels.Confirm()); err != nil {
			t.Fatal(err)
		}
	}
	total := 0
	for k, rs := range rss {
		line := command(t, rs, "KEYS", prefix+"h:spread-*") // "*<count>"
		n, err := strconv.Atoi(line[1:])
		if err != nil || n == 0 {
			t.Errorf("shard %d holds %s histories of the %d groups", k, line, spread)
		}
		total += n
	}
	if total != spread {
		t.Errorf("%d histories over the shards, want %d", total, spread)
	}
	// Flushing every group reaches every shard.
	if err := n2.box.FlushHistory(ctx); err != nil {
		t.Fatal(err)
	}
	for k, rs := range rss {
		if got := command(t, rs, "KEYS", prefix+"h:spread-*"); got != "*0" {
			t.Errorf("shard %d holds %s histories after FlushHistory", k, got)
		}
	}

	// One group per shard, with a member on node 2.
	groups := make([]string, len(rss))
	for k := range rss {
		groups[k] = nameOn(t, "room-", k, len(rss))
	}
	member, _ := n2.connect(query("group", groups[0], "group", groups[1], "group", groups[2], "user", "ada"))
	for k, g := range groups {
		var first, second channels.Position
		n1.box.GroupSend(ctx, g, "one "+g, channels.SaveHistory(), channels.ReportPosition(&first))
		n1.box.GroupSend(ctx, g, "two "+g, channels.SaveHistory(), channels.ReportPosition(&second))
		for _, want := range []string{"one " + g, "two " + g} {
			if got := read(t, member); got != want {
				t.Fatalf("member on node 2 got %q, want %q", got, want)
			}
		}
		// The group's keys are on its shard and nowhere else.
		for j, rs := range rss {
			want := ":0"
			if j == k {
				want = ":3"
			}
			if got := command(t, rs, "EXISTS", prefix+"h:"+g, prefix+"m:"+g, prefix+"p:"+g); got != want {
				t.Errorf("group %s of shard %d: EXISTS on shard %d says %s", g, k, j, got)
			}
		}
		// Recovery from the first message, on the other node.
		es, top, complete, err := n2.box.History(ctx, g, &first)
		if err != nil || !complete || len(es) != 1 || string(es[0].Message.Data) != "two "+g || top != second {
			t.Errorf("history of %s since %v: %v top %v complete %v (%v)", g, first, es, top, complete, err)
		}
		if p, err := n1.box.Presence(ctx, g); err != nil || len(p) != 1 || p[0].User != "ada" {
			t.Errorf("presence of %s seen from node 1: %v (%v)", g, p, err)
		}
	}

	// Channels on node 2 until their records (whose ids are random) are
	// on every shard; the first three users are one on each shard.
	type target struct {
		conn *gws.Conn
		id   string
		user string
	}
	var targets []target
	onShard := make(map[int]bool)
	for i := 0; i < 30 && (len(onShard) < len(rss) || len(targets) < len(rss)); i++ {
		user := "more-" + strconv.Itoa(i)
		if i < len(rss) {
			user = nameOn(t, "user-", i, len(rss))
		}
		c, ch := n2.connect(query("user", user))
		targets = append(targets, target{c, ch.ID(), user})
		onShard[redisbroker.ShardIndex(ch.ID(), len(rss))] = true
	}
	if len(onShard) < len(rss) {
		t.Fatalf("channel records on %d shards only", len(onShard))
	}
	for _, tg := range targets {
		if err := n1.box.SendTo(ctx, tg.id, "to "+tg.id); err != nil {
			t.Fatalf("SendTo %s: %v", tg.id, err)
		}
		if got := read(t, tg.conn); got != "to "+tg.id {
			t.Errorf("SendTo %s: got %q", tg.id, got)
		}
		if n, err := n1.box.SendToUser(ctx, tg.user, "to "+tg.user); err != nil || n != 1 {
			t.Fatalf("SendToUser %s: %d %v", tg.user, n, err)
		}
		if got := read(t, tg.conn); got != "to "+tg.user {
			t.Errorf("SendToUser %s: got %q", tg.user, got)
		}
		if on, err := n1.box.IsOnline(ctx, tg.user); err != nil || !on {
			t.Errorf("IsOnline %s: %v %v", tg.user, on, err)
		}
	}

	// Online users are merged from every shard, each of which holds some.
	want := []string{"ada"}
	for _, tg := range targets {
		want = append(want, tg.user)
	}
	slices.Sort(want)
	if on, err := n1.box.OnlineUsers(ctx); err != nil || !slices.Equal(on, want) {
		t.Errorf("online users %v (%v), want %v", on, err, want)
	}
	for k, rs := range rss {
		if got := command(t, rs, "ZCARD", prefix+"online"); got == ":0" {
			t.Errorf("shard %d has no online users", k)
		}
	}
	eventually(t, "online events", func() bool {
		for _, u := range want {
			if rec.count("on:"+u) != 1 {
				return false
			}
		}
		return true
	})

	// Leaving goes through the record's shard and the user's.
	for _, tg := range targets {
		tg.conn.Close()
	}
	eventually(t, "every user but ada offline", func() bool {
		on, err := n1.box.OnlineUsers(ctx)
		return err == nil && slices.Equal(on, []string{"ada"})
	})
	for _, tg := range targets {
		eventually(t, "offline event of "+tg.user, func() bool { return rec.count("off:"+tg.user) == 1 })
		for k, rs := range rss {
			if got := command(t, rs, "EXISTS", prefix+"c:"+tg.id, prefix+"u:"+tg.user); got != ":0" {
				t.Errorf("shard %d keeps %s's record or %s's entries: %s", k, tg.id, tg.user, got)
			}
		}
	}
}

// shardedPair is two nodes over three shards, with a short Timeout, and
// on node 2 a member of a group of each shard and a device of a user of
// each shard.
type shardedPair struct {
	rss     []*redistest.Server
	n1, n2  *node
	groups  []string // groups[k] is on shard k
	users   []string // users[k] is on shard k
	members []*gws.Conn
	devices []*gws.Conn
}

func newShardedPair(t *testing.T) *shardedPair {
	t.Helper()
	rss, urls := startShards(t, 3)
	bo := &redisbroker.Options{Shards: urls, Timeout: 500 * time.Millisecond}
	p := &shardedPair{rss: rss, n1: newNode(t, "", bo, nil), n2: newNode(t, "", bo, nil)}
	for k := range rss {
		p.groups = append(p.groups, nameOn(t, "room-", k, len(rss)))
		p.users = append(p.users, nameOn(t, "user-", k, len(rss)))
		m, _ := p.n2.connect(query("group", p.groups[k]))
		d, _ := p.n2.connect(query("user", p.users[k]))
		p.members = append(p.members, m)
		p.devices = append(p.devices, d)
	}
	return p
}

// checkOthers checks that the groups and users of every shard but skip
// work across the nodes: sends that wait and sends that do not, history,
// sends to a user and IsOnline.
func (p *shardedPair) checkOthers(t *testing.T, skip int, when string) {
	t.Helper()
	for k, g := range p.groups {
		if k == skip {
			continue
		}
		if _, err := p.n1.box.GroupSend(ctx, g, "no wait "+g); err != nil {
			t.Fatalf("%s, a send that does not wait to %s: %v", when, g, err)
		}
		var pos channels.Position
		if _, err := p.n1.box.GroupSend(ctx, g, "saved "+g, channels.SaveHistory(), channels.ReportPosition(&pos)); err != nil {
			t.Fatalf("%s, a saved send to %s: %v", when, g, err)
		}
		for _, want := range []string{"no wait " + g, "saved " + g} {
			if got := read(t, p.members[k]); got != want {
				t.Errorf("%s, the member got %q, want %q", when, got, want)
			}
		}
		if _, top, _, err := p.n2.box.History(ctx, g, &channels.Position{Offset: channels.PositionOnly}); err != nil || top != pos {
			t.Errorf("%s, the position of %s: %v (%v), want %v", when, g, top, err, pos)
		}
		if n, err := p.n1.box.SendToUser(ctx, p.users[k], "hi"); err != nil || n != 1 {
			t.Errorf("%s, SendToUser %s: %d %v", when, p.users[k], n, err)
		} else if got := read(t, p.devices[k]); got != "hi" {
			t.Errorf("%s, SendToUser %s: %q", when, p.users[k], got)
		}
		if on, err := p.n1.box.IsOnline(ctx, p.users[k]); err != nil || !on {
			t.Errorf("%s, IsOnline %s: %v %v", when, p.users[k], on, err)
		}
	}
}

// One of three shards killed: the groups, channels and users of the two
// others keep working, calls for the dead shard's fail with errors
// matching channels.ErrBrokerUnavailable, and once it is back the dead
// shard's groups and users work again without a node restarting.
func TestShardKilled(t *testing.T) {
	t.Parallel()
	p := newShardedPair(t)
	p.checkOthers(t, -1, "before the kill")

	const dead = 1
	p.rss[dead].Kill()
	down := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, channels.ErrBrokerUnavailable) {
			t.Errorf("%s on the dead shard: %v, want an error matching channels.ErrBrokerUnavailable", what, err)
		}
	}
	_, err := p.n1.box.GroupSend(ctx, p.groups[dead], "lost", channels.SaveHistory(), channels.Confirm())
	down("a confirmed send", err)
	// Now that its pipeline knows, it refuses sends that do not wait.
	_, err = p.n1.box.GroupSend(ctx, p.groups[dead], "lost too")
	down("a send that does not wait", err)
	_, _, _, err = p.n2.box.History(ctx, p.groups[dead], nil)
	down("History", err)
	_, err = p.n2.box.Presence(ctx, p.groups[dead])
	down("Presence", err)
	_, err = p.n1.box.SendToUser(ctx, p.users[dead], "lost")
	down("SendToUser", err)
	_, err = p.n1.box.IsOnline(ctx, p.users[dead])
	down("IsOnline", err)
	_, err = p.n1.box.OnlineUsers(ctx)
	down("OnlineUsers, which needs every shard,", err)
	p.checkOthers(t, dead, "during the outage")
	// The broker reports which shard is down, for metrics.
	eventually(t, "Shards to show the dead shard down and the others up", func() bool {
		for i, st := range p.n1.broker.Shards() {
			if st.Up != (i != dead) || st.Name != strconv.Itoa(i) {
				return false
			}
		}
		return true
	})

	p.rss[dead].Restart()
	// The shard lost its group's saved messages: the group's member is
	// told to rejoin, once node 2 is back on the shard. The other groups'
	// members are not (checkOthers reads them below).
	p.members[dead].SetReadDeadline(time.Now().Add(15 * time.Second))
	for i := 0; ; i++ {
		_, _, err := p.members[dead].ReadMessage()
		if err == nil && i < 10 {
			continue
		}
		var ce *gws.CloseError
		if !asClose(err, &ce) || ce.Code != int(websocket.StatusServiceRestart) {
			t.Fatalf("the dead shard's group member after the restart: %v; want close %d", err, websocket.StatusServiceRestart)
		}
		break
	}
	eventually(t, "every shard up again", func() bool {
		return !slices.ContainsFunc(p.n1.broker.Shards(), func(st channels.ShardState) bool { return !st.Up })
	})
	rejoined, _ := p.n2.connect(query("group", p.groups[dead]))
	eventually(t, "a confirmed send to the dead shard's group", func() bool {
		_, err := p.n1.box.GroupSend(ctx, p.groups[dead], "back", channels.SaveHistory(), channels.Confirm())
		return err == nil
	})
	if got := read(t, rejoined); got != "back" {
		t.Errorf("the dead shard's group after the restart: %q", got)
	}
	// The heartbeats write back the entries the shard lost; a send that
	// finds the node's pub/sub connection to the shard not back yet
	// reaches nobody, and says so.
	eventually(t, "SendToUser to the dead shard's user", func() bool {
		n, err := p.n1.box.SendToUser(ctx, p.users[dead], "again")
		return err == nil && n == 1
	})
	if got := read(t, p.devices[dead]); got != "again" {
		t.Errorf("SendToUser after the restart: %q", got)
	}
	if on, err := p.n1.box.OnlineUsers(ctx); err != nil || len(on) != len(p.users) {
		t.Errorf("online users after the restart: %v (%v), want %v", on, err, p.users)
	}
	p.checkOthers(t, dead, "after the restart") // the dead shard's member was closed
}

// One of three shards stalled (it keeps its connections and answers
// nothing): the other shards' groups and users keep working, calls for
// the stalled shard's fail within Options.Timeout, and once it answers
// again its groups work again.
func TestShardStalled(t *testing.T) {
	t.Parallel()
	p := newShardedPair(t)
	const slow = 2
	p.rss[slow].Pause()
	t.Cleanup(p.rss[slow].Resume) // before the nodes close
	start := time.Now()
	_, err := p.n1.box.GroupSend(ctx, p.groups[slow], "late", channels.SaveHistory(), channels.Confirm())
	if !errors.Is(err, channels.ErrBrokerUnavailable) {
		t.Errorf("a confirmed send to the stalled shard: %v, want an error matching channels.ErrBrokerUnavailable", err)
	}
	if _, _, _, err := p.n1.box.History(ctx, p.groups[slow], nil); !errors.Is(err, channels.ErrBrokerUnavailable) {
		t.Errorf("History on the stalled shard: %v, want an error matching channels.ErrBrokerUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("two calls to the stalled shard took %v; the timeout is 500ms", d)
	}
	p.checkOthers(t, slow, "during the stall")

	p.rss[slow].Resume()
	eventually(t, "a confirmed send to the stalled shard's group", func() bool {
		_, err := p.n1.box.GroupSend(ctx, p.groups[slow], "back", channels.SaveHistory(), channels.Confirm())
		return err == nil
	})
	// What was written before Redis stopped answering may come first.
	for i := 0; ; i++ {
		got := read(t, p.members[slow])
		if got == "back" {
			break
		}
		if got != "late" || i > 10 {
			t.Fatalf("the stalled shard's group after the stall: %q", got)
		}
	}
}

// A group that a new shard list moves starts on its new shard with a new
// epoch: a client that rejoins from its old position is told it did not
// recover, while a group that stayed recovers.
func TestMovedGroupStartsNewEpoch(t *testing.T) {
	t.Parallel()
	_, urls := startShards(t, 4)
	n1 := newNode(t, "", &redisbroker.Options{Shards: urls[:3]}, nil)
	var moved, stayed string
	for i := 0; i < 1000 && (moved == "" || stayed == ""); i++ {
		g := "room-" + strconv.Itoa(i)
		switch from, to := redisbroker.ShardIndex(g, 3), redisbroker.ShardIndex(g, 4); {
		case to == 3 && moved == "":
			moved = g
		case to == from && stayed == "":
			stayed = g
		}
	}
	since := make(map[string]channels.Position)
	for _, g := range []string{moved, stayed} {
		for i := range 3 {
			var pos channels.Position
			if _, err := n1.box.GroupSend(ctx, g, strconv.Itoa(i), channels.SaveHistory(), channels.ReportPosition(&pos)); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				since[g] = pos
			}
		}
	}

	// The cluster restarted with a fourth shard.
	n2 := newNode(t, "", &redisbroker.Options{Shards: urls}, nil)
	_, ch := n2.connect(query())
	for _, tt := range []struct {
		group     string
		recovered bool
	}{{stayed, true}, {moved, false}} {
		pos := since[tt.group]
		var got []channels.Entry
		var top channels.Position
		recovered := !tt.recovered
		_, err := n2.box.JoinWithHistory(ctx, tt.group, ch.ID(), &pos, func(es []channels.Entry, tp channels.Position, rec bool) error {
			got, top, recovered = es, tp, rec
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if recovered != tt.recovered || (tt.recovered && (len(got) != 2 || top.Epoch != pos.Epoch)) || (!tt.recovered && top.Epoch == pos.Epoch) {
			t.Errorf("%s joined from %v: recovered %v, %d entries, top %v; want recovered %v", tt.group, pos, recovered, len(got), top, tt.recovered)
		}
		if _, _, complete, err := n2.box.History(ctx, tt.group, &pos); err != nil || complete != tt.recovered {
			t.Errorf("history of %s from %v: complete %v (%v), want %v", tt.group, pos, complete, err, tt.recovered)
		}
	}
}

// One shard is the single server: the same keys, with the same names.
func TestOneShardIsOneServer(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	n := newNode(t, "", &redisbroker.Options{Shards: []string{rs.URL()}}, nil)
	_, ch := n.connect(query("user", "ada", "group", "g"))
	if _, err := n.box.GroupSend(ctx, "g", "x", channels.SaveHistory(), channels.Confirm()); err != nil {
		t.Fatal(err)
	}
	keys := []string{"m:g", "h:g", "p:g", "c:" + ch.ID(), "u:ada", "online"}
	for _, k := range keys {
		if got := command(t, rs, "EXISTS", prefix+k); got != ":1" {
			t.Errorf("key %s%s: EXISTS says %s", prefix, k, got)
		}
	}
	if got := command(t, rs, "DBSIZE"); got != ":"+strconv.Itoa(len(keys)) {
		t.Errorf("DBSIZE %s, want the %d keys %v", got, len(keys), keys)
	}
}

// New refuses shard lists it cannot use.
func TestShardOptions(t *testing.T) {
	t.Parallel()
	for _, o := range []redisbroker.Options{
		{Addr: "127.0.0.1:1", Shards: []string{"127.0.0.1:2"}},
		{Shards: []string{"127.0.0.1:1", ""}},
		{Shards: []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:1"}},
	} {
		if b, err := redisbroker.New(&o); err == nil || errors.Is(err, channels.ErrBrokerUnavailable) {
			if b != nil {
				b.Close(ctx) //nolint:errcheck // failing anyway
			}
			t.Errorf("New(%+v): %v, want an error about the options", o, err)
		}
	}
}

// New fails, leaving nothing running, when a shard cannot be reached.
func TestNewWithAShardDown(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	down := redistest.Start(t)
	down.Kill()
	b, err := redisbroker.New(&redisbroker.Options{
		Shards:  []string{rs.URL(), down.URL()},
		Timeout: 500 * time.Millisecond,
		// A client that probes for Redis Cluster first leaves, when the
		// server is down, a goroutine that sleeps for up to a second
		// before it gives up: too long for goleak when this test runs
		// alone.
		Configure: func(co *rueidis.ClientOption) { co.ForceSingleClient = true },
	})
	if err == nil {
		b.Close(ctx) //nolint:errcheck // failing anyway
	}
	if !errors.Is(err, channels.ErrBrokerUnavailable) {
		t.Errorf("New with a shard down: %v, want an error matching channels.ErrBrokerUnavailable", err)
	}
}
