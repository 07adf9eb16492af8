package redisbroker

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The spec's test vector, and slots that redis-cli's CLUSTER KEYSLOT
// gives for the same keys.
func TestCRC16AndKeySlot(t *testing.T) {
	t.Parallel()
	if got := crc16("123456789"); got != 0x31C3 {
		t.Fatalf("crc16(123456789) = %#x, want 0x31c3", got)
	}
	for _, c := range []struct {
		key  string
		slot int
	}{
		{"", 0},
		{"foo", 12182},
		{"{user1000}.following", keySlot("user1000")},
		{"foo{}{bar}", keySlot("foo{}{bar}")}, // empty tag: whole key
		{"foo{{bar}}zap", keySlot("{bar")},
		{"foo{bar}{zap}", keySlot("bar")},
		{"{", keySlot("{")},
		{"a{b", int(crc16("a{b")) % clusterSlots},
	} {
		if got := keySlot(c.key); got != c.slot {
			t.Errorf("keySlot(%q) = %d, want %d", c.key, got, c.slot)
		}
	}
	if keySlot("foo{}{bar}") != int(crc16("foo{}{bar}"))%clusterSlots {
		t.Error("an empty tag must hash the whole key")
	}
}

// FuzzKeySlot checks the hash tag parser: the slot is in range, and a key
// that starts with a well-formed tag hashes as the tag alone.
func FuzzKeySlot(f *testing.F) {
	for _, s := range []string{"", "{", "}", "{}", "{a}", "a{b}c", "{{}}", "x{}{y}"} {
		f.Add(s, "rest")
	}
	f.Fuzz(func(t *testing.T, tag, rest string) {
		if s := keySlot(tag + rest); s < 0 || s >= clusterSlots {
			t.Fatalf("slot %d out of range", s)
		}
		if tag == "" || strings.Contains(tag, "}") {
			return
		}
		if got, want := keySlot("{"+tag+"}"+rest), int(crc16(tag))%clusterSlots; got != want {
			t.Fatalf("keySlot({%s}%s) = %d, want %d", tag, rest, got, want)
		}
	})
}

// evenSlotMap splits the slots as redis-cli --cluster create does
// (clusterManagerCommandCreate in redis-cli.c).
func evenSlotMap(masters int) []slotRange {
	per := float64(clusterSlots) / float64(masters)
	var r []slotRange
	first, cursor := 0, 0.0
	for i := range masters {
		last := int(math.Round(cursor + per - 1))
		if last > clusterSlots-1 || i == masters-1 {
			last = clusterSlots - 1
		}
		if last < first {
			last = first
		}
		r = append(r, slotRange{Start: first, End: last, Master: "m" + strconv.Itoa(i)})
		first = last + 1
		cursor += per
	}
	return r
}

// unevenSlotMap gives master i a share proportional to i+1, the last
// master's share split in two ranges, as after a resharding.
func unevenSlotMap(masters int) []slotRange {
	total := masters * (masters + 1) / 2
	var r []slotRange
	start := 0
	for i := range masters {
		end := start + clusterSlots*(i+1)/total - 1
		if i == masters-1 {
			end = clusterSlots - 1
		}
		r = append(r, slotRange{Start: start, End: end, Master: "m" + strconv.Itoa(i)})
		start = end + 1
	}
	// Move the first 100 slots of the first master to the last one.
	r[0].Start += 100
	r = append(r, slotRange{Start: 0, End: 99, Master: "m" + strconv.Itoa(masters-1)})
	return r
}

// checkSpread verifies that every master gets within 10% of n/M of the n
// partitions and that each tag's slot belongs to the master it counts for.
func checkSpread(t *testing.T, n int, slotMap []slotRange, tags []string) {
	t.Helper()
	owner := map[int]string{}
	for _, r := range slotMap {
		for s := r.Start; s <= r.End; s++ {
			owner[s] = r.Master
		}
	}
	count := map[string]int{}
	for _, r := range slotMap {
		count[r.Master] = 0
	}
	seen := map[string]bool{}
	for p, tag := range tags {
		if tag == "" || seen[tag] {
			t.Fatalf("partition %d: empty or repeated tag %q", p, tag)
		}
		seen[tag] = true
		count[owner[keySlot("{"+tag+"}")]]++
	}
	ideal := float64(n) / float64(len(count))
	for m, c := range count {
		if d := math.Abs(float64(c)-ideal) / ideal; d > 0.10 {
			t.Errorf("master %s has %d partitions, %.1f%% off %.2f", m, c, 100*d, ideal)
		}
	}
}

func TestPartitionTagsSpread(t *testing.T) {
	t.Parallel()
	for masters := 3; masters <= 16; masters++ {
		for name, slotMap := range map[string][]slotRange{
			"even":   evenSlotMap(masters),
			"uneven": unevenSlotMap(masters),
		} {
			t.Run(name+"/"+strconv.Itoa(masters), func(t *testing.T) {
				t.Parallel()
				tags, err := partitionTags(defaultPartitions, slotMap)
				if err != nil {
					t.Fatal(err)
				}
				checkSpread(t, defaultPartitions, slotMap, tags)
				// Deterministic, whatever the order of the ranges.
				rev := slices.Clone(slotMap)
				slices.Reverse(rev)
				again, err := partitionTags(defaultPartitions, rev)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(tags, again) {
					t.Fatalf("tags differ between runs:\n%v\n%v", tags, again)
				}
			})
		}
	}
}

// The tags of the even 3-master split are pinned: a change would move
// every group of a running cluster to another slot.
func TestPartitionTagsPinned(t *testing.T) {
	t.Parallel()
	tags, err := partitionTags(6, evenSlotMap(3))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"3", "1", "0", "7", "2", "4"}
	if !slices.Equal(tags, want) {
		t.Fatalf("partitionTags(6, even 3) = %q, want %q", tags, want)
	}
}

func TestPartitionTagsErrors(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		n int
		m []slotRange
	}{
		"no partitions": {0, evenSlotMap(3)},
		"no slots":      {8, nil},
		"out of range":  {8, []slotRange{{Start: 0, End: clusterSlots, Master: "a"}}},
		"reversed":      {8, []slotRange{{Start: 10, End: 5, Master: "a"}}},
		"overlap":       {8, []slotRange{{Start: 0, End: 10, Master: "a"}, {Start: 10, End: 20, Master: "b"}}},
		"too few slots": {8, []slotRange{{Start: 0, End: 3, Master: "a"}}},
	} {
		if _, err := partitionTags(c.n, c.m); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// Every key and the channel of a group share its partition's slot, as
// do a user's key and online set, whatever braces the prefix or the
// name hold; untag gives back the untagged channel name.
func TestPartitionKeysShareSlot(t *testing.T) {
	t.Parallel()
	tags, err := partitionTags(defaultPartitions, evenSlotMap(5))
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"sb:", "{x}:", ""} {
		k := keys{p: prefix, tags: tags}
		for i := range 500 {
			g := "room{" + strconv.Itoa(i) + "}"
			p := partitionOf(g, defaultPartitions)
			want := keySlot("{" + tags[p] + "}")
			// A user named as the group has the group's partition.
			for _, key := range []string{k.meta(g), k.stream(g), k.presence(g), k.groupChan(g), k.user(g), k.online(g)} {
				if got := keySlot(key); got != want {
					t.Fatalf("%q: slot %d, want %d", key, got, want)
				}
			}
			if got, want := k.untag(k.groupChan(g)), prefix+"g:"+g; got != want {
				t.Fatalf("untag: %q, want %q", got, want)
			}
			if got, want := k.untag(k.nodeChan(g)), prefix+"n:"+g; got != want {
				t.Fatalf("untag: %q, want %q", got, want)
			}
		}
	}
}

// partitionOf is stable: these values must never change.
func TestPartitionOfPinned(t *testing.T) {
	t.Parallel()
	for g, want := range map[string]int{"": 90, "room": 120, "chat:42": 118} {
		if got := partitionOf(g, 128); got != want {
			t.Errorf("partitionOf(%q) = %d, want %d", g, got, want)
		}
	}
}

func TestParseTags(t *testing.T) {
	t.Parallel()
	if tags, err := parseTags("0,1,17", 3); err != nil || len(tags) != 3 || tags[2] != "17" {
		t.Fatalf("parseTags: %v %v", tags, err)
	}
	for _, bad := range []string{"0,1", "0,1,2,3", "0,,2", "0,{1},2", "0,1}", ""} {
		if _, err := parseTags(bad, 3); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzParseTags(f *testing.F) {
	f.Add("0,1,17", 3)
	f.Add("{x},1", 2)
	f.Fuzz(func(t *testing.T, s string, n int) {
		tags, err := parseTags(s, n)
		if err != nil {
			return
		}
		if len(tags) != n {
			t.Fatalf("%d tags, want %d", len(tags), n)
		}
		for _, tag := range tags {
			// A tag must be what keySlot hashes in "{tag}...".
			if keySlot("{"+tag+"}x") != keySlot(tag) {
				t.Fatalf("tag %q does not hash alone", tag)
			}
		}
	})
}

// ownerOf finds a slot's master in a slot map, and none in a gap.
func TestOwnerOf(t *testing.T) {
	t.Parallel()
	m := []slotRange{{Start: 0, End: 99, Master: "a"}, {Start: 100, End: 100, Master: "b"}, {Start: 200, End: 16383, Master: "c"}}
	for slot, want := range map[int]string{0: "a", 99: "a", 100: "b", 101: "", 199: "", 200: "c", 16383: "c"} {
		if got := ownerOf(m, slot); got != want {
			t.Errorf("ownerOf(%d) = %q, want %q", slot, got, want)
		}
	}
	if got := ownerOf(nil, 5); got != "" {
		t.Errorf("empty map: %q", got)
	}
}
