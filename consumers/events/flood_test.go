package events_test

import (
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/consumers/events"
	"github.com/switchboard-go/switchboard/websocket"
)

// One client sending as fast as it can is closed for it, and meanwhile the
// others, within their limit, get every answer. (Their round trips are
// logged, not asserted: timings belong to the load tool.)
func TestFloodDoesNotHoldUpOthers(t *testing.T) {
	t.Parallel()
	_, url := startEvents(t, &events.EventOptions{RateLimit: 100, RateBurst: 20, MaxViolations: 50})

	flooder := dialEvents(t, url)
	flooded := make(chan error, 1)
	go func() {
		// Write until the server closes us (bounded in count, too).
		for range 1_000_000 {
			if err := flooder.c.WriteMessage(gws.TextMessage, []byte(`{"event":"echo","payload":"x"}`)); err != nil {
				break
			}
		}
		flooder.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			if _, _, err := flooder.c.ReadMessage(); err != nil {
				flooded <- err
				return
			}
		}
	}()

	var mu sync.Mutex
	var rtts []time.Duration
	var wg sync.WaitGroup
	for k := range 3 {
		c := dialEvents(t, url)
		wg.Go(func() {
			for i := range 30 {
				ref := strconv.Itoa(k*100 + i)
				start := time.Now()
				c.send(`{"event":"echo","payload":` + ref + `,"ref":"` + ref + `"}`)
				got := c.recv()
				if got["event"] != "echo" || got["ref"] != ref {
					t.Errorf("client %d, request %d: %v", k, i, got)
					return
				}
				mu.Lock()
				rtts = append(rtts, time.Since(start))
				mu.Unlock()
				time.Sleep(20 * time.Millisecond) // 50/s, within the limit
			}
		})
	}
	wg.Wait()
	err := <-flooded
	var ce *gws.CloseError
	if !errors.As(err, &ce) || ce.Code != int(websocket.StatusRateLimited) {
		t.Errorf("the flooder ended with %v, want close %d", err, websocket.StatusRateLimited)
	}
	slices.Sort(rtts)
	if len(rtts) > 0 {
		t.Logf("others' round trips during the flood: p50 %v, max %v over %d requests",
			rtts[len(rtts)/2], rtts[len(rtts)-1], len(rtts))
	}
}
