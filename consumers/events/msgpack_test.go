package events_test

import (
	"bytes"
	"context"
	"runtime"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/switchboard-go/switchboard/consumers/events"
	"github.com/switchboard-go/switchboard/consumers/protocol"
)

// recvMsgpack reads one binary event.
func (cl *client) recvMsgpack() map[string]any {
	cl.t.Helper()
	cl.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	typ, data, err := cl.c.ReadMessage()
	if err != nil || typ != gws.BinaryMessage {
		cl.t.Fatalf("read: %d %v", typ, err)
	}
	var m map[string]any
	if err := msgpack.Unmarshal(data, &m); err != nil {
		cl.t.Fatalf("%x: %v", data, err)
	}
	return m
}

// Declared lengths that the bytes cannot hold, and nesting past the
// limit, are refused before anything is allocated for them: 40 messages
// of 13 bytes declaring a map of 2^32-1 entries made the decoder allocate
// about 96 MB each, and 65,000 levels of nesting grew the stack of the
// connection that decoded them. (Not parallel: it reads the process's
// allocation count.)
func TestMsgpackBombs(t *testing.T) {
	_, url := startEvents(t, nil)
	c := dialEvents(t, url, protocol.SubprotocolMsgpack)
	mapBomb := []byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0xa5, 'e', 'v', 'e', 'n', 't', 0xa1, 'x'}
	envelope := func(payload []byte) []byte {
		b, _ := msgpack.Marshal(map[string]any{"event": "echo", "ref": "1"})
		b[0]++ // one more field: the payload
		b = append(b, 0xa7, 'p', 'a', 'y', 'l', 'o', 'a', 'd')
		return append(b, payload...)
	}
	deep := envelope(append(bytes.Repeat([]byte{0x91}, 65000), 0xc0))
	strBomb := envelope([]byte{0xdb, 0xff, 0xff, 0xff, 0xf0, 'a'})

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 40 {
		for _, b := range [][]byte{mapBomb, deep, strBomb} {
			if err := c.c.WriteMessage(gws.BinaryMessage, b); err != nil {
				t.Fatal(err)
			}
			e := c.recvMsgpack()
			p, _ := e["payload"].(map[string]any)
			if e["event"] != "error" || p["code"] != "bad_request" {
				t.Fatalf("message %d of %d bytes: got %.200v, want a bad_request error", i, len(b), e)
			}
		}
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 16<<20 {
		t.Errorf("120 bombs made the process allocate %d MiB", got>>20)
	}
	// The connection is still usable.
	b, _ := msgpack.Marshal(map[string]any{"event": "echo", "payload": "ok", "ref": "2"})
	c.c.WriteMessage(gws.BinaryMessage, b)
	if e := c.recvMsgpack(); e["event"] != "echo" || e["payload"] != "ok" {
		t.Errorf("after the bombs: %v", e)
	}
}

// A payload struct with only json tags decodes and encodes with the same
// field names over msgpack as over JSON.
func TestMsgpackUsesJSONTags(t *testing.T) {
	t.Parallel()
	ev, url := startEvents(t, nil)
	type note struct {
		Text string `json:"text"`
		By   string `json:"by,omitempty"`
	}
	ev.On("note", func(ctx context.Context, c *events.EventConn, e *events.Event) error {
		var n note
		if err := e.Decode(&n); err != nil {
			return err
		}
		n.By = "server"
		return c.Reply(ctx, e, "note", n)
	})
	c := dialEvents(t, url, protocol.SubprotocolMsgpack)
	b, _ := msgpack.Marshal(map[string]any{"event": "note", "payload": map[string]any{"text": "hi"}, "ref": "1"})
	c.c.WriteMessage(gws.BinaryMessage, b)
	e := c.recvMsgpack()
	if p, _ := e["payload"].(map[string]any); e["event"] != "note" || p["text"] != "hi" || p["by"] != "server" || len(p) != 2 {
		t.Errorf("got %v", e)
	}
}

// An event over the rate limit is refused before it is decoded: a
// malformed one gets rate_limited, not bad_request.
func TestRateLimitBeforeDecoding(t *testing.T) {
	t.Parallel()
	_, url := startEvents(t, &events.EventOptions{RateLimit: 0.001, RateBurst: 1})
	c := dialEvents(t, url)
	c.send(`{"event":"echo","payload":1,"ref":"1"}`)
	if e := c.recv(); e["event"] != "echo" {
		t.Fatalf("first event: %v", e)
	}
	c.send(`{"event":`)
	if e := c.recv(); e["event"] != "error" || jsonOf(e["payload"]) != `{"code":"rate_limited","error":"rate limited"}` {
		t.Errorf("over the limit: %v", e)
	}
}
