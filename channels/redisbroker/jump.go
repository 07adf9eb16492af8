package redisbroker

// shardIndex picks one of n shards for a name: jump consistent hash of
// the name's FNV-1a hash, both stable across processes and versions, so
// that every node of a cluster picks the same shard. Both are written
// here rather than imported: a dozen lines whose results must never
// change under a running cluster, which jump_test.go pins.
func shardIndex(name string, n int) int {
	return jump(fnv1a(name), n)
}

// fnv1a is the 64-bit FNV-1a hash of s, as hash/fnv's New64a computes
// it, written out so that hashing a name allocates nothing.
func fnv1a(s string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime
	}
	return h
}

// jump is the jump consistent hash of key over n buckets (Lamping and
// Veach, "A Fast, Minimal Memory, Consistent Hash Algorithm", 2014): from
// n to n+1 buckets, a key moves with probability 1/(n+1), and only to
// the new bucket. The loop ends within n rounds, since j grows by at
// least one each round.
func jump(key uint64, n int) int {
	b, j := int64(-1), int64(0)
	for j < int64(n) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int(b)
}
