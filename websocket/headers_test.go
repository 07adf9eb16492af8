package websocket_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/websocket"
)

// bigHeader is a handshake header of about n bytes.
func bigHeader(n int) http.Header {
	return http.Header{"X-Big": {strings.Repeat("a", n)}}
}

// Handshake headers are capped by Options.MaxHeaderBytes, 16 KiB by
// default: past the cap the answer is 431 and the handler never runs.
func TestHandshakeHeaderLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		max, header int
		want        int
	}{
		{"default, under", 0, 15 << 10, http.StatusSwitchingProtocols},
		{"default, over", 0, 16 << 10, http.StatusRequestHeaderFieldsTooLarge},
		{"set, under", 4 << 10, 3 << 10, http.StatusSwitchingProtocols},
		{"set, over", 4 << 10, 4 << 10, http.StatusRequestHeaderFieldsTooLarge},
		{"no limit", -1, 200 << 10, http.StatusSwitchingProtocols},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, done := server(t, &websocket.Options{MaxHeaderBytes: tt.max}, echoText)
			c, resp, err := gws.DefaultDialer.Dial(url, bigHeader(tt.header))
			if err == nil {
				defer c.Close()
			}
			if resp == nil {
				t.Fatalf("no answer: %v", err)
			}
			if resp.StatusCode != tt.want {
				t.Fatalf("%d bytes of headers answered %d, want %d", tt.header, resp.StatusCode, tt.want)
			}
			if tt.want != http.StatusSwitchingProtocols {
				select {
				case err := <-done:
					t.Fatalf("the handler ran: %v", err)
				case <-time.After(20 * time.Millisecond):
				}
			}
		})
	}
}

// heapBytes returns the live heap after a collection.
func heapBytes() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// Headers cost an accepted connection memory for its whole life; the cap
// bounds it, and what a connection keeps goes when it closes. Handshakes
// with 512 KiB of headers (under net/http's 1 MiB) are refused and leave
// nothing behind (without the cap each was accepted and kept its headers:
// 10 MiB for these 20); connections with 14 KiB each hold about that while
// open and give it back once closed. The bounds are generous: heap
// figures move with whatever else the process does. (Not parallel: other
// tests would move them more.)
func TestHandshakeHeadersMemory(t *testing.T) {
	tr := websocket.NewTracker(nil)
	srv := httptest.NewServer(websocket.Handler(func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		for {
			if _, _, err := ws.Receive(context.Background()); err != nil {
				return err
			}
		}
	}, &websocket.Options{Tracker: tr, PingInterval: -1}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	closeAll := func(conns []*gws.Conn) {
		for i, c := range conns {
			c.Close()
			conns[i] = nil // the client's side is not what is measured
		}
		waitLen(t, tr, 0)
	}

	base := heapBytes()
	const nBig, big = 20, 512 << 10
	var conns []*gws.Conn
	for range nBig {
		c, resp, err := gws.DefaultDialer.Dial(url, bigHeader(big))
		if err == nil {
			conns = append(conns, c)
		} else if resp == nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("%d KiB of headers: %v", big>>10, err)
		}
	}
	waitLen(t, tr, len(conns))
	grew := heapBytes() - base
	t.Logf("%d handshakes with %d KiB of headers: %d accepted, heap grew by %d KiB", nBig, big>>10, len(conns), grew>>10)
	if grew > nBig*(64<<10) {
		t.Errorf("%d handshakes with %d KiB of headers: the heap grew by %d KiB", nBig, big>>10, grew>>10)
	}
	if len(conns) > 0 {
		t.Errorf("%d of %d handshakes with %d KiB of headers accepted, want 431", len(conns), nBig, big>>10)
	}
	closeAll(conns)

	base = heapBytes()
	const nOK, ok = 100, 14 << 10
	conns = conns[:0]
	for range nOK {
		c, _, err := gws.DefaultDialer.Dial(url, bigHeader(ok))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	waitLen(t, tr, nOK)
	open := heapBytes() - base
	if open > nOK*(64<<10) {
		t.Errorf("%d connections with %d KiB of headers hold %d KiB", nOK, ok>>10, open>>10)
	}
	closeAll(conns)
	after := heapBytes() - base
	t.Logf("%d connections with %d KiB of headers: %d KiB while open, %d KiB after they closed", nOK, ok>>10, open>>10, after>>10)
	if after > open/4 {
		t.Errorf("after %d connections closed the heap is %d KiB over where it was, %d KiB while they were open", nOK, after>>10, open>>10)
	}
}
