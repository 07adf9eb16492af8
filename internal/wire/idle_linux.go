//go:build linux && !386

package wire

import (
	"net"
	"syscall"
	"unsafe"
)

// rawConn returns c's syscall.RawConn when c is a socket (not, for
// instance, a TLS connection), else nil.
func rawConn(c net.Conn) syscall.RawConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// peek is Await's syscall.RawConn callback: false means "wait until the
// socket is readable and call again". The socket is non-blocking.
//
// Its frame is kept small (the package doc's invariant 4): it looks at a
// frame's first 6 bytes, which are the whole of a ping or pong without
// payload (the keepalive's), and leaves the rest to peekPayload.
func (r *Reader) peek(fd uintptr) bool {
	for {
		var b [6]byte
		n, err := recvPeek(int(fd), b[:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return false
		case err != nil || n == 0:
			return true // gorilla's read reports the error or the end
		}
		op, size, ok := controlFrame(b[:n])
		switch {
		case ok:
			// The frame is queued whole, so this read takes all of it.
			if !readFull(int(fd), b[:size]) {
				return true
			}
			r.onControl(op, b[:size])
		case n == len(b) && isControlHead(b[:]):
			if !r.peekPayload(fd) {
				return true
			}
		case n >= 2 && b[0] == 0x80|OpClose && b[1] == 0x80|1:
			r.BadClose = true // a close frame whose payload is 1 byte
			return true
		default:
			return true
		}
	}
}

// peekPayload reads a ping or pong with a payload when the whole frame is
// queued, and reports whether it did.
//
//go:noinline
func (r *Reader) peekPayload(fd uintptr) bool {
	var b [maxControlFrame]byte
	n, err := recvPeek(int(fd), b[:])
	if err != nil {
		return false
	}
	op, size, ok := controlFrame(b[:n])
	if !ok || !readFull(int(fd), b[:size]) {
		return false
	}
	r.onControl(op, b[:size])
	return true
}

// recvPeek copies what is queued on the socket into b without taking it.
// (syscall.Recvfrom would do, but it keeps a sockaddr on the stack.)
func recvPeek(fd int, b []byte) (int, error) {
	n, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), syscall.MSG_PEEK, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// readFull reads len(b) bytes that are known to be queued on the socket.
// It reports false when it could not, which leaves the stream mid-frame:
// gorilla's next read then fails the connection.
func readFull(fd int, b []byte) bool {
	for len(b) > 0 {
		n, err := syscall.Read(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			return false
		}
		b = b[n:]
	}
	return true
}

// write is a Writer's non-blocking write (see Conn.TryWriteLocked): it
// writes w.p from w.n on until the socket takes no more, and never waits.
// The socket is non-blocking, so the system call returns at once and is
// made raw: a call that tells the scheduler it may block would have the
// runtime's monitor hand the CPU to another thread while the kernel
// copies, which costs more than the copy (a tenth of the CPU of a busy
// fan-out, measured).
func (w *Writer) write(fd uintptr) {
	for w.n < len(w.p) {
		b := w.p[w.n:]
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		switch {
		case errno == syscall.EINTR:
			continue
		case errno == syscall.EAGAIN:
			return
		case errno != 0:
			w.err = errno
			return
		}
		w.n += int(n)
	}
}
