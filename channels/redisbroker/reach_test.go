package redisbroker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/internal/redistest"
	"github.com/switchboard-go/switchboard/websocket"
)

// Errors of calls that Redis refused do not match
// channels.ErrBrokerUnavailable; errors of calls that did not reach it do.
func TestReachClassifies(t *testing.T) {
	rs := redistest.Start(t)
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{rs.Addr()}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Do(ctx, c.B().Lpush().Key("k").Element("a").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	wrongType := c.Do(ctx, c.B().Get().Key("k").Build()).Error()
	if wrongType == nil || errors.Is(reach(wrongType), channels.ErrBrokerUnavailable) {
		t.Errorf("a WRONGTYPE reply (%v) is not an outage", wrongType)
	}
	_, parse := c.Do(ctx, c.B().Lrange().Key("k").Start(0).Stop(-1).Build()).AsInt64()
	if parse == nil || errors.Is(reach(parse), channels.ErrBrokerUnavailable) {
		t.Errorf("an unexpected reply type (%v) is not an outage", parse)
	}
	canceled, stop := context.WithCancel(ctx)
	stop()
	if err := reach(c.Do(canceled, c.B().Ping().Build()).Error()); errors.Is(err, channels.ErrBrokerUnavailable) {
		t.Errorf("a canceled call (%v) is not an outage", err)
	}
	if reach(nil) != nil {
		t.Error("reach(nil) is not nil")
	}

	rs.Kill()
	down := c.Do(ctx, c.B().Ping().Build()).Error()
	if err := reach(down); down == nil || !errors.Is(err, channels.ErrBrokerUnavailable) || err.Error() != down.Error() {
		t.Errorf("a call with Redis down: %v, marked %v; want it to match ErrBrokerUnavailable with the same text", down, err)
	}
	// It carries close 1013 and still holds the client's error.
	if err := reach(down); websocket.CloseStatus(err) != websocket.StatusTryAgainLater || !errors.Is(err, down) {
		t.Errorf("a call with Redis down, marked %v: close %v, holds %v: %v; want close 1013 and the error", err, websocket.CloseStatus(err), down, errors.Is(err, down))
	}
	if c := websocket.CloseStatus(reach(wrongType)); c != -1 {
		t.Errorf("a WRONGTYPE reply (%v) carries close %v", wrongType, c)
	}
	if !errors.Is(ErrNotSubscribed, channels.ErrBrokerUnavailable) {
		t.Error("ErrNotSubscribed does not match channels.ErrBrokerUnavailable")
	}
}
