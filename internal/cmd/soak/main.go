// Command soak runs a Switchboard server and a crowd of churning clients in
// one process for a long while and watches for leaks. The server registers
// every connection in a channels.ChannelBox under a user id and puts it in
// a random group. Each client, a gorilla/websocket connection over
// loopback, stays a random 0.5–5 s reading what it gets, then leaves
// (cleanly with a close frame, or by dropping the TCP connection) and comes
// back; a broadcaster sends to random groups, some messages saved in the
// history, and now and then to a user.
//
// Every -report interval it prints one line: goroutines, heap and stack in
// use (after a GC), live connections in the box, open files, connects,
// messages received and errors by kind. At -duration, or on SIGINT, it
// closes the clients and the box, waits for the goroutines to settle, and
// compares the end with the start. It exits with status 1 when goroutines
// (or channels in the box) leaked, and lists the leaked goroutines.
//
//	go run ./internal/cmd/soak -duration 10m
//
// With SOAK_HEAPPROFILE=file it writes the heap profile taken after close
// to file, for go tool pprof.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"
)

// config is the command line.
type config struct {
	duration time.Duration
	clients  int
	groups   int
	rate     float64
	report   time.Duration
}

func main() {
	var cfg config
	flag.DurationVar(&cfg.duration, "duration", 10*time.Minute, "how long to run the load")
	flag.IntVar(&cfg.clients, "clients", 2000, "clients, each connecting, staying 0.5–5s and reconnecting")
	flag.IntVar(&cfg.groups, "groups", 20, "groups the connections are spread over")
	flag.Float64Var(&cfg.rate, "rate", 200, "group broadcasts per second")
	flag.DurationVar(&cfg.report, "report", time.Minute, "interval between report lines")
	flag.Parse()
	if cfg.duration <= 0 || cfg.clients <= 0 || cfg.groups <= 0 || cfg.rate <= 0 || cfg.report <= 0 {
		log.Fatal("soak: -duration, -clients, -groups, -rate and -report must be positive")
	}
	// Each client holds two descriptors in this process (its end and the
	// server's), and closing connections linger a little: stay under half
	// of the limit.
	if limit := openFilesLimit(); limit > 0 && 2*cfg.clients > limit/2 {
		log.Fatalf("soak: %d clients need about %d open files; the limit is %d: use at most %d clients", cfg.clients, 2*cfg.clients, limit, limit/4)
	}
	if os.Getenv("SOAK_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 64
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, stop, cfg))
}

// slack is how many goroutines above the baseline the end may hold and
// still count as no leak (runtime and net/http helpers that come and go).
const slack = 5

// Bounds of the shutdown steps.
const (
	emptyWait  = 10 * time.Second // for the box to lose the last channel once the clients left
	closeWait  = 30 * time.Second // for box.Close
	settleWait = 20 * time.Second // for the goroutines to settle: past every connection timeout
)

// run soaks until ctx ends or cfg.duration passes, then shuts down and
// prints the summary. It returns the exit status. unsignal restores the
// default signal handling, so that a second SIGINT kills a stuck shutdown.
func run(ctx context.Context, unsignal func(), cfg config) int {
	errs := newErrorCounts()
	logger := newCountingLogger(errs)
	srv, err := startServer(cfg.groups, errs, logger)
	if err != nil {
		log.Fatalf("soak: %v", err)
	}
	defer srv.close()

	fmt.Printf("soak: %d clients, %d groups, %g broadcasts/s, %v, report every %v; %s, GOMAXPROCS=%d, open files limit %d\n\n",
		cfg.clients, cfg.groups, cfg.rate, cfg.duration, cfg.report, runtime.Version(), runtime.GOMAXPROCS(0), openFilesLimit())
	time.Sleep(100 * time.Millisecond) // let the server's goroutines start
	base := takeSample("before clients", 0, srv.box, nil, errs)
	baseStacks := goroutineStacks()

	var n counters
	// The load runs until cancelLoad, called once the last report of the
	// load is taken, at -duration or when ctx ends (SIGINT).
	load, cancelLoad := context.WithCancel(context.Background())
	defer cancelLoad()
	start := time.Now()
	crowd := startClients(load, srv.url, cfg.clients, &n, errs)
	caster := startBroadcaster(load, srv.box, srv.groups, users(cfg.clients), cfg.rate, &n, errs)

	printHeader()
	deadline := time.NewTimer(cfg.duration)
	defer deadline.Stop()
	reports := time.NewTicker(cfg.report)
	defer reports.Stop()
	fdSamples := time.NewTicker(time.Second)
	defer fdSamples.Stop()
	var warm, last *sample
	peakFDs := openFiles()
	record := func() {
		s := takeSample("", time.Since(start), srv.box, &n, errs)
		s.print()
		if warm == nil {
			warm = s
		}
		last = s
	}
loop:
	for {
		select {
		case <-reports.C:
			record()
		case <-fdSamples.C:
			peakFDs = max(peakFDs, openFiles())
		case <-deadline.C:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	if last == nil || time.Since(start)-last.elapsed > time.Second {
		record()
	}
	cancelLoad()
	loadTime := time.Since(start)
	interrupted := ctx.Err() != nil
	unsignal()

	// Shut down: the load, then the box, then wait for the goroutines.
	caster.wait()
	crowd.wait()
	left := waitEmpty(srv.box, srv.groups, emptyWait)
	closeCtx, cancel := context.WithTimeout(context.Background(), closeWait)
	t0 := time.Now()
	closeErr := srv.box.Close(closeCtx)
	closeTime := time.Since(t0)
	cancel()
	settle(base.goroutines+slack, settleWait)
	end := takeSample("after close", time.Since(start), srv.box, &n, errs)
	if p := os.Getenv("SOAK_HEAPPROFILE"); p != "" {
		writeHeapProfile(p)
	}

	// Summary.
	how := "done"
	if interrupted {
		how = "interrupted"
	}
	broadcasts := n.broadcasts.Load()
	fmt.Printf("\nsummary (%s after %v of load): %d connects, %d messages received, %d broadcasts (%.1f/s), %d messages to users, peak %d open files\n",
		how, loadTime.Round(time.Second), n.connects.Load(), n.received.Load(), broadcasts, float64(broadcasts)/loadTime.Seconds(), n.userSends.Load(), peakFDs)
	fmt.Printf("  %-22s %10s %10s %10s\n", "", "goroutines", "heap MiB", "stack MiB")
	warm.label = fmt.Sprintf("warm-up (%v)", warm.elapsed.Round(time.Second))
	last.label = fmt.Sprintf("end of load (%v)", last.elapsed.Round(time.Second))
	for _, s := range []*sample{base, warm, last, end} {
		fmt.Printf("  %-22s %10d %10.1f %10.1f\n", s.label, s.goroutines, mib(s.heap), mib(s.stack))
	}
	fmt.Printf("  goroutines: warm-up %d, end of load %d (%s); live connections %d and %d\n",
		warm.goroutines, last.goroutines, change(float64(warm.goroutines), float64(last.goroutines)), warm.live, last.live)
	fmt.Printf("  heap: warm-up %.1f MiB, end of load %.1f MiB (%s); before clients %.1f MiB, after close %.1f MiB\n",
		mib(warm.heap), mib(last.heap), change(float64(warm.heap), float64(last.heap)), mib(base.heap), mib(end.heap))
	closed := "ok"
	if closeErr != nil {
		closed = closeErr.Error()
	}
	fmt.Printf("  box once the clients left: %s; box.Close: %s in %v\n", left, closed, closeTime.Round(time.Millisecond))
	fmt.Printf("  errors: %s\n", errs)

	status := 0
	if !left.empty() {
		fmt.Printf("LEAK: the box still held %s %v after the last client left\n", left, emptyWait)
		status = 1
	}
	if end.goroutines > base.goroutines+slack {
		fmt.Printf("LEAK: %d goroutines after close, more than the %d before any client + %d; not in the baseline:\n",
			end.goroutines, base.goroutines, slack)
		printLeaked(baseStacks, goroutineStacks())
		status = 1
	} else {
		fmt.Printf("  no goroutine leak: %d after close, %d before any client (slack %d)\n", end.goroutines, base.goroutines, slack)
	}
	return status
}

// settle waits until there are at most limit goroutines, unchanged for
// half a second, or until bound passes, and returns the count.
func settle(limit int, bound time.Duration) int {
	deadline := time.Now().Add(bound)
	prev, since := -1, time.Now()
	for {
		n := runtime.NumGoroutine()
		if n != prev {
			prev, since = n, time.Now()
		}
		if n <= limit && time.Since(since) >= 500*time.Millisecond || time.Now().After(deadline) {
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeHeapProfile writes the heap profile to path: what the heap still
// holds after close.
func writeHeapProfile(path string) {
	runtime.GC() // the profile shows the heap as of the last complete GC cycle
	f, err := os.Create(path)
	if err != nil {
		log.Printf("soak: heap profile: %v", err)
		return
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		log.Printf("soak: heap profile: %v", err)
	}
}

// change formats the relative change from a to b.
func change(a, b float64) string {
	if a == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f%%", (b-a)/a*100)
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// openFilesLimit returns the soft limit of open files, or 0.
func openFilesLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return int(rl.Cur)
}

// openFiles returns how many files the process has open, or -1 where
// /proc is missing.
func openFiles() int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(es) - 1 // the directory being read
}
