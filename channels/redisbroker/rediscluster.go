package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/switchboard-go/switchboard/internal/clusternodes"
)

// This file holds what the broker does differently on Redis Cluster: its
// client, the partition table every node shares, and the pub/sub side of
// the subscriber, which keeps one connection per master that owns a slot
// of a wanted sharded channel.
//
// The whole cluster is one shard of the broker: one client (rueidis's
// cluster client routes each command to its slot's master and splits a
// DoMulti by slot, so the publish pipeline still writes a batch in one
// round trip to each master), one pipeline, one subscriber and one
// heartbeat. The masters change under a running broker (failover,
// resharding), which fixed shards of their own could not follow; and a
// shard per partition would mean 128 subscribers, connections and
// heartbeats where one of each per master suffices. What must stay per
// master is done inside the one shard: the subscriber's connections (here)
// and the pipeline's refusal of a dead master's partitions (pipeline.go).

// clusterCheck is the interval of the subscriber's topology check: it
// reads the slot map and moves the subscriptions of sharded channels
// whose slot changed master.
const clusterCheck = time.Second

// tableKey is the key of a cluster's partition table: the partitions'
// hash tags, comma-separated, written once by the first node that finds
// none (so that every node of the cluster uses the same tags, whatever
// slot map it saw at start) and kept for the life of the cluster.
func (k keys) tableKey() string { return k.p + "partitions" }

// clusterSeeds checks Options.Cluster.
func clusterSeeds(o *Options) ([]string, error) {
	if o.Addr != "" || len(o.Shards) > 0 {
		return nil, errors.New("redisbroker: Options.Cluster is set with Options.Addr or Options.Shards; set one")
	}
	for i, a := range o.Cluster {
		if a == "" {
			return nil, fmt.Errorf("redisbroker: Options.Cluster[%d] is empty", i)
		}
	}
	return slices.Clone(o.Cluster), nil
}

// newClusterClient makes the client of a Redis Cluster from its seed
// addresses: the options of the first (a URL's user and password, TLS)
// with the addresses of all.
func newClusterClient(seeds []string, o *Options) (rueidis.Client, error) {
	var co rueidis.ClientOption
	for i, addr := range seeds {
		c, err := clientOption(addr, o)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			co = c
			continue
		}
		co.InitAddress = append(co.InitAddress, c.InitAddress...)
	}
	// rueidis refreshes its slot map on MOVED and on errors; this also
	// finds a failover that no command ran into.
	co.ClusterOption.ShardsRefreshInterval = 5 * clusterCheck
	if o.Configure != nil {
		o.Configure(&co)
	}
	client, err := rueidis.NewClient(co)
	if err != nil {
		return nil, fmt.Errorf("redisbroker: connecting to the cluster: %w", reach(err))
	}
	if client.Mode() != rueidis.ClientModeCluster {
		client.Close()
		return nil, errors.New("redisbroker: Options.Cluster names a server that is not in cluster mode")
	}
	return client, nil
}

// loadTags reads the cluster's partition table, or makes it from the
// slot map when the cluster has none.
func loadTags(ctx context.Context, c rueidis.Client, k keys, n int) ([]string, error) {
	for range 2 {
		s, err := c.Do(ctx, c.B().Get().Key(k.tableKey()).Build()).ToString()
		if err == nil {
			tags, err := parseTags(s, n)
			if err != nil {
				return nil, fmt.Errorf("%w (key %s)", err, k.tableKey())
			}
			return tags, nil
		}
		if !rueidis.IsRedisNil(err) {
			return nil, fmt.Errorf("redisbroker: reading the partition table: %w", reach(err))
		}
		slots, err := slotMap(ctx, c)
		if err != nil {
			return nil, err
		}
		tags, err := partitionTags(n, slots)
		if err != nil {
			return nil, err
		}
		// NX: of nodes starting together, the first one's table holds.
		err = c.Do(ctx, c.B().Set().Key(k.tableKey()).Value(strings.Join(tags, ",")).Nx().Build()).Error()
		if err != nil && !rueidis.IsRedisNil(err) {
			return nil, fmt.Errorf("redisbroker: writing the partition table: %w", reach(err))
		}
	}
	return nil, errors.New("redisbroker: the partition table vanished as it was written")
}

// parseTags reads a partition table: n tags, comma-separated, each a
// non-empty run of bytes without braces.
func parseTags(s string, n int) ([]string, error) {
	tags := strings.Split(s, ",")
	if len(tags) != n {
		return nil, fmt.Errorf("redisbroker: the cluster's partition table has %d partitions, Options.Partitions is %d", len(tags), n)
	}
	for i, t := range tags {
		if t == "" || strings.ContainsAny(t, "{}") {
			return nil, fmt.Errorf("redisbroker: the cluster's partition table has a bad tag at %d", i)
		}
	}
	return tags, nil
}

// slotMap reads the slot map from a node of the cluster.
func slotMap(ctx context.Context, c rueidis.Client) ([]slotRange, error) {
	out, err := c.Do(ctx, c.B().ClusterNodes().Build()).ToString()
	if err != nil {
		return nil, fmt.Errorf("redisbroker: reading the slot map: %w", reach(err))
	}
	return clusternodes.Parse(out)
}

// ownerOf is the master of a slot in a slot map ordered by start; "" when
// no master owns it.
func ownerOf(slots []slotRange, slot int) string {
	i, _ := slices.BinarySearchFunc(slots, slot, func(r slotRange, s int) int {
		if r.End < s {
			return -1
		}
		if r.Start > s {
			return 1
		}
		return 0
	})
	if i < len(slots) && slots[i].Start <= slot && slot <= slots[i].End {
		return slots[i].Master
	}
	return ""
}

// clusterWire is the pub/sub side of a subscriber on Redis Cluster: one
// dedicated connection per master that owns the slot of a wanted sharded
// channel, and each such channel subscribed (SSUBSCRIBE) on its slot's
// master. The subscriber's wireMu guards it, but for lost.
type clusterWire struct {
	slots      []slotRange            // the slot map as last read
	conns      map[string]*masterConn // by master address
	on         map[string]*masterConn // sharded channel -> where it is subscribed
	kick       chan struct{}          // asks for a topology check now
	failing    bool                   // the last check could not read the slot map
	subFailing bool                   // the last check left a wanted channel unsubscribed
	wg         sync.WaitGroup         // the watchers of the connections

	lostMu sync.Mutex
	lost   []lostSub // subscriptions a server ended (sunsubscribe pushes)
}

type masterConn struct {
	addr string
	dc   rueidis.DedicatedClient
	gone chan struct{} // closed when the connection is closed or broke
}

func (mc *masterConn) broken() bool {
	select {
	case <-mc.gone:
		return true
	default:
		return false
	}
}

type lostSub struct {
	mc *masterConn
	ch string
}

func newClusterWire() *clusterWire {
	return &clusterWire{
		conns: make(map[string]*masterConn),
		on:    make(map[string]*masterConn),
		kick:  make(chan struct{}, 1),
	}
}

func (w *clusterWire) kickNow() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// up reports whether every wanted channel is subscribed (wireMu held).
func (w *clusterWire) up(wanted map[string]int) bool {
	return w.slots != nil && len(w.on) == len(wanted)
}

// runCluster keeps the sharded subscriptions on their masters until
// stop: at every topology check, connection loss or sunsubscribe push.
func (s *subscriber) runCluster(stop <-chan struct{}) {
	w := s.cw
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-stop:
			s.wireMu.Lock()
			for _, mc := range w.conns {
				mc.dc.Close()
			}
			s.wireMu.Unlock()
			w.wg.Wait()
			return
		case <-t.C:
		case <-w.kick:
		}
		next := clusterCheck
		if !s.syncCluster() {
			next = retryDelay
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(next)
	}
}

// syncCluster reads the slot map and subscribes every wanted channel on
// the master of its slot, moving those whose master changed and those
// whose connection broke or whose server ended the subscription. The
// groups are marked suspect before the new subscriptions and checked
// against their histories after them, as after a reconnection: what was
// published while a channel moved is filled or its members resynced. It
// returns false when a wanted channel is left unsubscribed.
func (s *subscriber) syncCluster() bool {
	w := s.cw
	ctx, cancel := context.WithTimeout(context.Background(), s.b.opts.Timeout)
	defer cancel()
	// Read before taking wireMu: a node that does not answer must not
	// hold up subscriptions meanwhile.
	slots, slotErr := slotMap(ctx, s.sh.client)
	s.wireMu.Lock()
	defer s.wireMu.Unlock()
	for addr, mc := range w.conns {
		if mc.broken() {
			delete(w.conns, addr)
		}
	}
	w.lostMu.Lock()
	lost := w.lost
	w.lost = nil
	w.lostMu.Unlock()
	for _, l := range lost {
		if w.on[l.ch] == l.mc {
			delete(w.on, l.ch)
		}
	}
	for ch, mc := range w.on {
		if w.conns[mc.addr] != mc {
			delete(w.on, ch)
		}
	}
	if slotErr != nil {
		if !w.failing {
			s.sh.log.Warn("redisbroker: cluster topology check failed; trying again", "err", slotErr)
		}
		w.failing = true
		return w.up(s.chans)
	}
	if w.failing {
		s.sh.log.Info("redisbroker: cluster topology check back")
	}
	w.failing = false
	w.slots = slots
	s.once.Do(func() { close(s.ready) })
	complete := true
	want := map[string][]string{}
	for ch := range s.chans {
		owner := ownerOf(slots, keySlot(ch))
		mc := w.on[ch]
		if mc != nil && mc.addr == owner {
			continue
		}
		if mc != nil {
			delete(w.on, ch)
			mc.dc.Do(ctx, mc.dc.B().Sunsubscribe().Channel(ch).Build()) //nolint:errcheck // moving anyway
		}
		if owner == "" {
			complete = false
			continue
		}
		want[owner] = append(want[owner], ch)
	}
	defer w.closeIdle()
	if len(want) == 0 {
		return complete
	}
	s.enqueue(job{kind: jobSuspect})
	// A new master may have lost this node's entries: write them back
	// now rather than at the next heartbeat.
	select {
	case s.sh.kick <- struct{}{}:
	default:
	}
	for _, owner := range slices.Sorted(maps.Keys(want)) {
		chs := want[owner]
		slices.Sort(chs)
		for len(chs) > 0 {
			n := min(len(chs), 500)
			if err := s.ssubscribe(ctx, owner, chs[:n]...); err != nil {
				if !w.subFailing {
					s.sh.log.Warn("redisbroker: sharded subscription failed; trying again", "err", err)
				}
				complete = false
				break
			}
			chs = chs[n:]
		}
	}
	if complete && w.subFailing {
		s.sh.log.Info("redisbroker: sharded subscriptions back")
	}
	w.subFailing = !complete
	s.enqueue(job{kind: jobCheck})
	return complete
}

// closeIdle closes the connections to masters that hold no wanted
// channel any more (their slots moved away), wireMu held.
func (w *clusterWire) closeIdle() {
	used := make(map[*masterConn]bool, len(w.conns))
	for _, mc := range w.on {
		used[mc] = true
	}
	for addr, mc := range w.conns {
		if !used[mc] {
			mc.dc.Close()
			delete(w.conns, addr)
		}
	}
}

// ssubscribe subscribes channels on the connection to master addr,
// making it if there is none (wireMu held).
func (s *subscriber) ssubscribe(ctx context.Context, addr string, chs ...string) error {
	w := s.cw
	mc := w.conns[addr]
	if mc != nil && mc.broken() {
		mc = nil // the topology check forgets it
	}
	if mc == nil {
		node := s.sh.client.Nodes()[addr]
		if node == nil {
			// The client has not learnt of the master yet (a replica just
			// took over); its slot map is refreshed on errors and every
			// few seconds.
			return fmt.Errorf("no connection to master %s yet", addr)
		}
		dc, release := node.Dedicate()
		mc = &masterConn{addr: addr, dc: dc, gone: make(chan struct{})}
		wait := dc.SetPubSubHooks(rueidis.PubSubHooks{
			OnMessage: s.onMessage,
			OnSubscription: func(p rueidis.PubSubSubscription) {
				if p.Kind != "sunsubscribe" {
					return
				}
				w.lostMu.Lock()
				w.lost = append(w.lost, lostSub{mc, p.Channel})
				w.lostMu.Unlock()
				w.kickNow()
			},
		})
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			<-wait
			close(mc.gone)
			dc.Close()
			release()
			w.kickNow()
		}()
		w.conns[addr] = mc
	}
	// One SSUBSCRIBE per slot, as Redis requires, all in one round trip.
	bySlot := map[int][]string{}
	for _, ch := range chs {
		bySlot[keySlot(ch)] = append(bySlot[keySlot(ch)], ch)
	}
	cmds := make(rueidis.Commands, 0, len(bySlot))
	slots := slices.Sorted(maps.Keys(bySlot))
	for _, slot := range slots {
		cmds = append(cmds, mc.dc.B().Ssubscribe().Channel(bySlot[slot]...).Build())
	}
	var first error
	for i, r := range mc.dc.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			if _, refused := rueidis.IsRedisErr(err); !refused {
				mc.dc.Close() // broken: the watcher drops it
			}
			if first == nil {
				first = err
			}
			continue
		}
		for _, ch := range bySlot[slots[i]] {
			w.on[ch] = mc
		}
	}
	if first != nil {
		w.kickNow()
	}
	return first
}

// addCluster subscribes one channel on its slot's master, as last read
// (wireMu held); on failure the channel stays wanted and the next
// topology check subscribes it.
func (s *subscriber) addCluster(ctx context.Context, ch string) error {
	owner := ownerOf(s.cw.slots, keySlot(ch))
	if owner == "" {
		s.cw.kickNow()
		return ErrNotSubscribed
	}
	if err := s.ssubscribe(ctx, owner, ch); err != nil {
		return fmt.Errorf("%w: %w", ErrNotSubscribed, err)
	}
	return nil
}

// removeCluster unsubscribes one channel (wireMu held).
func (s *subscriber) removeCluster(ctx context.Context, ch string) error {
	mc := s.cw.on[ch]
	delete(s.cw.on, ch)
	if mc == nil || mc.broken() {
		return nil
	}
	return mc.dc.Do(ctx, mc.dc.B().Sunsubscribe().Channel(ch).Build()).Error()
}

// masterClients are the clients of the cluster's masters, for the calls
// that must reach every one (a scan).
func (b *Broker) masterClients(ctx context.Context, c rueidis.Client) ([]rueidis.Client, error) {
	slots, err := slotMap(ctx, c)
	if err != nil {
		return nil, err
	}
	nodes := c.Nodes()
	var out []rueidis.Client
	var seen []string
	for _, r := range slots {
		if slices.Contains(seen, r.Master) {
			continue
		}
		seen = append(seen, r.Master)
		n := nodes[r.Master]
		if n == nil {
			return nil, &unavailable{fmt.Errorf("redisbroker: no connection to master %s yet", r.Master)}
		}
		out = append(out, n)
	}
	return out, nil
}

// toChannelCluster is toChannelScript on a cluster, where the channel's
// record and its node's channel are in different slots: it reads the
// node, then publishes to it. It returns how many subscribers the
// message reached (0 when no other live node holds the channel).
func (b *Broker) toChannelCluster(ctx context.Context, channelID string, payload []byte, origin string) (int64, error) {
	c := b.shards[0].client
	node, err := c.Do(ctx, c.B().Get().Key(b.keys.conn(channelID)).Build()).ToString()
	if rueidis.IsRedisNil(err) || (err == nil && node == origin) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return c.Do(ctx, c.B().Spublish().Channel(b.keys.nodeChan(node)).Message(rueidis.BinaryString(payload)).Build()).AsInt64()
}

// toUserCluster is toUserScript on a cluster: it reads the user's other
// nodes, then publishes to each in one round trip. It returns how many
// channels the nodes reached hold.
func (b *Broker) toUserCluster(ctx context.Context, user string, payload []byte, origin string) (int64, error) {
	c := b.shards[0].client
	res, err := userNodes.Exec(ctx, c, []string{b.keys.user(user)}, []string{origin}).ToArray()
	if err != nil {
		return 0, err
	}
	if len(res)%2 != 0 {
		return 0, errors.New("unexpected reply")
	}
	counts := make([]int64, 0, len(res)/2)
	cmds := make(rueidis.Commands, 0, len(res)/2)
	for i := 0; i < len(res); i += 2 {
		node, err1 := res[i].ToString()
		count, err2 := res[i+1].AsInt64()
		if err := errors.Join(err1, err2); err != nil {
			return 0, err
		}
		counts = append(counts, count)
		cmds = append(cmds, c.B().Spublish().Channel(b.keys.nodeChan(node)).Message(rueidis.BinaryString(payload)).Build())
	}
	var n int64
	for i, r := range c.DoMulti(ctx, cmds...) {
		got, err := r.AsInt64()
		if err != nil {
			return n, err
		}
		if got > 0 {
			n += counts[i]
		}
	}
	return n, nil
}
