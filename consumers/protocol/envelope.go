package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/switchboard-go/switchboard/internal/safemsgpack"
)

// MaxFields bounds the fields of an envelope that Decode accepts.
const MaxFields = 64

// Envelope is one event on the wire, either way. It encodes as a map with
// the names of its Fields (DefaultFields when zero), in JSON and msgpack
// alike, leaving out an empty Ref and Room and a zero Offset (and the
// epoch with it); the payload is always there (null when nil).
type Envelope struct {
	// Fields names the envelope's fields. Defaults to DefaultFields().
	Fields Fields
	// Event is the event's name; never empty in a decoded envelope.
	Event string
	// Payload is the event's value. Decode sets it to a RawPayload.
	Payload any
	// Ref is the client's reference for an event; replies carry it back.
	Ref string
	// Room is the room a client's event is aimed at, or the room a
	// server's event comes from.
	Room string
	// Offset and Epoch are a room message's position in the room's
	// history; zero for a message that was not saved.
	Offset uint64
	Epoch  string
}

func (e Envelope) fields() map[string]any {
	f := e.Fields.orDefault()
	m := map[string]any{f.Event: e.Event, f.Payload: e.Payload}
	if e.Ref != "" {
		m[f.Ref] = e.Ref
	}
	if e.Room != "" {
		m[f.Room] = e.Room
	}
	if e.Offset != 0 {
		m[f.Offset] = e.Offset
		if f.Epoch != "" {
			m[f.Epoch] = e.Epoch
		}
	}
	return m
}

// MarshalJSON encodes the envelope as a JSON object.
func (e Envelope) MarshalJSON() ([]byte, error) { return json.Marshal(e.fields()) }

// EncodeMsgpack encodes the envelope as a msgpack map.
func (e Envelope) EncodeMsgpack(enc *msgpack.Encoder) error { return enc.Encode(e.fields()) }

// Encode returns the frame of e in codec c.
func Encode(c Codec, e Envelope) ([]byte, error) {
	if c == Msgpack {
		return msgpack.Marshal(e)
	}
	return json.Marshal(e)
}

// RawPayload is a payload as received, in the codec of its envelope.
// Encoding it again in the same codec writes the same bytes.
type RawPayload struct {
	Codec Codec
	Data  []byte
}

// Decode decodes the payload into v (msgpack with the safety checks of
// the other decoders here; JSON with encoding/json). Its error names the
// decoder's complaint, which is for logs, not for clients.
func (p RawPayload) Decode(v any) error {
	var err error
	if p.Codec == Msgpack {
		err = safemsgpack.Unmarshal(p.Data, v)
	} else {
		err = json.Unmarshal(p.Data, v)
	}
	if err != nil {
		return fmt.Errorf("protocol: payload: %w", err)
	}
	return nil
}

// MarshalJSON writes a JSON payload as it came, and a msgpack one as the
// JSON of its value.
func (p RawPayload) MarshalJSON() ([]byte, error) {
	if p.Codec == JSON {
		return p.Data, nil
	}
	var v any
	if err := p.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// EncodeMsgpack writes a msgpack payload as it came, and a JSON one as the
// msgpack of its value.
func (p RawPayload) EncodeMsgpack(enc *msgpack.Encoder) error {
	if p.Codec == Msgpack {
		return enc.Encode(msgpack.RawMessage(p.Data))
	}
	var v any
	if err := p.Decode(&v); err != nil {
		return err
	}
	return enc.Encode(v)
}

// Decode parses one frame in codec c with the field names f (zero for
// DefaultFields). The event name must be a non-empty string (ErrNoEvent
// otherwise); the ref may be a string or a number, which Ref shows in
// its shortest decimal form; room and epoch are strings and offset a
// non-negative integer, each absent or null for none (an epoch without an
// offset is no position, and is dropped). The payload, absent
// meaning null, is a RawPayload left undecoded. An envelope with more
// than MaxFields fields is refused (ErrTooManyFields).
func Decode(c Codec, data []byte, f Fields) (Envelope, error) {
	f = f.orDefault()
	env := Envelope{Fields: f}
	var (
		raw map[string][]byte
		err error
	)
	if c == Msgpack {
		raw, err = msgpackFields(data)
	} else {
		raw, err = jsonFields(data)
	}
	if err != nil {
		return Envelope{}, err
	}
	if len(raw) > MaxFields {
		return Envelope{}, ErrTooManyFields
	}
	var name any
	if v, ok := raw[f.Event]; ok {
		name, _ = decodeValue(c, v)
	}
	env.Event, _ = name.(string)
	if env.Event == "" {
		return Envelope{}, ErrNoEvent
	}
	if v, ok := raw[f.Ref]; ok {
		ref, err := decodeValue(c, v)
		if err != nil {
			return Envelope{}, fmt.Errorf("protocol: envelope ref: %w", err)
		}
		env.Ref = refString(ref)
	}
	if env.Room, err = stringField(c, raw, f.Room); err != nil {
		return Envelope{}, fmt.Errorf("protocol: envelope room: %w", err)
	}
	if f.Epoch != "" {
		if env.Epoch, err = stringField(c, raw, f.Epoch); err != nil {
			return Envelope{}, fmt.Errorf("protocol: envelope epoch: %w", err)
		}
	}
	if v, ok := raw[f.Offset]; ok {
		off, err := decodeValue(c, v)
		if err == nil {
			env.Offset, err = offsetOf(off)
		}
		if err != nil {
			return Envelope{}, fmt.Errorf("protocol: envelope offset: %w", err)
		}
	}
	if env.Offset == 0 {
		env.Epoch = "" // a position is an offset within an epoch
	}
	p := raw[f.Payload]
	if p == nil {
		if c == Msgpack {
			p = []byte{0xc0} // nil
		} else {
			p = []byte("null")
		}
	}
	env.Payload = RawPayload{Codec: c, Data: p}
	return env, nil
}

func jsonFields(data []byte) (map[string][]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("protocol: envelope: %w", err)
	}
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out, nil
}

func msgpackFields(data []byte) (map[string][]byte, error) {
	var m map[string]msgpack.RawMessage
	if err := safemsgpack.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("protocol: envelope: %w", err)
	}
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out, nil
}

// decodeValue decodes one field; JSON numbers stay json.Numbers.
func decodeValue(c Codec, raw []byte) (any, error) {
	var v any
	if c == Msgpack {
		err := safemsgpack.Unmarshal(raw, &v)
		return v, err
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	err := d.Decode(&v)
	return v, err
}

// stringField reads a string field; absent or null is "".
func stringField(c Codec, raw map[string][]byte, name string) (string, error) {
	b, ok := raw[name]
	if !ok {
		return "", nil
	}
	v, err := decodeValue(c, b)
	if err != nil {
		return "", err
	}
	switch s := v.(type) {
	case nil:
		return "", nil
	case string:
		return s, nil
	}
	return "", errors.New("not a string")
}

// offsetOf reads an offset: null, or a non-negative integer.
func offsetOf(v any) (uint64, error) {
	switch n := v.(type) {
	case nil:
		return 0, nil
	case json.Number:
		return strconv.ParseUint(n.String(), 10, 64)
	case int8, int16, int32, int64:
		i := toInt64(n)
		if i >= 0 {
			return uint64(i), nil
		}
	case uint8:
		return uint64(n), nil
	case uint16:
		return uint64(n), nil
	case uint32:
		return uint64(n), nil
	case uint64:
		return n, nil
	}
	return 0, errors.New("not a non-negative integer")
}

func toInt64(v any) int64 {
	switch n := v.(type) {
	case int8:
		return int64(n)
	case int16:
		return int64(n)
	case int32:
		return int64(n)
	case int64:
		return n
	}
	return -1
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
