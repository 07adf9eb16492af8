package wire

// Writer is the state of one goroutine that writes for many connections
// without blocking (a pool writer): the buffer it coalesces a batch in and
// the non-blocking write's callback, made once. A Writer serves one
// goroutine at a time.
type Writer struct {
	buf []byte
	p   []byte // what write writes; n of it written, err its failure
	n   int
	err error
	fn  func(uintptr)
}

// NewWriter makes a Writer whose buffer holds size bytes.
func NewWriter(size int) *Writer {
	w := &Writer{buf: make([]byte, 0, size)}
	w.fn = w.write
	return w
}

// Buf returns w's buffer, emptied, for a batch of at most Cap bytes.
func (w *Writer) Buf() []byte { return w.buf[:0] }

// Cap is the most bytes a batch coalesced in Buf may hold.
func (w *Writer) Cap() int { return cap(w.buf) }

// CanTryWrite reports whether c is a socket that TryWriteLocked can write
// to (Reader.Start has run, on Linux); false for a nil Conn.
func (c *Conn) CanTryWrite() bool { return c != nil && c.rc != nil }

// TryLock takes c's write lock if no one holds it. It is held by another
// goroutine only for gorilla's own write, which may block: a pool writer
// leaves such a connection to a writer of its own.
func (c *Conn) TryLock() bool { return c.mu.TryLock() }

// Unlock releases the lock TryLock took.
func (c *Conn) Unlock() { c.mu.Unlock() }

// PendingLocked reports whether a burst buffer or the rest of a write
// waits. c's lock is held.
func (c *Conn) PendingLocked() bool { return c.buf != nil || c.rest != nil }

// TryWriteLocked writes p without blocking and reports whether the socket
// took all of it. What it did not take waits in c.rest, for the next write
// (Flush, WriteFrame), which may block: a copy when copyRest is set (p is
// w's buffer, used again), else p itself. c's lock is held, nothing is
// pending (PendingLocked) and CanTryWrite is true.
func (c *Conn) TryWriteLocked(w *Writer, p []byte, copyRest bool) (bool, error) {
	if c.failed.Load() != nil {
		return true, nil // see afterClose
	}
	w.p, w.n, w.err = p, 0, nil
	// Control, not Write: every write to the socket is under c.mu already,
	// and this one never waits, so it needs neither the descriptor's write
	// lock nor its deadline; Control only keeps the descriptor open while
	// write runs.
	err := c.rc.Control(w.fn)
	if err == nil {
		err = w.err
	}
	n := w.n
	w.p = nil
	if err != nil {
		return false, err
	}
	if n == len(p) {
		return true, nil
	}
	if copyRest {
		c.rest = append([]byte(nil), p[n:]...)
	} else {
		c.rest = p[n:]
	}
	return false, nil
}
