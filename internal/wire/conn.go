package wire

import (
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Conn wraps the hijacked net.Conn. Outside a burst, writes go straight
// to the network; during a burst they gather in a pooled buffer that is
// written with one syscall when full or when the queue drains. An idle
// connection holds no buffer.
//
// mu serialises every write to the socket: the writer's, a pool writer's
// (TryWriteLocked) and gorilla's own from the reading goroutine (its
// protocol-error close frames). A non-blocking write that the socket took
// only part of leaves the rest in rest, and the next write under mu sends
// it first, so frames never interleave (see the package doc's invariants
// 1, 3 and 5).
type Conn struct {
	net.Conn
	pools *Pools
	mu    sync.Mutex
	buf   *[]byte
	rest  []byte
	// rc is the socket's raw connection, for non-blocking writes; nil
	// when it is not a socket (set by Reader.Start).
	rc syscall.RawConn
	// failed is the close frame gorilla wrote itself, which it does only
	// when it fails the connection for a protocol violation: how the
	// reader tells such a failure from the network's, without reading
	// gorilla's error texts.
	failed atomic.Pointer[Close]
}

// NewConn wraps c, borrowing burst buffers from p.
func NewConn(c net.Conn, p *Pools) *Conn {
	return &Conn{Conn: c, pools: p}
}

// Failed returns the close frame gorilla wrote when it failed the
// connection, if it did.
func (c *Conn) Failed() (Close, bool) {
	if f := c.failed.Load(); f != nil {
		return *f, true
	}
	return Close{}, false
}

// Holding reports whether a burst buffer is taken (possibly empty) or the
// rest of a non-blocking write waits: the writer must Flush, which also
// gives the buffer back to the pool, before it exits.
func (c *Conn) Holding() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf != nil || c.rest != nil
}

// Write is called by gorilla (handshake response, compressed frames, its
// own control frames).
func (c *Conn) Write(p []byte) (int, error) {
	cl, isClose := CloseFrameOf(p)
	if isClose {
		f := new(Close) // allocated here, not on every Write
		*f = cl
		c.failed.CompareAndSwap(nil, f)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf != nil && !isClose {
		if err := c.appendLocked(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	// gorilla's close frame is not left in a burst: the reading goroutine
	// tears the connection down as soon as it is written, before the
	// writer would flush. What the burst holds goes first.
	var held []byte
	if c.buf != nil {
		held = *c.buf
		*c.buf = held[:0]
	}
	if err := c.writeOutLocked(held); err != nil {
		return 0, err
	}
	// gorilla has set its own write deadline (the non-blocking writes
	// leave deadlines alone).
	return c.Conn.Write(p)
}

// afterClose: once gorilla has failed the connection with a close frame,
// the writer's frames are dropped, as RFC 6455 section 5.5.1 asks (no data
// after a close frame); the peer is told by that close frame, and the
// connection is being torn down. gorilla records the failure before it
// takes the lock, so a frame of the writer's either went out before its
// close frame (whole: a rest is written first) or is dropped.

// Begin starts a burst: later writes gather in the buffer until Flush.
func (c *Conn) Begin() {
	c.mu.Lock()
	if c.buf == nil {
		c.buf = c.pools.burst.Get().(*[]byte)
	}
	c.mu.Unlock()
}

// WriteFrame writes one frame from the writer goroutine: directly when
// direct is set, else into the burst buffer.
func (c *Conn) WriteFrame(p []byte, direct bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failed.Load() != nil {
		return nil // see afterClose
	}
	if direct {
		return c.writeOutLocked(p)
	}
	if c.buf == nil {
		c.buf = c.pools.burst.Get().(*[]byte)
	}
	return c.appendLocked(p)
}

// appendLocked adds p to the burst buffer, writing the buffer out first
// when p does not fit, and writing p directly when it is large.
func (c *Conn) appendLocked(p []byte) error {
	b := *c.buf
	if len(b)+len(p) > cap(b) {
		if len(b) > 0 {
			if err := c.writeOutLocked(b); err != nil {
				return err
			}
			b = b[:0]
			*c.buf = b
		}
		if len(p) > cap(b)/2 {
			return c.writeOutLocked(p)
		}
	}
	*c.buf = append(b, p...)
	return nil
}

// Flush writes out the rest and the burst buffer, and returns the buffer
// to the pool.
func (c *Conn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		return c.writeOutLocked(nil)
	}
	var err error
	if b := *c.buf; len(b) > 0 || c.rest != nil {
		err = c.writeOutLocked(b)
	}
	*c.buf = (*c.buf)[:0]
	c.pools.burst.Put(c.buf)
	c.buf = nil
	return err
}

// writeOutLocked writes the rest, if any, then p, blocking for up to the
// write timeout. c.mu is held.
func (c *Conn) writeOutLocked(p []byte) error {
	if len(p) == 0 && c.rest == nil {
		return nil
	}
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.pools.writeTimeout)); err != nil {
		return err
	}
	if c.rest != nil {
		rest := c.rest
		c.rest = nil
		if _, err := c.Conn.Write(rest); err != nil {
			return err
		}
	}
	if len(p) == 0 {
		return nil
	}
	_, err := c.Conn.Write(p)
	return err
}
