package websocket

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
)

// The keepalive heap stays a heap, with every connection's index right,
// through random schedules, reschedules and removals.
func TestKeepaliveHeap(t *testing.T) {
	var k scheduler
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
	if armed(&k) {
		t.Fatal("the timer is armed with no connection scheduled")
	}
}

// armed reports whether k's timer is armed, and stops it if it is: k
// must have nothing scheduled.
func armed(k *scheduler) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.at != 0 || (k.timer != nil && k.timer.Stop())
}

// scheduled returns the connections in k's heap.
func scheduled(k *scheduler) []*WebSocket {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.heap)
}

// Each Handler has a keepalive scheduler of its own, made from the same
// Options or not, that holds only its own connections and has no timer
// armed once they are gone. One handler pings fast and its silent client
// is closed with StatusPongTimeout (its check leaves the heap as it runs);
// the other pings once an hour and its connection stays scheduled, until
// the client leaves (and unschedule empties the heap).
func TestKeepaliveSchedulerPerHandler(t *testing.T) {
	t.Parallel()
	fast := &Options{PingInterval: 20 * time.Millisecond, PongTimeout: 50 * time.Millisecond, CloseTimeout: 50 * time.Millisecond}
	slow := &Options{PingInterval: time.Hour, CloseTimeout: 50 * time.Millisecond}
	for _, tc := range []struct {
		name         string
		opts1, opts2 *Options
	}{
		{"different options", fast, slow},
		{"same options", fast, fast},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			type served struct {
				h    *handler
				ws   chan *WebSocket
				done chan error
				url  string
			}
			serve := func(opts *Options) *served {
				s := &served{ws: make(chan *WebSocket, 1), done: make(chan error, 1)}
				s.h = Handler(func(ws *WebSocket) error {
					if err := ws.Accept(context.Background(), nil); err != nil {
						return err
					}
					s.ws <- ws
					_, _, err := ws.Receive(context.Background())
					s.done <- err
					return err
				}, opts).(*handler)
				srv := httptest.NewServer(s.h)
				t.Cleanup(srv.Close)
				s.url = "ws" + strings.TrimPrefix(srv.URL, "http")
				return s
			}
			dial := func(url string) *gws.Conn {
				c, _, err := gws.DefaultDialer.Dial(url, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			}
			wait := func(done <-chan error) error {
				select {
				case err := <-done:
					return err
				case <-time.After(10 * time.Second):
					t.Fatal("handler did not return")
					return nil
				}
			}

			a, b := serve(tc.opts1), serve(tc.opts2)
			if a.h.cfg == b.h.cfg || &a.h.cfg.keepalive == &b.h.cfg.keepalive {
				t.Fatal("two handlers share a config")
			}
			// The clients never read, so they never answer a ping.
			ca := dial(a.url)
			wsA := <-a.ws
			cb := dial(b.url)
			wsB := <-b.ws

			var sb []*WebSocket
			if tc.opts2 == slow {
				// b's only check is an hour away: its heap holds it
				// whatever a's scheduler does.
				sb = scheduled(&b.h.cfg.keepalive)
				if len(sb) != 1 || sb[0] != wsB {
					t.Fatalf("b's scheduler holds %d connections, want b's alone", len(sb))
				}
			}
			if code := CloseStatus(wait(a.done)); code != StatusPongTimeout {
				t.Fatalf("a's connection ended with %v, want %v", code, StatusPongTimeout)
			}
			<-wsA.Context().Done() // torn down
			if sa := scheduled(&a.h.cfg.keepalive); len(sa) != 0 {
				t.Fatalf("a's scheduler holds %d connections after its last ended", len(sa))
			}
			if armed(&a.h.cfg.keepalive) {
				t.Fatal("a's scheduler has its timer armed with no connection")
			}
			if tc.opts2 == slow {
				sb = scheduled(&b.h.cfg.keepalive)
				if len(sb) != 1 || sb[0] != wsB {
					t.Fatalf("after a's connection ended, b's scheduler holds %d connections, want b's", len(sb))
				}
			}

			ca.Close()
			want := StatusPongTimeout // b's client is as silent as a's
			if tc.opts2 == slow {
				want = StatusNormalClosure
				cb.WriteMessage(gws.CloseMessage, gws.FormatCloseMessage(gws.CloseNormalClosure, ""))
			}
			if code := CloseStatus(wait(b.done)); code != want {
				t.Fatalf("b's connection ended with %v, want %v", code, want)
			}
			<-wsB.Context().Done()
			if sb := scheduled(&b.h.cfg.keepalive); len(sb) != 0 {
				t.Fatalf("b's scheduler holds %d connections after its last ended", len(sb))
			}
			if armed(&b.h.cfg.keepalive) {
				t.Fatal("b's scheduler has its timer armed with no connection")
			}
		})
	}
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
