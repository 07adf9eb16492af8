package websocket

import (
	"encoding/binary"
	"strings"
	"unicode/utf8"
)

// Opcodes (RFC 6455 section 5.2).
const (
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xA
)

// closeFrameOf returns the code and reason of p when p is exactly one
// whole, unmasked close frame as gorilla writes one (its WriteControl
// writes a control frame in one call), else nil. A piece of a data frame
// that gorilla writes in several calls does not pass for one by chance:
// the first byte, the length byte and the length must all agree.
func closeFrameOf(p []byte) *CloseError {
	if len(p) < 4 || p[0] != 0x80|opClose || p[1]&0x80 != 0 || int(p[1]) != len(p)-2 {
		return nil
	}
	return &CloseError{Code: StatusCode(binary.BigEndian.Uint16(p[2:4])), Reason: string(p[4:])}
}

func headerLen(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xFFFF:
		return 4
	}
	return 10
}

// putHeader writes a final, unmasked frame header for a payload of n bytes
// into b, which must hold headerLen(n) bytes.
func putHeader(b []byte, op byte, n int) {
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

// newFrame allocates a whole frame for an n-byte payload and returns it
// with the payload part to fill.
func newFrame(op byte, n int) (frame, payload []byte) {
	h := headerLen(n)
	frame = make([]byte, h+n)
	putHeader(frame, op, n)
	return frame, frame[h:]
}

// frameBytes frames a copy of p.
func frameBytes(op byte, p []byte) []byte {
	f, payload := newFrame(op, len(p))
	copy(payload, p)
	return f
}

// maxCloseReason is the longest reason that fits a close frame's 125-byte
// payload after the 2-byte code.
const maxCloseReason = 123

// closePayload formats a close frame payload: the code, then the reason
// made valid UTF-8 and cut to at most 123 bytes at a rune boundary. StatusNoStatusReceived
// gives an empty payload.
func closePayload(code StatusCode, reason string) []byte {
	if code == StatusNoStatusReceived {
		return nil
	}
	// The peer fails the connection on a reason that is not UTF-8.
	reason = strings.ToValidUTF8(reason, "\uFFFD")
	if len(reason) > maxCloseReason {
		cut := maxCloseReason
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	b := make([]byte, 2+len(reason))
	binary.BigEndian.PutUint16(b, uint16(code))
	copy(b[2:], reason)
	return b
}
