package main

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/switchboard-go/switchboard/internal/wstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEchoRoutes(t *testing.T) {
	srv := httptest.NewServer(newRouter(nil))
	defer srv.Close()
	base := "ws" + strings.TrimPrefix(srv.URL, "http")
	dial := func(path string) *gws.Conn {
		c, _, err := gws.DefaultDialer.Dial(base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		return c
	}
	expect := func(c *gws.Conn, typ int, want string) {
		t.Helper()
		gotTyp, data, err := c.ReadMessage()
		if err != nil || gotTyp != typ || string(data) != want {
			t.Fatalf("got %d %q %v, want %d %q", gotTyp, data, err, typ, want)
		}
	}

	c := dial("/ws")
	c.WriteMessage(gws.TextMessage, []byte("hi"))
	expect(c, gws.TextMessage, "hi")
	c.WriteMessage(gws.BinaryMessage, []byte{1, 2})
	expect(c, gws.BinaryMessage, "\x01\x02")
	c.Close()

	c = dial("/ws/json")
	c.WriteMessage(gws.TextMessage, []byte(`{"n":1}`))
	expect(c, gws.TextMessage, `{"echoed":true,"n":1}`)
	c.WriteMessage(gws.TextMessage, []byte(`[1,2]`))
	expect(c, gws.TextMessage, `{"error":"send a JSON object as a text message"}`)
	c.WriteMessage(gws.TextMessage, []byte(`null`))
	expect(c, gws.TextMessage, `{"error":"send a JSON object as a text message"}`)
	c.Close()

	c = dial("/ws/rooms/lobby")
	_, data, err := c.ReadMessage()
	if err != nil || !strings.Contains(string(data), `"room":"lobby"`) {
		t.Fatalf("greeting %q %v", data, err)
	}
	c.WriteMessage(gws.TextMessage, []byte("hello"))
	expect(c, gws.TextMessage, "lobby: hello")
	c.Close()
}

// pythonClient drives the demo with Debian's python3-websockets: a client
// written by other people, in another language.
const pythonClient = `
import asyncio, json, sys
import websockets

async def main(base):
    async with websockets.connect(base + "/ws") as ws:
        await ws.send("hello")
        assert await ws.recv() == "hello"
        await ws.send(b"\x00\xff")
        assert await ws.recv() == b"\x00\xff"
    async with websockets.connect(base + "/ws/json") as ws:
        await ws.send(json.dumps({"a": 1}))
        assert json.loads(await ws.recv()) == {"a": 1, "echoed": True}
    async with websockets.connect(base + "/ws/rooms/r1") as ws:
        assert json.loads(await ws.recv())["room"] == "r1"
        await ws.send("x")
        assert await ws.recv() == "r1: x"
        await ws.close(4100, "bye")
        assert ws.close_code == 4100, ws.close_code
    print("python client: all good")

asyncio.run(main(sys.argv[1]))
`

func TestDemoWithPythonClient(t *testing.T) {
	wstest.Python(t) // skip before building when python3-websockets is missing
	addr := wstest.StartExample(t)
	wstest.RunPython(t, pythonClient, "ws://"+addr)
}
