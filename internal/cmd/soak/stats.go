package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/websocket"
)

// sample is one report's figures.
type sample struct {
	label      string
	elapsed    time.Duration
	goroutines int
	heap       uint64 // HeapInuse after a GC
	stack      uint64 // StackInuse
	live       int    // channels in the box
	fds        int
	connects   int64
	received   int64
	errs       string
}

// takeSample collects the figures after two GCs (the second frees what
// sync.Pools kept through the first). c may be nil (before the clients
// start).
func takeSample(label string, elapsed time.Duration, box *channels.ChannelBox, c *counters, errs *errorCounts) *sample {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := &sample{
		label:      label,
		elapsed:    elapsed,
		goroutines: runtime.NumGoroutine(),
		heap:       ms.HeapInuse,
		stack:      ms.StackInuse,
		live:       liveChannels(box),
		fds:        openFiles(),
		errs:       errs.String(),
	}
	if c != nil {
		s.connects, s.received = c.connects.Load(), c.received.Load()
	}
	return s
}

func printHeader() {
	fmt.Printf("%8s %10s %9s %9s %6s %6s %10s %12s  %s\n",
		"elapsed", "goroutines", "heap MiB", "stack MiB", "live", "fds", "connects", "received", "errors")
}

func (s *sample) print() {
	fmt.Printf("%8v %10d %9.1f %9.1f %6d %6d %10d %12d  %s\n",
		s.elapsed.Round(time.Second), s.goroutines, mib(s.heap), mib(s.stack), s.live, s.fds, s.connects, s.received, s.errs)
}

// errorCounts counts errors by kind. Safe for concurrent use.
type errorCounts struct {
	mu sync.Mutex
	m  map[string]int64
}

func newErrorCounts() *errorCounts { return &errorCounts{m: make(map[string]int64)} }

// add counts one error of kind and returns how many there are now.
func (e *errorCounts) add(kind string) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[kind]++
	return e.m[kind]
}

// String lists the kinds in order with their counts, or "none".
func (e *errorCounts) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.m) == 0 {
		return "none"
	}
	out := make([]string, 0, len(e.m))
	for k, n := range e.m {
		out = append(out, k+" ("+strconv.FormatInt(n, 10)+")")
	}
	slices.Sort(out)
	return strings.Join(out, "; ")
}

var digits = regexp.MustCompile(`[0-9]+`)

// errKind names the kind of a client or send error, without addresses or
// ports, so that errors of one kind count together.
func errKind(err error) string {
	var ce *gws.CloseError
	var errno syscall.Errno
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		return "close " + websocket.StatusCode(ce.Code).String()
	case errors.Is(err, net.ErrClosed):
		return "use of closed connection"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected EOF"
	case errors.Is(err, io.EOF):
		return "EOF"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &errno):
		return errno.Error()
	}
	return digits.ReplaceAllString(err.Error(), "N")
}

// printFirst is how many log records of one message are printed; the rest
// are only counted.
const printFirst = 3

// countingHandler counts the library's log records by message, as errors
// of kind "log: message", and prints the first few of each to stderr.
type countingHandler struct {
	slog.Handler
	errs *errorCounts
}

func newCountingLogger(errs *errorCounts) *slog.Logger {
	return slog.New(countingHandler{slog.NewTextHandler(os.Stderr, nil), errs})
}

func (h countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.errs.add("log: "+r.Message) <= printFirst {
		return h.Handler.Handle(ctx, r)
	}
	return nil
}

func (h countingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return countingHandler{h.Handler.WithAttrs(as), h.errs}
}

func (h countingHandler) WithGroup(name string) slog.Handler {
	return countingHandler{h.Handler.WithGroup(name), h.errs}
}

// newHTTPLogger is net/http's error log, counted like the library's.
func newHTTPLogger(errs *errorCounts) *log.Logger {
	return log.New(httpLogWriter{errs}, "", 0)
}

type httpLogWriter struct{ errs *errorCounts }

func (w httpLogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	if w.errs.add("log: "+digits.ReplaceAllString(msg, "N")) <= printFirst {
		fmt.Fprintln(os.Stderr, msg)
	}
	return len(p), nil
}

// goroutineStacks counts the goroutines other than the caller's by state
// and stack (see stackKey).
func goroutineStacks() map[string]int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	m := make(map[string]int)
	for i, g := range strings.Split(strings.TrimSpace(string(buf)), "\n\n") {
		if i > 0 { // the first is the caller's own
			m[stackKey(g)]++
		}
	}
	return m
}

// stackKey reduces one goroutine of a runtime.Stack dump to its state, its
// top functions and its creator: "[select] f ← g ← h (created by k)".
func stackKey(g string) string {
	lines := strings.Split(g, "\n")
	state := lines[0]
	if i, j := strings.Index(state, "["), strings.LastIndex(state, "]"); i >= 0 && j > i {
		state, _, _ = strings.Cut(state[i+1:j], ",") // drop "2 minutes"
	}
	var funcs []string
	created := ""
	for _, l := range lines[1:] {
		switch {
		case strings.HasPrefix(l, "\t"): // file:line
		case strings.HasPrefix(l, "created by "):
			created, _, _ = strings.Cut(strings.TrimPrefix(l, "created by "), " in goroutine")
		default:
			if i := strings.LastIndex(l, "("); i > 0 {
				l = l[:i]
			}
			funcs = append(funcs, l)
		}
	}
	if len(funcs) > 6 {
		funcs = append(funcs[:6], "…")
	}
	return "[" + state + "] " + strings.Join(funcs, " ← ") + " (created by " + created + ")"
}

// printLeaked prints the goroutines of end that base did not have, most
// numerous first.
func printLeaked(base, end map[string]int) {
	type extra struct {
		key string
		n   int
	}
	var xs []extra
	for k, n := range end {
		if d := n - base[k]; d > 0 {
			xs = append(xs, extra{k, d})
		}
	}
	slices.SortFunc(xs, func(a, b extra) int { return cmp.Or(b.n-a.n, strings.Compare(a.key, b.key)) })
	for i, x := range xs {
		if i == 30 {
			fmt.Printf("  … and %d more kinds\n", len(xs)-i)
			break
		}
		fmt.Printf("  +%d %s\n", x.n, x.key)
	}
}
