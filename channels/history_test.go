package channels_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/channels"
)

func offsets(es []channels.Entry) []uint64 {
	out := []uint64{}
	for _, e := range es {
		out = append(out, e.Position.Offset)
	}
	return out
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestHistoryRing(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	box := channels.NewBox(&channels.Options{Now: clock.Now, HistorySize: 5, HistoryTTL: time.Minute})
	defer box.Close(ctx)

	// A group with no members keeps its history.
	for i := 1; i <= 12; i++ {
		if n, err := box.GroupSend(ctx, "news", map[string]int{"i": i}, channels.SaveHistory()); err != nil || n != 0 {
			t.Fatalf("send %d: %d %v", i, n, err)
		}
	}
	all, top, recovered, err := box.History(ctx, "news", nil)
	if err != nil || recovered {
		t.Fatalf("History(nil): %v recovered=%v", err, recovered)
	}
	if !equal(offsets(all), []uint64{8, 9, 10, 11, 12}) || top.Offset != 12 {
		t.Fatalf("after wrapping by count: offsets %v, top %v", offsets(all), top)
	}
	if string(all[0].Message.Data) != `{"i":8}` || all[0].ID == "" || !all[0].Time.Equal(clock.Now()) {
		t.Fatalf("entry: %+v %s", all[0], all[0].Message.Data)
	}
	epoch := top.Epoch

	cases := []struct {
		name      string
		since     channels.Position
		want      []uint64
		recovered bool
	}{
		{"recent position", channels.Position{Offset: 10, Epoch: epoch}, []uint64{11, 12}, true},
		{"oldest kept minus one", channels.Position{Offset: 7, Epoch: epoch}, []uint64{8, 9, 10, 11, 12}, true},
		{"entries already dropped", channels.Position{Offset: 5, Epoch: epoch}, []uint64{8, 9, 10, 11, 12}, false},
		{"up to date", channels.Position{Offset: 12, Epoch: epoch}, []uint64{}, true},
		{"from the future", channels.Position{Offset: 99, Epoch: epoch}, []uint64{8, 9, 10, 11, 12}, false},
		{"other epoch", channels.Position{Offset: 10, Epoch: "old"}, []uint64{8, 9, 10, 11, 12}, false},
	}
	for _, c := range cases {
		es, _, rec, err := box.History(ctx, "news", &c.since)
		if err != nil || rec != c.recovered || !equal(offsets(es), c.want) {
			t.Errorf("%s: offsets %v recovered %v %v, want %v %v", c.name, offsets(es), rec, err, c.want, c.recovered)
		}
	}

	// Wrap by age: entries older than the TTL go, offsets keep growing.
	clock.Advance(45 * time.Second)
	box.GroupSend(ctx, "news", "13", channels.SaveHistory())
	clock.Advance(30 * time.Second) // 8..12 are 75s old, 13 is 30s old
	es, top, _, _ := box.History(ctx, "news", nil)
	if !equal(offsets(es), []uint64{13}) || top.Offset != 13 {
		t.Fatalf("after wrapping by age: %v top %v", offsets(es), top)
	}
	if _, _, rec, _ := box.History(ctx, "news", &channels.Position{Offset: 11, Epoch: epoch}); rec {
		t.Error("recovered across entries dropped by age")
	}

	// Flush: new epoch, offsets never reused.
	if err := box.FlushHistory(ctx, "news"); err != nil {
		t.Fatal(err)
	}
	box.GroupSend(ctx, "news", "after flush", channels.SaveHistory())
	es, top, _, _ = box.History(ctx, "news", nil)
	if top.Epoch == epoch || !equal(offsets(es), []uint64{14}) {
		t.Fatalf("after flush: epoch %q (was %q), offsets %v", top.Epoch, epoch, offsets(es))
	}
	if _, _, rec, _ := box.History(ctx, "news", &channels.Position{Offset: 13, Epoch: epoch}); rec {
		t.Error("recovered across a flush")
	}
	// Flushing everything changes every epoch.
	box.GroupSend(ctx, "other", "x", channels.SaveHistory())
	_, before, _, _ := box.History(ctx, "other", nil)
	box.FlushHistory(ctx)
	_, after, _, _ := box.History(ctx, "other", nil)
	if before.Epoch == after.Epoch {
		t.Error("FlushHistory() kept an epoch")
	}
}

func TestHistoryServesEveryPayloadType(t *testing.T) {
	t.Parallel()
	box := channels.NewBox(nil)
	defer box.Close(ctx)
	box.GroupSend(ctx, "g", note{3, "z"}, channels.SaveHistory())
	es, _, _, _ := box.History(ctx, "g", nil)
	if len(es) != 1 {
		t.Fatal(len(es))
	}
	m := es[0].Message
	if string(m.Data) != `{"n":3,"s":"z"}` || len(m.Msgpack) == 0 || m.Position != es[0].Position {
		t.Errorf("saved message: %s / %x / %v", m.Data, m.Msgpack, m.Position)
	}
}

// stamped is a payload that shows its offset.
type stamped struct{ Text string }

func (s stamped) OffsetField() string { return "offset" }
func (s stamped) EpochField() string  { return "" }

func (s stamped) At(p channels.Position) any {
	return map[string]any{"text": s.Text, "offset": p.Offset}
}

func TestPositionedPayloads(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	c, _ := e.connect(query("group", "g"))
	e.box.GroupSend(ctx, "g", stamped{"one"}, channels.SaveHistory())
	e.box.GroupSend(ctx, "g", stamped{"no history"}) // no position: sent as is
	if _, d := read(t, c); d != `{"offset":1,"text":"one"}` {
		t.Errorf("saved: %s", d)
	}
	if _, d := read(t, c); d != `{"Text":"no history"}` {
		t.Errorf("unsaved: %s", d)
	}
	es, _, _, _ := e.box.History(ctx, "g", nil)
	if string(es[0].Message.Data) != `{"Text":"one"}` {
		t.Errorf("history keeps the value itself: %s", es[0].Message.Data)
	}
}

func TestHistoryPositionOnly(t *testing.T) {
	t.Parallel()
	box := channels.NewBox(nil)
	defer box.Close(ctx)
	for range 3 {
		box.GroupSend(ctx, "g", "x", channels.SaveHistory())
	}
	es, top, recovered, err := box.History(ctx, "g", &channels.Position{Offset: channels.PositionOnly})
	if err != nil || len(es) != 0 || top.Offset != 3 || recovered {
		t.Errorf("position only: %d entries, top %v, recovered %v, %v", len(es), top, recovered, err)
	}
}

// The byte cap drops the oldest entries, keeps the newest, and recovery
// from a dropped position says so.
func TestHistoryMaxBytes(t *testing.T) {
	t.Parallel()
	box := channels.NewBox(&channels.Options{HistoryMaxBytes: 100})
	defer box.Close(ctx)
	for range 10 {
		box.GroupSend(ctx, "g", strings.Repeat("x", 30), channels.SaveHistory())
	}
	es, top, _, _ := box.History(ctx, "g", nil)
	if !equal(offsets(es), []uint64{8, 9, 10}) {
		t.Errorf("kept %v, want the newest 90 bytes", offsets(es))
	}
	if _, _, recovered, _ := box.History(ctx, "g", &channels.Position{Offset: 5, Epoch: top.Epoch}); recovered {
		t.Error("recovered across entries the byte cap dropped")
	}
	box.GroupSend(ctx, "g", strings.Repeat("y", 500), channels.SaveHistory())
	if es, _, _, _ := box.History(ctx, "g", nil); !equal(offsets(es), []uint64{11}) {
		t.Errorf("an entry over the cap: kept %v, want it alone", offsets(es))
	}
}

// JoinWithHistory takes back a join whose fn failed, but not the
// membership of a channel that was in the group before the call.
func TestJoinWithHistoryUndoneOnError(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	_, ch := e.connect(query())
	failed := errors.New("reply failed")
	fail := func([]channels.Entry, channels.Position, bool) error { return failed }
	ok := func([]channels.Entry, channels.Position, bool) error { return nil }

	if _, err := e.box.JoinWithHistory(ctx, "room", ch.ID(), nil, fail); !errors.Is(err, failed) {
		t.Fatalf("join with a failing fn: %v", err)
	}
	if m := e.box.Members("room"); len(m) != 0 {
		t.Errorf("%d members after a failed join, want 0", len(m))
	}
	if res, err := e.box.JoinWithHistory(ctx, "room", ch.ID(), nil, ok); err != nil || res != channels.GroupCreated {
		t.Fatalf("join: %v %v", res, err)
	}
	if res, err := e.box.JoinWithHistory(ctx, "room", ch.ID(), nil, fail); !errors.Is(err, failed) || res != channels.AlreadyMember {
		t.Fatalf("second join with a failing fn: %v %v", res, err)
	}
	if m := e.box.Members("room"); len(m) != 1 {
		t.Errorf("%d members after a failed join of a member, want 1", len(m))
	}
}
