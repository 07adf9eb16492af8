//go:build linux && !386

package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection; the server end
// has a small send buffer and the client end a small receive buffer, so
// that a write of a few hundred KiB fills them.
func tcpPair(t *testing.T) (srv, cli net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
		})
	}}
	cli, err = d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	srv.(*net.TCPConn).SetWriteBuffer(4 << 10)
	t.Cleanup(func() { srv.Close(); cli.Close() })
	return srv, cli
}

// testConn wraps c as a connection does after its handshake.
func testConn(c net.Conn) *Conn {
	var p Pools
	p.Init(512, 32<<10, 10*time.Second)
	bc := NewConn(c, &p)
	var r Reader
	r.br = new(bufio.Reader)
	r.Start(bc, &p, nil)
	return bc
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7 / 3)
	}
	return b
}

// A non-blocking write never blocks: what a full socket does not take
// waits in rest, and the next write sends it first, before gorilla's own
// frame, so the peer reads every byte in order.
func TestTryWriteKeepsTheRestForTheNextWrite(t *testing.T) {
	w := NewWriter(32 << 10)
	p := pattern(1 << 20)
	for _, copyRest := range []bool{false, true} {
		// A connection each: nothing is written after gorilla's close.
		srv, cli := tcpPair(t)
		bc := testConn(srv)
		if !bc.CanTryWrite() {
			t.Fatal("no raw connection on a TCP socket")
		}
		bc.mu.Lock()
		done, err := bc.TryWriteLocked(w, p, copyRest)
		rest := bc.rest
		bc.mu.Unlock()
		if err != nil || done {
			t.Fatalf("copyRest %v: 1 MiB into a full socket: done %v, err %v; want the rest kept", copyRest, done, err)
		}
		if len(rest) == 0 || len(rest) > len(p) {
			t.Fatalf("copyRest %v: rest of %d bytes", copyRest, len(rest))
		}
		if copyRest == (&rest[0] == &p[len(p)-len(rest)]) {
			t.Fatalf("copyRest %v: the rest shares p's bytes: %v", copyRest, !copyRest)
		}
		closeFrame := []byte{0x88, 2, 0x03, 0xEA}
		got := make(chan []byte)
		go func() {
			b, _ := io.ReadAll(io.LimitReader(cli, int64(len(p)+len(closeFrame))))
			got <- b
		}()
		// gorilla's own write, from another goroutine.
		if _, err := bc.Write(closeFrame); err != nil {
			t.Fatal(err)
		}
		b := <-got
		if !bytes.Equal(b, append(append([]byte(nil), p...), closeFrame...)) {
			t.Fatalf("copyRest %v: the peer read %d bytes, not the write then the close frame", copyRest, len(b))
		}
	}
}

// A write deadline left by an earlier blocking write, now past, does not
// fail a non-blocking write, which does not block and needs none.
func TestTryWriteAfterAPastDeadline(t *testing.T) {
	srv, cli := tcpPair(t)
	bc := testConn(srv)
	w := NewWriter(32 << 10)
	srv.SetWriteDeadline(time.Now().Add(-time.Second))
	bc.mu.Lock()
	done, err := bc.TryWriteLocked(w, []byte("hello"), false)
	bc.mu.Unlock()
	if err != nil || !done {
		t.Fatalf("done %v, err %v; want the 5 bytes written", done, err)
	}
	b := make([]byte, 5)
	cli.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(cli, b); err != nil || string(b) != "hello" {
		t.Fatalf("read %q, %v", b, err)
	}
}

// A write to a closed socket fails with the socket's error.
func TestTryWriteToAClosedSocket(t *testing.T) {
	srv, _ := tcpPair(t)
	bc := testConn(srv)
	w := NewWriter(32 << 10)
	srv.Close()
	bc.mu.Lock()
	done, err := bc.TryWriteLocked(w, []byte("hello"), false)
	bc.mu.Unlock()
	if err == nil || done {
		t.Fatalf("done %v, err %v; want an error", done, err)
	}
}

// A non-blocking write leaves the write deadline as it was. gorilla sets
// its deadline before it takes Conn's lock, so a non-blocking write that
// cleared a deadline in between would leave gorilla's next write with none:
// against a peer that does not read, it would block for ever.
func TestTryWriteLeavesTheDeadline(t *testing.T) {
	srv, _ := tcpPair(t)
	bc := testConn(srv)
	srv.SetWriteDeadline(time.Now().Add(-time.Second)) // an earlier write's
	bc.mu.Lock()
	done, err := bc.TryWriteLocked(NewWriter(32<<10), []byte("hello"), false)
	bc.mu.Unlock()
	if err != nil || !done {
		t.Fatalf("done %v, err %v; want the 5 bytes written", done, err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := bc.Write(pattern(8 << 20)) // more than the socket holds; the peer never reads
		errc <- err
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write: %v; want the write timeout", err)
		}
	case <-time.After(10 * time.Second):
		srv.Close()
		<-errc
		t.Fatal("a write to a peer that does not read had no deadline")
	}
}

// Once gorilla has written its close frame, failing the connection,
// nothing the writer writes follows it on the wire (RFC 6455 section
// 5.5.1), whichever way it writes.
func TestNoFrameAfterGorillasClose(t *testing.T) {
	srv, cli := tcpPair(t)
	bc := testConn(srv)
	closeFrame := []byte{0x88, 2, 0x03, 0xEA}
	if _, err := bc.Write(closeFrame); err != nil {
		t.Fatal(err)
	}
	data := FrameBytes(OpText, []byte("late"))
	if err := bc.WriteFrame(data, true); err != nil {
		t.Fatal(err)
	}
	if err := bc.WriteFrame(data, false); err != nil {
		t.Fatal(err)
	}
	if err := bc.Flush(); err != nil {
		t.Fatal(err)
	}
	bc.mu.Lock()
	done, err := bc.TryWriteLocked(NewWriter(32<<10), data, false)
	bc.mu.Unlock()
	if err != nil || !done {
		t.Fatalf("done %v, err %v", done, err)
	}
	srv.Close()
	cli.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(cli)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, closeFrame) {
		t.Fatalf("the peer read % x; want only the close frame % x", b, closeFrame)
	}
}

// gorilla's close frame, written while the writer is in a burst, is on the
// wire when Write returns: the reading goroutine tears the connection down
// as soon as gorilla has failed it, before the writer's next Flush.
func TestGorillasCloseIsNotLeftInTheBurst(t *testing.T) {
	srv, cli := tcpPair(t)
	bc := testConn(srv)
	data := FrameBytes(OpText, []byte("early"))
	if err := bc.WriteFrame(data, false); err != nil { // the writer, mid-burst
		t.Fatal(err)
	}
	closeFrame := []byte{0x88, 2, 0x03, 0xEA}
	if _, err := bc.Write(closeFrame); err != nil { // gorilla's
		t.Fatal(err)
	}
	srv.Close() // teardown
	cli.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(cli)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(append([]byte(nil), data...), closeFrame...); !bytes.Equal(b, want) {
		t.Fatalf("the peer read % x; want % x", b, want)
	}
}
