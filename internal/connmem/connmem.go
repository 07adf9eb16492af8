// Package connmem measures what idle WebSocket connections cost a server
// process: heap and stack in use, RSS and goroutines, sampled after
// garbage collection, and runs the idle clients for such a measurement in
// a process of their own, so that their cost is not counted with the
// server's. The connmem command (internal/cmd/connmem) and the websocket
// package's memory test share it.
package connmem

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gws "github.com/gorilla/websocket"
)

// Sample is what a process holds at one moment.
type Sample struct {
	HeapStack  uint64 // runtime.MemStats HeapInuse + StackInuse
	Stack      uint64 // StackInuse
	RSS        uint64 // resident set size; 0 where /proc is missing
	Goroutines int
}

// Measure collects garbage twice (the second pass frees what the first
// found to be finalizer-only) and samples the process.
func Measure() Sample {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Sample{
		HeapStack:  ms.HeapInuse + ms.StackInuse,
		Stack:      ms.StackInuse,
		RSS:        readRSS(),
		Goroutines: runtime.NumGoroutine(),
	}
}

// Sub returns s less base, field by field (what was added since base).
func (s Sample) Sub(base Sample) Sample {
	return Sample{
		HeapStack:  s.HeapStack - base.HeapStack,
		Stack:      s.Stack - base.Stack,
		RSS:        s.RSS - base.RSS,
		Goroutines: s.Goroutines - base.Goroutines,
	}
}

func readRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// Lines the client process writes on its standard output.
const (
	// Connected is followed by the number of connections: all are open.
	Connected = "CONNECTED"
	// Pinged says that every connection has received at least one ping
	// (and answered it).
	Pinged = "PINGED"
)

// RunClients is the body of a client process. It opens n idle client
// connections to url, 16 at a time, writes "CONNECTED n" to out, then
// "PINGED" once every connection has received a ping, and closes them all
// when in reaches its end (the parent closes its pipe or dies). Each
// client answers pings with pongs and otherwise only reads. It returns
// the process's exit status.
func RunClients(url string, n int, in io.Reader, out io.Writer) int {
	if err := RaiseFileLimit(uint64(n) + 64); err != nil {
		fmt.Fprintf(os.Stderr, "connmem: %v\n", err)
	}
	var (
		wg     sync.WaitGroup
		failed atomic.Int64
		pinged atomic.Int64
		all    = make(chan struct{})
		conns  = make([]*gws.Conn, n)
		sem    = make(chan struct{}, 16)
	)
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, _, err := gws.DefaultDialer.DialContext(ctx, url, nil)
			if err != nil {
				failed.Add(1)
				return
			}
			conns[i] = c
			var once sync.Once
			c.SetPingHandler(func(data string) error {
				once.Do(func() {
					if pinged.Add(1) == int64(n) {
						close(all)
					}
				})
				return c.WriteControl(gws.PongMessage, []byte(data), time.Now().Add(10*time.Second))
			})
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		fmt.Fprintf(out, "FAILED %d dials\n", f)
		return 1
	}
	var readers sync.WaitGroup
	for _, c := range conns {
		readers.Add(1)
		go func() { // reads answer pings; nothing else arrives
			defer readers.Done()
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
	}
	fmt.Fprintf(out, "%s %d\n", Connected, n)
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, in) //nolint:errcheck // the end is what matters
		close(done)
	}()
	select {
	case <-all:
		fmt.Fprintln(out, Pinged)
		<-done
	case <-done:
	}
	for _, c := range conns {
		c.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(gws.CloseNormalClosure, ""), time.Now().Add(time.Second)) //nolint:errcheck
		c.Close()
	}
	readers.Wait()
	return 0
}

// Lines reads the client process's output line by line onto a channel,
// closed at its end.
func Lines(r io.Reader) <-chan string {
	ch := make(chan string, 4)
	go func() {
		defer close(ch)
		s := bufio.NewScanner(r)
		for s.Scan() {
			ch <- s.Text()
		}
	}()
	return ch
}
