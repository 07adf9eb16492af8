package redisbroker_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/channels/redisbroker"
	"github.com/switchboard-go/switchboard/internal/redistest"
)

// probe is a node that records when group messages arrive and, for
// messages whose data is their send time (see stamped), how long they
// took.
type probe struct {
	id   string
	n    atomic.Int64
	recv chan time.Time

	mu  sync.Mutex
	lat []time.Duration
}

func newProbe(id string) *probe { return &probe{id: id, recv: make(chan time.Time, 1)} }

func (p *probe) NodeID() string { return p.id }
func (p *probe) DeliverGroup(_ string, m *channels.Message) int {
	if len(m.Data) > 0 && m.Data[0] == 't' {
		if ns, err := strconv.ParseInt(string(m.Data[1:]), 10, 64); err == nil {
			p.mu.Lock()
			p.lat = append(p.lat, time.Since(time.Unix(0, ns)))
			p.mu.Unlock()
		}
	}
	p.n.Add(1)
	select {
	case p.recv <- time.Now():
	default:
	}
	return 1
}
func (p *probe) DeliverChannel(string, *channels.Message) bool       { return false }
func (p *probe) DeliverUser(string, *channels.Message) int           { return 0 }
func (p *probe) DeliverOffline(string)                               {}
func (p *probe) DeliverPresenceGone(string, []channels.PresenceInfo) {}
func (p *probe) ResyncGroup(string)                                  {}

// lastRedis is the redis-server the last pair runs on.
var lastRedis *redistest.Server

// pair is two nodes, a publisher and a subscriber to group "g" (and to
// groups), over the memory broker, one redis-server ("redis") or a Redis
// Cluster of 3 masters ("cluster").
func pair(b *testing.B, kind string, groups ...string) (channels.Broker, *probe, *probe) {
	b.Helper()
	var pub, sub channels.Broker
	switch kind {
	case "memory":
		m := channels.NewMemoryBroker(nil)
		pub, sub = m, m
	case "redis", "cluster":
		o := &redisbroker.Options{}
		if kind == "cluster" {
			o.Cluster = redistest.StartCluster(b, 3, 0).Addrs()
		} else {
			lastRedis = redistest.Start(b)
			o.Addr = lastRedis.URL()
		}
		for _, p := range []*channels.Broker{&pub, &sub} {
			r, err := redisbroker.New(o)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { r.Close(context.Background()) })
			*p = r
		}
	}
	a, c := newProbe("A"), newProbe("B")
	for _, x := range []struct {
		br channels.Broker
		p  *probe
	}{{pub, a}, {sub, c}} {
		if err := x.br.Start(x.p); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { x.br.Stop(x.p) })
	}
	for _, g := range append([]string{"g"}, groups...) {
		if err := sub.Subscribe(ctx, c, g); err != nil {
			b.Fatal(err)
		}
	}
	return pub, a, c
}

func message(payload string) *channels.Message {
	m := channels.NewMessage(payload)
	m.Origin = "A"
	return m
}

// BenchmarkLatency measures publish→receive on another node, one message
// at a time, and reports its p50 and p99.
func BenchmarkLatency(b *testing.B) {
	for _, kind := range []string{"memory", "redis"} {
		b.Run(kind, func(b *testing.B) {
			pub, _, sub := pair(b, kind)
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				start := time.Now()
				if _, err := pub.Publish(ctx, "g", message("ping"), channels.PublishOptions{}); err != nil {
					b.Fatal(err)
				}
				select {
				case got := <-sub.recv:
					lat = append(lat, got.Sub(start))
				case <-time.After(5 * time.Second):
					b.Fatal("message lost")
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2])/1e3, "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100])/1e3, "p99-µs")
		})
	}
}

// stamped is a message whose data is its send time.
func stamped() *channels.Message {
	return message("t" + strconv.FormatInt(time.Now().UnixNano(), 10))
}

// waitFor waits until sub has n messages, or fails after 30 s.
func waitFor(b *testing.B, sub *probe, n int64) {
	b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for sub.n.Load() < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := sub.n.Load(); got < n {
		b.Fatalf("the other node got %d of %d", got, n)
	}
}

// BenchmarkPipeline measures publishes per second from one loop on one
// node through the pipeline (NoWait, what GroupSend does by default),
// counted when the other node has them all: the "one node to one
// redis-server" figure.
func BenchmarkPipeline(b *testing.B) {
	for _, saved := range []bool{false, true} {
		name := "unsaved"
		if saved {
			name = "saved"
		}
		b.Run(name, func(b *testing.B) {
			pub, _, sub := pair(b, "redis")
			opts := channels.PublishOptions{NoWait: true, History: saved, Size: 100}
			cpu0 := lastRedis.CPUSeconds()
			start := time.Now()
			for b.Loop() {
				for {
					_, err := pub.Publish(ctx, "g", message("0123456789abcdef0123456789abcdef"), opts)
					if err == nil {
						break
					}
					if !errors.Is(err, channels.ErrBrokerBusy) {
						b.Fatal(err)
					}
					time.Sleep(50 * time.Microsecond) // the bound is full: let Redis catch up
				}
			}
			waitFor(b, sub, int64(b.N))
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "delivered/s")
			// Redis's own cost per publish, delivery to the subscriber
			// included: what bounds a shard when Redis has a core.
			b.ReportMetric((lastRedis.CPUSeconds()-cpu0)*1e6/float64(b.N), "redis-cpu-µs/op")
		})
	}
}

// BenchmarkPipelineGroups is BenchmarkPipeline over 64 groups, on one
// redis-server and on a Redis Cluster of 3 masters (no replicas), where
// the groups spread over the masters and each batch goes to all three at
// once. Every server runs on this machine, sharing its cores.
func BenchmarkPipelineGroups(b *testing.B) {
	const groups = 64
	for _, kind := range []string{"redis", "cluster"} {
		for _, saved := range []bool{false, true} {
			name := kind + "/unsaved"
			if saved {
				name = kind + "/saved"
			}
			b.Run(name, func(b *testing.B) {
				var names []string
				for i := range groups {
					names = append(names, "g"+strconv.Itoa(i))
				}
				pub, _, sub := pair(b, kind, names...)
				opts := channels.PublishOptions{NoWait: true, History: saved, Size: 100}
				start := time.Now()
				i := 0
				for b.Loop() {
					i++
					for {
						_, err := pub.Publish(ctx, "g"+strconv.Itoa(i%groups), message("0123456789abcdef0123456789abcdef"), opts)
						if err == nil {
							break
						}
						if !errors.Is(err, channels.ErrBrokerBusy) {
							b.Fatal(err)
						}
						time.Sleep(50 * time.Microsecond) // the bound is full: let Redis catch up
					}
				}
				waitFor(b, sub, int64(b.N))
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "delivered/s")
			})
		}
	}
}

// BenchmarkLatencyAtHalfLoad measures publish→receive on another node
// while one loop publishes at half the pipeline's plateau over Redis
// (found first, from a one-second burst), and reports its p50 and p99;
// the memory case runs at the same rate, as the baseline that Redis adds
// to.
func BenchmarkLatencyAtHalfLoad(b *testing.B) {
	var rate float64
	for _, kind := range []string{"redis", "memory"} {
		b.Run(kind, func(b *testing.B) {
			pub, _, sub := pair(b, kind)
			opts := channels.PublishOptions{NoWait: true}
			if rate == 0 {
				// The plateau: as many as one loop gets through in a second.
				start := time.Now()
				sent := int64(0)
				for time.Since(start) < time.Second {
					if _, err := pub.Publish(ctx, "g", message("x"), opts); err == nil {
						sent++
					} else {
						time.Sleep(50 * time.Microsecond)
					}
				}
				waitFor(b, sub, sent)
				rate = float64(sent) / time.Since(start).Seconds() / 2
				if f, err := strconv.ParseFloat(os.Getenv("LATENCY_SHARE"), 64); err == nil {
					rate = rate * 2 * f
				}
			}
			interval := time.Duration(float64(time.Second) / rate)
			sub.mu.Lock()
			sub.lat = make([]time.Duration, 0, b.N)
			sub.mu.Unlock()
			before := sub.n.Load()
			next := time.Now()
			for b.Loop() {
				// Ahead of the schedule by more than a little: sleep (the
				// machine may have few cores, which a spinning loop would
				// take).
				if d := time.Until(next); d > 200*time.Microsecond {
					time.Sleep(d)
				}
				next = next.Add(interval)
				if _, err := pub.Publish(ctx, "g", stamped(), opts); err != nil {
					b.Fatal(err)
				}
			}
			waitFor(b, sub, before+int64(b.N))
			sub.mu.Lock()
			lat := slices.Clone(sub.lat)
			sub.mu.Unlock()
			slices.Sort(lat)
			b.ReportMetric(rate, "msgs/s")
			b.ReportMetric(float64(lat[len(lat)/2])/1e3, "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100])/1e3, "p99-µs")
		})
	}
}

// BenchmarkPublish measures publishes per second from one node, from many
// goroutines at once (as a busy server's handlers do), with the other
// node receiving them all.
func BenchmarkPublish(b *testing.B) {
	for _, kind := range []string{"memory", "redis"} {
		for _, saved := range []bool{false, true} {
			name := kind
			if saved {
				name += "/saved"
			}
			b.Run(name, func(b *testing.B) {
				pub, _, sub := pair(b, kind)
				opts := channels.PublishOptions{History: saved, Size: 100}
				b.SetParallelism(64)
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := pub.Publish(ctx, "g", message("0123456789abcdef0123456789abcdef"), opts); err != nil {
							b.Error(err)
							return
						}
					}
				})
				// Fan-out throughput counts a message when the other node got it.
				deadline := time.Now().Add(30 * time.Second)
				for sub.n.Load() < int64(b.N) && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				if got := sub.n.Load(); got < int64(b.N) {
					b.Fatalf("the other node got %d of %d", got, b.N)
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "delivered/s")
			})
		}
	}
}

// BenchmarkSendToChannels sends one message to 100 channels held by
// another node: in one PublishToChannels call (one round trip, after the
// script's load) or one PublishToChannel a channel.
func BenchmarkSendToChannels(b *testing.B) {
	pub, _, sub := pair(b, "redis")
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = "c" + strconv.Itoa(i)
	}
	// The channels are held by the subscriber's node (recorded through
	// the publisher's broker: both share one Redis).
	for _, id := range ids {
		if _, err := pub.Connected(ctx, sub, id, ""); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("batched", func(b *testing.B) {
		for b.Loop() {
			n, err := pub.(channels.ChannelsPublisher).PublishToChannels(ctx, ids, message("x"))
			if err != nil || n != len(ids) {
				b.Fatalf("PublishToChannels: %d, %v", n, err)
			}
		}
	})
	b.Run("one-by-one", func(b *testing.B) {
		for b.Loop() {
			for _, id := range ids {
				if err := pub.PublishToChannel(ctx, id, message("x")); err != nil {
					b.Fatalf("PublishToChannel %s: %v", id, err)
				}
			}
		}
	})
}
