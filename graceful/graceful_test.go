package graceful_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/graceful"
	"github.com/switchboard-go/switchboard/router"
	"github.com/switchboard-go/switchboard/websocket"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server runs a router with a box endpoint (/box) and a plain one (/plain)
// on a real listener, with a Stopper attached.
func server(t *testing.T) (string, *channels.ChannelBox, *websocket.Tracker, *graceful.Stopper) {
	t.Helper()
	tracker := websocket.NewTracker(nil)
	box := channels.NewBox(&channels.Options{DrainBatch: 3, DrainJitter: 5 * time.Millisecond})
	rt := router.NewWithOptions(&router.Options{WebSocket: &websocket.Options{Tracker: tracker}})
	serve := func(register bool) func(*websocket.WebSocket) error {
		return func(ws *websocket.WebSocket) error {
			if err := ws.Accept(ws.Context(), nil); err != nil {
				return err
			}
			if register {
				ch, err := box.Register(ws, nil)
				if err != nil {
					return err
				}
				box.AddToGroup(ws.Context(), "all", ch.ID()) //nolint:errcheck // tested elsewhere
			}
			for {
				if _, _, err := ws.Receive(ws.Context()); err != nil {
					return err
				}
			}
		}
	}
	rt.HandleFunc("/box", serve(true))
	rt.HandleFunc("/plain", serve(false))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rt}
	stop := graceful.Attach(srv, &graceful.Options{
		Boxes: []*channels.ChannelBox{box}, Tracker: tracker,
		Close: &websocket.ShutdownOptions{Batch: 3, Jitter: 5 * time.Millisecond},
	})
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stop.Shutdown(ctx) //nolint:errcheck // idempotent; the test checked its own call
		<-done
	})
	return "ws://" + ln.Addr().String(), box, tracker, stop
}

func dial(t *testing.T, url string) *gws.Conn {
	t.Helper()
	c, _, err := gws.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Shutdown closes every connection, in a box or not, with 4000 after what
// was queued for it, refuses what comes after, and returns when all are
// closed.
func TestShutdownClosesEveryConnectionAfterItsQueue(t *testing.T) {
	url, box, tracker, stop := server(t)
	var clients []*gws.Conn
	for i := range 10 {
		path := "/box"
		if i%3 == 0 {
			path = "/plain"
		}
		clients = append(clients, dial(t, url+path))
	}
	deadline := time.Now().Add(5 * time.Second)
	for tracker.Len() < 10 || len(box.Members("all")) < 6 {
		if time.Now().After(deadline) {
			t.Fatalf("tracked %d, in the box %d", tracker.Len(), len(box.Members("all")))
		}
		time.Sleep(5 * time.Millisecond)
	}
	const queued = 50
	for i := range queued {
		box.GroupSend(context.Background(), "all", strconv.Itoa(i)) //nolint:errcheck // counted below
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- stop.Shutdown(ctx) }()

	for i, c := range clients {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		got := 0
		for {
			_, _, err := c.ReadMessage()
			if err == nil {
				got++
				continue
			}
			var ce *gws.CloseError
			if !errors.As(err, &ce) || ce.Code != int(websocket.StatusShutdown) {
				t.Errorf("client %d ended with %v, want close 4000", i, err)
			}
			break
		}
		if i%3 != 0 && got != queued {
			t.Errorf("client %d got %d of %d queued messages before the close", i, got, queued)
		}
	}
	if err := <-errc; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if n := tracker.Len(); n != 0 {
		t.Errorf("%d connections left", n)
	}
	if _, _, err := gws.DefaultDialer.Dial(url+"/plain", nil); err == nil {
		t.Error("a handshake after Shutdown succeeded")
	}
}

// When ctx ends before the peers answer, Shutdown drops the rest and
// returns ctx's error, without waiting for them.
func TestShutdownGivesUpWithItsContext(t *testing.T) {
	url, _, tracker, stop := server(t)
	for range 5 {
		dial(t, url+"/plain") // never reads: no close handshake
	}
	for tracker.Len() < 5 {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := stop.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want the deadline", err)
	}
	if n := tracker.Len(); n != 0 {
		t.Errorf("%d connections left after the abort", n)
	}
}
