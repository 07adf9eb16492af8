package redisbroker

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/switchboard-go/switchboard/internal/redistest"
)

// A real 3-master, 3-replica cluster: sharded pub/sub on a partition's
// channel reaches its subscriber, the cluster's slot map spreads the
// partitions within 10%, and a replica takes over a killed master.
func TestRealClusterPartitions(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 1)

	slotMap := c.Slots()
	tags, err := partitionTags(defaultPartitions, slotMap)
	if err != nil {
		t.Fatal(err)
	}
	checkSpread(t, defaultPartitions, slotMap, tags)

	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: c.Addrs(), DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	const group = "room"
	ch := keys{p: "sb:", tags: tags}.groupChan(group)
	got := make(chan string, 16)
	subCtx, stop := context.WithCancel(ctx)
	subDone := make(chan error, 1)
	go func() {
		subDone <- client.Receive(subCtx, client.B().Ssubscribe().Channel(ch).Build(),
			func(m rueidis.PubSubMessage) { got <- m.Message })
	}()
	// SPUBLISH until the subscription is in place and a message arrives.
	var msg string
	for msg == "" {
		if err := client.Do(ctx, client.B().Spublish().Channel(ch).Message("hello").Build()).Error(); err != nil {
			t.Fatal(err)
		}
		select {
		case msg = <-got:
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("no sharded message within 10s")
		}
	}
	if msg != "hello" {
		t.Fatalf("received %q", msg)
	}
	stop()
	<-subDone

	// Kill the first master; one of the others must see its slots move
	// to another node.
	killed := c.Masters()[0]
	c.KillMaster(0)
	other := c.Masters()[1]
	deadline := time.Now().Add(10 * time.Second)
	for {
		slots, err := c.SlotsNow(other)
		if err == nil && len(slots) > 0 && slots[0].Start == 0 && slots[0].Master != killed &&
			strings.Contains(c.Info(other), "cluster_state:ok") {
			if !slices.ContainsFunc(slots, func(r redistest.SlotRange) bool { return r.Master == killed }) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no replica took over %s within 10s: slots %v\n%s", killed, slots, c.Info(other))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
