package consumers

import (
	"runtime"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// FuzzEnvelope: any bytes, in either codec, decode to an event or an
// error, never a panic; a decoded event has a name, and a JSON payload
// decodes. Every error event built from the input (a bad envelope, a
// payload of the wrong type, a bad join, an unknown event) is a client
// error whose text shows nothing of the error behind it.
func FuzzEnvelope(f *testing.F) {
	mp, _ := msgpack.Marshal(map[string]any{"event": "join", "payload": map[string]any{"room": "r"}, "ref": 3})
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0xa5, 'e', 'v', 'e', 'n', 't', 0xa1, 'x'}, true)
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
		// Decoding the envelope and its payload allocates a small multiple
		// of the input's size, whatever lengths the input declares.
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if ev, err := decodeEnvelope(c, data, DefaultFields()); err == nil {
			var v any
			ev.Decode(&v) //nolint:errcheck // only its cost is looked at
		}
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > 128*uint64(len(data))+64<<10 {
			t.Fatalf("decoding %d bytes allocated %d", len(data), got)
		}
		for _, fields := range []Fields{DefaultFields(), ChannelDataFields()} {
			ev, err := decodeEnvelope(c, data, fields)
			if err != nil {
				checkErrorEvent(t, errEnvelope(err))
				continue
			}
			var typed struct {
				N    int               `json:"n" msgpack:"n"`
				Tags map[string]string `json:"tags" msgpack:"tags"`
			}
			if err := ev.Decode(&typed); err != nil {
				checkErrorEvent(t, err)
			}
			if _, err := (&EventConn{}).roomOf(ev); err != nil {
				checkErrorEvent(t, err)
			}
			checkErrorEvent(t, errUnknownEvent(ev.Name))
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

// checkErrorEvent fails if the error event for err is not a client error
// or its text shows the error behind it.
func checkErrorEvent(t *testing.T, err error) {
	t.Helper()
	code, msg, _ := errorEvent(err)
	if code == CodeInternal || msg == "" {
		t.Fatalf("%v: code %s, message %q", err, code, msg)
	}
	for _, leak := range []string{"consumers:", "channels:", "json:", "msgpack:", "Go value", "Go struct", "main.", "invalid character", "%!", "\"", "0x"} {
		if strings.Contains(msg, leak) {
			t.Fatalf("the error event for %v says %q", err, msg)
		}
	}
}
