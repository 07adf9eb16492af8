package wire

import (
	"bytes"
	"testing"
)

// maskedFrame builds a masked client frame with the given first byte.
func maskedFrame(b0 byte, key [4]byte, payload []byte) []byte {
	f := []byte{b0, 0x80 | byte(len(payload))}
	f = append(f, key[:]...)
	for i, c := range payload {
		f = append(f, c^key[i%4])
	}
	return f
}

func TestControlFrame(t *testing.T) {
	key := [4]byte{9, 8, 7, 6}
	ping := maskedFrame(0x80|OpPing, key, []byte("are you there"))
	tests := []struct {
		name     string
		b        []byte
		op       byte
		size     int
		ok, head bool
	}{
		{"empty pong", maskedFrame(0x80|OpPong, key, nil), OpPong, 6, true, true},
		{"ping with payload", ping, OpPing, len(ping), true, true},
		{"ping and what follows", append(append([]byte{}, ping...), 0x81, 0x80), OpPing, len(ping), true, true},
		{"ping cut short", ping[:10], 0, 0, false, true},
		{"header only", ping[:2], 0, 0, false, true},
		{"one byte", ping[:1], 0, 0, false, false},
		{"nothing", nil, 0, 0, false, false},
		{"text", maskedFrame(0x80|OpText, key, []byte("hi")), 0, 0, false, false},
		{"close", maskedFrame(0x80|OpClose, key, []byte{3, 232}), 0, 0, false, false},
		{"ping not final", maskedFrame(OpPing, key, nil), 0, 0, false, false},
		{"ping with RSV1", maskedFrame(0xC0|OpPing, key, nil), 0, 0, false, false},
		{"unmasked pong", []byte{0x80 | OpPong, 0}, 0, 0, false, false},
		{"ping with 16-bit length", []byte{0x80 | OpPing, 0x80 | 126, 0, 10}, 0, 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, size, ok := controlFrame(tt.b)
			if op != tt.op || size != tt.size || ok != tt.ok {
				t.Errorf("controlFrame = %#x, %d, %v; want %#x, %d, %v", op, size, ok, tt.op, tt.size, tt.ok)
			}
			if head := isControlHead(tt.b); head != tt.head {
				t.Errorf("isControlHead = %v, want %v", head, tt.head)
			}
		})
	}
	if p := controlPayload(append([]byte{}, ping...)); string(p) != "are you there" {
		t.Errorf("controlPayload = %q", p)
	}
}

// FuzzControlFrame checks the control-frame parser against building the
// frame back from what it reports: a frame it accepts is exactly a final,
// masked ping or pong of the length it says, and nothing else is accepted.
func FuzzControlFrame(f *testing.F) {
	f.Add(maskedFrame(0x80|OpPong, [4]byte{}, nil))
	f.Add(maskedFrame(0x80|OpPing, [4]byte{1, 2, 3, 4}, []byte("hello")))
	f.Add(maskedFrame(0x80|OpText, [4]byte{1, 2, 3, 4}, []byte("hello")))
	f.Add([]byte{0x8A, 0xFD})
	f.Fuzz(func(t *testing.T, b []byte) {
		op, size, ok := controlFrame(b)
		if !ok {
			if op != 0 || size != 0 {
				t.Fatalf("rejected with %#x, %d", op, size)
			}
			// A whole ping or pong is never rejected.
			if len(b) >= 2 && (b[0] == 0x89 || b[0] == 0x8A) && b[1]&0x80 != 0 && b[1]&0x7f <= 125 && len(b) >= 6+int(b[1]&0x7f) {
				t.Fatalf("rejected a whole control frame % x", b)
			}
			return
		}
		if !isControlHead(b) {
			t.Fatal("accepted without a control head")
		}
		if size > len(b) || size > maxControlFrame {
			t.Fatalf("size %d of %d bytes", size, len(b))
		}
		f := append([]byte{}, b[:size]...)
		payload := controlPayload(f)
		var key [4]byte
		copy(key[:], b[2:6])
		if want := maskedFrame(0x80|op, key, payload); !bytes.Equal(want, b[:size]) {
			t.Fatalf("frame % x does not rebuild: % x", b[:size], want)
		}
	})
}
