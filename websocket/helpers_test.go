package websocket_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/switchboard-go/switchboard/internal/connmem"
	"github.com/switchboard-go/switchboard/websocket"
)

func TestMain(m *testing.M) {
	if url := os.Getenv(clientsURLEnv); url != "" {
		// The client process of TestIdleConnectionMemory.
		n, _ := strconv.Atoi(os.Getenv(clientsNEnv))
		os.Exit(connmem.RunClients(url, n, os.Stdin, os.Stdout))
	}
	goleak.VerifyTestMain(m)
}

// server serves fn on a real 127.0.0.1 socket and returns its ws:// URL.
// It reports fn's return value on the returned channel.
func server(t testing.TB, opts *websocket.Options, fn websocket.HandlerFunc) (string, <-chan error) {
	t.Helper()
	done := make(chan error, 1)
	srv := httptest.NewServer(websocket.Handler(func(ws *websocket.WebSocket) error {
		err := fn(ws)
		done <- err
		return err
	}, opts))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), done
}

// dial connects a gorilla client (a real WebSocket client over TCP).
func dial(t testing.TB, url string, h http.Header) *gws.Conn {
	t.Helper()
	c, resp, err := gws.DefaultDialer.Dial(url, h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", url, err, status)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// accept is a handler prologue.
func accept(ws *websocket.WebSocket) error {
	return ws.Accept(context.Background(), nil)
}

// echoText is a handler that echoes text messages until the peer leaves.
func echoText(ws *websocket.WebSocket) error {
	if err := accept(ws); err != nil {
		return err
	}
	for {
		s, err := ws.ReceiveText(context.Background())
		if err != nil {
			return err
		}
		if err := ws.SendText(s); err != nil {
			return err
		}
	}
}

// wait returns the handler's result, failing after a generous bound.
func wait(t testing.TB, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("handler did not return")
		return nil
	}
}

// readClose reads until the client sees the server's close frame and
// returns it; other messages are discarded.
func readClose(t testing.TB, c *gws.Conn) *gws.CloseError {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		ce, ok := err.(*gws.CloseError)
		if !ok {
			t.Fatalf("client read: %v, want a close frame", err)
		}
		return ce
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// mustPrepare is NewPreparedMessage for payloads known to be valid.
func mustPrepare(t websocket.MessageType, data []byte) *websocket.PreparedMessage {
	pm, err := websocket.NewPreparedMessage(t, data)
	if err != nil {
		panic(err)
	}
	return pm
}
