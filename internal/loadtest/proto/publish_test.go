package proto_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/internal/loadtest/proto"
)

func TestSplitPublish(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("r", proto.MaxRoom)
	tests := []struct {
		name          string
		msg           string
		room, payload string
		err           bool
	}{
		{"room and payload", "fan hello", "fan", "hello", false},
		{"empty payload", "fan ", "fan", "", false},
		{"payload with spaces", "u1 a b c", "u1", "a b c", false},
		{"longest room", long + " x", long, "x", false},
		{"room too long", long + "r x", "", "", true},
		{"no space", "fan", "", "", true},
		{"no space, long", strings.Repeat("r", 1000), "", "", true},
		{"empty room", " hello", "", "", true},
		{"empty", "", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			room, payload, err := proto.SplitPublish([]byte(tt.msg))
			if tt.err {
				if !errors.Is(err, proto.ErrNoRoom) {
					t.Fatalf("SplitPublish(%.20q) = %q, %q, %v; want ErrNoRoom", tt.msg, room, payload, err)
				}
				return
			}
			if err != nil || string(room) != tt.room || string(payload) != tt.payload {
				t.Fatalf("SplitPublish(%.20q) = %q, %q, %v; want %q, %q", tt.msg, room, payload, err, tt.room, tt.payload)
			}
			sroom, spayload, err := proto.SplitPublish(tt.msg)
			if err != nil || sroom != tt.room || spayload != tt.payload {
				t.Fatalf("SplitPublish(string %.20q) = %q, %q, %v; want %q, %q", tt.msg, sroom, spayload, err, tt.room, tt.payload)
			}
		})
	}
}

func TestAppendRoomThenEncodeSplits(t *testing.T) {
	t.Parallel()
	at := time.Unix(1700000000, 0)
	msg := proto.Encode(proto.AppendRoom(nil, "g12"), 42, at, 64)
	room, payload, err := proto.SplitPublish(msg)
	if err != nil || string(room) != "g12" {
		t.Fatalf("SplitPublish = %q, %v", room, err)
	}
	if want := proto.Encode(nil, 42, at, 64); !bytes.Equal(payload, want) {
		t.Fatalf("payload %q, want %q", payload, want)
	}
}

func FuzzSplitPublish(f *testing.F) {
	f.Add([]byte("fan hello"))
	f.Add([]byte(" x"))
	f.Add([]byte(strings.Repeat("r", proto.MaxRoom+1) + " x"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		room, payload, err := proto.SplitPublish(msg)
		if err != nil {
			if !errors.Is(err, proto.ErrNoRoom) {
				t.Fatalf("error %v does not wrap ErrNoRoom", err)
			}
			return
		}
		if len(room) == 0 || len(room) > proto.MaxRoom || bytes.IndexByte(room, ' ') >= 0 {
			t.Fatalf("room %q", room)
		}
		if got := string(room) + " " + string(payload); got != string(msg) {
			t.Fatalf("room %q and payload %q do not make %q", room, payload, msg)
		}
	})
}
