package websocket_test

// Closing: by the server, by the client, status codes, OnClose, Abort,
// and a receive whose context ends.

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/websocket"
)

func TestCloseStartedByServer(t *testing.T) {
	t.Parallel()
	closeErr := make(chan error, 1)
	url, done := server(t, nil, func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		ws.SendText("before close")
		closeErr <- ws.Close(4100, "see you")
		if ws.State() != websocket.StateClosed {
			return fmt.Errorf("state %v after Close", ws.State())
		}
		if err := ws.Close(1000, "again"); err != nil {
			return fmt.Errorf("second Close: %v", err)
		}
		_, _, err := ws.Receive(context.Background())
		return err
	})
	c := dial(t, url, nil)
	if _, data, err := c.ReadMessage(); err != nil || string(data) != "before close" {
		t.Fatalf("queued message not flushed before close: %q %v", data, err)
	}
	ce := readClose(t, c) // gorilla's client echoes the close frame
	if ce.Code != 4100 || ce.Text != "see you" {
		t.Errorf("client saw %d %q", ce.Code, ce.Text)
	}
	if err := <-closeErr; err != nil {
		t.Errorf("Close: %v", err)
	}
	var de *websocket.DisconnectError
	if err := wait(t, done); !errors.As(err, &de) || de.Code != 4100 || de.Reason != "see you" {
		t.Errorf("handler's Receive after Close: %v", err)
	}
}

func TestCloseStartedByClient(t *testing.T) {
	t.Parallel()
	url, done := server(t, nil, func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		_, _, err := ws.Receive(context.Background())
		// Every later call reports the same disconnect, without blocking.
		for i := 0; i < 3; i++ {
			if _, _, again := ws.Receive(context.Background()); again.Error() != err.Error() {
				return fmt.Errorf("later Receive: %v, first %v", again, err)
			}
		}
		if sendErr := ws.SendText("x"); !errors.Is(sendErr, websocket.ErrClosed) {
			return fmt.Errorf("Send after disconnect: %v", sendErr)
		}
		if ws.IsConnected() || ws.Context().Err() == nil {
			return errors.New("still connected after disconnect")
		}
		return err
	})
	c := dial(t, url, nil)
	c.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(4200, "client leaves"), time.Now().Add(time.Second))
	ce := readClose(t, c)
	if ce.Code != 4200 || ce.Text != "client leaves" {
		t.Errorf("server echoed %d %q, want 4200 \"client leaves\"", ce.Code, ce.Text)
	}
	var de *websocket.DisconnectError
	if err := wait(t, done); !errors.As(err, &de) || de.Code != 4200 || de.Reason != "client leaves" {
		t.Errorf("handler got %v", err)
	}
}

func TestStatusCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code websocket.StatusCode
		want string
	}{
		{websocket.StatusNormalClosure, "1000 (normal closure)"},
		{websocket.StatusSlowConsumer, "4001 (slow consumer)"},
		{websocket.StatusPongTimeout, "4002 (pong timeout)"},
		{websocket.StatusExpired, "4005 (expired)"},
		{4999, "4999"},
	}
	for _, tt := range tests {
		if got := tt.code.String(); got != tt.want {
			t.Errorf("%d: %q, want %q", int(tt.code), got, tt.want)
		}
	}
	if websocket.CloseStatus(errors.New("x")) != -1 || websocket.CloseStatus(nil) != -1 {
		t.Error("CloseStatus of a plain error should be -1")
	}
	wrapped := fmt.Errorf("ctx: %w", &websocket.DisconnectError{Code: 1001})
	if websocket.CloseStatus(wrapped) != 1001 {
		t.Error("CloseStatus does not unwrap")
	}
}

func TestOnCloseAndActivity(t *testing.T) {
	t.Parallel()
	ran := make(chan string, 3)
	url, done := server(t, nil, func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		ws.OnClose(func() {
			if ws.State() != websocket.StateClosed || ws.Context().Err() == nil {
				ran <- "too early"
				return
			}
			ran <- "first"
		})
		ws.OnClose(func() { ran <- "second" })
		a0 := ws.Activity()
		ws.SendText("x")
		if _, err := ws.ReceiveText(context.Background()); err != nil {
			return err
		}
		if got := ws.Activity() - a0; got != 2 {
			return fmt.Errorf("activity grew by %d, want 2", got)
		}
		_, _, err := ws.Receive(context.Background())
		ws.OnClose(func() { ran <- "late" }) // after the end: runs at once
		return err
	})
	c := dial(t, url, nil)
	c.ReadMessage()
	c.WriteMessage(gws.TextMessage, []byte("y"))
	c.Close()
	if err := wait(t, done); websocket.CloseStatus(err) != websocket.StatusAbnormalClosure {
		t.Fatalf("handler: %v", err)
	}
	for _, want := range []string{"first", "second", "late"} {
		if got := <-ran; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

func TestAbort(t *testing.T) {
	t.Parallel()
	url, done := server(t, nil, func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		ws.SendText("queued")
		ws.Abort()
		ws.Abort() // idempotent
		_, _, err := ws.Receive(context.Background())
		return err
	})
	c := dial(t, url, nil)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue // the queued message may or may not have left
		}
		var ce *gws.CloseError
		if errors.As(err, &ce) && ce.Code != 1006 {
			t.Fatalf("aborted connection sent close %d", ce.Code)
		}
		break
	}
	if code := websocket.CloseStatus(wait(t, done)); code != websocket.StatusAbnormalClosure {
		t.Errorf("handler saw %v", code)
	}
}

func TestReceiveContextEndsConnection(t *testing.T) {
	t.Parallel()
	url, done := server(t, nil, func(ws *websocket.WebSocket) error {
		if err := accept(ws); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := ws.ReceiveText(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("got %v, want DeadlineExceeded", err)
		}
		_, err = ws.ReceiveText(context.Background())
		return err
	})
	c := dial(t, url, nil)
	if ce := readClose(t, c); ce.Code != int(websocket.StatusGoingAway) {
		t.Errorf("client saw %d, want 1001", ce.Code)
	}
	if code := websocket.CloseStatus(wait(t, done)); code != websocket.StatusGoingAway {
		t.Errorf("handler saw %v", code)
	}
}
