//go:build unix

package websocket_test

import (
	"context"
	"net"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/websocket"
)

// smallBufListener gives the connections it accepts a small send buffer,
// so that a peer that does not read blocks the server's writes after a
// few kilobytes rather than a few megabytes.
type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		c.(*net.TCPConn).SetWriteBuffer(4 << 10)
	}
	return c, err
}

// A client that sends 125-byte pings as fast as it can and never reads
// cannot grow the server's outbound queue past MaxQueueBytes: a pong
// counts against the bound like any frame, and a pong still waiting at
// the end of the queue takes the latest ping's payload instead of a new
// one being queued (RFC 6455 section 5.5.3). Both ways pings are read:
// between messages (while the handler waits, in internal/wire) and inside a
// fragmented message (by gorilla). On main every ping queued a pong: the
// queue held megabytes against a 64 KiB bound.
func TestPingFloodKeepsQueueBounded(t *testing.T) {
	t.Parallel()
	const (
		bound = 64 << 10
		pings = 20000 // 2.5 MB of pongs
	)
	for _, fragmented := range []bool{false, true} {
		name := map[bool]string{false: "between messages", true: "inside a message"}[fragmented]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tr := websocket.NewTracker(nil)
			got := make(chan error, 1)
			srv := httptest.NewUnstartedServer(websocket.Handler(func(ws *websocket.WebSocket) error {
				if err := accept(ws); err != nil {
					got <- err
					return err
				}
				_, err := ws.ReceiveText(context.Background())
				got <- err
				if err != nil {
					return err
				}
				_, _, err = ws.Receive(context.Background())
				return err
			}, &websocket.Options{MaxQueueBytes: bound, Tracker: tr, PingInterval: -1}))
			srv.Listener = smallBufListener{srv.Listener}
			srv.Start()
			defer srv.Close()
			// The client's receive buffer is set small before it connects
			// (shrinking it later can stall TCP).
			d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
				return rc.Control(func(fd uintptr) {
					syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
				})
			}}
			addr := srv.Listener.Addr().String()
			c, err := d.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			rawHandshake(t, c, addr)
			c.SetWriteDeadline(time.Now().Add(30 * time.Second))

			ping := make([]byte, 125)
			for i := range ping {
				ping[i] = byte('a' + i%26)
			}
			frame := clientFrame(0x9, true, ping)
			var chunk []byte
			for range 500 {
				chunk = append(chunk, frame...)
			}
			if fragmented {
				c.Write(clientFrame(0x1, false, []byte("fr")))
			}
			for range pings / 500 {
				if _, err := c.Write(chunk); err != nil {
					t.Fatalf("flood: %v", err) // the server stopped reading
				}
			}
			if fragmented {
				c.Write(clientFrame(0x0, true, []byte("ag")))
			} else {
				c.Write(clientFrame(0x1, true, []byte("frag")))
			}
			// The message comes after every ping: once the handler has it,
			// every ping was answered or collapsed.
			select {
			case err := <-got:
				if code := websocket.CloseStatus(err); err != nil && code != websocket.StatusSlowConsumer {
					t.Fatalf("handler's Receive: %v, want the message or a close with 4001", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the handler did not get the message")
			}
			if q := tr.QueuedBytes(); q > bound {
				t.Fatalf("%d bytes queued after %d pings, bound %d", q, pings, bound)
			}
		})
	}
}
