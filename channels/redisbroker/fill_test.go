package redisbroker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/internal/redistest"
)

// recorder is a channels.Handler that records what a broker delivers.
type recorder struct {
	mu        sync.Mutex
	delivered []uint64 // offsets of DeliverGroup's messages
	resyncs   []string
}

func (r *recorder) NodeID() string { return "recorder" }
func (r *recorder) DeliverGroup(group string, msg *channels.Message) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delivered = append(r.delivered, msg.Position.Offset)
	return 1
}
func (r *recorder) DeliverChannel(string, *channels.Message) bool       { return false }
func (r *recorder) DeliverUser(string, *channels.Message) int           { return 0 }
func (r *recorder) DeliverOffline(string)                               {}
func (r *recorder) DeliverPresenceGone(string, []channels.PresenceInfo) {}
func (r *recorder) ResyncGroup(group string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.resyncs = append(r.resyncs, group)
}

// A node whose state of a group is of an epoch Redis no longer has (its
// history was flushed, or Redis lost its data) closes the group's members
// unless it knew of no saved message of that epoch and nothing was saved
// in the new one, and no message of the old epoch is on its way.
func TestFillAfterEpochChange(t *testing.T) {
	rs := redistest.Start(t)
	b, err := New(&Options{Addr: rs.URL(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background()) //nolint:errcheck // the test is over
	rec := &recorder{}
	b.mu.Lock()
	b.handlers = append(b.handlers, rec)
	b.mu.Unlock()
	ctx := context.Background()
	save := func(group string, n, size int) {
		t.Helper()
		for i := range n {
			if _, err := b.Publish(ctx, group, channels.NewMessage(fmt.Sprint(i)), channels.PublishOptions{History: true, Size: size}); err != nil {
				t.Fatal(err)
			}
		}
	}
	save("whole", 2, 10)  // offsets 1 and 2, all kept
	save("trimmed", 5, 2) // offsets 4 and 5 kept
	save("seen", 1, 10)
	tests := []struct {
		group     string
		last      uint64 // the node's last offset of the old epoch
		msg       *channels.Message
		delivered []uint64
		resync    bool
	}{
		{"never-saved", 0, nil, nil, false},
		// A message of the old epoch whose predecessor the node missed.
		{"never-saved-2", 0, &channels.Message{Position: channels.Position{Offset: 2, Epoch: "gone"}}, nil, true},
		{"whole", 0, nil, nil, true},
		{"trimmed", 0, nil, nil, true},
		{"seen", 3, nil, nil, true},
	}
	for _, tt := range tests {
		rec.mu.Lock()
		rec.delivered, rec.resyncs = nil, nil
		rec.mu.Unlock()
		st := &groupState{known: true, epoch: "gone", last: tt.last}
		if !b.shards[0].sub.fill(tt.group, st, tt.msg, nil) {
			t.Fatalf("%s: fill failed", tt.group)
		}
		_, top, _, err := b.History(ctx, tt.group, &channels.Position{Offset: channels.PositionOnly})
		if err != nil {
			t.Fatal(err)
		}
		rec.mu.Lock()
		if fmt.Sprint(rec.delivered) != fmt.Sprint(tt.delivered) || (len(rec.resyncs) > 0) != tt.resync {
			t.Errorf("%s: delivered %v and resynced %v; want %v and %v", tt.group, rec.delivered, rec.resyncs, tt.delivered, tt.resync)
		}
		rec.mu.Unlock()
		if st.epoch != top.Epoch || st.last != top.Offset {
			t.Errorf("%s: the node's state is %q %d after the fill, want Redis's %q %d", tt.group, st.epoch, st.last, top.Epoch, top.Offset)
		}
	}
}
