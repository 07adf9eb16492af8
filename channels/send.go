package channels

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"unicode/utf8"

	"github.com/switchboard-go/switchboard/websocket"
)

// SendOption is a per-call choice of GroupSend.
type SendOption func(*sendOptions)

type sendOptions struct {
	history bool
	confirm bool
	except  string
	pos     *Position
}

// SaveHistory keeps the message in the group's history, for members that
// reconnect and recover what they missed.
func SaveHistory() SendOption { return func(o *sendOptions) { o.history = true } }

// ReportPosition stores in p where the message was saved in the group's
// history (with SaveHistory; the zero Position otherwise), so that the
// sender can tell clients the position to recover from. It implies
// Confirm.
func ReportPosition(p *Position) SendOption {
	return func(o *sendOptions) { o.pos, o.confirm = p, true }
}

// Confirm makes GroupSend wait until the broker's server has the message
// (for a saved one: until it is in the history) and return the server's
// error, rather than return once the broker has taken the message in.
// Send with it what the sender must know was sent: an acknowledgement to
// a client that promises a saved message, say. With the default
// MemoryBroker every send is confirmed anyway.
func Confirm() SendOption { return func(o *sendOptions) { o.confirm = true } }

// Except leaves one channel out (typically the sender).
func Except(channelID string) SendOption { return func(o *sendOptions) { o.except = channelID } }

// GroupSend sends payload to every member of group, on every node, and
// returns how many local members it reached (for a saved message, which
// the broker delivers, how many it was sent to). A string is a text frame
// and a []byte (copied: the caller may reuse it) a binary frame for every
// member; any other value is encoded once per payload type present (JSON
// or msgpack) and the same bytes go to every member of that type.
//
// Saved messages reach every member in offset order, but with a network
// broker they come back to this node's members a round trip later, so an
// unsaved message sent after a saved one may reach them first.
//
// With a network broker (channels/redisbroker), GroupSend returns once the
// broker has taken the message into its publish pipeline, not after a
// round trip to its server: a loop of sends runs at the pipeline's pace,
// and the local members still get unsaved messages at once. Its error
// then says only whether the message was taken in: ErrBrokerBusy when the
// broker's bound on messages in flight is full, ErrBrokerUnavailable while
// its server is known to be down. A message taken in that the server then
// fails to get is reported to the broker's log and metrics; pass Confirm
// (or ReportPosition) to wait for the server's answer instead.
//
// It only enqueues: it never waits for a member. A member whose queue is
// full is closed with StatusSlowConsumer and leaves the group; the others
// are not held up. Members may join and leave during the send.
//
// A string that is not valid UTF-8, or a value whose JSON is not (what a
// json.Marshaler or json.RawMessage may give), returns
// websocket.ErrInvalidUTF8 before the message reaches any member.
func (b *ChannelBox) GroupSend(ctx context.Context, group string, payload any, opts ...SendOption) (int, error) {
	if err := b.checkGroup(group); err != nil {
		return 0, err
	}
	if b.isClosed() {
		return 0, ErrBoxClosed
	}
	var o sendOptions
	for _, opt := range opts {
		opt(&o)
	}
	msg := NewMessage(payload)
	if err := checkText(msg); err != nil {
		return 0, err
	}
	msg.Except = o.except
	msg.Origin = b.handler.id
	if !o.history {
		n, err := b.deliverGroup(group, msg)
		if err != nil {
			return n, err
		}
		err = b.timed("publish", func() error {
			_, err := b.broker.Publish(ctx, group, msg, PublishOptions{NoWait: !o.confirm})
			return err
		})
		return n, err
	}
	// Saved messages: every form is made up front (the history serves all
	// payload types and other nodes), and the broker delivers the message
	// to every node, this one included, in offset order.
	if p, ok := msg.Value.(Positioned); ok {
		msg.OffsetField, msg.EpochField = p.OffsetField(), p.EpochField()
	}
	if err := msg.Encode(); err != nil {
		return 0, err
	}
	if err := checkText(msg); err != nil {
		return 0, err
	}
	n := b.localCount(group, o.except)
	var pos Position
	err := b.timed("publish_saved", func() (err error) {
		pos, err = b.broker.Publish(ctx, group, msg, PublishOptions{NoWait: !o.confirm, History: true, Size: b.opts.HistorySize, TTL: max(b.opts.HistoryTTL, 0), MaxBytes: b.opts.HistoryMaxBytes})
		return err
	})
	if err != nil {
		return 0, err
	}
	if o.pos != nil {
		*o.pos = pos
	}
	return n, nil
}

// localCount returns how many local members of group a message that
// leaves out except goes to.
func (b *ChannelBox) localCount(group, except string) int {
	b.mu.RLock()
	g := b.groups[group]
	b.mu.RUnlock()
	if g == nil {
		return 0
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	n := len(g.members)
	if ch := b.channelOf(except); ch != nil {
		if _, ok := g.index[ch]; ok {
			n--
		}
	}
	return n
}

func (b *ChannelBox) channelOf(id string) *Channel {
	if id == "" {
		return nil
	}
	ch, _ := b.Channel(id)
	return ch
}

func (b *ChannelBox) sendLock(group string) *sync.Mutex {
	return &b.sendLocks[maphash.String(b.seed, group)%uint64(len(b.sendLocks))]
}

// JoinWithHistory adds a local channel to group and reads the group's
// history after since (as History does) in one step that no saved message
// of the group can cut into: fn runs with the entries, before any later
// saved message is delivered to the channel, and should queue what the
// client must see first (a "joined" answer and the entries). Without it, a
// message saved between the join and the read would reach the client twice
// or out of order. fn must not send saved messages (with the memory broker
// it would wait for itself).
//
// Unlike AddToGroup, it does not leave the channel in the group on an
// error (a broker call or fn failed): the client is told the join failed,
// so it must not get the group's messages. A channel that was a member
// before the call stays one.
func (b *ChannelBox) JoinWithHistory(ctx context.Context, group, channelID string, since *Position,
	fn func(entries []Entry, top Position, recovered bool) error) (res AddResult, err error) {
	if err := b.checkGroup(group); err != nil {
		return 0, err
	}
	mu := b.sendLock(group)
	mu.Lock()
	defer mu.Unlock()
	defer func() {
		// Under the send lock, so that a join of the same channel that
		// comes next is not undone.
		if err != nil && (res == ChannelAdded || res == GroupCreated) {
			b.RemoveFromGroup(ctx, group, channelID) //nolint:errcheck // the channel leaves locally whatever the broker says; its presence entry expires
		}
	}()
	res, err = b.AddToGroup(ctx, group, channelID)
	if err != nil {
		return res, err
	}
	entries, top, recovered, err := b.broker.History(ctx, group, since)
	if err != nil {
		return res, err
	}
	if since != nil && since.Offset != PositionOnly {
		b.opts.Metrics.Recovery(recovered)
	}
	// Saved messages up to top reach the channel through fn; their live
	// delivery, when it comes after this, is skipped.
	b.mu.RLock()
	g := b.groups[group]
	b.mu.RUnlock()
	if ch, ok := b.Channel(channelID); ok && g != nil {
		g.mu.Lock()
		if _, member := g.index[ch]; member {
			if g.replayed == nil {
				g.replayed = make(map[*Channel]Position)
			}
			g.replayed[ch] = top
		}
		g.mu.Unlock()
	}
	return res, fn(entries, top, recovered)
}

// deliverGroup enqueues msg for the local members of group. A saved
// message is delivered under the group's send lock, and skips the members
// that JoinWithHistory already gave it to.
func (b *ChannelBox) deliverGroup(name string, msg *Message) (int, error) {
	saved := msg.Position.Offset != 0
	var mu *sync.Mutex
	if saved {
		mu = b.sendLock(name)
		mu.Lock()
	}
	b.mu.RLock()
	g := b.groups[name]
	b.mu.RUnlock()
	if g == nil {
		if mu != nil {
			mu.Unlock()
		}
		return 0, nil
	}
	var f fanout
	g.mu.RLock()
	if err := f.prepare(msg, g.members); err != nil {
		g.mu.RUnlock()
		if mu != nil {
			mu.Unlock()
		}
		return 0, err
	}
	for _, ch := range g.members {
		if ch.id == msg.Except {
			continue
		}
		if saved && len(g.replayed) > 0 {
			if top, ok := g.replayed[ch]; ok && top.Epoch == msg.Position.Epoch && msg.Position.Offset <= top.Offset {
				continue
			}
		}
		f.send(ch, msg)
	}
	g.mu.RUnlock()
	if mu != nil {
		mu.Unlock()
	}
	// Evictions talk to the broker: not under the send lock.
	b.evict(f.gone)
	return f.n, f.err
}

// fanout sends one message to many channels: each wire form is framed
// once, and the channels whose connection is closing are collected.
type fanout struct {
	cache frameCache
	n     int
	err   error      // the first encoding error
	gone  []*Channel // closing: evict them
}

// checkText returns websocket.ErrInvalidUTF8 when a form of msg that goes
// out in text frames is not valid UTF-8: a string payload, or a value's
// JSON once encoded (JSON is UTF-8, RFC 8259, whatever frame carries it).
func checkText(msg *Message) error {
	if msg.Kind != KindBinary && msg.Data != nil && !utf8.Valid(msg.Data) {
		return websocket.ErrInvalidUTF8
	}
	return nil
}

// prepare frames, before anything is enqueued, the text form of a value
// when a member takes it: its JSON is checked then (see checkText), so
// that such a message reaches every member or none. Strings are checked
// by the exported sends.
func (f *fanout) prepare(msg *Message, members []*Channel) error {
	if msg.Kind != KindValue {
		return nil
	}
	for _, ch := range members {
		if ch.id != msg.Except && (ch.typ == JSON || ch.typ == Text) {
			_, err := frameFor(msg, ch.typ, &f.cache)
			return err
		}
	}
	return nil
}

func (f *fanout) send(ch *Channel, msg *Message) {
	pm, err := frameFor(msg, ch.typ, &f.cache)
	if err != nil {
		if f.err == nil {
			f.err = err
		}
		return
	}
	switch ch.ws.SendPrepared(pm) {
	case nil:
		f.n++
	case websocket.ErrSlowConsumer, websocket.ErrClosed:
		f.gone = append(f.gone, ch)
	}
}

// evict removes channels whose connection is closing (a slow consumer, for
// one) at once, rather than when their close handshake ends.
func (b *ChannelBox) evict(chs []*Channel) {
	for _, ch := range chs {
		b.remove(ch)
	}
}

// SendTo sends payload to one channel, on this node or another. It returns
// ErrNoSuchChannel when the channel is gone, and websocket.ErrInvalidUTF8
// for a string that is not valid UTF-8.
func (b *ChannelBox) SendTo(ctx context.Context, channelID string, payload any) error {
	if b.isClosed() {
		return ErrBoxClosed
	}
	if ch, ok := b.Channel(channelID); ok {
		return ch.Send(payload)
	}
	msg := NewMessage(payload)
	if err := checkText(msg); err != nil {
		return err
	}
	msg.Origin = b.handler.id
	return b.timed("send_to_channel", func() error { return b.broker.PublishToChannel(ctx, channelID, msg) })
}

// SendToChannels sends payload to each channel named in ids, on this node
// or another, and returns how many it reached: the channels it was
// queued for here, and those on other nodes the broker reached (as far
// as it can tell). An id that names no channel anywhere is not reached,
// and not an error: the count tells the caller; an id given twice is
// sent to once. The payload is encoded once per payload type, as in
// GroupSend, and a string that is not valid UTF-8 returns
// websocket.ErrInvalidUTF8 before it reaches anyone. The channels on
// other nodes cost one broker call in all with a broker that implements
// ChannelsPublisher (the Redis one does: one round trip per server),
// one per channel otherwise. On a broker error the count is of the
// channels reached before it.
func (b *ChannelBox) SendToChannels(ctx context.Context, ids []string, payload any) (int, error) {
	msg, err := b.newSend(payload)
	if err != nil {
		return 0, err
	}
	seen := make(map[string]struct{}, len(ids))
	var local []*Channel
	var remote []string
	for _, id := range ids {
		if _, dup := seen[id]; dup || id == "" {
			continue
		}
		seen[id] = struct{}{}
		if ch := b.channelOf(id); ch != nil {
			local = append(local, ch)
		} else {
			remote = append(remote, id)
		}
	}
	var f fanout
	if err := f.prepare(msg, local); err != nil {
		return 0, err
	}
	for _, ch := range local {
		f.send(ch, msg)
	}
	b.evict(f.gone)
	n := f.n
	if f.err != nil || len(remote) == 0 {
		return n, f.err
	}
	err = b.timed("send_to_channels", func() error {
		m, err := publishToChannels(ctx, b.broker, remote, msg)
		n += m
		return err
	})
	return n, err
}

// publishToChannels sends msg to channels on other nodes: in one call
// when the broker can, else one call per channel.
func publishToChannels(ctx context.Context, br Broker, ids []string, msg *Message) (int, error) {
	if p, ok := br.(ChannelsPublisher); ok {
		return p.PublishToChannels(ctx, ids, msg)
	}
	n := 0
	for _, id := range ids {
		switch err := br.PublishToChannel(ctx, id, msg); {
		case err == nil:
			n++
		case !errors.Is(err, ErrNoSuchChannel):
			return n, err
		}
	}
	return n, nil
}

// newSend checks that the box is open and makes the message of a send
// from this node, refusing invalid UTF-8 (see checkText).
func (b *ChannelBox) newSend(payload any) (*Message, error) {
	if b.isClosed() {
		return nil, ErrBoxClosed
	}
	msg := NewMessage(payload)
	if err := checkText(msg); err != nil {
		return nil, err
	}
	msg.Origin = b.handler.id
	return msg, nil
}

// SendToUser sends payload to every channel of user, on every node, and
// returns how many it reached (on other nodes, as far as the broker can
// tell).
func (b *ChannelBox) SendToUser(ctx context.Context, user string, payload any) (int, error) {
	return b.SendToUsers(ctx, []string{user}, payload)
}

// SendToUsers sends payload to every channel of each user; see SendToUser.
// A string that is not valid UTF-8 returns websocket.ErrInvalidUTF8 before
// it reaches anyone, as in GroupSend.
func (b *ChannelBox) SendToUsers(ctx context.Context, users []string, payload any) (int, error) {
	msg, err := b.newSend(payload)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, u := range users {
		n, err := b.deliverUser(u, msg)
		total += n
		if err != nil {
			return total, err
		}
		err = b.timed("send_to_user", func() (err error) {
			n, err = b.broker.PublishToUser(ctx, u, msg)
			return err
		})
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (b *ChannelBox) deliverUser(user string, msg *Message) (int, error) {
	b.mu.RLock()
	chs := make([]*Channel, 0, len(b.users[user]))
	for ch := range b.users[user] {
		chs = append(chs, ch)
	}
	b.mu.RUnlock()
	var f fanout
	if err := f.prepare(msg, chs); err != nil {
		return 0, err
	}
	for _, ch := range chs {
		f.send(ch, msg)
	}
	b.evict(f.gone)
	return f.n, nil
}

// History returns the entries of group after since (all retained entries
// when since is nil, none when its Offset is PositionOnly), the group's current position, and whether recovery
// is complete: false when since belongs to another epoch (the history was
// flushed or lost) or entries after it were already dropped, and false for
// a nil since.
func (b *ChannelBox) History(ctx context.Context, group string, since *Position) ([]Entry, Position, bool, error) {
	if err := b.checkGroup(group); err != nil {
		return nil, Position{}, false, err
	}
	return b.broker.History(ctx, group, since)
}

// FlushHistory drops the history of the groups (of all groups when none
// are named); each gets a new epoch.
func (b *ChannelBox) FlushHistory(ctx context.Context, groups ...string) error {
	return b.broker.FlushHistory(ctx, groups...)
}

// Presence returns the members of group on every node, with their users.
func (b *ChannelBox) Presence(ctx context.Context, group string) ([]PresenceInfo, error) {
	return b.broker.Presence(ctx, group)
}

// IsOnline reports whether user has a channel on any node.
func (b *ChannelBox) IsOnline(ctx context.Context, user string) (bool, error) {
	return b.broker.IsOnline(ctx, user)
}

// OnlineUsers returns the users with a channel on any node, sorted.
func (b *ChannelBox) OnlineUsers(ctx context.Context) ([]string, error) {
	return b.broker.OnlineUsers(ctx)
}
