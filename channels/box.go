package channels

import (
	"context"
	"crypto/rand"
	"hash/maphash"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/switchboard-go/switchboard/internal/ownstack"
	"github.com/switchboard-go/switchboard/websocket"
)

// brokerTimeout bounds the broker calls the box makes on its own behalf
// (removing a closed channel), which have no caller's context.
const brokerTimeout = 5 * time.Second

// ChannelBox is the registry of a program's channels: groups with history,
// sends to a channel or a user from anywhere, presence and expiry. Create
// one with NewBox and hand it to whoever needs it; stop it with Close. All
// methods are safe for concurrent use.
type ChannelBox struct {
	opts      Options
	broker    Broker
	ownBroker bool
	handler   *boxHandler
	seed      maphash.Seed

	mu       sync.RWMutex
	channels map[string]*Channel
	groups   map[string]*memberSet
	users    map[string]map[*Channel]struct{} // local channels by user
	reserved sync.Map                         // group names reserved with ReserveGroup
	closed   bool

	userLocks [64]sync.Mutex // serialise each user's connects and disconnects
	sendLocks [64]sync.Mutex // serialise each group's history appends with local delivery

	events    *dispatcher
	stop      chan struct{}
	closeDone chan struct{} // closed when the first Close is over
	closeErr  error
	wg        sync.WaitGroup // janitor, dispatcher, expiry closes
}

// memberSet is one group's local members.
type memberSet struct {
	mu      sync.RWMutex
	members []*Channel
	index   map[*Channel]int
	// replayed holds, for members that joined with JoinWithHistory, the
	// top of the history they were given.
	replayed map[*Channel]Position
}

// NewBox returns a running box; see Options for the defaults.
func NewBox(opts *Options) *ChannelBox {
	o := opts.resolve()
	b := &ChannelBox{
		opts:      o,
		broker:    o.Broker,
		seed:      maphash.MakeSeed(),
		channels:  make(map[string]*Channel),
		groups:    make(map[string]*memberSet),
		users:     make(map[string]map[*Channel]struct{}),
		stop:      make(chan struct{}),
		closeDone: make(chan struct{}),
	}
	if b.broker == nil {
		b.broker = NewMemoryBroker(&MemoryBrokerOptions{Now: o.Now, MaxTotalBytes: o.HistoryMaxBytesTotal})
		b.ownBroker = true
	}
	b.handler = &boxHandler{b: b, id: rand.Text()}
	if err := b.broker.Start(b.handler); err != nil {
		o.Logger.Error("channels: broker start failed", "err", err)
	}
	b.events = newDispatcher(o.OnOnline, o.OnOffline)
	b.wg.Add(2)
	go func() { defer b.wg.Done(); b.events.run(b.stop) }()
	go func() { defer b.wg.Done(); b.janitor() }()
	return b
}

// NodeID returns the id that tells this box from the other nodes sharing
// its broker.
func (b *ChannelBox) NodeID() string { return b.handler.id }

// Broker returns the box's broker.
func (b *ChannelBox) Broker() Broker { return b.broker }

// Register adds a connected WebSocket to the box and returns its Channel.
// The channel leaves the box by itself when the connection ends: from every
// group, the user index and presence.
func (b *ChannelBox) Register(ws *websocket.WebSocket, opts *RegisterOptions) (ch *Channel, err error) {
	ownstack.Run(func() { ch, err = b.register(ws, opts) })
	return ch, err
}

func (b *ChannelBox) register(ws *websocket.WebSocket, opts *RegisterOptions) (*Channel, error) {
	var o RegisterOptions
	if opts != nil {
		o = *opts
	}
	if o.User == "" {
		o.User = ws.User()
	}
	if !ws.IsConnected() {
		return nil, ErrNotConnected
	}
	ch := &Channel{
		id:           ws.ID(),
		ws:           ws,
		typ:          o.PayloadType,
		opts:         o,
		lastActivity: ws.Activity(),
		lastSeen:     b.opts.Now().UnixNano(),
	}
	// The channel's opMu, and its user's lock, are held from the local
	// insertion to the broker's answer, so that a removal racing this
	// registration (an eviction, a close) reaches the broker after it, and
	// OnOffline comes after OnOnline.
	ch.opMu.Lock()
	var mu *sync.Mutex
	if o.User != "" {
		mu = b.userLock(o.User)
		mu.Lock()
	}
	err := b.insert(ch)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
		b.userEventLocked(ctx, ch, true)
		cancel()
	}
	if mu != nil {
		mu.Unlock()
	}
	ch.opMu.Unlock()
	if err != nil {
		return nil, err
	}
	ws.OnClose(func() { b.remove(ch) })
	return ch, nil
}

// insert adds ch to the registry and its user's index.
func (b *ChannelBox) insert(ch *Channel) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return ErrBoxClosed
	case b.channels[ch.id] != nil:
		return ErrAlreadyRegistered
	}
	b.channels[ch.id] = ch
	if u := ch.opts.User; u != "" {
		m := b.users[u]
		if m == nil {
			m = make(map[*Channel]struct{})
			b.users[u] = m
		}
		m[ch] = struct{}{}
	}
	return nil
}

// Channel returns the local channel with the given id.
func (b *ChannelBox) Channel(id string) (*Channel, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	ch, ok := b.channels[id]
	return ch, ok
}

// remove takes a channel out of the box: groups, users, presence. A call
// that finds the channel being removed waits until that removal is done.
func (b *ChannelBox) remove(ch *Channel) {
	ch.opMu.Lock()
	defer ch.opMu.Unlock()
	b.mu.Lock()
	if ch.removed {
		b.mu.Unlock()
		return
	}
	ch.removed = true
	delete(b.channels, ch.id)
	var emptied []string
	left := ch.groups
	ch.groups = nil
	for _, name := range left {
		if b.leaveLocked(ch, name) {
			emptied = append(emptied, name)
		}
	}
	if u := ch.opts.User; u != "" {
		delete(b.users[u], ch)
		if len(b.users[u]) == 0 {
			delete(b.users, u)
		}
	}
	b.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
	defer cancel()
	for _, name := range left {
		if err := b.broker.RemovePresence(ctx, name, ch.id); err != nil {
			b.opts.Logger.Warn("channels: presence removal failed", "group", name, "err", err)
		}
	}
	for _, name := range emptied {
		if err := b.broker.Unsubscribe(ctx, b.handler, name); err != nil {
			b.opts.Logger.Warn("channels: unsubscribe failed", "group", name, "err", err)
		}
	}
	b.userEvent(ctx, ch, false)
}

func (b *ChannelBox) userLock(user string) *sync.Mutex {
	return &b.userLocks[maphash.String(b.seed, user)%uint64(len(b.userLocks))]
}

// userEvent records a channel coming or going with the broker and queues
// OnOnline/OnOffline, holding the user's lock so that the events of one
// user are queued in the order the broker saw them.
func (b *ChannelBox) userEvent(ctx context.Context, ch *Channel, connected bool) {
	if ch.opts.User != "" {
		mu := b.userLock(ch.opts.User)
		mu.Lock()
		defer mu.Unlock()
	}
	b.userEventLocked(ctx, ch, connected)
}

// userEventLocked is userEvent for a caller that holds the user's lock.
func (b *ChannelBox) userEventLocked(ctx context.Context, ch *Channel, connected bool) {
	user := ch.opts.User
	var edge bool
	var err error
	if connected {
		edge, err = b.broker.Connected(ctx, b.handler, ch.id, user)
	} else {
		edge, err = b.broker.Disconnected(ctx, b.handler, ch.id, user)
	}
	if err != nil {
		b.opts.Logger.Warn("channels: connection record update failed", "channel", ch.id, "user", user, "err", err)
		return
	}
	if edge && user != "" {
		b.events.push(event{user: user, online: connected})
	}
}

// CloseAll closes every channel exactly once with code and reason, many at
// a time, and returns when all are closed and out of the box. If ctx ends
// first, the channels not closed yet are aborted (dropped without the
// closing handshake) and ctx.Err() is returned.
func (b *ChannelBox) CloseAll(ctx context.Context, code websocket.StatusCode, reason string) error {
	return b.closeChannels(ctx, b.snapshot(), code, reason, 0, 0)
}

func (b *ChannelBox) snapshot() []*Channel {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]*Channel, 0, len(b.channels))
	for _, ch := range b.channels {
		out = append(out, ch)
	}
	return out
}

// closeChannels closes chs in batches of batch (all at once when 0), with a
// random pause of up to jitter between batches, each channel removed from
// the box before it counts as closed. When ctx ends, every channel of chs
// still open is aborted.
func (b *ChannelBox) closeChannels(ctx context.Context, chs []*Channel, code websocket.StatusCode, reason string, batch int, jitter time.Duration) error {
	if batch <= 0 {
		batch = len(chs)
	}
	const parallel = 64
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	abort := func() error {
		for _, ch := range chs {
			ch.ws.Abort()
		}
		wg.Wait()
		for _, ch := range chs {
			b.remove(ch)
		}
		return ctx.Err()
	}
	for start := 0; start < len(chs); start += batch {
		if start > 0 && jitter > 0 {
			t := time.NewTimer(mrand.N(jitter))
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return abort()
			}
		}
		for _, ch := range chs[start:min(start+batch, len(chs))] {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return abort()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				ch.ws.Close(code, reason) //nolint:errcheck // code is valid
				b.remove(ch)
				<-sem
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			return abort()
		}
	}
	return nil
}

// Close stops the box: no more registrations or sends, the janitor stops,
// and every connection is closed with websocket.StatusShutdown in batches of
// Options.DrainBatch with random pauses of up to Options.DrainJitter, so
// that clients do not all reconnect at once; each leaves the box (and the
// broker's presence) before Close returns. If ctx ends first, the rest are
// aborted and ctx.Err() is returned. OnOnline and OnOffline callbacks still
// queued run before Close returns, so they must not call Close. A default
// broker is closed with the box. Later calls wait for the first and return
// its result.
func (b *ChannelBox) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		<-b.closeDone
		return b.closeErr
	}
	b.closed = true
	b.mu.Unlock()
	chs := b.snapshot()
	mrand.Shuffle(len(chs), func(i, j int) { chs[i], chs[j] = chs[j], chs[i] })
	err := b.closeChannels(ctx, chs, websocket.StatusShutdown, "server shutting down", b.opts.DrainBatch, b.opts.DrainJitter)
	close(b.stop)
	b.wg.Wait()
	b.broker.Stop(b.handler)
	if b.ownBroker {
		if cerr := b.broker.Close(ctx); err == nil {
			err = cerr
		}
	}
	b.closeErr = err
	close(b.closeDone)
	return err
}

func (b *ChannelBox) isClosed() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.closed
}

// boxHandler is the box's side that the broker delivers to.
type boxHandler struct {
	b  *ChannelBox
	id string
}

func (h *boxHandler) NodeID() string { return h.id }

func (h *boxHandler) DeliverGroup(group string, msg *Message) int {
	n, err := h.b.deliverGroup(group, msg)
	if err != nil {
		h.b.opts.Logger.Warn("channels: a group message could not be encoded for some members", "group", group, "err", err)
	}
	return n
}

func (h *boxHandler) DeliverChannel(id string, msg *Message) bool {
	ch, ok := h.b.Channel(id)
	if !ok {
		return false
	}
	ch.deliver(msg) //nolint:errcheck // a closed channel is leaving anyway
	return true
}

func (h *boxHandler) DeliverUser(user string, msg *Message) int {
	n, err := h.b.deliverUser(user, msg)
	if err != nil {
		h.b.opts.Logger.Warn("channels: a user message could not be encoded", "user", user, "err", err)
	}
	return n
}

func (h *boxHandler) DeliverOffline(user string) {
	mu := h.b.userLock(user)
	mu.Lock()
	h.b.events.push(event{user: user, online: false})
	mu.Unlock()
}

func (h *boxHandler) DeliverPresenceGone(group string, gone []PresenceInfo) {
	if fn := h.b.opts.OnPresenceGone; fn != nil && len(gone) > 0 {
		h.b.spawn(func() { fn(group, gone) })
	}
}

func (h *boxHandler) ResyncGroup(group string) {
	b := h.b
	chs := b.Members(group)
	if len(chs) == 0 {
		return
	}
	b.opts.Logger.Warn("channels: saved messages lost; closing the group's members so that they rejoin", "group", group, "members", len(chs))
	b.spawn(func() {
		ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
		defer cancel()
		b.closeChannels(ctx, chs, websocket.StatusServiceRestart, "messages lost, rejoin", 0, 0) //nolint:errcheck // aborted on timeout
	})
}

// spawn runs fn on a goroutine that Close waits for, unless the box is
// closed.
func (b *ChannelBox) spawn(fn func()) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.wg.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.wg.Done()
		fn()
	}()
}

// event is an OnOnline or OnOffline call waiting its turn.
type event struct {
	user   string
	online bool
}

// dispatcher runs the user callbacks on one goroutine, in queue order.
type dispatcher struct {
	onOnline, onOffline func(string)
	mu                  sync.Mutex
	queue               []event
	wake                chan struct{}
}

func newDispatcher(on, off func(string)) *dispatcher {
	return &dispatcher{onOnline: on, onOffline: off, wake: make(chan struct{}, 1)}
}

func (d *dispatcher) push(e event) {
	if d.onOnline == nil && d.onOffline == nil {
		return
	}
	d.mu.Lock()
	d.queue = append(d.queue, e)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) run(stop <-chan struct{}) {
	for {
		select {
		case <-d.wake:
			d.drain()
		case <-stop:
			d.drain()
			return
		}
	}
}

func (d *dispatcher) drain() {
	for {
		d.mu.Lock()
		q := d.queue
		d.queue = nil
		d.mu.Unlock()
		if len(q) == 0 {
			return
		}
		for _, e := range q {
			switch {
			case e.online && d.onOnline != nil:
				d.onOnline(e.user)
			case !e.online && d.onOffline != nil:
				d.onOffline(e.user)
			}
		}
	}
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
