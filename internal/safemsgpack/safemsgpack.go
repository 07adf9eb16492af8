// Package safemsgpack decodes msgpack that a client sent, and encodes what
// the library sends, with one set of rules for every package:
//
//   - Before anything is decoded, Check walks the input without allocating
//     and refuses a value whose declared lengths (of maps, arrays,
//     strings, binary and ext data) claim more than the bytes present, or
//     whose containers nest deeper than MaxDepth. A decoder that trusted
//     a declared length would allocate for it up front: 13 bytes declaring
//     a map of 2^32-1 entries cost about 96 MB.
//   - A struct field with no msgpack tag uses its json tag, so that one
//     struct serves both codecs of the event protocol.
package safemsgpack

import (
	"bytes"
	"errors"

	"github.com/vmihailenco/msgpack/v5"
)

// MaxDepth is how deep containers (maps and arrays) may nest in a value
// that Check accepts.
const MaxDepth = 32

// Errors of Check. They say what is wrong in words a client may be shown.
var (
	ErrTruncated = errors.New("msgpack: a length is longer than the data")
	ErrTooDeep   = errors.New("msgpack: nested too deep")
	ErrInvalid   = errors.New("msgpack: invalid type byte")
)

// fallbackTag names the struct tag used where a field has no msgpack tag.
const fallbackTag = "json"

// Check reports whether b starts with one msgpack value whose declared
// lengths fit in b and whose nesting is at most MaxDepth. Every container
// element must take at least a byte, so the elements that all the open
// containers still wait for may never outnumber the bytes left: a value
// Check accepts makes a decoder allocate room for at most len(b) elements
// in all. Bytes after the value are not looked at. Check allocates
// nothing.
func Check(b []byte) error {
	var stack [MaxDepth + 1]uint64 // values still to read at each depth
	depth := 0
	stack[0] = 1
	pending := uint64(1) // the sum of stack[:depth+1]
	i := 0
	for {
		for stack[depth] == 0 {
			if depth == 0 {
				return nil
			}
			depth--
		}
		stack[depth]--
		pending--
		if i >= len(b) {
			return ErrTruncated
		}
		c := b[i]
		i++
		var skip, elems uint64 // bytes to skip, values a container holds
		switch {
		case c <= 0x7f || c >= 0xe0: // fixint
		case c&0xf0 == 0x80: // fixmap
			elems = 2 * uint64(c&0x0f)
		case c&0xf0 == 0x90: // fixarray
			elems = uint64(c & 0x0f)
		case c&0xe0 == 0xa0: // fixstr
			skip = uint64(c & 0x1f)
		case c == 0xc1:
			return ErrInvalid
		case c <= 0xc3: // nil, false, true
		default:
			// The other types: a size field of sizeLen bytes, then extra
			// fixed bytes, then the data it sizes (or, for containers, the
			// elements it counts).
			sizeLen, extra, kind := shape(c)
			if uint64(len(b)-i) < uint64(sizeLen) {
				return ErrTruncated
			}
			n := uint64(0)
			for _, x := range b[i : i+sizeLen] {
				n = n<<8 | uint64(x)
			}
			i += sizeLen
			switch kind {
			case kindBytes:
				skip = uint64(extra) + n
			case kindArray:
				elems = n
			case kindMap:
				elems = 2 * n
			default:
				skip = uint64(extra)
			}
		}
		if skip > uint64(len(b)-i) {
			return ErrTruncated
		}
		i += int(skip)
		if elems > 0 {
			if pending+elems > uint64(len(b)-i) {
				return ErrTruncated
			}
			if depth == MaxDepth {
				return ErrTooDeep
			}
			depth++
			stack[depth] = elems
			pending += elems
		}
	}
}

const (
	kindFixed = iota // extra fixed bytes and no size field
	kindBytes        // str, bin, ext: sized data
	kindArray
	kindMap
)

// shape describes the type byte c (0xc4 to 0xdf): the length of its size
// field, the fixed bytes after it, and its kind.
func shape(c byte) (sizeLen, extra, kind int) {
	switch c {
	case 0xc4, 0xd9: // bin 8, str 8
		return 1, 0, kindBytes
	case 0xc5, 0xda: // bin 16, str 16
		return 2, 0, kindBytes
	case 0xc6, 0xdb: // bin 32, str 32
		return 4, 0, kindBytes
	case 0xc7: // ext 8: size, type, data
		return 1, 1, kindBytes
	case 0xc8:
		return 2, 1, kindBytes
	case 0xc9:
		return 4, 1, kindBytes
	case 0xca: // float 32
		return 0, 4, kindFixed
	case 0xcb: // float 64
		return 0, 8, kindFixed
	case 0xcc, 0xd0: // uint 8, int 8
		return 0, 1, kindFixed
	case 0xcd, 0xd1:
		return 0, 2, kindFixed
	case 0xce, 0xd2:
		return 0, 4, kindFixed
	case 0xcf, 0xd3:
		return 0, 8, kindFixed
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16: type, data
		return 0, 1 + 1<<(c-0xd4), kindFixed
	case 0xdc: // array 16
		return 2, 0, kindArray
	case 0xdd:
		return 4, 0, kindArray
	case 0xde: // map 16
		return 2, 0, kindMap
	default: // 0xdf, map 32
		return 4, 0, kindMap
	}
}

// Unmarshal checks data (see Check) and decodes it into v, taking a
// field's json tag where it has no msgpack tag.
func Unmarshal(data []byte, v any) error {
	if err := Check(data); err != nil {
		return err
	}
	d := msgpack.GetDecoder()
	d.Reset(bytes.NewReader(data))
	d.SetCustomStructTag(fallbackTag)
	err := d.Decode(v)
	msgpack.PutDecoder(d)
	return err
}

// Marshal encodes v, taking a field's json tag where it has no msgpack
// tag.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	e := msgpack.GetEncoder()
	e.Reset(&buf)
	e.SetCustomStructTag(fallbackTag)
	err := e.Encode(v)
	msgpack.PutEncoder(e)
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
