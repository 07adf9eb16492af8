package brokertest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/channels"
)

// historyCase is one History call and what it must answer.
type historyCase struct {
	name     string
	since    *channels.Position
	want     []channels.Position
	complete bool
}

// checkHistory runs the cases against b.
func checkHistory(t *testing.T, ctx context.Context, b channels.Broker, group string, top channels.Position, cases []historyCase) {
	t.Helper()
	for _, hc := range cases {
		es, got, complete, err := b.History(ctx, group, hc.since)
		if err != nil {
			t.Errorf("History of %q, %s: %v", group, hc.name, err)
			continue
		}
		var pos []channels.Position
		for _, e := range es {
			pos = append(pos, e.Position)
		}
		if !slices.Equal(pos, hc.want) || complete != hc.complete || got != top {
			t.Errorf("History of %q, %s: entries at %v, complete %v, top %v; want %v, %v, %v",
				group, hc.name, pos, complete, got, hc.want, hc.complete, top)
		}
	}
}

// History, read on another node than the one that saved: all retained
// entries for a nil since (not complete: nothing to recover from), those
// after a since of the group's epoch (complete), all of them for a since
// of another epoch or beyond the top (not complete), none with
// PositionOnly. A client that saw the empty history recovers from its
// position too.
func testHistory(t *testing.T, c Cluster) {
	ctx := callCtx(t)
	b1, b2 := c.NewNode(t), c.NewNode(t)
	h1 := start(t, b1)
	es, empty, complete, err := b2.History(ctx, "g", nil)
	if err != nil || len(es) != 0 || complete || empty.Epoch == "" {
		t.Fatalf("History of an empty group: %d entries, top %v, complete %v, %v; want none, an epoch, false",
			len(es), empty, complete, err)
	}
	var p []channels.Position
	for i := range 3 {
		p = append(p, publishSaved(t, ctx, b1, "g", h1.msg("m"+strconv.Itoa(i))))
	}
	if p[0] != (channels.Position{Offset: empty.Offset + 1, Epoch: empty.Epoch}) || p[1].Offset != p[0].Offset+1 || p[2].Offset != p[1].Offset+1 {
		t.Fatalf("saved at %v after an empty history at %v; want the next offsets of its epoch", p, empty)
	}
	top := p[2]
	checkHistory(t, ctx, b2, "g", top, []historyCase{
		{"nil since", nil, p, false},
		{"since the empty history", &empty, p, true},
		{"since the first", &p[0], p[1:], true},
		{"since the top", &top, nil, true},
		{"since another epoch", &channels.Position{Offset: p[1].Offset, Epoch: "other-" + top.Epoch}, p, false},
		{"since beyond the top", &channels.Position{Offset: top.Offset + 10, Epoch: top.Epoch}, p, false},
		{"position only", &channels.Position{Offset: channels.PositionOnly, Epoch: top.Epoch}, nil, false},
	})
	es, _, _, err = b2.History(ctx, "g", nil)
	if err != nil || len(es) != 3 {
		t.Fatalf("History: %d entries, %v", len(es), err)
	}
	for i, e := range es {
		if string(e.Message.Data) != "m"+strconv.Itoa(i) || e.Message.Kind != channels.KindText ||
			e.Message.Position != e.Position || e.Time.IsZero() {
			t.Errorf("entry %d: %q kind %d at %v (message at %v), time %v", i, e.Message.Data, e.Message.Kind, e.Position, e.Message.Position, e.Time)
		}
	}
}

// A history capped by count, bytes or age drops its oldest entries; a
// since before what was dropped is not complete, one from the oldest
// kept on is.
func testHistoryTrimmed(t *testing.T, c Cluster) {
	ctx := callCtx(t)
	b1, b2 := c.NewNode(t), c.NewNode(t)
	h1 := start(t, b1)
	publish := func(group string, n int, opts channels.PublishOptions, body string) []channels.Position {
		var p []channels.Position
		for i := range n {
			pos, err := b1.Publish(ctx, group, h1.msg(fmt.Sprintf("%s%02d", body, i)), opts)
			if err != nil {
				t.Fatalf("Publish: %v", err)
			}
			p = append(p, pos)
		}
		return p
	}
	p := publish("count", 6, channels.PublishOptions{History: true, Size: 3}, "m")
	checkHistory(t, ctx, b2, "count", p[5], []historyCase{
		{"nil since", nil, p[3:], false},
		{"since a dropped entry", &p[1], p[3:], false},
		{"since the last dropped", &p[2], p[3:], true},
	})

	// 100-byte bodies under a 250-byte cap: at most two are kept.
	p = publish("bytes", 5, channels.PublishOptions{History: true, Size: 100, MaxBytes: 250}, strings.Repeat("x", 98))
	es, top, _, err := b2.History(ctx, "bytes", nil)
	if err != nil || top != p[4] || len(es) == 0 || len(es) > 2 || es[len(es)-1].Position != p[4] {
		t.Fatalf("History under a byte cap: %d entries, top %v, %v; want the newest one or two", len(es), top, err)
	}
	if _, _, complete, _ := b2.History(ctx, "bytes", &p[1]); complete {
		t.Error("History under a byte cap: complete since an entry that was dropped")
	}

	p = publish("age", 2, channels.PublishOptions{History: true, Size: 100, TTL: 100 * time.Millisecond}, "m")
	time.Sleep(time.Second) // well past the age cap, on any clock
	checkHistory(t, ctx, b2, "age", p[1], []historyCase{
		{"nil since, entries aged out", nil, nil, false},
		{"since the first, the second aged out", &p[0], nil, false},
		{"since the top", &p[1], nil, true},
	})
}

// FlushHistory drops the named groups' entries and gives them a new
// epoch, leaving the other groups be; without names it flushes every
// group. A since of the old epoch is not complete, one of the new is.
func testFlushHistory(t *testing.T, c Cluster) {
	ctx := callCtx(t)
	b1, b2 := c.NewNode(t), c.NewNode(t)
	h1 := start(t, b1)
	old := map[string]channels.Position{}
	for _, g := range []string{"a", "b", "c"} {
		old[g] = publishSaved(t, ctx, b1, g, h1.msg(g))
	}
	if err := b2.FlushHistory(ctx, "a"); err != nil {
		t.Fatalf("FlushHistory(a): %v", err)
	}
	es, top, complete, err := b1.History(ctx, "a", &channels.Position{Offset: old["a"].Offset - 1, Epoch: old["a"].Epoch})
	if err != nil || len(es) != 0 || complete || top.Epoch == old["a"].Epoch {
		t.Fatalf("History after a flush: %d entries, top %v, complete %v, %v; want none, a new epoch, false", len(es), top, complete, err)
	}
	after := publishSaved(t, ctx, b1, "a", h1.msg("after"))
	oldA := old["a"]
	checkHistory(t, ctx, b2, "a", after, []historyCase{
		{"since the new epoch's top before the save", &top, []channels.Position{after}, true},
		{"since the old epoch", &oldA, []channels.Position{after}, false},
	})
	checkHistory(t, ctx, b2, "b", old["b"], []historyCase{{"a group not flushed", nil, []channels.Position{old["b"]}, false}})

	if err := b2.FlushHistory(ctx); err != nil {
		t.Fatalf("FlushHistory(): %v", err)
	}
	for _, g := range []string{"a", "b", "c"} {
		es, top, _, err := b1.History(ctx, g, nil)
		if err != nil || len(es) != 0 || top.Epoch == old[g].Epoch || top.Epoch == after.Epoch {
			t.Errorf("History of %q after flushing all: %d entries, top %v, %v; want none and a new epoch", g, len(es), top, err)
		}
	}
}
