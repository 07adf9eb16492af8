package redisbroker

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/switchboard-go/switchboard/internal/clusternodes"
)

// This file holds the first piece of Redis Cluster support: groups map to
// a fixed number of partitions, and each partition has a hash tag that
// puts all of its keys and its sharded pub/sub channel in one slot, the
// slots being chosen so that the partitions spread evenly over the
// masters of the cluster. The keys type puts the tags in the names.

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// defaultPartitions is the number of partitions a cluster broker spreads
// its groups over unless told otherwise.
const defaultPartitions = 128

// maxTagCandidates bounds the search for tags: with 16384 slots and at
// most a few hundred masters, every master owns a slot within the first
// few hundred thousand decimal tags.
const maxTagCandidates = 1 << 22

// errNoSlots reports a slot map that gives no slot to any master.
var errNoSlots = errors.New("redisbroker: slot map has no slots")

// partitionOf picks one of n partitions for a group: the jump consistent
// hash of the group's FNV-1a hash, the same stable pair shardIndex uses.
// Jump rather than FNV mod n: should n ever grow, only about 1/n of the
// groups move to another partition, instead of nearly all of them.
func partitionOf(group string, n int) int {
	return jump(fnv1a(group), n)
}

// crc16 is the CRC16 of Redis Cluster's key hashing: the XMODEM variant
// (polynomial 0x1021, initial value 0, no reflection, no final xor), as
// the Redis Cluster specification gives it. Written out bit by bit: it is
// hashed once per key, and a table would add nothing a reader could
// check against the spec.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// keySlot is the cluster slot of a key, or of a sharded pub/sub channel,
// by the spec's hash tag rule: when the key has a '{' followed later by
// a '}' with at least one byte between the first '{' and the first '}'
// after it, only those bytes are hashed; otherwise the whole key is.
func keySlot(key string) int {
	for i := 0; i < len(key); i++ {
		if key[i] != '{' {
			continue
		}
		for j := i + 1; j < len(key); j++ {
			if key[j] == '}' {
				if j > i+1 {
					key = key[i+1 : j]
				}
				return int(crc16(key)) % clusterSlots
			}
		}
		break
	}
	return int(crc16(key)) % clusterSlots
}

// slotRange is a range of cluster slots, Start to End inclusive, and the
// master that owns them (any string naming it, such as its address).
type slotRange = clusternodes.Range

// partitionTags chooses the hash tag of each of n partitions against a
// cluster's slot map so that every master gets ⌊n/M⌋ or ⌈n/M⌉ of the n
// partitions, M being the number of masters that own slots. The result
// depends only on n and the slot map (not on the order of its ranges):
// masters are ordered by the first slot they own, partition p goes to
// master p mod M, and each master's partitions take, in order, the
// smallest decimal tags ("0", "1", ...) whose slots it owns, one slot per
// partition. Tags are returned without their braces. It fails on a slot
// map with a range outside 0..16383, with overlapping ranges, or with no
// slots.
func partitionTags(n int, slotMap []slotRange) ([]string, error) {
	if n <= 0 {
		return nil, fmt.Errorf("redisbroker: %d partitions", n)
	}
	var owner [clusterSlots]int16 // master index + 1; 0 for no owner
	first := map[string]int{}
	for _, r := range slotMap {
		if r.Start < 0 || r.End >= clusterSlots || r.Start > r.End {
			return nil, fmt.Errorf("redisbroker: bad slot range %d-%d", r.Start, r.End)
		}
		if f, ok := first[r.Master]; !ok || r.Start < f {
			first[r.Master] = r.Start
		}
	}
	if len(first) == 0 {
		return nil, errNoSlots
	}
	masters := make([]string, 0, len(first))
	for m := range first {
		masters = append(masters, m)
	}
	slices.SortFunc(masters, func(a, b string) int { return first[a] - first[b] })
	index := make(map[string]int16, len(masters))
	for i, m := range masters {
		index[m] = int16(i + 1)
	}
	for _, r := range slotMap {
		for s := r.Start; s <= r.End; s++ {
			if owner[s] != 0 {
				return nil, fmt.Errorf("redisbroker: slot %d has two owners", s)
			}
			owner[s] = index[r.Master]
		}
	}
	// want[m] lists master m's partitions, in order; next[m] is the
	// first of them that has no tag yet.
	M := len(masters)
	want := make([][]int, M)
	for p := range n {
		want[p%M] = append(want[p%M], p)
	}
	next := make([]int, M)
	tags := make([]string, n)
	var used [clusterSlots]bool
	left := n
	for k := 0; left > 0; k++ {
		if k == maxTagCandidates {
			return nil, fmt.Errorf("redisbroker: no free slot left for %d of %d partitions", left, n)
		}
		t := strconv.Itoa(k)
		s := keySlot(t)
		if used[s] || owner[s] == 0 {
			continue
		}
		m := owner[s] - 1
		if next[m] == len(want[m]) {
			continue
		}
		used[s] = true
		tags[want[m][next[m]]] = t
		next[m]++
		left--
	}
	return tags, nil
}
