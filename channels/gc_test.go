package channels_test

import (
	"strings"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/channels"
)

// gcOptions age history by a fake clock that the tests move past the
// TTL, while the janitor runs every few milliseconds of real time.
func gcOptions(clock *fakeClock) *channels.Options {
	return &channels.Options{Now: clock.Now, HistoryTTL: time.Minute, JanitorInterval: 5 * time.Millisecond}
}

// newGCBox returns a box with gcOptions, closed when the test ends, and
// its broker.
func newGCBox(t *testing.T) (*fakeClock, *channels.ChannelBox, *channels.MemoryBroker) {
	clock := newFakeClock()
	box := channels.NewBox(gcOptions(clock))
	t.Cleanup(func() { box.Close(ctx) })
	return clock, box, memoryBroker(t, box)
}

func memoryBroker(t *testing.T, box *channels.ChannelBox) *channels.MemoryBroker {
	t.Helper()
	mb, ok := box.Broker().(*channels.MemoryBroker)
	if !ok {
		t.Fatalf("broker is %T", box.Broker())
	}
	return mb
}

// History past its age goes without the group being touched again, and
// so does the group's ring.
func TestHistoryExpiresInBackground(t *testing.T) {
	t.Parallel()
	clock, box, mb := newGCBox(t)
	for i := range 10 {
		if _, err := box.GroupSend(ctx, "room"+itoa(i%3), strings.Repeat("x", 1000), channels.SaveHistory()); err != nil {
			t.Fatal(err)
		}
	}
	if n, bytes := mb.HistorySize(); n != 10 || bytes != 10_000 {
		t.Fatalf("HistorySize = %d, %d; want 10, 10000", n, bytes)
	}
	clock.Advance(time.Minute + time.Second)
	eventually(t, "history expired and rings forgotten", func() bool {
		n, bytes := mb.HistorySize()
		rings, _, queued := mb.GroupState()
		return n == 0 && bytes == 0 && rings == 0 && queued == 0
	})
	if s := box.Stats(); s.HistoryEntries != 0 || s.HistoryBytes != 0 {
		t.Fatalf("Stats: %+v", s)
	}
}

// Groups joined (with a history read) and left without a saved message
// leave nothing behind in the box or the broker.
func TestGroupsLeftLeaveNoState(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	e := newEnv(t, gcOptions(clock), nil)
	_, ch := e.connect(query())
	mb := memoryBroker(t, e.box)
	for i := range 1000 {
		g := "room-" + itoa(i)
		if _, err := e.box.JoinWithHistory(ctx, g, ch.ID(), nil, func([]channels.Entry, channels.Position, bool) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := e.box.RemoveFromGroup(ctx, g, ch.ID()); err != nil {
			t.Fatal(err)
		}
	}
	// A group with a member keeps its ring.
	if _, err := e.box.JoinWithHistory(ctx, "stays", ch.ID(), nil, func([]channels.Entry, channels.Position, bool) error { return nil }); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute + time.Second)
	eventually(t, "rings of left groups forgotten", func() bool {
		rings, presence, _ := mb.GroupState()
		return rings == 1 && presence == 1
	})
	if g := e.box.Groups(); len(g) != 1 || g[0] != "stays" {
		t.Fatalf("Groups = %v", g)
	}
}

// The total cap holds across groups and drops the oldest entries of all
// groups first; a client whose position fell off is not recovered.
func TestHistoryTotalCap(t *testing.T) {
	t.Parallel()
	box := channels.NewBox(&channels.Options{HistoryMaxBytesTotal: 10_000})
	defer box.Close(ctx)
	mb := memoryBroker(t, box)
	const groups, rounds = 50, 5
	for r := range rounds {
		for g := range groups {
			if _, err := box.GroupSend(ctx, "g"+itoa(g), strings.Repeat("x", 100), channels.SaveHistory()); err != nil {
				t.Fatal(err)
			}
			if _, bytes := mb.HistorySize(); bytes > 10_000 {
				t.Fatalf("round %d group %d: %d bytes kept", r, g, bytes)
			}
		}
	}
	// 100 entries fit: the newest two of each group.
	for g := range groups {
		entries, top, _, err := box.History(ctx, "g"+itoa(g), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := offsets(entries); !equal(got, []uint64{4, 5}) {
			t.Fatalf("g%d kept %v, want [4 5]", g, got)
		}
		_, _, recovered, _ := box.History(ctx, "g"+itoa(g), &channels.Position{Epoch: top.Epoch, Offset: 2})
		if recovered {
			t.Fatalf("g%d: recovered from offset 2, whose successor was dropped", g)
		}
		got, _, recovered, _ := box.History(ctx, "g"+itoa(g), &channels.Position{Epoch: top.Epoch, Offset: 3})
		if !recovered || !equal(offsets(got), []uint64{4, 5}) {
			t.Fatalf("g%d from 3: %v recovered=%v", g, offsets(got), recovered)
		}
	}

	// Entries trimmed by their group's own caps leave no references
	// behind.
	for range 10_000 {
		if _, err := box.GroupSend(ctx, "busy", "y", channels.SaveHistory()); err != nil {
			t.Fatal(err)
		}
	}
	n, _ := mb.HistorySize()
	if _, _, queued := mb.GroupState(); queued > 2*n+64 {
		t.Fatalf("%d references queued for %d entries", queued, n)
	}
}

// A group whose ring was forgotten starts a new epoch: a position from
// before is not taken for one of the new ring.
func TestForgottenGroupNotRecovered(t *testing.T) {
	t.Parallel()
	clock, box, mb := newGCBox(t)
	var old channels.Position
	for range 3 {
		if _, err := box.GroupSend(ctx, "room", "hi", channels.SaveHistory(), channels.ReportPosition(&old)); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Minute + time.Second)
	eventually(t, "ring forgotten", func() bool {
		rings, _, _ := mb.GroupState()
		return rings == 0
	})
	for range 5 {
		if _, err := box.GroupSend(ctx, "room", "again", channels.SaveHistory()); err != nil {
			t.Fatal(err)
		}
	}
	entries, top, recovered, err := box.History(ctx, "room", &old)
	if err != nil {
		t.Fatal(err)
	}
	if recovered || top.Epoch == old.Epoch {
		t.Fatalf("from %+v: top %+v recovered=%v", old, top, recovered)
	}
	if !equal(offsets(entries), []uint64{1, 2, 3, 4, 5}) {
		t.Fatalf("entries %v", offsets(entries))
	}
}
