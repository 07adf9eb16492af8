package channels

import (
	"errors"
	"time"
)

// Metrics receives what a box does with its broker and its histories, for
// monitoring (package metrics/prom is a Prometheus implementation). Its
// methods must be safe for concurrent use and quick. Counts better read at
// scrape time are in ChannelBox.Stats.
type Metrics interface {
	// BrokerCall reports a broker call the box made for a send: op is
	// "publish", "publish_saved", "send_to_channel", "send_to_channels" or "send_to_user".
	// err is nil when the call succeeded (a channel that is nowhere is not
	// an error).
	BrokerCall(op string, d time.Duration, err error)
	// Recovery reports a join from a position: whether what the client
	// missed could be given back.
	Recovery(recovered bool)
}

type noMetrics struct{}

func (noMetrics) BrokerCall(string, time.Duration, error) {}
func (noMetrics) Recovery(bool)                           {}

// timed runs a broker call and reports it.
func (b *ChannelBox) timed(op string, call func() error) error {
	start := time.Now()
	err := call()
	merr := err
	if errors.Is(err, ErrNoSuchChannel) {
		merr = nil
	}
	b.opts.Metrics.BrokerCall(op, time.Since(start), merr)
	return err
}

// Stats are a box's counts at one moment.
type Stats struct {
	Channels int // registered channels
	Users    int // distinct users among them
	Groups   int // groups with local members
	// Memberships is the sum of the groups' local sizes, LargestGroup the
	// largest.
	Memberships  int
	LargestGroup int
	// HistoryEntries and HistoryBytes are what the broker keeps in the
	// groups' histories, when it can tell cheaply (the MemoryBroker can;
	// the Redis broker does not say, and they are -1).
	HistoryEntries int
	HistoryBytes   int
}

// PublishQueue is a Broker that queues publishes for its server (see
// PublishOptions.NoWait) and can tell how much waits: the messages and
// bytes taken in and not yet answered.
type PublishQueue interface {
	PendingPublishes() (messages, bytes int)
}

// ShardedBroker is a Broker that spreads its work over several servers
// (shards) and can tell the state of each.
type ShardedBroker interface {
	Shards() []ShardState
}

// ShardState is one shard of a ShardedBroker at one moment.
type ShardState struct {
	// Name tells the shard apart in metrics; it never holds an address
	// or a password.
	Name string
	// Up is false while the broker cannot use the shard (its connection
	// is down, or it refuses sends until its server answers).
	Up bool
	// PendingMessages and PendingBytes are what waits for the shard's
	// server (see PublishQueue).
	PendingMessages, PendingBytes int
}

// HistorySizer is a Broker that can tell the size of its histories.
type HistorySizer interface {
	HistorySize() (entries, bytes int)
}

// Stats returns the box's counts; it takes the box's locks briefly.
func (b *ChannelBox) Stats() Stats {
	b.mu.RLock()
	s := Stats{Channels: len(b.channels), Users: len(b.users), Groups: len(b.groups)}
	groups := make([]*memberSet, 0, len(b.groups))
	for _, g := range b.groups {
		groups = append(groups, g)
	}
	b.mu.RUnlock()
	for _, g := range groups {
		g.mu.RLock()
		n := len(g.members)
		g.mu.RUnlock()
		s.Memberships += n
		s.LargestGroup = max(s.LargestGroup, n)
	}
	s.HistoryEntries, s.HistoryBytes = -1, -1
	if hs, ok := b.broker.(HistorySizer); ok {
		s.HistoryEntries, s.HistoryBytes = hs.HistorySize()
	}
	return s
}
