package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/channels/redisbroker"
	"github.com/switchboard-go/switchboard/internal/redistest"
	"github.com/switchboard-go/switchboard/internal/wstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type peer struct {
	t *testing.T
	c *gws.Conn
}

func (p *peer) send(v string) { p.c.WriteMessage(gws.TextMessage, []byte(v)) }

// next returns the next event named one of names, skipping others.
func (p *peer) next(names ...string) map[string]any {
	p.t.Helper()
	for {
		p.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var m map[string]any
		if err := p.c.ReadJSON(&m); err != nil {
			p.t.Fatalf("waiting for %v: %v", names, err)
		}
		for _, n := range names {
			if m["event"] == n {
				return m
			}
		}
	}
}

// startChat serves the chat on a box of its own and returns its URL.
func startChat(t *testing.T) string {
	box := channels.NewBox(nil)
	srv := httptest.NewServer(newServer(box, nil, nil))
	t.Cleanup(func() {
		box.Close(context.Background())
		srv.Close()
	})
	return srv.URL
}

func TestChatProtocol(t *testing.T) {
	box := channels.NewBox(nil)
	srv := httptest.NewServer(newServer(box, nil, nil))
	defer func() {
		box.Close(context.Background())
		srv.Close()
	}()
	base := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws?name="
	dial := func(name string) *peer {
		c, _, err := gws.DefaultDialer.Dial(base+name, nil)
		if err != nil {
			t.Fatal(err)
		}
		return &peer{t, c}
	}
	// The page, its parts and the client's modules and types are served.
	for path, want := range map[string]string{
		"/": "Switchboard chat", "/chat.js": "Switchboard", "/chat.css": "@media", "/favicon.svg": "<svg",
		"/switchboard.js": "export class Switchboard", "/switchboard.d.ts": "export class Switchboard", "/msgpack.js": "msgpackCodec",
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", path, resp, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), want) {
			t.Errorf("GET %s: no %q in the body", path, want)
		}
	}

	ada := dial("ada")
	ada.send(`{"event":"join","payload":{"room":"lobby","history":true},"ref":"1"}`)
	joined := ada.next("joined")
	epoch := joined["payload"].(map[string]any)["epoch"].(string)
	if p := ada.next("presence"); jsonOf(p["payload"]) != `{"users":["ada"]}` {
		t.Errorf("presence: %v", p)
	}
	ada.send(`{"event":"message","room":"lobby","payload":{"text":"first"},"ref":"2"}`)
	m := ada.next("message")
	if m["room"] != "lobby" || m["offset"] != float64(1) || m["payload"].(map[string]any)["user"] != "ada" || m["payload"].(map[string]any)["text"] != "first" {
		t.Fatalf("message: %v", m)
	}
	ada.send(`{"event":"message","room":"elsewhere","payload":{"text":"x"},"ref":"3"}`)
	if e := ada.next("error"); e["ref"] != "3" {
		t.Errorf("message to a room not joined: %v", e)
	}

	bob := dial("bob")
	bob.send(`{"event":"join","payload":{"room":"lobby","history":true},"ref":"1"}`)
	bob.next("joined")
	if h := bob.next("message"); h["payload"].(map[string]any)["text"] != "first" {
		t.Errorf("history on join: %v", h)
	}
	if p := ada.next("presence"); jsonOf(p["payload"]) != `{"joined":"bob"}` {
		t.Errorf("presence after bob: %v", p)
	}
	// bob drops; ada talks; bob reconnects from offset 1 and recovers.
	bob.c.Close()
	if p := ada.next("presence"); jsonOf(p["payload"]) != `{"left":"bob"}` {
		t.Errorf("presence after bob left: %v", p)
	}
	ada.send(`{"event":"message","room":"lobby","payload":{"text":"while you were away"}}`)
	bob = dial("bob")
	defer bob.c.Close()
	bob.send(`{"event":"join","payload":{"room":"lobby","since":{"epoch":"` + epoch + `","offset":1}},"ref":"r"}`)
	if j := bob.next("joined"); j["payload"].(map[string]any)["recovered"] != true {
		t.Errorf("rejoin: %v", j)
	}
	if m := bob.next("message"); m["payload"].(map[string]any)["text"] != "while you were away" || m["offset"] != float64(2) {
		t.Errorf("recovered: %v", m)
	}
	ada.c.Close()
}

// A room "dm:alice:bob" is only for alice and bob: anyone else's join is
// refused with "forbidden", and gets neither its history nor its
// messages, nor shows in its presence.
func TestDirectRoomsAreForTheirTwoUsers(t *testing.T) {
	box := channels.NewBox(nil)
	srv := httptest.NewServer(newServer(box, nil, nil))
	defer func() {
		box.Close(context.Background())
		srv.Close()
	}()
	dial := func(name string) *peer {
		c, _, err := gws.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws?name="+name, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return &peer{t, c}
	}
	// strictly reads the very next event.
	strictly := func(p *peer) map[string]any {
		p.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var m map[string]any
		if err := p.c.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	alice := dial("alice")
	alice.send(`{"event":"join","payload":{"room":"dm:alice:bob"},"ref":"1"}`)
	alice.next("joined")
	alice.next("presence")
	alice.send(`{"event":"message","room":"dm:alice:bob","payload":{"text":"for bob only"},"ref":"2"}`)
	alice.next("message")

	eve := dial("eve")
	eve.send(`{"event":"join","payload":{"room":"dm:alice:bob","history":true},"ref":"1"}`)
	if e := strictly(eve); e["event"] != "error" || e["ref"] != "1" || e["payload"].(map[string]any)["code"] != "forbidden" {
		t.Fatalf("eve's join: %v", e)
	}
	eve.send(`{"event":"message","room":"dm:alice:bob","payload":{"text":"hi"},"ref":"2"}`)
	if e := strictly(eve); e["event"] != "error" || e["ref"] != "2" {
		t.Fatalf("eve's message: %v", e)
	}
	// What eve gets next is her lobby join: no history, no presence of
	// the refused room.
	eve.send(`{"event":"join","payload":{"room":"lobby"},"ref":"3"}`)
	if j := strictly(eve); j["event"] != "joined" || j["ref"] != "3" {
		t.Fatalf("after the refusal eve got %v", j)
	}

	bob := dial("bob")
	bob.send(`{"event":"join","payload":{"room":"dm:alice:bob","history":true},"ref":"1"}`)
	bob.next("joined")
	if m := bob.next("message"); m["payload"].(map[string]any)["text"] != "for bob only" {
		t.Errorf("bob's history: %v", m)
	}
	if p := alice.next("presence"); jsonOf(p["payload"]) != `{"joined":"bob"}` {
		t.Errorf("presence: %v", p)
	}
}

// The server's rule for names is the page's: 1 to 40 characters once
// trimmed. A name it refuses is refused after the handshake, with 1008
// and the reason, which a browser can read (it cannot read a refused
// handshake's status), so that switchboard.js stops and shows it.
func TestNameRule(t *testing.T) {
	base := "ws" + strings.TrimPrefix(startChat(t), "http") + "/ws?name="
	for i, tc := range []struct {
		name, user string // user "" for a refused name
	}{
		{"", ""},
		{"%20%20%20", ""},
		{strings.Repeat("%C3%A9", 41), ""},
		{"%FF", ""},
		{"%20ada%20", "ada"},
		{strings.Repeat("%C3%A9", 40), strings.Repeat("é", 40)}, // 80 bytes
	} {
		room := fmt.Sprintf("r%d", i) // a room each: an earlier case's leave may still be on its way
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := gws.DefaultDialer.Dial(base+tc.name, nil)
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			p := &peer{t, c}
			if tc.user == "" {
				_, _, err := c.ReadMessage()
				var ce *gws.CloseError
				if !errors.As(err, &ce) || ce.Code != 1008 || ce.Text != "pick a name of 1 to 40 characters" {
					t.Errorf("got %v, want a close with 1008 and the rule", err)
				}
				return
			}
			p.send(`{"event":"join","payload":{"room":"` + room + `"},"ref":"1"}`)
			if got := p.next("presence"); jsonOf(got["payload"]) != jsonOf(map[string]any{"users": []string{tc.user}}) {
				t.Errorf("presence: %v", got)
			}
		})
	}
}

// Each join and leave costs the other members one name, not the room's
// list: the first of n members is sent n names in all while n-1 others
// join, and n-1 more while they leave (the full list, each time, was
// n²/2 names: 800 joins wrote 7.1 GiB and closed 314 members with 4001).
func TestPresenceSendsChanges(t *testing.T) {
	base := "ws" + strings.TrimPrefix(startChat(t), "http") + "/ws?name="
	const n = 40
	var peers []*peer
	for i := range n {
		c, _, err := gws.DefaultDialer.Dial(base+fmt.Sprintf("u%02d", i), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		p := &peer{t, c}
		p.send(`{"event":"join","payload":{"room":"lobby"},"ref":"1"}`)
		p.next("joined")
		peers = append(peers, p)
	}
	// names reads presence events until the room, as the page keeps it,
	// is want, and returns how many names they carried.
	online := map[string]bool{}
	names := func(p *peer, want int) int {
		sent := 0
		for range 10 * n {
			pl := p.next("presence")["payload"].(map[string]any)
			if users, ok := pl["users"].([]any); ok {
				clear(online)
				for _, u := range users {
					online[u.(string)] = true
				}
				sent += len(users)
			}
			if u, ok := pl["joined"].(string); ok {
				online[u] = true
				sent++
			}
			if u, ok := pl["left"].(string); ok {
				delete(online, u)
				sent++
			}
			if len(online) == want {
				return sent
			}
		}
		t.Fatalf("the room never had %d users: %v", want, online)
		return 0
	}
	if got := names(peers[0], n); got != n {
		t.Errorf("while %d others joined, the first member was sent %d names, want %d", n-1, got, n)
	}
	for _, p := range peers[1:] {
		p.c.Close()
	}
	if got := names(peers[0], 1); got != n-1 {
		t.Errorf("while %d others left, the first member was sent %d names, want %d", n-1, got, n-1)
	}
	if !online["u00"] {
		t.Errorf("left in the room: %v", online)
	}
}

// Two processes of the chat against one Redis: users on either are in
// the same rooms, with the same presence and history.
func TestTwoProcessesShareRooms(t *testing.T) {
	rs := redistest.Start(t)
	a := wstest.StartExample(t, "-redis", rs.URL())
	b := wstest.StartExample(t, "-redis", rs.URL())
	dial := func(addr, name string) *peer {
		c, _, err := gws.DefaultDialer.Dial("ws://"+addr+"/ws?name="+name, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return &peer{t, c}
	}
	ada := dial(a, "ada")
	ada.send(`{"event":"join","payload":{"room":"lobby"},"ref":"1"}`)
	ada.next("joined")
	ada.send(`{"event":"message","room":"lobby","payload":{"text":"from a"}}`)
	if m := ada.next("message"); m["offset"] != float64(1) {
		t.Fatalf("own message: %v", m)
	}

	bob := dial(b, "bob")
	bob.send(`{"event":"join","payload":{"room":"lobby","history":true},"ref":"1"}`)
	bob.next("joined")
	if h := bob.next("message"); h["payload"].(map[string]any)["text"] != "from a" || h["offset"] != float64(1) {
		t.Errorf("history from the other process: %v", h)
	}
	if got := bob.next("presence"); jsonOf(got["payload"]) != `{"users":["ada","bob"]}` {
		t.Errorf("bob's presence: %v", got)
	}
	if got := ada.next("presence"); jsonOf(got["payload"]) != `{"joined":"bob"}` {
		t.Errorf("ada's presence: %v", got)
	}
	bob.send(`{"event":"message","room":"lobby","payload":{"text":"from b"}}`)
	for _, p := range []*peer{ada, bob} {
		m := p.next("message")
		if m["payload"].(map[string]any)["text"] != "from b" || m["offset"] != float64(2) || m["payload"].(map[string]any)["user"] != "bob" {
			t.Errorf("message across processes: %v", m)
		}
	}
}

// With -redis, the users of a node that died without cleaning up leave
// its rooms when their presence expires, and the others are told.
func TestDeadNodesUsersLeave(t *testing.T) {
	rs := redistest.Start(t)
	node := func() (*redisbroker.Broker, string) {
		b, err := redisbroker.New(&redisbroker.Options{Addr: rs.URL(), PresenceTTL: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		box := newBox(b, nil, 0)
		srv := httptest.NewServer(newServer(box, nil, nil))
		t.Cleanup(func() {
			box.Close(context.Background())
			srv.Close()
			b.Close(context.Background())
		})
		return b, "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws?name="
	}
	dead, deadURL := node()
	_, liveURL := node()
	dial := func(url string) *peer {
		c, _, err := gws.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		p := &peer{t, c}
		p.send(`{"event":"join","payload":{"room":"lobby"},"ref":"1"}`)
		p.next("joined")
		return p
	}
	ada := dial(liveURL + "ada")
	ada.next("presence")
	dial(deadURL + "bob")
	if p := ada.next("presence"); jsonOf(p["payload"]) != `{"joined":"bob"}` {
		t.Fatalf("presence: %v", p)
	}
	dead.Close(context.Background()) // bob's node stops: no heartbeat, no cleanup
	if p := ada.next("presence"); jsonOf(p["payload"]) != `{"left":"bob"}` {
		t.Errorf("after bob's node died: %v", p)
	}
}

// The demo serves its metrics.
func TestMetricsEndpoint(t *testing.T) {
	addr := wstest.StartExample(t)
	c, _, err := gws.DefaultDialer.Dial("ws://"+addr+"/ws?name=ada", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "switchboard_connections 1\n") && strings.Contains(string(b), "switchboard_channels 1\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed the connection:\n%s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestJavaScriptClient runs the Node tests of switchboard.js (node
// --test): testdata/client.test.mjs against a scripted server of its own,
// testdata/chat.test.mjs against this chat server.
func TestJavaScriptClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node is missing")
		}
		t.Skip("node not installed")
	}
	version, err := exec.Command(node, "--version").Output()
	if err != nil {
		t.Fatalf("node --version: %v", err)
	}
	var major int
	fmt.Sscanf(string(version), "v%d", &major)
	if major < 20 {
		if os.Getenv("CI") != "" {
			t.Fatalf("node %s has no WebSocket; CI needs 20.10 or later", strings.TrimSpace(string(version)))
		}
		t.Skipf("node %s has no WebSocket; 20.10 or later has", strings.TrimSpace(string(version)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-timeout=30000", "testdata/client.test.mjs", "testdata/chat.test.mjs")
	cmd.Env = append(os.Environ(), "CHAT_URL="+startChat(t))
	if major < 22 {
		// Node 20 has its WebSocket behind a flag; NODE_OPTIONS reaches
		// the process of each test file.
		cmd.Env = append(cmd.Env, "NODE_OPTIONS=--experimental-websocket")
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	if testing.Verbose() {
		t.Logf("%s", out)
	}
}
