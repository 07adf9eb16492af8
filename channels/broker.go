package channels

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/switchboard-go/switchboard/internal/safemsgpack"
)

// Broker carries what must cross nodes: group fan-out, sends to a channel
// or a user wherever it lives, history, presence and who is online. A
// ChannelBox delivers to its own members itself and asks the broker to
// reach the other nodes; with the default MemoryBroker there are none
// (unless several boxes share one MemoryBroker, which makes them behave as
// nodes of one cluster inside a process).
//
// Implementations must be safe for concurrent use; every method that talks
// to a server must honour ctx, and its errors should wrap
// ErrBrokerUnavailable (fmt.Errorf with %w, or an Unwrap method) when the
// server could not be reached, so that callers can tell an outage from a
// refused call and a handler that returns one closes with 1013 (see
// websocket.Ending); matching it through an Is method alone gives the
// first but not the second.
type Broker interface {
	// Start connects a box to the broker: messages for its members that
	// come from other nodes are handed to h. A broker serves any number of
	// boxes (nodes).
	Start(h Handler) error
	// Stop disconnects h; its node receives nothing more.
	Stop(h Handler)

	// Publish sends msg to the group's members on the other nodes (the
	// publishing box delivers to its own). With opts.History it appends msg
	// to the group's history, sets msg.Position and returns it, and delivers
	// msg to the group's members on every node, the publishing one
	// included, so that every node sees a group's saved messages in offset
	// order; the delivery may come after Publish returns. With
	// opts.NoWait a network broker may return once it has accepted msg,
	// before its server has it (see PublishOptions.NoWait).
	Publish(ctx context.Context, group string, msg *Message, opts PublishOptions) (Position, error)
	// PublishToChannel delivers msg to the channel on whichever other node
	// holds it: ErrNoSuchChannel when none does (as far as the broker can
	// tell).
	PublishToChannel(ctx context.Context, channelID string, msg *Message) error
	// PublishToUser delivers msg to the user's channels on the other nodes
	// and returns how many it reached, when the broker can tell.
	PublishToUser(ctx context.Context, user string, msg *Message) (int, error)
	// Subscribe and Unsubscribe tell the broker that this node gained its
	// first member of group, or lost its last.
	Subscribe(ctx context.Context, h Handler, group string) error
	Unsubscribe(ctx context.Context, h Handler, group string) error

	// History returns the group's entries after since (all retained ones
	// for a nil since), the group's current position, and whether the
	// entries are complete: false when since has another epoch or entries
	// after it were already dropped. A since whose Offset is PositionOnly
	// asks for the position alone: no entries.
	History(ctx context.Context, group string, since *Position) ([]Entry, Position, bool, error)
	// FlushHistory drops the history of the groups (all groups when none
	// are named) and gives them a new epoch.
	FlushHistory(ctx context.Context, groups ...string) error

	// AddPresence, RemovePresence and Presence keep the cluster-wide list
	// of a group's members.
	AddPresence(ctx context.Context, group string, p PresenceInfo) error
	RemovePresence(ctx context.Context, group, channelID string) error
	Presence(ctx context.Context, group string) ([]PresenceInfo, error)

	// Connected records that node h holds a channel (of user, or of no
	// user when user is "") and reports whether it is the user's first
	// channel anywhere; Disconnected removes it and reports whether it was
	// the user's last. A broker that tells a user went offline without a
	// Disconnected (its node died) calls Handler.DeliverOffline instead.
	Connected(ctx context.Context, h Handler, channelID, user string) (first bool, err error)
	Disconnected(ctx context.Context, h Handler, channelID, user string) (last bool, err error)
	IsOnline(ctx context.Context, user string) (bool, error)
	OnlineUsers(ctx context.Context) ([]string, error)

	// Close releases the broker.
	Close(ctx context.Context) error
}

// ChannelsPublisher is a Broker that sends one message to many channels
// in one call (ChannelBox.SendToChannels uses it): PublishToChannels
// delivers msg to each channel of ids held by another node than
// msg.Origin, and returns how many it reached, as far as the broker can
// tell; an id no node holds is not counted, and not an error.
type ChannelsPublisher interface {
	PublishToChannels(ctx context.Context, channelIDs []string, msg *Message) (int, error)
}

// Handler is the side of a box that a broker delivers to.
type Handler interface {
	// NodeID identifies the box; messages it published carry it as Origin
	// and are not delivered back to it.
	NodeID() string
	// DeliverGroup delivers msg to the local members of group.
	DeliverGroup(group string, msg *Message) int
	// DeliverChannel delivers msg to a local channel; false when the
	// channel is not here.
	DeliverChannel(channelID string, msg *Message) bool
	// DeliverUser delivers msg to the user's local channels.
	DeliverUser(user string, msg *Message) int
	// DeliverOffline reports a user that went offline without a
	// Disconnected call: its last channel was on a node that died. The
	// broker calls it on one node of the cluster.
	DeliverOffline(user string)
	// DeliverPresenceGone reports members of group that left its presence
	// without a RemovePresence: their node died and their entries
	// expired. The broker calls it on one node that has members of group.
	DeliverPresenceGone(group string, gone []PresenceInfo)
	// ResyncGroup reports that the node missed saved messages of group
	// that the history cannot give back (the broker's data was lost): the
	// box closes the group's local members with
	// websocket.StatusServiceRestart, so that their clients reconnect and
	// learn, rejoining from their position, that they did not recover.
	ResyncGroup(group string)
}

// PublishOptions are a publish's history settings, and whether the caller
// waits for the outcome.
type PublishOptions struct {
	// NoWait lets a broker return as soon as it has taken msg in (a
	// network broker queues it for a pipeline that writes many messages
	// in one round trip), before its server has it: Publish then returns
	// the zero Position and leaves msg.Position unset, and its error says
	// only whether msg was taken in (ErrBrokerBusy, ErrBrokerUnavailable).
	// Messages taken in are still written in the order they were, so a
	// group's messages from one node keep their order. One that fails
	// later is reported to the broker's log and metrics, not to the
	// caller. A broker that has no such queue (the MemoryBroker) ignores
	// NoWait.
	NoWait  bool
	History bool
	// Size, TTL and MaxBytes cap the group's history by count, age and
	// bytes (of the entries' encodings; the newest entry is always kept).
	Size     int
	TTL      time.Duration
	MaxBytes int
}

// Kind is what a Message holds.
type Kind uint8

const (
	// KindText is a string payload: a text frame for every member.
	KindText Kind = iota
	// KindBinary is a []byte payload: a binary frame for every member.
	KindBinary
	// KindValue is any other value: JSON or msgpack by the member's type.
	KindValue
)

// Message is a payload on its way to channels, encoded at most once per
// wire form.
type Message struct {
	Kind Kind
	// Data is the payload of a KindText or KindBinary message, and the JSON
	// encoding of a KindValue one (filled by Encode).
	Data []byte
	// Msgpack is the msgpack encoding of a KindValue message (filled by
	// Encode).
	Msgpack []byte
	// Value is the Go value of a KindValue message; it does not leave the
	// process.
	Value any
	// Except names a channel that must not receive the message.
	Except string
	// OffsetField is, for a saved value that is Positioned, the top-level
	// field of its encoded map that shows the offset: nodes that only have
	// the encoding show the position by setting it.
	OffsetField string
	// EpochField is, likewise, the top-level field that shows the epoch.
	EpochField string
	// Origin is the NodeID of the box that published it.
	Origin string
	// Position is set when the message was saved in the group's history.
	Position Position

	mu sync.Mutex // guards the lazy encodings
}

// NewMessage wraps a payload: a string is text, a []byte (copied) binary,
// anything else a value to encode. A Message is shared by every node and
// history entry it reaches: do not modify it once sent.
func NewMessage(payload any) *Message {
	switch p := payload.(type) {
	case string:
		return &Message{Kind: KindText, Data: []byte(p)}
	case []byte:
		return &Message{Kind: KindBinary, Data: bytes.Clone(p)}
	}
	return &Message{Kind: KindValue, Value: payload}
}

// Encode fills Data (JSON) and Msgpack of a KindValue message from Value,
// so that the message can cross a network. A message that crossed one
// has no Value, and its msgpack form, when missing, is made from the JSON.
func (m *Message) Encode() error {
	if m.Kind != KindValue {
		return nil
	}
	if _, err := m.json(); err != nil {
		return err
	}
	_, err := m.msgpack()
	return err
}

func (m *Message) json() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Data == nil {
		b, err := json.Marshal(m.Value)
		if err != nil {
			return nil, err
		}
		m.Data = b
	}
	return m.Data, nil
}

func (m *Message) msgpack() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Msgpack == nil {
		v := m.Value
		if v == nil && m.Data != nil {
			// Only the JSON form travelled: transcode it.
			if err := json.Unmarshal(m.Data, &v); err != nil {
				return nil, err
			}
		}
		b, err := safemsgpack.Marshal(v)
		if err != nil {
			return nil, err
		}
		m.Msgpack = b
	}
	return m.Msgpack, nil
}

// Position is a place in a group's history: the offset of an entry and the
// epoch of the history it belongs to. A client that saw a message keeps its
// Position and asks for what came after it when it reconnects.
type Position struct {
	Offset uint64 `json:"offset" msgpack:"offset"`
	Epoch  string `json:"epoch" msgpack:"epoch"`
}

// PositionOnly as the Offset of a since Position asks History for the
// group's current position and no entries.
const PositionOnly = ^uint64(0)

// Entry is one message kept in a group's history.
type Entry struct {
	ID       string
	Time     time.Time
	Position Position
	Message  *Message
}

// PresenceInfo is one member of a group.
type PresenceInfo struct {
	ChannelID string `json:"channel_id" msgpack:"channel_id"`
	User      string `json:"user,omitempty" msgpack:"user,omitempty"`
}
