package channels

import (
	"context"
	"sync"
	"time"
)

// OutcomeStore is implemented by brokers that keep, for a while, the
// outcome of a client's event: the event, resent after a reconnect to this
// node or another, is then answered from the store instead of being
// handled again (the event router's exactly-once handling). The
// MemoryBroker keeps outcomes in memory, for the boxes that share it; the
// Redis broker keeps them in Redis, for every node.
type OutcomeStore interface {
	// ClaimOutcome takes key for ttl. It reports claimed when the key was
	// free; otherwise outcome is what SettleOutcome stored, or nil while
	// the claim's holder has not settled it yet.
	ClaimOutcome(ctx context.Context, key string, ttl time.Duration) (outcome []byte, claimed bool, err error)
	// SettleOutcome stores the outcome of a claimed key for ttl; a nil
	// outcome frees the key, so that a later claim runs again. An outcome
	// is never empty (a store may keep an unsettled claim as an empty
	// value).
	SettleOutcome(ctx context.Context, key string, outcome []byte, ttl time.Duration) error
}

// Bounds of a MemoryBroker's outcomes: past either, the oldest go first
// (an event resent after its outcome went is handled again).
const (
	DefaultMaxOutcomes     = 100_000
	DefaultMaxOutcomeBytes = 16 << 20
)

// Outcomes is an OutcomeStore in memory, bounded in count, bytes and
// time. The MemoryBroker has one; an event router whose broker stores no
// outcomes uses one of its own. Use NewOutcomes.
type Outcomes struct {
	now                func() time.Time
	maxCount, maxBytes int

	mu    sync.Mutex
	m     map[string]*outcome
	order []claimRef // claims, oldest first; a stale one is skipped
	head  int
	next  uint64
	bytes int
}

type outcome struct {
	data    []byte
	settled bool
	expires time.Time
	seq     uint64 // its claim's
}

type claimRef struct {
	key string
	seq uint64
}

// NewOutcomes returns an empty store of at most maxCount outcomes and
// maxBytes bytes of them (keys included); zero takes the defaults
// (DefaultMaxOutcomes, DefaultMaxOutcomeBytes). now is its clock, nil for
// time.Now.
func NewOutcomes(maxCount, maxBytes int, now func() time.Time) *Outcomes {
	if maxCount <= 0 {
		maxCount = DefaultMaxOutcomes
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxOutcomeBytes
	}
	if now == nil {
		now = time.Now
	}
	return &Outcomes{now: now, maxCount: maxCount, maxBytes: maxBytes, m: map[string]*outcome{}}
}

var _ OutcomeStore = (*Outcomes)(nil)

// ClaimOutcome implements OutcomeStore.
func (s *Outcomes) ClaimOutcome(_ context.Context, key string, ttl time.Duration) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.trimLocked(now)
	if o := s.m[key]; o != nil {
		if now.Before(o.expires) {
			return o.data, false, nil // nil while unsettled
		}
		s.dropLocked(key, o)
	}
	s.next++
	s.m[key] = &outcome{expires: now.Add(ttl), seq: s.next}
	s.order = append(s.order, claimRef{key, s.next})
	s.bytes += len(key)
	s.trimLocked(now)
	return nil, true, nil
}

// SettleOutcome implements OutcomeStore. Settling a key that is no longer
// held (it expired, or the bounds dropped it) stores nothing.
func (s *Outcomes) SettleOutcome(_ context.Context, key string, data []byte, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.m[key]
	if o == nil {
		return nil
	}
	if data == nil {
		s.dropLocked(key, o)
		return nil
	}
	data = append([]byte{}, data...)
	s.bytes += len(data) - len(o.data)
	o.data, o.settled, o.expires = data, true, s.now().Add(ttl)
	s.trimLocked(s.now())
	return nil
}

// Len returns how many outcomes the store holds, settled or not.
func (s *Outcomes) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func (s *Outcomes) dropLocked(key string, o *outcome) {
	s.bytes -= len(key) + len(o.data)
	delete(s.m, key)
}

// trimLocked drops outcomes from the oldest claim on while they have
// expired or the store is over a bound. (Every user of a store claims
// with one ttl, so claims expire in the order they were made, near
// enough; one that lives a little longer only waits behind another.)
func (s *Outcomes) trimLocked(now time.Time) {
	for s.head < len(s.order) {
		ref := s.order[s.head]
		o := s.m[ref.key]
		if o != nil && o.seq == ref.seq {
			over := len(s.m) > s.maxCount || s.bytes > s.maxBytes
			if !over && now.Before(o.expires) {
				break
			}
			s.dropLocked(ref.key, o)
		}
		s.order[s.head] = claimRef{}
		s.head++
	}
	if s.head >= 1024 && s.head >= len(s.order)/2 {
		s.order = append([]claimRef(nil), s.order[s.head:]...)
		s.head = 0
	}
	if live := len(s.order) - s.head; live > 1024 && live > 2*len(s.m) {
		// Keys freed out of order left stale claims behind.
		kept := make([]claimRef, 0, len(s.m))
		for _, ref := range s.order[s.head:] {
			if o := s.m[ref.key]; o != nil && o.seq == ref.seq {
				kept = append(kept, ref)
			}
		}
		s.order, s.head = kept, 0
	}
}
