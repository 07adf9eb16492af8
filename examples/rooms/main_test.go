package main

import (
	"context"
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

func TestRoomConversation(t *testing.T) {
	box := channels.NewBox(nil)
	srv := httptest.NewServer(newRouter(box))
	defer func() {
		box.Close(context.Background())
		srv.Close()
	}()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/room/general?username="
	dial := func(name string) *gws.Conn {
		c, _, err := gws.DefaultDialer.Dial(url+name, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		return c
	}
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
