//go:build !linux || 386

package wire

import (
	"net"
	"syscall"
)

// rawConn returns nil: without Await's peek (Linux only, where recvfrom is
// a system call of its own), the connection waits inside gorilla's read,
// holding its read buffer.
func rawConn(net.Conn) syscall.RawConn { return nil }

func (r *Reader) peek(uintptr) bool { return true }

// write is never called: without rawConn, CanTryWrite is false.
func (w *Writer) write(uintptr) {}
