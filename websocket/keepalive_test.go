package websocket_test

// Keepalive: pings, pongs and the pong timeout, with many connections.

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/websocket"
)

func TestNoPongClosesWithPongTimeout(t *testing.T) {
	t.Parallel()
	opts := &websocket.Options{PingInterval: 50 * time.Millisecond, PongTimeout: 100 * time.Millisecond}
	url, done := server(t, opts, func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		_, _, err := ws.Receive(context.Background())
		return err
	})
	c := dial(t, url, nil)
	pings := 0
	c.SetPingHandler(func(string) error { pings++; return nil }) // never answers
	if ce := readClose(t, c); ce.Code != int(websocket.StatusPongTimeout) {
		t.Errorf("client saw close %d, want %d", ce.Code, websocket.StatusPongTimeout)
	}
	if pings == 0 {
		t.Error("the server never pinged")
	}
	if code := websocket.CloseStatus(wait(t, done)); code != websocket.StatusPongTimeout {
		t.Errorf("handler saw %v, want pong timeout", code)
	}
}

// One timer serves the keepalive of every connection of a Handler: among
// many at once, each silent one is closed with StatusPongTimeout and each
// one that answers stays open.
func TestKeepaliveManyConnections(t *testing.T) {
	t.Parallel()
	const n = 40
	codes := make(chan websocket.StatusCode, n)
	srv := httptest.NewServer(websocket.Handler(func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		_, _, err := ws.Receive(context.Background())
		codes <- websocket.CloseStatus(err)
		return err
	}, &websocket.Options{PingInterval: 20 * time.Millisecond, PongTimeout: 300 * time.Millisecond}))
	t.Cleanup(srv.Close)
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	type client struct {
		c     *gws.Conn
		mu    sync.Mutex
		pings int
		ended chan error
	}
	clients := make([]*client, n)
	for i := range clients {
		cl := &client{c: dial(t, url, nil), ended: make(chan error, 1)}
		clients[i] = cl
		answers := i%2 == 0
		cl.c.SetPingHandler(func(data string) error {
			cl.mu.Lock()
			cl.pings++
			cl.mu.Unlock()
			if !answers {
				return nil
			}
			return cl.c.WriteControl(gws.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		go func() {
			cl.c.SetReadDeadline(time.Now().Add(10 * time.Second))
			for {
				if _, _, err := cl.c.ReadMessage(); err != nil {
					cl.ended <- err
					return
				}
			}
		}()
	}
	for i := 1; i < n; i += 2 {
		var ce *gws.CloseError
		if err := <-clients[i].ended; !errors.As(err, &ce) || ce.Code != int(websocket.StatusPongTimeout) {
			t.Errorf("silent client %d: %v, want close %d", i, err, websocket.StatusPongTimeout)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; i < n; i += 2 {
		cl := clients[i]
		for {
			cl.mu.Lock()
			p := cl.pings
			cl.mu.Unlock()
			if p >= 5 {
				break
			}
			select {
			case err := <-cl.ended:
				t.Fatalf("answering client %d ended after %d pings: %v", i, p, err)
			case <-time.After(10 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("answering client %d got %d pings in 5s", i, p)
			}
		}
		cl.c.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
	}
	got := map[websocket.StatusCode]int{}
	for range n {
		select {
		case c := <-codes:
			got[c]++
		case <-time.After(10 * time.Second):
			t.Fatalf("handlers still running; ended so far: %v", got)
		}
	}
	if got[websocket.StatusPongTimeout] != n/2 || got[websocket.StatusNormalClosure] != n/2 {
		t.Errorf("handlers ended with %v, want %d pong timeouts and %d normal closures", got, n/2, n/2)
	}
}

func TestPongsKeepConnectionAlive(t *testing.T) {
	t.Parallel()
	// The pings span several pong timeouts, with room for a loaded machine
	// to answer each within one.
	opts := &websocket.Options{PingInterval: 20 * time.Millisecond, PongTimeout: 150 * time.Millisecond}
	url, done := server(t, opts, echoText)
	c := dial(t, url, nil)
	pings := make(chan struct{}, 100)
	c.SetPingHandler(func(data string) error {
		select {
		case pings <- struct{}{}:
		default:
		}
		return c.WriteControl(gws.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	// Read (answering pings) until several pings have come and gone.
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	for i := 0; i < 20; i++ {
		select {
		case <-pings:
		case err := <-done:
			t.Fatalf("connection ended after %d pings: %v", i, err)
		case <-time.After(5 * time.Second):
			t.Fatal("no ping")
		}
	}
	c.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
	if code := websocket.CloseStatus(wait(t, done)); code != 1000 {
		t.Errorf("handler saw %v, want 1000", code)
	}
}
