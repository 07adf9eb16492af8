package websocket_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/websocket"
)

// Close (which rejects before Accept) racing Accept: whichever wins, the
// client sees either a refused handshake or a proper close frame, and the
// connection ends Closed with its context cancelled.
func TestCloseRacingAccept(t *testing.T) {
	t.Parallel()
	for i := 0; i < 30; i++ {
		states := make(chan string, 1)
		url, done := server(t, &websocket.Options{Logger: discardLogger(), CloseTimeout: time.Second}, func(ws *websocket.WebSocket) error {
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); ws.Close(1000, "") }()
			acc := ws.Accept(context.Background(), nil)
			wg.Wait()
			if acc != nil && !errors.Is(acc, websocket.ErrClosed) {
				states <- "accept: " + acc.Error()
			} else {
				states <- ws.State().String() + " " + errString(ws.Context().Err())
			}
			return nil
		})
		c, resp, err := gws.DefaultDialer.Dial(url, nil)
		if err == nil {
			if ce := readClose(t, c); ce.Code != 1000 {
				t.Fatalf("accepted connection closed with %d, want 1000", ce.Code)
			}
			c.Close()
		} else if resp == nil || resp.StatusCode != 403 {
			t.Fatalf("dial: %v", err)
		}
		if st := <-states; st != "closed context canceled" {
			t.Fatalf("after Close and Accept: %s", st)
		}
		wait(t, done)
	}
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

// Sending while Accept runs is safe (it fails with ErrNotAccepted until the
// handshake is done). The race detector is the judge.
func TestSendDuringAccept(t *testing.T) {
	t.Parallel()
	url, done := server(t, nil, func(ws *websocket.WebSocket) error {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					ws.SendText("x")
					ws.Subprotocol()
				}
			}
		}()
		err := accept(ws)
		close(stop)
		wg.Wait()
		return err
	})
	dial(t, url, nil)
	wait(t, done)
}

// A Receive whose ctx derives from Context() reports the disconnect, not
// context.Canceled, when the connection is torn down under it.
func TestDerivedContextReceiveReportsDisconnect(t *testing.T) {
	t.Parallel()
	for i := 0; i < 20; i++ {
		url, done := server(t, &websocket.Options{CloseTimeout: 30 * time.Millisecond}, func(ws *websocket.WebSocket) error {
			if err := accept(ws); err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(ws.Context())
			defer cancel()
			go func() {
				time.Sleep(5 * time.Millisecond)
				ws.Close(4100, "") // the client never answers: torn down at CloseTimeout
			}()
			_, _, err := ws.Receive(ctx)
			return err
		})
		dial(t, url, nil) // never reads, never answers the close
		err := wait(t, done)
		var de *websocket.DisconnectError
		if !errors.As(err, &de) || de.Code != 4100 {
			t.Fatalf("Receive returned %v, want the DisconnectError 4100", err)
		}
	}
}

// A small frame followed by one too big for the burst buffer: the writer
// must still return the buffer when it goes idle, and a protocol error
// from the peer afterwards must reach it as gorilla's 1002 close frame.
func TestIdleAfterMixedBurstThenProtocolError(t *testing.T) {
	t.Parallel()
	for i := 0; i < 10; i++ {
		url, done := server(t, nil, func(ws *websocket.WebSocket) error {
			if err := accept(ws); err != nil {
				return err
			}
			ws.SendText("small")
			ws.SendText(strings.Repeat("b", 40<<10))
			for {
				if _, _, err := ws.Receive(context.Background()); err != nil {
					return err
				}
			}
		})
		c := dial(t, url, nil)
		for range 2 {
			if _, _, err := c.ReadMessage(); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(10 * time.Millisecond) // let the writer go idle
		// A masked frame with the reserved opcode 3.
		c.UnderlyingConn().Write([]byte{0x83, 0x80, 1, 2, 3, 4})
		if ce := readClose(t, c); ce.Code != 1002 {
			t.Fatalf("client saw %d, want gorilla's 1002", ce.Code)
		}
		if code := websocket.CloseStatus(wait(t, done)); code != websocket.StatusProtocolError {
			t.Fatalf("handler saw %v", code)
		}
	}
}
