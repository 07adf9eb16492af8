package websocket_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/internal/connmem"
	"github.com/switchboard-go/switchboard/websocket"
)

// The environment that turns the test binary into the client process of
// TestIdleConnectionMemory (see TestMain).
const (
	clientsURLEnv = "SWITCHBOARD_TEST_CONNMEM_URL"
	clientsNEnv   = "SWITCHBOARD_TEST_CONNMEM_N"
)

// idleBudget is what an idle connection may cost the server: heap and
// stack in use, per connection.
const idleBudget = 7 << 10

// TestIdleConnectionMemory holds 2,000 idle connections over loopback, with
// keepalive pinging each of them while idle, and fails when the server's
// heap+stack per connection passes 7 KiB. It counts bytes, not time.
//
// Only the server is measured. The clients run in a process of their own
// (this test binary started again, which TestMain turns into the client
// process of internal/connmem, the code the connmem command uses): in this
// process their connections, goroutines and buffers would be counted with
// the server's, and estimating them apart (by measuring clients alone
// first) would subtract one noisy figure from another. Here the server
// process holds the server side alone; the baseline is taken with the
// server listening and no connection open, the sample once every client
// has received a keepalive ping and answered it, each after garbage
// collection (connmem.Measure: runtime.MemStats HeapInuse+StackInuse).
//
// Built with -race, the test runs the same way but only reports the
// figure: the race detector's own cost per goroutine and object is
// counted in it (7.4 KiB against 5.4 KiB here). .ci/run runs it without
// -race as well, where the budget is enforced.
func TestIdleConnectionMemory(t *testing.T) {
	const n = 2000
	if err := connmem.RaiseFileLimit(n + 256); err != nil {
		t.Logf("raising the open-file limit: %v", err)
	}
	var open atomic.Int64
	srv := httptest.NewServer(websocket.Handler(connmem.Echo(&open), &websocket.Options{PingInterval: time.Second, PongTimeout: 10 * time.Second}))
	defer srv.Close()

	base := connmem.Measure()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), clientsURLEnv+"=ws"+strings.TrimPrefix(srv.URL, "http"), fmt.Sprintf("%s=%d", clientsNEnv, n))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := connmem.Lines(out)
	defer func() {
		in.Close() // the clients close their connections and exit
		for range lines {
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("client process: %v", err)
		}
		waitUntil(t, "every handler to return", func() bool { return open.Load() == 0 })
	}()

	expectLine(t, lines, connmem.Connected)
	waitUntil(t, "the server to hold every connection", func() bool { return open.Load() == n })
	expectLine(t, lines, connmem.Pinged)

	m := connmem.Measure().Sub(base)
	per := float64(m.HeapStack) / n
	t.Logf("%d idle connections, each pinged: heap+stack %.2f KiB per connection (stack %.2f KiB), %.2f goroutines per connection",
		n, per/1024, float64(m.Stack)/n/1024, float64(m.Goroutines)/n)
	if raceEnabled {
		// The race detector's own bookkeeping per goroutine and per
		// object is counted here: the budget is for the server as it
		// runs in production. .ci/run runs this test without -race too.
		t.Logf("built with -race: the %d KiB budget is checked in a build without it", idleBudget>>10)
		return
	}
	if per > idleBudget {
		t.Errorf("an idle connection costs the server %.2f KiB of heap+stack, more than %d KiB", per/1024, idleBudget>>10)
	}
}

// expectLine waits, at most 30 s, for the client process to write a line
// that starts with prefix.
func expectLine(t *testing.T, lines <-chan string, prefix string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the client process ended before %s", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return
			}
			t.Fatalf("client process: %q, want %s", l, prefix)
		case <-timeout:
			t.Fatalf("no %s from the client process within 30 s", prefix)
		}
	}
}

// waitUntil polls cond for at most 30 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
