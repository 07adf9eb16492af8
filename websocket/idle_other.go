//go:build !linux || 386

package websocket

import (
	"net"
	"syscall"
)

// rawConn returns nil: without awaitFrame's peek (Linux only, where
// recvfrom is a system call of its own), Receive waits inside gorilla's
// read, holding its read buffer.
func rawConn(net.Conn) syscall.RawConn { return nil }

func (ws *WebSocket) awaitFrame() error { return nil }

func (ws *WebSocket) peek(uintptr) bool { return true }
