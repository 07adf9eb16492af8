package channels_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/websocket"
)

func TestGroupMembership(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	_, a := e.connect(nil)
	_, b := e.connect(nil)
	box := e.box

	steps := []struct {
		name string
		do   func() (string, error)
		want string
	}{
		{"a creates", func() (string, error) { r, err := box.AddToGroup(ctx, "g", a.ID()); return r.String(), err }, "group created"},
		{"b joins", func() (string, error) { r, err := box.AddToGroup(ctx, "g", b.ID()); return r.String(), err }, "channel added"},
		{"b again", func() (string, error) { r, err := box.AddToGroup(ctx, "g", b.ID()); return r.String(), err }, "already a member"},
		{"a joins h", func() (string, error) { r, err := box.AddToGroup(ctx, "h", a.ID()); return r.String(), err }, "group created"},
		{"a leaves g", func() (string, error) { r, err := box.RemoveFromGroup(ctx, "g", a.ID()); return r.String(), err }, "channel removed"},
		{"a leaves g again", func() (string, error) { r, err := box.RemoveFromGroup(ctx, "g", a.ID()); return r.String(), err }, "not a member"},
		{"b leaves last", func() (string, error) { r, err := box.RemoveFromGroup(ctx, "g", b.ID()); return r.String(), err }, "group removed"},
	}
	for _, s := range steps {
		got, err := s.do()
		if err != nil || got != s.want {
			t.Fatalf("%s: %q %v, want %q", s.name, got, err, s.want)
		}
	}
	if g := box.Groups(); !slices.Equal(g, []string{"h"}) {
		t.Errorf("Groups() = %v", g)
	}
	if g := box.GroupsOf(a.ID()); !slices.Equal(g, []string{"h"}) {
		t.Errorf("GroupsOf(a) = %v", g)
	}
	if m := box.Members("h"); len(m) != 1 || m[0] != a {
		t.Errorf("Members(h) = %v", m)
	}
	for _, bad := range []string{"", strings.Repeat("x", 257), "\xff"} {
		if _, err := box.AddToGroup(ctx, bad, a.ID()); !errors.Is(err, channels.ErrInvalidGroup) {
			t.Errorf("group %.10q: %v, want ErrInvalidGroup", bad, err)
		}
	}
	if _, err := box.AddToGroup(ctx, "g", "nope"); !errors.Is(err, channels.ErrNoSuchChannel) {
		t.Errorf("unknown channel: %v", err)
	}
}

type note struct {
	N int    `json:"n" msgpack:"n"`
	S string `json:"s" msgpack:"s"`
}

func TestGroupSendEncodesOncePerType(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	conns := map[string]*gws.Conn{}
	var sender *channels.Channel
	for _, typ := range []string{"json", "text", "bytes", "msgpack"} {
		c, ch := e.connect(query("type", typ, "group", "g"))
		conns[typ] = c
		if typ == "json" {
			sender = ch
		}
	}
	mp, _ := msgpack.Marshal(note{1, "x"})
	cases := []struct {
		payload any
		want    map[string]string // type -> frame type + data
	}{
		{"hello", map[string]string{"json": "1:hello", "text": "1:hello", "bytes": "1:hello", "msgpack": "1:hello"}},
		{[]byte{7, 8}, map[string]string{"json": "2:\x07\x08", "text": "2:\x07\x08", "bytes": "2:\x07\x08", "msgpack": "2:\x07\x08"}},
		{note{1, "x"}, map[string]string{"json": `1:{"n":1,"s":"x"}`, "text": `1:{"n":1,"s":"x"}`, "bytes": `2:{"n":1,"s":"x"}`, "msgpack": "2:" + string(mp)}},
	}
	for _, tc := range cases {
		n, err := e.box.GroupSend(ctx, "g", tc.payload)
		if err != nil || n != 4 {
			t.Fatalf("GroupSend(%v) = %d, %v", tc.payload, n, err)
		}
		for typ, c := range conns {
			ft, data := read(t, c)
			if got := fmt.Sprintf("%d:%s", ft, data); got != tc.want[typ] {
				t.Errorf("%s member got %q, want %q", typ, got, tc.want[typ])
			}
		}
	}
	// Except leaves the sender out.
	if n, _ := e.box.GroupSend(ctx, "g", "not to json", channels.Except(sender.ID())); n != 3 {
		t.Errorf("with Except: %d deliveries, want 3", n)
	}
	for typ, c := range conns {
		if typ == "json" {
			continue
		}
		read(t, c)
	}
	e.box.GroupSend(ctx, "g", "marker")
	if _, data := read(t, conns["json"]); data != "marker" {
		t.Errorf("excluded sender got %q", data)
	}
	// An unencodable value is an error, not a panic.
	if _, err := e.box.GroupSend(ctx, "g", func() {}); err == nil {
		t.Error("GroupSend of a func succeeded")
	}
}

// 1,000 channels, 100 groups. Stable members each belong to two groups,
// and one sender per group sends a numbered stream; meanwhile churners
// join, leave and disconnect at random. Every stable member must get every
// message of its groups exactly once and in order.
func TestConcurrentChurnDeliversExactlyOnceInOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 connections")
	}
	const (
		stable, churners = 600, 400
		groups, perGroup = 100, 25
	)
	e := newEnv(t, nil, &websocket.Options{MaxQueueBytes: 8 << 20})
	type member struct {
		c      *gws.Conn
		groups []string
	}
	members := make([]member, stable)
	for i := range members {
		g1, g2 := "g"+itoa(i%groups), "g"+itoa((i*7+3)%groups)
		if g1 == g2 {
			g2 = "g" + itoa((i+1)%groups)
		}
		c, _ := e.connect(query("group", g1, "group", g2))
		members[i] = member{c, []string{g1, g2}}
	}
	churn := make([]*channels.Channel, churners)
	churnConns := make([]*gws.Conn, churners)
	for i := range churn {
		churnConns[i], churn[i] = e.connect(nil)
		go func(c *gws.Conn) { // churners read and discard
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}(churnConns[i])
	}

	// Readers check the streams.
	var rwg sync.WaitGroup
	errs := make(chan error, stable)
	for _, m := range members {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			next := map[string]int{}
			for n := 0; n < 2*perGroup; n++ {
				m.c.SetReadDeadline(time.Now().Add(20 * time.Second))
				_, data, err := m.c.ReadMessage()
				if err != nil {
					errs <- fmt.Errorf("member of %v after %d messages: %v", m.groups, n, err)
					return
				}
				g, seqStr, _ := strings.Cut(string(data), ":")
				var seq int
				fmt.Sscan(seqStr, &seq)
				if !slices.Contains(m.groups, g) {
					errs <- fmt.Errorf("member of %v got a message of %s", m.groups, g)
					return
				}
				if seq != next[g] {
					errs <- fmt.Errorf("member of %v: %s message %d, want %d", m.groups, g, seq, next[g])
					return
				}
				next[g]++
			}
		}()
	}

	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 4; w++ { // churn
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ch := churn[(i*13+w*101)%churners]
				g := "g" + itoa((i*31+w)%groups)
				switch i % 5 {
				case 0, 1:
					e.box.AddToGroup(ctx, g, ch.ID())
				case 2, 3:
					e.box.RemoveFromGroup(ctx, g, ch.ID())
				case 4:
					if i%50 == 4 {
						churnConns[(i*13+w*101)%churners].Close() // disconnect
					}
					e.box.Members(g)
					e.box.GroupsOf(ch.ID())
				}
			}
		}()
	}
	var swg sync.WaitGroup
	for g := 0; g < groups; g++ { // one ordered sender per group
		swg.Add(1)
		go func() {
			defer swg.Done()
			for s := 0; s < perGroup; s++ {
				if _, err := e.box.GroupSend(ctx, "g"+itoa(g), fmt.Sprintf("g%d:%d", g, s)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	swg.Wait()
	rwg.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestSlowMemberIsEvictedOthersUnaffected(t *testing.T) {
	t.Parallel()
	const members = 1000
	// Small socket buffers, so that a client that stops reading fills its
	// queue after kilobytes rather than after loopback's megabytes.
	e := newEnvSndbuf(t, nil, &websocket.Options{MaxQueueBytes: 128 << 10, WriteTimeout: 30 * time.Second, CloseTimeout: 30 * time.Second}, 4096)
	slow, slowCh := e.connectSmallWindow(query("group", "room")) // never reads until the end
	var rwg sync.WaitGroup
	counts := make([]atomic.Int64, members-1)
	for i := 0; i < members-1; i++ {
		c, _ := e.connect(query("group", "room"))
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for {
				c.SetReadDeadline(time.Now().Add(20 * time.Second))
				_, data, err := c.ReadMessage()
				if err != nil || string(data) == "end" {
					return
				}
				counts[i].Add(1)
			}
		}()
	}
	payload := strings.Repeat("x", 1024)
	sent := 0
	for round := 0; round < 100 && len(e.box.GroupsOf(slowCh.ID())) > 0; round++ {
		// Keep the readers within 32 messages of the sender: they must
		// stay far from their own 128-message bound, the slow one not.
		for _, n := range []int{sent - 16} {
			for i := range counts {
				eventually(t, "readers keep up", func() bool { return counts[i].Load() >= int64(n) })
			}
		}
		for range 16 {
			n, err := e.box.GroupSend(ctx, "room", payload)
			if err != nil {
				t.Fatal(err)
			}
			if n < members-1 {
				t.Fatalf("send %d reached %d members", sent, n)
			}
			sent++
		}
	}
	if len(e.box.GroupsOf(slowCh.ID())) > 0 {
		t.Fatalf("the slow member is still in the group after %d sends", sent)
	}
	// The slow one, reading at last, finds the slow-consumer close.
	slowCode := make(chan int, 1)
	go func() {
		slow.SetReadDeadline(time.Now().Add(20 * time.Second))
		for {
			_, _, err := slow.ReadMessage()
			var ce *gws.CloseError
			if errors.As(err, &ce) {
				slowCode <- ce.Code
				return
			}
			if err != nil {
				slowCode <- -1
				return
			}
		}
	}()
	e.box.GroupSend(ctx, "room", "end")
	rwg.Wait()
	for i := range counts {
		if n := counts[i].Load(); n != int64(sent) {
			t.Fatalf("reader %d got %d of %d messages", i, n, sent)
		}
	}
	if code := <-slowCode; code != int(websocket.StatusSlowConsumer) {
		t.Errorf("slow member closed with %d, want %d", code, websocket.StatusSlowConsumer)
	}
}

func TestSendToChannelAndUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	lone, loneCh := e.connect(nil) // in no group
	var devices []*gws.Conn
	for range 3 {
		c, _ := e.connect(query("user", "ada"))
		devices = append(devices, c)
	}
	other, _ := e.connect(query("user", "bob"))

	if err := e.box.SendTo(ctx, loneCh.ID(), note{2, "direct"}); err != nil {
		t.Fatal(err)
	}
	if _, data := read(t, lone); data != `{"n":2,"s":"direct"}` {
		t.Errorf("SendTo: %q", data)
	}
	if err := e.box.SendTo(ctx, "no-such-id", "x"); !errors.Is(err, channels.ErrNoSuchChannel) {
		t.Errorf("SendTo unknown: %v", err)
	}
	n, err := e.box.SendToUser(ctx, "ada", "hi ada")
	if err != nil || n != 3 {
		t.Fatalf("SendToUser = %d, %v", n, err)
	}
	for _, c := range devices {
		if _, data := read(t, c); data != "hi ada" {
			t.Errorf("device got %q", data)
		}
	}
	if n, _ := e.box.SendToUsers(ctx, []string{"ada", "bob", "nobody"}, "all"); n != 4 {
		t.Errorf("SendToUsers reached %d, want 4", n)
	}
	if _, data := read(t, other); data != "all" {
		t.Errorf("bob got %q", data)
	}
	// From an HTTP handler's goroutine, or any other: the same calls.
	done := make(chan error)
	go func() { _, err := e.box.SendToUser(ctx, "bob", "from a job"); done <- err }()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, data := read(t, other); data != "from a job" {
		t.Errorf("bob got %q", data)
	}
}

func TestPresenceAndOnlineCallbacks(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var log []string
	record := func(kind string) func(string) {
		return func(u string) {
			mu.Lock()
			log = append(log, kind+":"+u)
			mu.Unlock()
		}
	}
	e := newEnv(t, &channels.Options{OnOnline: record("online"), OnOffline: record("offline")}, nil)
	logged := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(log, ",")
	}
	var conns []*gws.Conn
	for range 3 {
		c, _ := e.connect(query("user", "ada", "group", "room"))
		conns = append(conns, c)
	}
	e.connect(query("user", "bob", "group", "room"))
	eventually(t, "online events", func() bool { return logged() == "online:ada,online:bob" })
	pres, _ := e.box.Presence(ctx, "room")
	users := []string{}
	for _, p := range pres {
		users = append(users, p.User)
	}
	if !slices.Equal(users, []string{"ada", "ada", "ada", "bob"}) {
		t.Errorf("presence users %v", users)
	}
	if on, _ := e.box.OnlineUsers(ctx); !slices.Equal(on, []string{"ada", "bob"}) {
		t.Errorf("online users %v", on)
	}
	conns[0].Close()
	conns[1].Close()
	eventually(t, "two devices gone", func() bool { p, _ := e.box.Presence(ctx, "room"); return len(p) == 2 })
	if on, _ := e.box.IsOnline(ctx, "ada"); !on {
		t.Error("ada offline with one device left")
	}
	if l := logged(); l != "online:ada,online:bob" {
		t.Errorf("events too early: %s", l)
	}
	conns[2].Close()
	eventually(t, "offline event", func() bool { return logged() == "online:ada,online:bob,offline:ada" })
	if on, _ := e.box.IsOnline(ctx, "ada"); on {
		t.Error("ada online with no device")
	}
}

func TestExpiryWithFakeClock(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	e := newEnv(t, &channels.Options{Now: clock.Now, JanitorInterval: 5 * time.Millisecond}, nil)
	c, ch := e.connect(query("expires", "1m"))
	_, keep := e.connect(nil) // no expiry

	// settle lets the janitor (every 5ms) make a few passes at the
	// present time of the fake clock.
	settle := func() { time.Sleep(100 * time.Millisecond) }
	clock.Advance(50 * time.Second)
	settle()
	before := ch.WebSocket().Activity()
	c.WriteMessage(gws.TextMessage, []byte("client speaks")) // activity in
	// The server must have read it before the clock moves on (under load
	// it may take longer than a settle).
	eventually(t, "the message read", func() bool { return ch.WebSocket().Activity() != before })
	settle()
	clock.Advance(50 * time.Second) // 100s since registering, 50s since the message
	settle()
	if !ch.WebSocket().IsConnected() {
		t.Fatal("expired although a message arrived 50s ago")
	}
	e.box.SendTo(ctx, ch.ID(), "server speaks") // activity out
	read(t, c)
	settle()
	clock.Advance(50 * time.Second)
	settle()
	if !ch.WebSocket().IsConnected() {
		t.Fatal("expired although a message went out 50s ago")
	}
	clock.Advance(11 * time.Second)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err := c.ReadMessage()
	var ce *gws.CloseError
	if !errors.As(err, &ce) || ce.Code != int(websocket.StatusExpired) {
		t.Fatalf("client got %v, want close %d", err, websocket.StatusExpired)
	}
	eventually(t, "removal", func() bool { _, ok := e.box.Channel(ch.ID()); return !ok })
	if !keep.WebSocket().IsConnected() {
		t.Error("a channel without expiry was closed")
	}
}

func TestCloseAllAndClose(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &channels.Options{DrainBatch: 3, DrainJitter: 5 * time.Millisecond}, nil)
	var conns []*gws.Conn
	for range 5 {
		c, _ := e.connect(query("group", "g"))
		conns = append(conns, c)
	}
	if err := e.box.CloseAll(ctx, websocket.StatusTryAgainLater, "maintenance"); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := c.ReadMessage()
		var ce *gws.CloseError
		if !errors.As(err, &ce) || ce.Code != 1013 || ce.Text != "maintenance" {
			t.Fatalf("got %v", err)
		}
		// Exactly one close frame: nothing follows it.
		if _, _, err := c.ReadMessage(); err == nil {
			t.Fatal("data after the close frame")
		}
	}
	if g := e.box.Groups(); len(g) != 0 {
		t.Errorf("groups left after CloseAll: %v", g)
	}

	// Close drains with the shutdown code, then refuses registrations.
	c, _ := e.connect(nil)
	go e.box.Close(ctx)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := c.ReadMessage()
	var ce *gws.CloseError
	if !errors.As(err, &ce) || ce.Code != int(websocket.StatusShutdown) {
		t.Fatalf("after Close: %v", err)
	}
	if _, err := e.box.GroupSend(ctx, "g", "x"); !errors.Is(err, channels.ErrBoxClosed) {
		t.Errorf("GroupSend after Close: %v", err)
	}
}

func TestMaxGroupsPerChannel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &channels.Options{MaxGroupsPerChannel: 2}, nil)
	_, ch := e.connect(query("group", "a", "group", "b"))
	if _, err := e.box.AddToGroup(ctx, "c", ch.ID()); !errors.Is(err, channels.ErrTooManyGroups) {
		t.Errorf("third group: %v, want ErrTooManyGroups", err)
	}
	if res, err := e.box.AddToGroup(ctx, "a", ch.ID()); res != channels.AlreadyMember || err != nil {
		t.Errorf("a group it is in: %v %v", res, err)
	}
	e.box.RemoveFromGroup(ctx, "b", ch.ID())
	if _, err := e.box.AddToGroup(ctx, "c", ch.ID()); err != nil {
		t.Errorf("after leaving one: %v", err)
	}
}
