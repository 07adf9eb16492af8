package safemsgpack

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"

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

// decodeAlloc returns the bytes allocated while Unmarshal decodes in.
func decodeAlloc(in []byte) (uint64, error) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var v any
	err := Unmarshal(in, &v)
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, err
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

func FuzzCheck(f *testing.F) {
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'a', 0xc0, 0xa1, 'b', 0xc0, 0xc0, 0xc0})
	f.Add(append(bytes.Repeat([]byte{0x91}, 40), 0xc0))
	f.Add([]byte{0x82, 0xa5, 'e', 'v', 'e', 'n', 't', 0xa1, 'x', 0xa3, 'r', 'e', 'f', 0x07})
	f.Add([]byte{0xdc, 0x00, 0x02, 0xd4, 1, 2, 0xc7, 1, 5, 9})
	f.Fuzz(func(t *testing.T, in []byte) {
		if Check(in) != nil {
			return
		}
		if got, _ := decodeAlloc(in); got > allocBound(len(in)) {
			t.Fatalf("decoding %d accepted bytes allocated %d, over %d", len(in), got, allocBound(len(in)))
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
