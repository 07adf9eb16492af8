// Package redisbroker is a channels.Broker over Redis: boxes in many
// processes that share one Redis (or the same few, see Shards below)
// behave as one ChannelBox. Group messages travel over pub/sub, saved
// messages are appended to a stream per group (offsets and epochs
// consistent across nodes), presence and the online users are sorted
// sets whose entries expire unless their node's heartbeat refreshes them,
// so that a node that dies without cleaning up drops out within
// Options.PresenceTTL.
//
// It needs Redis 6.2 or later, a single server (or a primary) per shard,
// or a Redis Cluster of Redis 7 or later (Options.Cluster; see "Redis
// Cluster" below). It is the only package of the module that imports a
// Redis client (github.com/redis/rueidis, for its automatic pipelining).
//
// Delivery: messages are delivered at most once, in the order each node
// published them; saved messages reach every node in offset order. When
// the connection to Redis breaks, calls fail within Options.Timeout with
// errors that match channels.ErrBrokerUnavailable (a consumers hook that
// returns one closes its connection with websocket.StatusTryAgainLater),
// the broker reconnects and resubscribes by itself, and each node fills
// what it missed of saved messages from the history; where the history
// cannot (Redis lost its data, or trimmed the entries), the box closes the
// group's members with websocket.StatusServiceRestart so that their
// clients rejoin and learn they did not recover. Only groups with saved
// messages are closed so: after Redis restarts empty, a group of which
// the node had seen no saved message takes the new epoch and keeps its
// members (if its very first saved messages were published while this
// node was cut off and then lost with Redis's data, nobody learns of
// them). Unsaved messages sent during an outage are lost.
//
// # Publishing
//
// Group messages go to Redis through a pipeline, one per Broker and
// shard: Publish puts the message in the queue of its group's shard, and
// one goroutine writes everything queued in one round trip (a DoMulti of
// PUBLISH and, for saved messages, EVALSHA of the publishing script; on
// Redis Cluster SPUBLISH and EVAL, sent to every master at once),
// waits for the answers, then writes what queued meanwhile. A loop of sends therefore runs at the speed of
// the pipeline, not of a round trip per message, and the batches grow
// with the load. A group's messages from one node reach Redis, and so
// every node, in the order Publish took them in; saved ones get their
// offsets in that order.
//
// With channels.PublishOptions.NoWait (what ChannelBox.GroupSend passes
// unless it is given channels.Confirm or channels.ReportPosition),
// Publish returns once the message is queued:
//
//   - past Options.MaxPendingBytes of messages queued or in flight it
//     refuses with channels.ErrBrokerBusy, so a slow or stalled Redis
//     costs at most that much memory;
//   - once a write found Redis unreachable it refuses with an error
//     matching channels.ErrBrokerUnavailable until Redis answers a PING
//     again; what was queued before is written then (on Redis Cluster,
//     only the groups of the unreachable master's partitions are
//     refused, until a key of their partition can be read);
//   - a message queued and then refused by Redis, or lost with the
//     connection, is counted in PipelineStats (Dropped) and logged; its
//     sender has returned already. Send with channels.Confirm what the
//     sender must know was delivered to Redis.
//
// Without NoWait, Publish waits for Redis's answer (within
// Options.Timeout or ctx) and returns it, with the position of a saved
// message. Close writes what is queued before it lets go of Redis.
//
// Two outcomes stay ambiguous, as with any client of a remote server: a
// publish that failed because Redis did not answer within the timeout
// may still have been carried out (a caller that sends it again may
// duplicate it), and a SCRIPT FLUSH sent by another client between the
// pipeline's loading of its script and a batch's saved messages makes
// those messages go after the batch's unsaved ones of the same group.
//
// # Keys
//
// Every key starts with Options.Prefix, and each has a TTL or an owner
// that deletes it, so that nothing outlives its use:
//
//	key              holds                          written by                      TTL or owner
//	m:<group>        epoch, offset counter, age     Publish (saved), History,       max(HistoryMetaTTL, HistoryTTL),
//	                 cap, history bytes (hash)      FlushHistory                    set on every write and read
//	h:<group>        saved messages (stream)        Publish (saved)                 HistoryTTL from the last save
//	                                                                                (HistoryMetaTTL with no age cap);
//	                                                                                deleted by FlushHistory and when
//	                                                                                a group starts a new epoch
//	p:<group>        members, by expiry (zset)      AddPresence, heartbeat          PresenceTTL from the last write;
//	                                                                                RemovePresence and the heartbeat
//	                                                                                sweep remove members
//	c:<channel id>   the channel's node (string)    Connected, heartbeat            PresenceTTL; deleted by
//	                                                                                Disconnected
//	u:<user>         the user's channels (zset)     Connected, heartbeat            PresenceTTL; Disconnected removes
//	                                                                                its channel
//	online           online users, by expiry        Connected, heartbeat            none: one key for the cluster
//	                 (zset)                                                         of nodes (one per shard), whose users
//	                                                                                Disconnected and every node's
//	                                                                                heartbeat sweep remove (while a
//	                                                                                node runs, it holds the users
//	                                                                                online within the last
//	                                                                                PresenceTTL; on Redis Cluster,
//	                                                                                one per partition)
//	partitions       a Redis Cluster's partition    the first node to start on      none: kept for the cluster's
//	                 tags (string)                  the cluster                     life, read by every node at start
//	o:<key>          an event's outcome (string),   ClaimOutcome, SettleOutcome     the claim's TTL (the event
//	                 empty while it is handled                                      router's dedup window)
//
// A sorted set left empty is deleted by Redis. Group and node
// messages travel on the pub/sub channels g:<group> and n:<node>, which
// are not keys.
//
// # Shards
//
// With Options.Shards the broker spreads what it keeps over several
// Redis servers, each holding its part as the single server would:
//
//	key or channel            lives on the shard of
//	m:, h:, p: and g:<group>  the group
//	c:<channel id>            the channel id
//	u:<user>                  the user
//	online                    every shard, each with the users whose shard it is
//	n:<node>                  every shard: each node subscribes on all
//
// The shard of a name is the jump consistent hash (Lamping and Veach) of
// the name's 64-bit FNV-1a hash, so every process picks the same one. A
// send to a channel or a user runs on the shard of its record, which
// publishes to the holding node's channel there. With one shard (Addr, or
// Shards of one address) the keys and the behaviour are those of the
// single server above.
//
// Each shard has its own connections, subscriber (pub/sub connection,
// resubscription, gap fills from its histories), publish pipeline
// (bounded by MaxPendingBytes on its own) and heartbeat with its sweeps
// of dead nodes' entries, so that an outage or a stall of one shard
// touches only what lives on it: calls for its groups, channels and users
// fail with errors matching channels.ErrBrokerUnavailable (or, once its
// pipeline is full, channels.ErrBrokerBusy) and its groups' members are
// treated as after any outage, while the other shards' groups go on.
// Calls that need every shard fail when one cannot answer rather than
// return part of the answer: OnlineUsers, and FlushHistory without
// groups. New fails when a shard cannot be reached; Start returns
// ErrNotSubscribed while one is down, and subscribes there when it is
// back. A group lives on one shard however many join it: the outage of
// the shard of a group that every connection joins (an event endpoint's
// own group, say) reaches every connection that joins it meanwhile.
//
// Every node of a cluster must be given the same shard list in the same
// order: a node with another list looks for a group, a channel or a user
// on another server, and its members and the others miss one another's
// messages. To change the list, stop every node and start them with the
// new one. Adding a shard at the end moves about 1/(n+1) of the names
// from n shards, and only to the new one. A moved group starts on its new
// shard without history or meta, so with a new epoch: a client that
// rejoins from its position there is told it did not recover
// (recovered: false), as after Redis lost its data; the old keys expire
// with their TTLs on the shard they were on.
//
// # Redis Cluster
//
// With Options.Cluster (a few node addresses of a cluster of Redis 7 or
// later) the broker runs against a Redis Cluster:
//
//	b, err := redisbroker.New(&redisbroker.Options{
//		Cluster: []string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"},
//	})
//
// Groups, users and nodes are spread over Options.Partitions partitions
// (128 by default) by the same jump hash as shards. Each partition has a
// hash tag, chosen when the first node starts so that the partitions
// spread evenly over the masters of the slot map it sees, and kept in the
// key "partitions" for every later node: every key and channel of a
// group, a user or a node starts with its partition's tag in braces,
//
//	{<tag>}<prefix>m:<group>   {<tag>}<prefix>u:<user>   {<tag>}<prefix>online
//
// (and h:, p:, g:<group>, n:<node> likewise), so that a group's history,
// meta and presence share one slot and its scripts run there, and a
// user's set shares the slot of its partition's online set (one online
// set per partition). c:<channel id> has no tag. Group and node messages
// are sharded pub/sub (SPUBLISH, SSUBSCRIBE): a node subscribes each
// channel it wants on the master of the channel's slot, over one
// connection per master. A send to a channel or a user reads the record
// first, then publishes to the holding nodes' channels.
//
// The whole cluster is one shard of the broker: one client (rueidis's
// cluster client sends each command to its slot's master, and a
// pipeline's batch to every master at once), one publish pipeline, one
// subscriber, one heartbeat. Every second, and at once when a master's
// connection breaks or a master ends a subscription (a sunsubscribe
// push, when its slot moves), the subscriber reads the slot map (CLUSTER
// NODES) and moves each subscription whose slot changed master; the
// groups are then checked against their histories as after a
// reconnection, so that what was published meanwhile is filled in or the
// members are told.
//
// Failure modes: when a master dies, the calls for what lives on it fail
// with errors matching channels.ErrBrokerUnavailable until its replica
// takes over (about the cluster's node timeout); the saved messages its
// groups' members missed meanwhile are filled from the history, or the
// members are closed with websocket.StatusServiceRestart to rejoin. A
// replica that takes over without the last saved messages it had not yet
// received (replication is asynchronous) makes a node that saw them
// start the group on a new epoch, so that clients are told they did not
// recover (recovered: false) rather than take the new messages at those
// offsets for ones they have. A node finds this out when it checks the
// group's history after its subscription moved, by the offsets having
// gone back; should new messages pass the offset it had seen before it
// checks (its check failing meanwhile, say), it cannot tell them from the
// lost ones. The same holds for a single server restarted from an old
// snapshot. Once a batch found a master unreachable, the pipeline
// refuses publishes to its partitions' groups (errors matching
// channels.ErrBrokerUnavailable) and reads a key of each partition until
// its master (the replica that took over) answers; meanwhile the other
// masters' groups publish as before, their batches no longer waiting on
// the dead master. Only the batch that found it waited for it, at most
// Options.Timeout. Resharding moves keys with
// their slots, so it keeps the data; the spread of the partitions over
// the masters is that of the slot map the first node saw (delete the
// partitions key while no node runs to choose the tags again).
// OnlineUsers reads every partition's online set, and FlushHistory
// without groups scans every master.
package redisbroker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/rueidis"

	"github.com/switchboard-go/switchboard/channels"
)

// Options configure a Broker; nil means defaults.
type Options struct {
	// Addr is the Redis server: host:port or a redis:// (rediss://) URL,
	// which may carry a user, password and database. Defaults to
	// 127.0.0.1:6379 when Shards is empty; must be empty when it is set
	// (New fails otherwise, rather than guess what Addr would be).
	Addr string
	// Shards, when set, are the Redis servers the broker spreads its
	// groups, channels and users over (see "Shards" in the package doc),
	// each written as Addr is and each a server of its own: New fails
	// when an entry is empty or repeated. Every node of a cluster must be
	// given the same list in the same order. One entry is the same as
	// Addr. Defaults to none: Addr alone.
	Shards []string
	// Cluster, when set, are addresses of nodes of a Redis Cluster
	// (Redis 7 or later), each written as Addr is: the broker learns the
	// other nodes from them and spreads its groups, channels and users
	// over the cluster's masters (see "Redis Cluster" in the package
	// doc). New fails when Addr or Shards is set too, or when the servers
	// are not a cluster. Defaults to none.
	Cluster []string
	// Partitions is how many partitions a cluster's groups and users are
	// spread over, each with a hash tag of its own. Every node of a
	// cluster must use the same number: New fails when the cluster's
	// partition table was made with another. Ignored without Cluster.
	// Defaults to 128.
	Partitions int
	// Prefix starts every key and pub/sub channel name, so that several
	// applications can share one Redis. Defaults to "switchboard:".
	Prefix string
	// Timeout bounds every Redis call whose context has no earlier
	// deadline (a call that asks every shard, all of them together), and
	// the wait for a subscription. Defaults to 2s.
	Timeout time.Duration
	// PresenceTTL is how long a connection's presence, online status and
	// address outlive the last heartbeat of its node; heartbeats come
	// every third of it. Defaults to 30s.
	PresenceTTL time.Duration
	// HistoryMetaTTL is how long a group's epoch and offset counter are
	// kept after its last use (at least as long as its history). Defaults
	// to 24h.
	HistoryMetaTTL time.Duration
	// MaxPendingBytes bounds the bytes of group messages that the publish
	// pipeline has taken in and Redis has not yet answered; past it,
	// Publish refuses with channels.ErrBrokerBusy. A message is taken in
	// whatever its size while nothing else waits. Each shard has a
	// pipeline of its own, with this bound. Defaults to 16 MiB.
	MaxPendingBytes int
	// MaxBatch is how many commands the pipeline writes to Redis in one
	// round trip at most. Defaults to 1024.
	MaxBatch int
	// Metrics receives what the publish pipeline does; nil means none
	// (metrics/prom implements it).
	Metrics Metrics
	// QueueSize is how many messages from Redis (from each shard) may
	// wait for delivery on this node; beyond it they are dropped (and
	// saved ones refilled from the history). Defaults to 65536.
	QueueSize int
	// Configure, when set, adjusts the Redis client's options (pool and
	// pipelining settings, TLS, timeouts) before the client is made; with
	// Shards, it is called for each shard's client, with Cluster once for
	// the cluster's.
	Configure func(*rueidis.ClientOption)
	// Logger receives connection losses and errors that have no caller;
	// with several shards, each record names its shard by index ("shard"),
	// not by address, which may carry a password. Defaults to
	// slog.Default().
	Logger *slog.Logger
}

// Defaults, as documented on Options.
const (
	DefaultAddr            = "127.0.0.1:6379"
	DefaultPrefix          = "switchboard:"
	DefaultTimeout         = 2 * time.Second
	DefaultPresenceTTL     = 30 * time.Second
	DefaultHistoryMetaTTL  = 24 * time.Hour
	DefaultQueueSize       = 65536
	DefaultMaxPendingBytes = 16 << 20
	DefaultMaxBatch        = 1024
)

// ErrNotSubscribed is returned by Subscribe and Start while the pub/sub
// connection (of the shard concerned) is down; the subscription is made
// when it is back.
// It matches channels.ErrBrokerUnavailable.
var ErrNotSubscribed error = &unavailable{errors.New("redisbroker: pub/sub connection down; subscribing when it is back")}

// unavailable is an error of a call that did not reach Redis or got no
// answer in time; it matches channels.ErrBrokerUnavailable.
type unavailable struct{ err error }

func (e *unavailable) Error() string   { return e.err.Error() }
func (e *unavailable) Unwrap() []error { return []error{channels.ErrBrokerUnavailable, e.err} }

// reach marks an error of a Redis call as unavailable when Redis could
// not be reached, did not answer in time (within Options.Timeout or the
// caller's earlier deadline: both are Redis being too slow for the
// call), or answered that it cannot serve yet (loading its data, no
// primary); other errors (replies refusing the command, unexpected
// replies, a caller's cancellation) are returned as they are.
func reach(err error) error {
	if err == nil {
		return nil
	}
	if re, ok := rueidis.IsRedisErr(err); ok {
		if s := re.Error(); !re.IsLoading() && !re.IsTryAgain() && !re.IsClusterDown() &&
			!strings.HasPrefix(s, "MASTERDOWN") && !strings.HasPrefix(s, "BUSY ") {
			return err
		}
		return &unavailable{err}
	}
	var ne net.Error
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, rueidis.ErrClosing) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.As(err, &ne) {
		return &unavailable{err}
	}
	return err
}

// Broker is a channels.Broker over Redis. It serves any number of boxes
// (nodes) of its process.
type Broker struct {
	opts   Options
	keys   keys
	shards []*shard // one per server; see shardOf

	mu       sync.Mutex
	handlers []channels.Handler
	conns    map[string]connRec           // local channel id -> record
	presence map[string]map[string]string // group -> local channel id -> user
	closed   bool

	sole atomic.Pointer[string] // see setSoleLocked
	stop chan struct{}
	wg   sync.WaitGroup
}

type connRec struct {
	node string
	user string
	cs   int // index of the shard of the channel's record
	us   int // index of the shard of the user's entries
}

var (
	_ channels.Broker            = (*Broker)(nil)
	_ channels.ChannelsPublisher = (*Broker)(nil)
)

// New connects to Redis (to every shard, or to the cluster) and returns
// a running Broker; it fails when the options are inconsistent (two of
// Addr, Shards and Cluster set, a shard or cluster address empty, a shard
// repeated), a server cannot be reached within Options.Timeout, the
// Cluster servers are not a cluster, or the cluster's partition table has
// another number of partitions than Options.Partitions.
func New(opts *Options) (*Broker, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	var addrs []string
	var err error
	if len(o.Cluster) > 0 {
		// The cluster is one shard of the broker (see rediscluster.go).
		if addrs, err = clusterSeeds(&o); err != nil {
			return nil, err
		}
		if o.Partitions <= 0 {
			o.Partitions = defaultPartitions
		}
	} else {
		if addrs, err = shardAddrs(&o); err != nil {
			return nil, err
		}
		if len(o.Shards) == 0 {
			o.Addr = addrs[0]
		}
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.PresenceTTL <= 0 {
		o.PresenceTTL = DefaultPresenceTTL
	}
	if o.HistoryMetaTTL <= 0 {
		o.HistoryMetaTTL = DefaultHistoryMetaTTL
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.MaxPendingBytes <= 0 {
		o.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.Metrics == nil {
		o.Metrics = noMetrics{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	b := &Broker{
		opts:     o,
		keys:     keys{p: o.Prefix},
		conns:    make(map[string]connRec),
		presence: make(map[string]map[string]string),
		stop:     make(chan struct{}),
	}
	if len(o.Cluster) > 0 {
		client, err := b.joinCluster(addrs)
		if err != nil {
			return nil, err
		}
		addrs = []string{"the cluster"}
		b.shards = append(b.shards, b.newShard(0, client, o.Logger))
	}
	for i, addr := range addrs {
		if len(o.Cluster) > 0 {
			break // made above
		}
		client, err := newClient(addr, &o)
		if err != nil {
			for _, sh := range b.shards {
				sh.client.Close()
			}
			return nil, err
		}
		log := o.Logger
		if len(addrs) > 1 {
			// By index: an address may carry a password.
			log = o.Logger.With("shard", i)
		}
		b.shards = append(b.shards, b.newShard(i, client, log))
	}
	for _, sh := range b.shards {
		go sh.pipe.run()
		b.wg.Add(3)
		go func() { defer b.wg.Done(); sh.sub.run(b.stop) }()
		go func() { defer b.wg.Done(); sh.sub.deliverLoop(b.stop) }()
		go func() { defer b.wg.Done(); b.heartbeatLoop(sh) }()
	}
	t := time.NewTimer(o.Timeout)
	defer t.Stop()
	for i, sh := range b.shards {
		select {
		case <-sh.sub.ready:
		case <-t.C:
			b.Close(context.Background()) //nolint:errcheck // failing anyway
			return nil, &unavailable{fmt.Errorf("redisbroker: no pub/sub connection to %s within %v", addrs[i], o.Timeout)}
		}
	}
	return b, nil
}

func (b *Broker) newShard(i int, client rueidis.Client, log *slog.Logger) *shard {
	sh := &shard{i: i, client: client, log: log, kick: make(chan struct{}, 1)}
	sh.sub = newSubscriber(b, sh)
	sh.pipe = newPipeline(b, sh)
	return sh
}

// joinCluster connects to a Redis Cluster and reads (or makes) its
// partition table.
func (b *Broker) joinCluster(seeds []string) (rueidis.Client, error) {
	client, err := newClusterClient(seeds, &b.opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.opts.Timeout)
	defer cancel()
	tags, err := loadTags(ctx, client, b.keys, b.opts.Partitions)
	if err != nil {
		client.Close()
		return nil, err
	}
	b.keys.tags = tags
	return client, nil
}

// keys names what the broker keeps in Redis. On Redis Cluster, tags
// holds the hash tag of each partition, and the keys and channel of a
// group (of a user, the node channel of a node) start with its
// partition's tag in braces so that they share one slot; the tag comes first, so that braces in the prefix or the name
// cannot take its place. Outside a cluster tags is nil and names carry no
// tag.
type keys struct {
	p    string
	tags []string
}

// tag is the hash tag, braces included, of the partition of name (a
// group, a user or a node); "" outside a cluster.
func (k keys) tag(name string) string {
	if k.tags == nil {
		return ""
	}
	return "{" + k.tags[partitionOf(name, len(k.tags))] + "}"
}

// untag drops the hash tag from the start of a tagged name (on a
// cluster, every pub/sub channel's).
func (k keys) untag(ch string) string {
	if k.tags == nil || !strings.HasPrefix(ch, "{") {
		return ch
	}
	if i := strings.IndexByte(ch, '}'); i > 0 {
		return ch[i+1:]
	}
	return ch
}

func (k keys) groupChan(g string) string { return k.tag(g) + k.p + "g:" + g }
func (k keys) groupPrefix() string       { return k.p + "g:" } // of a channel's untagged name
func (k keys) nodeChan(n string) string  { return k.tag(n) + k.p + "n:" + n }
func (k keys) nodePrefix() string        { return k.p + "n:" }
func (k keys) meta(g string) string      { return k.tag(g) + k.p + "m:" + g }
func (k keys) metaPrefix() string        { return k.p + "m:" } // of a key's untagged name
func (k keys) stream(g string) string    { return k.tag(g) + k.p + "h:" + g }
func (k keys) presence(g string) string  { return k.tag(g) + k.p + "p:" + g }
func (k keys) conn(id string) string     { return k.p + "c:" + id }
func (k keys) user(u string) string      { return k.tag(u) + k.p + "u:" + u }

// online is the online set that holds user u: one for the server
// outside a cluster, one per partition on a cluster.
func (k keys) online(u string) string { return k.tag(u) + k.p + "online" }

// onlineSets lists every online set and the prefix of the user keys of
// its users.
func (k keys) onlineSets() (sets, userPrefixes []string) {
	if k.tags == nil {
		return []string{k.p + "online"}, []string{k.p + "u:"}
	}
	for _, t := range k.tags {
		sets = append(sets, "{"+t+"}"+k.p+"online")
		userPrefixes = append(userPrefixes, "{"+t+"}"+k.p+"u:")
	}
	return sets, userPrefixes
}

// outcome is the key of an event's outcome (channels.OutcomeStore): a
// key of its own, in the slot of its name on a cluster.
func (k keys) outcome(key string) string { return k.p + "o:" + key }

func userMember(node, channelID string) string { return node + "|" + channelID }

func presenceMember(channelID, user string) string { return channelID + "\x00" + user }

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

func newEpoch() string { return rand.Text()[:12] }

// ctx bounds a call by Options.Timeout.
func (b *Broker) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.opts.Timeout)
}

func (b *Broker) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// Start subscribes the box to the messages addressed to its node, on
// every shard. It returns ErrNotSubscribed while a shard is unreachable;
// the subscription there is made when it is back.
func (b *Broker) Start(h channels.Handler) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return channels.ErrBrokerClosed
	}
	b.handlers = append(b.handlers, h)
	b.setSoleLocked()
	b.mu.Unlock()
	var first error
	for _, sh := range b.shards {
		if err := sh.sub.add(b.keys.nodeChan(h.NodeID())); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Stop unsubscribes the box's node.
func (b *Broker) Stop(h channels.Handler) {
	b.mu.Lock()
	b.handlers = slices.DeleteFunc(b.handlers, func(x channels.Handler) bool { return x == h })
	b.setSoleLocked()
	b.mu.Unlock()
	for _, sh := range b.shards {
		ctx, cancel := b.ctx(context.Background())
		sh.sub.remove(ctx, b.keys.nodeChan(h.NodeID())) //nolint:errcheck // gone with the connection anyway
		cancel()
	}
}

// setSoleLocked records the node of the only box the broker serves, if
// it serves one (b.mu held): its own unsaved group messages, which Redis
// sends back to it, are then dropped as they arrive, undecoded.
func (b *Broker) setSoleLocked() {
	if len(b.handlers) == 1 {
		id := b.handlers[0].NodeID()
		b.sole.Store(&id)
	} else {
		b.sole.Store(nil)
	}
}

func (b *Broker) handlerList() []channels.Handler {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.handlers)
}

func (b *Broker) handler(node string) channels.Handler {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, h := range b.handlers {
		if h.NodeID() == node {
			return h
		}
	}
	return nil
}

// Publish implements channels.Broker.
func (b *Broker) Publish(ctx context.Context, group string, msg *channels.Message, opts channels.PublishOptions) (channels.Position, error) {
	if b.isClosed() {
		return channels.Position{}, channels.ErrBrokerClosed
	}
	if err := msg.Encode(); err != nil {
		return channels.Position{}, err
	}
	return b.shardOf(group).pipe.publish(ctx, group, msg, opts)
}

func (b *Broker) metaTTL(historyTTL time.Duration) time.Duration {
	return max(b.opts.HistoryMetaTTL, historyTTL)
}

// beginSend readies a send of msg to a channel or a user: the broker
// open, msg encoded, and ctx bounded as every call to Redis is.
func (b *Broker) beginSend(ctx context.Context, msg *channels.Message) (context.Context, context.CancelFunc, error) {
	if b.isClosed() {
		return nil, nil, channels.ErrBrokerClosed
	}
	if err := msg.Encode(); err != nil {
		return nil, nil, err
	}
	ctx, cancel := b.ctx(ctx)
	return ctx, cancel, nil
}

// PublishToChannel implements channels.Broker.
func (b *Broker) PublishToChannel(ctx context.Context, channelID string, msg *channels.Message) error {
	ctx, cancel, err := b.beginSend(ctx, msg)
	if err != nil {
		return err
	}
	defer cancel()
	payload := encodeNode(toChannel, channelID, encodeBody(msg))
	var n int64
	if b.keys.tags != nil {
		n, err = b.toChannelCluster(ctx, channelID, payload, msg.Origin)
	} else {
		n, err = toChannelScript.Exec(ctx, b.shardOf(channelID).client, []string{b.keys.conn(channelID)},
			[]string{b.keys.nodePrefix(), rueidis.BinaryString(payload), msg.Origin}).AsInt64()
	}
	if err != nil {
		return fmt.Errorf("redisbroker: send to channel: %w", reach(err))
	}
	if n == 0 {
		return channels.ErrNoSuchChannel
	}
	return nil
}

// PublishToChannels implements channels.ChannelsPublisher: the channels
// of each shard in one pipelined round trip (after loading the script),
// rather than one round trip per channel; on a cluster, one send at a
// time.
func (b *Broker) PublishToChannels(ctx context.Context, channelIDs []string, msg *channels.Message) (int, error) {
	ctx, cancel, err := b.beginSend(ctx, msg)
	if err != nil {
		return 0, err
	}
	defer cancel()
	if b.keys.tags != nil {
		// On a cluster a channel's record and its node's channel are in
		// slots of their own: one send at a time, as PublishToChannel.
		n := 0
		for _, id := range channelIDs {
			switch err := b.PublishToChannel(ctx, id, msg); {
			case err == nil:
				n++
			case !errors.Is(err, channels.ErrNoSuchChannel):
				return n, err
			}
		}
		return n, nil
	}
	body := encodeBody(msg)
	var order []*shard
	byShard := make(map[*shard][]rueidis.LuaExec)
	for _, id := range channelIDs {
		s := b.shardOf(id)
		if _, ok := byShard[s]; !ok {
			order = append(order, s)
		}
		byShard[s] = append(byShard[s], rueidis.LuaExec{
			Keys: []string{b.keys.conn(id)},
			Args: []string{b.keys.nodePrefix(), rueidis.BinaryString(encodeNode(toChannel, id, body)), msg.Origin},
		})
	}
	n := 0
	for _, s := range order {
		for _, r := range toChannelScript.ExecMulti(ctx, s.client, byShard[s]...) {
			reached, err := r.AsInt64()
			if err != nil {
				return n, fmt.Errorf("redisbroker: send to channels: %w", reach(err))
			}
			if reached > 0 {
				n++
			}
		}
	}
	return n, nil
}

// PublishToUser implements channels.Broker; the count is of the user's
// channels on the nodes the message reached.
func (b *Broker) PublishToUser(ctx context.Context, user string, msg *channels.Message) (int, error) {
	ctx, cancel, err := b.beginSend(ctx, msg)
	if err != nil {
		return 0, err
	}
	defer cancel()
	payload := encodeNode(toUser, user, encodeBody(msg))
	var n int64
	if b.keys.tags != nil {
		n, err = b.toUserCluster(ctx, user, payload, msg.Origin)
	} else {
		n, err = toUserScript.Exec(ctx, b.shardOf(user).client, []string{b.keys.user(user)},
			[]string{b.keys.nodePrefix(), rueidis.BinaryString(payload), msg.Origin}).AsInt64()
	}
	if err != nil {
		return 0, fmt.Errorf("redisbroker: send to user: %w", reach(err))
	}
	return int(n), nil
}

// Subscribe implements channels.Broker: the node receives the group's
// messages once this returns nil. ErrNotSubscribed means the subscription
// could not be made now (Redis is unreachable); it is made as soon as the
// pub/sub connection is back. It waits at most Options.Timeout whatever
// ctx says, since a subscription abandoned half way would be left to the
// next reconnection.
func (b *Broker) Subscribe(_ context.Context, h channels.Handler, group string) error {
	if b.isClosed() {
		return channels.ErrBrokerClosed
	}
	return b.shardOf(group).sub.subscribeGroup(group)
}

// Unsubscribe implements channels.Broker.
func (b *Broker) Unsubscribe(ctx context.Context, h channels.Handler, group string) error {
	if b.isClosed() {
		return channels.ErrBrokerClosed
	}
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	if err := b.shardOf(group).sub.unsubscribeGroup(ctx, group); err != nil {
		return fmt.Errorf("redisbroker: unsubscribe from %q: %w", group, reach(err))
	}
	return nil
}

// History implements channels.Broker.
func (b *Broker) History(ctx context.Context, group string, since *channels.Position) ([]channels.Entry, channels.Position, bool, error) {
	if b.isClosed() {
		return nil, channels.Position{}, false, channels.ErrBrokerClosed
	}
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	return b.history(ctx, group, since)
}

func (b *Broker) history(ctx context.Context, group string, since *channels.Position) ([]channels.Entry, channels.Position, bool, error) {
	sinceOff, sinceEpoch := "", ""
	switch {
	case since != nil && since.Offset == channels.PositionOnly:
		sinceOff = "top"
	case since != nil:
		sinceOff, sinceEpoch = strconv.FormatUint(since.Offset, 10), since.Epoch
	}
	res, err := history.Exec(ctx, b.shardOf(group).client, []string{b.keys.meta(group), b.keys.stream(group)},
		[]string{newEpoch(), sinceOff, sinceEpoch, ms(b.opts.HistoryMetaTTL)}).ToArray()
	if err != nil {
		return nil, channels.Position{}, false, fmt.Errorf("redisbroker: history of %q: %w", group, reach(err))
	}
	h, err := parseHistory(res)
	if err != nil {
		return nil, channels.Position{}, false, fmt.Errorf("redisbroker: history of %q: %w", group, err)
	}
	top := channels.Position{Offset: h.top, Epoch: h.epoch}
	// Entries older than the age cap are gone, as if trimmed.
	aged := func(t int64) bool { return h.ttl > 0 && h.now-t > h.ttl }
	entries := make([]channels.Entry, 0, len(h.entries))
	anyAged := false
	for _, e := range h.entries {
		if aged(e.t) {
			anyAged = true
			continue
		}
		entries = append(entries, channels.Entry{
			ID:       h.epoch + "-" + strconv.FormatUint(e.off, 10),
			Time:     time.UnixMilli(e.t),
			Position: channels.Position{Offset: e.off, Epoch: h.epoch},
			Message:  e.msg,
		})
		e.msg.Position = entries[len(entries)-1].Position
	}
	if since == nil || since.Epoch != h.epoch || since.Offset > h.top {
		return entries, top, false, nil
	}
	first := h.top + 1 // the oldest offset still kept
	if h.first != 0 {
		first = h.first
	}
	complete := !anyAged && since.Offset+1 >= first
	return entries, top, complete, nil
}

type histEntry struct {
	off uint64
	t   int64
	msg *channels.Message
}

type histReply struct {
	epoch   string
	top     uint64
	ttl     int64
	now     int64
	entries []histEntry
	first   uint64
}

func parseHistory(res []rueidis.RedisMessage) (histReply, error) {
	var h histReply
	if len(res) != 6 {
		return h, errors.New("unexpected reply")
	}
	var errs [4]error
	h.epoch, errs[0] = res[0].ToString()
	top, _ := res[1].AsInt64()
	h.top = uint64(max(top, 0))
	h.ttl, errs[1] = res[2].AsInt64()
	h.now, errs[2] = res[3].AsInt64()
	if err := errors.Join(errs[:]...); err != nil {
		return h, err
	}
	entries, err := res[4].AsXRange()
	if err != nil {
		return h, err
	}
	for _, e := range entries {
		he, err := parseEntry(e)
		if err != nil {
			return h, err
		}
		h.entries = append(h.entries, he)
	}
	if first, err := res[5].AsXRange(); err == nil && len(first) == 1 {
		he, err := parseEntry(first[0])
		if err != nil {
			return h, err
		}
		h.first = he.off
	}
	return h, nil
}

func parseEntry(e rueidis.XRangeEntry) (histEntry, error) {
	id, _, ok := strings.Cut(e.ID, "-")
	off, err := strconv.ParseUint(id, 10, 64)
	if !ok || err != nil {
		return histEntry{}, fmt.Errorf("history entry id %q", e.ID)
	}
	t, err := strconv.ParseInt(e.FieldValues["t"], 10, 64)
	if err != nil {
		return histEntry{}, fmt.Errorf("history entry %q time: %w", e.ID, err)
	}
	msg, err := decodeBody([]byte(e.FieldValues["b"]))
	if err != nil {
		return histEntry{}, fmt.Errorf("history entry %q: %w", e.ID, err)
	}
	return histEntry{off: off, t: t, msg: msg}, nil
}

// FlushHistory implements channels.Broker; with no groups named it scans
// every shard for every group with a history, and fails if a shard
// cannot be scanned (after flushing what the others hold).
func (b *Broker) FlushHistory(ctx context.Context, groups ...string) error {
	if b.isClosed() {
		return channels.ErrBrokerClosed
	}
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	if len(groups) > 0 {
		for _, g := range groups {
			if err := b.flush(ctx, b.shardOf(g), g); err != nil {
				return err
			}
		}
		return nil
	}
	var errs []error
	for _, sh := range b.shards {
		// A group is flushed where its history is, which is its shard
		// unless the shard list changed since it was written.
		servers := []rueidis.Client{sh.client}
		if b.keys.tags != nil {
			var err error
			if servers, err = b.masterClients(ctx, sh.client); err != nil {
				return fmt.Errorf("redisbroker: flush history: %w", err)
			}
		}
		for _, c := range servers {
			groups, err := b.scanGroups(ctx, c)
			for _, g := range groups {
				if err := b.flush(ctx, sh, g); err != nil {
					return err
				}
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// scanGroups lists the groups with a history on a server (on a cluster,
// a master).
func (b *Broker) scanGroups(ctx context.Context, c rueidis.Client) ([]string, error) {
	prefix := b.keys.metaPrefix()
	pattern := prefix + "*"
	if b.keys.tags != nil {
		pattern = "{*}" + pattern
	}
	var groups []string
	var cursor uint64
	for {
		res, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match(pattern).Count(1000).Build()).AsScanEntry()
		if err != nil {
			return groups, fmt.Errorf("redisbroker: flush history: %w", reach(err))
		}
		for _, k := range res.Elements {
			if g, ok := strings.CutPrefix(b.keys.untag(k), prefix); ok {
				groups = append(groups, g)
			}
		}
		if cursor = res.Cursor; cursor == 0 {
			return groups, nil
		}
	}
}

func (b *Broker) flush(ctx context.Context, sh *shard, group string) error {
	err := flush.Exec(ctx, sh.client, []string{b.keys.meta(group), b.keys.stream(group)},
		[]string{newEpoch(), ms(b.opts.HistoryMetaTTL)}).Error()
	if err != nil {
		return fmt.Errorf("redisbroker: flush history of %q: %w", group, reach(err))
	}
	return nil
}

// AddPresence implements channels.Broker.
func (b *Broker) AddPresence(ctx context.Context, group string, p channels.PresenceInfo) error {
	sh := b.shardOf(group)
	sh.hbMu.RLock()
	defer sh.hbMu.RUnlock()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return channels.ErrBrokerClosed
	}
	m := b.presence[group]
	if m == nil {
		m = make(map[string]string)
		b.presence[group] = m
	}
	m[p.ChannelID] = p.User
	b.mu.Unlock()
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	err := addPresence.Exec(ctx, sh.client, []string{b.keys.presence(group)},
		[]string{presenceMember(p.ChannelID, p.User), ms(b.opts.PresenceTTL)}).Error()
	if err != nil {
		return fmt.Errorf("redisbroker: add presence in %q: %w", group, reach(err))
	}
	return nil
}

// RemovePresence implements channels.Broker.
func (b *Broker) RemovePresence(ctx context.Context, group, channelID string) error {
	sh := b.shardOf(group)
	sh.hbMu.RLock()
	defer sh.hbMu.RUnlock()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return channels.ErrBrokerClosed
	}
	user, ok := b.presence[group][channelID]
	if ok {
		delete(b.presence[group], channelID)
		if len(b.presence[group]) == 0 {
			delete(b.presence, group)
		}
	}
	b.mu.Unlock()
	if !ok {
		return nil
	}
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	err := sh.client.Do(ctx, sh.client.B().Zrem().Key(b.keys.presence(group)).Member(presenceMember(channelID, user)).Build()).Error()
	if err != nil {
		return fmt.Errorf("redisbroker: remove presence in %q: %w", group, reach(err))
	}
	return nil
}

// Presence implements channels.Broker: the group's members on every live
// node, sorted by user and channel id.
func (b *Broker) Presence(ctx context.Context, group string) ([]channels.PresenceInfo, error) {
	if b.isClosed() {
		return nil, channels.ErrBrokerClosed
	}
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	members, err := readPresence.Exec(ctx, b.shardOf(group).client, []string{b.keys.presence(group)}, nil).AsStrSlice()
	if err != nil {
		return nil, fmt.Errorf("redisbroker: presence of %q: %w", group, reach(err))
	}
	out := make([]channels.PresenceInfo, 0, len(members))
	for _, m := range members {
		id, user, _ := strings.Cut(m, "\x00")
		out = append(out, channels.PresenceInfo{ChannelID: id, User: user})
	}
	slices.SortFunc(out, func(a, b channels.PresenceInfo) int {
		if c := strings.Compare(a.User, b.User); c != 0 {
			return c
		}
		return strings.Compare(a.ChannelID, b.ChannelID)
	})
	return out, nil
}

// Connected implements channels.Broker. The channel's record is written
// on the shard of its id, the user's entries on the shard of the user:
// in one script when they are the same shard, else one call each.
func (b *Broker) Connected(ctx context.Context, h channels.Handler, channelID, user string) (bool, error) {
	rec := connRec{node: h.NodeID(), user: user, cs: b.shardOf(channelID).i}
	rec.us = rec.cs
	if user != "" {
		rec.us = b.shardOf(user).i
	}
	defer b.rlockShards(rec.cs, rec.us)()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return false, channels.ErrBrokerClosed
	}
	b.conns[channelID] = rec
	b.mu.Unlock()
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	n, err := b.updateRecord(ctx, rec.cs, rec.us, channelID, user, connected, userConnected,
		func(c rueidis.Builder) rueidis.Completed {
			return c.Set().Key(b.keys.conn(channelID)).Value(rec.node).PxMilliseconds(b.opts.PresenceTTL.Milliseconds()).Build()
		},
		[]string{rec.node, userMember(rec.node, channelID), ms(b.opts.PresenceTTL), user})
	if err != nil {
		return false, fmt.Errorf("redisbroker: record connection: %w", reach(err))
	}
	return n == 1, nil
}

// Disconnected implements channels.Broker.
func (b *Broker) Disconnected(ctx context.Context, h channels.Handler, channelID, user string) (bool, error) {
	node := h.NodeID()
	csi := b.shardOf(channelID).i
	usi := csi
	if user != "" {
		usi = b.shardOf(user).i
	}
	defer b.rlockShards(csi, usi)()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return false, channels.ErrBrokerClosed
	}
	delete(b.conns, channelID)
	b.mu.Unlock()
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	n, err := b.updateRecord(ctx, csi, usi, channelID, user, disconnected, userDisconnected,
		func(c rueidis.Builder) rueidis.Completed { return c.Del().Key(b.keys.conn(channelID)).Build() },
		[]string{userMember(node, channelID), user})
	if err != nil {
		return false, fmt.Errorf("redisbroker: remove connection: %w", reach(err))
	}
	return n == 1, nil
}

// updateRecord writes a change of a channel's record and of its user's
// entries. When both are on one shard (always for a channel without a
// user) outside a cluster, whole does it in one script over the channel
// key, the user set and the online set; else (on a cluster, where they
// are in different slots) the channel's command runs on the channel's
// shard, then userPart over the user set and the online set on the
// user's. It returns the script's answer.
func (b *Broker) updateRecord(ctx context.Context, csi, usi int, channelID, user string,
	whole, userPart *rueidis.Lua, channelCmd func(rueidis.Builder) rueidis.Completed, args []string) (int64, error) {
	cs, us := b.shards[csi], b.shards[usi]
	if cs == us && b.keys.tags == nil {
		return whole.Exec(ctx, cs.client, []string{b.keys.conn(channelID), b.keys.user(user), b.keys.online(user)}, args).AsInt64()
	}
	if err := cs.client.Do(ctx, channelCmd(cs.client.B())).Error(); err != nil {
		return 0, err
	}
	if user == "" {
		return 0, nil
	}
	return userPart.Exec(ctx, us.client, []string{b.keys.user(user), b.keys.online(user)}, args).AsInt64()
}

// rlockShards holds the hbMu of shards i and j (once when they are the
// same) for reading, the lower index first, and returns the unlock.
func (b *Broker) rlockShards(i, j int) func() {
	if i > j {
		i, j = j, i
	}
	b.shards[i].hbMu.RLock()
	if i == j {
		return b.shards[i].hbMu.RUnlock
	}
	b.shards[j].hbMu.RLock()
	return func() { b.shards[j].hbMu.RUnlock(); b.shards[i].hbMu.RUnlock() }
}

// IsOnline implements channels.Broker; it asks the user's shard.
func (b *Broker) IsOnline(ctx context.Context, user string) (bool, error) {
	if b.isClosed() {
		return false, channels.ErrBrokerClosed
	}
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	n, err := isOnline.Exec(ctx, b.shardOf(user).client, []string{b.keys.user(user)}, nil).AsInt64()
	if err != nil {
		return false, fmt.Errorf("redisbroker: is online: %w", reach(err))
	}
	return n == 1, nil
}

// OnlineUsers implements channels.Broker. With several shards it merges
// their online sets (each holds the users of its shard); when a shard
// cannot answer it fails, with an error matching
// channels.ErrBrokerUnavailable, rather than return the others' users as
// if they were all.
func (b *Broker) OnlineUsers(ctx context.Context) ([]string, error) {
	if b.isClosed() {
		return nil, channels.ErrBrokerClosed
	}
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	all := []string{}
	sets, _ := b.keys.onlineSets()
	for _, sh := range b.shards {
		for _, set := range sets {
			users, err := onlineUsers.Exec(ctx, sh.client, []string{set}, nil).AsStrSlice()
			if err != nil {
				return nil, fmt.Errorf("redisbroker: online users: %w", reach(err))
			}
			all = append(all, users...)
		}
	}
	slices.Sort(all)
	return all, nil
}

// heartbeatLoop refreshes this node's entries on a shard every third of
// PresenceTTL and takes offline the users of dead nodes there.
func (b *Broker) heartbeatLoop(sh *shard) {
	interval := b.opts.PresenceTTL / 3
	t := time.NewTimer(interval)
	defer t.Stop()
	failing := false
	for {
		full := failing
		select {
		case <-b.stop:
			return
		case <-t.C:
		case <-sh.kick:
			full = true
		}
		err := b.heartbeat(sh, full)
		switch {
		case err != nil && !failing:
			sh.log.Warn("redisbroker: heartbeat failed", "err", err)
		case err == nil && failing:
			sh.log.Info("redisbroker: heartbeat back")
		}
		failing = err != nil
		// A failed heartbeat is tried again soon: the entries expire
		// otherwise.
		next := interval
		if failing {
			next = min(retryDelay, interval)
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

// heartbeat pushes the expiry of every local entry that lives on sh to
// now + PresenceTTL, then sweeps sh. A routine heartbeat only refreshes
// entries that exist (XX), so it cannot bring back one that a concurrent
// removal deleted; a full one, after a reconnection or a failed
// heartbeat, writes back what Redis lost and holds sh.hbMu against
// removals meanwhile.
func (b *Broker) heartbeat(sh *shard, full bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), b.opts.PresenceTTL/3)
	defer cancel()
	c := sh.client
	tm, err := c.Do(ctx, c.B().Time().Build()).AsIntSlice()
	if err != nil || len(tm) != 2 {
		return fmt.Errorf("TIME: %v", err)
	}
	ttl := b.opts.PresenceTTL
	exp := float64(tm[0]*1000 + tm[1]/1000 + ttl.Milliseconds())
	ttlMS := ttl.Milliseconds()

	if full {
		sh.hbMu.Lock()
		defer sh.hbMu.Unlock()
	}
	b.mu.Lock()
	cmds := make(rueidis.Commands, 0, 3*len(b.conns)+2*len(b.presence))
	for id, rec := range b.conns {
		if rec.cs == sh.i {
			if full {
				cmds = append(cmds, c.B().Set().Key(b.keys.conn(id)).Value(rec.node).PxMilliseconds(ttlMS).Build())
			} else {
				cmds = append(cmds, c.B().Set().Key(b.keys.conn(id)).Value(rec.node).Xx().PxMilliseconds(ttlMS).Build())
			}
		}
		if rec.user == "" || rec.us != sh.i {
			continue
		}
		uk := b.keys.user(rec.user)
		if full {
			cmds = append(cmds,
				c.B().Zadd().Key(uk).ScoreMember().ScoreMember(exp, userMember(rec.node, id)).Build(),
				c.B().Zadd().Key(b.keys.online(rec.user)).Gt().ScoreMember().ScoreMember(exp, rec.user).Build())
		} else {
			cmds = append(cmds,
				c.B().Zadd().Key(uk).Xx().ScoreMember().ScoreMember(exp, userMember(rec.node, id)).Build(),
				c.B().Zadd().Key(b.keys.online(rec.user)).Xx().Gt().ScoreMember().ScoreMember(exp, rec.user).Build())
		}
		cmds = append(cmds, c.B().Pexpire().Key(uk).Milliseconds(ttlMS).Build())
	}
	score := strconv.FormatFloat(exp, 'f', 0, 64)
	groups := make([]string, 0, len(b.presence))
	sweeps := make([]rueidis.LuaExec, 0, len(b.presence))
	for g, m := range b.presence {
		if b.shardOf(g) != sh {
			continue
		}
		groups = append(groups, g)
		sweeps = append(sweeps, rueidis.LuaExec{Keys: []string{b.keys.presence(g)}})
		args := make([]string, 0, 1+2*len(m))
		if !full {
			args = append(args, "XX")
		}
		for id, user := range m {
			args = append(args, score, presenceMember(id, user))
		}
		cmds = append(cmds,
			c.B().Arbitrary("ZADD").Keys(b.keys.presence(g)).Args(args...).Build(),
			c.B().Pexpire().Key(b.keys.presence(g)).Milliseconds(ttlMS).Build())
	}
	b.mu.Unlock()
	for start := 0; start < len(cmds); start += 1000 {
		for _, r := range c.DoMulti(ctx, cmds[start:min(start+1000, len(cmds))]...) {
			if err := r.Error(); err != nil {
				return err
			}
		}
	}

	// Only a node with a box sweeps: each swept user is handed to one
	// node, whose box reports it offline.
	hs := b.handlerList()
	if len(hs) == 0 {
		return nil
	}
	sets, userPrefixes := b.keys.onlineSets()
	for i, set := range sets {
		gone, err := sweep.Exec(ctx, c, []string{set}, []string{userPrefixes[i], "1000"}).AsStrSlice()
		if err != nil {
			return err
		}
		for _, u := range gone {
			hs[0].DeliverOffline(u)
		}
	}
	// The groups with members here are swept of the entries of dead
	// nodes, which are reported to this node's box.
	for i, r := range b.execMulti(ctx, c, sweepPresence, sweeps) {
		members, err := r.AsStrSlice()
		if err != nil {
			return err
		}
		if len(members) == 0 {
			continue
		}
		infos := make([]channels.PresenceInfo, 0, len(members))
		for _, m := range members {
			id, user, _ := strings.Cut(m, "\x00")
			infos = append(infos, channels.PresenceInfo{ChannelID: id, User: user})
		}
		hs[0].DeliverPresenceGone(groups[i], infos)
	}
	return nil
}

// execMulti runs a script once per LuaExec. Outside a cluster it is
// rueidis's ExecMulti, one round trip; on a cluster it runs them one by
// one, since ExecMulti first loads the script on every node the client
// knows, and fails while one of them is down (a master just killed,
// before its replica took over and the client forgot it).
func (b *Broker) execMulti(ctx context.Context, c rueidis.Client, l *rueidis.Lua, execs []rueidis.LuaExec) []rueidis.RedisResult {
	if b.keys.tags == nil {
		return l.ExecMulti(ctx, c, execs...)
	}
	out := make([]rueidis.RedisResult, len(execs))
	for i, e := range execs {
		out[i] = l.Exec(ctx, c, e.Keys, e.Args)
	}
	return out
}

// Close stops the broker: it writes what its publish pipeline has taken
// in (while ctx allows), then stops its subscriptions, heartbeat and
// connections. Every later call but Stop and Close fails with
// channels.ErrBrokerClosed. The entries of channels still recorded
// expire within PresenceTTL.
func (b *Broker) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.handlers = nil
	b.mu.Unlock()
	// What the pipelines took in is written first (within ctx).
	for _, sh := range b.shards {
		sh.pipe.close()
	}
	var err error
	for _, sh := range b.shards {
		select {
		case <-sh.pipe.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	close(b.stop)
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	for _, sh := range b.shards {
		sh.client.Close()
	}
	return err
}
