package channels

import (
	"cmp"
	"context"
	"crypto/rand"
	"hash/maphash"
	"slices"
	"strconv"
	"sync"
	"time"
)

// MemoryBroker is the in-process Broker, the default of a ChannelBox. It
// keeps history rings, presence and the online users in memory. Boxes that
// share one MemoryBroker behave as the nodes of one cluster.
type MemoryBroker struct {
	now func() time.Time

	mu       sync.Mutex
	handlers []Handler
	history  map[string]*ring
	presence map[string]map[string]PresenceInfo // group -> channel id -> info
	users    map[string]map[string]struct{}     // user -> channel ids
	closed   bool

	// The histories' totals, and every saved entry in the order it was
	// added, so that the total byte cap drops the oldest entries of all
	// groups first. A reference whose entry already went (trimmed by its
	// group's caps, flushed, its ring forgotten) is skipped, and the
	// queue is compacted when such references outnumber the live ones.
	maxTotal     int
	totalBytes   int
	totalEntries int
	order        []entryRef
	orderHead    int

	// saveLocks serialise each group's saved publishes from the append to
	// the last node's delivery, so that every node sees offset order.
	saveLocks [64]sync.Mutex
	seed      maphash.Seed

	outcomes *Outcomes
}

var (
	_ Broker            = (*MemoryBroker)(nil)
	_ ChannelsPublisher = (*MemoryBroker)(nil)
	_ OutcomeStore      = (*MemoryBroker)(nil)
)

// MemoryBrokerOptions configure a MemoryBroker; nil means defaults.
type MemoryBrokerOptions struct {
	// Now is the clock that stamps and ages history entries. Defaults to
	// time.Now.
	Now func() time.Time
	// MaxTotalBytes caps the bytes (of the entries' encodings) of all the
	// groups' histories together: past it the oldest entries of any
	// group go first, and a client that asks to recover from before them
	// is told it did not. Defaults to DefaultHistoryMaxBytesTotal (64
	// MiB); negative means no cap.
	MaxTotalBytes int
}

// NewMemoryBroker returns an empty MemoryBroker.
func NewMemoryBroker(opts *MemoryBrokerOptions) *MemoryBroker {
	b := &MemoryBroker{
		now:      time.Now,
		history:  make(map[string]*ring),
		presence: make(map[string]map[string]PresenceInfo),
		users:    make(map[string]map[string]struct{}),
		seed:     maphash.MakeSeed(),
		maxTotal: DefaultHistoryMaxBytesTotal,
	}
	if opts != nil && opts.Now != nil {
		b.now = opts.Now
	}
	b.outcomes = NewOutcomes(0, 0, b.now)
	if opts != nil && opts.MaxTotalBytes != 0 {
		b.maxTotal = max(opts.MaxTotalBytes, 0)
	}
	return b
}

func (b *MemoryBroker) Start(h Handler) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrBrokerClosed
	}
	b.handlers = append(b.handlers, h)
	return nil
}

func (b *MemoryBroker) Stop(h Handler) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handlers = slices.DeleteFunc(b.handlers, func(x Handler) bool { return x == h })
}

// others returns the handlers other than the message's origin.
func (b *MemoryBroker) others(origin string) ([]Handler, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrBrokerClosed
	}
	var hs []Handler
	for _, h := range b.handlers {
		if h.NodeID() != origin {
			hs = append(hs, h)
		}
	}
	return hs, nil
}

// check returns ErrBrokerClosed after Close.
func (b *MemoryBroker) check() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrBrokerClosed
	}
	return nil
}

func (b *MemoryBroker) Publish(ctx context.Context, group string, msg *Message, opts PublishOptions) (Position, error) {
	if err := ctx.Err(); err != nil {
		return Position{}, err
	}
	if !opts.History {
		hs, err := b.others(msg.Origin)
		for _, h := range hs {
			h.DeliverGroup(group, msg)
		}
		return Position{}, err
	}
	mu := &b.saveLocks[maphash.String(b.seed, group)%uint64(len(b.saveLocks))]
	mu.Lock()
	defer mu.Unlock()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return Position{}, ErrBrokerClosed
	}
	r := b.ring(group)
	var pos Position
	b.track(r, func() { pos = r.add(msg, b.now(), opts) })
	b.order = append(b.order, entryRef{r: r, off: pos.Offset})
	b.capTotal()
	hs := slices.Clone(b.handlers)
	b.mu.Unlock()
	for _, h := range hs {
		h.DeliverGroup(group, msg)
	}
	return pos, nil
}

func (b *MemoryBroker) PublishToChannel(ctx context.Context, channelID string, msg *Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	hs, err := b.others(msg.Origin)
	if err != nil {
		return err
	}
	for _, h := range hs {
		if h.DeliverChannel(channelID, msg) {
			return nil
		}
	}
	return ErrNoSuchChannel
}

// PublishToChannels implements ChannelsPublisher.
func (b *MemoryBroker) PublishToChannels(ctx context.Context, channelIDs []string, msg *Message) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	hs, err := b.others(msg.Origin)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range channelIDs {
		for _, h := range hs {
			if h.DeliverChannel(id, msg) {
				n++
				break
			}
		}
	}
	return n, nil
}

func (b *MemoryBroker) PublishToUser(ctx context.Context, user string, msg *Message) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	hs, err := b.others(msg.Origin)
	n := 0
	for _, h := range hs {
		n += h.DeliverUser(user, msg)
	}
	return n, err
}

func (b *MemoryBroker) Subscribe(context.Context, Handler, string) error   { return b.check() }
func (b *MemoryBroker) Unsubscribe(context.Context, Handler, string) error { return b.check() }

func (b *MemoryBroker) History(ctx context.Context, group string, since *Position) ([]Entry, Position, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, Position{}, false, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, Position{}, false, ErrBrokerClosed
	}
	// The epoch handed out now must be the one the first message gets,
	// so that a client that saw an empty history recovers from it.
	r := b.ring(group)
	var entries []Entry
	var pos Position
	var ok bool
	b.track(r, func() { entries, pos, ok = r.since(since, b.now()) })
	return entries, pos, ok, nil
}

// ring returns the group's ring, made on first use with a new epoch: a
// group whose ring was forgotten starts again in another epoch, so that
// a position from before is never taken for one of the new ring.
// b.mu must be held.
func (b *MemoryBroker) ring(group string) *ring {
	r := b.history[group]
	if r == nil {
		r = newRing()
		b.history[group] = r
	}
	return r
}

// track runs fn, which changes r, and keeps the totals in step. b.mu must
// be held.
func (b *MemoryBroker) track(r *ring, fn func()) {
	n, bytes := len(r.entries), r.bytes
	fn()
	b.totalEntries += len(r.entries) - n
	b.totalBytes += r.bytes - bytes
}

// entryRef names a saved entry: its ring and offset.
type entryRef struct {
	r   *ring
	off uint64
}

// live reports whether the entry is still kept. A ring drops its entries
// from the oldest, so the kept ones are those from its first on.
func (e entryRef) live() bool {
	r := e.r
	return !r.forgotten && len(r.entries) > 0 && e.off >= r.entries[0].Position.Offset
}

// capTotal drops the oldest entries of all groups until the histories
// fit MaxTotalBytes. The first live reference in order is always its
// ring's oldest entry, since every entry was queued when it was added.
// b.mu must be held.
func (b *MemoryBroker) capTotal() {
	for b.maxTotal > 0 && b.totalBytes > b.maxTotal && b.orderHead < len(b.order) {
		e := b.order[b.orderHead]
		b.order[b.orderHead] = entryRef{}
		b.orderHead++
		if e.live() && e.r.entries[0].Position.Offset == e.off {
			b.track(e.r, e.r.dropOldest)
		}
	}
	b.compactOrder()
}

// compactOrder drops the references to entries that went, once they
// outnumber the live ones, so that the queue stays within a small
// multiple of the entries kept. b.mu must be held.
func (b *MemoryBroker) compactOrder() {
	if b.totalEntries == 0 {
		b.order, b.orderHead = nil, 0
		return
	}
	queued := len(b.order) - b.orderHead
	if queued <= 2*b.totalEntries+64 && b.orderHead <= len(b.order)/2 {
		return
	}
	kept := make([]entryRef, 0, b.totalEntries+16)
	for _, e := range b.order[b.orderHead:] {
		if e.live() {
			kept = append(kept, e)
		}
	}
	b.order, b.orderHead = kept, 0
}

// ExpireHistory drops the entries older than their group's age cap and
// forgets the groups that have no members (no presence), no entries and
// no use (a save or a read) for idle or longer: a forgotten group that is
// used again starts a new epoch, so that a client holding a position from
// before is told it did not recover. A ChannelBox over the broker calls
// it every Options.JanitorInterval with its HistoryTTL as idle (the
// default TTL when it has no age cap).
func (b *MemoryBroker) ExpireHistory(idle time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	for g, r := range b.history {
		if r.ttl > 0 && len(r.entries) > 0 {
			b.track(r, func() { r.trim(now, 0, r.ttl) })
		}
		if len(r.entries) == 0 && len(b.presence[g]) == 0 && now.Sub(r.touched) >= idle {
			r.forgotten = true
			delete(b.history, g)
		}
	}
	b.compactOrder()
}

func (b *MemoryBroker) FlushHistory(ctx context.Context, groups ...string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrBrokerClosed
	}
	if len(groups) == 0 {
		for _, r := range b.history {
			b.track(r, r.flush)
		}
	}
	for _, g := range groups {
		if r := b.history[g]; r != nil {
			b.track(r, r.flush)
		}
	}
	b.compactOrder()
	return nil
}

func (b *MemoryBroker) AddPresence(_ context.Context, group string, p PresenceInfo) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrBrokerClosed
	}
	m := b.presence[group]
	if m == nil {
		m = make(map[string]PresenceInfo)
		b.presence[group] = m
	}
	m[p.ChannelID] = p
	return nil
}

func (b *MemoryBroker) RemovePresence(_ context.Context, group, channelID string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrBrokerClosed
	}
	if m := b.presence[group]; m != nil {
		delete(m, channelID)
		if len(m) == 0 {
			delete(b.presence, group)
		}
	}
	return nil
}

func (b *MemoryBroker) Presence(ctx context.Context, group string) ([]PresenceInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrBrokerClosed
	}
	out := make([]PresenceInfo, 0, len(b.presence[group]))
	for _, p := range b.presence[group] {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b PresenceInfo) int {
		return cmp.Or(cmp.Compare(a.User, b.User), cmp.Compare(a.ChannelID, b.ChannelID))
	})
	return out, nil
}

func (b *MemoryBroker) Connected(_ context.Context, _ Handler, channelID, user string) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false, ErrBrokerClosed
	}
	if user == "" {
		return false, nil
	}
	m := b.users[user]
	if m == nil {
		m = make(map[string]struct{})
		b.users[user] = m
	}
	m[channelID] = struct{}{}
	return len(m) == 1, nil
}

func (b *MemoryBroker) Disconnected(_ context.Context, _ Handler, channelID, user string) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false, ErrBrokerClosed
	}
	if user == "" {
		return false, nil
	}
	m := b.users[user]
	if _, ok := m[channelID]; !ok {
		return false, nil
	}
	delete(m, channelID)
	if len(m) == 0 {
		delete(b.users, user)
		return true, nil
	}
	return false, nil
}

func (b *MemoryBroker) IsOnline(_ context.Context, user string) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false, ErrBrokerClosed
	}
	return len(b.users[user]) > 0, nil
}

func (b *MemoryBroker) OnlineUsers(context.Context) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrBrokerClosed
	}
	out := make([]string, 0, len(b.users))
	for u := range b.users {
		out = append(out, u)
	}
	slices.Sort(out)
	return out, nil
}

// HistorySize returns the entries and bytes (of their encodings) kept in
// all the groups' histories.
func (b *MemoryBroker) HistorySize() (entries, bytes int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.totalEntries, b.totalBytes
}

// Close stops the broker: every later call but Stop and Close fails with
// ErrBrokerClosed.
func (b *MemoryBroker) Close(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.handlers = nil
	return nil
}

// ring is one group's history: at most size entries no older than ttl, in
// offset order. Offsets grow by one per entry and are never reused, not
// even across a flush, which changes the epoch.
type ring struct {
	epoch    string
	entries  []Entry       // oldest first; trimmed from the front
	next     uint64        // offset of the next entry
	ttl      time.Duration // the age cap of the last add, applied on reads too
	bytes    int           // of the entries' encodings
	maxBytes int           // the byte cap of the last add
	// touched is the time of the last add or read; forgotten is set when
	// the broker drops the ring.
	touched   time.Time
	forgotten bool
}

func newRing() *ring { return &ring{epoch: newEpoch(), next: 1} }

func newEpoch() string { return rand.Text()[:12] }

func (r *ring) add(msg *Message, now time.Time, opts PublishOptions) Position {
	pos := Position{Offset: r.next, Epoch: r.epoch}
	r.next++
	msg.Position = pos
	r.entries = append(r.entries, Entry{
		ID:       r.epoch + "-" + strconv.FormatUint(pos.Offset, 10),
		Time:     now,
		Position: pos,
		Message:  msg,
	})
	r.bytes += entrySize(msg)
	r.maxBytes = opts.MaxBytes
	r.touched = now
	r.trim(now, opts.Size, opts.TTL)
	return pos
}

// entrySize is what an entry counts against PublishOptions.MaxBytes.
func entrySize(msg *Message) int { return len(msg.Data) + len(msg.Msgpack) }

func (r *ring) trim(now time.Time, size int, ttl time.Duration) {
	drop := 0
	if size > 0 && len(r.entries) > size {
		drop = len(r.entries) - size
	}
	if ttl > 0 {
		for drop < len(r.entries) && now.Sub(r.entries[drop].Time) > ttl {
			drop++
		}
	}
	bytes := r.bytes
	for _, e := range r.entries[:drop] {
		bytes -= entrySize(e.Message)
	}
	// The byte cap drops the oldest entries but always keeps the newest.
	for r.maxBytes > 0 && bytes > r.maxBytes && drop < len(r.entries)-1 {
		bytes -= entrySize(r.entries[drop].Message)
		drop++
	}
	if drop > 0 {
		clear(r.entries[:drop])
		r.entries = r.entries[drop:]
		if cap(r.entries) > 2*len(r.entries)+16 {
			r.entries = slices.Clone(r.entries)
		}
	}
	r.bytes = bytes
	r.ttl = ttl
}

// dropOldest drops the oldest entry, for the broker's total cap.
func (r *ring) dropOldest() {
	r.bytes -= entrySize(r.entries[0].Message)
	r.entries[0] = Entry{}
	r.entries = r.entries[1:]
	if cap(r.entries) > 2*len(r.entries)+16 {
		r.entries = slices.Clone(r.entries)
	}
}

func (r *ring) flush() {
	clear(r.entries)
	r.entries = nil
	r.bytes = 0
	r.epoch = newEpoch()
}

// since returns the entries after pos, the top position, and whether
// nothing after pos was lost.
func (r *ring) since(pos *Position, now time.Time) ([]Entry, Position, bool) {
	r.trim(now, 0, r.ttl)
	r.touched = now
	top := Position{Offset: r.next - 1, Epoch: r.epoch}
	if pos == nil {
		return slices.Clone(r.entries), top, false
	}
	if pos.Offset == PositionOnly {
		return nil, top, false
	}
	if pos.Epoch != r.epoch || pos.Offset > top.Offset {
		return slices.Clone(r.entries), top, false
	}
	first := r.next // offset of the oldest retained entry
	if len(r.entries) > 0 {
		first = r.entries[0].Position.Offset
	}
	i, _ := slices.BinarySearchFunc(r.entries, pos.Offset+1, func(e Entry, off uint64) int {
		return cmp.Compare(e.Position.Offset, off)
	})
	return slices.Clone(r.entries[i:]), top, pos.Offset+1 >= first
}

// ClaimOutcome implements OutcomeStore, in memory: the outcomes of the
// boxes that share the broker, at most DefaultMaxOutcomes of them and
// DefaultMaxOutcomeBytes, oldest dropped first.
func (b *MemoryBroker) ClaimOutcome(ctx context.Context, key string, ttl time.Duration) ([]byte, bool, error) {
	if err := b.check(); err != nil {
		return nil, false, err
	}
	return b.outcomes.ClaimOutcome(ctx, key, ttl)
}

// SettleOutcome implements OutcomeStore.
func (b *MemoryBroker) SettleOutcome(ctx context.Context, key string, outcome []byte, ttl time.Duration) error {
	if err := b.check(); err != nil {
		return err
	}
	return b.outcomes.SettleOutcome(ctx, key, outcome, ttl)
}
