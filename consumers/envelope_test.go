package consumers

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// FuzzEnvelope: any bytes, in either codec, decode to an event or an
// error, never a panic; a decoded event has a name, and a JSON payload
// decodes.
func FuzzEnvelope(f *testing.F) {
	mp, _ := msgpack.Marshal(map[string]any{"event": "join", "payload": map[string]any{"room": "r"}, "ref": 3})
	for _, s := range []string{
		`{"event":"join","payload":{"room":"r1","since":{"epoch":"e","offset":41}},"ref":"1"}`,
		`{"event":"message","room":"r1","payload":{"text":"hi"},"ref":2}`,
		`{"channel":"x","data":null}`, `{"event":""}`, `[]`, `{"event":1}`, `{"event":"e","ref":{"a":1}}`,
	} {
		f.Add([]byte(s), false)
	}
	f.Add(mp, true)
	f.Fuzz(func(t *testing.T, data []byte, useMsgpack bool) {
		c := codecJSON
		if useMsgpack {
			c = codecMsgpack
		}
		for _, fields := range []Fields{DefaultFields(), ChannelDataFields()} {
			ev, err := decodeEnvelope(c, data, fields)
			if err != nil {
				continue
			}
			if ev.Name == "" {
				t.Fatal("decoded an event without a name")
			}
			var v any
			err = ev.Decode(&v)
			// Valid JSON always decodes into an any; msgpack may not (a map
			// with integer keys, say), which is the handler's error to report.
			if err != nil && !useMsgpack {
				t.Fatalf("payload %q of a decoded envelope does not decode: %v", ev.Payload, err)
			}
		}
	})
}
