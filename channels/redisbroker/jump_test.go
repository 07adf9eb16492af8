package redisbroker

import (
	"hash/fnv"
	"strconv"
	"testing"
)

// fnv1a is hash/fnv's FNV-1a.
func TestFNV1aIsHashFNV(t *testing.T) {
	for _, s := range []string{"", "a", "room", "events:all", "ünïcode", strconvs(1000)} {
		h := fnv.New64a()
		h.Write([]byte(s))
		if got, want := fnv1a(s), h.Sum64(); got != want {
			t.Errorf("fnv1a(%q) = %x, want %x", s, got, want)
		}
	}
}

func strconvs(n int) string {
	var b []byte
	for i := range n {
		b = strconv.AppendInt(b, int64(i), 10)
	}
	return string(b)
}

// Jump hash puts every name in range, the same one every time, spreads
// names about evenly, and from 3 to 4 shards moves about a quarter of
// them, each to the new shard.
func TestShardIndex(t *testing.T) {
	const names = 1000
	for n := 1; n <= 8; n++ {
		counts := make([]int, n)
		for i := range names {
			name := "group-" + strconv.Itoa(i)
			k := shardIndex(name, n)
			if k < 0 || k >= n || shardIndex(name, n) != k {
				t.Fatalf("shardIndex(%q, %d) = %d", name, n, k)
			}
			counts[k]++
		}
		for k, c := range counts {
			if c < names/n/2 || c > names/n*3/2 {
				t.Errorf("%d shards: shard %d got %d of %d names", n, k, c, names)
			}
		}
	}
	moved := 0
	for i := range names {
		name := "group-" + strconv.Itoa(i)
		from, to := shardIndex(name, 3), shardIndex(name, 4)
		if from == to {
			continue
		}
		moved++
		if to != 3 {
			t.Errorf("%q moved from shard %d to %d, not to the new shard", name, from, to)
		}
	}
	if moved < names*15/100 || moved > names*35/100 {
		t.Errorf("%d of %d names moved from 3 to 4 shards; want about a quarter (15%% to 35%%)", moved, names)
	}
	t.Logf("%d of %d names moved from 3 to 4 shards", moved, names)
}

// jump gives the buckets that the published implementations of the
// algorithm give (the values their tests share): with fnv1a matching
// hash/fnv, a name's shard does not depend on this code's version, and
// every node of a cluster picks the same one.
func TestJumpKnownValues(t *testing.T) {
	for _, tt := range []struct {
		key  uint64
		n    int
		want int
	}{
		{0, 1, 0},
		{1, 1, 0},
		{4, 2, 1},
		{7, 2, 0},
		{42, 57, 43},
		{1, 128, 55},
		{129, 128, 120},
		{256, 1024, 520},
		{0xDEAD10CC, 1, 0},
		{0xDEAD10CC, 666, 361},
		{18446744073709551615, 128, 92},
		{128, 100000000, 38172097},
	} {
		if got := jump(tt.key, tt.n); got != tt.want {
			t.Errorf("jump(%d, %d) = %d, want %d", tt.key, tt.n, got, tt.want)
		}
	}
}
