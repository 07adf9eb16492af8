package websocket_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/websocket"
)

// A draining tracker refuses handshakes with 503, and a connection whose
// handler accepts during the drain is closed at once with 4000; Shutdown
// waits for it too.
func TestTrackerRefusesAndClosesDuringDrain(t *testing.T) {
	tracker := websocket.NewTracker()
	release, started := make(chan struct{}), make(chan struct{})
	url, done := server(t, &websocket.Options{Tracker: tracker}, func(ws *websocket.WebSocket) error {
		close(started)
		<-release // accepts only once the drain began
		if err := accept(ws); err != nil {
			return err
		}
		_, _, err := ws.Receive(context.Background())
		return err
	})
	type dialed struct {
		c   *gws.Conn
		err error
	}
	got := make(chan dialed, 1)
	go func() {
		c, _, err := gws.DefaultDialer.Dial(url, nil)
		got <- dialed{c, err}
	}()
	<-started
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- tracker.Shutdown(ctx, nil)
	}()
	for !tracker.Draining() {
		time.Sleep(time.Millisecond)
	}
	if _, resp, err := gws.DefaultDialer.Dial(url, nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("handshake while draining: %v %v, want 503", resp, err)
	}
	close(release)
	d := <-got
	if d.err != nil {
		t.Fatal(d.err)
	}
	defer d.c.Close()
	if ce := readClose(t, d.c); ce.Code != int(websocket.StatusShutdown) {
		t.Errorf("accepted during the drain: closed with %d", ce.Code)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	wait(t, done)
	if tracker.Len() != 0 {
		t.Errorf("%d left", tracker.Len())
	}
}
