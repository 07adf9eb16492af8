package channels

import (
	"fmt"
	"log/slog"
	"time"
)

// PayloadType is how a channel wants values that are neither string nor
// []byte: JSON in text frames (the default), JSON in text frames (Text),
// JSON in binary frames (Bytes), or msgpack in binary frames (Msgpack).
// A string payload is always a text frame and a []byte payload a binary
// frame.
//
// It is the one payload-encoding type of the module: a consumer's
// Options.Encoding (package consumers) is a PayloadType too, and also
// says how received frames are decoded.
type PayloadType uint8

const (
	JSON PayloadType = iota
	Text
	Bytes
	Msgpack
)

func (t PayloadType) String() string {
	switch t {
	case JSON:
		return "json"
	case Text:
		return "text"
	case Bytes:
		return "bytes"
	case Msgpack:
		return "msgpack"
	}
	return fmt.Sprintf("PayloadType(%d)", t)
}

// Options configure a ChannelBox; nil means defaults.
type Options struct {
	// Broker carries group messages, history, presence and online users
	// between nodes. Defaults to a new MemoryBroker owned by the box (and
	// closed with it); a broker given here is not closed by the box.
	Broker Broker
	// HistorySize is the most entries a group's history keeps. Defaults to
	// 100.
	HistorySize int
	// HistoryTTL is the oldest an entry may be; negative means no age cap.
	// Defaults to 10 minutes.
	HistoryTTL time.Duration
	// HistoryMaxBytes caps a group's history by the bytes of its entries'
	// encodings (JSON plus msgpack for values); the oldest go first, the
	// newest is always kept. Defaults to 1 MiB; negative means no cap.
	HistoryMaxBytes int
	// HistoryMaxBytesTotal caps the bytes of all the groups' histories
	// together in the default broker (a broker given in Broker has its
	// own cap: MemoryBrokerOptions.MaxTotalBytes): past it the oldest
	// entries of any group go first, and clients that would have needed
	// them are told they did not recover. Defaults to 64 MiB, room for a
	// full default history (100 entries of 200 bytes, about 20 KiB) in
	// some 3,000 groups, small next to what a server that keeps that many
	// rooms has; negative means no cap.
	HistoryMaxBytesTotal int
	// MaxGroupName bounds group names, in bytes. Defaults to 256.
	MaxGroupName int
	// MaxGroupsPerChannel bounds the groups one channel may be in:
	// AddToGroup past it fails with ErrTooManyGroups. Defaults to 128.
	MaxGroupsPerChannel int
	// JanitorInterval is how often expiry is checked: idle channels, and
	// with the default broker (or any that has an ExpireHistory method,
	// as MemoryBroker does) history past its age cap and the state of
	// groups left with neither members nor history for HistoryTTL.
	// Defaults to 1s.
	JanitorInterval time.Duration
	// Now is the box's clock, for expiry (and history, with the default
	// broker). Defaults to time.Now.
	Now func() time.Time
	// OnOnline runs when a user gets its first channel (anywhere, as far as
	// the broker tells), OnOffline when its last one goes. They run on one
	// goroutine of the box, outside any lock, in order for each user.
	OnOnline, OnOffline func(user string)
	// OnPresenceGone runs when members of a group left its presence
	// without leaving the group: their node died (or lost the broker for
	// longer than its presence lasts) and the broker let their entries
	// expire. It runs on one node that has members of the group, on a
	// goroutine of its own, so that the application can tell the group.
	OnPresenceGone func(group string, gone []PresenceInfo)
	// DrainBatch is how many connections Close closes at a time.
	// Defaults to 100.
	DrainBatch int
	// DrainJitter is the longest random pause between two batches of
	// Close; negative means no pause. Defaults to 100ms.
	DrainJitter time.Duration
	// Metrics, when set, receives broker call timings and recoveries.
	Metrics Metrics
	// Logger receives broker errors that have no caller to return to.
	// Defaults to slog.Default().
	Logger *slog.Logger
}

// Defaults, as documented on Options.
const (
	DefaultHistorySize         = 100
	DefaultHistoryTTL          = 10 * time.Minute
	DefaultMaxGroupName        = 256
	DefaultHistoryMaxBytes     = 1 << 20
	DefaultMaxGroupsPerChannel = 128
	DefaultJanitorInterval     = time.Second
	DefaultDrainBatch          = 100
	DefaultDrainJitter         = 100 * time.Millisecond
)

// DefaultHistoryMaxBytesTotal is the default of
// Options.HistoryMaxBytesTotal and MemoryBrokerOptions.MaxTotalBytes.
const DefaultHistoryMaxBytesTotal = 64 << 20

func (o *Options) resolve() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.HistorySize <= 0 {
		c.HistorySize = DefaultHistorySize
	}
	if c.HistoryTTL == 0 {
		c.HistoryTTL = DefaultHistoryTTL
	}
	switch {
	case c.HistoryMaxBytes == 0:
		c.HistoryMaxBytes = DefaultHistoryMaxBytes
	case c.HistoryMaxBytes < 0:
		c.HistoryMaxBytes = 0
	}
	if c.MaxGroupsPerChannel <= 0 {
		c.MaxGroupsPerChannel = DefaultMaxGroupsPerChannel
	}
	if c.MaxGroupName <= 0 {
		c.MaxGroupName = DefaultMaxGroupName
	}
	if c.JanitorInterval <= 0 {
		c.JanitorInterval = DefaultJanitorInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.DrainBatch <= 0 {
		c.DrainBatch = DefaultDrainBatch
	}
	if c.DrainJitter == 0 {
		c.DrainJitter = DefaultDrainJitter
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = noMetrics{}
	}
	return c
}

// RegisterOptions describe a channel; nil means a JSON channel with no
// user and no expiry.
type RegisterOptions struct {
	PayloadType PayloadType
	// Expires, when set, closes the channel with StatusExpired after that
	// long without a message in either direction.
	Expires time.Duration
	// User is the id of the channel's user: the box indexes it for
	// SendToUser, presence and OnOnline/OnOffline. Defaults to the
	// connection's authenticated user (websocket.WebSocket.User).
	User string
}
