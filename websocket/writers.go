package websocket

import (
	"sync"

	"github.com/switchboard-go/switchboard/internal/wire"
)

// writers is the pool of goroutines that write a Handler's connections'
// queued frames, at most one per CPU. A connection whose queue goes from
// empty to not empty joins the pool's ready list; a pool writer takes its
// whole queue, coalesced into one write, and writes it without blocking.
// When the socket does not take all of it (the peer reads slowly), or the
// connection is closing, or its batch is big or compressed, the
// connection gets a writer goroutine of its own (writeLoop), which may
// block, so that one slow peer never holds up the others.
//
// At a few messages a second nothing queues behind anything, and each
// frame costs one system call on a goroutine that is already running,
// instead of starting and scheduling a goroutine per connection and
// message; under load, frames still gather in each connection's queue
// while it waits on the ready list, and go out together.
//
// Pool writers exit when the ready list is empty: an idle Handler holds
// none.
type writers struct {
	max  int
	free sync.Pool // *wire.Writer

	mu      sync.Mutex
	ready   []*WebSocket // from head on: connections waiting for a writer, each at most once
	head    int
	running int
}

func newWriters(max int) *writers {
	p := &writers{max: max}
	p.free.New = func() any { return wire.NewWriter(burstBufferSize) }
	return p
}

// push puts ws on the ready list and starts a pool writer when fewer than
// max run. ws.writing is set: ws is nowhere else.
func (p *writers) push(ws *WebSocket) {
	p.mu.Lock()
	if len(p.ready) == cap(p.ready) && p.head > 0 {
		n := copy(p.ready, p.ready[p.head:])
		clear(p.ready[n:])
		p.ready, p.head = p.ready[:n], 0
	}
	p.ready = append(p.ready, ws)
	start := p.running < p.max
	if start {
		p.running++
	}
	p.mu.Unlock()
	if start {
		go p.run()
	}
}

// run is a pool writer: it writes for the ready connections, oldest first,
// until none is left.
func (p *writers) run() {
	w := p.free.Get().(*wire.Writer)
	for {
		p.mu.Lock()
		if p.head == len(p.ready) {
			p.running--
			p.ready, p.head = p.ready[:0], 0
			if cap(p.ready) > 1<<12 {
				p.ready = nil // a burst to many connections is over
			}
			p.mu.Unlock()
			break
		}
		ws := p.ready[p.head]
		p.ready[p.head] = nil
		p.head++
		p.mu.Unlock()
		ws.writeReady(w, p)
	}
	p.free.Put(w)
}

// writeReady writes ws's queue for a pool writer, without blocking (see
// writers). ws.writing is set and no other goroutine writes for ws.
func (ws *WebSocket) writeReady(w *wire.Writer, p *writers) {
	bc := ws.bc
	// bc's lock is held by another goroutine only for gorilla's own write
	// of a close frame, which may block: leave ws to a writer of its own.
	if !bc.TryLock() {
		go ws.writeLoop()
		return
	}
	ws.mu.Lock()
	if len(ws.queue) == 0 {
		// teardown emptied it
		ws.writing, ws.inflight = false, 0
		ws.mu.Unlock()
		bc.Unlock()
		return
	}
	if ws.closing || ws.queued > w.Cap() || bc.PendingLocked() {
		ws.mu.Unlock()
		bc.Unlock()
		go ws.writeLoop()
		return
	}
	batch := ws.queue
	ws.queue, ws.spare = ws.spare[:0], nil
	ws.inflight, ws.queued = ws.queued, 0
	ws.pongAt = 0 // the queued pong, if any, is being written
	ws.mu.Unlock()

	b := batch[0].b
	if len(batch) > 1 {
		b = w.Buf()
		for i := range batch {
			b = append(b, batch[i].b...)
		}
	}
	done, err := bc.TryWriteLocked(w, b, len(batch) > 1)
	bc.Unlock()
	if err == nil {
		for i := range batch {
			if op := batch[i].op; op == wire.OpText || op == wire.OpBinary {
				ws.cfg.metrics.MessageOut(len(batch[i].b))
			}
		}
	}
	clear(batch)

	ws.mu.Lock()
	ws.spare = batch[:0]
	switch {
	case err != nil:
		ws.mu.Unlock()
		go ws.writeFailed(err) // teardown runs OnClose hooks: not on a pool writer
		return
	case !done:
		// The rest waits in bc.rest for a writer that may block.
		ws.mu.Unlock()
		go ws.writeLoop()
		return
	}
	ws.inflight = 0
	if len(ws.queue) > 0 {
		ws.mu.Unlock()
		p.push(ws) // more came meanwhile: back of the line
		return
	}
	ws.stopWritingLocked()
	ws.mu.Unlock()
}
