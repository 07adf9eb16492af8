// Package events routes the named events of a WebSocket endpoint to
// handlers, Phoenix or Socket.IO style: switchboard.v1, the event
// protocol, with rooms, recovery, acks and error events. Its connections
// are consumers (an EventConn embeds consumers.Base); the wire format is
// package protocol's.
//
//	ev := events.NewEvents(&events.EventOptions{Box: box})
//	events.On(ev, "message", func(ctx context.Context, c *events.EventConn, m Message) error {
//		_, err := c.EmitToRoom(ctx, events.EventOf(ctx).Room, "message", m)
//		return err
//	})
//	events.OnRequest(ev, "add", func(ctx context.Context, c *events.EventConn, s Sum) (int, error) {
//		return s.A + s.B, nil // the ack's payload
//	})
//	rt.HandleFunc("/ws", ev.Handler())
//
// A payload that does not decode into the handler's type gets an error
// event, bad_request "invalid payload for message", and never reaches
// it. Events.On registers an untyped handler, which gets the *Event and
// decodes its payload itself (Event.Decode), or not at all.
//
// # Lifecycle and emits
//
// EventOptions.OnConnect decides on the handshake; OnAccept runs once it
// is accepted and before the first event is read (greet the client, send
// its id); OnDisconnect runs when it ends. A handler answers with Reply
// (or the ack), and emits to the connection (Emit), a room, saved and
// recoverable (EmitToRoom) or not (EmitToRoomUnsaved), a list of
// connections on any node (EmitToChannels, which counts those reached),
// a user (EmitToUser), or the endpoint's other or every connections
// (EmitToOthers, EmitToAll).
//
// # The protocol
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
//	a payload that does not decode (Event.Decode)    bad_request   invalid payload for NAME
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
//	return events.NewError(protocol.CodeForbidden, "members only")
//
// Client mistakes are logged at Debug, outages and timeouts at Warn, other
// failures at Error.
//
// A handler's error that chooses a close code (a websocket.StatusError,
// such as a websocket.CloseError) closes the connection with it instead,
// by the close policy of websocket.Ending, which also decides what the
// errors of EventOptions.OnConnect and OnAccept do; an outage's error
// (channels.ErrBrokerUnavailable) is for one event, and gets the error
// event above.
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
package events
