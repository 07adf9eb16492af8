package websocket

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
		b := make([]byte, headerLen(tt.n))
		putHeader(b, opText, tt.n)
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
		p := closePayload(StatusCode(code), reason)
		if StatusCode(code) == StatusNoStatusReceived {
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
		if len(reason) <= maxCloseReason && r != reason {
			t.Fatalf("short reason changed: %q -> %q", reason, r)
		}
		if len(reason) > maxCloseReason && maxCloseReason-len(r) >= utf8.UTFMax {
			t.Fatalf("reason cut to %d bytes, too short", len(r))
		}
	})
}
