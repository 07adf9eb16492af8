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
// Options.Encoding decides what OnReceive gets: a string (Text), a []byte
// (Bytes), or a decoded value (JSON, the default, or Msgpack). A message of
// the other frame type closes the connection with 1003 (unsupported data),
// one that does not decode with 1007 (invalid payload). An error returned by
// a hook closes with 1011 (internal error, and the error is logged), with
// 1013 (try again later, logged as a warning) when it matches
// channels.ErrBrokerUnavailable (the box's broker could not be reached:
// a JoinGroup in OnConnect during a Redis outage, say), or with the code
// of a websocket.CloseError it carries; a panic is recovered the same way. OnDisconnect runs exactly once, with the close code that
// was actually sent or received. An error from OnConnect before Accept, or
// an OnConnect that returns without accepting, rejects the handshake with
// 403 (503 for an error that carries websocket.StatusTryAgainLater, as
// one matching channels.ErrBrokerUnavailable does), and OnDisconnect does
// not run.
//
// The connection is registered in the box when it is accepted and leaves
// every group when it ends, without user code.
//
// # The event protocol
//
// NewEvents serves switchboard.v1, the event protocol that clients speak
// (browsers with examples/chat/static/switchboard.js, or clients in any
// language). [docs/PROTOCOL.md] specifies it for their authors:
// subprotocols, envelopes, the built-in events and their payloads,
// recovery, error and close codes, limits and keepalive. The package's
// tests replay its examples against the server.
//
// # Event errors
//
// The event router (NewEvents) answers an event that fails with an error
// event, {"event": "error", "payload": {"code": "...", "error": "..."},
// "ref": ...}, and the connection stays open. The code is stable and meant
// for programs, the message is a few plain words a user may see; neither
// ever carries the error's text (a Go type, a package name, an address),
// which goes to EventOptions.Logger with the event and connection id. One
// function decides it:
//
//	what failed                                      code          message
//	an envelope that does not decode                 bad_request   invalid envelope
//	an envelope without an event name                bad_request   envelope without an event name
//	a payload that does not decode (Event.Decode)    bad_request   invalid payload
//	a room name the box refuses                      bad_request   invalid room name
//	a join or leave without a room                   bad_request   no room given
//	an event without a handler                       not_found     unknown event
//	EmitTo a connection that is gone                 not_found     no such connection
//	an event over EventOptions.RateLimit             rate_limited  rate limited
//	more rooms than the box allows a connection      too_large     too many rooms
//	a join, leave or event aimed at a reserved room  forbidden     this room is reserved
//	a join EventOptions.AuthorizeJoin refused        forbidden     not allowed to join this room
//	the broker unreachable (ErrBrokerUnavailable)    unavailable   unavailable, try again later
//	a handler past EventOptions.HandlerTimeout       internal      handler timed out
//	any other handler error, or a panic              internal      internal error
//
// A handler (or AuthorizeJoin) chooses the code and message by returning a
// *ClientError:
//
//	return consumers.NewError(consumers.CodeForbidden, "members only")
//
// Client mistakes are logged at Debug, outages and timeouts at Warn, other
// failures at Error.
//
// # Room messages and epochs
//
// A join answers {"event": "joined", "payload": {"room": "r1", "recovered":
// true, "epoch": "e", "offset": 44}, "ref": ...}, and every message saved
// in a room's history reaches its members, live and replayed, with its
// position at the top level:
//
//	{"event": "message", "payload": {...}, "room": "r1", "offset": 45, "epoch": "e"}
//
// Offsets compare only within one epoch. A room gets a new epoch when its
// history is flushed or its broker lost it (Redis restarted empty, a
// FLUSHALL, its keys deleted or evicted), and its offsets may start again
// at 1. A client keeps the last (epoch, offset) of each room, drops a
// message as one it has seen only when it has the same epoch and an
// offset at or below the last, takes a message of another epoch as the
// room's new position and tells its user that messages may be missing,
// and rejoins with {"since": {"epoch": ..., "offset": ...}} to recover.
// Fields.Epoch names the field ("epoch" by default; empty leaves it out,
// and clients can then not tell two epochs apart).
//
// # Rooms a client may enter
//
// The groups an endpoint opens itself (its EventOptions.AllGroup, which
// EmitToAll reaches, and any name beginning with ReservedPrefix) are not
// rooms: a client's join, leave or room event naming one is refused with
// "forbidden". Each endpoint on a box gets its own all-connections group.
// EventOptions.AuthorizeJoin decides on every other join; without it any
// client may join any room and read its history.
//
// [docs/PROTOCOL.md]: https://github.com/switchboard-go/switchboard/blob/main/docs/PROTOCOL.md
package consumers
