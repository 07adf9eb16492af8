// Command connmem measures the memory an idle WebSocket connection costs a
// server: heap+stack and RSS per connection, and goroutines per connection,
// for Switchboard and for a plain gorilla/websocket echo server measured in
// the same run. Each server runs in a process of its own; the clients run
// in a third.
//
//	go run ./internal/cmd/connmem -n 10000
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/internal/connmem"
	"github.com/switchboard-go/switchboard/router"
)

type stats struct {
	Conns       int64   `json:"conns"`
	HeapStack   uint64  `json:"heap_stack"`
	RSS         uint64  `json:"rss"`
	Goroutines  int     `json:"goroutines"`
	Stack       uint64  `json:"stack"`
	PerConnHS   float64 `json:"per_conn_heap_stack"`
	PerConnRSS  float64 `json:"per_conn_rss"`
	GoroutinesN float64 `json:"goroutines_per_conn"`
}

func main() {
	role := flag.String("role", "", "internal: server or client")
	kind := flag.String("kind", "switchboard", "server kind: switchboard or gorilla")
	n := flag.Int("n", 10000, "idle connections to open")
	addr := flag.String("addr", "", "internal: server address for the client")
	kinds := flag.String("kinds", "switchboard,gorilla,gorilla-hub", "servers to measure, in turn: switchboard, gorilla (echo in the HTTP handler), gorilla-hub (read and write pumps, as gorilla's chat example)")
	flag.Parse()
	switch *role {
	case "server":
		runServer(*kind)
	case "client":
		os.Exit(connmem.RunClients("ws://"+*addr+"/ws", *n, os.Stdin, os.Stdout))
	default:
		fmt.Printf("idle connections: %d, %s, GOMAXPROCS=%d\n\n", *n, runtime.Version(), runtime.GOMAXPROCS(0))
		fmt.Printf("%-12s %22s %16s %14s %18s\n", "server", "heap+stack/conn (KiB)", "of which stack", "RSS/conn (KiB)", "goroutines/conn")
		for _, k := range strings.Split(*kinds, ",") {
			s, err := measure(k, *n)
			if err != nil {
				log.Fatalf("%s: %v", k, err)
			}
			fmt.Printf("%-12s %22.2f %16.2f %14.2f %18.2f\n", k, s.PerConnHS/1024, float64(s.Stack)/float64(s.Conns)/1024, s.PerConnRSS/1024, s.GoroutinesN)
		}
	}
}

// measure runs one server process and one client process and returns the
// server's per-connection figures.
func measure(kind string, n int) (*stats, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	srv := exec.Command(self, "-role", "server", "-kind", kind)
	srv.Stderr = os.Stderr
	in, _ := srv.StdinPipe()
	outPipe, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		return nil, err
	}
	defer srv.Process.Kill() //nolint:errcheck
	out := bufio.NewScanner(outPipe)
	out.Buffer(nil, 1<<20)
	if !out.Scan() {
		return nil, errors.New("server did not start")
	}
	addr := strings.TrimPrefix(out.Text(), "READY ")

	cli := exec.Command(self, "-role", "client", "-addr", addr, "-n", strconv.Itoa(n))
	cli.Stderr = os.Stderr
	cliIn, _ := cli.StdinPipe() // the clients stay until it closes
	defer cliIn.Close()
	cliOut, _ := cli.StdoutPipe()
	if err := cli.Start(); err != nil {
		return nil, err
	}
	defer cli.Process.Kill() //nolint:errcheck
	cs := bufio.NewScanner(cliOut)
	if !cs.Scan() || !strings.HasPrefix(cs.Text(), connmem.Connected) {
		return nil, fmt.Errorf("client failed: %q", cs.Text())
	}
	fmt.Fprintf(in, "measure %d\n", n)
	if !out.Scan() {
		return nil, errors.New("server gave no figures")
	}
	var s stats
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		return nil, err
	}
	return &s, nil
}

func runServer(kind string) {
	if os.Getenv("CONNMEM_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 64
	}
	var conns atomic.Int64
	var h http.Handler
	switch kind {
	case "switchboard":
		rt := router.New()
		rt.HandleFunc("/ws", connmem.Echo(&conns))
		h = rt
	case "gorilla":
		up := gws.Upgrader{}
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			conns.Add(1)
			defer conns.Add(-1)
			for {
				typ, data, err := c.ReadMessage()
				if err != nil {
					return
				}
				if err := c.WriteMessage(typ, data); err != nil {
					return
				}
			}
		})
	case "gorilla-hub":
		h = gorillaHub(&conns)
	default:
		log.Fatalf("unknown kind %q", kind)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(ln, h) //nolint:errcheck
	time.Sleep(100 * time.Millisecond)
	base := connmem.Measure()
	fmt.Printf("READY %s\n", ln.Addr())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var want int64
		if _, err := fmt.Sscanf(in.Text(), "measure %d", &want); err != nil {
			continue
		}
		for i := 0; i < 600 && conns.Load() < want; i++ {
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(time.Second) // let handshakes settle
		m := connmem.Measure().Sub(base)
		c := conns.Load()
		s := stats{Conns: c, HeapStack: m.HeapStack, Stack: m.Stack, RSS: m.RSS, Goroutines: m.Goroutines}
		if p := os.Getenv("CONNMEM_HEAPPROFILE"); p != "" {
			f, _ := os.Create(p + "." + kind)
			pprof.WriteHeapProfile(f) //nolint:errcheck
			f.Close()
		}
		if c > 0 {
			s.PerConnHS = float64(s.HeapStack) / float64(c)
			s.PerConnRSS = float64(s.RSS) / float64(c)
			s.GoroutinesN = float64(s.Goroutines) / float64(c)
		}
		b, _ := json.Marshal(s)
		fmt.Println(string(b))
	}
}

// gorillaHub serves connections the way gorilla's chat example does: a
// read pump and a write pump goroutine per connection, a buffered send
// channel, a ping ticker in the write pump.
func gorillaHub(conns *atomic.Int64) http.Handler {
	up := gws.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		conns.Add(1)
		send := make(chan []byte, 256)
		go func() { // write pump
			ticker := time.NewTicker(54 * time.Second)
			defer func() {
				ticker.Stop()
				c.Close()
			}()
			for {
				select {
				case msg, ok := <-send:
					c.SetWriteDeadline(time.Now().Add(10 * time.Second))
					if !ok {
						c.WriteMessage(gws.CloseMessage, nil)
						return
					}
					if err := c.WriteMessage(gws.TextMessage, msg); err != nil {
						return
					}
				case <-ticker.C:
					c.SetWriteDeadline(time.Now().Add(10 * time.Second))
					if err := c.WriteMessage(gws.PingMessage, nil); err != nil {
						return
					}
				}
			}
		}()
		go func() { // read pump
			defer func() {
				conns.Add(-1)
				close(send)
			}()
			c.SetReadLimit(512)
			c.SetReadDeadline(time.Now().Add(60 * time.Second))
			c.SetPongHandler(func(string) error { c.SetReadDeadline(time.Now().Add(60 * time.Second)); return nil })
			for {
				_, msg, err := c.ReadMessage()
				if err != nil {
					return
				}
				select {
				case send <- msg:
				default:
				}
			}
		}()
	})
}
