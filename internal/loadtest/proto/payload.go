package proto

import (
	"errors"
	"fmt"
	"time"
)

// HeaderSize is the length of a payload's header, and the smallest
// payload: 16 hex digits of the sequence number, then 16 of the send time.
const HeaderSize = 32

// ErrMalformed is returned by Decode for a payload that does not start with
// a valid header.
var ErrMalformed = errors.New("proto: malformed payload")

const hexDigits = "0123456789abcdef"

// padding is copied in chunks after the header.
const padding = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

// Encode appends to dst a payload of size bytes (HeaderSize when size is
// smaller) and returns the extended slice: seq and sent.UnixNano() as 16
// lowercase hex digits each, then 'x' up to size. It is ASCII, so it can
// travel in a text frame.
func Encode(dst []byte, seq uint64, sent time.Time, size int) []byte {
	size = max(size, HeaderSize)
	dst = appendHex(dst, seq)
	dst = appendHex(dst, uint64(sent.UnixNano()))
	for n := size - HeaderSize; n > 0; {
		k := min(n, len(padding))
		dst = append(dst, padding[:k]...)
		n -= k
	}
	return dst
}

func appendHex(dst []byte, v uint64) []byte {
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = hexDigits[v&0xf]
		v >>= 4
	}
	return append(dst, b[:]...)
}

// Decode reads the header of a payload made by Encode: its sequence number
// and send time. Only the first HeaderSize bytes are read, so b may be
// just the header (a client that reads no further than that saves copying
// the padding). It returns an error wrapping ErrMalformed when b is
// shorter than HeaderSize or the header is not 32 lowercase hex digits.
func Decode(b []byte) (seq uint64, sent time.Time, err error) {
	if len(b) < HeaderSize {
		return 0, time.Time{}, fmt.Errorf("%w: %d bytes, want at least %d", ErrMalformed, len(b), HeaderSize)
	}
	seq, ok := parseHex(b[:16])
	if !ok {
		return 0, time.Time{}, fmt.Errorf("%w: sequence number %q is not 16 lowercase hex digits", ErrMalformed, b[:16])
	}
	ns, ok := parseHex(b[16:32])
	if !ok {
		return 0, time.Time{}, fmt.Errorf("%w: send time %q is not 16 lowercase hex digits", ErrMalformed, b[16:32])
	}
	return seq, time.Unix(0, int64(ns)), nil
}

// parseHex parses exactly 16 lowercase hex digits.
func parseHex(b []byte) (uint64, bool) {
	var v uint64
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(c)
	}
	return v, true
}
