package websocket_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/websocket"
)

// A draining tracker refuses new handshakes with 503, answers 503 to a
// handshake in progress (its handler had not accepted yet), and Shutdown
// waits for that one too.
func TestTrackerRefusesAndClosesDuringDrain(t *testing.T) {
	tracker := websocket.NewTracker(nil)
	release, started := make(chan struct{}), make(chan struct{})
	url, done := server(t, &websocket.Options{Tracker: tracker}, func(ws *websocket.WebSocket) error {
		close(started)
		<-release // still deciding when the drain begins
		if err := accept(ws); err != nil {
			return err
		}
		_, _, err := ws.Receive(context.Background())
		return err
	})
	type dialed struct {
		resp *http.Response
		err  error
	}
	got := make(chan dialed, 1)
	go func() {
		c, resp, err := gws.DefaultDialer.Dial(url, nil)
		if c != nil {
			c.Close()
		}
		got <- dialed{resp, err}
	}()
	<-started
	if tracker.Len() != 1 {
		t.Fatalf("a handshake in progress: Len %d, want 1", tracker.Len())
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- tracker.Shutdown(ctx, nil)
	}()
	d := <-got
	if d.err == nil || d.resp == nil || d.resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("the handshake in progress: %v %v, want 503", d.resp, d.err)
	}
	if _, resp, err := gws.DefaultDialer.Dial(url, nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("handshake while draining: %v %v, want 503", resp, err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	close(release)
	if err := wait(t, done); err == nil {
		t.Error("the handler accepted after the drain answered its handshake")
	}
	if tracker.Len() != 0 {
		t.Errorf("%d left", tracker.Len())
	}
}

// An open connection is closed with 4000 by Shutdown, which returns once
// it is over.
func TestTrackerShutdownClosesOpenConnections(t *testing.T) {
	tracker := websocket.NewTracker(nil)
	url, done := server(t, &websocket.Options{Tracker: tracker}, func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		_, _, err := ws.Receive(context.Background())
		return err
	})
	c := dial(t, url, nil)
	waitLen(t, tracker, 1)
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- tracker.Shutdown(ctx, nil)
	}()
	if ce := readClose(t, c); ce.Code != int(websocket.StatusShutdown) {
		t.Errorf("closed with %d", ce.Code)
	}
	c.WriteMessage(gws.CloseMessage, gws.FormatCloseMessage(int(websocket.StatusShutdown), "")) //nolint:errcheck // the close handshake
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	wait(t, done)
}

// limited serves an echo-less handler behind a Tracker with opts; the
// query's user is the authenticated user.
func limited(t *testing.T, opts *websocket.TrackerOptions) (string, *websocket.Tracker) {
	t.Helper()
	tracker := websocket.NewTracker(opts)
	h := websocket.Handler(func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		_, _, err := ws.Receive(context.Background())
		return err
	}, &websocket.Options{Tracker: tracker})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(websocket.WithUser(r.Context(), r.URL.Query().Get("user"))))
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), tracker
}

// refused dials and expects 429 with a body naming the limit.
func refused(t *testing.T, url, want string) *http.Response {
	t.Helper()
	c, resp, err := gws.DefaultDialer.Dial(url, nil)
	if err == nil {
		c.Close()
		t.Fatalf("dial %s over the limit succeeded", url)
	}
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("dial over the limit: %v %v, want 429", resp, err)
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), want) {
		t.Errorf("429 body %q, want it to say %q", body, want)
	}
	return resp
}

func waitLen(t *testing.T, tr *websocket.Tracker, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for tr.Len() != n {
		if time.Now().After(deadline) {
			t.Fatalf("tracker holds %d, want %d", tr.Len(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestTrackerLimitsConnectionsPerIP(t *testing.T) {
	url, tr := limited(t, &websocket.TrackerOptions{MaxConnsPerIP: 2})
	a := dial(t, url, nil)
	dial(t, url, nil)
	refused(t, url, "too many connections from this address")
	a.Close()
	waitLen(t, tr, 1)
	dial(t, url, nil) // the slot came back
}

func TestTrackerLimitsConnectionsPerUser(t *testing.T) {
	url, tr := limited(t, &websocket.TrackerOptions{MaxConnsPerUser: 1})
	a := dial(t, url+"?user=ada", nil)
	refused(t, url+"?user=ada", "too many connections for this user")
	dial(t, url+"?user=bob", nil) // another user
	a.Close()
	waitLen(t, tr, 1)
	dial(t, url+"?user=ada", nil)
}

func TestTrackerLimitsHandshakeRate(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	url, _ := limited(t, &websocket.TrackerOptions{HandshakeRate: 1, HandshakeBurst: 2,
		Now: func() time.Time { return time.Unix(0, now.Load()) }})
	dial(t, url, nil)
	dial(t, url, nil)
	if resp := refused(t, url, "handshakes too fast"); resp.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	now.Add(int64(time.Second))
	dial(t, url, nil)
}
