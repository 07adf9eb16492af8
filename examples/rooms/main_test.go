package main

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/internal/wstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startRooms serves the rooms on a box of their own and returns the box,
// a dial function for the room "general" and its URL, less the name.
func startRooms(t *testing.T) (*channels.ChannelBox, func(name string) *gws.Conn, string) {
	box := channels.NewBox(nil)
	srv := httptest.NewServer(newRouter(box))
	t.Cleanup(func() {
		box.Close(context.Background())
		srv.Close()
	})
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/room/general?username="
	return box, func(name string) *gws.Conn {
		c, _, err := gws.DefaultDialer.Dial(url+name, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		return c
	}, url
}

func TestRoomConversation(t *testing.T) {
	box, dial, _ := startRooms(t)
	next := func(c *gws.Conn) map[string]any {
		t.Helper()
		var m map[string]any
		if err := c.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	ada := dial("ada")
	if m := next(ada); m["type"] != "system" || m["message"] != "ada joined the chat" || m["users"] != float64(1) {
		t.Fatalf("join: %v", m)
	}
	bob := dial("bob")
	defer bob.Close()
	for _, c := range []*gws.Conn{ada, bob} {
		if m := next(c); m["message"] != "bob joined the chat" || m["users"] != float64(2) {
			t.Fatalf("second join: %v", m)
		}
	}
	ada.WriteJSON(map[string]string{"type": "message", "content": "hello bob"})
	for _, c := range []*gws.Conn{ada, bob} {
		m := next(c)
		if m["type"] != "chat" || m["user"] != "ada" || m["message"] != "hello bob" {
			t.Fatalf("chat: %v", m)
		}
		if ts, _ := m["timestamp"].(float64); ts < 1.7e9 {
			t.Errorf("timestamp %v is not unix seconds", m["timestamp"])
		}
	}
	ada.WriteJSON(map[string]string{"type": "nonsense"})
	if m := next(ada); m["type"] != "error" {
		t.Errorf("bad message: %v", m)
	}
	ada.Close()
	if m := next(bob); m["message"] != "ada left the chat" || m["users"] != float64(1) {
		t.Fatalf("leave: %v", m)
	}
	entries, _, _, _ := box.History(context.Background(), "room:general", nil)
	if len(entries) != 4 {
		t.Errorf("history has %d entries, want 4 (2 joins, a chat, a leave)", len(entries))
	}
}

const pythonClient = `
import asyncio, json, sys
import websockets

async def main(base):
    async with websockets.connect(base + "/ws/room/py?username=snake") as ws:
        joined = json.loads(await ws.recv())
        assert joined["type"] == "system" and joined["users"] == 1, joined
        await ws.send(json.dumps({"type": "message", "content": "hiss"}))
        chat = json.loads(await ws.recv())
        assert chat == {**chat, "type": "chat", "user": "snake", "message": "hiss"}, chat
    print("python client: all good")

asyncio.run(main(sys.argv[1]))
`

func TestRoomsWithPythonClient(t *testing.T) {
	wstest.Python(t) // skip before building when python3-websockets is missing
	addr := wstest.StartExample(t)
	wstest.RunPython(t, pythonClient, "ws://"+addr)
}

// The name and the messages are copied into what every member gets, so
// they are bounded: a 900 KiB name is refused with its reason, and a
// member that floods the room with big messages is told, then closed
// with 4003, while the others are not closed as slow consumers.
func TestRoomsBoundWhatTheyCopy(t *testing.T) {
	box, dial, url := startRooms(t)
	closeCode := func(c *gws.Conn) int {
		for range 1000 {
			if _, _, err := c.ReadMessage(); err != nil {
				var ce *gws.CloseError
				if errors.As(err, &ce) {
					return ce.Code
				}
				t.Fatalf("read: %v", err)
			}
		}
		t.Fatal("no close after 1000 messages")
		return 0
	}

	// A 900 KiB name never gets past the handshake: the library caps its
	// headers (431). Below that cap, the room's own rule refuses it.
	_, resp, err := gws.DefaultDialer.Dial(url+strings.Repeat("x", 900<<10), nil)
	if err == nil || resp == nil || resp.StatusCode != 431 {
		t.Errorf("a 900 KiB name: %v, want 431", err)
	}
	long := dial(strings.Repeat("x", 10<<10))
	if code := closeCode(long); code != 1008 {
		t.Errorf("a 10 KiB name: closed with %d, want 1008", code)
	}
	if n := len(box.Members("room:general")); n != 0 {
		t.Errorf("the refused name is in the room: %d members", n)
	}

	bob := dial("bob")
	var m map[string]any
	bob.ReadJSON(&m) // bob joined
	mallory := dial(strings.Repeat("m", 40))
	bob.ReadJSON(&m) // mallory joined
	// bob reads nothing while mallory sends 18 MiB.
	content := strings.Repeat("a", 60<<10)
	for range 300 {
		if mallory.WriteJSON(map[string]string{"type": "message", "content": content}) != nil {
			break
		}
	}
	if code := closeCode(mallory); code != 4003 {
		t.Errorf("the flood was closed with %d, want 4003", code)
	}
	for range 1000 {
		if err := bob.ReadJSON(&m); err != nil {
			t.Fatalf("bob, during the flood: %v", err)
		}
		if msg, _ := m["message"].(string); strings.HasSuffix(msg, "left the chat") {
			break
		}
	}
}
