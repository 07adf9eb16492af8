// Package consumers gives WebSocket handlers the shape of Django Channels'
// consumers: a struct with OnConnect, OnReceive and OnDisconnect hooks, one
// instance per connection, with an embeddable Base that registers the
// connection in a channels.ChannelBox and offers JoinGroup, LeaveGroup,
// Broadcast and SendTo.
//
//	type Chat struct {
//		consumers.Base
//		room string
//	}
//
//	func (c *Chat) OnConnect(ctx context.Context) error {
//		c.room = c.WebSocket().PathParam("room")
//		if err := c.Accept(ctx); err != nil {
//			return err
//		}
//		_, err := c.JoinGroup(ctx, c.room)
//		return err
//	}
//
//	func (c *Chat) OnReceive(ctx context.Context, msg any) error {
//		_, err := c.Broadcast(ctx, c.room, msg, channels.SaveHistory())
//		return err
//	}
//
//	rt.HandleFunc("/ws/{room}", consumers.Handler(func() consumers.Consumer { return &Chat{} },
//		&consumers.Options{Box: box}))
//
// # Encoding and close codes
//
// Options.Encoding, a channels.PayloadType, decides what OnReceive gets:
// a string (channels.Text), a []byte (channels.Bytes), or a decoded value
// (channels.JSON, the default, or channels.Msgpack); Options.Subprotocols
// picks it per connection from the subprotocol agreed on. A message of
// the other frame type closes the connection with 1003 (unsupported data),
// one that does not decode with 1007 (invalid payload). An error returned
// by a hook, or its panic, ends the connection as websocket.Ending's table
// says, the table that websocket.Handler follows too: after Accept it
// closes with 1011 (internal error, the error logged at Error), with 1013
// (try again later, logged as a warning) when it matches
// channels.ErrBrokerUnavailable (the box's broker could not be reached: a
// JoinGroup in OnConnect during a Redis outage, say), or with the code of
// a websocket.StatusError it carries, such as a websocket.CloseError.
// OnDisconnect runs exactly once, with the close code that was actually
// sent or received. Before Accept, an error from OnConnect is the
// application's refusal (websocket.Refuse): the handshake is refused with
// 403 and the error logged at Info (503 and a warning for an error that
// carries websocket.StatusTryAgainLater, as one matching
// channels.ErrBrokerUnavailable does); an OnConnect that returns nil
// without accepting is refused with 403 too, and a panic with 500 (logged
// at Error). OnDisconnect does not run then.
//
// The connection is registered in the box when it is accepted and leaves
// every group when it ends, without user code.
//
// # The event protocol
//
// Package events (consumers/events) is a Consumer that routes the named
// events of switchboard.v1 to handlers, with rooms, acks and error
// events; package protocol (consumers/protocol) is that protocol's wire
// format.
package consumers
