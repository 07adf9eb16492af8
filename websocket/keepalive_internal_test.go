package websocket

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The keepalive heap stays a heap, with every connection's index right,
// through random schedules, reschedules and removals.
func TestKeepaliveHeap(t *testing.T) {
	var k ticker
	defer func() {
		if k.timer != nil {
			k.timer.Stop()
		}
	}()
	base := time.Now().Add(time.Hour).UnixNano() // never due during the test
	r := rand.New(rand.NewPCG(1, 2))
	conns := make([]*WebSocket, 500)
	for i := range conns {
		conns[i] = &WebSocket{}
	}
	in := 0
	check := func(step int) {
		t.Helper()
		if len(k.heap) != in {
			t.Fatalf("step %d: heap holds %d, want %d", step, len(k.heap), in)
		}
		for i, ws := range k.heap {
			if int(ws.kaIdx) != i+1 {
				t.Fatalf("step %d: index %d holds a connection that thinks it is at %d", step, i, ws.kaIdx-1)
			}
			if i > 0 && k.heap[(i-1)/2].kaAt > ws.kaAt {
				t.Fatalf("step %d: heap order broken at %d", step, i)
			}
		}
		if in > 0 && k.at > k.heap[0].kaAt {
			t.Fatalf("step %d: timer set for %d, after the earliest check %d", step, k.at, k.heap[0].kaAt)
		}
	}
	for step := range 20000 {
		ws := conns[r.IntN(len(conns))]
		if ws.kaIdx != 0 && r.IntN(3) == 0 {
			k.unschedule(ws)
			in--
		} else {
			if ws.kaIdx == 0 {
				in++
			}
			k.schedule(ws, base+r.Int64N(int64(time.Hour)))
		}
		check(step)
	}
	for _, ws := range conns {
		if ws.kaIdx != 0 {
			k.unschedule(ws)
			in--
		}
	}
	check(-1)
}

// Pongs are bounded like any frame. With no writer to drain the queue: a
// pong still at the end of the queue takes each new ping's payload; behind
// a message a new pong is queued; and a pong that would take the queue
// past MaxQueueBytes closes the connection with StatusSlowConsumer.
func TestPongsAreBounded(t *testing.T) {
	t.Parallel()
	cfg := (&Options{MaxQueueBytes: 1000, CloseTimeout: 10 * time.Millisecond, PingInterval: -1}).resolve()
	ws := newWebSocket(httptest.NewRequest(http.MethodGet, "/", nil), cfg)
	ws.writeFn = func() {} // the writer never runs: what is queued stays
	ws.state.Store(int32(StateConnected))
	queue := func() (frames, bytes int, last string) {
		ws.mu.Lock()
		defer ws.mu.Unlock()
		f := ws.queue[len(ws.queue)-1]
		return len(ws.queue), ws.queued, string(f.b[2:])
	}

	for i := range 50 {
		ws.onPing(strings.Repeat(string(rune('a'+i%26)), 100))
	}
	if n, b, last := queue(); n != 1 || b != 102 || last != strings.Repeat("x", 100) {
		t.Fatalf("after 50 pings: %d frames, %d bytes, last %q; want the last ping's pong alone", n, b, last)
	}
	if err := ws.SendBytes(make([]byte, 700)); err != nil {
		t.Fatal(err)
	}
	ws.onPing("p")
	ws.onPing("q") // replaces "p", at the end
	if n, b, last := queue(); n != 3 || b != 102+704+3 || last != "q" {
		t.Fatalf("pongs around a message: %d frames, %d bytes, last %q", n, b, last)
	}
	if err := ws.SendBytes(make([]byte, 180)); err != nil { // 992 bytes queued
		t.Fatal(err)
	}
	ws.onPing("over the bound")
	ws.mu.Lock()
	closing, code := ws.closing, ws.closeCode
	ws.mu.Unlock()
	if !closing || code != StatusSlowConsumer {
		t.Fatalf("a pong past the bound: closing %v with %v, want %v", closing, code, StatusSlowConsumer)
	}
	<-ws.ctx.Done() // torn down after CloseTimeout: the close frame is never written
}
