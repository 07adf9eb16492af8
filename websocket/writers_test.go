package websocket_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/websocket"
)

// Messages bigger than a peer's socket buffers reach it whole and in
// order, then the close: a pool writer's write stops where the socket is
// full and the connection's own writer goes on from there, while the sends
// made meanwhile wait in its queue. The peer acknowledges each round of
// one to three messages, so that every round starts with empty buffers
// and an empty queue, which is when a pool writer writes.
func TestSendsBiggerThanTheSocketArriveInOrder(t *testing.T) {
	t.Parallel()
	const (
		rounds = 60
		size   = 20 << 10
	)
	body := func(i int) []byte {
		b := make([]byte, size)
		binary.BigEndian.PutUint64(b, uint64(i))
		for j := 8; j < size; j++ {
			b[j] = byte(i + j)
		}
		return b
	}
	srv := httptest.NewUnstartedServer(websocket.Handler(func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		n := 0
		for r := range rounds {
			for range 1 + r%3 {
				var err error
				if n%2 == 0 {
					err = ws.SendPrepared(mustPrepare(websocket.BinaryMessage, body(n)))
				} else {
					err = ws.SendBytes(body(n))
				}
				if err != nil {
					return err
				}
				n++
			}
			if _, err := ws.ReceiveText(context.Background()); err != nil {
				return err
			}
		}
		return ws.Close(websocket.StatusNormalClosure, "done")
	}, &websocket.Options{PingInterval: -1}))
	srv.Listener = smallBufListener{srv.Listener}
	srv.Start()
	defer srv.Close()
	d := gws.Dialer{NetDialContext: (&net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
		})
	}}).DialContext}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	n := 0
	for r := range rounds {
		for range 1 + r%3 {
			_, b, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("message %d: %v", n, err)
			}
			if !bytes.Equal(b, body(n)) {
				t.Fatalf("message %d: got %d bytes starting with number %d, not message %d whole", n, len(b), binary.BigEndian.Uint64(b), n)
			}
			n++
		}
		if err := c.WriteMessage(gws.TextMessage, []byte("ok")); err != nil {
			t.Fatal(err)
		}
	}
	if ce := readClose(t, c); ce.Code != int(websocket.StatusNormalClosure) {
		t.Fatalf("close %d, want 1000", ce.Code)
	}
	c.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
}
