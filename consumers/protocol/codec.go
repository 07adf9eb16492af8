package protocol

import "fmt"

// Subprotocols of switchboard.v1: msgpack envelopes in binary frames, or
// JSON envelopes in text frames (also without a subprotocol).
const (
	SubprotocolJSON    = "switchboard.v1.json"
	SubprotocolMsgpack = "switchboard.v1.msgpack"
)

// Codec is the encoding of envelopes on one connection.
type Codec uint8

const (
	// JSON envelopes in text frames.
	JSON Codec = iota
	// Msgpack envelopes in binary frames.
	Msgpack
)

// CodecFor returns the codec of a connection that agreed on subprotocol:
// Msgpack for SubprotocolMsgpack, JSON for anything else (no subprotocol
// included).
func CodecFor(subprotocol string) Codec {
	if subprotocol == SubprotocolMsgpack {
		return Msgpack
	}
	return JSON
}

// Binary reports whether the codec's frames are binary (else text).
func (c Codec) Binary() bool { return c == Msgpack }

func (c Codec) String() string {
	switch c {
	case JSON:
		return "json"
	case Msgpack:
		return "msgpack"
	}
	return fmt.Sprintf("Codec(%d)", c)
}
