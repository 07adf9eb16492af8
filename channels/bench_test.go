package channels_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/internal/wstest"
	"github.com/switchboard-go/switchboard/websocket"
)

// pipeGroup puts n members in group "bench" over in-memory pipes (so that
// 10,000 members need no file descriptors). Clients discard raw bytes and
// count them into read.
func pipeGroup(b *testing.B, n int, typ channels.PayloadType) (*channels.ChannelBox, *atomic.Int64) {
	b.Helper()
	box := channels.NewBox(nil)
	ready := make(chan struct{}, n)
	h := websocket.Handler(func(ws *websocket.WebSocket) error {
		if err := ws.Accept(context.Background(), nil); err != nil {
			return err
		}
		ch, err := box.Register(ws, &channels.RegisterOptions{PayloadType: typ})
		if err != nil {
			return err
		}
		box.AddToGroup(context.Background(), "bench", ch.ID())
		ready <- struct{}{}
		for {
			if _, _, err := ws.Receive(ws.Context()); err != nil {
				return err
			}
		}
	}, &websocket.Options{MaxQueueBytes: 256 << 20, PingInterval: -1})
	l := wstest.NewPipeListener()
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	read := &atomic.Int64{}
	d := gws.Dialer{NetDialContext: l.Dial, HandshakeTimeout: 30 * time.Second}
	conns := make([]*gws.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, _, err := d.Dial("ws://pipe/", nil)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		go func() {
			buf := make([]byte, 4096)
			for {
				k, err := c.UnderlyingConn().Read(buf)
				read.Add(int64(k))
				if err != nil {
					return
				}
			}
		}()
		<-ready
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, c := range conns {
			c.Close()
		}
		box.Close(ctx)
		l.Close()
		srv.Close()
	})
	return box, read
}

// drained waits until the clients have read want bytes.
func drained(read *atomic.Int64, want int64) {
	for read.Load() < want {
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkGroupSend measures one GroupSend (encode once, enqueue to every
// member); the writers and clients drain in the background, outside the
// timer every 100 sends.
//
//	go test -run='^$' -bench=GroupSend -benchmem ./channels
func BenchmarkGroupSend(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run(itoa(n), func(b *testing.B) {
			box, read := pipeGroup(b, n, channels.JSON)
			payload := "a 64-byte chat message......................................."
			frame := int64(2 + len(payload))
			base := read.Load()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if got, err := box.GroupSend(context.Background(), "bench", payload); err != nil || got != n {
					b.Fatalf("delivered %d of %d: %v", got, n, err)
				}
				if i%100 == 99 {
					b.StopTimer()
					drained(read, base+int64(i+1)*int64(n)*frame)
					b.StartTimer()
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "enqueues/s")
		})
	}
}

// BenchmarkEncoding compares encoding a value once per group (GroupSend)
// with encoding it for each member (a loop of Channel.Send), for 1,000
// JSON members.
func BenchmarkEncoding(b *testing.B) {
	type update struct {
		Symbol string  `json:"symbol"`
		Price  float64 `json:"price"`
		Volume int     `json:"volume"`
	}
	v := update{"SWB", 101.25, 4200}
	const n = 1000
	for _, mode := range []string{"once", "per-member"} {
		b.Run(mode, func(b *testing.B) {
			box, read := pipeGroup(b, n, channels.JSON)
			members := box.Members("bench")
			base := read.Load()
			frame := int64(2 + len(`{"symbol":"SWB","price":101.25,"volume":4200}`))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if mode == "once" {
					box.GroupSend(context.Background(), "bench", v)
				} else {
					for _, ch := range members {
						ch.Send(v)
					}
				}
				if i%100 == 99 {
					b.StopTimer()
					drained(read, base+int64(i+1)*n*frame)
					b.StartTimer()
				}
			}
		})
	}
}

// BenchmarkSavedSend measures saving a message in the history of one of
// 1,000 groups with no members: the broker's append, its caps and the
// total cap's bookkeeping.
//
//	go test -run='^$' -bench=SavedSend -benchmem ./channels
func BenchmarkSavedSend(b *testing.B) {
	box := channels.NewBox(nil)
	defer box.Close(context.Background())
	payload := "a 64-byte chat message......................................."
	groups := make([]string, 1000)
	for i := range groups {
		groups[i] = "g" + itoa(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := box.GroupSend(context.Background(), groups[i%len(groups)], payload, channels.SaveHistory()); err != nil {
			b.Fatal(err)
		}
	}
}
