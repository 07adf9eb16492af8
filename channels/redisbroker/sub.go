package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/switchboard-go/switchboard/channels"
)

type jobKind uint8

const (
	jobMessage jobKind = iota
	// jobSuspect marks every group as possibly having missed messages: it
	// is queued before a new connection subscribes, so it comes before
	// anything that connection delivers.
	jobSuspect
	// jobCheck fills what the suspect groups missed, from the history.
	jobCheck
	// jobCheckGroup checks one group (named by the job's channel), up
	// to the job's position when it has one.
	jobCheckGroup
)

// retryDelay is the wait before a failed gap check is tried again.
const retryDelay = 250 * time.Millisecond

type job struct {
	kind    jobKind
	channel string
	payload string
	upTo    *channels.Position
}

// groupState is what a node delivered of a group's saved messages.
type groupState struct {
	known   bool   // the position below is reliable
	epoch   string // "" while the group had no history
	last    uint64
	suspect bool
}

// subscriber holds a shard's pub/sub connection, subscribes and
// resubscribes it, and delivers what arrives on one goroutine, in order.
// It keeps the delivery state of the groups of its shard only.
type subscriber struct {
	b  *Broker
	sh *shard

	wireMu sync.Mutex              // serialises subscription changes and reconnections
	conn   rueidis.DedicatedClient // nil while down (outside a cluster)
	cw     *clusterWire            // on a cluster, nil otherwise
	chans  map[string]int          // pub/sub channel -> subscribers of this process
	ready  chan struct{}           // closed at the first connection
	once   sync.Once

	jobs    chan job
	dropped atomic.Bool
	drops   atomic.Uint64

	retrying atomic.Bool // a check is scheduled

	stateMu sync.Mutex
	state   map[string]*groupState // subscribed group -> delivery state
}

func newSubscriber(b *Broker, sh *shard) *subscriber {
	var cw *clusterWire
	if b.keys.tags != nil {
		cw = newClusterWire()
	}
	return &subscriber{
		cw:    cw,
		b:     b,
		sh:    sh,
		chans: make(map[string]int),
		ready: make(chan struct{}),
		jobs:  make(chan job, b.opts.QueueSize),
		state: make(map[string]*groupState),
	}
}

func (s *subscriber) enqueue(j job) {
	select {
	case s.jobs <- j:
	default:
		// Full: the saved messages are refilled from the history once
		// the queue drains.
		s.dropped.Store(true)
		s.drops.Add(1)
	}
}

func (s *subscriber) onMessage(m rueidis.PubSubMessage) {
	ch := s.b.keys.untag(m.Channel)
	if sole := s.b.sole.Load(); sole != nil {
		if origin, ok := unsavedOrigin(m.Message); ok && origin == *sole && strings.HasPrefix(ch, s.b.keys.groupPrefix()) {
			return // this node's own, delivered already
		}
	}
	s.enqueue(job{channel: ch, payload: m.Message})
}

// run keeps the pub/sub connection up until stop (on a cluster, the
// sharded subscriptions on their masters: runCluster).
func (s *subscriber) run(stop <-chan struct{}) {
	if s.cw != nil {
		s.runCluster(stop)
		return
	}
	const minBackoff, maxBackoff = 50 * time.Millisecond, 2 * time.Second
	backoff := minBackoff
	for {
		c, cancel := s.sh.client.Dedicate()
		wait := c.SetPubSubHooks(rueidis.PubSubHooks{OnMessage: s.onMessage})
		err := s.connect(c)
		if err == nil {
			s.once.Do(func() { close(s.ready) })
			// Redis may have lost this node's entries: write them back now
			// rather than at the next heartbeat.
			select {
			case s.sh.kick <- struct{}{}:
			default:
			}
			backoff = minBackoff
			select {
			case err = <-wait:
			case <-stop:
			}
		}
		s.wireMu.Lock()
		s.conn = nil
		s.wireMu.Unlock()
		c.Close()
		cancel()
		select {
		case <-stop:
			return
		default:
		}
		s.sh.log.Warn("redisbroker: pub/sub connection lost; reconnecting", "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			return
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// connect subscribes c to every channel wanted and makes it the
// connection.
func (s *subscriber) connect(c rueidis.DedicatedClient) error {
	s.wireMu.Lock()
	defer s.wireMu.Unlock()
	s.enqueue(job{kind: jobSuspect})
	ctx, cancel := context.WithTimeout(context.Background(), s.b.opts.Timeout)
	defer cancel()
	if err := c.Do(ctx, c.B().Ping().Build()).Error(); err != nil {
		return err
	}
	all := slices.Sorted(maps.Keys(s.chans))
	for len(all) > 0 {
		n := min(len(all), 500)
		if err := c.Do(ctx, c.B().Subscribe().Channel(all[:n]...).Build()).Error(); err != nil {
			return err
		}
		all = all[n:]
	}
	s.conn = c
	s.enqueue(job{kind: jobCheck})
	return nil
}

// add subscribes this process to a pub/sub channel; it returns once
// Redis confirmed the subscription.
func (s *subscriber) add(ch string) error {
	s.wireMu.Lock()
	defer s.wireMu.Unlock()
	return s.addLocked(ch)
}

// addLocked subscribes with the broker's own timeout, not a caller's
// context: a subscription abandoned half way would leave the channel
// counted but not subscribed.
func (s *subscriber) addLocked(ch string) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.b.opts.Timeout)
	defer cancel()
	s.chans[ch]++
	if s.chans[ch] > 1 {
		return nil
	}
	if s.cw != nil {
		return s.addCluster(ctx, ch)
	}
	if s.conn == nil {
		return ErrNotSubscribed
	}
	if err := s.conn.Do(ctx, s.conn.B().Subscribe().Channel(ch).Build()).Error(); err != nil {
		// The channel stays wanted: dropping the connection makes run
		// reconnect and subscribe to every wanted channel.
		s.conn.Close()
		if errors.Is(reach(err), channels.ErrBrokerUnavailable) {
			return fmt.Errorf("%w: %w", ErrNotSubscribed, err)
		}
		return fmt.Errorf("redisbroker: subscribe: %w", err) // refused (an ACL, say): not an outage
	}
	return nil
}

func (s *subscriber) remove(ctx context.Context, ch string) error {
	s.wireMu.Lock()
	defer s.wireMu.Unlock()
	return s.removeLocked(ctx, ch)
}

func (s *subscriber) removeLocked(ctx context.Context, ch string) error {
	if s.chans[ch] == 0 {
		return nil
	}
	s.chans[ch]--
	if s.chans[ch] > 0 {
		return nil
	}
	delete(s.chans, ch)
	if s.cw != nil {
		return s.removeCluster(ctx, ch)
	}
	if s.conn == nil {
		return nil
	}
	return s.conn.Do(ctx, s.conn.B().Unsubscribe().Channel(ch).Build()).Error()
}

// subscribeGroup subscribes to a group. Its position is read first, so
// that a saved message published before the subscription took effect
// shows as a gap, filled from the history.
func (s *subscriber) subscribeGroup(group string) error {
	s.wireMu.Lock()
	defer s.wireMu.Unlock()
	ch := s.b.keys.groupChan(group)
	if s.chans[ch] > 0 {
		s.chans[ch]++
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.b.opts.Timeout)
	defer cancel()
	before, known := s.position(ctx, group)
	s.stateMu.Lock()
	s.state[group] = &groupState{known: known, epoch: before.Epoch, last: before.Offset}
	s.stateMu.Unlock()
	if err := s.addLocked(ch); err != nil {
		return err
	}
	// A saved message published between the read and the subscription
	// is filled from the history, up to the position read now that the
	// subscription holds: what is saved later comes live, behind the
	// unsaved messages its node sent before it, which a fill reaching
	// it would overtake.
	upTo, ok := s.position(ctx, group)
	if known && ok && upTo == before {
		return nil // nothing was saved in between
	}
	j := job{kind: jobCheckGroup, channel: group}
	if ok {
		j.upTo = &upTo
	}
	s.enqueue(j)
	return nil
}

// position reads a group's epoch and last offset ("" and 0 for a group
// without a history); false when Redis could not be read.
func (s *subscriber) position(ctx context.Context, group string) (channels.Position, bool) {
	var pos channels.Position
	res, err := s.sh.client.Do(ctx, s.sh.client.B().Hmget().Key(s.b.keys.meta(group)).Field("e", "o").Build()).ToArray()
	if err != nil || len(res) != 2 {
		return pos, false
	}
	pos.Epoch, _ = res[0].ToString()
	if o, err := res[1].AsUint64(); err == nil {
		pos.Offset = o
	}
	return pos, true
}

func (s *subscriber) unsubscribeGroup(ctx context.Context, group string) error {
	s.wireMu.Lock()
	defer s.wireMu.Unlock()
	ch := s.b.keys.groupChan(group)
	if s.chans[ch] == 1 {
		s.stateMu.Lock()
		delete(s.state, group)
		s.stateMu.Unlock()
	}
	return s.removeLocked(ctx, ch)
}

// deliverLoop delivers what arrives, in arrival order, until stop.
func (s *subscriber) deliverLoop(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case j := <-s.jobs:
			s.handle(j)
		}
		if s.dropped.Swap(false) {
			s.sh.log.Warn("redisbroker: delivery queue full; messages dropped", "total", s.drops.Load())
			s.handle(job{kind: jobSuspect})
			s.handle(job{kind: jobCheck})
		}
	}
}

func (s *subscriber) handle(j job) {
	keys := s.b.keys
	switch {
	case j.kind == jobSuspect:
		s.stateMu.Lock()
		for _, st := range s.state {
			st.suspect = true
		}
		s.stateMu.Unlock()
	case j.kind == jobCheckGroup:
		s.stateMu.Lock()
		st := s.state[j.channel]
		s.stateMu.Unlock()
		if st != nil {
			st.suspect = true
			s.fill(j.channel, st, nil, j.upTo)
		}
	case j.kind == jobCheck:
		s.stateMu.Lock()
		groups := slices.Sorted(maps.Keys(s.state))
		s.stateMu.Unlock()
		for _, g := range groups {
			s.saved(g, nil)
		}
	case strings.HasPrefix(j.channel, keys.nodePrefix()):
		kind, target, msg, err := decodeNode([]byte(j.payload))
		if err != nil {
			s.sh.log.Warn("redisbroker: dropped a malformed node message", "channel", j.channel, "err", err)
			return
		}
		h := s.b.handler(strings.TrimPrefix(j.channel, keys.nodePrefix()))
		if h == nil {
			return
		}
		if kind == toChannel {
			h.DeliverChannel(target, msg)
		} else {
			h.DeliverUser(target, msg)
		}
	case strings.HasPrefix(j.channel, keys.groupPrefix()):
		group := strings.TrimPrefix(j.channel, keys.groupPrefix())
		msg, err := decodeGroup([]byte(j.payload))
		if err != nil {
			s.sh.log.Warn("redisbroker: dropped a malformed group message", "group", group, "err", err)
			return
		}
		if msg.Position.Offset != 0 {
			s.saved(group, msg)
			return
		}
		for _, h := range s.b.handlerList() {
			if h.NodeID() != msg.Origin {
				h.DeliverGroup(group, msg)
			}
		}
	}
}

func (s *subscriber) deliverAll(group string, msg *channels.Message) {
	for _, h := range s.b.handlerList() {
		h.DeliverGroup(group, msg)
	}
}

// saved delivers a saved message of group (or, with nil, only checks a
// suspect group) so that the node sees every saved message once, in
// offset order: duplicates are dropped, gaps filled from the history, and
// a gap the history cannot fill makes the box resync the group's members.
func (s *subscriber) saved(group string, msg *channels.Message) {
	s.stateMu.Lock()
	st := s.state[group]
	s.stateMu.Unlock()
	if st == nil { // not subscribed any more
		if msg != nil {
			s.deliverAll(group, msg)
		}
		return
	}
	if st.suspect || (msg != nil && st.known && st.epoch == "") {
		if !s.fill(group, st, msg, nil) && msg != nil {
			s.lost(group, st, msg)
			return
		}
	}
	if msg == nil {
		return
	}
	pos := msg.Position
	switch {
	case !st.known || st.epoch != pos.Epoch:
		// First message of an unknown state, or the history was flushed.
	case pos.Offset <= st.last:
		return // delivered already
	case pos.Offset > st.last+1:
		if !s.fill(group, st, msg, nil) {
			s.lost(group, st, msg)
			return
		}
		if pos.Offset <= st.last {
			return
		}
	}
	s.deliverAll(group, msg)
	st.known, st.epoch, st.last = true, pos.Epoch, pos.Offset
}

// lost handles a gap before msg that the history could not be read to
// fill: the members are resynchronised (they rejoin from their positions
// and recover from the history themselves), and delivery goes on from msg.
func (s *subscriber) lost(group string, st *groupState, msg *channels.Message) {
	s.resync(group)
	s.deliverAll(group, msg)
	st.known, st.epoch, st.last, st.suspect = true, msg.Position.Epoch, msg.Position.Offset, false
}

func (s *subscriber) resync(group string) {
	for _, h := range s.b.handlerList() {
		h.ResyncGroup(group)
	}
}

// retryCheck schedules a check of the suspect groups soon, unless one is
// scheduled already.
func (s *subscriber) retryCheck() {
	if s.retrying.CompareAndSwap(false, true) {
		time.AfterFunc(retryDelay, func() {
			s.retrying.Store(false)
			s.enqueue(job{kind: jobCheck})
		})
	}
}

// fill delivers the saved messages of group after st's position (and
// before msg, or up to upTo, when given) from the history; false when the
// history could not be read (a check without msg is then retried soon).
func (s *subscriber) fill(group string, st *groupState, msg *channels.Message, upTo *channels.Position) bool {
	ctx, cancel := context.WithTimeout(context.Background(), s.b.opts.Timeout)
	defer cancel()
	since := &channels.Position{Offset: st.last, Epoch: st.epoch}
	if st.epoch == "" && msg != nil {
		since.Epoch = msg.Position.Epoch // the first epoch the group had
	}
	if !st.known {
		since = nil
	}
	entries, top, complete, err := s.b.history(ctx, group, since)
	if err != nil {
		s.sh.log.Warn("redisbroker: cannot read history to fill a gap", "group", group, "err", err)
		st.suspect = true
		if msg == nil {
			s.retryCheck()
		}
		return false
	}
	st.suspect = false
	if msg == nil && since != nil && st.epoch != "" && st.last == 0 && top.Epoch != st.epoch && top.Offset == 0 {
		// The epoch changed (the history was flushed, or Redis lost its
		// data) before the node saw a saved message of the old one, and
		// nothing was saved in the new one: there is nothing to recover,
		// so the members stay. Without this, every group would close its
		// members when Redis restarts empty, rooms that never saved a
		// message too. (A new epoch with entries may be an old snapshot
		// of Redis's, and a message on its way, msg, may be of the old
		// epoch: both are resynchronised as before.)
		st.epoch, complete = top.Epoch, true
	}
	if since != nil && since.Epoch == top.Epoch && since.Offset > top.Offset {
		// Redis went back in its offsets without a new epoch: a replica
		// that had not received the last saved messages took over from
		// its master (or a server restarted from an old snapshot). The
		// offsets after top go to other messages now, which a client at
		// a later position would drop as ones it has: the group starts a
		// new epoch, so that every member and every rejoin is told.
		s.resync(group)
		// A few tries: the members just resynced may leave the group
		// before a later check would try again. (The connections were
		// just re-established; a stale one fails at once.)
		var err error
		for try := 0; try < 3; try++ {
			if err = s.b.flush(ctx, s.sh, group); err == nil || ctx.Err() != nil {
				break
			}
			time.Sleep(retryDelay / 5)
		}
		if err != nil {
			// The position stays, so that the next check finds the
			// offsets gone back again and tries once more.
			s.sh.log.Warn("redisbroker: cannot start a new epoch after Redis lost saved messages", "group", group, "err", err)
			st.suspect = true
			s.retryCheck()
			return true
		}
		st.known = false
		return true
	}
	if since == nil || (!complete && st.epoch != "") {
		if since != nil {
			s.resync(group)
		}
		st.known, st.epoch, st.last = true, top.Epoch, top.Offset
		if msg != nil && msg.Position.Epoch == top.Epoch {
			st.last = min(st.last, msg.Position.Offset-1)
		}
		if upTo != nil && upTo.Epoch == top.Epoch {
			st.last = min(st.last, upTo.Offset)
		}
		return true
	}
	for _, e := range entries {
		if msg != nil && e.Position.Offset >= msg.Position.Offset {
			break
		}
		if upTo != nil && (e.Position.Epoch != upTo.Epoch || e.Position.Offset > upTo.Offset) {
			break // later ones come live
		}
		if e.Position.Offset <= st.last && st.epoch == e.Position.Epoch {
			continue
		}
		s.deliverAll(group, e.Message)
		st.known, st.epoch, st.last = true, e.Position.Epoch, e.Position.Offset
	}
	if msg == nil && st.epoch == "" {
		st.epoch = top.Epoch
	}
	return true
}
