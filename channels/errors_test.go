package channels_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/websocket"
)

// An error that wraps ErrBrokerUnavailable (or ErrBrokerBusy) matches it
// and is a websocket.StatusError with close 1013, so that a handler
// returning it closes with "try again later" and refuses a handshake with
// 503.
func TestErrBrokerUnavailableCarriesClose(t *testing.T) {
	t.Parallel()
	cause := errors.New("dial tcp 127.0.0.1:6379: connection refused")
	err := fmt.Errorf("mybroker: publish to %q: %w: %w", "room", channels.ErrBrokerUnavailable, cause)
	if !errors.Is(err, channels.ErrBrokerUnavailable) || !errors.Is(err, cause) {
		t.Fatalf("%v does not match ErrBrokerUnavailable and its cause", err)
	}
	for _, err := range []error{err, fmt.Errorf("publish: %w", channels.ErrBrokerBusy)} {
		var se websocket.StatusError
		if !errors.As(err, &se) || se.CloseStatus() != websocket.StatusTryAgainLater || se.CloseReason() != "try again later" {
			t.Fatalf("errors.As(%v, StatusError) = %v", err, se)
		}
		if got := websocket.CloseStatus(err); got != websocket.StatusTryAgainLater {
			t.Errorf("CloseStatus(%v) = %v, want %v", err, got, websocket.StatusTryAgainLater)
		}
		for _, accepted := range []bool{false, true} {
			if e := websocket.EndingFor(err, accepted); e.Kind != websocket.EndTryLater || e.Code != 1013 || e.HTTPStatus != 503 {
				t.Errorf("EndingFor(%v, %v) = %+v, want 1013 and 503", err, accepted, e)
			}
		}
	}
	var se websocket.StatusError
	if errors.As(cause, &se) || errors.Is(channels.ErrBoxClosed, channels.ErrBrokerUnavailable) {
		t.Error("other errors carry the outage's close")
	}
	if channels.ErrBrokerUnavailable.Error() != "channels: broker unavailable" {
		t.Errorf("the text changed: %q", channels.ErrBrokerUnavailable)
	}
}
