package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/switchboard-go/switchboard/internal/safemsgpack"
)

// Codec is the envelope encoding a client speaks: the subprotocol it
// offers.
type Codec uint8

const (
	// JSON envelopes in text frames (subprotocol switchboard.v1.json).
	JSON Codec = iota
	// Msgpack envelopes in binary frames (switchboard.v1.msgpack).
	Msgpack
)

// Subprotocol names, as docs/PROTOCOL.md gives them.
const (
	subprotocolJSON    = "switchboard.v1.json"
	subprotocolMsgpack = "switchboard.v1.msgpack"
)

func (c Codec) subprotocol() string {
	if c == Msgpack {
		return subprotocolMsgpack
	}
	return subprotocolJSON
}

func (c Codec) String() string {
	if c == Msgpack {
		return "msgpack"
	}
	return "json"
}

// Event is one envelope from the server.
type Event struct {
	// Name is the event's name.
	Name string
	// Ref is the reference of the client's event this one answers, if
	// any.
	Ref string
	// Room, Offset and Epoch are set on a message of a room's history:
	// its room, and its place in that room's current epoch.
	Room   string
	Offset uint64
	Epoch  string
	// Payload is the raw payload, in the connection's codec; see Decode.
	Payload []byte
	codec   Codec
}

// Decode decodes the payload into v.
func (e *Event) Decode(v any) error {
	var err error
	if e.codec == Msgpack {
		err = safemsgpack.Unmarshal(e.Payload, v)
	} else {
		err = json.Unmarshal(e.Payload, v)
	}
	if err != nil {
		return fmt.Errorf("client: payload of %q: %w", e.Name, err)
	}
	return nil
}

// maxFields bounds the fields of an envelope the client looks at.
const maxFields = 64

var errNoName = errors.New("client: envelope without an event name")

// decodeEvent parses one envelope from the server.
func decodeEvent(c Codec, data []byte) (*Event, error) {
	ev := &Event{codec: c}
	if c == Msgpack {
		var m map[string]msgpack.RawMessage
		if err := safemsgpack.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("client: envelope: %w", err)
		}
		if len(m) > maxFields {
			return nil, errors.New("client: envelope has too many fields")
		}
		var ref any
		for _, f := range []struct {
			name string
			dst  any
		}{{"event", &ev.Name}, {"ref", &ref}, {"room", &ev.Room}, {"offset", &ev.Offset}, {"epoch", &ev.Epoch}} {
			if raw, ok := m[f.name]; ok {
				if err := safemsgpack.Unmarshal(raw, f.dst); err != nil {
					return nil, fmt.Errorf("client: envelope field %q: %w", f.name, err)
				}
			}
		}
		ev.Ref = refString(ref)
		ev.Payload = m["payload"]
		if ev.Payload == nil {
			ev.Payload = []byte{0xc0} // nil
		}
	} else {
		var env struct {
			Event   string          `json:"event"`
			Payload json.RawMessage `json:"payload"`
			Ref     any             `json:"ref"`
			Room    string          `json:"room"`
			Offset  uint64          `json:"offset"`
			Epoch   string          `json:"epoch"`
		}
		d := json.NewDecoder(bytes.NewReader(data))
		d.UseNumber()
		if err := d.Decode(&env); err != nil {
			return nil, fmt.Errorf("client: envelope: %w", err)
		}
		ev.Name, ev.Ref, ev.Room, ev.Offset, ev.Epoch = env.Event, refString(env.Ref), env.Room, env.Offset, env.Epoch
		ev.Payload = env.Payload
		if ev.Payload == nil {
			ev.Payload = []byte("null")
		}
	}
	if ev.Name == "" {
		return nil, errNoName
	}
	return ev, nil
}

// refString renders a ref given as a string or a number.
func refString(v any) string {
	switch r := v.(type) {
	case string:
		return r
	case json.Number:
		return r.String()
	case int8, int16, int32, int64, uint8, uint16, uint32, uint64:
		return fmt.Sprint(r)
	case float32:
		return strconv.FormatFloat(float64(r), 'g', -1, 32)
	case float64:
		return strconv.FormatFloat(r, 'g', -1, 64)
	}
	return ""
}

// out is an envelope the client sends.
type out struct {
	Event   string `json:"event" msgpack:"event"`
	Payload any    `json:"payload" msgpack:"payload"`
	Ref     string `json:"ref,omitempty" msgpack:"ref,omitempty"`
	Room    string `json:"room,omitempty" msgpack:"room,omitempty"`
}

// encode renders an envelope in the codec.
func (c Codec) encode(e out) ([]byte, error) {
	if c == Msgpack {
		return safemsgpack.Marshal(e)
	}
	return json.Marshal(e)
}
