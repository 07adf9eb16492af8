package servers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/switchboard-go/switchboard/internal/loadtest/proto"
	"github.com/switchboard-go/switchboard/internal/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	messages = 20
	size     = 1024 // over melody's and gorilla's default 512-byte read limit
)

var (
	dialer = gws.Dialer{HandshakeTimeout: 5 * time.Second}
	// client keeps no idle connection, which would outlive the test.
	client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
)

// TestServers builds each server, starts it and checks the contract of
// package proto with real clients on 127.0.0.1: Switchboard twice, in
// memory and over a redis-server of the test's own.
func TestServers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, dir string
		redis     bool
	}{
		{"switchboard", "switchboard", false},
		{"switchboard-redis", "switchboard", true},
		{"melody", "melody", false},
		{"gorillahub", "gorillahub", false},
		{"floor", "floor", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var args []string
			if tt.redis {
				rs := redistest.Start(t)
				args = []string{"-redis", rs.URL()}
			}
			srv := start(t, build(t, tt.dir), args...)

			var room []*gws.Conn
			for range 3 {
				room = append(room, srv.dial(t, "/ws?room=a"))
			}
			// both is in rooms c and a.
			both := srv.dial(t, "/ws?room=c&room=a")
			room = append(room, both)
			other := srv.dial(t, "/ws?room=b")
			pub := srv.dial(t, "/ws?publish=1")
			srv.waitConns(t, 6)

			var wg sync.WaitGroup
			errs := make(chan error, len(room))
			for _, c := range room {
				wg.Go(func() { errs <- receive(c, messages) })
			}
			base := time.Now()
			publish := func(room string, seq uint64) {
				t.Helper()
				buf := proto.Encode(proto.AppendRoom(nil, room), seq, base.Add(time.Duration(seq)), size)
				pub.SetWriteDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
				if err := pub.WriteMessage(gws.TextMessage, buf); err != nil {
					t.Fatalf("publish %d: %v", seq, err)
				}
			}
			for seq := range uint64(messages) {
				publish("a", seq+1)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}

			// Room c's message reaches its one member, which is in a too.
			publish("c", messages+1)
			both.SetReadDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck
			if _, msg, err := both.ReadMessage(); err != nil {
				t.Errorf("room c: %v", err)
			} else if seq, _, err := proto.Decode(msg); err != nil || seq != messages+1 {
				t.Errorf("room c got message %d (%v), want %d", seq, err, messages+1)
			}

			// Room b had all the time the members of a and c took, and a
			// little more.
			other.SetReadDeadline(time.Now().Add(200 * time.Millisecond)) //nolint:errcheck
			if _, msg, err := other.ReadMessage(); err == nil {
				t.Errorf("room b got %.40q", msg)
			} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				t.Errorf("room b: %v", err)
			}

			for _, gc := range []bool{false, true} {
				s := srv.stats(t, gc)
				if s.Conns != 6 || s.HeapAlloc == 0 || s.HeapInuse == 0 || s.StackInuse == 0 ||
					s.Sys < s.HeapInuse || s.Goroutines < 6 || s.RSS == 0 || s.CPUSeconds <= 0 {
					t.Errorf("stats (gc %v): %+v", gc, s)
				}
			}

			// A member that leaves stops counting.
			other.Close()
			srv.waitConns(t, 5)

			// A publisher's message that names no room ends its
			// connection with 1008.
			pub.SetWriteDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
			if err := pub.WriteMessage(gws.TextMessage, []byte("no-room-and-no-space")); err != nil {
				t.Fatal(err)
			}
			pub.SetReadDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck
			for {
				_, _, err := pub.ReadMessage()
				if err == nil {
					continue
				}
				if !gws.IsCloseError(err, gws.ClosePolicyViolation) {
					t.Errorf("publisher after a message without a room: %v, want close 1008", err)
				}
				break
			}
			srv.waitConns(t, 4)

			srv.stop(t)
		})
	}
}

// receive reads n messages from c and checks that they are text payloads
// numbered 1 to n.
func receive(c *gws.Conn, n int) error {
	c.SetReadDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck
	for want := uint64(1); want <= uint64(n); want++ {
		typ, msg, err := c.ReadMessage()
		if err != nil {
			return fmt.Errorf("member %s: message %d: %w", c.LocalAddr(), want, err)
		}
		seq, _, err := proto.Decode(msg)
		switch {
		case err != nil:
			return fmt.Errorf("member %s: message %d: %w", c.LocalAddr(), want, err)
		case typ != gws.TextMessage || len(msg) != size:
			return fmt.Errorf("member %s: message %d: type %d, %d bytes", c.LocalAddr(), want, typ, len(msg))
		case seq != want:
			return fmt.Errorf("member %s: got message %d, want %d", c.LocalAddr(), seq, want)
		}
	}
	return nil
}

// build compiles the server in directory name into a temporary directory,
// with the race detector when the test has it.
func build(t *testing.T, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), name)
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.CommandContext(ctx, "go", append(args, "./"+name)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, out)
	}
	return bin
}

// server is a running server process.
type server struct {
	cmd    *exec.Cmd
	addr   string
	stderr *syncBuffer
	done   chan error // Wait's result
}

// start runs bin with args and waits for its addr= line.
func start(t *testing.T, bin string, args ...string) *server {
	t.Helper()
	addr := make(chan string, 1)
	s := &server{
		cmd:    exec.Command(bin, args...),
		stderr: &syncBuffer{},
		done:   make(chan error, 1),
	}
	s.cmd.Stdout = &firstLine{c: addr}
	s.cmd.Stderr = s.stderr
	s.cmd.WaitDelay = 5 * time.Second
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		s.cmd.Process.Kill() //nolint:errcheck // it may be gone
		<-s.done
		if t.Failed() {
			t.Logf("server stderr:\n%s", s.stderr)
		}
	})
	select {
	case line := <-addr:
		a, ok := strings.CutPrefix(line, "addr=")
		if !ok || !strings.HasPrefix(a, "127.0.0.1:") {
			t.Fatalf("first line %q, want addr=127.0.0.1:PORT", line)
		}
		s.addr = a
	case err := <-s.done:
		s.done <- err
		t.Fatalf("server exited before listening: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no addr= line within 10s")
	}
	return s
}

func (s *server) dial(t *testing.T, target string) *gws.Conn {
	t.Helper()
	c, _, err := dialer.Dial("ws://"+s.addr+target, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", target, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (s *server) stats(t *testing.T, gc bool) proto.Stats {
	t.Helper()
	u := "http://" + s.addr + "/stats"
	if gc {
		u += "?gc=1"
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st proto.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", u, resp.Status, err)
	}
	return st
}

// waitConns waits up to 5s for the server to count n connections.
func (s *server) waitConns(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := s.stats(t, false).Conns
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("conns = %d, want %d", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop sends SIGINT and checks that the server exits 0 within 10s.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("exit after SIGINT: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10s after SIGINT")
	}
}

// firstLine sends the first line written to it, without its newline, and
// discards the rest.
type firstLine struct {
	c    chan<- string
	buf  []byte
	sent bool
}

func (w *firstLine) Write(p []byte) (int, error) {
	if !w.sent {
		w.buf = append(w.buf, p...)
		if i := bytes.IndexByte(w.buf, '\n'); i >= 0 {
			w.c <- string(w.buf[:i])
			w.sent = true
		}
	}
	return len(p), nil
}

// syncBuffer is a bytes.Buffer that the process's output goroutine and the
// test may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
