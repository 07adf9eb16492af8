package redisbroker_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/internal/redistest"
)

// BenchmarkLatencyFloor is the yardstick for BenchmarkLatencyAtHalfLoad:
// publish→receive through the same redis-server with no client library
// and no broker, a PUBLISH written straight to a socket for each message
// at the rate given in $LATENCY_RATE (messages a second; 100000 by
// default) and read by a raw subscriber. What it measures is the
// machine's floor: the kernel, Redis and Go's network poller.
func BenchmarkLatencyFloor(b *testing.B) {
	rs := redistest.Start(b)
	rate := 100000.0
	if r, err := strconv.ParseFloat(os.Getenv("LATENCY_RATE"), 64); err == nil {
		rate = r
	}
	sub, err := net.Dial("tcp", rs.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	fmt.Fprintf(sub, "SUBSCRIBE g\r\n")
	r := bufio.NewReader(sub)
	for range 6 { // the confirmation: *3, $9, subscribe, $1, g, :1
		sub.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := r.ReadString('\n'); err != nil {
			b.Fatal(err)
		}
	}
	sub.SetReadDeadline(time.Time{})
	pub, err := net.Dial("tcp", rs.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	go io.Copy(io.Discard, pub) // the PUBLISH replies
	var mu sync.Mutex
	var lat []time.Duration
	go func() { // until the subscriber's connection is closed
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if s, ok := strings.CutPrefix(strings.TrimSpace(line), "t"); ok {
				if ns, err := strconv.ParseInt(s, 10, 64); err == nil {
					d := time.Since(time.Unix(0, ns))
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
			}
		}
	}()
	interval := time.Duration(float64(time.Second) / rate)
	w := bufio.NewWriter(pub)
	next := time.Now()
	for b.Loop() {
		if d := time.Until(next); d > 200*time.Microsecond {
			time.Sleep(d)
		}
		next = next.Add(interval)
		m := "t" + strconv.FormatInt(time.Now().UnixNano(), 10)
		fmt.Fprintf(w, "*3\r\n$7\r\nPUBLISH\r\n$1\r\ng\r\n$%d\r\n%s\r\n", len(m), m)
		w.Flush()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(lat)
		mu.Unlock()
		if n >= b.N {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("received %d of %d", n, b.N)
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	lat = slices.Clone(lat)
	mu.Unlock()
	slices.Sort(lat)
	b.ReportMetric(rate, "msgs/s")
	b.ReportMetric(float64(lat[len(lat)/2])/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100])/1e3, "p99-µs")
}
