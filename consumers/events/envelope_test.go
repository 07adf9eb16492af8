package events

import (
	"strings"
	"testing"

	"github.com/switchboard-go/switchboard/consumers/protocol"
)

// FuzzEnvelope: every error event built from a client's frame (a bad
// envelope, a payload of the wrong type, a bad join, an unknown event) is
// a client error whose text shows nothing of the error behind it.
// (FuzzDecode in package protocol checks the decoding itself: no panic,
// bounded allocation, a round trip.)
func FuzzEnvelope(f *testing.F) {
	f.Add([]byte(`{"event":"join","payload":{"room":["r1"]},"ref":"1"}`), false)
	f.Add([]byte(`{"channel":"x","data":{"n":"1"}}`), false)
	f.Add([]byte(`{"event":"main.x","payload":{"tags":[1]}}`), false)
	f.Add([]byte{0x81, 0xa5, 'e', 'v', 'e', 'n', 't', 0xa4, 'j', 'o', 'i', 'n'}, true)
	f.Fuzz(func(t *testing.T, data []byte, useMsgpack bool) {
		c := protocol.JSON
		if useMsgpack {
			c = protocol.Msgpack
		}
		for _, fields := range []protocol.Fields{protocol.DefaultFields(), protocol.ChannelDataFields()} {
			ev, err := decodeEvent(c, data, fields)
			if err != nil {
				checkErrorEvent(t, errEnvelope(err), "")
				continue
			}
			var typed struct {
				N    int               `json:"n" msgpack:"n"`
				Tags map[string]string `json:"tags" msgpack:"tags"`
			}
			// A payload error names the event (a name the application
			// chose, when it reaches a handler), and nothing else.
			if err := ev.Decode(&typed); err != nil {
				checkErrorEvent(t, err, ev.Name)
			}
			if _, err := (&EventConn{}).roomOf(ev); err != nil {
				checkErrorEvent(t, err, ev.Name)
			}
			checkErrorEvent(t, errUnknownEvent(ev.Name), "")
		}
	})
}

// checkErrorEvent fails if the error event for err is not a client error
// or its text, less the event name it may show, shows the error behind
// it.
func checkErrorEvent(t *testing.T, err error, name string) {
	t.Helper()
	code, msg, _ := errorEvent(err)
	if code == protocol.CodeInternal || msg == "" {
		t.Fatalf("%v: code %s, message %q", err, code, msg)
	}
	if name != "" {
		if rest, ok := strings.CutSuffix(msg, " for "+name); ok {
			msg = rest
		}
	}
	for _, leak := range []string{"consumers:", "events:", "protocol:", "channels:", "json:", "msgpack:", "Go value", "Go struct", "main.", "invalid character", "%!", "\"", "0x"} {
		if strings.Contains(msg, leak) {
			t.Fatalf("the error event for %v says %q", err, msg)
		}
	}
}
