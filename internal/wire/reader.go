package wire

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"syscall"
)

// An idle connection costs what its handler goroutine holds while it waits
// to receive. Waiting inside gorilla's NextReader keeps a deep stack and a
// read buffer for as long as the peer is silent, so the connection waits
// first on its own, on a shallow stack and without a buffer (Await), and
// lends gorilla a pooled buffer only while a message is being read.
// Keepalive pings and pongs that arrive between messages are answered
// there too, so that they do not pull the goroutine into gorilla until the
// next message.

// Control is told of the pings and pongs the idle wait reads, as gorilla
// would tell its ping and pong handlers. (OnPing takes a string: a byte
// slice passed through an interface would make peek's buffer escape.)
type Control interface {
	OnPing(payload string)
	OnPong()
}

// Reader is the read side of a connection beneath gorilla. It is meant to
// be embedded by value in the connection (see the package doc's invariant
// 6). The buffered reader gorilla holds is br, handed to gorilla's
// Upgrader by HijackWriter; between messages its value is the zero
// bufio.Reader: no buffer. Lend gives it one from the pool and Return
// takes it back once nothing is buffered. The caller serialises all
// methods (the connection's read lock, or the handshake before it).
type Reader struct {
	br   *bufio.Reader // what gorilla reads from
	rbuf *bufio.Reader // the pooled reader whose buffer br has on loan; nil: none
	// rc is the socket Await waits on (nil when it is not one) and peekFn
	// its callback, made once.
	rc     syscall.RawConn
	peekFn func(uintptr) bool
	ctl    Control
	// BadClose is set by Await when the peer's close frame has a 1-byte
	// payload (RFC 6455 section 5.5.1 forbids it; gorilla reads it as a
	// close without a code).
	BadClose bool
}

// Start readies the idle wait, and c's non-blocking writes, once the
// handshake is over: c is the connection gorilla reads from and ctl is
// told of pings and pongs. It
// returns the read buffer lent for the handshake.
func (r *Reader) Start(c *Conn, p *Pools, ctl Control) {
	r.ctl = ctl
	r.rc = rawConn(c.Conn)
	c.rc = r.rc
	if r.rc != nil {
		r.peekFn = r.peek
	}
	r.Return(p)
}

// Lend gives the reader gorilla holds a buffer from p, reading from rd,
// unless it has one.
func (r *Reader) Lend(p *Pools, rd io.Reader) {
	if r.rbuf != nil {
		return
	}
	h := p.read.Get().(*bufio.Reader)
	h.Reset(rd)
	*r.br = *h
	r.rbuf = h
}

// Return gives the read buffer back to p when nothing is buffered in it
// and the connection can wait without it (see Await).
func (r *Reader) Return(p *Pools) {
	if r.rbuf == nil || r.rc == nil || r.br.Buffered() > 0 {
		return
	}
	*r.br = bufio.Reader{}
	r.rbuf.Reset(nil)
	p.read.Put(r.rbuf)
	r.rbuf = nil
}

// Await blocks until the peer sent something for gorilla to read: a data
// or close frame, the end of the stream, or anything it does not
// recognise. Pings and pongs that come first are read and passed to the
// Control. It returns at once when the reader still holds bytes or the
// connection is not a socket. The caller is between messages (the package
// doc's invariant 2). Errors are those of the socket's wait: a read
// deadline or the socket closed.
func (r *Reader) Await() error {
	if r.rc == nil || r.br.Buffered() > 0 {
		return nil
	}
	return r.rc.Read(r.peekFn)
}

// onControl passes a ping or pong frame read by Await to the Control.
func (r *Reader) onControl(op byte, f []byte) {
	if op == OpPing {
		r.ctl.OnPing(string(controlPayload(f)))
		return
	}
	r.ctl.OnPong()
}

// HijackWriter hands gorilla's Upgrader a net.Conn wrapped in a Conn, so
// that the writer can coalesce the frames of a burst, and the Reader's
// reader to read it through, holding a pooled buffer (gorilla takes a
// hijacked reader of more than 256 bytes when ReadBufferSize is 0).
type HijackWriter struct {
	http.ResponseWriter
	r     *Reader
	pools *Pools
	conn  *Conn
}

// NewHijackWriter wraps w for gorilla's Upgrader; r is the connection's
// Reader.
func NewHijackWriter(w http.ResponseWriter, r *Reader, p *Pools) *HijackWriter {
	return &HijackWriter{ResponseWriter: w, r: r, pools: p}
}

// Conn returns the Conn made by Hijack, nil before it.
func (h *HijackWriter) Conn() *Conn { return h.conn }

// Hijack is http.Hijacker's.
func (h *HijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = NewConn(c, h.pools)
	if brw.Reader.Buffered() > 0 {
		// The client did not wait for the answer: gorilla refuses that
		// when it sees net/http's reader.
		return h.conn, brw, nil
	}
	h.r.br = new(bufio.Reader)
	h.r.Lend(h.pools, h.conn)
	return h.conn, bufio.NewReadWriter(h.r.br, brw.Writer), nil
}
