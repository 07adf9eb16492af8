package websocket

import (
	"encoding/binary"
	"errors"
	"net/http"
)

// An accepted connection keeps its handshake headers packed in one string
// rather than in net/http's map, which costs several times as much (the
// map, a slice and a string per value): about half a KiB a connection,
// held for its whole life, though most handlers read a header or two
// before Accept, if at all. Header rebuilds the map on first use.
//
// The packing: for each key, its length and bytes, the number of values,
// and each value's length and bytes; lengths and counts are uvarints.

// packHeader packs h.
func packHeader(h http.Header) string {
	n := 0
	for k, vs := range h {
		n += binary.MaxVarintLen64*(2+len(vs)) + len(k)
		for _, v := range vs {
			n += len(v)
		}
	}
	b := make([]byte, 0, n)
	for k, vs := range h {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		}
	}
	return string(b)
}

var errPacked = errors.New("websocket: malformed packed header")

// unpackHeader rebuilds what packHeader packed. Its keys and values share
// s's memory; the values of all keys share one slice, as in
// http.Header.Clone.
func unpackHeader(s string) (http.Header, error) {
	// Two passes: count, so that the map and the values are made once,
	// then fill.
	keys, values := 0, 0
	for p := (packed{s: s}); len(p.s) > 0; keys++ {
		_, n, ok := p.key()
		for ; ok && n > 0; n-- {
			_, ok = p.next()
			values++
		}
		if !ok {
			return nil, errPacked
		}
	}
	h := make(http.Header, keys)
	all := make([]string, values)
	for p := (packed{s: s}); len(p.s) > 0; {
		k, n, _ := p.key()
		vs := all[:n:n]
		for i := range vs {
			vs[i], _ = p.next()
		}
		all = all[n:]
		h[k] = vs
	}
	return h, nil
}

// packed reads a packed header from its front.
type packed struct{ s string }

// key reads a key and its count of values.
func (p *packed) key() (string, int, bool) {
	k, ok := p.next()
	if !ok {
		return "", 0, false
	}
	n, w := uvarint(p.s)
	// Each value takes a byte at least, which also bounds n.
	if w <= 0 || n > uint64(len(p.s)-w) {
		return "", 0, false
	}
	p.s = p.s[w:]
	return k, int(n), true
}

// next reads a length and that many bytes.
func (p *packed) next() (string, bool) {
	n, w := uvarint(p.s)
	if w <= 0 || n > uint64(len(p.s)-w) {
		return "", false
	}
	v := p.s[w : w+int(n)]
	p.s = p.s[w+int(n):]
	return v, true
}

// uvarint is binary.Uvarint for a string.
func uvarint(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				return 0, -1
			}
			return x | uint64(c)<<shift, i + 1
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	return 0, 0
}
