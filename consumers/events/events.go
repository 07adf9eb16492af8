package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/consumers"
	"github.com/switchboard-go/switchboard/consumers/protocol"
	"github.com/switchboard-go/switchboard/websocket"
)

// EventHandler handles one event. Its error is sent back to the client as
// an error event with a code and a short message, and logged in full; the
// connection stays open. Return a *ClientError (NewError) to choose the
// code and message; any other error is "internal" ("internal error"), and
// one that matches channels.ErrBrokerUnavailable is "unavailable"
// ("unavailable, try again later"), so that no error's text (a Go type, a
// broker's address) reaches the client. The package doc has the mapping.
type EventHandler func(ctx context.Context, c *EventConn, ev *Event) error

// EventOptions configure an Events router; nil means defaults.
type EventOptions struct {
	// Box holds the connections and the rooms. Required for rooms, the
	// join and leave events and the emit helpers other than Emit and
	// Reply.
	Box *channels.ChannelBox
	// Fields names the envelope's fields. Defaults to
	// protocol.DefaultFields().
	Fields protocol.Fields
	// HandlerTimeout bounds each handler: past it the client gets an error
	// event and the connection reads on (the handler's ctx is cancelled).
	// Defaults to none.
	HandlerTimeout time.Duration
	// RateLimit is the events a second a connection may send, with bursts
	// of RateBurst (default: RateLimit, at least 1). An event over the
	// limit is not decoded: it gets an error event with code rate_limited
	// and no ref. Each refused event scores one violation
	// and each allowed one takes half a point back; at MaxViolations the
	// connection is closed with websocket.StatusRateLimited, so sustained
	// flooding (twice the limit or more) is closed and a passing burst is
	// not. Defaults to no limit.
	RateLimit     float64
	RateBurst     int
	MaxViolations int // defaults to 20
	// User returns a connection's user id for the box. Defaults to none.
	User func(ws *websocket.WebSocket) string
	// Expires is the idle expiry of the connections. Defaults to never.
	Expires time.Duration
	// OnConnect runs before the handshake is accepted (it must not accept
	// it itself; OnAccept runs after): an error refuses it with 403 (503
	// for one that carries websocket.StatusTryAgainLater, as a broker
	// outage does; 500 for a panic), as in package consumers (see
	// websocket.Ending). Defaults to accepting every handshake.
	OnConnect func(ctx context.Context, c *EventConn) error
	// OnAccept runs once the handshake is accepted, the connection is in
	// the box and in the endpoint's AllGroup, and before its first event
	// is read: the place to greet the client, to send it its id
	// (c.WebSocket().ID()), or to join it to rooms of the server's
	// choosing. An error closes the connection, as a hook's does in
	// package consumers (1011, or the code of a websocket.StatusError it
	// carries, 1013 for a broker outage: websocket.Ending has the table),
	// and OnDisconnect runs. Defaults to none.
	OnAccept func(ctx context.Context, c *EventConn) error
	// OnDisconnect runs once when an accepted connection ends, with the
	// close code sent or received. Defaults to none.
	OnDisconnect func(c *EventConn, code websocket.StatusCode)
	// AuthorizeJoin allows or refuses each join (the built-in "join", and
	// Join called from an override): nil allows it; an error refuses it,
	// and the client gets an error event with the code of a *ClientError
	// (NewError) or CodeForbidden, and neither the room's history nor
	// membership nor presence there. Defaults to allowing every join of a
	// room that is not reserved (see ReservedPrefix).
	AuthorizeJoin func(ctx context.Context, c *EventConn, j JoinRequest) error
	// Logger receives handler failures and the full errors behind error
	// events. Defaults to slog.Default().
	Logger *slog.Logger
	// AllGroup is the group every connection of the endpoint joins, which
	// EmitToAll and EmitToOthers send to. Clients can never join, leave or
	// emit to it. Defaults to DefaultAllGroup for the first endpoint
	// created on a box, DefaultAllGroup+":2" for the second, and so on:
	// each endpoint has its own. The name must be the same in every
	// process of a cluster, so that EmitToAll reaches the endpoint's
	// connections on every node; name it here when the processes do not
	// create their endpoints in the same order.
	AllGroup string
	// DedupWindow is how long the answer to an event is kept for a resend:
	// a client that names its session in the handshake
	// (protocol.SessionParam) and
	// sends an event again with the same ref, after a reconnect, gets the
	// first answer again, and the handler runs once. Outcomes are kept in
	// the box's broker when it can (the MemoryBroker; the Redis broker,
	// across nodes), else on this node only, bounded in count and bytes
	// (channels.DefaultMaxOutcomes, channels.DefaultMaxOutcomeBytes).
	// Negative turns it off. Defaults to DefaultDedupWindow (2 minutes).
	DedupWindow time.Duration
}

// DefaultAllGroup is the all-connections group of the first Events
// endpoint created on a box (see EventOptions.AllGroup).
const DefaultAllGroup = ReservedPrefix + "all"

// ReservedPrefix begins the names of the groups an Events endpoint opens
// itself. A client's join, leave or room event naming such a group, or
// any group reserved in the box (channels.ChannelBox.ReserveGroup, as an
// endpoint does with its AllGroup), is refused with CodeForbidden.
const ReservedPrefix = "events:"

// JoinRequest is a join that EventOptions.AuthorizeJoin decides on.
type JoinRequest struct {
	// Room is the room asked for.
	Room string
	// User is the connection's user id in the box (by default its
	// authenticated user), or "".
	User string
	// Event is the join event: Event.Decode reads its payload (a token or
	// an invitation the application defines, say).
	Event *Event
}

// Events routes the events of a WebSocket endpoint to handlers, Phoenix or
// Socket.IO style: {"event": "...", "payload": ..., "ref": "..."}. Built
// in: "join" and "leave" a room (aliases "joinRoom" and "leftRoom"). Create
// it with NewEvents, register handlers with On, mount Handler().
type Events struct {
	opts     EventOptions
	route    string // group of every connection on this endpoint
	mu       sync.RWMutex
	handlers map[string]EventHandler
	store    channels.OutcomeStore // nil: no deduplication
	window   time.Duration
}

// NewEvents returns an Events with the built-in handlers.
func NewEvents(opts *EventOptions) *Events {
	e := &Events{handlers: make(map[string]EventHandler)}
	if opts != nil {
		e.opts = *opts
	}
	e.route = e.opts.AllGroup
	if box := e.opts.Box; box != nil {
		if e.route != "" {
			box.ReserveGroup(e.route)
		} else {
			e.route = DefaultAllGroup
			for n := 2; !box.ReserveGroup(e.route); n++ {
				e.route = DefaultAllGroup + ":" + strconv.Itoa(n)
			}
		}
	}
	if e.route == "" {
		e.route = DefaultAllGroup
	}
	if e.opts.Fields == (protocol.Fields{}) {
		e.opts.Fields = protocol.DefaultFields()
	}
	if e.opts.Logger == nil {
		e.opts.Logger = slog.Default()
	}
	if e.opts.RateLimit > 0 {
		if e.opts.RateBurst <= 0 {
			e.opts.RateBurst = max(1, int(e.opts.RateLimit))
		}
		if e.opts.MaxViolations <= 0 {
			e.opts.MaxViolations = 20
		}
	}
	if e.window = e.opts.DedupWindow; e.window == 0 {
		e.window = DefaultDedupWindow
	}
	if e.window > 0 {
		e.store = outcomeStore(e.opts.Box)
	}
	e.handlers[protocol.EventJoin] = Join
	e.handlers[protocol.EventLeave] = Leave
	return e
}

// On registers h for the event name, replacing a built-in one. It panics on
// an empty name or a name registered with On before.
func (e *Events) On(name string, h EventHandler) {
	if name == "" || h == nil {
		panic("events: On needs an event name and a handler")
	}
	if canonical, ok := aliases[name]; ok {
		panic(fmt.Sprintf("events: %q is an alias of %q: register %q", name, canonical, canonical))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.handlers[name]; ok && !isBuiltin(name) {
		panic(fmt.Sprintf("events: event %q already has a handler", name))
	}
	e.handlers[name] = h
}

func isBuiltin(name string) bool { return name == protocol.EventJoin || name == protocol.EventLeave }

// aliases are other names of built-in events (Vania-style clients); they
// reach whatever handles the event they stand for.
var aliases = map[string]string{"joinRoom": protocol.EventJoin, "leftRoom": protocol.EventLeave}

// Handler returns the router handler of the endpoint.
func (e *Events) Handler() websocket.HandlerFunc {
	return consumers.Handler(func() consumers.Consumer { return &EventConn{events: e} }, &consumers.Options{
		Box: e.opts.Box, User: e.opts.User, Expires: e.opts.Expires, Logger: e.opts.Logger,
		Subprotocols: []consumers.Subprotocol{
			{Name: protocol.SubprotocolMsgpack, Encoding: channels.Msgpack},
			{Name: protocol.SubprotocolJSON, Encoding: channels.JSON},
		},
	})
}

// EventConn is one connection of an Events endpoint: the consumer Base
// (rooms are its groups) plus the emit helpers.
type EventConn struct {
	consumers.Base
	events   *Events
	codec    protocol.Codec
	limit    *bucket
	leftover atomic.Int32 // handlers still running past their timeout
	session  string       // the client's session (SessionParam), or ""
	user     string
	rec      atomic.Pointer[recorder] // the outcome being recorded, if any
}

// OnConnect runs EventOptions.OnConnect, then accepts with the event
// subprotocols, joins the endpoint's own group and runs
// EventOptions.OnAccept.
func (c *EventConn) OnConnect(ctx context.Context) error {
	if fn := c.events.opts.OnConnect; fn != nil {
		if err := fn(ctx, c); err != nil {
			return err
		}
	}
	if err := c.Accept(ctx); err != nil {
		return err
	}
	c.codec = protocol.CodecFor(c.WebSocket().Subprotocol())
	if s := c.WebSocket().Query().Get(protocol.SessionParam); c.events.store != nil && protocol.ValidSession(s) {
		c.session = s
		if fn := c.events.opts.User; fn != nil {
			c.user = fn(c.WebSocket())
		}
	}
	if r := c.events.opts.RateLimit; r > 0 {
		c.limit = newBucket(r, c.events.opts.RateBurst, time.Now())
	}
	if c.Box() != nil {
		if _, err := c.JoinGroup(ctx, c.events.route); err != nil {
			return err
		}
	}
	if fn := c.events.opts.OnAccept; fn != nil {
		return fn(ctx, c)
	}
	return nil
}

// OnDisconnect runs EventOptions.OnDisconnect.
func (c *EventConn) OnDisconnect(code websocket.StatusCode) {
	if fn := c.events.opts.OnDisconnect; fn != nil {
		fn(c, code)
	}
}

// ReceiveFrame decodes one envelope and runs its handler; the consumer
// machinery calls it for each frame (see consumers.FrameReceiver).
func (c *EventConn) ReceiveFrame(ctx context.Context, typ websocket.MessageType, data []byte) error {
	want := websocket.TextMessage
	if c.codec.Binary() {
		want = websocket.BinaryMessage
	}
	if typ != want {
		return websocket.NewCloseError(websocket.StatusUnsupportedData, fmt.Sprintf("expected %s frames", want))
	}
	// Every frame takes a token, well-formed or not, and one over the
	// limit is refused before it is decoded: its error event carries no
	// ref, for reading the ref would be decoding it.
	if c.limit != nil && !c.limit.allow(time.Now()) {
		if c.limit.violations >= float64(c.events.opts.MaxViolations) {
			return websocket.NewCloseError(websocket.StatusRateLimited, "rate limited")
		}
		return c.sendError(&Event{}, errRateLimited)
	}
	ev, err := decodeEvent(c.codec, data, c.events.opts.Fields)
	if err != nil {
		return c.sendError(&Event{}, errEnvelope(err))
	}
	name := ev.Name
	if canonical, ok := aliases[name]; ok {
		name = canonical // an override of "join" covers "joinRoom" too
	}
	c.events.mu.RLock()
	h := c.events.handlers[name]
	c.events.mu.RUnlock()
	if h == nil {
		return c.sendError(ev, errUnknownEvent(ev.Name))
	}
	if err := c.events.checkRooms(c, ev, name); err != nil {
		return c.sendError(ev, err)
	}
	if key := c.dedupKey(ev, name); key != "" {
		return c.once(ctx, key, h, ev)
	}
	return c.handle(ctx, h, ev)
}

// handle runs ev's handler and answers its failure.
func (c *EventConn) handle(ctx context.Context, h EventHandler, ev *Event) error {
	if err := c.runHandler(ctx, h, ev); err != nil {
		// An error that chooses a close (websocket.Ending) closes the
		// connection with it, unless it is an outage's, which is for a
		// hook's error and not for one event's, or a *ClientError, which
		// is for the client.
		var ee *ClientError
		switch websocket.EndingFor(err, true).Kind {
		case websocket.EndRequested, websocket.EndTryLater:
			if !errors.As(err, &ee) && !errors.Is(err, channels.ErrBrokerUnavailable) {
				return err // the handler asked for a close
			}
		}
		return c.sendError(ev, err)
	}
	return nil
}

// checkRooms refuses, before any handler runs, an event aimed at a
// reserved room, and a join or leave (built in or overridden) of one.
func (e *Events) checkRooms(c *EventConn, ev *Event, name string) error {
	if ev.Room != "" && e.reserved(ev.Room) {
		return errReserved
	}
	if name == protocol.EventJoin || name == protocol.EventLeave {
		if req, err := c.roomOf(ev); err == nil && e.reserved(req.Room) {
			return errReserved
		}
	}
	return nil
}

// reserved reports whether clients must keep out of room: a group the
// library opens itself.
func (e *Events) reserved(room string) bool {
	if room == e.route || strings.HasPrefix(room, ReservedPrefix) {
		return true
	}
	return e.opts.Box != nil && e.opts.Box.IsReserved(room)
}

// errTimeout reports a handler that outlived HandlerTimeout.
var errTimeout = errors.New("handler timed out")

// ErrHandlerTimedOut is returned by Reply from a handler that outlived
// EventOptions.HandlerTimeout: the client already got an error event for
// its ref.
var ErrHandlerTimedOut = errors.New("events: handler timed out; its event was answered with an error")

// maxLeftover bounds the handlers of one connection still running past
// their timeout (handlers that ignore ctx); past it the connection closes.
const maxLeftover = 8

// runHandler runs h with panic recovery and the timeout, and acks a ref
// the handler did not reply to.
func (c *EventConn) runHandler(ctx context.Context, h EventHandler, ev *Event) error {
	rs := &replyState{}
	call := func(ctx context.Context) (err error) {
		defer func() {
			if p := recover(); p != nil {
				c.events.opts.Logger.Error("events: event handler panicked", "event", ev.Name, "panic", p)
				err = errors.New("internal error")
			}
		}()
		ctx = context.WithValue(context.WithValue(ctx, replyKey{}, rs), eventKey{}, ev)
		return h(ctx, c, ev)
	}
	var err error
	if d := c.events.opts.HandlerTimeout; d > 0 {
		hctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- call(hctx) }()
		select {
		case err = <-done:
		case <-hctx.Done():
			select {
			case err = <-done: // finished at the deadline
			default:
				if rs.expire() {
					err = errTimeout
				} // else it replied in time; only its return is late
				if c.leftover.Add(1) > maxLeftover {
					return websocket.NewCloseError(websocket.StatusInternalError, "too many handlers past their timeout")
				}
				go func() { <-done; c.leftover.Add(-1) }()
			}
		}
		if errors.Is(err, context.DeadlineExceeded) && hctx.Err() != nil {
			err = errTimeout // it gave up because of the timeout
		}
	} else {
		err = call(ctx)
	}
	if err == nil && ev.Ref != "" && !rs.answered() {
		return c.send(envelope{protocol.Envelope{Fields: c.events.opts.Fields, Event: protocol.EventAck, Ref: ev.Ref}})
	}
	return err
}

// replyState is what became of one event's answer: replied by the
// handler, or expired by its timeout (after which Reply refuses).
type replyState struct {
	mu               sync.Mutex
	replied, expired bool
}

// reply marks a reply, or reports false once expired.
func (r *replyState) reply() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.expired {
		return false
	}
	r.replied = true
	return true
}

// expire ends the handler's right to reply, and reports false if it had
// replied already.
func (r *replyState) expire() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.replied {
		return false
	}
	r.expired = true
	return true
}

func (r *replyState) answered() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.replied || r.expired
}

type replyKey struct{}

// sendError answers ev with an error event (see errorEvent) and logs err.
func (c *EventConn) sendError(ev *Event, err error) error {
	code, msg, level := errorEvent(err)
	c.events.opts.Logger.Log(context.Background(), level, "events: event failed", "event", ev.Name, "id", c.WebSocket().ID(), "code", string(code), "err", err)
	return c.send(envelope{protocol.Envelope{Fields: c.events.opts.Fields, Event: protocol.EventError, Payload: protocol.ErrorPayload{Code: code, Error: msg}, Ref: ev.Ref}})
}

func (c *EventConn) send(e any) error {
	if env, ok := e.(envelope); ok && env.Ref != "" {
		if r := c.rec.Load(); r != nil {
			r.add(env.Envelope)
		}
	}
	err := c.Send(e)
	if errors.Is(err, websocket.ErrClosed) || errors.Is(err, websocket.ErrSlowConsumer) {
		return nil // the read loop will see the end
	}
	return err
}

// Emit sends an event to this connection.
func (c *EventConn) Emit(event string, payload any) error {
	return c.send(newEnvelope(c.events.opts.Fields, event, payload))
}

// Reply answers ev: an event to this connection carrying ev's ref. Call it
// with the handler's ctx; a handler that returns nil without replying to
// an event with a ref sends an "ack" instead. After the handler's timeout
// Reply sends nothing and returns ErrHandlerTimedOut. (A handler that
// ignores its ctx keeps running past the timeout; a connection with more
// than 8 of those is closed with 1011.)
func (c *EventConn) Reply(ctx context.Context, ev *Event, event string, payload any) error {
	if r, ok := ctx.Value(replyKey{}).(*replyState); ok && !r.reply() {
		return ErrHandlerTimedOut
	}
	return c.send(envelope{protocol.Envelope{Fields: c.events.opts.Fields, Event: event, Payload: payload, Ref: ev.Ref}})
}

// EmitToRoom sends an event to every member of room, saved in the room's
// history: members get it with "room" and "offset" at the top level, and a
// client that rejoins with its last offset recovers it. Options are
// channels' (channels.Except, say). It returns once the message is in the
// history (channels.Confirm), so that the ack of the event being handled,
// sent after the handler returns, promises a saved message. A reserved
// room (the endpoint's own groups, see ReservedPrefix) is refused with a
// forbidden *ClientError, for the room often comes from the client.
func (c *EventConn) EmitToRoom(ctx context.Context, room, event string, payload any, opts ...channels.SendOption) (int, error) {
	if c.Box() == nil {
		return 0, consumers.ErrNoBox
	}
	if c.events.reserved(room) {
		// A handler may take the room from the client's payload: the
		// endpoint's own groups stay closed to it (EmitToAll and
		// EmitToOthers reach them).
		return 0, errReserved
	}
	opts = append([]channels.SendOption{channels.Confirm()}, opts...)
	return EmitToRoom(ctx, c.Box(), c.events.opts.Fields, room, event, payload, opts...)
}

// EmitToRoomUnsaved sends an event to every member of room without
// saving it: members get it with "room" at the top level and no offset,
// and a client that rejoins does not recover it. It is for what is worth
// only now (someone is typing, a cursor moved). Options are channels'
// (c.ExceptSelf(), say); with a network broker it returns once the broker
// has taken the message in (channels.Confirm waits for its server). A
// reserved room is refused with a forbidden *ClientError, as in
// EmitToRoom. The count is of the members reached on this node.
func (c *EventConn) EmitToRoomUnsaved(ctx context.Context, room, event string, payload any, opts ...channels.SendOption) (int, error) {
	if c.Box() == nil {
		return 0, consumers.ErrNoBox
	}
	if c.events.reserved(room) {
		return 0, errReserved
	}
	return c.Box().GroupSend(ctx, room, envelope{protocol.Envelope{Fields: c.events.opts.Fields, Event: event, Payload: payload, Room: room}}, opts...)
}

// EmitToChannels sends an event to each connection named in ids,
// wherever it lives, and returns how many it reached: an id that names
// no connection is not reached, and not an error (see
// channels.ChannelBox.SendToChannels).
func (c *EventConn) EmitToChannels(ctx context.Context, ids []string, event string, payload any) (int, error) {
	if c.Box() == nil {
		return 0, consumers.ErrNoBox
	}
	return c.Box().SendToChannels(ctx, ids, newEnvelope(c.events.opts.Fields, event, payload))
}

// EmitToOthers sends an event to every connection of this endpoint but
// this one. (For a room without this connection: EmitToRoom with
// c.ExceptSelf().)
func (c *EventConn) EmitToOthers(ctx context.Context, event string, payload any) (int, error) {
	if c.Box() == nil {
		return 0, consumers.ErrNoBox
	}
	return c.Box().GroupSend(ctx, c.events.route, newEnvelope(c.events.opts.Fields, event, payload), c.ExceptSelf())
}

// EmitTo sends an event to one connection by id, wherever it lives.
func (c *EventConn) EmitTo(ctx context.Context, channelID, event string, payload any) error {
	return c.SendTo(ctx, channelID, newEnvelope(c.events.opts.Fields, event, payload))
}

// EmitToUser sends an event to every connection of user.
func (c *EventConn) EmitToUser(ctx context.Context, user, event string, payload any) (int, error) {
	if c.Box() == nil {
		return 0, consumers.ErrNoBox
	}
	return c.Box().SendToUser(ctx, user, newEnvelope(c.events.opts.Fields, event, payload))
}

// EmitToAll sends an event to every connection of this endpoint.
func (c *EventConn) EmitToAll(ctx context.Context, event string, payload any) (int, error) {
	if c.Box() == nil {
		return 0, consumers.ErrNoBox
	}
	return c.Box().GroupSend(ctx, c.events.route, newEnvelope(c.events.opts.Fields, event, payload))
}

// EmitToRoom sends an event to a room from anywhere (an HTTP handler, a
// job), as EventConn.EmitToRoom does, except that with a network broker it
// returns once the broker has taken the message in, not once it is saved
// (see channels.ChannelBox.GroupSend): pass channels.Confirm to wait.
func EmitToRoom(ctx context.Context, box *channels.ChannelBox, f protocol.Fields, room, event string, payload any, opts ...channels.SendOption) (int, error) {
	if f == (protocol.Fields{}) {
		f = protocol.DefaultFields()
	}
	opts = append([]channels.SendOption{channels.SaveHistory()}, opts...)
	return box.GroupSend(ctx, room, envelope{protocol.Envelope{Fields: f, Event: event, Payload: payload, Room: room}}, opts...)
}

// roomRequest is the payload of join and leave: {"room": "r1", "since":
// {"epoch": "e", "offset": 41}}, or just "r1".
type roomRequest struct {
	Room    string             `json:"room" msgpack:"room"`
	Since   *channels.Position `json:"since,omitempty" msgpack:"since,omitempty"`
	History bool               `json:"history,omitempty" msgpack:"history,omitempty"`
}

// RoomOf returns the room a join or leave event names.
func (c *EventConn) RoomOf(ev *Event) (string, error) {
	req, err := c.roomOf(ev)
	return req.Room, err
}

func (c *EventConn) roomOf(ev *Event) (roomRequest, error) {
	var req roomRequest
	if err := ev.Decode(&req); err != nil {
		var name string
		if ev.Decode(&name) != nil {
			return req, err
		}
		req.Room = name
	}
	if req.Room == "" {
		req.Room = ev.Room
	}
	if req.Room == "" {
		return req, errNoRoom
	}
	return req, nil
}

// Join is the built-in "join" handler: it adds the connection to a room
// and answers "joined" with the room's position and whether the client's
// position was recovered, followed by the messages it missed (with
// "since") or the retained history (with "history": true), in order. A
// join that fails (its error is the client's answer) leaves the
// connection out of the room, unless it was in already. A reserved room
// is refused, and EventOptions.AuthorizeJoin decides on every other one
// before anything is sent or joined. An application that overrides
// "join" can call it to keep this behaviour.
func Join(ctx context.Context, c *EventConn, ev *Event) error {
	req, err := c.roomOf(ev)
	if err != nil {
		return err
	}
	if c.events.reserved(req.Room) {
		return errReserved
	}
	if authorize := c.events.opts.AuthorizeJoin; authorize != nil {
		user := c.WebSocket().User()
		if ch := c.Channel(); ch != nil {
			user = ch.User()
		}
		if err := authorize(ctx, c, JoinRequest{Room: req.Room, User: user, Event: ev}); err != nil {
			return errRefused(err)
		}
	}
	ch := c.Channel()
	if ch == nil {
		if c.Box() == nil {
			return consumers.ErrNoBox
		}
		return websocket.ErrNotAccepted
	}
	f := c.events.opts.Fields
	since := req.Since
	if since == nil && !req.History {
		// No replay asked for: only the room's position is needed.
		since = &channels.Position{Offset: channels.PositionOnly}
	}
	// The answer and the replay are queued while no saved message of the
	// room can be delivered, so that the client gets them in offset order
	// and once each.
	// On an error (the broker's, or a Reply after the handler's timeout)
	// the connection is not left in the room.
	_, err = c.Box().JoinWithHistory(ctx, req.Room, ch.ID(), since, func(entries []channels.Entry, top channels.Position, recovered bool) error {
		if req.Since == nil {
			recovered = false
			if !req.History {
				entries = nil
			}
		}
		if err := c.Reply(ctx, ev, protocol.EventJoined, map[string]any{"room": req.Room, "recovered": recovered, "epoch": top.Epoch, "offset": top.Offset}); err != nil {
			return err
		}
		for _, e := range entries {
			if err := c.send(replayed(f, e)); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// Leave is the built-in "leave" handler: it takes the connection out of a
// room and answers "left". A reserved room is refused.
func Leave(ctx context.Context, c *EventConn, ev *Event) error {
	req, err := c.roomOf(ev)
	if err != nil {
		return err
	}
	if c.events.reserved(req.Room) {
		return errReserved
	}
	if _, err := c.LeaveGroup(ctx, req.Room); err != nil {
		return err
	}
	return c.Reply(ctx, ev, protocol.EventLeft, map[string]any{"room": req.Room})
}
