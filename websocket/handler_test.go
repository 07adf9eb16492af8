package websocket_test

// What a handler's return does to its connection, before and after Accept.

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/websocket"
)

func TestHandlerOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		fn   func(ws *websocket.WebSocket) error
		code int
	}{
		{"nil", func(*websocket.WebSocket) error { return nil }, 1000},
		{"error", func(*websocket.WebSocket) error { return errors.New("db down") }, 1011},
		{"panic", func(*websocket.WebSocket) error { panic("bug") }, 1011},
		{"close error", func(*websocket.WebSocket) error {
			return fmt.Errorf("auth: %w", websocket.NewCloseError(websocket.StatusUnauthorized, "token expired"))
		}, int(websocket.StatusUnauthorized)},
		{"error carrying a close", func(*websocket.WebSocket) error {
			return fmt.Errorf("join: %w", tryLater{})
		}, int(websocket.StatusTryAgainLater)},
		{"status error", func(*websocket.WebSocket) error {
			return fmt.Errorf("publish: %w", outage{})
		}, int(websocket.StatusTryAgainLater)},
		{"refusal after Accept", func(*websocket.WebSocket) error {
			return websocket.Refuse(errors.New("not allowed"))
		}, 1011},
		{"close error with a code that cannot be sent", func(*websocket.WebSocket) error {
			return websocket.NewCloseError(websocket.StatusAbnormalClosure, "")
		}, 1011},
		{"bad code", func(ws *websocket.WebSocket) error {
			if err := ws.Close(1006, ""); !errors.Is(err, websocket.ErrInvalidStatusCode) {
				return err
			}
			return nil
		}, 1011},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srvURL, _ := server(t, &websocket.Options{Logger: discardLogger()}, func(ws *websocket.WebSocket) error {
				if err := accept(ws); err != nil {
					return err
				}
				return tt.fn(ws)
			})
			c := dial(t, srvURL, nil)
			if ce := readClose(t, c); ce.Code != tt.code {
				t.Errorf("close %d, want %d", ce.Code, tt.code)
			}
		})
	}
}

// outage is a websocket.StatusError that asks to come back later, as
// channels.ErrBrokerUnavailable is.
type outage struct{}

func (outage) Error() string                     { return "broker down" }
func (outage) CloseStatus() websocket.StatusCode { return websocket.StatusTryAgainLater }
func (outage) CloseReason() string               { return "try again later" }

// tryLater is an error that is no CloseError but carries one through an
// As method, the older way to carry a code; it still counts.
type tryLater struct{}

func (tryLater) Error() string { return "service down" }

func (tryLater) As(target any) bool {
	p, ok := target.(**websocket.CloseError)
	if ok {
		*p = &websocket.CloseError{Code: websocket.StatusTryAgainLater, Reason: "try again later"}
	}
	return ok
}

// A handler that fails before Accept gets the handshake refused: 503 for
// an error that carries StatusTryAgainLater, 403 for a refusal, 500 for
// any other.
func TestHandlerFailsBeforeAccept(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("presence: %w", tryLater{}), http.StatusServiceUnavailable},
		{fmt.Errorf("presence: %w", outage{}), http.StatusServiceUnavailable},
		{websocket.Refuse(errors.New("token expired")), http.StatusForbidden},
		{websocket.Refuse(outage{}), http.StatusServiceUnavailable},
		{websocket.NewCloseError(websocket.StatusUnauthorized, "who?"), http.StatusInternalServerError},
		{errors.New("db down"), http.StatusInternalServerError},
	} {
		url, done := server(t, &websocket.Options{Logger: discardLogger()}, func(*websocket.WebSocket) error { return tt.err })
		c, resp, err := gws.DefaultDialer.Dial(url, nil)
		if err == nil {
			c.Close()
			t.Fatalf("%v: the handshake succeeded", tt.err)
		}
		if resp == nil || resp.StatusCode != tt.want {
			t.Errorf("%v: %v, %v; want status %d", tt.err, resp, err, tt.want)
		}
		if resp != nil {
			resp.Body.Close()
		}
		wait(t, done)
	}
}
