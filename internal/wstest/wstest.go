// Package wstest holds test helpers shared by Switchboard's packages: an
// in-memory listener, so that benchmarks can hold more connections than a
// process has file descriptors.
package wstest

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// PipeListener is a net.Listener whose connections are in-memory pipes
// (net.Pipe). Dial makes one. The server side ignores write deadlines: net.Pipe
// starts a timer for every deadline set, an allocation a TCP connection
// does not make, which would swamp what a benchmark measures. Use it for
// benchmarks, not for tests of write timeouts.
type PipeListener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

// NewPipeListener returns an open PipeListener.
func NewPipeListener() *PipeListener {
	return &PipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept waits for the next Dial.
func (l *PipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept and Dial.
func (l *PipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr is a placeholder address.
func (l *PipeListener) Addr() net.Addr { return pipeAddr{} }

// Dial connects to the listener; its signature fits a dialer's
// NetDialContext.
func (l *PipeListener) Dial(ctx context.Context, _, _ string) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case l.conns <- noDeadlines{server}:
		return client, nil
	case <-l.done:
		return nil, errors.New("wstest: listener closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

type noDeadlines struct{ net.Conn }

// SetDeadline sets only the read deadline (net/http needs it to hijack).
func (c noDeadlines) SetDeadline(t time.Time) error { return c.Conn.SetReadDeadline(t) }

// SetWriteDeadline does nothing.
func (noDeadlines) SetWriteDeadline(time.Time) error { return nil }
