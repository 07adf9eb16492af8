package redisbroker_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/channels/redisbroker"
	"github.com/switchboard-go/switchboard/consumers/events"
	"github.com/switchboard-go/switchboard/consumers/protocol"
	"github.com/switchboard-go/switchboard/internal/redistest"
	"github.com/switchboard-go/switchboard/websocket"
)

// eventClient speaks the event protocol to a node's /events.
type eventClient struct {
	t    testing.TB
	conn *gws.Conn
}

func (n *node) events(user string) *eventClient {
	n.t.Helper()
	c, _, err := gws.DefaultDialer.Dial(n.url+"/events?user="+user, nil)
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { c.Close() })
	return &eventClient{t: n.t, conn: c}
}

type envelope struct {
	Event   string         `json:"event"`
	Payload map[string]any `json:"payload"`
	Room    string         `json:"room"`
	Offset  uint64         `json:"offset"`
	Epoch   string         `json:"epoch"`
	Ref     string         `json:"ref"`
}

func (c *eventClient) send(v any) {
	c.t.Helper()
	if err := c.conn.WriteJSON(v); err != nil {
		c.t.Fatal(err)
	}
}

func (c *eventClient) next() envelope {
	c.t.Helper()
	e, err := c.tryNext()
	if err != nil {
		c.t.Fatal(err)
	}
	return e
}

// tryNext is next returning the read's error.
func (c *eventClient) tryNext() (envelope, error) {
	var e envelope
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := c.conn.ReadMessage()
	if err != nil {
		return e, fmt.Errorf("read: %w", err)
	}
	return e, json.Unmarshal(data, &e)
}

// join joins room (from since, when given) and returns the answer.
func (c *eventClient) join(room string, since *channels.Position) envelope {
	c.t.Helper()
	p := map[string]any{"room": room}
	if since != nil {
		p["since"] = since
	}
	c.send(map[string]any{"event": "join", "payload": p, "ref": "j"})
	e := c.next()
	if e.Event != "joined" {
		c.t.Fatalf("join answered %+v", e)
	}
	return e
}

func joinedPos(e envelope) channels.Position {
	return channels.Position{Offset: uint64(e.Payload["offset"].(float64)), Epoch: e.Payload["epoch"].(string)}
}

// emit saves a room message and waits until it is saved (as an event's
// ack would), so that emits from different nodes keep the order of the
// calls.
func emit(t testing.TB, n *node, room string, i int) {
	t.Helper()
	if _, err := events.EmitToRoom(ctx, n.box, protocol.DefaultFields(), room, "message", map[string]int{"i": i}, channels.Confirm()); err != nil {
		t.Fatalf("emit %d: %v", i, err)
	}
}

// A client that reconnects to another node recovers what it missed, with
// the offsets it would have seen; room messages from other nodes show
// their offsets too.
func TestRecoveryOnAnotherNode(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	n1 := newNode(t, rs.URL(), nil, nil)
	n2 := newNode(t, rs.URL(), nil, nil)

	x := n1.events("x")
	pos := joinedPos(x.join("r", nil))
	emit(t, n2, "r", 1) // from the other node
	if e := x.next(); e.Event != "message" || e.Room != "r" || e.Offset != pos.Offset+1 || e.Epoch != pos.Epoch || e.Payload["i"] != 1.0 {
		t.Fatalf("live message from node 2: %+v", e)
	}
	pos.Offset++
	x.conn.Close()
	emit(t, n1, "r", 2)
	emit(t, n2, "r", 3)

	y := n2.events("x")
	j := y.join("r", &pos)
	if j.Payload["recovered"] != true || joinedPos(j).Offset != pos.Offset+2 || joinedPos(j).Epoch != pos.Epoch {
		t.Fatalf("rejoin on node 2: %+v", j)
	}
	for i := 2; i <= 3; i++ {
		if e := y.next(); e.Payload["i"] != float64(i) || e.Offset != pos.Offset+uint64(i-1) || e.Epoch != pos.Epoch {
			t.Errorf("recovered message %d: %+v", i, e)
		}
	}
	emit(t, n1, "r", 4)
	if e := y.next(); e.Payload["i"] != 4.0 || e.Offset != pos.Offset+3 || e.Epoch != pos.Epoch {
		t.Errorf("live after recovery: %+v", e)
	}
}

// EmitToAll reaches the endpoint's connections on every node.
func TestEmitToAllAcrossNodes(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	n1 := newNode(t, rs.URL(), nil, nil)
	n2 := newNode(t, rs.URL(), nil, nil)
	x, y := n1.events("x"), n2.events("y")
	// Both are registered once a join is answered.
	x.join("r", nil)
	y.join("r", nil)
	x.send(map[string]any{"event": "shout", "payload": map[string]any{"text": "hi"}})
	for _, c := range []*eventClient{x, y} {
		if e := c.next(); e.Event != "shout" || e.Payload["text"] != "hi" {
			t.Errorf("shout: %+v", e)
		}
	}
}

// When the pub/sub connections break and come back while messages are
// saved, each node fills the gap from the history: members get every
// message once, in order, and are not disconnected.
func TestPubSubLossFilledFromHistory(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	n1 := newNode(t, rs.URL(), nil, nil)
	n2 := newNode(t, rs.URL(), nil, nil)
	x := n1.events("x")
	x.join("r", nil)
	const total = 300
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= total; i++ {
			emit(t, n2, "r", i)
			if i%100 == 50 {
				if _, err := rs.Command("CLIENT", "KILL", "TYPE", "pubsub"); err != nil {
					t.Error(err)
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()
	for i := 1; i <= total; i++ {
		e := x.next()
		if e.Event != "message" || e.Payload["i"] != float64(i) {
			t.Fatalf("message %d: got %+v", i, e)
		}
	}
	<-done
}

// Redis killed in the middle of a stream of messages and started again,
// empty: calls fail promptly meanwhile, the nodes reconnect by
// themselves, and a member that missed messages is closed with
// StatusServiceRestart and, rejoining, is told it did not recover.
func TestRedisKilledAndRestarted(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	bo := &redisbroker.Options{Timeout: 500 * time.Millisecond}
	n1 := newNode(t, rs.URL(), bo, nil)
	n2 := newNode(t, rs.URL(), bo, nil)
	x := n1.events("x")
	pos := joinedPos(x.join("r", nil))
	quiet, _ := n1.connect(query("user", "zed", "group", "quiet")) // a room with no saved messages
	w := n1.events("w")                                            // in the endpoint's group only
	for i := 1; i <= 20; i++ {
		emit(t, n2, "r", i)
		e := x.next()
		if e.Payload["i"] != float64(i) {
			t.Fatalf("before the kill, message %d: %+v", i, e)
		}
		pos.Offset = e.Offset
	}
	rs.Kill()
	start := time.Now()
	_, err := n2.box.GroupSend(ctx, "r", "lost", channels.SaveHistory(), channels.Confirm())
	if err == nil {
		t.Fatal("a confirmed saved send with Redis down succeeded")
	}
	// The pipeline knows now: sends that do not wait are refused at once.
	if _, err := n2.box.GroupSend(ctx, "r", "lost too", channels.SaveHistory()); !errors.Is(err, channels.ErrBrokerUnavailable) {
		t.Errorf("a send after a failed one: %v, want one matching channels.ErrBrokerUnavailable", err)
	}
	if _, err := n2.box.GroupSend(ctx, "r", "lost too"); !errors.Is(err, channels.ErrBrokerUnavailable) {
		t.Errorf("an unsaved send after a failed one: %v, want one matching channels.ErrBrokerUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a send with Redis down took %v; the timeout is 500ms", d)
	}
	if !errors.Is(err, channels.ErrBrokerUnavailable) {
		t.Errorf("a send with Redis down failed with %v, which does not match channels.ErrBrokerUnavailable", err)
	}
	t.Logf("send with Redis down failed after %v: %v", time.Since(start), err)
	rs.Restart()

	// x learns that its room's history is gone.
	readUntilRestart(t, x.conn, "x's connection")
	// Until node 2's pub/sub connection is back, a join is answered with
	// an error, or the connection is closed with StatusTryAgainLater (its
	// OnConnect could not subscribe to the endpoint's group); the client
	// tries again.
	var y *eventClient
	var j envelope
	eventually(t, "rejoin after the restart", func() bool {
		if y == nil {
			y = n2.events("x")
		}
		join := map[string]any{"event": "join", "payload": map[string]any{"room": "r", "since": pos}, "ref": "j"}
		var err error
		if err = y.conn.WriteJSON(join); err == nil {
			j, err = y.tryNext()
		}
		if err != nil {
			var ce *gws.CloseError
			if !asClose(err, &ce) || ce.Code != int(websocket.StatusTryAgainLater) {
				t.Fatalf("rejoin: %v; want an answer or close %d", err, websocket.StatusTryAgainLater)
			}
			y = nil
			return false
		}
		return j.Event == "joined"
	})
	if j.Payload["recovered"] != false || joinedPos(j).Epoch == pos.Epoch {
		t.Errorf("rejoin after data loss: %+v", j)
	}
	// What Redis lost of the nodes' connections is written back.
	eventually(t, "zed online again", func() bool { on, _ := n2.box.IsOnline(ctx, "zed"); return on })
	eventually(t, "zed in presence again", func() bool { p, _ := n2.box.Presence(ctx, "quiet"); return len(p) == 1 })
	// The cluster works again without restarting a node.
	emit(t, n1, "r", 99)
	if e := y.next(); e.Payload["i"] != 99.0 {
		t.Errorf("after the restart: %+v", e)
	}
	// Groups that never saved a message lost nothing: their members were
	// not closed (a local send reaches them at once).
	if _, err := n1.box.GroupSend(ctx, "quiet", "still here"); err != nil {
		t.Fatal(err)
	}
	quiet.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, msg, err := quiet.ReadMessage(); err != nil || string(msg) != "still here" {
		t.Errorf("the member of a room without saved messages, after the restart: %q, %v", msg, err)
	}
	w.send(map[string]any{"event": "shout", "payload": map[string]any{"n": 1}})
	if e, err := w.tryNext(); err != nil || e.Event != "shout" {
		t.Errorf("a connection in the endpoint's group only, after the restart: %+v, %v", e, err)
	}
}

// A connection made while Redis is down is closed with
// StatusTryAgainLater, not StatusInternalError: its OnConnect could not
// join the endpoint's group. Once Redis is back, connections work again.
func TestConnectDuringOutage(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	n := newNode(t, rs.URL(), &redisbroker.Options{Timeout: 500 * time.Millisecond}, nil)
	rs.Kill()
	x := n.events("x")
	_, err := x.tryNext()
	var ce *gws.CloseError
	if !asClose(err, &ce) || ce.Code != int(websocket.StatusTryAgainLater) {
		t.Fatalf("connection during the outage: %v; want close %d", err, websocket.StatusTryAgainLater)
	}
	// So is one whose plain router handler returns the box's error.
	raw, _, err := gws.DefaultDialer.Dial(n.url+"/raw?user=u&group=g", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := raw.ReadMessage(); !asClose(err, &ce) || ce.Code != int(websocket.StatusTryAgainLater) {
		t.Fatalf("a plain handler's connection during the outage: %v; want close %d", err, websocket.StatusTryAgainLater)
	}
	rs.Restart()
	eventually(t, "a connection after the outage", func() bool {
		y := n.events("y")
		defer y.conn.Close()
		if err := y.conn.WriteJSON(map[string]any{"event": "join", "payload": map[string]any{"room": "r"}, "ref": "j"}); err != nil {
			return false
		}
		e, err := y.tryNext()
		return err == nil && e.Event == "joined"
	})
}

// A join while Redis is down is answered with an error that does not
// name Redis, and leaves the connection out of the room. (Joins after the
// outage: TestConnectDuringOutage, TestRedisKilledAndRestarted.)
func TestJoinDuringOutage(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	n := newNode(t, rs.URL(), &redisbroker.Options{Timeout: 500 * time.Millisecond}, nil)
	x := n.events("x")
	x.join("warmup", nil) // connected and answering before the outage
	rs.Kill()
	x.send(map[string]any{"event": "join", "payload": map[string]any{"room": "r"}, "ref": "j"})
	e := x.next()
	if e.Event != "error" || e.Ref != "j" || e.Payload["error"] != "unavailable, try again later" {
		t.Errorf("join with Redis down answered %+v", e)
	}
	if m := n.box.Members("r"); len(m) != 0 {
		t.Errorf("%d members in the room whose join failed", len(m))
	}
}

// readUntilRestart reads c until it ends, within 15s, and fails the test
// unless it ends with websocket.StatusServiceRestart.
func readUntilRestart(t testing.TB, c *gws.Conn, what string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *gws.CloseError
		if !asClose(err, &ce) || ce.Code != int(websocket.StatusServiceRestart) {
			t.Fatalf("%s ended with %v; want close %d", what, err, websocket.StatusServiceRestart)
		}
		return
	}
}

func asClose(err error, ce **gws.CloseError) bool {
	return errors.As(err, ce)
}

// nodeEnv makes the test binary run as a node (see TestMain's caller,
// runNodeProcess) when set to a Redis URL.
const nodeEnv = "REDISBROKER_TEST_NODE"

// runNodeProcess starts this test binary as a node in its own process and
// returns its WebSocket URL and the process.
func runNodeProcess(t *testing.T, redisURL string) (string, *exec.Cmd) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestNodeProcess$")
	cmd.Env = append(os.Environ(), nodeEnv+"="+redisURL)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 256)
	n, err := out.Read(buf)
	line := strings.TrimSpace(string(buf[:n]))
	if err != nil || !strings.HasPrefix(line, "ws://") {
		t.Fatalf("node process printed %q (%v)", line, err)
	}
	return line, cmd
}

// TestNodeProcess is the node of runNodeProcess: it serves until killed.
func TestNodeProcess(t *testing.T) {
	redisURL := os.Getenv(nodeEnv)
	if redisURL == "" {
		return // only runs as a child of TestNodeKilled
	}
	n := newNode(t, redisURL, &redisbroker.Options{PresenceTTL: time.Second}, nil)
	fmt.Println(n.url)
	select {}
}

// A node killed with SIGKILL drops out within the presence TTL: its users
// go offline for the others (OnOffline runs once) and leave presence,
// which a node with members of the group is told (OnPresenceGone runs
// once).
func TestNodeKilled(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	var rec recorder
	const ttl = time.Second
	n1 := newNode(t, rs.URL(), &redisbroker.Options{PresenceTTL: ttl}, rec.options())
	url, proc := runNodeProcess(t, rs.URL())
	c, _, err := gws.DefaultDialer.Dial(url+"/raw?user=ada&group=room", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	eventually(t, "ada online", func() bool { on, _ := n1.box.IsOnline(ctx, "ada"); return on })
	n1.connect(query("user", "bo", "group", "room"))
	eventually(t, "both in the room's presence", func() bool { p, _ := n1.box.Presence(ctx, "room"); return len(p) == 2 })
	// The heartbeat keeps ada online past the TTL while her node lives.
	time.Sleep(2 * ttl)
	if on, _ := n1.box.IsOnline(ctx, "ada"); !on {
		t.Fatal("ada went offline while her node is alive")
	}

	proc.Process.Kill()
	killed := time.Now()
	eventually(t, "ada offline", func() bool { on, _ := n1.box.IsOnline(ctx, "ada"); return !on })
	eventually(t, "OnOffline", func() bool { return rec.count("off:ada") == 1 })
	eventually(t, "OnPresenceGone", func() bool { return rec.count("gone:room:ada") == 1 })
	t.Logf("ada offline %v after her node was killed (TTL %v)", time.Since(killed).Round(time.Millisecond), ttl)
	if p, _ := n1.box.Presence(ctx, "room"); len(p) != 1 || p[0].User != "bo" {
		t.Errorf("presence after the kill: %v", p)
	}
	if on, _ := n1.box.OnlineUsers(ctx); len(on) != 1 || on[0] != "bo" {
		t.Errorf("online after the kill: %v", on)
	}
	time.Sleep(ttl)
	if n := rec.count("off:ada"); n != 1 {
		t.Errorf("OnOffline for ada ran %d times", n)
	}
	if n := rec.count("gone:room:ada"); n != 1 {
		t.Errorf("OnPresenceGone for ada ran %d times", n)
	}
}
