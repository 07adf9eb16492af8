package redisbroker

// ShardIndex exposes shardIndex to the package's external tests, which
// pick names by the shard they live on.
var ShardIndex = shardIndex

// GroupSlot is the cluster slot of a group's keys and channel on b.
func GroupSlot(b *Broker, group string) int { return keySlot(b.keys.meta(group)) }
