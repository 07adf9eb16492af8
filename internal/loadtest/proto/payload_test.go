package proto_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/internal/loadtest/proto"
)

func TestEncodeDecode(t *testing.T) {
	t.Parallel()
	at := time.Unix(1700000000, 123456789)
	tests := []struct {
		name string
		seq  uint64
		sent time.Time
		size int
		want string // the header, then the padding length
		pad  int
	}{
		{"smallest", 1, at, 32, "0000000000000001" + "17979cfe3d85cd15", 0},
		{"below smallest", 2, at, 0, "0000000000000002" + "17979cfe3d85cd15", 0},
		{"1KiB", 0xdeadbeef, at, 1024, "00000000deadbeef" + "17979cfe3d85cd15", 1024 - 32},
		{"padding over chunks", ^uint64(0), time.Unix(0, 0), 200, "ffffffffffffffff" + "0000000000000000", 168},
		{"before 1970", 7, time.Unix(-1, 0), 40, "0000000000000007" + "ffffffffc4653600", 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			prefix := []byte("keep")
			b := proto.Encode(prefix, tt.seq, tt.sent, tt.size)
			if !bytes.HasPrefix(b, prefix) {
				t.Fatalf("Encode dropped dst: %q", b)
			}
			b = b[len(prefix):]
			if want := tt.want + strings.Repeat("x", tt.pad); string(b) != want {
				t.Fatalf("Encode = %q, want %q", b, want)
			}
			for _, in := range [][]byte{b, b[:proto.HeaderSize]} {
				seq, sent, err := proto.Decode(in)
				if err != nil {
					t.Fatalf("Decode(%q): %v", in, err)
				}
				if seq != tt.seq || !sent.Equal(tt.sent) {
					t.Fatalf("Decode = %d, %v; want %d, %v", seq, sent, tt.seq, tt.sent)
				}
			}
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	t.Parallel()
	good := "00000000000000010000000000000002"
	tests := []struct {
		name, in, msg string
	}{
		{"empty", "", "0 bytes"},
		{"short", good[:31], "31 bytes"},
		{"upper case", "000000000000000A0000000000000002", "sequence number"},
		{"space", good[:16] + " 000000000000002", "send time"},
		{"0x", "0x00000000000001" + good[16:], "sequence number"},
		{"non-ASCII", good[:16] + "é00000000000000", "send time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := proto.Decode([]byte(tt.in))
			if !errors.Is(err, proto.ErrMalformed) {
				t.Fatalf("Decode(%q) = %v, want ErrMalformed", tt.in, err)
			}
			if !strings.Contains(err.Error(), tt.msg) || !strings.HasPrefix(err.Error(), "proto: ") {
				t.Fatalf("Decode(%q) = %q, want a proto: error mentioning %q", tt.in, err, tt.msg)
			}
		})
	}
}

// FuzzDecode checks that Decode never panics, and that whatever it accepts
// is a header Encode would write for the same values.
func FuzzDecode(f *testing.F) {
	f.Add(proto.Encode(nil, 1, time.Unix(1700000000, 1), 64))
	f.Add([]byte("00000000000000010000000000000002"))
	f.Add([]byte("0000000000000001000000000000000"))
	f.Add([]byte("ffffffffffffffffFFFFFFFFFFFFFFFF"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, sent, err := proto.Decode(b)
		if err != nil {
			if !errors.Is(err, proto.ErrMalformed) {
				t.Fatalf("Decode error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if got := proto.Encode(nil, seq, sent, 0); !bytes.Equal(got, b[:proto.HeaderSize]) {
			t.Fatalf("Decode(%q) = %d, %v, which encodes as %q", b, seq, sent, got)
		}
	})
}
