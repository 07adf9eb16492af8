package channels_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/websocket"
)

// An error that wraps ErrBrokerUnavailable matches it and carries close
// 1013, so that a handler returning it closes with "try again later".
func TestErrBrokerUnavailableCarriesClose(t *testing.T) {
	t.Parallel()
	cause := errors.New("dial tcp 127.0.0.1:6379: connection refused")
	err := fmt.Errorf("mybroker: publish to %q: %w: %w", "room", channels.ErrBrokerUnavailable, cause)
	if !errors.Is(err, channels.ErrBrokerUnavailable) || !errors.Is(err, cause) {
		t.Fatalf("%v does not match ErrBrokerUnavailable and its cause", err)
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusTryAgainLater || ce.Reason != "try again later" {
		t.Fatalf("errors.As(%v, *CloseError) = %v", err, ce)
	}
	if got := websocket.CloseStatus(err); got != websocket.StatusTryAgainLater {
		t.Errorf("CloseStatus = %v, want %v", got, websocket.StatusTryAgainLater)
	}
	if errors.As(cause, &ce) || errors.Is(channels.ErrBoxClosed, channels.ErrBrokerUnavailable) {
		t.Error("other errors carry the outage's close")
	}
	if channels.ErrBrokerUnavailable.Error() != "channels: broker unavailable" {
		t.Errorf("the text changed: %q", channels.ErrBrokerUnavailable)
	}
}
