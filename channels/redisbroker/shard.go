package redisbroker

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/rueidis"

	"github.com/switchboard-go/switchboard/channels"
)

// shard is one Redis server of the broker and what runs against it: a
// client, a subscriber (the pub/sub connection and the delivery of what
// it receives), a publish pipeline and a heartbeat. Nothing is shared
// between shards but the Broker's local records, so that a shard that is
// down or slow holds up only the calls for what lives on it.
type shard struct {
	i      int // index in Broker.shards
	client rueidis.Client
	log    *slog.Logger

	// hbMu keeps the shard's heartbeat from writing back an entry that a
	// concurrent removal just deleted: each update of the Broker's
	// records that writes to this shard holds it for reading until Redis
	// answered; the heartbeat holds it while it writes.
	hbMu sync.RWMutex

	sub  *subscriber
	pipe *pipeline
	kick chan struct{} // asks for a heartbeat now (after a reconnection)
}

// shardOf returns the shard that holds what is named name: a group, a
// channel id or a user.
func (b *Broker) shardOf(name string) *shard {
	if len(b.shards) == 1 {
		return b.shards[0]
	}
	return b.shards[shardIndex(name, len(b.shards))]
}

// shardAddrs returns the servers the options name, checked: Addr alone
// (its default when neither is set), or Shards, each entry set and none
// repeated.
func shardAddrs(o *Options) ([]string, error) {
	if len(o.Shards) == 0 {
		if o.Addr == "" {
			return []string{DefaultAddr}, nil
		}
		return []string{o.Addr}, nil
	}
	if o.Addr != "" {
		return nil, errors.New("redisbroker: Options.Addr and Options.Shards are both set; set one")
	}
	for i, a := range o.Shards {
		if a == "" {
			return nil, fmt.Errorf("redisbroker: Options.Shards[%d] is empty", i)
		}
		// By index: an address may carry a password.
		if j := slices.Index(o.Shards, a); j != i {
			return nil, fmt.Errorf("redisbroker: Options.Shards[%d] repeats Options.Shards[%d]", i, j)
		}
	}
	return slices.Clone(o.Shards), nil
}

// newClient makes the Redis client of one server.
func newClient(addr string, o *Options) (rueidis.Client, error) {
	co, err := clientOption(addr, o)
	if err != nil {
		return nil, err
	}
	if o.Configure != nil {
		o.Configure(&co)
	}
	client, err := rueidis.NewClient(co)
	if err != nil {
		return nil, fmt.Errorf("redisbroker: connecting to %s: %w", addr, reach(err))
	}
	return client, nil
}

// clientOption reads an address as Options.Addr takes it, with the
// broker's settings but before Options.Configure.
func clientOption(addr string, o *Options) (rueidis.ClientOption, error) {
	var co rueidis.ClientOption
	if strings.Contains(addr, "://") {
		var err error
		if co, err = rueidis.ParseURL(addr); err != nil {
			return co, fmt.Errorf("redisbroker: address %q: %w", addr, err)
		}
	} else {
		co.InitAddress = []string{addr}
	}
	co.DisableCache = true
	co.Dialer.Timeout = o.Timeout
	co.ConnWriteTimeout = o.Timeout
	return co, nil
}

// Shards implements channels.ShardedBroker: for each shard, in the order
// of Options.Shards (one entry for Addr or Cluster), whether its pub/sub
// connection is up (on a cluster, every wanted subscription) and its
// pipeline is not refusing sends for want of Redis (of a master), and
// what its pipeline holds. Shards are named by index, since an address
// may carry a password.
func (b *Broker) Shards() []channels.ShardState {
	out := make([]channels.ShardState, len(b.shards))
	for i, sh := range b.shards {
		sh.sub.wireMu.Lock()
		subscribed := sh.sub.conn != nil || (sh.sub.cw != nil && sh.sub.cw.up(sh.sub.chans))
		sh.sub.wireMu.Unlock()
		p := sh.pipe
		p.mu.Lock()
		out[i] = channels.ShardState{
			Name:            strconv.Itoa(i),
			Up:              subscribed && p.down == nil && len(p.parts) == 0,
			PendingMessages: p.pending,
			PendingBytes:    p.bytes,
		}
		p.mu.Unlock()
	}
	return out
}
