package safemsgpack

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

func TestCheck(t *testing.T) {
	valid, _ := msgpack.Marshal(map[string]any{"event": "message", "payload": map[string]any{"text": "hi", "n": []any{1, 2.5, nil, true, []byte{1}}}, "ref": 7})
	deep := func(n int) []byte { return append(bytes.Repeat([]byte{0x91}, n), 0xc0) }
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"a real envelope", valid, nil},
		{"nil", []byte{0xc0}, nil},
		{"empty", nil, ErrTruncated},
		{"map32 of 2^32-1 entries in 13 bytes", []byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'a', 0xc0, 0xa1, 'b', 0xc0, 0xc0, 0xc0}, ErrTruncated},
		{"array32 of 2^32-1", []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0}, ErrTruncated},
		{"array16 claiming one more than present", []byte{0xdc, 0x00, 0x03, 0xc0, 0xc0}, ErrTruncated},
		{"nested arrays claiming more than the bytes in all", []byte{0x93, 0x92, 0xc0, 0xc0, 0x93}, ErrTruncated},
		{"str32 of 4 GiB", []byte{0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}, ErrTruncated},
		{"bin32 of 4 GiB", []byte{0xc6, 0xff, 0xff, 0xff, 0xff, 'a'}, ErrTruncated},
		{"ext32 of 4 GiB", []byte{0xc9, 0xff, 0xff, 0xff, 0xff, 1, 'a'}, ErrTruncated},
		{"fixext16 cut short", []byte{0xd8, 1, 2, 3}, ErrTruncated},
		{"size field cut short", []byte{0xdb, 0xff}, ErrTruncated},
		{"the unused type byte", []byte{0xc1}, ErrInvalid},
		{"MaxDepth deep", deep(MaxDepth), nil},
		{"one deeper than MaxDepth", deep(MaxDepth + 1), ErrTooDeep},
		{"65,000 deep", deep(65000), ErrTooDeep},
		{"trailing bytes are not looked at", []byte{0xc0, 0xc1}, nil},
		{"ext 8 whose data is a map32 header", []byte{0xc7, 5, 0x30, 0xdf, 0xff, 0xff, 0xff, 0xff}, ErrExtData},
		{"fixext1 whose data is a map16 header", []byte{0xd4, 0x30, 0xde, 0x30, 0x30}, ErrExtData},
		{"fixext4 whose data is nil", []byte{0xd6, 5, 0xc0, 0xdf, 0xff, 0xff}, ErrExtData},
		{"fixext2 whose data is a fixmap", []byte{0xd5, 5, 0x81, 0xdd}, ErrExtData},
		{"a 96-bit timestamp whose data is a map header", []byte{0xc7, 12, 0xff, 0xdf, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0}, ErrExtData},
		{"a 64-bit timestamp whose data is a map header", []byte{0xd7, 0xff, 0xdf, 0xff, 0xff, 0xff, 0, 0, 0, 0}, nil},
		{"an ext with no data", []byte{0xc7, 0, 5}, nil},
		{"an ext whose data is a string", []byte{0xd4, 5, 0xa0}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Check(tc.in); !errors.Is(err, tc.want) {
				t.Errorf("Check = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestCheckAcceptsWhatMsgpackEncodes(t *testing.T) {
	big := make([]any, 1000)
	for i := range big {
		big[i] = map[string]any{"i": i, "s": string(rune('a' + i%26)), "f": float64(i) / 3, "b": []byte{byte(i)}}
	}
	for _, v := range []any{nil, true, -1, 1 << 40, -1 << 40, 3.5, float32(1.5), "", string(make([]byte, 70000)), make([]byte, 300), big, map[string]any{}} {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := Check(b); err != nil {
			t.Errorf("Check(%T of %d bytes) = %v", v, len(b), err)
		}
	}
}

func TestCheckAllocatesNothing(t *testing.T) {
	in, _ := msgpack.Marshal(map[string]any{"a": []any{1, "x", map[string]any{"b": nil}}})
	if n := testing.AllocsPerRun(100, func() { Check(in) }); n != 0 {
		t.Errorf("Check allocated %v times", n)
	}
}

type jsonTagged struct {
	Text  string `json:"text"`
	Count int    `json:"count,omitempty"`
	Own   string `msgpack:"own" json:"other"`
	Skip  string `json:"-"`
}

// A struct with only json tags reads and writes the names a JSON client
// uses; a msgpack tag still wins.
func TestJSONTagFallback(t *testing.T) {
	in, _ := msgpack.Marshal(map[string]any{"text": "hi", "count": 2, "own": "o", "Skip": "s"})
	var v jsonTagged
	if err := Unmarshal(in, &v); err != nil {
		t.Fatal(err)
	}
	if v != (jsonTagged{Text: "hi", Count: 2, Own: "o"}) {
		t.Errorf("decoded %+v", v)
	}
	out, err := Marshal(jsonTagged{Text: "hi", Own: "o", Skip: "s"})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := msgpack.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m["text"] != "hi" || m["own"] != "o" {
		t.Errorf("encoded %v", m)
	}
}

// allocBound is what decoding an accepted input of n bytes into an any
// may allocate: a small multiple of its size (an empty map, one byte
// in, is about 64 bytes decoded).
func allocBound(n int) uint64 { return 128*uint64(n) + 64<<10 }

// targets are the kinds of value a client's bytes get decoded into: the
// decoder reads some inputs differently for each (an ext where a map is
// expected, say).
var targets = []func() any{
	func() any { return new(any) },
	func() any { return new(map[string]any) },
	func() any { return new(map[string]msgpack.RawMessage) },
	func() any { return new(map[string]map[string]int) },
	func() any { return new([]map[string]any) },
	func() any { return new(map[any]any) },
	func() any {
		return new(struct {
			M map[string][]map[string]string `json:"m"`
			T time.Time                      `json:"t"`
		})
	},
}

// decodeAlloc returns the most bytes allocated while Unmarshal decodes in
// into one of the targets, and the error of the first.
func decodeAlloc(in []byte) (uint64, error) {
	var most uint64
	var first error
	for i, target := range targets {
		v := target()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := Unmarshal(in, v)
		runtime.ReadMemStats(&after)
		most = max(most, after.TotalAlloc-before.TotalAlloc)
		if i == 0 {
			first = err
		}
	}
	return most, first
}

// The shapes that cost a decoder most for their size stay within the
// bound.
func TestDecodeAllocationIsBounded(t *testing.T) {
	entries := func(head []byte, n int, entry func(i int) []byte) []byte {
		b := append([]byte(nil), head...)
		for i := range n {
			b = append(b, entry(i)...)
		}
		return b
	}
	n := 20000
	hdr := func(c byte, n int) []byte { return binary.BigEndian.AppendUint32([]byte{c}, uint32(n)) }
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"array of nils", entries(hdr(0xdd, n), n, func(int) []byte { return []byte{0xc0} })},
		{"array of empty arrays", entries(hdr(0xdd, n), n, func(int) []byte { return []byte{0x90} })},
		{"array of empty maps", entries(hdr(0xdd, n), n, func(int) []byte { return []byte{0x80} })},
		{"map of distinct keys", entries(hdr(0xdf, n), n, func(i int) []byte {
			return []byte{0xa3, byte('a' + i%26), byte('a' + i/26%26), byte('a' + i/676%26), 0xc0}
		})},
		{"array of one-byte strings", entries(hdr(0xdd, n), n, func(int) []byte { return []byte{0xa1, 'x'} })},
		{"array of fixext1", entries(hdr(0xdd, n), n, func(int) []byte { return []byte{0xd4, 1, 0} })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := decodeAlloc(tc.in)
			if got > allocBound(len(tc.in)) {
				t.Errorf("decoding %d bytes allocated %d, over %d", len(tc.in), got, allocBound(len(tc.in)))
			}
			t.Logf("%d bytes in, %d allocated (%.1f×)", len(tc.in), got, float64(got)/float64(len(tc.in)))
		})
	}
}

// Every timestamp decodes to the time it was, into a time.Time and into
// an any, whatever its form; the 32- and 64-bit forms whose data reads
// like a map are rewritten before the decoder sees them.
func TestTimestampsRoundTrip(t *testing.T) {
	for _, tm := range []time.Time{
		time.Unix(0, 0),
		time.Unix(1_700_000_000, 0),           // 32-bit, data starts 0x65
		time.Unix(0x8f00_0000, 0),             // 32-bit, data starts with a fixmap
		time.Unix(0xdf00_0000, 0),             // 32-bit, data starts like a map32
		time.Unix(1_700_000_000, 935_000_000), // 64-bit, data starts 0xde
		time.Unix(1_700_000_000, 540_000_000), // 64-bit, data starts with a fixmap
		time.Unix(1_700_000_000, 999_999_999), // 64-bit
		time.Unix(1<<40, 935_000_000),         // 96-bit
		time.Unix(-1, 935_000_000),            // 96-bit, before 1970
		time.Date(2026, 12, 4, 20, 0, 0, 936_123_000, time.UTC),
	} {
		in, err := msgpack.Marshal(tm)
		if err != nil {
			t.Fatal(err)
		}
		var got time.Time
		if err := Unmarshal(in, &got); err != nil || !got.Equal(tm) {
			t.Errorf("% x: decoded %v, %v; want %v", in, got, err, tm)
		}
		var v any
		if err := Unmarshal(in, &v); err != nil || !v.(time.Time).Equal(tm) {
			t.Errorf("% x into an any: decoded %v, %v; want %v", in, v, err, tm)
		}
		var m map[string]any
		if err := Unmarshal(in, &m); err == nil {
			t.Errorf("% x decoded into a map: %v", in, m)
		}
	}
}

// An ext where a map is expected costs no more than any other input:
// the decoder would skip its header and take its data for the map.
func TestExtAsMapIsBounded(t *testing.T) {
	for _, in := range [][]byte{
		{0xd4, 0x30, 0xde, 0x30, 0x30},
		{0xc7, 5, 0x30, 0xdf, 0xff, 0xff, 0xff, 0xff},
		{0xd7, 0xff, 0xdf, 0x00, 0xff, 0xff, 0, 0, 0, 0},
		{0xd7, 0xff, 0x81, 0xa0, 0xdf, 0xff, 0xff, 0xff, 0xff, 0},
		append([]byte{0xc7, 0, 5}, 0xdf, 0xff, 0xff, 0xff, 0xff),
	} {
		if got, _ := decodeAlloc(in); got > allocBound(len(in)) {
			t.Errorf("decoding % x allocated %d, over %d", in, got, allocBound(len(in)))
		}
	}
}

func FuzzCheck(f *testing.F) {
	f.Add([]byte{0xd4, 0x30, 0xde, 0x30, 0x30})
	f.Add([]byte{0xd7, 0xff, 0x81, 0xa0, 0xdf, 0xff, 0xff, 0xff, 0xff, 0})
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'a', 0xc0, 0xa1, 'b', 0xc0, 0xc0, 0xc0})
	f.Add(append(bytes.Repeat([]byte{0x91}, 40), 0xc0))
	f.Add([]byte{0x82, 0xa5, 'e', 'v', 'e', 'n', 't', 0xa1, 'x', 0xa3, 'r', 'e', 'f', 0x07})
	f.Add([]byte{0xdc, 0x00, 0x02, 0xd4, 1, 2, 0xc7, 1, 5, 9})
	f.Fuzz(func(t *testing.T, in []byte) {
		if got, _ := decodeAlloc(in); got > allocBound(len(in)) {
			t.Fatalf("decoding %d bytes allocated %d, over %d", len(in), got, allocBound(len(in)))
		}
	})
}

// BenchmarkUnmarshal compares a checked decode of an event envelope with
// vmihailenco's own, to show what Check costs.
func BenchmarkUnmarshal(b *testing.B) {
	in, _ := msgpack.Marshal(map[string]any{"event": "message", "room": "lobby", "ref": "12", "payload": map[string]any{"text": string(make([]byte, 200)), "tags": []any{"a", "b", 3}}})
	b.Run("checked", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			var m map[string]msgpack.RawMessage
			Unmarshal(in, &m)
		}
	})
	b.Run("unchecked", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			var m map[string]msgpack.RawMessage
			msgpack.Unmarshal(in, &m)
		}
	})
	b.Run("check-only", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			Check(in)
		}
	})
}
