package client

import (
	"github.com/switchboard-go/switchboard/consumers/protocol"
)

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
	Payload protocol.RawPayload
}

// Decode decodes the payload into v.
func (e *Event) Decode(v any) error {
	return e.Payload.Decode(v)
}

// decodeEvent parses one envelope from the server.
func decodeEvent(c protocol.Codec, data []byte) (*Event, error) {
	env, err := protocol.Decode(c, data, protocol.Fields{})
	if err != nil {
		return nil, err
	}
	p, _ := env.Payload.(protocol.RawPayload)
	return &Event{Name: env.Event, Ref: env.Ref, Room: env.Room, Offset: env.Offset, Epoch: env.Epoch, Payload: p}, nil
}

func subprotocol(c protocol.Codec) string {
	if c == protocol.Msgpack {
		return protocol.SubprotocolMsgpack
	}
	return protocol.SubprotocolJSON
}
