package events

import (
	"bytes"
	"testing"

	"github.com/switchboard-go/switchboard/consumers/protocol"
)

// An outcome reads back as it was kept, in either codec.
func TestOutcomeRoundTrip(t *testing.T) {
	f := protocol.DefaultFields()
	for _, codec := range []protocol.Codec{protocol.JSON, protocol.Msgpack} {
		frames := []protocol.Envelope{
			{Event: "counted", Payload: map[string]any{"n": 1}, Ref: "7"},
			{Event: protocol.EventError, Payload: protocol.ErrorPayload{Code: protocol.CodeInternal, Error: "internal error"}, Ref: "7"},
		}
		got, err := decodeOutcome(f, encodeOutcome(codec, f, frames))
		if err != nil || len(got) != 2 || got[0].Event != "counted" || got[1].Event != protocol.EventError || got[0].Ref != "7" {
			t.Fatalf("%v: %+v, %v", codec, got, err)
		}
	}
	big := []protocol.Envelope{{Event: "big", Payload: string(bytes.Repeat([]byte("x"), maxOutcomeBytes)), Ref: "1"}}
	got, err := decodeOutcome(f, encodeOutcome(protocol.JSON, f, big))
	if err != nil || len(got) != 1 || got[0].Event != protocol.EventError {
		t.Fatalf("an outcome over the bound: %+v, %v", got, err)
	}
}

// FuzzDecodeOutcome: whatever a store gives back, reading it returns
// frames or an error, never a panic, and allocates in proportion to it.
func FuzzDecodeOutcome(f *testing.F) {
	fields := protocol.DefaultFields()
	f.Add(encodeOutcome(protocol.JSON, fields, []protocol.Envelope{{Event: "e", Payload: 1, Ref: "1"}}))
	f.Add(encodeOutcome(protocol.Msgpack, fields, []protocol.Envelope{{Event: "e", Payload: []any{1, "x"}, Ref: "1"}}))
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{1, 3, 0xdf, 0xff, 0xff})
	f.Add([]byte{7})
	f.Fuzz(func(t *testing.T, data []byte) {
		frames, err := decodeOutcome(fields, data)
		if err != nil {
			return
		}
		for _, fr := range frames {
			if fr.Event == "" {
				t.Fatal("a frame without an event name")
			}
		}
	})
}
