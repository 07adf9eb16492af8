package consumers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/internal/safemsgpack"
)

// Fields names the fields of the event envelope.
type Fields struct {
	Event, Payload, Ref, Room, Offset string
	// Epoch shows a room message's epoch next to its offset: offsets
	// compare only within one epoch. Empty leaves it out.
	Epoch string
}

// DefaultFields is the envelope {"event", "payload", "ref", "room",
// "offset", "epoch"}.
func DefaultFields() Fields {
	return Fields{Event: "event", Payload: "payload", Ref: "ref", Room: "room", Offset: "offset", Epoch: "epoch"}
}

// ChannelDataFields is the envelope {"channel": ..., "data": ...} that some
// clients speak.
func ChannelDataFields() Fields {
	return Fields{Event: "channel", Payload: "data", Ref: "ref", Room: "room", Offset: "offset", Epoch: "epoch"}
}

// Subprotocols of the event consumer: msgpack envelopes in binary frames,
// or JSON envelopes in text frames (also without a subprotocol).
const (
	SubprotocolJSON    = "switchboard.v1.json"
	SubprotocolMsgpack = "switchboard.v1.msgpack"
)

// codec is an envelope encoding.
type codec uint8

const (
	codecJSON codec = iota
	codecMsgpack
)

// Event is one envelope received from a client.
type Event struct {
	Name string
	// Room is the envelope's room, for events aimed at one.
	Room string
	// Ref is the client's reference; replies carry it back.
	Ref string
	// Payload is the raw payload in the connection's codec (JSON or
	// msgpack); see Decode.
	Payload []byte
	codec   codec
}

// Decode decodes the payload into v.
func (e *Event) Decode(v any) error {
	var err error
	if e.codec == codecMsgpack {
		err = safemsgpack.Unmarshal(e.Payload, v)
	} else {
		err = json.Unmarshal(e.Payload, v)
	}
	if err != nil {
		return &ClientError{Code: CodeBadRequest, Message: "invalid payload", Err: fmt.Errorf("consumers: payload of %q: %w", e.Name, err)}
	}
	return nil
}

var errNoEvent = errors.New("consumers: envelope without an event name")

// maxEnvelopeFields bounds the fields of an envelope we look at.
const maxEnvelopeFields = 64

// decodeEnvelope parses one envelope. The event name must be a non-empty
// string; ref may be a string or a number; room a string; payload anything
// (absent means null).
func decodeEnvelope(c codec, data []byte, f Fields) (*Event, error) {
	ev := &Event{codec: c}
	if c == codecMsgpack {
		var m map[string]msgpack.RawMessage
		if err := safemsgpack.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("consumers: envelope: %w", err)
		}
		if len(m) > maxEnvelopeFields {
			return nil, errors.New("consumers: envelope has too many fields")
		}
		if err := msgpackString(m[f.Event], &ev.Name); err != nil || ev.Name == "" {
			return nil, errNoEvent
		}
		if raw, ok := m[f.Ref]; ok {
			var v any
			if err := safemsgpack.Unmarshal(raw, &v); err != nil {
				return nil, fmt.Errorf("consumers: envelope ref: %w", err)
			}
			ev.Ref = refString(v)
		}
		if err := msgpackString(m[f.Room], &ev.Room); err != nil {
			return nil, fmt.Errorf("consumers: envelope room: %w", err)
		}
		ev.Payload = m[f.Payload]
		if ev.Payload == nil {
			ev.Payload = []byte{0xc0} // nil
		}
		return ev, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("consumers: envelope: %w", err)
	}
	if len(m) > maxEnvelopeFields {
		return nil, errors.New("consumers: envelope has too many fields")
	}
	if err := json.Unmarshal(m[f.Event], &ev.Name); m[f.Event] == nil || err != nil || ev.Name == "" {
		return nil, errNoEvent
	}
	if raw, ok := m[f.Ref]; ok {
		var v any
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			return nil, fmt.Errorf("consumers: envelope ref: %w", err)
		}
		ev.Ref = refString(v)
	}
	if raw, ok := m[f.Room]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &ev.Room); err != nil {
			return nil, fmt.Errorf("consumers: envelope room: %w", err)
		}
	}
	ev.Payload = m[f.Payload]
	if ev.Payload == nil {
		ev.Payload = []byte("null")
	}
	return ev, nil
}

func msgpackString(raw msgpack.RawMessage, dst *string) error {
	if raw == nil {
		return nil
	}
	var v any
	if err := safemsgpack.Unmarshal(raw, &v); err != nil {
		return err
	}
	switch s := v.(type) {
	case nil:
		return nil
	case string:
		*dst = s
		return nil
	}
	return errors.New("not a string")
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

// envelope is an outgoing event. It encodes as a map with the configured
// field names, in JSON and msgpack alike; as a channels.Positioned value it
// shows its offset and epoch when it was saved in a room's history.
type envelope struct {
	f       Fields
	event   string
	payload any
	ref     string
	room    string
	offset  uint64
	epoch   string
}

func (e envelope) fields() map[string]any {
	m := map[string]any{e.f.Event: e.event, e.f.Payload: e.payload}
	if e.ref != "" {
		m[e.f.Ref] = e.ref
	}
	if e.room != "" {
		m[e.f.Room] = e.room
	}
	if e.offset != 0 {
		m[e.f.Offset] = e.offset
		if e.f.Epoch != "" {
			m[e.f.Epoch] = e.epoch
		}
	}
	return m
}

func (e envelope) MarshalJSON() ([]byte, error) { return json.Marshal(e.fields()) }

func (e envelope) EncodeMsgpack(enc *msgpack.Encoder) error { return enc.Encode(e.fields()) }

// OffsetField names the envelope field that At sets.
func (e envelope) OffsetField() string { return e.f.Offset }

// EpochField names the envelope field that At sets to the epoch.
func (e envelope) EpochField() string { return e.f.Epoch }

// At shows the envelope with the position it got in the room's history.
func (e envelope) At(p channels.Position) any {
	e.offset, e.epoch = p.Offset, p.Epoch
	return e
}
