package websocket

import (
	"container/heap"
	"slices"
	"sync"
	"time"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// onPing answers a ping through the writer's queue (gorilla's default
// handler would write from the reading goroutine, racing a burst). The
// answer counts against MaxQueueBytes like any frame, and a peer that
// pings faster than it reads cannot grow the queue: while the answer to
// an earlier ping waits at the end of the queue, the next ping replaces
// its payload, for RFC 6455 (section 5.5.3) lets an endpoint answer only
// the latest ping. (Behind a message queued since, a new answer is
// queued instead: the pong does not overtake it.) This runs for the pings
// gorilla reads and for those read between messages (wireControl).
func (ws *WebSocket) onPing(data string) error {
	ws.lastRead.Store(time.Now().UnixNano())
	ws.mu.Lock()
	if ws.closing || ws.State() != StateConnected {
		ws.mu.Unlock()
		return nil
	}
	if ws.pongAt > 0 && ws.pongAt == len(ws.queue) {
		f := &ws.queue[ws.pongAt-1]
		ws.queued -= len(f.b)
		f.b = f.b[:wire.HeaderLen(len(data))+len(data)] // made with room for any control payload
		wire.PutHeader(f.b, wire.OpPong, len(data))
		copy(f.b[2:], data)
		ws.queued += len(f.b)
		ws.mu.Unlock()
		return nil
	}
	n := wire.HeaderLen(len(data)) + len(data)
	if ws.fullLocked(n) {
		ws.startCloseLocked(StatusSlowConsumer, "slow consumer", "slow consumer", false)
		ws.mu.Unlock()
		go ws.awaitClose(false)
		return nil
	}
	b := make([]byte, n, max(n, 2+wire.MaxControlPayload))
	wire.PutHeader(b, wire.OpPong, len(data))
	copy(b[2:], data)
	ws.pushLocked(outFrame{b: b, op: wire.OpPong})
	ws.pongAt = len(ws.queue)
	ws.mu.Unlock()
	return nil
}

func (ws *WebSocket) onPong(string) error {
	ws.lastRead.Store(time.Now().UnixNano())
	return nil
}

// onKeepalive runs when the connection's keepalive check is due (see
// scheduler). It pings a connection that has been silent for
// PingInterval and closes it with StatusPongTimeout when nothing arrived
// within PongTimeout of the ping.
func (ws *WebSocket) onKeepalive(now int64) {
	last := ws.lastRead.Load()
	if ws.pingSent != 0 && last < ws.pingSent {
		if wait := ws.pingSent + int64(ws.cfg.pongTimeout) - now; wait > 0 {
			ws.rearm(now, time.Duration(wait))
			return
		}
		ws.mu.Lock()
		started := ws.startCloseLocked(StatusPongTimeout, "pong timeout", "pong timeout", false)
		ws.mu.Unlock()
		if started {
			go ws.awaitClose(false) // it waits; the other connections' checks must not
		}
		return
	}
	ws.pingSent = 0
	if idle := time.Duration(now - last); idle < ws.cfg.pingInterval {
		ws.rearm(now, ws.cfg.pingInterval-idle)
		return
	}
	ws.mu.Lock()
	if ws.closing || ws.State() != StateConnected {
		ws.mu.Unlock()
		return
	}
	ws.pushLocked(outFrame{b: pingFrame, op: wire.OpPing})
	ws.mu.Unlock()
	ws.pingSent = now
	ws.rearm(now, ws.cfg.pongTimeout)
}

// pingFrame is the ping every connection queues: an empty payload, the
// same bytes for all. It is never written to, so one copy is shared.
var pingFrame = []byte{0x80 | wire.OpPing, 0}

// rearm schedules the connection's next keepalive check d after now,
// unless it is closing.
func (ws *WebSocket) rearm(now int64, d time.Duration) {
	ws.mu.Lock()
	if !ws.closing {
		ws.cfg.keepalive.schedule(ws, now+int64(d))
	}
	ws.mu.Unlock()
}

// scheduler holds the next keepalive check of every connection of one
// Handler (its config owns it) in a min-heap and runs the due ones from
// one timer: a connection costs a heap slot and two fields instead of a
// timer of its own. The zero value is ready to use. The timer is made on
// first use and is stopped whenever the heap is empty, so a scheduler
// with no connections has no timer armed and no goroutine; fire runs on
// a goroutine of its own (time.AfterFunc's) only while checks are due.
// Lock order: a connection's mu, then the scheduler's mu.
type scheduler struct {
	mu    sync.Mutex
	heap  kaHeap       // by kaAt
	timer *time.Timer  // runs fire; made on first use
	at    int64        // when timer fires, unix nanos; 0 when it is not armed
	due   []*WebSocket // fire's batch, reused
}

// schedule sets ws's next check to at (unix nanos), adding ws to the heap
// if it is not in it.
func (k *scheduler) schedule(ws *WebSocket, at int64) {
	k.mu.Lock()
	ws.kaAt = at
	if ws.kaIdx == 0 {
		heap.Push(&k.heap, ws)
	} else {
		heap.Fix(&k.heap, int(ws.kaIdx)-1)
	}
	k.armLocked()
	k.mu.Unlock()
}

// unschedule takes ws out of the heap, and stops the timer when the heap
// is left empty.
func (k *scheduler) unschedule(ws *WebSocket) {
	k.mu.Lock()
	if ws.kaIdx != 0 {
		k.removeLocked(int(ws.kaIdx) - 1)
		if len(k.heap) == 0 {
			k.stopLocked()
		}
	}
	k.mu.Unlock()
}

// stopLocked disarms the timer. A fire that the timer has started
// already runs as any other: it arms the timer again only for a check
// scheduled since.
func (k *scheduler) stopLocked() {
	if k.timer != nil {
		k.timer.Stop()
	}
	k.at = 0
}

func (k *scheduler) removeLocked(i int) *WebSocket {
	ws := heap.Remove(&k.heap, i).(*WebSocket)
	if cap(k.heap) > 256 && len(k.heap) < cap(k.heap)/4 {
		k.heap = slices.Clip(slices.Clone(k.heap)) // give back what a burst grew
	}
	return ws
}

// armLocked makes the timer fire at the earliest check.
func (k *scheduler) armLocked() {
	if len(k.heap) == 0 {
		return
	}
	at := k.heap[0].kaAt
	if k.at != 0 && k.at <= at {
		return // fires soon enough; fire re-arms
	}
	k.at = at
	d := time.Duration(at - time.Now().UnixNano())
	if k.timer == nil {
		k.timer = time.AfterFunc(d, k.fire)
	} else {
		k.timer.Reset(d)
	}
}

// fire runs the due checks, in batches so that the lock is not held
// while they run.
func (k *scheduler) fire() {
	const batch = 256
	for {
		now := time.Now().UnixNano()
		k.mu.Lock()
		k.at = 0
		due := k.due[:0]
		k.due = nil // a concurrent fire makes its own
		for len(k.heap) > 0 && k.heap[0].kaAt <= now && len(due) < batch {
			due = append(due, k.removeLocked(0))
		}
		more := len(due) == batch
		if !more {
			k.armLocked()
		}
		k.mu.Unlock()
		for i, ws := range due {
			ws.onKeepalive(now)
			due[i] = nil
		}
		k.mu.Lock()
		k.due = due
		k.mu.Unlock()
		if !more {
			return
		}
	}
}

// kaHeap is a container/heap of connections by their next check; each
// one's kaIdx is its index + 1, 0 out of the heap.
type kaHeap []*WebSocket

func (h kaHeap) Len() int           { return len(h) }
func (h kaHeap) Less(i, j int) bool { return h[i].kaAt < h[j].kaAt }

func (h kaHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].kaIdx, h[j].kaIdx = int32(i+1), int32(j+1)
}

func (h *kaHeap) Push(x any) {
	ws := x.(*WebSocket)
	*h = append(*h, ws)
	ws.kaIdx = int32(len(*h))
}

func (h *kaHeap) Pop() any {
	old := *h
	ws := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	ws.kaIdx = 0
	return ws
}

// wireControl is the connection as its wire.Reader's Control: the pings
// and pongs read between messages go where gorilla's would. A conversion
// of the *WebSocket, it costs no allocation.
type wireControl WebSocket

var _ wire.Control = (*wireControl)(nil)

func (c *wireControl) OnPing(payload string) {
	(*WebSocket)(c).onPing(payload) //nolint:errcheck // never fails
}

func (c *wireControl) OnPong() {
	(*WebSocket)(c).onPong("") //nolint:errcheck // never fails
}
