package events

import (
	"encoding/json"
	"fmt"
	"unicode"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/consumers/protocol"
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
	codec   protocol.Codec
}

// Decode decodes the payload into v. A payload that does not decode is a
// *ClientError with protocol.CodeBadRequest whose message names the event
// ("invalid payload for message"), never the Go type it was decoded
// into; returned from a handler, it is the client's error event.
func (e *Event) Decode(v any) error {
	if err := (protocol.RawPayload{Codec: e.codec, Data: e.Payload}).Decode(v); err != nil {
		msg := "invalid payload"
		if plainName(e.Name) {
			msg += " for " + e.Name
		}
		return &ClientError{Code: protocol.CodeBadRequest, Message: msg, Err: fmt.Errorf("events: payload of %q: %w", e.Name, err)}
	}
	return nil
}

// plainName reports whether an event name may be shown in an error
// event's message: short, letters, digits and a few separators. (Decode
// runs only for events that have a handler, whose names the application
// chose; this keeps any other name out of a message.)
func plainName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' && r != '-' && r != ':' && r != '/' {
			return false
		}
	}
	return true
}

// decodeEvent parses one envelope from a client.
func decodeEvent(c protocol.Codec, data []byte, f protocol.Fields) (*Event, error) {
	env, err := protocol.Decode(c, data, f)
	if err != nil {
		return nil, err
	}
	p, _ := env.Payload.(protocol.RawPayload)
	return &Event{Name: env.Event, Room: env.Room, Ref: env.Ref, Payload: p.Data, codec: c}, nil
}

// envelope is an outgoing event. As a channels.Positioned value it shows
// its offset and epoch when it was saved in a room's history.
type envelope struct{ protocol.Envelope }

func newEnvelope(f protocol.Fields, event string, payload any) envelope {
	return envelope{protocol.Envelope{Fields: f, Event: event, Payload: payload}}
}

// OffsetField names the envelope field that At sets.
func (e envelope) OffsetField() string { return e.Fields.Offset }

// EpochField names the envelope field that At sets to the epoch.
func (e envelope) EpochField() string { return e.Fields.Epoch }

// At shows the envelope with the position it got in the room's history.
func (e envelope) At(p channels.Position) any {
	e.Offset, e.Epoch = p.Offset, p.Epoch
	return e
}

// replayed turns a history entry back into the envelope members got.
func replayed(f protocol.Fields, e channels.Entry) any {
	if env, ok := e.Message.Value.(envelope); ok {
		return env.At(e.Position)
	}
	// The entry crossed a network: only its JSON is left.
	var m map[string]any
	if json.Unmarshal(e.Message.Data, &m) != nil {
		return json.RawMessage(e.Message.Data)
	}
	m[f.Offset] = e.Position.Offset
	if f.Epoch != "" {
		m[f.Epoch] = e.Position.Epoch
	}
	return m
}
