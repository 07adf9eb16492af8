package protocol_test

import (
	"fmt"

	"github.com/switchboard-go/switchboard/consumers/protocol"
)

// A frame a client sent, decoded, and the server's answer encoded in the
// same codec.
func Example() {
	frame := []byte(`{"event":"message","room":"r1","payload":{"text":"hi"},"ref":7}`)
	env, err := protocol.Decode(protocol.JSON, frame, protocol.DefaultFields())
	if err != nil {
		fmt.Println(err)
		return
	}
	var msg struct{ Text string }
	if err := env.Payload.(protocol.RawPayload).Decode(&msg); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(env.Event, env.Room, env.Ref, msg.Text)

	reply, _ := protocol.Encode(protocol.JSON, protocol.Envelope{Event: protocol.EventAck, Ref: env.Ref})
	fmt.Println(string(reply))
	// Output:
	// message r1 7 hi
	// {"event":"ack","payload":null,"ref":"7"}
}
