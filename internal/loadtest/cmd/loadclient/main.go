// Command loadclient is the load tool's client: one process that holds
// many WebSocket connections to a server under test (see package proto for
// the contract), runs one scenario, and prints its result as one JSON
// object on stdout. The orchestrator, cmd/loadtest, runs it pinned to its
// own core.
//
//	loadclient -url ws://127.0.0.1:PORT -scenario idle -conns 10000
//	loadclient -url ws://127.0.0.1:PORT -scenario fanout -conns 1000 -size 64 -rates 100,200,500
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/internal/loadtest/proto"
	"github.com/switchboard-go/switchboard/internal/loadtest/result"
)

func main() {
	url := flag.String("url", "", "the server's base URL, ws://host:port")
	scenario := flag.String("scenario", "idle", "idle or fanout")
	conns := flag.Int("conns", 1000, "subscriber connections")
	size := flag.Int("size", 64, "fanout: payload bytes")
	rates := flag.String("rates", "100,200,500,1000", "fanout: offered messages a second, one step each, raised until delivery plateaus")
	step := flag.Duration("step", 3*time.Second, "fanout: length of each step")
	every := flag.Bool("every-step", false, "fanout: run every rate, even past the plateau (for latency at fixed loads)")
	flag.Parse()
	if *url == "" {
		log.Fatal("loadclient: -url is required")
	}
	c := &client{base: strings.TrimSuffix(*url, "/")}
	var res any
	var err error
	switch *scenario {
	case "idle":
		res, err = c.idle(*conns)
	case "fanout":
		var rs []int
		for _, f := range strings.Split(*rates, ",") {
			r, perr := strconv.Atoi(strings.TrimSpace(f))
			if perr != nil || r <= 0 {
				log.Fatalf("loadclient: bad rate %q", f)
			}
			rs = append(rs, r)
		}
		res, err = c.fanout(*conns, *size, rs, *step, *every)
	default:
		err = fmt.Errorf("unknown scenario %q", *scenario)
	}
	if err != nil {
		log.Fatalf("loadclient: %v", err)
	}
	json.NewEncoder(os.Stdout).Encode(res) //nolint:errcheck // stdout
}

type client struct {
	base string
}

func (c *client) httpURL(path string) string {
	return "http" + strings.TrimPrefix(c.base, "ws") + path
}

func (c *client) stats(gc bool) (proto.Stats, error) {
	u := c.httpURL("/stats")
	if gc {
		u += "?gc=1"
	}
	resp, err := http.Get(u)
	if err != nil {
		return proto.Stats{}, err
	}
	defer resp.Body.Close()
	var s proto.Stats
	err = json.NewDecoder(resp.Body).Decode(&s)
	return s, err
}

// dialer keeps per-connection memory small on the client side too.
var dialer = &gws.Dialer{
	NetDialContext:   (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	HandshakeTimeout: 10 * time.Second,
	ReadBufferSize:   1024,
	WriteBufferSize:  1024,
}

// dialMany opens n connections to path, 64 at a time.
func (c *client) dialMany(n int, path string) ([]*gws.Conn, error) {
	out := make([]*gws.Conn, n)
	errs := make(chan error, 1)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			conn, _, err := dialer.Dial(c.base+path, nil)
			if err != nil {
				select {
				case errs <- fmt.Errorf("dial %d: %w", i, err):
				default:
				}
				return
			}
			out[i] = conn
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		closeAll(out)
		return nil, err
	default:
	}
	return out, nil
}

func closeAll(cs []*gws.Conn) {
	for _, c := range cs {
		if c != nil {
			c.Close()
		}
	}
}

// waitConns polls the server until it reports n connections.
func (c *client) waitConns(n int) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		s, err := c.stats(false)
		if err == nil && s.Conns == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server holds %d connections, want %d (%v)", s.Conns, n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *client) idle(n int) (*result.Idle, error) {
	before, err := c.stats(true)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	cs, err := c.dialMany(n, "/ws?room=idle")
	if err != nil {
		return nil, err
	}
	defer closeAll(cs)
	took := time.Since(start)
	if err := c.waitConns(n); err != nil {
		return nil, err
	}
	after, err := c.stats(true)
	if err != nil {
		return nil, err
	}
	hs := func(s proto.Stats) float64 { return float64(s.HeapInuse + s.StackInuse) }
	return &result.Idle{
		Conns:            n,
		HeapStackPerConn: (hs(after) - hs(before)) / float64(n),
		RSSPerConn:       (float64(after.RSS) - float64(before.RSS)) / float64(n),
		GoroutinesPer:    float64(after.Goroutines-before.Goroutines) / float64(n),
		ConnectSeconds:   took.Seconds(),
		UpgradesPerSec:   float64(n) / took.Seconds(),
	}, nil
}

// member reads one subscriber connection and records, per sequence number,
// when the message reached the last member so far.
type member struct {
	conn   *gws.Conn
	last   uint64 // last sequence seen
	closed atomic.Bool
}

func (c *client) fanout(n, size int, rates []int, step time.Duration, every bool) (*result.Fanout, error) {
	cs, err := c.dialMany(n, "/ws?room=fan")
	if err != nil {
		return nil, err
	}
	defer closeAll(cs)
	pub, _, err := dialer.Dial(c.base+"/ws?room=fan&publish=1", nil)
	if err != nil {
		return nil, err
	}
	defer pub.Close()
	// The publisher reads too, so that it answers the servers' pings.
	go func() {
		for {
			if _, _, err := pub.NextReader(); err != nil {
				return
			}
		}
	}()
	if err := c.waitConns(n + 1); err != nil {
		return nil, err
	}

	// lastRecv[seq] is the latest arrival (unix nanos) of message seq; sent
	// times travel in the payload.
	maxMsgs := 0
	for _, r := range rates {
		maxMsgs += r*int(step/time.Second) + r
	}
	lastRecv := make([]atomic.Int64, maxMsgs+1)
	sentAt := make([]atomic.Int64, maxMsgs+1)
	count := make([]atomic.Int32, maxMsgs+1) // members that got message seq
	var delivered, gaps, closed atomic.Int64 // delivered counts all, for the record
	var wg sync.WaitGroup
	for _, conn := range cs {
		m := &member{conn: conn}
		wg.Go(func() {
			buf := make([]byte, 32)
			for {
				_, r, err := m.conn.NextReader()
				if err != nil {
					if !m.closed.Load() {
						closed.Add(1)
					}
					return
				}
				if _, err := io.ReadFull(r, buf); err != nil {
					continue
				}
				io.Copy(io.Discard, r) //nolint:errcheck // the padding
				seq, _, err := proto.Decode(buf)
				if err != nil || seq >= uint64(len(lastRecv)) {
					continue
				}
				now := time.Now().UnixNano()
				for {
					old := lastRecv[seq].Load()
					if now <= old || lastRecv[seq].CompareAndSwap(old, now) {
						break
					}
				}
				if m.last != 0 && seq != m.last+1 {
					gaps.Add(1)
				}
				m.last = seq
				count[seq].Add(1)
				delivered.Add(1)
			}
		})
	}

	res := &result.Fanout{Members: n, Size: size}
	seq := uint64(0)
	payload := make([]byte, 0, max(size, 32))
	// stepDelivered sums the deliveries of the step's own messages.
	stepDelivered := func(first, last uint64) int64 {
		var sum int64
		for s := first; s <= last; s++ {
			sum += int64(count[s].Load())
		}
		return sum
	}
	for i, rate := range rates {
		before, err := c.stats(false)
		if err != nil {
			return nil, err
		}
		firstSeq := seq + 1
		g0 := gaps.Load()
		cpu0 := cpuSeconds()
		start := time.Now()
		// Publish on ticks of 10ms, catching up on what the clock says is
		// owed, so that a late tick does not lower the offered rate.
		const tick = 10 * time.Millisecond
		t := time.NewTicker(tick)
		sent := 0
		for time.Since(start) < step {
			<-t.C
			owed := int(float64(rate)*time.Since(start).Seconds()) - sent
			for ; owed > 0 && int(seq)+1 < len(sentAt); owed-- {
				seq++
				sent++
				now := time.Now()
				sentAt[seq].Store(now.UnixNano())
				payload = proto.Encode(payload[:0], seq, now, size)
				if err := pub.WriteMessage(gws.TextMessage, payload); err != nil {
					t.Stop()
					return nil, fmt.Errorf("publish: %w", err)
				}
			}
		}
		t.Stop()
		pubWall := time.Since(start)
		published := int(seq - firstSeq + 1)
		expected := int64(published) * int64(n)
		// Let what is in flight arrive: until all came, or nothing more
		// came for 500ms (bounded by 5s).
		deadline := time.Now().Add(5 * time.Second)
		last, lastChange := int64(-1), time.Now()
		for time.Now().Before(deadline) {
			got := stepDelivered(firstSeq, seq)
			if got >= expected-closed.Load()*int64(published) {
				break
			}
			if got != last {
				last, lastChange = got, time.Now()
			} else if time.Since(lastChange) > 500*time.Millisecond {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Deliveries, CPU and time are read together, before the stats
		// request.
		got := stepDelivered(firstSeq, seq)
		cpu := cpuSeconds() - cpu0
		wall := time.Since(start)
		after, err := c.stats(false)
		if err != nil {
			return nil, err
		}
		st := result.FanoutStep{
			OfferedPerSec:    rate,
			Published:        published,
			PublishedPerSec:  float64(published) / pubWall.Seconds(),
			Deliveries:       got,
			DeliveriesPerSec: float64(got) / wall.Seconds(),
			Expected:         expected,
			Gaps:             gaps.Load() - g0,
			ClientCPUShare:   cpu / wall.Seconds(),
			MembersClosed:    closed.Load(),
		}
		st.ClientBound = st.ClientCPUShare > 0.9
		st.PublisherBehind = float64(published) < 0.95*float64(rate)*step.Seconds()
		if got > 0 {
			// The server's CPU over the stats interval, which spans the
			// step and its drain.
			st.ServerCPUPerM = (after.CPUSeconds - before.CPUSeconds) / float64(got) * 1e6
		}
		var lat []float64
		for s := firstSeq; s <= seq && int(s) < len(lastRecv); s++ {
			if r := lastRecv[s].Load(); r != 0 {
				lat = append(lat, float64(r-sentAt[s].Load())/1e3)
			}
		}
		st.Samples = len(lat)
		if len(lat) > 0 {
			slices.Sort(lat)
			q := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
			st.P50, st.P99, st.P999, st.Max = q(0.50), q(0.99), q(0.999), lat[len(lat)-1]
		}
		res.Steps = append(res.Steps, st)
		res.PlateauPerSec = max(res.PlateauPerSec, st.DeliveriesPerSec)
		passed := float64(got) >= 0.9*float64(expected) && !st.PublisherBehind
		if passed && i == len(rates)-1 {
			res.AtLadderTop = true // never reached a plateau: a lower bound
		}
		// Past the plateau: stop raising.
		if !every && !passed {
			break
		}
	}
	for _, conn := range cs {
		conn.Close()
	}
	wg.Wait()
	return res, nil
}

// cpuSeconds is this process's user+system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
