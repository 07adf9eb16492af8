package redisbroker

// ShardIndex exposes shardIndex to the package's external tests, which
// pick names by the shard they live on.
var ShardIndex = shardIndex
