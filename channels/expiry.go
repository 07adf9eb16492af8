package channels

import (
	"time"

	"github.com/switchboard-go/switchboard/websocket"
)

// janitor closes channels idle for longer than their expiry, and has a
// broker that can expire history in the background do it. Idleness is
// read from the connection's activity counter, so that the box's clock
// (Options.Now) alone decides, fake or real.
func (b *ChannelBox) janitor() {
	t := time.NewTicker(b.opts.JanitorInterval)
	defer t.Stop()
	hx, _ := b.broker.(historyExpirer)
	idle := b.opts.HistoryTTL
	if idle <= 0 {
		idle = DefaultHistoryTTL
	}
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.expire()
			if hx != nil {
				hx.ExpireHistory(idle)
			}
		}
	}
}

// historyExpirer is a broker that keeps history in this process and so
// must be told to age it (MemoryBroker).
type historyExpirer interface {
	ExpireHistory(idle time.Duration)
}

// expire runs one janitor pass.
func (b *ChannelBox) expire() {
	now := b.opts.Now().UnixNano()
	var expired []*Channel
	b.mu.RLock()
	for _, ch := range b.channels {
		if ch.opts.Expires <= 0 || ch.expiring {
			continue
		}
		if a := ch.ws.Activity(); a != ch.lastActivity {
			ch.lastActivity, ch.lastSeen = a, now
			continue
		}
		if time.Duration(now-ch.lastSeen) >= ch.opts.Expires {
			ch.expiring = true
			expired = append(expired, ch)
		}
	}
	b.mu.RUnlock()
	for _, ch := range expired {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			ch.ws.Close(websocket.StatusExpired, "expired") //nolint:errcheck // valid code
		}()
	}
}
