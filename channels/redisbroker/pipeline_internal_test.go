package redisbroker

import (
	"context"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/internal/redistest"
)

// After Redis lost its scripts (a restart, SCRIPT FLUSH), a batch holding
// a group's saved message and then its unsaved one still publishes them
// in that order: the batch loads the script before its saved messages,
// where an EVALSHA refused with NOSCRIPT would have had to be sent again
// after the unsaved one had gone out.
func TestPipelineOrderAfterScriptsLost(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	b, err := New(&Options{Addr: rs.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	sub, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{rs.Addr()}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	got := make(chan string, 16)
	subscribed := make(chan struct{})
	go sub.Receive(context.Background(), sub.B().Subscribe().Channel(b.keys.groupChan("g")).Build(), func(m rueidis.PubSubMessage) {
		if msg, err := decodeGroup([]byte(m.Message)); err == nil {
			got <- string(msg.Data)
		}
	})
	go func() {
		for range 500 {
			n, _ := sub.Do(context.Background(), sub.B().PubsubNumsub().Channel(b.keys.groupChan("g")).Build()).AsIntMap()
			if n[b.keys.groupChan("g")] > 0 {
				close(subscribed)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	select {
	case <-subscribed:
	case <-time.After(5 * time.Second):
		t.Fatal("not subscribed")
	}
	next := func() string {
		t.Helper()
		select {
		case s := <-got:
			return s
		case <-time.After(5 * time.Second):
			t.Fatal("no message")
			return ""
		}
	}
	// A saved publish, so that the script was loaded once.
	if _, err := b.Publish(context.Background(), "g", channels.NewMessage("s0"), channels.PublishOptions{History: true}); err != nil {
		t.Fatal(err)
	}
	next()
	if _, err := rs.Command("SCRIPT", "FLUSH"); err != nil {
		t.Fatal(err)
	}
	// Two requests put in the queue together, so that one batch takes both.
	p := b.shardOf("g").pipe
	req := func(text string, saved bool) *pubReq {
		return &pubReq{group: "g", body: encodeBody(channels.NewMessage(text)), saved: saved,
			opts: channels.PublishOptions{History: saved, NoWait: true}, at: time.Now()}
	}
	s1, u2 := req("s1", true), req("u2", false)
	p.mu.Lock()
	p.queue = append(p.queue, s1, u2)
	p.pending += 2
	p.bytes += len(s1.body) + len(u2.body)
	p.mu.Unlock()
	p.wake <- struct{}{}
	if first, second := next(), next(); first != "s1" || second != "u2" {
		t.Fatalf("published %q then %q, want s1 then u2", first, second)
	}
}
