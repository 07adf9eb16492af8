package websocket_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/websocket"
)

// countingListener counts the Write calls made on the connections it
// accepts: each is (at least) one write syscall.
type countingListener struct {
	net.Listener
	writes atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: &l.writes}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(p)
}

// benchWrites serves h, connects one client that says "go" and then counts
// raw bytes until want frames of frameLen bytes have arrived.
func benchWrites(b *testing.B, h http.Handler, frameLen int) {
	ln := &countingListener{Listener: mustListen(b)}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	c, _, err := gws.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	before := ln.writes.Load()
	b.ResetTimer()
	start := time.Now()
	if err := c.WriteMessage(gws.TextMessage, []byte("go")); err != nil {
		b.Fatal(err)
	}
	want := int64(b.N) * int64(frameLen)
	if _, err := io.CopyN(io.Discard, c.UnderlyingConn(), want); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	writes := ln.writes.Load() - before
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "frames/s")
	b.ReportMetric(float64(writes)/float64(b.N), "syscalls/frame")
}

func mustListen(b *testing.B) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return ln
}

// BenchmarkCoalescing writes b.N 64-byte binary messages from one goroutine
// as fast as it can; the client reads them over loopback.
//
//	go test -run=^$ -bench=Coalescing -benchtime=200000x ./websocket
func BenchmarkCoalescing(b *testing.B) {
	payload := make([]byte, 64)
	const frameLen = 2 + 64
	// sender serves one connection that writes b.N messages with send.
	sender := func(b *testing.B, send func(*websocket.WebSocket) error) http.Handler {
		return websocket.Handler(func(ws *websocket.WebSocket) error {
			if err := ws.Accept(context.Background(), nil); err != nil {
				return err
			}
			if _, err := ws.ReceiveText(context.Background()); err != nil {
				return err
			}
			for i := 0; i < b.N; i++ {
				if err := send(ws); err != nil {
					return err
				}
			}
			_, _, err := ws.Receive(context.Background())
			return err
		}, &websocket.Options{MaxQueueBytes: 1 << 30})
	}
	b.Run("switchboard", func(b *testing.B) {
		benchWrites(b, sender(b, func(ws *websocket.WebSocket) error { return ws.SendBytes(payload) }), frameLen)
	})
	b.Run("switchboard-prepared", func(b *testing.B) {
		pm := mustPrepare(websocket.BinaryMessage, payload)
		benchWrites(b, sender(b, func(ws *websocket.WebSocket) error { return ws.SendPrepared(pm) }), frameLen)
	})
	b.Run("gorilla", func(b *testing.B) {
		up := gws.Upgrader{}
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
			for i := 0; i < b.N; i++ {
				if err := c.WriteMessage(gws.BinaryMessage, payload); err != nil {
					return
				}
			}
			c.ReadMessage()
		})
		benchWrites(b, h, frameLen)
	})
}

// BenchmarkSendParallel measures the cost of SendText from many goroutines
// at once into one connection whose client drains it.
func BenchmarkSendParallel(b *testing.B) {
	ready := make(chan *websocket.WebSocket, 1)
	h := websocket.Handler(func(ws *websocket.WebSocket) error {
		if err := ws.Accept(context.Background(), nil); err != nil {
			return err
		}
		ready <- ws
		_, _, err := ws.Receive(context.Background())
		return err
	}, &websocket.Options{MaxQueueBytes: 1 << 30})
	srv := httptest.NewServer(h)
	defer srv.Close()
	c, _, err := gws.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	go io.Copy(io.Discard, c.UnderlyingConn())
	ws := <-ready
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := ws.SendText("a 32-byte message for the bench"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkReceive measures ReceiveText: one raw client writes b.N masked
// text frames over loopback as fast as it can, the handler receives them.
//
//	go test -run=^$ -bench=Receive -benchtime=20000x ./websocket
func BenchmarkReceive(b *testing.B) {
	for _, bc := range []struct{ name, msg string }{
		{"64B-ascii", strings.Repeat("a", 64)},
		{"16KiB-ascii", strings.Repeat("abcdefgh", 2<<10)},
		{"16KiB-utf8", strings.Repeat("aé€😀", 16<<10/10)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			done := make(chan error, 1)
			srv := httptest.NewServer(websocket.Handler(func(ws *websocket.WebSocket) error {
				if err := ws.Accept(context.Background(), nil); err != nil {
					done <- err
					return err
				}
				for i := 0; i < b.N; i++ {
					if _, err := ws.ReceiveText(context.Background()); err != nil {
						done <- err
						return err
					}
				}
				done <- nil
				_, _, err := ws.Receive(context.Background())
				return err
			}, &websocket.Options{ReadLimit: 1 << 20, PingInterval: -1}))
			defer srv.Close()
			c := rawDial(b, srv.Listener.Addr().String())
			defer c.Close()
			frame := clientFrame(0x1, true, []byte(bc.msg))
			var chunk []byte
			for len(chunk) < 64<<10 {
				chunk = append(chunk, frame...)
			}
			per := len(chunk) / len(frame)
			wrote := make(chan struct{})
			b.SetBytes(int64(len(bc.msg)))
			b.ResetTimer()
			go func() {
				defer close(wrote)
				for left := b.N; left > 0; left -= per {
					n := min(left, per) * len(frame)
					if _, err := c.Write(chunk[:n]); err != nil {
						return
					}
				}
			}()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			<-wrote
		})
	}
}
