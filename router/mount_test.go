package router_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/router"
	"github.com/switchboard-go/switchboard/websocket"
)

// echoText accepts and sends every text message back until the client
// leaves.
func echoText(ws *websocket.WebSocket) error {
	if err := ws.Accept(ws.Context(), nil); err != nil {
		return err
	}
	for {
		msg, err := ws.ReceiveText(ws.Context())
		if err != nil {
			return err
		}
		if err := ws.SendText(msg); err != nil {
			return err
		}
	}
}

// dialBounded dials url with a real gorilla client; the handshake and
// every read of the returned connection are bounded.
func dialBounded(t *testing.T, url string) *gws.Conn {
	t.Helper()
	d := gws.Dialer{HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial(url, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", url, err, status)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	return c
}

// TestMountInServeMux mounts one WSRouter in net/http's ServeMux twice: as
// a subtree under "/ws/" behind http.StripPrefix, and at the exact,
// method-qualified pattern "GET /echo", where it sees the whole path. The
// mux keeps serving its own pages beside it.
func TestMountInServeMux(t *testing.T) {
	t.Parallel()
	rt := router.New()
	rt.HandleFunc("/echo", echoText)
	rt.HandleFunc("/rooms/{room}", reply)
	mux := http.NewServeMux()
	mux.Handle("/ws/", http.StripPrefix("/ws", rt))
	mux.Handle("GET /echo", rt)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "home page")
	})
	base := start(t, mux)

	t.Run("echo", func(t *testing.T) {
		t.Parallel()
		for _, path := range []string{"/ws/echo", "/echo"} {
			c := dialBounded(t, wsURL(base, path))
			if err := c.WriteMessage(gws.TextMessage, []byte("hello "+path)); err != nil {
				t.Fatal(err)
			}
			typ, data, err := c.ReadMessage()
			if err != nil || typ != gws.TextMessage || string(data) != "hello "+path {
				t.Errorf("%s: got %d %q %v, want the text back", path, typ, data, err)
			}
			// A clean close: the server answers 1000 and its handler returns.
			c.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(gws.CloseNormalClosure, ""), time.Now().Add(5*time.Second))
			_, _, err = c.ReadMessage()
			var ce *gws.CloseError
			if !errors.As(err, &ce) || ce.Code != gws.CloseNormalClosure {
				t.Errorf("%s: closing got %v, want close 1000", path, err)
			}
			c.Close()
		}
	})

	t.Run("path params", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			path     string
			room     string
			handlerP string // r.URL.Path the handler sees: StripPrefix rewrites it
		}{
			{"/ws/rooms/lobby", "lobby", "/rooms/lobby"},
			{"/ws/rooms/caf%C3%A9", "café", "/rooms/café"},
			{"/ws/rooms/a%2Fb", "a/b", "/rooms/a/b"}, // StripPrefix keeps RawPath, so %2F stays one segment
		}
		for _, tt := range tests {
			c := dialBounded(t, wsURL(base, tt.path))
			var m replyMsg
			if err := c.ReadJSON(&m); err != nil {
				t.Fatalf("%s: %v", tt.path, err)
			}
			c.Close()
			if m.Params["room"] != tt.room || m.PathValue["room"] != tt.room {
				t.Errorf("%s: params %v, PathValue %v, want room %q", tt.path, m.Params, m.PathValue, tt.room)
			}
			if m.Path != tt.handlerP {
				t.Errorf("%s: handler saw URL path %q, want %q", tt.path, m.Path, tt.handlerP)
			}
		}
	})

	t.Run("plain HTTP and refusals", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			method, path string
			status       int
			body         string
		}{
			{"GET", "/ws/echo", http.StatusUpgradeRequired, "Upgrade Required"}, // the router's 426
			{"GET", "/echo", http.StatusUpgradeRequired, "Upgrade Required"},
			{"GET", "/ws/rooms/lobby", http.StatusUpgradeRequired, "Upgrade Required"},
			{"GET", "/ws/nope", http.StatusNotFound, "not found"},    // the router's 404
			{"GET", "/ws/", http.StatusNotFound, "not found"},        // the router has no "/" route
			{"GET", "/echo/x", http.StatusNotFound, "not found"},     // an exact pattern is no subtree
			{"POST", "/echo", http.StatusMethodNotAllowed, "Method"}, // ServeMux's own answer
			{"GET", "/", http.StatusOK, "home page"},
		}
		for _, tt := range tests {
			req, _ := http.NewRequest(tt.method, base+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.body) {
				t.Errorf("%s %s: %d %q, want %d %q", tt.method, tt.path, resp.StatusCode, body, tt.status, tt.body)
			}
			if tt.status == http.StatusUpgradeRequired && resp.Header.Get("Upgrade") != "websocket" {
				t.Errorf("%s %s: 426 without Upgrade: websocket", tt.method, tt.path)
			}
		}
		// Handshakes to paths the router does not serve are refused before
		// any upgrade, by the router or by the mux.
		for _, path := range []string{"/ws/nope", "/echo/x", "/ws/rooms/a/b"} {
			if _, status := get(t, base, path); status != http.StatusNotFound {
				t.Errorf("handshake to %s: status %d, want 404", path, status)
			}
		}
	})
}
