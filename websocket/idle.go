package websocket

import (
	"bufio"
	"io"
)

// An idle connection costs what its handler goroutine holds while it waits
// in Receive. Waiting inside gorilla's NextReader keeps a deep stack and a
// read buffer for as long as the peer is silent, so Receive waits first on
// its own, on a shallow stack and without a buffer (awaitFrame), and lends
// gorilla a pooled buffer only while a message is being read. Keepalive
// pings and pongs that arrive between messages are answered there too, so
// that they do not pull the goroutine into gorilla until the next message.
//
// The read buffer gorilla holds is ws.br, handed to gorilla's Upgrader by
// hijackWriter. Between messages its value is the zero bufio.Reader: no
// buffer. lendReadBuffer gives it one from the pool and returnReadBuffer
// takes it back once nothing is buffered.

// lendReadBuffer gives ws.br a buffer from the pool, reading from rd,
// unless it has one. The caller is the reader (it holds readMu) or the
// handshake.
func (ws *WebSocket) lendReadBuffer(rd io.Reader) {
	if ws.rbuf != nil {
		return
	}
	h := ws.cfg.readPool.Get().(*bufio.Reader)
	h.Reset(rd)
	*ws.br = *h
	ws.rbuf = h
}

// returnReadBuffer gives ws.br's buffer back to the pool when nothing is
// buffered in it and the connection can wait without it (see awaitFrame).
func (ws *WebSocket) returnReadBuffer() {
	if ws.rbuf == nil || ws.rc == nil || ws.br.Buffered() > 0 {
		return
	}
	*ws.br = bufio.Reader{}
	ws.rbuf.Reset(nil)
	ws.cfg.readPool.Put(ws.rbuf)
	ws.rbuf = nil
}

// maxControlFrame is the longest control frame a client sends: a 2-byte
// header, a 4-byte mask and up to 125 bytes of payload.
const maxControlFrame = 2 + 4 + maxControlPayload

// maxControlPayload is the longest payload of a control frame (RFC 6455
// section 5.5).
const maxControlPayload = 125

// controlFrame reports whether b starts with a whole, well-formed client
// ping or pong frame (final, no reserved bits, masked, at most 125 bytes of
// payload), and returns its opcode and length. Anything else, including a
// malformed control frame, is left to gorilla, which reads it and reports
// any protocol violation.
func controlFrame(b []byte) (op byte, size int, ok bool) {
	if !isControlHead(b) {
		return 0, 0, false
	}
	n := int(b[1] & 0x7f)
	if len(b) < 6+n {
		return 0, 0, false
	}
	return b[0] & 0x0f, 6 + n, true
}

// isControlHead reports whether b starts with the header of a client ping
// or pong that controlFrame may accept once the frame is whole.
func isControlHead(b []byte) bool {
	return len(b) >= 2 && (b[0] == 0x80|opPing || b[0] == 0x80|opPong) && b[1]&0x80 != 0 && b[1]&0x7f <= 125
}

// controlPayload unmasks the payload of the control frame f (as checked by
// controlFrame) in place and returns it.
func controlPayload(f []byte) []byte {
	p := f[6:]
	for i := range p {
		p[i] ^= f[2+i%4]
	}
	return p
}

// onControl handles a ping or pong frame read by awaitFrame as gorilla
// would have: through onPing and onPong.
func (ws *WebSocket) onControl(op byte, f []byte) {
	if op == opPing {
		ws.onPing(string(controlPayload(f))) //nolint:errcheck // never fails
		return
	}
	ws.onPong("") //nolint:errcheck // never fails
}
