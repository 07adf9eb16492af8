// Command loadclient is the load tool's client: one process that holds
// many WebSocket connections to a server under test (see package proto for
// the contract), runs one scenario, and prints its result as one JSON
// object on stdout. The orchestrator, cmd/loadtest, runs it pinned to its
// own core.
//
//	loadclient -url ws://127.0.0.1:PORT -scenario idle -conns 10000
//	loadclient -url ws://127.0.0.1:PORT -scenario fanout -conns 1000 -size 64 -rates 100,200,500
//	loadclient -url ws://127.0.0.1:PORT -scenario rooms -conns 10000 -size 64 -rates 1000,2000
//	loadclient -url ws://127.0.0.1:PORT -scenario slow -conns 1000 -size 1024 -rates 100,100,100,100 -slow-from 1
//	loadclient -url ws://127.0.0.1:PORT -url2 ws://127.0.0.1:PORT2 -scenario fanout -conns 1000 -size 64 -rates 100,200
//
// With -url2, two servers (nodes sharing a broker) stand for one: member i
// connects to the first when i is even and to the second when odd, each
// node has a publisher and message n goes through the publisher of node n
// mod 2, so half of every room's deliveries cross from one node to the
// other; the servers' figures are summed (their broker's CPU counted
// once).
//
// Scenarios: idle (1 and 2: what idle connections cost, how fast they
// were opened), fanout (3 and 4: one room), rooms (5: a personal room
// each and rooms of ten), slow (6: one room where every hundredth member
// stops reading from step -slow-from on; -slow-from -1 is its control,
// where they read to the end).
package main

import (
	"encoding/json"
	"errors"
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
	url2 := flag.String("url2", "", "a second server, a node sharing the first one's broker: members and publishes are split between the two")
	scenario := flag.String("scenario", "idle", "idle, fanout, rooms or slow")
	conns := flag.Int("conns", 1000, "subscriber connections")
	size := flag.Int("size", 64, "fanout: payload bytes")
	rates := flag.String("rates", "100,200,500,1000", "fanout: offered messages a second, one step each, raised until delivery plateaus")
	step := flag.Duration("step", 3*time.Second, "fanout: length of each step")
	firstStep := flag.Duration("first-step", 0, "fanout: length of the first step, when not -step (a fixed-load step at a few messages a second needs longer for its CPU per delivery to settle)")
	every := flag.Bool("every-step", false, "fanout, rooms: run every rate, even past the plateau (for latency at fixed loads); slow always does")
	slowFrom := flag.Int("slow-from", 1, "slow: the step from which the slow members stop reading; -1: they never stop (a control run: the same connections and load without a stall)")
	flag.Parse()
	if *url == "" {
		log.Fatal("loadclient: -url is required")
	}
	c := &client{bases: []string{strings.TrimSuffix(*url, "/")}}
	if *url2 != "" {
		c.bases = append(c.bases, strings.TrimSuffix(*url2, "/"))
	}
	var res any
	var err error
	switch *scenario {
	case "idle":
		res, err = c.idle(*conns)
	case "fanout", "rooms", "slow":
		var rs []int
		for _, f := range strings.Split(*rates, ",") {
			r, perr := strconv.Atoi(strings.TrimSpace(f))
			if perr != nil || r <= 0 {
				log.Fatalf("loadclient: bad rate %q", f)
			}
			rs = append(rs, r)
		}
		switch *scenario {
		case "fanout":
			res, err = c.publishRun(fanoutPlan(*conns), *size, rs, *step, *firstStep, *every)
		case "rooms":
			if *conns%10 != 0 {
				log.Fatalf("loadclient: rooms: -conns %d is not a multiple of 10", *conns)
			}
			res, err = c.publishRun(roomsPlan(*conns), *size, rs, *step, 0, *every)
		case "slow":
			if *conns < 100 {
				log.Fatalf("loadclient: slow: -conns %d is under 100, so no member is slow", *conns)
			}
			if *slowFrom < -1 || *slowFrom >= len(rs) {
				// Past the last step the run would show no stall and no
				// control either: say so rather than guess.
				log.Fatalf("loadclient: slow: -slow-from %d is neither -1 nor one of the %d steps (0 to %d)", *slowFrom, len(rs), len(rs)-1)
			}
			res, err = c.publishRun(slowPlan(*conns, *slowFrom), *size, rs, *step, 0, true)
		}
	default:
		err = fmt.Errorf("unknown scenario %q", *scenario)
	}
	if err != nil {
		log.Fatalf("loadclient: %v", err)
	}
	json.NewEncoder(os.Stdout).Encode(res) //nolint:errcheck // stdout
}

type client struct {
	bases []string // the servers: one, or two nodes of one cluster
}

// stats returns the servers' figures summed, but for their shared
// broker's CPU, which each reports and which is counted once.
func (c *client) stats(gc bool) (proto.Stats, error) {
	var sum proto.Stats
	for _, base := range c.bases {
		u := "http" + strings.TrimPrefix(base, "ws") + "/stats"
		if gc {
			u += "?gc=1"
		}
		resp, err := http.Get(u)
		if err != nil {
			return proto.Stats{}, err
		}
		var s proto.Stats
		err = json.NewDecoder(resp.Body).Decode(&s)
		resp.Body.Close()
		if err != nil {
			return proto.Stats{}, err
		}
		sum.HeapAlloc += s.HeapAlloc
		sum.HeapInuse += s.HeapInuse
		sum.StackInuse += s.StackInuse
		sum.Sys += s.Sys
		sum.Goroutines += s.Goroutines
		sum.RSS += s.RSS
		sum.CPUSeconds += s.CPUSeconds
		sum.BrokerCPUSeconds = max(sum.BrokerCPUSeconds, s.BrokerCPUSeconds)
		sum.Conns += s.Conns
	}
	return sum, nil
}

// dialer keeps per-connection memory small on the client side too.
var dialer = &gws.Dialer{
	NetDialContext:   (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	HandshakeTimeout: 10 * time.Second,
	ReadBufferSize:   1024,
	WriteBufferSize:  1024,
}

// dialMany opens n connections, the i'th to path(i), 64 at a time; those
// that slow(i) marks (slow may be nil) with slowDialer.
func (c *client) dialMany(n int, path func(int) string, slow func(int) bool) ([]*gws.Conn, error) {
	out := make([]*gws.Conn, n)
	errs := make(chan error, 1)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			d := dialer
			if slow != nil && slow(i) {
				d = slowDialer
			}
			conn, _, err := d.Dial(c.bases[i%len(c.bases)]+path(i), nil)
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
	cs, err := c.dialMany(n, func(int) string { return "/ws?room=idle" }, nil)
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

// plan is what a publishing scenario sends where: the members it opens,
// the room of each message and how many members should get it.
type plan struct {
	members int
	path    func(i int) string // member i's URL path
	pick    func(seq uint64) (room string, receivers int)
	// gaps: every member is in one room, so each sees every sequence
	// number in turn and a jump is a message it missed.
	gaps bool
	// slow marks members that stop reading at step slowFrom and never
	// resume (slowFrom -1: they read to the end, a control run); they are
	// dialled with a small receive buffer and not counted as receivers.
	// nil: none.
	slow     func(i int) bool
	slowFrom int
	// sample: poll the server's memory every 250ms.
	sample bool
}

// fanoutPlan is scenario 3: n members in one room.
func fanoutPlan(n int) plan {
	return plan{
		members: n,
		path:    func(int) string { return "/ws?room=fan" },
		pick:    func(uint64) (string, int) { return "fan", n },
		gaps:    true,
	}
}

// roomsPlan is scenario 5: member i is alone in room u<i> and one of ten
// in room g<i/10>; messages go in turn to a personal room and a room of
// ten, each room in turn. n must be a multiple of 10.
func roomsPlan(n int) plan {
	personal, groups := make([]string, n), make([]string, n/10)
	for i := range personal {
		personal[i] = "u" + strconv.Itoa(i)
	}
	for i := range groups {
		groups[i] = "g" + strconv.Itoa(i)
	}
	return plan{
		members: n,
		path: func(i int) string {
			return "/ws?room=" + personal[i] + "&room=" + groups[i/10]
		},
		pick: func(seq uint64) (string, int) {
			if seq%2 == 1 {
				return personal[(seq/2)%uint64(len(personal))], 1
			}
			return groups[(seq/2)%uint64(len(groups))], 10
		},
	}
}

// slowPlan is scenario 6: n members in one room, of which every hundredth
// stops reading from step slowFrom on (-1: never).
func slowPlan(n, slowFrom int) plan {
	p := fanoutPlan(n)
	p.slow = func(i int) bool { return i%100 == 0 }
	slow := 0
	for i := range n {
		if p.slow(i) {
			slow++
		}
	}
	p.pick = func(uint64) (string, int) { return "fan", n - slow }
	p.slowFrom, p.sample = slowFrom, true
	return p
}

// slowDialer dials slow members: a 4 KiB receive buffer (the kernel
// doubles it) keeps what a stalled reader's socket soaks up small, as on
// a slow mobile link, so the server sees the stall soon.
var slowDialer = &gws.Dialer{
	NetDialContext: (&net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}).DialContext,
	HandshakeTimeout: 10 * time.Second,
	ReadBufferSize:   1024,
	WriteBufferSize:  1024,
}

// arrivals records, per sequence number, when the message was sent, when
// the first and the last receiver got it, and how many did.
type arrivals struct {
	first, last, sent []atomic.Int64 // unix nanos
	count             []atomic.Int32
}

func newArrivals(n int) *arrivals {
	return &arrivals{
		first: make([]atomic.Int64, n), last: make([]atomic.Int64, n), sent: make([]atomic.Int64, n),
		count: make([]atomic.Int32, n),
	}
}

func (a *arrivals) record(seq uint64, now int64) {
	for {
		old := a.last[seq].Load()
		if now <= old || a.last[seq].CompareAndSwap(old, now) {
			break
		}
	}
	for {
		old := a.first[seq].Load()
		if (old != 0 && old <= now) || a.first[seq].CompareAndSwap(old, now) {
			break
		}
	}
	a.count[seq].Add(1)
}

// delivered sums the deliveries of messages first to last.
func (a *arrivals) delivered(first, last uint64) int64 {
	var sum int64
	for s := first; s <= last; s++ {
		sum += int64(a.count[s].Load())
	}
	return sum
}

// latencies returns, for messages first to last that reached someone, the
// µs from publish to the first and to the last receiver, sorted.
func (a *arrivals) latencies(first, last uint64) (toFirst, toLast []float64) {
	for s := first; s <= last; s++ {
		if l := a.last[s].Load(); l != 0 {
			sent := a.sent[s].Load()
			toLast = append(toLast, float64(l-sent)/1e3)
			toFirst = append(toFirst, float64(a.first[s].Load()-sent)/1e3)
		}
	}
	slices.Sort(toFirst)
	slices.Sort(toLast)
	return toFirst, toLast
}

func quantile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

// publishRun runs pl's steps at the offered rates, each lasting step but
// the first, which lasts firstStep when that is not 0.
func (c *client) publishRun(pl plan, size int, rates []int, stepLen, firstStep time.Duration, every bool) (*result.Fanout, error) {
	slowDial := func(i int) bool { return pl.slow != nil && pl.slow(i) }
	cs, err := c.dialMany(pl.members, pl.path, slowDial)
	if err != nil {
		return nil, err
	}
	defer closeAll(cs)
	// A publisher on each server; they read too, so that they answer the
	// servers' pings.
	var pubs []*gws.Conn
	defer func() { closeAll(pubs) }()
	for _, base := range c.bases {
		pub, _, err := dialer.Dial(base+"/ws?publish=1", nil)
		if err != nil {
			return nil, err
		}
		pubs = append(pubs, pub)
		go func() {
			for {
				if _, _, err := pub.NextReader(); err != nil {
					return
				}
			}
		}()
	}
	if err := c.waitConns(pl.members + len(pubs)); err != nil {
		return nil, err
	}

	maxMsgs := 0
	for i, r := range rates {
		step := stepLen
		if i == 0 && firstStep > 0 {
			step = firstStep
		}
		maxMsgs += r*int(step/time.Second) + r
	}
	arr := newArrivals(maxMsgs + 1)
	var gaps, closed atomic.Int64
	// stopSlow is closed when the slow members stop reading, end when the
	// run is over and they read again to learn whether the server closed
	// them.
	stopSlow, end := make(chan struct{}), make(chan struct{})
	closeEnd := sync.OnceFunc(func() { close(end) })
	defer closeEnd() // on an early return too, so no slow member waits forever
	var slowClosed, slowOpen atomic.Int64
	var wg, slowWG sync.WaitGroup
	for i, conn := range cs {
		if slowDial(i) {
			slowWG.Go(func() { readSlow(conn, stopSlow, end, &slowClosed, &slowOpen) })
			continue
		}
		wg.Go(func() {
			buf := make([]byte, proto.HeaderSize)
			// Order holds per publisher: message n comes from publisher
			// n mod k, and each publisher's messages arrive in order.
			k := uint64(len(pubs))
			last := make([]uint64, k)
			for {
				_, r, err := conn.NextReader()
				if err != nil {
					select {
					case <-end: // closed by us
					default:
						closed.Add(1)
					}
					return
				}
				if _, err := io.ReadFull(r, buf); err != nil {
					continue
				}
				io.Copy(io.Discard, r) //nolint:errcheck // the padding
				seq, _, err := proto.Decode(buf)
				if err != nil || seq >= uint64(len(arr.count)) {
					continue
				}
				arr.record(seq, time.Now().UnixNano())
				if l := last[seq%k]; pl.gaps && l != 0 && seq != l+k {
					gaps.Add(1)
				}
				last[seq%k] = seq
			}
		})
	}

	res := &result.Fanout{Members: pl.members, Size: size}
	runStart := time.Now()
	stopSampling := make(chan struct{})
	var sampled sync.WaitGroup
	if pl.sample {
		sampled.Go(func() { res.Memory = c.sampleMemory(runStart, stopSampling) })
	}
	seq := uint64(0)
	payload := make([]byte, 0, max(size, proto.HeaderSize)+proto.MaxRoom+1)
	for i, rate := range rates {
		step := stepLen
		if i == 0 && firstStep > 0 {
			step = firstStep
		}
		stalled := pl.slow != nil && pl.slowFrom >= 0 && i >= pl.slowFrom
		if stalled && i == pl.slowFrom {
			close(stopSlow)
			res.SlowStoppedAt = time.Since(runStart).Seconds()
		}
		before, err := c.stats(false)
		if err != nil {
			return nil, err
		}
		firstSeq := seq + 1
		g0 := gaps.Load()
		cpu0 := cpuSeconds()
		start := time.Now()
		expected := int64(0)
		// Publish on ticks of 10ms, catching up on what the clock says is
		// owed, so that a late tick does not lower the offered rate.
		const tick = 10 * time.Millisecond
		t := time.NewTicker(tick)
		sent := 0
		for time.Since(start) < step {
			<-t.C
			owed := int(float64(rate)*time.Since(start).Seconds()) - sent
			for ; owed > 0 && int(seq)+1 < len(arr.count); owed-- {
				seq++
				sent++
				room, receivers := pl.pick(seq)
				expected += int64(receivers)
				now := time.Now()
				arr.sent[seq].Store(now.UnixNano())
				payload = proto.Encode(proto.AppendRoom(payload[:0], room), seq, now, size)
				if err := pubs[seq%uint64(len(pubs))].WriteMessage(gws.TextMessage, payload); err != nil {
					t.Stop()
					return nil, fmt.Errorf("publish: %w", err)
				}
			}
		}
		t.Stop()
		pubWall := time.Since(start)
		published := int(seq - firstSeq + 1)
		// Let what is in flight arrive: until all came, or nothing more
		// came for 500ms (bounded by 5s).
		deadline := time.Now().Add(5 * time.Second)
		last, lastChange := int64(-1), time.Now()
		for time.Now().Before(deadline) {
			got := arr.delivered(firstSeq, seq)
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
		got := arr.delivered(firstSeq, seq)
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
			SlowStopped:      stalled,
		}
		st.ClientBound = st.ClientCPUShare > 0.9
		st.PublisherBehind = float64(published) < 0.95*float64(rate)*step.Seconds()
		if got > 0 {
			// The server's CPU (and its broker's) over the stats interval,
			// which spans the step and its drain.
			serverCPU := after.CPUSeconds - before.CPUSeconds + after.BrokerCPUSeconds - before.BrokerCPUSeconds
			st.ServerCPUPerM = serverCPU / float64(got) * 1e6
		}
		toFirst, toLast := arr.latencies(firstSeq, seq)
		st.Samples = len(toLast)
		st.P50, st.P99, st.P999 = quantile(toLast, 0.50), quantile(toLast, 0.99), quantile(toLast, 0.999)
		if len(toLast) > 0 {
			st.Max = toLast[len(toLast)-1]
		}
		st.FirstP50, st.FirstP99 = quantile(toFirst, 0.50), quantile(toFirst, 0.99)
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
	close(stopSampling)
	sampled.Wait()
	if pl.slow != nil && (pl.slowFrom < 0 || len(res.Steps) <= pl.slowFrom) {
		// The run ended before the slow members stopped, or it is a
		// control: they stop now, to read what is left below. One
		// waiting for a message that will not come learns it from its
		// deadline (net.Conn's deadlines may be set while it reads).
		close(stopSlow)
		for i, conn := range cs {
			if slowDial(i) {
				conn.SetReadDeadline(time.Now().Add(3 * time.Second)) //nolint:errcheck
			}
		}
	}
	closeEnd()
	// The slow members read what is left; those the server closed see its
	// close, the others time out.
	slowWG.Wait()
	res.SlowClosed, res.SlowOpen = slowClosed.Load(), slowOpen.Load()
	for _, conn := range cs {
		conn.Close()
	}
	wg.Wait()
	return res, nil
}

// readSlow is a slow member: it reads (and discards) until stop, then
// reads nothing until end, then reads for up to 3s to learn whether the
// server closed it (closed) or not (open).
func readSlow(conn *gws.Conn, stop, end <-chan struct{}, closed, open *atomic.Int64) {
	var err error
	for err == nil {
		select {
		case <-stop:
			<-end
			conn.SetReadDeadline(time.Now().Add(3 * time.Second)) //nolint:errcheck
			for err == nil {
				_, _, err = conn.NextReader()
			}
			continue
		default:
		}
		var r io.Reader
		if _, r, err = conn.NextReader(); err == nil {
			io.Copy(io.Discard, r) //nolint:errcheck
		}
	}
	<-end
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		open.Add(1)
	} else {
		closed.Add(1)
	}
}

// sampleMemory polls the server's memory every 250ms until stop.
func (c *client) sampleMemory(start time.Time, stop <-chan struct{}) []result.MemSample {
	var out []result.MemSample
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return out
		case <-t.C:
		}
		if s, err := c.stats(false); err == nil {
			out = append(out, result.MemSample{
				Seconds: time.Since(start).Seconds(), HeapStack: s.HeapInuse + s.StackInuse,
				RSS: s.RSS, Goroutines: s.Goroutines, Conns: s.Conns,
			})
		}
	}
}

// cpuSeconds is this process's user+system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
