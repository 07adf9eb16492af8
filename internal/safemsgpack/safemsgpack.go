// Package safemsgpack decodes msgpack that a client sent, and encodes what
// the library sends, with one set of rules for every package:
//
//   - Before anything is decoded, Check walks the input without allocating
//     and refuses a value whose declared lengths (of maps, arrays,
//     strings, binary and ext data) claim more than the bytes present, or
//     whose containers nest deeper than MaxDepth. A decoder that trusted
//     a declared length would allocate for it up front: 13 bytes declaring
//     a map of 2^32-1 entries cost about 96 MB.
//   - The decoder reads an ext value where it expects a map by skipping
//     the ext's header and reading its data as the map's (see
//     [ErrExtData]), a second reading of the same bytes that a check of
//     the first cannot bound. Check refuses an ext whose data would read
//     as a map or nil; Unmarshal first rewrites the timestamps whose
//     short forms happen to (a date with 931 to 939 million nanoseconds,
//     say) into the 96-bit form, whose data never does, so that every
//     timestamp a client sends is accepted.
//   - A struct field with no msgpack tag uses its json tag, so that one
//     struct serves both codecs of the event protocol.
package safemsgpack

import (
	"bytes"
	"encoding/binary"
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
	// ErrExtData: an ext value (other than a timestamp in its 32- or
	// 64-bit form, which Unmarshal rewrites) whose data starts with a map
	// or nil type byte. Decoding it into a map would read that data as
	// the map, with lengths no check of the value as an ext has seen.
	ErrExtData = errors.New("msgpack: ext data starts like a map")
)

// timestampExt is the ext type of msgpack's timestamps (-1).
const timestampExt = 0xff

// fallbackTag names the struct tag used where a field has no msgpack tag.
const fallbackTag = "json"

// Check reports whether b starts with one msgpack value whose declared
// lengths fit in b and whose nesting is at most MaxDepth. Every container
// element must take at least a byte, so the elements that all the open
// containers still wait for may never outnumber the bytes left: a value
// Check accepts makes a decoder allocate room for at most len(b) elements
// in all. An ext value is refused with ErrExtData if its data starts like
// a map or nil, unless it is a timestamp that Unmarshal rewrites. Bytes
// after the value are not looked at. Check allocates nothing.
func Check(b []byte) error {
	_, _, err := scan(b, false)
	return err
}

// scan walks the value at the start of b as Check describes and returns
// where it ends. With rewrite set, it also returns a copy of the value
// in which every timestamp whose data starts like a map or nil is in the
// 96-bit form (nil if there is none); without, it reports such a
// timestamp as fine and allocates nothing.
func scan(b []byte, rewrite bool) (end int, out []byte, err error) {
	var stack [MaxDepth + 1]uint64 // values still to read at each depth
	depth := 0
	stack[0] = 1
	pending := uint64(1) // the sum of stack[:depth+1]
	copied := 0          // b[:copied] is in out already
	i := 0
	for {
		for stack[depth] == 0 {
			if depth == 0 {
				if out != nil {
					out = append(out, b[copied:i]...)
				}
				return i, out, nil
			}
			depth--
		}
		stack[depth]--
		pending--
		if i >= len(b) {
			return 0, nil, ErrTruncated
		}
		start := i
		c := b[i]
		i++
		var skip, elems uint64 // bytes to skip, values a container holds
		ext := false
		switch {
		case c <= 0x7f || c >= 0xe0: // fixint
		case c&0xf0 == 0x80: // fixmap
			elems = 2 * uint64(c&0x0f)
		case c&0xf0 == 0x90: // fixarray
			elems = uint64(c & 0x0f)
		case c&0xe0 == 0xa0: // fixstr
			skip = uint64(c & 0x1f)
		case c == 0xc1:
			return 0, nil, ErrInvalid
		case c <= 0xc3: // nil, false, true
		default:
			// The other types: a size field of sizeLen bytes, then extra
			// fixed bytes, then the data it sizes (or, for containers, the
			// elements it counts).
			sizeLen, extra, kind := shape(c)
			if uint64(len(b)-i) < uint64(sizeLen) {
				return 0, nil, ErrTruncated
			}
			n := uint64(0)
			for _, x := range b[i : i+sizeLen] {
				n = n<<8 | uint64(x)
			}
			i += sizeLen
			ext = (c >= 0xc7 && c <= 0xc9) || (c >= 0xd4 && c <= 0xd8)
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
			return 0, nil, ErrTruncated
		}
		i += int(skip)
		if ext {
			// b[hdr] is the ext type and b[hdr+1:i] its data.
			hdr := start + 1 + extSizeLen(c)
			if hdr+1 < i && mapLike(b[hdr+1]) {
				if b[hdr] != timestampExt || (c != 0xd6 && c != 0xd7) {
					return 0, nil, ErrExtData
				}
				if rewrite {
					out = append(out, b[copied:start]...)
					out = appendTimestamp96(out, b[hdr+1:i])
					copied = i
				}
			}
		}
		if elems > 0 {
			if pending+elems > uint64(len(b)-i) {
				return 0, nil, ErrTruncated
			}
			if depth == MaxDepth {
				return 0, nil, ErrTooDeep
			}
			depth++
			stack[depth] = elems
			pending += elems
		}
	}
}

// mapLike reports whether c is a type byte that a decoder expecting a
// map takes as one: a map or nil, after which it reads on.
func mapLike(c byte) bool {
	return c&0xf0 == 0x80 || c == 0xc0 || c == 0xde || c == 0xdf
}

// extSizeLen is the length of the size field of the ext type byte c.
func extSizeLen(c byte) int {
	switch c {
	case 0xc7:
		return 1
	case 0xc8:
		return 2
	case 0xc9:
		return 4
	}
	return 0
}

// appendTimestamp96 appends the timestamp whose 32- or 64-bit data is d
// in the 96-bit form: ext 8, 12 bytes, type -1, then the nanoseconds
// (below 2^30, so the first data byte is at most 0x3f) and the seconds.
func appendTimestamp96(out, d []byte) []byte {
	var sec, nsec uint64
	if len(d) == 4 {
		sec = uint64(binary.BigEndian.Uint32(d))
	} else {
		x := binary.BigEndian.Uint64(d)
		nsec, sec = x>>34, x&(1<<34-1)
	}
	out = append(out, 0xc7, 12, timestampExt)
	out = binary.BigEndian.AppendUint32(out, uint32(nsec))
	return binary.BigEndian.AppendUint64(out, sec)
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

// ErrDecode is returned for an input that made the decoder panic (an
// array as the key of a map[any]any, for one).
var ErrDecode = errors.New("msgpack: the value does not fit the type it is decoded into")

// Unmarshal checks data (see Check) and decodes it into v, taking a
// field's json tag where it has no msgpack tag. A panic of the decoder
// is returned as ErrDecode.
func Unmarshal(data []byte, v any) (err error) {
	end, rewritten, err := scan(data, true)
	if err != nil {
		return err
	}
	// The decoder sees only the value that was checked: it may otherwise
	// read on into bytes after it (after an ext with no data, say).
	data = data[:end]
	if rewritten != nil {
		data = rewritten
	}
	d := msgpack.GetDecoder()
	defer func() {
		if recover() != nil {
			err = ErrDecode // the decoder is dropped, not put back
		}
	}()
	d.Reset(bytes.NewReader(data))
	d.SetCustomStructTag(fallbackTag)
	err = d.Decode(v)
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
