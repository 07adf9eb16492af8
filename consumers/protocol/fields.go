package protocol

// Fields names the fields of the envelope. The zero Fields stands for
// DefaultFields() wherever an envelope is encoded or decoded.
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

func (f Fields) orDefault() Fields {
	if f == (Fields{}) {
		return DefaultFields()
	}
	return f
}
