//go:build linux && !386

package websocket

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
)

// inlineServer runs one connection whose handler hands the connection to
// the test and waits until the test is done with it.
func inlineServer(t *testing.T) (*WebSocket, *gws.Conn) {
	t.Helper()
	got := make(chan *WebSocket, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(Handler(func(ws *WebSocket) error {
		if err := ws.Accept(context.Background(), nil); err != nil {
			return err
		}
		got <- ws
		<-release
		return nil
	}, &Options{PingInterval: -1, MaxQueueBytes: 64 << 20}))
	c, _, err := gws.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(release)
		c.Close()
		srv.Close()
	})
	return <-got, c
}

// A message to a connection with nothing queued goes to the socket from
// the sender's goroutine: no writer runs, nothing stays queued.
func TestSendWritesInlineWhenIdle(t *testing.T) {
	ws, c := inlineServer(t)
	for i := range 3 {
		if err := ws.SendText("hello"); err != nil {
			t.Fatal(err)
		}
		ws.mu.Lock()
		writing, queued := ws.writing, len(ws.queue)
		ws.mu.Unlock()
		if writing || queued != 0 {
			t.Fatalf("message %d: writer started %v, %d frames queued", i, writing, queued)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, p, err := c.ReadMessage(); err != nil || string(p) != "hello" {
			t.Fatalf("message %d: %q, %v", i, p, err)
		}
	}
}

// A message bigger than the socket takes at once: its start goes inline,
// the rest to the writer, ahead of the messages sent after it, and the
// peer reads every message whole and in order.
func TestSendInlineRestKeepsFrames(t *testing.T) {
	ws, c := inlineServer(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB: more than a socket buffer
	if err := ws.SendBytes(big); err != nil {
		t.Fatal(err)
	}
	ws.mu.Lock()
	rest := len(ws.queue) == 1 && ws.queue[0].op == opRest || ws.inflight > 0
	ws.mu.Unlock()
	if !rest {
		t.Fatal("the big message was not split between the socket and the writer")
	}
	for _, s := range []string{"a", "b", "c"} {
		if err := ws.SendText(s); err != nil {
			t.Fatal(err)
		}
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, p, err := c.ReadMessage(); err != nil || !bytes.Equal(p, big) {
		t.Fatalf("the big message: %d bytes, %v", len(p), err)
	}
	for _, s := range []string{"a", "b", "c"} {
		if _, p, err := c.ReadMessage(); err != nil || string(p) != s {
			t.Fatalf("got %q, %v; want %q", p, err, s)
		}
	}
}
