package redisbroker

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/rueidis"

	"github.com/switchboard-go/switchboard/channels"
)

var _ channels.OutcomeStore = (*Broker)(nil)

// ClaimOutcome implements channels.OutcomeStore: one SET NX GET on the
// shard of the key, so that every node sees the same claim. The value is
// empty while the claim's holder handles the event.
func (b *Broker) ClaimOutcome(ctx context.Context, key string, ttl time.Duration) ([]byte, bool, error) {
	if b.isClosed() {
		return nil, false, channels.ErrBrokerClosed
	}
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	sh := b.shardOf(key)
	cmd := sh.client.B().Set().Key(b.keys.outcome(key)).Value("").Nx().Get().Px(ttl).Build()
	v, err := sh.client.Do(ctx, cmd).AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redisbroker: claim outcome: %w", reach(err))
	}
	if len(v) == 0 {
		return nil, false, nil
	}
	return v, false, nil
}

// SettleOutcome implements channels.OutcomeStore: it replaces the claim
// while it is held (SET XX), or frees it for a nil outcome.
func (b *Broker) SettleOutcome(ctx context.Context, key string, outcome []byte, ttl time.Duration) error {
	if b.isClosed() {
		return channels.ErrBrokerClosed
	}
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	sh := b.shardOf(key)
	var cmd rueidis.Completed
	if outcome == nil {
		cmd = sh.client.B().Del().Key(b.keys.outcome(key)).Build()
	} else {
		cmd = sh.client.B().Set().Key(b.keys.outcome(key)).Value(rueidis.BinaryString(outcome)).Xx().Px(ttl).Build()
	}
	if err := sh.client.Do(ctx, cmd).Error(); err != nil && !rueidis.IsRedisNil(err) {
		return fmt.Errorf("redisbroker: settle outcome: %w", reach(err))
	}
	return nil
}
