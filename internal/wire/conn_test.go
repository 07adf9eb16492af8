package wire

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// sink is a net.Conn that records each write.
type sink struct {
	net.Conn // nil: only Write and SetWriteDeadline are called
	writes   [][]byte
}

func (s *sink) Write(p []byte) (int, error) {
	s.writes = append(s.writes, append([]byte(nil), p...))
	return len(p), nil
}

func (s *sink) SetWriteDeadline(time.Time) error { return nil }

func newTestConn() (*Conn, *sink) {
	p := new(Pools)
	p.Init(512, 64, time.Second)
	s := &sink{}
	return NewConn(s, p), s
}

// A burst goes out in one write at Flush; a frame too big for the buffer
// goes out on its own, after what was gathered before it.
func TestConnBurst(t *testing.T) {
	t.Parallel()
	c, s := newTestConn()
	a, b := FrameBytes(OpText, []byte("a")), FrameBytes(OpText, []byte("b"))
	big := FrameBytes(OpBinary, make([]byte, 70)) // more than the 64-byte burst buffer
	for _, f := range [][]byte{a, b} {
		if err := c.WriteFrame(f, false); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.writes) != 0 || !c.Holding() {
		t.Fatalf("before Flush: %d writes, holding %v", len(s.writes), c.Holding())
	}
	if err := c.WriteFrame(big, false); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	want := [][]byte{append(append([]byte{}, a...), b...), big}
	if len(s.writes) != len(want) || !bytes.Equal(s.writes[0], want[0]) || !bytes.Equal(s.writes[1], want[1]) {
		t.Fatalf("writes % x, want % x", s.writes, want)
	}
	if c.Holding() {
		t.Fatal("still holding a buffer after Flush")
	}
}

// Conn.Write knows the close frame gorilla writes when it fails the
// connection, keeps the first, and passes every write through.
func TestConnFailed(t *testing.T) {
	t.Parallel()
	c, s := newTestConn()
	if _, ok := c.Failed(); ok {
		t.Fatal("failed before any write")
	}
	writes := [][]byte{
		FrameBytes(OpText, []byte("\x03\xeahi")),
		gwsCloseFrame(1002, "bad opcode"),
		gwsCloseFrame(1007, "later"),
	}
	for _, p := range writes {
		if n, err := c.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if got, ok := c.Failed(); !ok || got != (Close{Code: 1002, Reason: "bad opcode"}) {
		t.Fatalf("Failed = %+v, %v", got, ok)
	}
	if len(s.writes) != len(writes) {
		t.Fatalf("%d writes reached the network, want %d", len(s.writes), len(writes))
	}
}

// A data frame written through Conn.Write allocates nothing.
func TestConnWriteAllocs(t *testing.T) {
	c, _ := newTestConn()
	c.Conn = discard{}
	f := FrameBytes(OpText, []byte("hello"))
	if n := testing.AllocsPerRun(100, func() { c.Write(f) }); n != 0 { //nolint:errcheck
		t.Fatalf("%v allocations per write", n)
	}
}

type discard struct{ net.Conn }

func (discard) Write(p []byte) (int, error) { return len(p), nil }
