// Package protocol is the wire format of switchboard.v1, the event
// protocol: the envelope and its codecs (JSON in text frames, msgpack in
// binary frames), the field sets, the subprotocol names, the built-in
// event names and the error codes. The server (package events), a Go
// client and tests share it, so that all of them read and write the same
// frames.
//
// Decode one frame and read its payload:
//
//	env, err := protocol.Decode(protocol.JSON, frame, protocol.DefaultFields())
//	if err != nil {
//		return err // not an envelope
//	}
//	var msg struct{ Text string }
//	err = env.Payload.(protocol.RawPayload).Decode(&msg)
//
// and encode one:
//
//	frame, err := protocol.Encode(protocol.CodecFor(ws.Subprotocol()),
//		protocol.Envelope{Event: "message", Payload: msg, Ref: "1"})
//
// Decoding never trusts the lengths a msgpack frame declares (see
// internal/safemsgpack): what it allocates is bounded by a small multiple
// of the frame's size. [docs/PROTOCOL.md] specifies the protocol for
// client authors.
//
// [docs/PROTOCOL.md]: https://github.com/switchboard-go/switchboard/blob/main/docs/PROTOCOL.md
package protocol
