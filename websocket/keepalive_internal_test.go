package websocket

import (
	"math/rand/v2"
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
