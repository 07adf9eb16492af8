package wire

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPutHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n    int
		want []byte
	}{
		{0, []byte{0x81, 0}},
		{125, []byte{0x81, 125}},
		{126, []byte{0x81, 126, 0, 126}},
		{65535, []byte{0x81, 126, 0xff, 0xff}},
		{65536, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	}
	for _, tt := range tests {
		b := make([]byte, HeaderLen(tt.n))
		PutHeader(b, OpText, tt.n)
		if !bytes.Equal(b, tt.want) {
			t.Errorf("n=%d: % x, want % x", tt.n, b, tt.want)
		}
	}
}

// FuzzClosePayload: for any code and reason, the close payload fits a
// control frame (125 bytes), carries the code, keeps the reason's prefix
// cut at a rune boundary, and stays valid UTF-8 when the reason was.
func FuzzClosePayload(f *testing.F) {
	f.Add(uint16(1000), "")
	f.Add(uint16(4001), "slow consumer")
	f.Add(uint16(1005), "ignored")
	f.Add(uint16(1001), strings.Repeat("é", 100))
	f.Add(uint16(3000), strings.Repeat("x", 200))
	f.Fuzz(func(t *testing.T, code uint16, reason string) {
		p := ClosePayload(code, reason)
		if code == statusNoStatusReceived {
			if len(p) != 0 {
				t.Fatalf("1005 must give an empty payload, got %d bytes", len(p))
			}
			return
		}
		if len(p) < 2 || len(p) > 125 {
			t.Fatalf("payload of %d bytes", len(p))
		}
		if got := binary.BigEndian.Uint16(p); got != code {
			t.Fatalf("code %d, want %d", got, code)
		}
		r := string(p[2:])
		if !utf8.ValidString(r) {
			t.Fatalf("reason %q is not UTF-8", r)
		}
		if !utf8.ValidString(reason) {
			return
		}
		if !strings.HasPrefix(reason, r) {
			t.Fatalf("reason %q is not a prefix of %q", r, reason)
		}
		if len(reason) <= MaxCloseReason && r != reason {
			t.Fatalf("short reason changed: %q -> %q", reason, r)
		}
		if len(reason) > MaxCloseReason && MaxCloseReason-len(r) >= utf8.UTFMax {
			t.Fatalf("reason cut to %d bytes, too short", len(r))
		}
	})
}

// CloseFrameOf knows gorilla's own close frames, and nothing else: not a
// data frame, not a masked frame, not a piece of a longer write.
func TestCloseFrameOf(t *testing.T) {
	t.Parallel()
	gorillas := gwsCloseFrame(1002, "bad opcode")
	if ce, ok := CloseFrameOf(gorillas); !ok || ce.Code != 1002 || ce.Reason != "bad opcode" {
		t.Fatalf("gorilla's close frame: %+v, %v", ce, ok)
	}
	for name, p := range map[string][]byte{
		"text frame":        FrameBytes(OpText, []byte("\x03\xe9hi")),
		"no code":           {0x88, 0x00},
		"masked":            {0x88, 0x82, 0x03, 0xea},
		"longer than said":  append(gwsCloseFrame(1000, "x"), 'y'),
		"shorter than said": gorillas[:len(gorillas)-1],
		"reserved bit":      append([]byte{0xc8}, gorillas[1:]...),
	} {
		if ce, ok := CloseFrameOf(p); ok {
			t.Errorf("%s taken for a close frame: %+v", name, ce)
		}
	}
}

func gwsCloseFrame(code uint16, reason string) []byte {
	p := binary.BigEndian.AppendUint16(nil, code)
	return FrameBytes(OpClose, append(p, reason...))
}

// FuzzCloseFrameOf: whatever gorilla writes, CloseFrameOf answers without
// panicking, and what it takes for a close frame is one.
func FuzzCloseFrameOf(f *testing.F) {
	f.Add(gwsCloseFrame(1002, "bad opcode"))
	f.Add([]byte{0x88, 0x7d})
	f.Add([]byte{0x81, 0x02, 0x03, 0xe8})
	f.Fuzz(func(t *testing.T, p []byte) {
		ce, ok := CloseFrameOf(p)
		if !ok {
			return
		}
		if p[0] != 0x88 || len(p) != 2+int(p[1]) || len(ce.Reason) != len(p)-4 {
			t.Fatalf("%x taken for a close frame: %+v", p, ce)
		}
	})
}
