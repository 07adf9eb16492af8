package wire

import (
	"encoding/binary"
	"strings"
	"unicode/utf8"
)

// Opcodes (RFC 6455 section 5.2).
const (
	OpText   = 0x1
	OpBinary = 0x2
	OpClose  = 0x8
	OpPing   = 0x9
	OpPong   = 0xA
)

// statusNoStatusReceived is close code 1005, which is never sent.
const statusNoStatusReceived = 1005

// Close is the code and reason of a close frame.
type Close struct {
	Code   uint16
	Reason string
}

// CloseFrameOf returns the code and reason of p when p is exactly one
// whole, unmasked close frame as gorilla writes one (its WriteControl
// writes a control frame in one call). A piece of a data frame that
// gorilla writes in several calls does not pass for one by chance: the
// first byte, the length byte and the length must all agree.
func CloseFrameOf(p []byte) (Close, bool) {
	if len(p) < 4 || p[0] != 0x80|OpClose || p[1]&0x80 != 0 || int(p[1]) != len(p)-2 {
		return Close{}, false
	}
	return Close{Code: binary.BigEndian.Uint16(p[2:4]), Reason: string(p[4:])}, true
}

// HeaderLen is the length of the header of an unmasked frame with an
// n-byte payload.
func HeaderLen(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xFFFF:
		return 4
	}
	return 10
}

// PutHeader writes a final, unmasked frame header for a payload of n bytes
// into b, which must hold HeaderLen(n) bytes.
func PutHeader(b []byte, op byte, n int) {
	b[0] = 0x80 | op
	switch {
	case n < 126:
		b[1] = byte(n)
	case n <= 0xFFFF:
		b[1] = 126
		binary.BigEndian.PutUint16(b[2:], uint16(n))
	default:
		b[1] = 127
		binary.BigEndian.PutUint64(b[2:], uint64(n))
	}
}

// NewFrame allocates a whole frame for an n-byte payload and returns it
// with the payload part to fill.
func NewFrame(op byte, n int) (frame, payload []byte) {
	h := HeaderLen(n)
	frame = make([]byte, h+n)
	PutHeader(frame, op, n)
	return frame, frame[h:]
}

// FrameBytes frames a copy of p.
func FrameBytes(op byte, p []byte) []byte {
	f, payload := NewFrame(op, len(p))
	copy(payload, p)
	return f
}

// MaxCloseReason is the longest reason that fits a close frame's 125-byte
// payload after the 2-byte code.
const MaxCloseReason = 123

// ClosePayload formats a close frame payload: the code, then the reason
// made valid UTF-8 and cut to at most 123 bytes at a rune boundary. Code
// 1005 (no status received) gives an empty payload.
func ClosePayload(code uint16, reason string) []byte {
	if code == statusNoStatusReceived {
		return nil
	}
	// The peer fails the connection on a reason that is not UTF-8.
	reason = strings.ToValidUTF8(reason, "\uFFFD")
	if len(reason) > MaxCloseReason {
		cut := MaxCloseReason
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	b := make([]byte, 2+len(reason))
	binary.BigEndian.PutUint16(b, code)
	copy(b[2:], reason)
	return b
}

// MaxControlPayload is the longest payload of a control frame (RFC 6455
// section 5.5).
const MaxControlPayload = 125

// maxControlFrame is the longest control frame a client sends: a 2-byte
// header, a 4-byte mask and up to 125 bytes of payload.
const maxControlFrame = 2 + 4 + MaxControlPayload

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
	return len(b) >= 2 && (b[0] == 0x80|OpPing || b[0] == 0x80|OpPong) && b[1]&0x80 != 0 && b[1]&0x7f <= 125
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
