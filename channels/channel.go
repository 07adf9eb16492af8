package channels

import (
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/switchboard-go/switchboard/internal/safemsgpack"
	"github.com/switchboard-go/switchboard/websocket"
	"github.com/vmihailenco/msgpack/v5"
)

// Channel is one registered connection. Its methods are safe for
// concurrent use.
type Channel struct {
	id   string
	ws   *websocket.WebSocket
	typ  PayloadType
	opts RegisterOptions
	// groups is in joining order, guarded by box.mu: a slice, not a map,
	// for a channel is in few groups and every registered one holds it.
	groups  []string
	removed bool // guarded by box.mu

	// opMu orders this channel's broker calls (presence, subscriptions,
	// user events) the same way as its local changes: it is held across
	// each local change and the broker calls that publish it. Lock order:
	// opMu, then box.mu, then a group's mu.
	opMu sync.Mutex

	// expiry bookkeeping, touched only by the janitor
	lastActivity uint64
	lastSeen     int64 // box clock, unix nanos
	expiring     bool
}

// ID returns the channel's id: its connection's id.
func (c *Channel) ID() string { return c.id }

// WebSocket returns the channel's connection.
func (c *Channel) WebSocket() *websocket.WebSocket { return c.ws }

// PayloadType returns how values are encoded for this channel.
func (c *Channel) PayloadType() PayloadType { return c.typ }

// User returns the channel's user id, or "".
func (c *Channel) User() string { return c.opts.User }

// Expires returns the channel's idle expiry, or 0.
func (c *Channel) Expires() time.Duration { return c.opts.Expires }

// Send encodes payload for this channel (see PayloadType) and queues it.
// It never blocks; see websocket.WebSocket.SendText for its errors.
func (c *Channel) Send(payload any) error {
	return c.deliver(NewMessage(payload))
}

func (c *Channel) deliver(msg *Message) error {
	pm, err := frameFor(msg, c.typ, nil)
	if err != nil {
		return err
	}
	return c.ws.SendPrepared(pm)
}

// frameCache holds a message's frames, one per wire form: text (the
// payload, or JSON), binary (the payload, or JSON), binary msgpack; and the
// positioned form of the message, when it has one.
type frameCache struct {
	frames [3]*websocket.PreparedMessage
	shown  *Message
}

// Positioned is a payload that shows its place in the group's history: a
// message sent with SaveHistory whose value implements Positioned is
// delivered as At(position). (The event consumer puts the offset and the
// epoch into its envelope this way, so that a client tells the offsets of
// a new epoch from those it saw.) The history keeps the value itself.
//
// On other nodes only the value's encoding exists; there the value must be
// a map (in JSON and msgpack) and OffsetField and EpochField name the
// top-level fields that At sets to the offset and the epoch, so that the
// node can do the same. An empty EpochField leaves the epoch out.
type Positioned interface {
	At(Position) any
	OffsetField() string
	EpochField() string
}

// shown returns the message as delivered: msg, or its positioned form.
func shown(msg *Message) *Message {
	if msg.Kind != KindValue || msg.Position.Offset == 0 {
		return msg
	}
	if p, ok := msg.Value.(Positioned); ok {
		return &Message{Kind: KindValue, Value: p.At(msg.Position), Position: msg.Position}
	}
	if msg.Value != nil || msg.OffsetField == "" {
		return msg
	}
	// The message crossed a network: set the field in each encoding.
	out := &Message{Kind: KindValue, Position: msg.Position}
	if msg.Data != nil {
		var m map[string]json.RawMessage
		if json.Unmarshal(msg.Data, &m) != nil || m == nil {
			return msg
		}
		m[msg.OffsetField] = strconv.AppendUint(nil, msg.Position.Offset, 10)
		if msg.EpochField != "" {
			m[msg.EpochField], _ = json.Marshal(msg.Position.Epoch)
		}
		out.Data, _ = json.Marshal(m)
	}
	if msg.Msgpack != nil {
		var m map[string]msgpack.RawMessage
		if safemsgpack.Unmarshal(msg.Msgpack, &m) != nil || m == nil {
			return msg
		}
		m[msg.OffsetField], _ = safemsgpack.Marshal(msg.Position.Offset)
		if msg.EpochField != "" {
			m[msg.EpochField], _ = safemsgpack.Marshal(msg.Position.Epoch)
		}
		out.Msgpack, _ = safemsgpack.Marshal(m)
	}
	return out
}

// frameFor returns msg's frame for a channel of type t, making it at most
// once per form when cache is given.
func frameFor(msg *Message, t PayloadType, cache *frameCache) (*websocket.PreparedMessage, error) {
	if cache == nil {
		msg = shown(msg)
	} else {
		if cache.shown == nil {
			cache.shown = shown(msg)
		}
		msg = cache.shown
	}
	form, mt := 0, websocket.TextMessage
	switch {
	case msg.Kind == KindBinary:
		mt = websocket.BinaryMessage
	case msg.Kind == KindValue && t == Bytes:
		form, mt = 1, websocket.BinaryMessage
	case msg.Kind == KindValue && t == Msgpack:
		form, mt = 2, websocket.BinaryMessage
	}
	if cache != nil && cache.frames[form] != nil {
		return cache.frames[form], nil
	}
	var data []byte
	var err error
	switch {
	case msg.Kind != KindValue:
		data = msg.Data
	case form == 2:
		data, err = msg.msgpack()
	default:
		data, err = msg.json()
	}
	if err != nil {
		return nil, err
	}
	pm, err := websocket.NewPreparedMessage(mt, data)
	if err != nil {
		return nil, err
	}
	if cache != nil {
		cache.frames[form] = pm
	}
	return pm, nil
}
